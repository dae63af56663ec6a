"""Micro moments and what builds on them with a scaled logit error (`Problem(..., epsilon_scale=1.5)`, agents
choosing by (delta + mu) / e) against PyBLP's numbers stored by `generate_epsilon_scale_micro_fixtures.py`
(workloads in `epsilon_scale_micro_workloads.py`).

At a fixed theta (1e-10 relative; drawn micro data and sampled nodes exactly): fitted micro values, their Jacobian in
theta and covariances, `compute_micro_values`, micro and agent scores, `simulate_micro_data`, importance sampling and
its `to_problem()`, simulation covariances from `resample_agent_data` and their SEs. Estimated with micro moments and
with persistent unobservables (`lag_indices`, `phi`): estimates 1e-4, SEs 1e-3, objective 1e-6. The micro Jacobian
is also checked against finite differences of our own micro values. The `live` test re-runs PyBLP and compares with
the stored numbers."""

from __future__ import annotations

import numpy as np
import pytest
from epsilon_scale_micro_workloads import SCALE, TRUE, WORKLOADS, at_truth, micro_moments, outcomes, problem
from epsilon_scale_workloads import demand
from simulation_option_workloads import simulate
from stored_outcomes import assert_live_equals_stored, generate
from stored_outcomes import stored as stored_outcomes

import blp

FIXED = 1e-10
TOLERANCES = {**{key: 1e-4 for key in ('beta', 'sigma', 'pi', 'phi')},
              **{key: 1e-3 for key in ('beta_se', 'sigma_se', 'pi_se', 'phi_se')}, 'objective': 1e-6,
              'micro_values': 1e-6}
_ours: dict[str, dict[str, np.ndarray]] = {}


def stored(name: str) -> dict[str, np.ndarray]:
    return stored_outcomes('epsilon_scale_micro', name, 'generate_epsilon_scale_micro_fixtures.py')


def ours(name: str) -> dict[str, np.ndarray]:
    if name not in _ours:
        _ours[name] = outcomes(blp, name)
    return _ours[name]


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_scaled_micro_outcomes_equal_pyblps(name: str) -> None:
    reference, found = stored(name), ours(name)
    compared = set(reference) - {'pyblp_version'}
    assert set(found) == compared, sorted(set(found) ^ compared)
    for key in sorted(compared):
        if key in ('sampled_nodes', 'simulated_income', 'simulated_outside'):
            np.testing.assert_array_equal(found[key], reference[key], err_msg=key)
            continue
        # 'micro_resampled' is at a fixed theta throughout: no optimizer between the two
        tolerance = FIXED if name == 'micro_resampled' else TOLERANCES.get(key, FIXED)
        np.testing.assert_allclose(found[key], reference[key], rtol=tolerance, atol=1e-14 if tolerance == FIXED else
                                   1e-10, err_msg=f'{name}: {key}')


def test_the_workloads_are_scaled() -> None:
    for name in ('micro', 'persistence'):
        assert float(stored(name)['epsilon_scale']) == 1.5


def test_scaled_micro_jacobian_is_the_derivative_of_the_micro_values() -> None:
    """Central differences of the fitted micro values in sigma and pi (step 1e-6) give the analytic Jacobian: the
    moments' Jacobian is -df/dtheta (PyBLP's sign)."""
    solving = problem(blp)
    jacobian = at_truth(blp, solving).micro_by_theta_jacobian
    step = 1e-6
    for p, (name, base) in enumerate((('sigma', TRUE['sigma']), ('pi', TRUE['pi'][0][0]))):
        values = []
        for sign in (1, -1):
            moved = {**TRUE, name: base + sign * step if name == 'sigma' else [[base + sign * step]]}
            values.append(solving.solve(**moved, method='1s', optimization=blp.Optimization('return'),
                                        iteration=blp.Iteration('squarem', {'atol': 1e-14}),
                                        micro_moments=micro_moments(blp)).micro_values[:, 0])
        np.testing.assert_allclose(-(values[0] - values[1]) / (2 * step), jacobian[:, p], rtol=1e-5, atol=1e-8,
                                   err_msg=name)


def test_the_scale_moves_the_micro_values() -> None:
    """The same data and theta at e = 1 give other micro values and Jacobian than PyBLP's at e = 1.5."""
    reference = stored('micro')
    solved = simulate(blp, demand(blp, SCALE)).replace_endogenous()
    plain = at_truth(blp, solved.to_problem(solved.simulation.product_formulations[:2], epsilon_scale=1))
    assert np.abs(np.ravel(plain.micro_values) - reference['fixed_micro_values']).max() > 1e-3
    assert np.abs(np.ravel(plain.micro_by_theta_jacobian) - reference['fixed_micro_jacobian']).max() > 1e-3


@pytest.mark.live  # PyBLP's side takes about 9 s in all (5.0, 2.9 and 1.3)
@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_stored_epsilon_scale_micro_fixtures_match_pyblp_run_now(name: str) -> None:
    assert_live_equals_stored(generate(outcomes, name), stored(name), name)
