"""Arrays indexed by the moments come in PyBLP's order, and a W given to `solve` is read in it (issue 24): with
exogenous columns in X1 and X3 ('1 + prices + sugar', '1 + sugar') PyBLP's ZD and ZS put the excluded instruments
first, ours the characteristics. Against PyBLP 1.3.0 live on Nevo's cereal data in 20 markets, two GMM steps at fixed
parameters (PyBLP's 'return'), demand only, with a supply side, with covariance moments after it and with a micro
moment after the demand moments: a few seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')

MOMENT_ARRAYS = ('W', 'updated_W', 'moments', 'moments_jacobian', 'moments_covariances', 'simulation_covariances',
                 'parameter_sensitivity')


def nevo(library: Any, supply: bool, covariance: bool = False) -> Any:
    """Eight demand instruments (and, with `supply`, two supply instruments and linear costs in '1 + sugar';
    `covariance`: a covariance instrument, whose moments come after the supply side's)."""
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    agents = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    markets = products['market_ids'].unique()[:20]
    products, agents = (frame[frame['market_ids'].isin(markets)].copy() for frame in (products, agents))
    products['supply_instruments0'] = products['demand_instruments8']
    products['supply_instruments1'] = products['demand_instruments9']
    if covariance:
        products['covariance_instruments0'] = products['demand_instruments10']
    products = products.drop(columns=[f'demand_instruments{index}' for index in range(8, 20)])
    library.options.verbose = False
    formulations = (library.Formulation('1 + prices + sugar'), library.Formulation('1 + prices + sugar'))
    if supply:
        formulations += (library.Formulation('1 + sugar'),)
    return library.Problem(formulations, products, library.Formulation('0 + income'), agents)


def solve(problem: Any, library: Any, supply: bool, **options: Any) -> Any:
    extra: dict[str, Any] = {'beta': [None, -30.0, None]} if supply else {}  # the price coefficient in theta
    return problem.solve(np.diag([0.5, 2.0, 0.1]), [[1.0], [2.0], [0.0]],
                         optimization=library.Optimization('return'), **{'method': '2s', **extra, **options})


def micro_moments(library: Any, problem: Any) -> list:
    """E[income | inside] surveyed in five markets: a micro moment after the demand moments."""
    markets = list(np.unique(problem.products.market_ids))[:5]
    dataset = library.MicroDataset('Income', 100, lambda t, p, a: np.ones((a.size, p.size)), market_ids=markets)
    part = library.MicroPart('income | inside', dataset,
                             lambda t, p, a: np.einsum('i,j', a.demographics[:, 0], np.ones(p.size)))
    return [library.MicroMoment('E[income | inside]', 0.5, part)]


def assert_moment_arrays(ours: Any, theirs: Any) -> None:
    """Every array over the moments of our results equals PyBLP's (1e-8 relative to its largest entry's scale)."""
    for name in MOMENT_ARRAYS:
        mine, their = np.asarray(getattr(ours, name)), np.asarray(getattr(theirs, name))
        assert mine.shape == their.shape, name
        np.testing.assert_allclose(mine, their, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(their).max()), err_msg=name)


@pytest.fixture(scope='module', params=['demand', 'supply', 'covariance', 'micro'])
def case(request: pytest.FixtureRequest) -> dict[Any, Any]:
    supply = request.param in {'supply', 'covariance'}
    problems = {library: nevo(library, supply, request.param == 'covariance') for library in (blp, pyblp)}
    micro = {library: {'micro_moments': micro_moments(library, problem)} if request.param == 'micro' else {}
             for library, problem in problems.items()}
    return {'supply': supply, 'covariance': request.param == 'covariance', 'problems': problems, 'micro': micro,
            'results': {library: solve(problem, library, supply, **micro[library])
                        for library, problem in problems.items()}}


