"""Merger screening and the hypothetical monopolist test (`blp.post.screening`) on cereal markets: each index checked
against its definition computed another way (closed forms under logit, the compensating cost cut that must keep
prices where they are, PyBLP-style `compute_prices` for the simulations)."""

import json

import numpy as np
import pytest

import blp
from blp.post import screening

ABSORB = 'C(market_ids) + C(product_ids)'
MARKETS = ['C01Q1', 'C01Q2', 'C03Q1']


@pytest.fixture(scope='module', params=['logit', 'random_coefficients'])
def results(request, products, agents):
    frame = products[products['market_ids'].isin(MARKETS)].reset_index(drop=True)
    if request.param == 'random_coefficients':
        problem = blp.Problem([blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')],
                              frame, blp.Formulation('0 + log_income'),
                              agents[agents['market_ids'].isin(MARKETS)].reset_index(drop=True))
        return problem.solve(sigma=[[0, 0], [0, 1.0]], pi=[[0.1], [-6.0]], method='1s',
                             optimization=blp.Optimization('return'))
    return blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), frame).solve(
        method='1s', optimization=blp.Optimization('return'))


@pytest.fixture(scope='module')
def today(results):
    return screening.MarketsToday.from_results(results)


def test_every_pair_of_firms_that_meet_is_a_candidate(today, results):
    firms = sorted(set(results.problem.products.firm_ids.astype(str)))
    pairs = screening.candidate_pairs(today)
    assert pairs == [(a, b) for i, a in enumerate(firms) for b in firms[i + 1:]]


def test_simulated_prices_are_compute_prices_with_merged_firm_ids(today, results):
    firms = results.problem.products.firm_ids.astype(str)
    outcome = screening.screen_merger(today, ('F1', 'F2'))
    expected = results.compute_prices(firm_ids=np.where(firms == 'F2', 'F1', firms))[:, 0]
    layout = results.problem.products.layout
    np.testing.assert_allclose(outcome.prices[layout.market_index, layout.position], expected, rtol=1e-10)
    assert outcome.converged.all()
    rows = screening.merger_markets(outcome)
    assert all(row['consumer_surplus_change'] < 0 and row['hhi_change'] > 0 for row in rows)
    json.dumps([screening.merger_summary(outcome), rows, screening.merger_products(outcome)], allow_nan=False)


def test_logit_diversion_and_guppi_have_their_closed_forms(products):
    frame = products[products['market_ids'].isin(MARKETS)].reset_index(drop=True)
    logit = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), frame).solve(
        method='1s', optimization=blp.Optimization('return'))
    outcome = screening.screen_merger(screening.MarketsToday.from_results(logit), ('F1', 'F3'))
    touched = outcome.today
    for t in range(touched.T):
        shares, firms = touched.shares[t], touched.firms[t]
        for j in np.flatnonzero(outcome.merging[t]):
            partners = outcome.merging[t] & (firms != firms[j])
            diversion = shares[partners].sum() / (1 - shares[j])  # D_jk = s_k / (1 - s_j) under logit
            margins = (touched.prices[t] - touched.costs[t])[partners]
            assert outcome.diversion[t, j] == pytest.approx(diversion, rel=1e-10)
            guppi = (shares[partners] * margins).sum() / (1 - shares[j]) / touched.prices[t, j]
            assert outcome.guppi[t, j] == pytest.approx(guppi, rel=1e-10)


def test_cost_cuts_of_cmcr_keep_prices_where_they_are(today, results):
    outcome = screening.screen_merger(today, ('F1', 'F2'))
    touched = outcome.today
    cut = np.where(outcome.merging, touched.costs * (1 - np.nan_to_num(outcome.cmcr)), touched.costs)
    merged = np.where(np.isin(touched.firms, touched.firm_codes(['F1', 'F2'])), touched.firm_codes(['F1'])[0],
                      touched.firms)
    solved = blp.post.equilibrium.solve_prices(touched.model, cut, screening._ownership(merged, touched.mask),
                                               touched.prices, np.zeros(touched.mask.shape, dtype=bool))
    np.testing.assert_allclose(solved.prices[touched.mask], touched.prices[touched.mask], rtol=1e-8)
    assert (outcome.cmcr[outcome.merging] > 0).all()


def test_upp_subtracts_the_credit_and_the_credit_lowers_prices(today):
    plain, credited = screening.screen_merger(today, ('F1', 'F2')), screening.screen_merger(today, ('F1', 'F2'), 0.05)
    costs = plain.today.costs[plain.merging]
    np.testing.assert_allclose(credited.upp[plain.merging], plain.upp[plain.merging] - 0.05 * costs, rtol=1e-10)
    # a multi-product firm may still raise a cheap product's price, diverting to its others: the average falls
    assert screening.merger_summary(credited)['merging_price_change_percent'] < \
        screening.merger_summary(plain)['merging_price_change_percent']
    assert screening.merger_summary(credited)['consumer_surplus_change'] > \
        screening.merger_summary(plain)['consumer_surplus_change']


