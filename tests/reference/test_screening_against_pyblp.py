"""Merger screening of BLP's automobile estimate (with its supply side) against PyBLP, at PyBLP's theta, in all 20
markets: for every pair of firms selling together, the simulated prices equal PyBLP's `compute_prices` with the merged
firm_ids to 1e-6, and diversion to the partner and GUPPI equal those computed by plain loops from PyBLP's
`compute_diversion_ratios` and `compute_markups` to 1e-8 (fixture from `generate_screening_fixtures.py`; `make test`
simulates each pair in one market, `make test-live` every third pair in every market and re-runs PyBLP for a few
pairs)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pytest
from generate_screening_fixtures import PATH, SCREEN_MARKETS, estimate_at_pyblp_theta

import blp
from blp.post import screening

_cache: dict[str, Any] = {}


def stored() -> dict[str, np.ndarray]:
    assert PATH.exists(), f'missing fixture {PATH}: run tests/reference/generate_screening_fixtures.py'
    with np.load(PATH) as arrays:
        return {key: arrays[key] for key in arrays.files}


def today() -> screening.MarketsToday:
    if 'today' not in _cache:
        _cache['today'] = screening.MarketsToday.from_results(estimate_at_pyblp_theta(blp), SCREEN_MARKETS)
    return _cache['today']


PRICE_RTOL = 1e-6 - 2.0 ** -24  # the fixture's prices are float32: their rounding comes off the 1e-6


def expected_indices(reference: dict[str, np.ndarray], rows: np.ndarray, pair: Sequence[str]) -> tuple:
    """Diversion to the partner and GUPPI of each merging product in `rows` (one market), from PyBLP's diversion
    ratios D summed over the partner's products k (D_jk, and D_jk p_k (p_k - c_k) / p_k with PyBLP's markups)."""
    firms, prices = reference['firm_ids'][rows], reference['observed_prices'][rows]
    labels = list(reference['firm_labels'])
    to_firm, pressure = reference['diversion_to_firm'][rows], reference['pressure_from_firm'][rows]
    diversion, guppi = {}, {}
    for j, firm in enumerate(firms):
        if firm in pair:
            partner = labels.index(pair[1] if firm == pair[0] else pair[0])
            diversion[j], guppi[j] = to_firm[j, partner], pressure[j, partner] / prices[j]
    return diversion, guppi


def expected_prices(reference: dict[str, np.ndarray], number: int) -> np.ndarray:
    """PyBLP's prices after merging pair `number` (NaN in the markets it does not touch)."""
    stored_rows = reference['price_pairs'] == number
    expected = np.full(reference['market_ids'].size, np.nan)
    expected[reference['price_rows'][stored_rows]] = reference['price_values'][stored_rows]
    return expected


def test_every_pair_of_firms_in_every_market_matches_pyblp() -> None:
    """Every pair's diversion and GUPPI in every market it touches; its simulated prices in one of them, a
    different one pair after pair (every market is simulated; the equilibria of all 3,600 pair-markets would take
    minutes: `test_every_third_pair_simulated_in_every_market_matches_pyblp` does a third under `make test-live`)."""
    reference, state = stored(), today()
    assert [int(market) for market in state.markets] == SCREEN_MARKETS == list(reference['markets'])
    pairs = screening.candidate_pairs(state)
    assert pairs == [tuple(pair) for pair in reference['pairs']], 'the candidates are every pair that meets'
    simulated = set()
    for number, pair in enumerate(pairs):
        expected = expected_prices(reference, number)
        indices = screening.merger_indices(state, pair)
        touched = [int(market) for market in indices.today.markets]
        assert touched == [m for m in SCREEN_MARKETS if np.isfinite(expected[reference['market_ids'] == m]).all()]
        for t, market in enumerate(touched):
            check_indices(reference, indices, t, market)
        market = touched[number % len(touched)]
        check_prices(reference, state, pair, market, expected)
        simulated.add(market)
    assert sorted(simulated) == SCREEN_MARKETS


@pytest.mark.live
def test_every_third_pair_simulated_in_every_market_matches_pyblp() -> None:
    """The stored prices of every third pair in every market it touches (no PyBLP run; all 308 pairs would take
    our equilibria 11 minutes on a busy machine, a third about a minute on a quiet one)."""
    reference, state = stored(), today()
    pairs = screening.candidate_pairs(state)
    for number in range(1, len(pairs), 3):
        pair, expected = pairs[number], expected_prices(reference, number)
        for market in screening.merger_indices(state, pair).today.markets:
            check_prices(reference, state, pair, int(market), expected)


def check_indices(reference: dict[str, np.ndarray], indices: screening.MergerIndices, t: int, market: int) -> None:
    rows = reference['market_ids'] == market
    diversion, guppi = expected_indices(reference, rows, indices.firms)
    assert sorted(diversion) == list(np.flatnonzero(indices.merging[t]))
    for j in diversion:
        assert indices.diversion[t, j] == pytest.approx(diversion[j], rel=1e-8, abs=1e-14), (indices.firms, market, j)
        assert indices.guppi[t, j] == pytest.approx(guppi[j], rel=1e-8, abs=1e-14), (indices.firms, market, j)


def check_prices(reference: dict[str, np.ndarray], state: screening.MarketsToday, pair: tuple[str, str], market: int,
                 expected: np.ndarray) -> None:
    """The pair's merger simulated in `market` alone: converged, prices as PyBLP's."""
    outcome = screening.screen_merger(state.restrict(np.flatnonzero(state.markets == market)), pair)
    assert outcome.converged.all(), (pair, market)
    rows = reference['market_ids'] == market
    np.testing.assert_allclose(outcome.prices[0, :rows.sum()], expected[rows], rtol=PRICE_RTOL, atol=0,
                               err_msg=f'{pair} in {market}')


def test_a_credited_merger_and_the_ranking_are_consistent() -> None:
    state = today().restrict(np.arange(2))  # 1971 and 1972
    pairs = screening.candidate_pairs(state)[:6]
    rows = [screening.merger_summary(screening.screen_merger(state, pair, credit=0.02)) for pair in pairs]
    ranked = screening.rank(rows)
    losses = [row['consumer_surplus_loss'] for row in ranked]
    assert losses == sorted(losses, reverse=True) and [row['rank'] for row in ranked] == list(range(1, 7))


@pytest.mark.live
def test_a_few_pairs_match_pyblp_run_now() -> None:
    import pyblp
    pyblp.options.verbose = False
    results, state = estimate_at_pyblp_theta(pyblp), today()
    products = results.problem.products
    market_ids, firms = products.market_ids[:, 0], products.firm_ids[:, 0].astype(str)
    costs = results.compute_costs()
    for pair in screening.candidate_pairs(state)[::40]:
        outcome = screening.screen_merger(state, pair)
        merged = np.where(firms == pair[1], pair[0], firms)
        for t, market in enumerate(outcome.today.markets):
            selected = market_ids == market
            expected = results.compute_prices(firm_ids=merged[selected], costs=costs[selected], market_id=market)
            np.testing.assert_allclose(outcome.prices[t, :selected.sum()], expected[:, 0], rtol=1e-6)