def test_arrays_over_the_moments_are_in_pyblps_order(case: dict) -> None:
    ours, theirs = case['results'][blp], case['results'][pyblp]
    problem = case['problems'][blp]
    assert problem.MD == 10 and problem.MS == (4 if case['supply'] else 0)  # X1's 1, sugar and eight instruments
    assert problem.MC == int(case['covariance'])
    assert ours.W.shape[0] == problem.MD + problem.MS + problem.MC + len(case['micro'][blp].get('micro_moments', []))
    assert_moment_arrays(ours, theirs)
    for name in MOMENT_ARRAYS:
        np.testing.assert_array_equal(ours.to_dict()[name], getattr(ours, name), err_msg=name)


def test_a_given_w_is_read_in_pyblps_order(case: dict) -> None:
    """PyBLP's updated_W handed to either library gives the same one-step estimate."""
    W = case['results'][pyblp].updated_W
    ours, theirs = (solve(problem, library, case['supply'], W=W, method='1s', **case['micro'][library])
                    for library, problem in case['problems'].items())
    np.testing.assert_allclose(ours.W, W, rtol=0, atol=0)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-8)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-8)
    np.testing.assert_allclose(ours.moments, theirs.moments, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(ours.updated_W, theirs.updated_W, rtol=1e-8)


def test_a_stored_estimate_keeps_its_w(case: dict) -> None:
    """`to_document` stores W in PyBLP's order and `restore` reads it so: the restored estimate is the same."""
    ours = case['results'][blp]
    restored = case['problems'][blp].restore(ours.to_document(), case['micro'][blp].get('micro_moments', ()))
    np.testing.assert_array_equal(restored.W, ours.W)
    np.testing.assert_allclose(restored.objective, ours.objective, rtol=1e-12)
    np.testing.assert_allclose(restored.beta_se, ours.beta_se, rtol=1e-8)


def test_a_document_stored_before_pyblps_order_restores_the_same(case: dict) -> None:
    """Documents stored before W was reported in PyBLP's order (no 'moment_order') hold W in ours: the job store
    still has them, and they restore to the same estimate."""
    ours = case['results'][blp]
    document = ours.to_document()
    assert document['restore']['moment_order'] == 'pyblp'
    old = {**document, 'restore': {key: value for key, value in document['restore'].items() if key != 'moment_order'}}
    old['restore']['W'] = ours._estimation.moment_order.given(np.asarray(ours.W)).tolist()
    assert not np.array_equal(old['restore']['W'], document['restore']['W'])  # the orders differ in this problem
    restored = case['problems'][blp].restore(old, case['micro'][blp].get('micro_moments', ()))
    np.testing.assert_array_equal(restored.W, ours.W)
    np.testing.assert_allclose(restored.objective, ours.objective, rtol=1e-12)
    np.testing.assert_allclose(restored.beta_se, ours.beta_se, rtol=1e-8)


@pytest.mark.parametrize('name', ['persistence_moment_types_supply'])
def test_moment_types_keep_pyblps_order(name: str) -> None:
    """With moment types the counts already split each side's instruments in PyBLP's order: the same arrays match
    (the seeded panel, X1 '1 + prices + x' and X3 '1 + w', one GMM step at fixed parameters)."""
    from persistence_workloads import build  # the seeded AR(1) panel shared with the persistence references

    results = {}
    for library in (blp, pyblp):
        library.options.verbose = False
        problem, options = build(library, name)
        results[library] = problem.solve(**{**options, 'method': '1s', 'optimization': library.Optimization('return')})
    assert_moment_arrays(results[blp], results[pyblp])


@pytest.mark.parametrize('supply', [False, True], ids=['demand', 'supply'])
def test_a_problem_with_optimal_instruments_keeps_pyblps_order(supply: bool) -> None:
    """`to_problem()` of approximate optimal instruments puts X1's exogenous columns among ZD's: its results are
    reported in PyBLP's order as well."""
    results = {}
    for library in (blp, pyblp):
        problem = nevo(library, supply)
        optimal = solve(problem, library, supply).compute_optimal_instruments(method='approximate')
        results[library] = solve(optimal.to_problem(), library, supply)
    assert_moment_arrays(results[blp], results[pyblp])
