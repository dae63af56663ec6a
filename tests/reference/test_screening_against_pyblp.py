"""Merger screening of BLP's automobile estimate (with its supply side) against PyBLP, at PyBLP's theta: for every
pair of firms selling together in the screened markets, the simulated prices equal PyBLP's `compute_prices` with the
merged firm_ids to 1e-6, and diversion to the partner and GUPPI equal those computed by plain loops from PyBLP's
`compute_diversion_ratios` and `compute_markups` to 1e-8 (fixture from `generate_screening_fixtures.py`; the `live`
test re-runs PyBLP for a few pairs)."""

from __future__ import annotations

from typing import Any

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


def expected_indices(reference: dict[str, np.ndarray], rows: np.ndarray, pair: tuple[str, str]) -> tuple:
    """Diversion to the partner and GUPPI of each merging product in `rows` (one market), by loops over PyBLP's
    diversion matrix D (D[j, k]: the part of j's lost sales going to k) and Lerner indices."""
    firms, prices, lerner = reference['firm_ids'][rows], reference['observed_prices'][rows], reference['markups'][rows]
    matrix = reference['diversion'][rows][:, :rows.sum()]
    diversion, guppi = {}, {}
    for j in range(rows.sum()):
        if firms[j] not in pair:
            continue
        partners = [k for k in range(rows.sum()) if firms[k] in pair and firms[k] != firms[j]]
        diversion[j] = sum(matrix[j, k] for k in partners)
        guppi[j] = sum(matrix[j, k] * lerner[k] * prices[k] for k in partners) / prices[j]
    return diversion, guppi


def test_every_pair_of_firms_matches_pyblp() -> None:
    reference, state = stored(), today()
    pairs = screening.candidate_pairs(state)
    assert pairs == [tuple(pair) for pair in reference['pairs']], 'the candidates are every pair that meets'
    markets = reference['market_ids']
    for number, pair in enumerate(pairs):
        outcome = screening.screen_merger(state, pair)
        touched = [int(market) for market in outcome.today.markets]
        assert touched == [m for m in SCREEN_MARKETS if np.isfinite(reference['prices'][number][markets == m]).all()]
        assert outcome.converged.all(), pair
        for t, market in enumerate(touched):
            rows = markets == market
            J = rows.sum()
            np.testing.assert_allclose(outcome.prices[t, :J], reference['prices'][number][rows], rtol=1e-6, atol=0,
                                       err_msg=f'{pair} in {market}')
            diversion, guppi = expected_indices(reference, rows, pair)
            assert sorted(diversion) == list(np.flatnonzero(outcome.merging[t]))
            for j in diversion:
                assert outcome.diversion[t, j] == pytest.approx(diversion[j], rel=1e-8, abs=1e-14), (pair, market, j)
                assert outcome.guppi[t, j] == pytest.approx(guppi[j], rel=1e-8, abs=1e-14), (pair, market, j)


def test_a_credited_merger_and_the_ranking_are_consistent() -> None:
    state = today()
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
