"""The before/after counterfactual table: prices taken as given (the exercises' price cut) and new equilibria
(mergers), with agent groups, on cereal markets of unequal size."""

import json

import numpy as np
import pytest

import blp

ABSORB = 'C(market_ids) + C(product_ids)'
MARKET, PRODUCT = 'C01Q2', 'F1B04'


@pytest.fixture(scope='module')
def unequal(products):
    keep = np.random.default_rng(1).uniform(size=len(products)) > 0.1
    frame = products[keep | (products['market_ids'] == MARKET)].reset_index(drop=True)
    assert frame.groupby('market_ids').size().nunique() > 1
    return frame


@pytest.fixture(scope='module', params=['logit', 'nested', 'random_coefficients'])
def results(request, unequal, agents):
    if request.param == 'random_coefficients':
        problem = blp.Problem([blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')],
                              unequal, blp.Formulation('0 + log_income'), agents)
        return problem.solve(sigma=[[0, 0], [0, 1.0]], pi=[[0.1], [-6.0]], method='1s',
                             optimization=blp.Optimization('return'))
    frame = unequal.assign(nesting_ids=unequal['mushy']) if request.param == 'nested' else unequal
    rho = 0.6 if request.param == 'nested' else None
    return blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), frame).solve(
        rho=rho, method='1s', optimization=blp.Optimization('return'))


def halved(results):
    """The market's prices with F1B04's cut in half, one per product of the market."""
    frame = results.problem.products.frame
    market = frame[frame['market_ids'] == MARKET]
    return np.where(market['product_ids'] == PRODUCT, market['prices'] / 2, market['prices'])


def test_a_price_cut_reports_the_shares_compute_shares_gives(results):
    table = results.counterfactual(prices=halved(results), market_id=MARKET)
    json.dumps(table, allow_nan=False)
    assert table['kind'] == 'prices' and {row['market_id'] for row in table['products']} == {MARKET}
    after = results.compute_shares(halved(results), market_id=MARKET)[:, 0]
    before = results.problem.products.shares[results.problem.products.market_ids == MARKET]
    np.testing.assert_allclose([row['share_after'] for row in table['products']], after, rtol=1e-12)
    np.testing.assert_allclose([row['share_change_percent'] for row in table['products']],
                               100 * (after / before - 1), rtol=1e-10)
    cut = next(row for row in table['products'] if row['product_id'] == PRODUCT)
    assert cut['price_change_percent'] == pytest.approx(-50) and cut['share_change'] > 0
    market = table['markets'][0]
    assert market['converged'] is None and market['consumer_surplus_change'] > 0
    assert market['outside_share_after'] == pytest.approx(1 - after.sum(), rel=1e-12)


def test_a_merger_reports_the_new_equilibrium_with_costs_held_fixed(results):
    firms = results.problem.products.firm_ids
    merged = np.where(firms == 'F2', 'F1', firms)
    table = results.counterfactual(firm_ids=merged)
    json.dumps(table, allow_nan=False)
    assert table['kind'] == 'equilibrium' and all(row['converged'] for row in table['markets'])
    np.testing.assert_allclose([row['price_after'] for row in table['products']],
                               results.compute_prices(firm_ids=merged)[:, 0], rtol=1e-12)
    costs = results.compute_costs()[:, 0]
    np.testing.assert_allclose([row['cost_before'] for row in table['products']], costs, rtol=1e-12)
    np.testing.assert_allclose([row['cost_after'] for row in table['products']], costs, rtol=1e-12)
    assert all(row['hhi_change'] > 0 and row['consumer_surplus_change'] < 0 for row in table['markets'])
    merging = [row for row in table['products'] if row['firm_id_before'] in ('F1', 'F2')]
    assert all(row['firm_id_after'] == 'F1' and row['price_change'] > 0 for row in merging)


def test_a_market_id_restricts_the_table_but_not_the_equilibrium(results):
    firms = results.problem.products.firm_ids
    merged = np.where(firms == 'F2', 'F1', firms)
    table = results.counterfactual(firm_ids=merged, market_id=MARKET)
    everywhere = results.counterfactual(firm_ids=merged)
    assert [row['market_id'] for row in table['markets']] == [MARKET]
    assert table['products'] == [row for row in everywhere['products'] if row['market_id'] == MARKET]


def test_income_groups_respond_differently_to_a_price_cut(results):
    if results.problem.agents is None:
        with pytest.raises(blp.SpecificationError, match='agent groups need agents'):
            results.counterfactual(prices=halved(results), market_id=MARKET, agent_groups='log_income')
        return
    agents = results.problem.agents.frame
    high = agents['log_income'] > agents.groupby('market_ids')['log_income'].transform('median')
    table = results.counterfactual(prices=halved(results), market_id=MARKET,
                                   agent_groups=np.where(high, 'high income', 'low income'))
    json.dumps(table, allow_nan=False)
    cut = {row['group']: row['share_change_percent'] for row in table['groups'] if row['product_id'] == PRODUCT}
    assert set(cut) == {'high income', 'low income'}
    assert results.pi[1, 0] < 0  # price sensitivity grows with income here, so the rich respond more to the cut
    assert cut['high income'] > cut['low income'] > 0
    surplus = {row['group']: row['consumer_surplus_change'] for row in table['group_surpluses']}
    assert surplus['low income'] > 0 and surplus['high income'] > 0


def test_a_counterfactual_without_a_change_is_refused(results):
    with pytest.raises(blp.SpecificationError, match='needs new prices'):
        results.counterfactual()