def test_delta_hhi_of_two_firms_is_twice_the_product_of_their_inside_shares(today):
    outcome = screening.screen_merger(today, ('F1', 'F2'))
    touched = outcome.today
    for t, row in enumerate(screening.merger_markets(outcome)):
        inside = touched.shares[t][touched.mask[t]].sum()
        first, second = (touched.shares[t][touched.firms[t] == touched.firm_codes([f])[0]].sum() / inside
                         for f in ('F1', 'F2'))
        assert row['hhi_change'] == pytest.approx(2e4 * first * second, rel=1e-10)


def test_welfare_is_consumer_surplus_plus_profits_and_the_summary_adds_markets(today):
    outcome = screening.screen_merger(today, ('F2', 'F4', 'F6'))
    rows, summary = screening.merger_markets(outcome), screening.merger_summary(outcome)
    for row in rows:
        assert row['welfare_change'] == pytest.approx(row['consumer_surplus_change'] + row['profit_change'])
    assert summary['markets'] == len(rows) == 3 and summary['firms'] == ['F2', 'F4', 'F6']
    assert summary['consumer_surplus_loss'] == pytest.approx(-sum(row['consumer_surplus_change'] for row in rows))
    assert summary['merging_profit_change'] > 0


def test_bad_candidates_are_refused_by_name(today):
    with pytest.raises(blp.exceptions.SpecificationError, match='F99'):
        screening.screen_merger(today, ('F1', 'F99'))
    with pytest.raises(blp.exceptions.SpecificationError, match='two different firms'):
        screening.screen_merger(today, ('F1', 'F1'))
    with pytest.raises(blp.exceptions.SpecificationError, match='credit'):
        screening.screen_merger(today, ('F1', 'F2'), credit=1.5)


def test_rank_sorts_by_any_column_with_unknown_values_last():
    rows = [{'name': 'a', 'x': 1.0}, {'name': 'b', 'x': None}, {'name': 'c', 'x': 3.0}]
    assert [row['name'] for row in screening.rank(rows, 'x')] == ['c', 'a', 'b']
    assert [row['rank'] for row in screening.rank(rows, 'x', descending=False)] == [1, 2, 3]
    with pytest.raises(blp.exceptions.SpecificationError, match='nope'):
        screening.rank(rows, 'nope')


def test_the_monopolist_with_rivals_fixed_solves_compute_prices_with_prices_fixed(today, results):
    products = results.problem.products
    group = ['F1B04', 'F1B06', 'F2B05']
    outcome = screening.hypothetical_monopolist(today, group)
    in_group = np.isin(products.product_ids.astype(str), group)
    owners = np.where(in_group, 'monopolist', products.firm_ids.astype(str))
    expected = results.compute_prices(firm_ids=owners, prices_fixed=~in_group)[:, 0]
    layout = products.layout
    np.testing.assert_allclose(outcome.prices[layout.market_index, layout.position], expected, rtol=1e-10)
    np.testing.assert_array_equal(outcome.prices[~outcome.group & today.mask], today.prices[~outcome.group & today.mask])
    responding = screening.hypothetical_monopolist(today, group, rivals='bertrand')
    expected = results.compute_prices(firm_ids=owners)[:, 0]
    np.testing.assert_allclose(responding.prices[layout.market_index, layout.position], expected, rtol=1e-10)


def test_ssnip_reports_the_smallest_group_that_passes(today):
    single, pair, everything = ['F1B04'], ['F1B04', 'F1B06'], sorted(set(today.product_ids[today.mask]))
    report = screening.ssnip(today, [everything, pair, single], threshold=0.05)
    json.dumps(report, allow_nan=False)
    rows = report['groups']
    assert [row['size'] for row in rows] == [len(everything), 2, 1]
    assert rows[0]['passes'], 'a monopolist of every product raises prices by more than 5 %'
    for row in rows:
        for market in row['markets']:
            assert market['profit_after'] >= market['profit_before'] - 1e-12
            assert market['passes'] == (market['largest_increase_percent'] >= 5)
    passing = [row for row in rows if row['passes']]
    assert report['smallest_passing_group'] == min(passing, key=lambda row: row['size'])['group']
    with pytest.raises(blp.exceptions.SpecificationError, match='NOPE'):
        screening.ssnip(today, [['NOPE']])
