"""blp's post-estimation against PyBLP's on identical estimates, 1e-6 relative: elasticities, diversion ratios
(marginal and long-run), aggregate elasticities, costs, markups, profits, HHI, consumer surplus, a merger, a cost cut
and the exercises' price cut.

blp is evaluated at PyBLP's theta (stored beside PyBLP's numbers), so optimizer noise does not enter. The default
run compares against `fixtures/postestimation_*.npz` written by `generate_postestimation_fixtures.py`; the `live`
test runs PyBLP now and compares against that as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from generate_postestimation_fixtures import CASES, FIXTURES, generate, post_estimation
from workloads import WORKLOADS

import blp

RTOL = 1e-6
# A stored fixture against PyBLP run now compares two PyBLP estimates, whose optimizer ends a little elsewhere from
# run to run: on a fresh machine RCNL's cost of 0.0021 (a price less a markup of about the same size) moved 1.3e-6
# relative while blp matched the live run to 1e-6. So the fixture is held to the estimates' tolerance, 1e-4; blp is
# always held to 1e-6 against the PyBLP numbers of the same theta.
FIXTURE_RTOL = 1e-4
QUANTITIES = ['elasticities', 'diversion_ratios', 'long_run_diversion_ratios', 'aggregate_elasticities', 'costs',
              'markups', 'profits', 'hhi', 'consumer_surpluses', 'merger_prices', 'merger_shares', 'merger_markups',
              'merger_profits', 'merger_hhi', 'merger_consumer_surpluses', 'cost_cut_prices', 'price_cut_shares',
              'price_cut_elasticities']
_cache: dict[str, Any] = {}


def stored(name: str) -> dict[str, np.ndarray]:
    path = FIXTURES / f'postestimation_{name}.npz'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_postestimation_fixtures.py'
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def results_at(name: str, reference: dict[str, np.ndarray]) -> Any:
    """blp's results of the workload at PyBLP's theta, without optimizing."""
    workload = WORKLOADS[name]()
    formulations = [blp.Formulation(formula, absorb) for formula, absorb in workload['formulations']]
    agent_formulation = blp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = blp.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'),
                          rc_types=workload.get('rc_types'))
    given = {key: reference[key] if reference[key].size else None for key in ('sigma', 'pi', 'rho')}
    return problem.solve(**given, method='1s', optimization=blp.Optimization('return'),
                         iteration=blp.Iteration('squarem', {'atol': 1e-14}))


def ours(name: str) -> tuple[Any, dict[str, np.ndarray]]:
    """Our results and outputs at the stored theta, computed once per session."""
    if name not in _cache:
        results = results_at(name, stored(name))
        _cache[name] = results, post_estimation(results, WORKLOADS[name]()['products'], CASES[name])
    return _cache[name]


def assert_match(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float = RTOL) -> None:
    assert actual.shape == expected.shape, f'{what}: shape {actual.shape} != {expected.shape}'
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f'{what}: NaN padding differs'
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, err_msg=what)


@pytest.mark.parametrize('quantity', QUANTITIES)
@pytest.mark.parametrize('name', sorted(CASES))
def test_postestimation_matches_stored_pyblp_numbers(name: str, quantity: str) -> None:
    reference = stored(name)
    results, outputs = ours(name)
    np.testing.assert_allclose(results.beta, reference['beta'], rtol=1e-8, err_msg=f'{name}: beta at PyBLP theta')
    assert_match(outputs[quantity], reference[quantity], f'{name}: {quantity}')


@pytest.mark.parametrize('name', sorted(CASES))
def test_market_level_outputs_follow_pyblps_market_order(name: str) -> None:
    results, _ = ours(name)
    assert list(results.unique_market_ids.astype(str)) == list(stored(name)['unique_market_ids'])


def percent_changes(name: str) -> np.ndarray:
    """The exercises' price cut: percent change of each share in the market."""
    _, outputs = ours(name)
    products = WORKLOADS[name]()['products']
    market, _ = CASES[name]['price_cut']
    before = products.loc[products['market_ids'] == market, 'shares'].to_numpy()
    return 100 * (outputs['price_cut_shares'][:, 0] / before - 1)


def test_logit_price_cut_raises_F1B04_by_224_percent_and_cuts_every_other_share_equally() -> None:
    """Exercise 1 (IV logit): F1B04's share in C01Q2 rises about 223.6 %, all others fall by the same ~1.45 %."""
    products = WORKLOADS['cereal_iv']()['products']
    ids = products.loc[products['market_ids'] == 'C01Q2', 'product_ids'].to_numpy()
    changes = percent_changes('cereal_iv')
    assert changes[ids == 'F1B04'][0] == pytest.approx(223.6, abs=0.05)
    others = changes[ids != 'F1B04']
    assert others == pytest.approx(np.full(others.size, -1.45), abs=0.005)
    assert np.ptp(others) < 1e-10


def test_random_coefficients_price_cut_cuts_other_shares_unequally() -> None:
    """Exercise 2: with heterogeneous price sensitivity, products closer to F1B04 lose more than others."""
    products = WORKLOADS['cereal_sigma_prices']()['products']
    ids = products.loc[products['market_ids'] == 'C01Q2', 'product_ids'].to_numpy()
    others = percent_changes('cereal_sigma_prices')[ids != 'F1B04']
    assert (others < 0).all() and np.ptp(others) > 0.1


@pytest.mark.parametrize('name', ['nevo', 'nevo_nested_logit'])
def test_merger_raises_the_merging_firms_prices_more_than_rivals(name: str) -> None:
    results, _ = ours(name)
    products = WORKLOADS[name]()['products']
    merged = products['firm_ids'].replace(*CASES[name]['merger']).to_numpy()
    prices = results.compute_prices(firm_ids=merged, costs=results.compute_costs())
    change = prices[:, 0] / products['prices'].to_numpy() - 1
    merging = products['firm_ids'].isin(CASES[name]['merger']).to_numpy()
    assert (change[merging] > 0).all() and change[merging].mean() > change[~merging].mean() >= 0


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(CASES))
def test_postestimation_matches_pyblp_run_now(name: str) -> None:
    live = generate(name)
    results = results_at(name, live)
    outputs = post_estimation(results, WORKLOADS[name]()['products'], CASES[name])
    reference = stored(name)
    for quantity in QUANTITIES:
        assert_match(outputs[quantity], live[quantity], f'{name}: {quantity} (blp vs live PyBLP)')
        assert_match(reference[quantity], live[quantity], f'{name}: {quantity} (stored fixture vs live PyBLP)',
                     rtol=FIXTURE_RTOL)
