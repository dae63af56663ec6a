"""The parametric bootstrap with a supply side against PyBLP at the same estimate and seed (fixture by
`generate_bootstrap_supply_fixtures.py`).

Both libraries draw theta, the concentrated-out beta and gamma from N(estimates, V / N) with NumPy's
`RandomState(seed)`, so the draws differ only by the difference of the two V (about 1e-12 relative here); each
draw's equilibrium prices (zeta-markup contraction at c~ + X3 (gamma_d - gamma)), shares and delta, the costs,
markups, elasticities, passthrough and merger prices computed from them, and their intervals, are compared at 1e-6 relative, the
contraction's iterations per market and draw to one (a market whose residual ends within rounding of `atol` may stop
one iteration sooner). With too few evaluations for any market to converge, both keep
the last iterate and flag every market.

With log costs the estimate's sigma sits at its zero bound, so V is singular (its sigma row is rounding noise, 1e-15
in PyBLP, 1e-18 here): NumPy's `multivariate_normal` draws through the SVD of V, whose singular vectors' signs that
noise decides, so the same seed gives other (equally distributed) draws. There the equilibria are compared at
PyBLP's own parameter draws.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from generate_bootstrap_supply_fixtures import (
    ATTRIBUTES,
    CAPPED,
    CAPPED_ATTRIBUTES,
    DRAWS,
    FIXTURE,
    LOG_ATTRIBUTES,
    SEED,
    outputs,
)
from supply_workloads import bootstrap_supply, bootstrap_supply_log, run_blp

import blp
from blp.post.bootstrap import BootstrappedResults

RTOL, ATOL = 1e-6, 1e-10
ITERATIONS = ('fp_iterations', 'contraction_evaluations')


@pytest.fixture(scope='module')
def results() -> blp.ProblemResults:
    return run_blp(bootstrap_supply())


@pytest.fixture(scope='module')
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as stored:
        return {key: stored[key] for key in stored.files}


def test_supply_bootstrap_matches_pyblps_draws_equilibria_and_post_estimation(results, reference) -> None:
    bootstrapped = results.bootstrap(draws=DRAWS, seed=SEED)
    assert bootstrapped.bootstrapped_gamma.shape == (DRAWS, 2, 1)
    assert reference['fp_converged'].all() and bootstrapped.fp_converged.all()
    for attribute in ATTRIBUTES:
        if attribute not in ITERATIONS:
            np.testing.assert_allclose(getattr(bootstrapped, attribute), reference[attribute], rtol=RTOL, atol=ATOL,
                                       err_msg=attribute)
    for attribute in ITERATIONS:  # a market whose FOC residual ends within rounding of atol may stop one sooner
        difference = np.abs(getattr(bootstrapped, attribute) - reference[attribute])
        assert difference.max() <= 1 and (difference == 0).mean() > 0.95, attribute
    # the draws' prices are equilibria of their own: not the observed prices
    assert np.abs(bootstrapped.bootstrapped_prices[:, :, 0] - results.problem.products.frame['prices'].to_numpy()
                  ).max() > 1e-3
    computed = outputs(bootstrapped)
    for key, value in computed.items():
        np.testing.assert_allclose(value, reference[key], rtol=RTOL, atol=ATOL, err_msg=key)
    # PyBLP's summary: the same lines, with the time and the iterations' totals (one apart at most) in their columns
    ours, theirs = (re.sub(r'\d\d:\d\d:\d\d|\b\d{3,}\b', lambda m: '#' * len(m.group()), text).splitlines()
                    for text in (repr(bootstrapped), str(reference['summary'])))
    assert ours == theirs and 'Fixed Point' in ours[2]


def test_draws_whose_equilibrium_does_not_converge_keep_the_last_iterate_as_pyblps(results, reference) -> None:
    with pytest.warns(RuntimeWarning, match=f'did not converge in {DRAWS * 12} of {DRAWS * 12} market-draws'):
        capped = results.bootstrap(draws=DRAWS, seed=SEED, iteration=blp.Iteration('simple', CAPPED))
    assert not reference['capped_fp_converged'].any() and not capped.fp_converged.any()
    assert (capped.fp_iterations == CAPPED['max_evaluations']).all()
    for attribute in CAPPED_ATTRIBUTES:
        np.testing.assert_allclose(getattr(capped, attribute), reference[f'capped_{attribute}'], rtol=RTOL, atol=ATOL,
                                   err_msg=attribute)


def test_constant_costs_false_changes_nothing_without_shares_in_x3(results) -> None:
    """PyBLP's costs are constant whatever `constant_costs` says when X3 has no shares (with shares in X3 they move:
    `test_share_costs_against_pyblp.py`)."""
    same = results.bootstrap(draws=2, seed=SEED, constant_costs=False)
    np.testing.assert_array_equal(same.bootstrapped_prices, results.bootstrap(draws=2, seed=SEED).bootstrapped_prices)


def test_log_costs_give_pyblps_equilibria_at_pyblps_draws(reference) -> None:
    results = run_blp(bootstrap_supply_log())
    assert results.clipped_costs > 0 and results.sigma[0, 0] == 0  # costs at their bound, sigma at its bound
    draws = {attribute: reference[f'log_{attribute}'] for attribute in LOG_ATTRIBUTES}
    theta = np.column_stack([draws['bootstrapped_sigma'][:, 0, 0], draws['bootstrapped_beta'][:, 1, 0]])
    bootstrapped = BootstrappedResults(results, theta, draws['bootstrapped_beta'][:, :, 0],
                                       draws['bootstrapped_gamma'][:, :, 0])
    assert bootstrapped.fp_converged.all()
    for attribute in ('bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta'):
        np.testing.assert_allclose(getattr(bootstrapped, attribute), draws[attribute], rtol=RTOL, atol=ATOL,
                                   err_msg=attribute)
    np.testing.assert_allclose(bootstrapped.compute_costs(), reference['log_costs'], rtol=RTOL, atol=ATOL)
