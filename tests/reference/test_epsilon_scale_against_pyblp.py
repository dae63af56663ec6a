"""Estimation with a scaled logit error (`Problem(..., epsilon_scale=e)`, agents choosing by (delta + mu) / e)
against PyBLP's numbers stored by `generate_epsilon_scale_fixtures.py`: a logit at e = 0.5 (two-step GMM), random
coefficients with a demographic on a simulation at e = 1.5 whose `to_problem()` passes the scale on, and on one at
e = 1 estimated at e = 2 (two-step); with a supply side (markups scale with e), that model at e = 1.5 and a logit at
e = 2. Compared: estimates (1e-4 relative), SEs (1e-3), objective (1e-6), delta, elasticities, diversion ratios,
markups, consumer surpluses as PyBLP computes them, approximate optimal instruments (Z_S too) with their re-estimate,
and three bootstrap draws (with a supply side, their equilibrium prices: the logit's). What PyBLP refuses at e != 1
is refused by name (micro moments and the rest: `test_epsilon_scale_micro_against_pyblp.py`). The `live` test
re-runs PyBLP and compares with the stored numbers."""

from __future__ import annotations

import numpy as np
import pytest
from epsilon_scale_workloads import ERRORS, ESTIMATES, WORKLOADS, demand, outcomes
from simulation_option_workloads import simulate
from stored_outcomes import assert_live_equals_stored, generate
from stored_outcomes import stored as stored_outcomes

import blp

TOLERANCES = {**{key: 1e-4 for key in ESTIMATES}, **{key: 1e-3 for key in ERRORS}, 'objective': 1e-6,
              'optimal_beta_se': 1e-3, 'optimal_objective': 1e-6}

# 'random''s re-estimate on its approximate optimal instruments is not identified in one direction: the smallest
# singular value of its moment Jacobian is about 4e-11 of the largest, in PyBLP and here alike, so its SEs come from
# a pseudo-inverse whose rank rounding decides (ours moved from 0.55 to 1683 with two BLAS threads instead of one).
# They are not compared; `test_the_uncompared_errors_are_those_of_an_unidentified_reestimate` checks why.
UNIDENTIFIED = {'random': {'optimal_beta_se'}}


def stored(name: str) -> dict[str, np.ndarray]:
    return stored_outcomes('epsilon_scale', name, 'generate_epsilon_scale_fixtures.py')


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_estimates_with_a_scaled_logit_error_equal_pyblps(name: str) -> None:
    reference, ours = stored(name), outcomes(blp, name)
    compared = set(reference) - {'pyblp_version'}
    assert set(ours) == compared, sorted(set(ours) ^ compared)
    assert float(reference['epsilon_scale']) != 1
    for key in sorted(compared - UNIDENTIFIED.get(name, set())):
        np.testing.assert_allclose(ours[key], reference[key], rtol=TOLERANCES.get(key, 1e-4), atol=1e-10,
                                   equal_nan=True, err_msg=f'{name}: {key}')


@pytest.mark.parametrize('name', sorted(UNIDENTIFIED))
def test_the_uncompared_errors_are_those_of_an_unidentified_reestimate(name: str) -> None:
    """The optimal-instrument re-estimate whose SEs are left out has a rank-deficient moment Jacobian, while its
    estimates still equal PyBLP's (compared above)."""
    arguments, scale, kept, solve = WORKLOADS[name]
    solved = simulate(blp, arguments(blp)).replace_endogenous()
    formulations = solved.simulation.product_formulations[:kept]
    problem = solved.to_problem(formulations) if scale is None else \
        solved.to_problem(formulations, epsilon_scale=scale)
    results = problem.solve(**solve(blp))
    updated = results.compute_optimal_instruments(method='approximate').to_problem().solve(**solve(blp))
    singular_values = np.linalg.svd(updated.moments_jacobian, compute_uv=False)
    assert singular_values[-1] < 1e-8 * singular_values[0], singular_values


def test_market_chunks_scale_as_the_whole_problem_does() -> None:
    """The chunked inner loop (`blp.model.chunks`, here one market per chunk) gives PyBLP's estimates too."""
    solved = simulate(blp, demand(blp, 1.0)).replace_endogenous()
    _, _, _, solve = WORKLOADS['random_given']
    problem = solved.to_problem(solved.simulation.product_formulations[:2], epsilon_scale=2.0)
    results = problem.solve(**solve(blp), memory_budget_mb=1e-3)
    reference = stored('random_given')
    for key in set(reference) & {*ESTIMATES, *ERRORS, 'objective'}:
        np.testing.assert_allclose(np.ravel(getattr(results, key)), reference[key], rtol=TOLERANCES[key], atol=1e-10,
                                   err_msg=key)


def test_the_scale_is_not_ignored() -> None:
    """At e = 1 the same data give other estimates than PyBLP's stored at e = 2."""
    solved = simulate(blp, demand(blp, 1.0)).replace_endogenous()
    formulations = solved.simulation.product_formulations[:2]
    _, _, _, solve = WORKLOADS['random_given']
    plain = solved.to_problem(formulations, epsilon_scale=1).solve(**solve(blp))
    assert np.abs(plain.beta.ravel() / stored('random_given')['beta'] - 1).max() > 0.1


def test_what_pyblp_refuses_at_a_scale_other_than_one_is_refused_by_name() -> None:
    """PyBLP 1.3 refuses a nonlinear fixed point and nesting groups with epsilon_scale other than 1; so does this."""
    solved = simulate(blp, demand(blp, 1.5)).replace_endogenous()
    problem = solved.to_problem(solved.simulation.product_formulations[:2])
    with pytest.raises(blp.SpecificationError, match='fp_type') as error:
        problem.solve(sigma=0.3, pi=[[0.1]], fp_type='nonlinear')
    assert error.value.parameter == 'fp_type'
    with pytest.raises(blp.SpecificationError, match='nesting groups') as error:
        blp.Problem(blp.Formulation('1 + prices'), solved.product_data, epsilon_scale=2)  # no nests: accepted
        data = {**{key: solved.product_data[key] for key in solved.product_data.dtype.names},
                'nesting_ids': np.zeros(len(solved.product_data))}
        blp.Problem(blp.Formulation('1 + prices'), data, epsilon_scale=2)
    assert error.value.parameter == 'epsilon_scale'


@pytest.mark.live  # not 'random_given' (9 s of PyBLP, the same paths as 'random'), so the re-run stays near 20 s
@pytest.mark.parametrize('name', sorted(set(WORKLOADS) - {'random_given'}))
def test_stored_epsilon_scale_fixtures_match_pyblp_run_now(name: str) -> None:
    assert_live_equals_stored(generate(outcomes, name), stored(name), name)
