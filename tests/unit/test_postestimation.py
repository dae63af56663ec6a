"""Post-estimation on small cereal problems with markets of unequal size: closed forms for logit and nested logit,
a plain per-market implementation for random coefficients, and the identities every demand system satisfies."""

import json

import numpy as np
import pytest

import blp

ABSORB = 'C(market_ids) + C(product_ids)'
RETURN = blp.Optimization('return')


@pytest.fixture(scope='module')
def unequal(products):
    """The ten cereal markets with about 15 % of the products dropped, so that market sizes differ."""
    keep = np.random.default_rng(0).uniform(size=len(products)) > 0.15
    frame = products[keep].reset_index(drop=True)
    assert frame.groupby('market_ids').size().nunique() > 1
    return frame


@pytest.fixture(scope='module')
def logit(unequal):
    return blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), unequal).solve(method='1s')


@pytest.fixture(scope='module')
def nested(unequal):
    frame = unequal.assign(nesting_ids=unequal['mushy'])
    problem = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), frame)
    return problem.solve(rho=[0.4, 0.7], method='1s', optimization=RETURN)


@pytest.fixture(scope='module')
def random_coefficients(unequal, agents):
    problem = blp.Problem([blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')],
                          unequal, blp.Formulation('0 + log_income'), agents)
    return problem.solve(sigma=[[0, 0], [0, 1.0]], pi=[[0.1], [-6.0]], method='1s', optimization=RETURN)


@pytest.fixture(params=['logit', 'nested', 'random_coefficients'])
def results(request):
    return request.getfixturevalue(request.param)


def markets(results):
    return list(results.problem.products.layout.markets)


def rows_of(results, market):
    return np.flatnonzero(results.problem.products.market_ids == market)


def alpha(results):
    return float(results.beta[results.beta_labels.index('prices'), 0])


def agent_view(results, market):
    """A plain, unpadded computation of one market: utilities V (J x I), weights and price coefficients (I)."""
    problem = results.problem
    rows = rows_of(results, market)
    delta = results.delta[rows, 0]
    if problem.agents is None:
        return delta[:, None], np.ones(1), np.full(1, alpha(results))
    t = markets(results).index(market)
    agents = problem.agents
    count = agents.layout.counts[t]
    coefficients = agents.nodes[t, :count] @ results.sigma.T + agents.demographics[t, :count] @ results.pi.T
    V = delta[:, None] + problem.X2[rows] @ coefficients.T
    return V, agents.weights[t, :count], alpha(results) + coefficients[:, problem.X2_labels.index('prices')]


def plain_jacobian(results, market):
    """ds_j/dp_k = sum_i w_i a_i s_ij (1[j = k] - s_ik) for random coefficients and logit."""
    V, weights, slopes = agent_view(results, market)
    probabilities = np.exp(V) / (1 + np.exp(V).sum(axis=0))
    return sum(w * a * (np.diag(s) - np.outer(s, s)) for w, a, s in zip(weights, slopes, probabilities.T))


def same_firm(results, market):
    firms = results.problem.products.firm_ids[rows_of(results, market)]
    return (firms[:, None] == firms[None, :]).astype(float)


# ---------------------------------------------------------------- closed forms
def test_logit_elasticities_equal_the_closed_forms(logit):
    """Own -alpha p (1 - s) and cross alpha p_k s_k with PyBLP's signs: alpha is the (negative) price coefficient,
    so own elasticities are alpha p_j (1 - s_j) < 0 and cross ones -alpha p_k s_k > 0."""
    a = alpha(logit)
    assert a < 0
    for market in markets(logit):
        rows = rows_of(logit, market)
        p, s = logit.problem.products.frame['prices'].to_numpy()[rows], logit.problem.products.shares[rows]
        expected = np.tile(-a * p * s, (rows.size, 1))
        np.fill_diagonal(expected, a * p * (1 - s))
        np.testing.assert_allclose(logit.compute_elasticities(market_id=market), expected, rtol=1e-12)


def test_logit_diversion_ratios_are_share_ratios_in_the_short_and_long_run(logit):
    """IIA: j's lost sales go to k in proportion to s_k, D_jk = s_k / (1 - s_j); the outside good's part is
    s_0 / (1 - s_j)."""
    for market in markets(logit):
        s = logit.problem.products.shares[rows_of(logit, market)]
        expected = np.tile(s, (s.size, 1)) / (1 - s)[:, None]
        np.fill_diagonal(expected, (1 - s.sum()) / (1 - s))
        np.testing.assert_allclose(logit.compute_diversion_ratios(market_id=market), expected, rtol=1e-12)
        np.testing.assert_allclose(logit.compute_long_run_diversion_ratios(market_id=market), expected, rtol=1e-10)


def test_nested_logit_elasticities_equal_the_closed_forms(nested):
    """Own alpha p_j (1/(1-rho) - rho/(1-rho) s_j|h - s_j); same nest -alpha p_k (s_k + rho/(1-rho) s_k|h);
    other nests -alpha p_k s_k."""
    a = alpha(nested)
    products = nested.problem.products
    for market in markets(nested):
        rows = rows_of(nested, market)
        p, s, nest = products.frame['prices'].to_numpy()[rows], products.shares[rows], products.nesting_ids[rows]
        rho = np.where(nest == nest.max(), nested.rho[1, 0], nested.rho[0, 0])
        same = nest[:, None] == nest[None, :]
        within = s / (same * s[None, :]).sum(axis=1)
        expected = np.where(same, -a * p * (s + rho / (1 - rho) * within), -a * p * s)
        np.fill_diagonal(expected, a * p * (1 / (1 - rho) - rho / (1 - rho) * within - s))
        np.testing.assert_allclose(nested.compute_elasticities(market_id=market), expected, rtol=1e-10)


def test_logit_and_nested_logit_consumer_surplus_are_log_sums_over_the_price_coefficient(logit, nested):
    for market in markets(logit):
        delta = logit.delta[rows_of(logit, market), 0]
        expected = np.log1p(np.exp(delta).sum()) / -alpha(logit)
        assert logit.compute_consumer_surpluses(market_id=market)[0, 0] == pytest.approx(expected, rel=1e-12)
    for market in markets(nested):
        rows = rows_of(nested, market)
        delta, nest = nested.delta[rows, 0], nested.problem.products.nesting_ids[rows]
        inclusive = sum(np.exp(delta[nest == h] / (1 - rho)).sum() ** (1 - rho)
                        for h, rho in zip(sorted(set(nest)), nested.rho[:, 0]))
        expected = np.log1p(inclusive) / -alpha(nested)
        assert nested.compute_consumer_surpluses(market_id=market)[0, 0] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- random coefficients against a plain computation
def test_random_coefficients_jacobians_and_costs_match_a_plain_per_market_computation(random_coefficients):
    results = random_coefficients
    stacked = results.compute_demand_jacobians()
    costs = results.compute_costs()
    products = results.problem.products
    for market in markets(results):
        rows = rows_of(results, market)
        jacobian = plain_jacobian(results, market)
        np.testing.assert_allclose(results.compute_demand_jacobians(market_id=market), jacobian, rtol=1e-10)
        np.testing.assert_allclose(stacked[rows, :rows.size], jacobian, rtol=1e-10)
        assert np.isnan(stacked[rows, rows.size:]).all()
        eta = np.linalg.solve(-same_firm(results, market) * jacobian.T, products.shares[rows])
        np.testing.assert_allclose(costs[rows, 0], products.frame['prices'].to_numpy()[rows] - eta, rtol=1e-9)


def test_random_coefficients_consumer_surplus_averages_agents_log_sums(random_coefficients):
    results = random_coefficients
    for market in markets(results):
        V, weights, slopes = agent_view(results, market)
        expected = weights @ (np.log1p(np.exp(V).sum(axis=0)) / -slopes)
        assert results.compute_consumer_surpluses(market_id=market)[0, 0] == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------- identities
def test_diversion_ratios_of_each_product_sum_to_one_with_the_outside_good(results):
    for ratios in (results.compute_diversion_ratios(), results.compute_long_run_diversion_ratios()):
        np.testing.assert_allclose(np.nansum(ratios, axis=1), 1, rtol=1e-10)


def test_elasticities_are_nan_past_each_markets_products_and_labelled_in_the_json_form(results):
    stacked = results.compute_elasticities()
    labelled = results.compute_elasticities(as_dict=True)
    json.dumps(labelled, allow_nan=False)
    frame = results.problem.products.frame
    for market in markets(results):
        rows = rows_of(results, market)
        assert np.isnan(stacked[rows, rows.size:]).all() and not np.isnan(stacked[rows, :rows.size]).any()
        entry = labelled[str(market)]
        assert entry['product_ids'] == list(frame['product_ids'].to_numpy()[rows])
        np.testing.assert_array_equal(np.array(entry['matrix']), stacked[rows, :rows.size])


def test_shares_at_the_estimated_prices_are_the_observed_shares(results):
    np.testing.assert_allclose(results.compute_shares()[:, 0], results.problem.products.shares, rtol=1e-10)


def test_group_shares_average_back_to_market_shares(random_coefficients):
    results = random_coefficients
    agents = results.problem.agents.frame
    high = (agents['log_income'] > agents.groupby('market_ids')['log_income'].transform('median')).to_numpy()
    groups = results.compute_group_shares(np.where(high, 'high', 'low'))
    weights = results.problem.agents.weights
    t = results.problem.products.layout.market_index
    share_high = np.bincount(np.repeat(np.arange(weights.shape[0]), results.problem.agents.layout.counts),
                             weights=np.where(high, results.problem.agents.layout.unpad(weights), 0))[t]
    mixed = share_high * groups['high'][:, 0] + (1 - share_high) * groups['low'][:, 0]
    np.testing.assert_allclose(mixed, results.problem.products.shares, rtol=1e-9)
    market = markets(results)[0]
    labelled = results.compute_group_shares(np.where(high, 'high', 'low'), market_id=market, as_dict=True)
    json.dumps(labelled, allow_nan=False)
    np.testing.assert_allclose(labelled[str(market)]['groups']['high'], groups['high'][rows_of(results, market), 0],
                               rtol=1e-12)


def test_hhi_is_ten_thousand_for_a_monopoly_and_lower_otherwise(results):
    monopoly = np.zeros(results.problem.N)
    np.testing.assert_allclose(results.compute_hhi(firm_ids=monopoly), 1e4, rtol=1e-12)
    assert (results.compute_hhi() < 1e4).all()


def test_ownership_matrices_give_the_same_costs_as_the_firm_ids_they_encode(results):
    layout = results.problem.products.layout
    firms = results.problem.products.firm_ids
    ownership = np.full((results.problem.N, layout.width), np.nan)
    for market in markets(results):
        rows = rows_of(results, market)
        ownership[rows, :rows.size] = firms[rows][:, None] == firms[rows][None, :]
    np.testing.assert_allclose(results.compute_costs(ownership=ownership), results.compute_costs(), rtol=1e-12)


def test_characteristics_that_enter_non_linearly_are_refused(unequal):
    problem = blp.Problem(blp.Formulation('0 + prices + prices:mushy', absorb=ABSORB), unequal)
    results = problem.solve(method='1s')
    with pytest.raises(blp.SpecificationError, match='non-linearly'):
        results.compute_elasticities('prices')


# ---------------------------------------------------------------- equilibrium
def first_order_conditions(results, prices, costs, firm_ids):
    """s + (H * ds/dp') (p - c) per product, with the Jacobian at `prices` from a plain per-market computation."""
    residuals = np.zeros(results.problem.N)
    shares = results.compute_shares(prices)[:, 0]
    for market in markets(results):
        rows = rows_of(results, market)
        V, weights, slopes = agent_view(results, market)
        change = prices[rows] - results.problem.products.frame['prices'].to_numpy()[rows]
        V = V + change[:, None] * slopes[None, :]
        probabilities = np.exp(V) / (1 + np.exp(V).sum(axis=0))
        jacobian = sum(w * a * (np.diag(s) - np.outer(s, s)) for w, a, s in zip(weights, slopes, probabilities.T))
        H = (firm_ids[rows][:, None] == firm_ids[rows][None, :]).astype(float)
        residuals[rows] = shares[rows] + (H * jacobian.T) @ (prices[rows] - costs[rows])
    return residuals


@pytest.mark.parametrize('name', ['logit', 'random_coefficients'])
def test_merger_prices_satisfy_the_first_order_conditions(name, request):
    results = request.getfixturevalue(name)
    merged = results.problem.products.firm_ids.copy()
    merged[merged == 'F2'] = 'F1'
    costs = results.compute_costs()[:, 0]
    prices = results.compute_prices(firm_ids=merged, costs=costs)[:, 0]
    assert np.abs(first_order_conditions(results, prices, costs, merged)).max() < 1e-10
    changed = np.isin(results.problem.products.firm_ids, ['F1', 'F2'])
    observed = results.problem.products.frame['prices'].to_numpy()
    assert (prices[changed] > observed[changed]).all()


def test_a_merger_with_unchanged_ownership_leaves_prices_unchanged(results):
    observed = results.problem.products.frame['prices'].to_numpy()
    prices = results.compute_prices(firm_ids=results.problem.products.firm_ids)
    np.testing.assert_allclose(prices[:, 0], observed, rtol=1e-10)


def test_prices_held_fixed_stay_put_while_the_others_reoptimize(logit):
    products = logit.problem.products
    observed = products.frame['prices'].to_numpy()
    fixed = products.frame['product_ids'].to_numpy() == 'F1B04'
    cut = np.where(fixed, observed / 2, observed)
    costs = logit.compute_costs()[:, 0]
    prices = logit.compute_prices(prices=cut, prices_fixed=fixed, costs=costs)[:, 0]
    assert (prices[fixed] == cut[fixed]).all()
    residuals = first_order_conditions(logit, prices, costs, products.firm_ids)
    assert np.abs(residuals[~fixed]).max() < 1e-10
    rivals = ~np.char.startswith(products.frame['product_ids'].to_numpy().astype(str), 'F1')
    affected = np.isin(products.market_ids, products.market_ids[fixed])
    assert affected.sum() < affected.size  # some markets lack F1B04: nothing moves there
    assert (prices[rivals & affected] < observed[rivals & affected]).all()  # rivals answer with cuts of their own
    np.testing.assert_allclose(prices[~affected], observed[~affected], rtol=1e-10)


def test_prices_that_do_not_converge_are_reported_per_market(logit):
    with pytest.warns(RuntimeWarning, match='did not converge'):
        report = logit.compute_prices(costs=0.5 * logit.compute_costs(), iteration=blp.Iteration(
            'simple', {'atol': 1e-12, 'max_evaluations': 1}), as_dict=True)
    assert not any(entry['converged'] for entry in report.values())
    assert all(entry['iterations'] == 1 for entry in report.values())


def test_lower_costs_lower_prices_and_raise_consumer_surplus(random_coefficients):
    results = random_coefficients
    table = results.counterfactual(costs=0.9 * results.compute_costs())
    assert all(row['price_change'] < 0 for row in table['products'])
    assert all(row['consumer_surplus_change'] > 0 and row['converged'] for row in table['markets'])


# ---------------------------------------------------------------- shapes and JSON
ARRAY_METHODS = ['compute_elasticities', 'compute_diversion_ratios', 'compute_long_run_diversion_ratios',
                 'compute_demand_jacobians', 'compute_aggregate_elasticities', 'compute_shares', 'compute_costs',
                 'compute_markups', 'compute_profits', 'compute_hhi', 'compute_consumer_surpluses',
                 'compute_approximate_prices', 'compute_prices']


@pytest.mark.parametrize('method', ARRAY_METHODS)
def test_every_compute_method_gives_one_markets_numbers_as_arrays_and_as_labelled_json(results, method):
    market = markets(results)[1]
    array = getattr(results, method)(market_id=market)
    labelled = getattr(results, method)(market_id=market, as_dict=True)
    json.dumps(labelled, allow_nan=False)
    assert list(labelled) == [str(market)]
    entry = labelled[str(market)]
    if isinstance(entry, dict):
        assert entry['product_ids'] == list(results.problem.products.frame['product_ids'].to_numpy()[
            rows_of(results, market)])
        values = entry.get('matrix', entry.get('values'))
    else:
        values = entry
    np.testing.assert_allclose(np.array(values, dtype=float).reshape(array.shape), array, rtol=1e-12)
    stacked = getattr(results, method)()
    rows = rows_of(results, market) if stacked.shape[0] == results.problem.N else \
        [list(results.unique_market_ids).index(market)]
    np.testing.assert_allclose(stacked[rows][:, :array.shape[1]], array, rtol=1e-12)


def test_vector_arguments_may_cover_one_market_or_all_products(logit):
    market = markets(logit)[2]
    rows = rows_of(logit, market)
    prices = logit.problem.products.frame['prices'].to_numpy() * 1.1
    one = logit.compute_shares(prices[rows], market_id=market)
    np.testing.assert_allclose(one, logit.compute_shares(prices)[rows], rtol=1e-12)
    np.testing.assert_allclose(one, logit.compute_shares(prices, market_id=market), rtol=1e-12)
    with pytest.raises(blp.SpecificationError, match='prices must have'):
        logit.compute_shares(prices[:3])
    with pytest.raises(blp.SpecificationError, match='not in the product data'):
        logit.compute_costs(market_id='nowhere')


def test_each_agents_surplus_is_kept_on_request(random_coefficients):
    results = random_coefficients
    surpluses = results.compute_consumer_surpluses(keep_all=True)
    counts = results.problem.agents.layout.counts
    assert surpluses.shape == (results.problem.T, counts.max())
    np.testing.assert_allclose(np.nansum(surpluses * results.problem.agents.weights[results._market_order], axis=1),
                               results.compute_consumer_surpluses()[:, 0], rtol=1e-12)
    assert (np.isfinite(surpluses).sum(axis=1) == counts[results._market_order]).all()


def test_eliminating_a_product_lowers_consumer_surplus_only_where_it_is_sold(results):
    before = results.compute_consumer_surpluses()[:, 0]
    after = results.compute_consumer_surpluses(eliminate_product_ids=['F1B04'])[:, 0]
    products = results.problem.products
    sold = np.isin(results.unique_market_ids, products.market_ids[products.frame['product_ids'] == 'F1B04'])
    assert (after[sold] < before[sold]).all()
    np.testing.assert_array_equal(after[~sold], before[~sold])
