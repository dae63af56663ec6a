"""What `blp` prints is what PyBLP prints (issue 24): configurations, problems and results, against PyBLP 1.3.0
printing the same objects now, at the default digits and at `options.digits = 2` (the tutorials' setting).

Configurations must print the same text. Problems and results are compared as PyBLP's documentation notebooks are
(tests/port): the same lines of the same tables, and their numbers to the port's tolerance, except the columns that
describe the run rather than the model (time, iteration and evaluation counts, the gradient norm where the optimizer
stopped)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'port'))
from notebook_port import agree, mask, numbers  # noqa: E402 - the port's number comparison, after its path

DIGITS = (7, 2)


@pytest.fixture(params=DIGITS, ids=lambda digits: f'digits={digits}')
def digits(request: pytest.FixtureRequest) -> Iterator[int]:
    saved = blp.options.digits, pyblp.options.digits, blp.options.verbose, pyblp.options.verbose
    blp.options.digits = pyblp.options.digits = request.param
    blp.options.verbose = pyblp.options.verbose = False
    yield request.param
    blp.options.digits, pyblp.options.digits, blp.options.verbose, pyblp.options.verbose = saved


CONFIGURATIONS: list[Callable[[Any], Any]] = [
    lambda library: library.Formulation('0 + prices + size'),
    lambda library: library.Formulation('size + I(size ** 2) + C(product) * C(year)'),
    lambda library: library.Formulation('size + I(size ** 2)', absorb='C(product) * C(year)'),
    lambda library: library.Formulation('year:(log(income) + C(education))'),
    lambda library: library.Formulation('1 + log(hpwt) + trend * (jp + eu) + log(q)'),
    lambda library: library.Formulation('prices', absorb='C(product_ids)'),
    lambda library: library.Optimization('l-bfgs-b', {'gtol': 1e-3}),
    lambda library: library.Optimization('bfgs', {'gtol': 1e-4}),
    lambda library: library.Optimization('trust-constr', {'gtol': 1e-10, 'maxiter': 100}),
    lambda library: library.Optimization('slsqp'),
    lambda library: library.Optimization('tnc'),
    lambda library: library.Optimization('cg'),
    lambda library: library.Optimization('return'),
    lambda library: library.Optimization('bfgs', compute_gradient=False),
    lambda library: library.Optimization('nelder-mead', compute_gradient=False),
    lambda library: library.Optimization('powell', compute_gradient=False),
    lambda library: library.Integration('product', 5),
    lambda library: library.Integration('grid', size=7),
    lambda library: library.MicroDataset('Survey', 1000, lambda t, p, a: 1, market_ids=['C61Q1']),
    lambda library: library.MicroMoment('Mean', 0.25, [
        library.MicroPart('A', library.MicroDataset('S', 10, lambda t, p, a: 1), lambda t, p, a: 1),
        library.MicroPart('B', library.MicroDataset('T', 20, lambda t, p, a: 1, market_ids=[1, 2]), lambda t, p, a: 1),
    ], compute_value=lambda v: v[0], compute_gradient=lambda v: v),
]


@pytest.mark.parametrize('index', range(len(CONFIGURATIONS)))
def test_configurations_print_as_pyblps(index: int, digits: int) -> None:
    configuration = CONFIGURATIONS[index]
    assert repr(configuration(blp)) == repr(configuration(pyblp)) == str(configuration(blp))


@pytest.mark.parametrize('method, options', [('squarem', {}), ('simple', {'atol': 1e-12, 'max_evaluations': 100})])
def test_iterations_print_pyblps_options_but_the_norm_it_names_by_pyblps_function(method: str, options: dict,
                                                                                  digits: int) -> None:
    ours, theirs = repr(blp.Iteration(method, options)), repr(pyblp.Iteration(method, options))
    assert ours == theirs.replace(', norm: pyblp.configurations.iteration.infinity_norm', '')


def test_a_seeded_monte_carlo_integration_prints_its_seed(digits: int) -> None:
    ours = blp.Integration('monte_carlo', size=50, specification_options={'seed': 0})
    assert repr(ours) == repr(pyblp.Integration('monte_carlo', size=50, specification_options={'seed': 0}))
    for specification in ('monte_carlo', 'halton'):  # no seed given: the options given, as PyBLP's
        assert repr(blp.Integration(specification, 50)) == repr(pyblp.Integration(specification, 50))


def test_a_seed_keyword_is_refused_as_by_pyblp() -> None:
    for library in (blp, pyblp):
        with pytest.raises(TypeError, match='seed'):
            library.Integration('monte_carlo', 50, seed=0)


def test_digits_change_what_is_printed() -> None:
    saved = blp.options.digits
    try:
        blp.options.digits = 3
        assert repr(blp.Optimization('bfgs', {'gtol': 1e-4})).endswith('{gtol: +1.00E-04}.')
        blp.options.digits = 5
        assert repr(blp.Optimization('bfgs', {'gtol': 1e-4})).endswith('{gtol: +1.0000E-04}.')
    finally:
        blp.options.digits = saved


def compare_printed(ours: str, theirs: str) -> None:
    """The same tables of the same lines (masked columns blanked), and numbers that agree to the port's tolerance."""
    tables, their_tables = ours.split('\n\n'), theirs.split('\n\n')
    assert len(tables) == len(their_tables)
    for table, their_table in zip(tables, their_tables):
        assert [line.rstrip() for line in NUMBERLESS(mask(table))] == \
            [line.rstrip() for line in NUMBERLESS(mask(their_table))]
    ours_numbers, their_numbers = numbers(ours), numbers(theirs)
    assert len(ours_numbers) == len(their_numbers)
    differing = [(a, b) for a, b in zip(ours_numbers, their_numbers) if not agree(a, b)]
    assert not differing, differing


def NUMBERLESS(text: str) -> list[str]:  # noqa: N802 - a constant-like helper of compare_printed
    """The text's lines with each number replaced by `#`: the layout, whatever the last digits."""
    import re
    return [re.sub(r'[-+]?\d+\.\d+E[-+]\d+|(?<![\w.])\d+(?![\w.])', '#', line) for line in text.split('\n')]


@pytest.fixture(scope='module')
def nevo() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION), pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)


def both(build: Callable[[Any], Any]) -> tuple[str, str]:
    """What `build(library)` prints on blp and on PyBLP."""
    return str(build(blp)), str(build(pyblp))


def test_a_logit_problem_and_its_results_print_as_pyblps(nevo: Any, digits: int) -> None:
    products, _ = nevo
    problem = lambda library: library.Problem(library.Formulation('prices', absorb='C(product_ids)'), products)  # noqa: E731
    compare_printed(*both(problem))
    compare_printed(*both(lambda library: problem(library).solve()))


def test_a_nested_logit_with_its_bootstrap_and_optimal_instruments_prints_as_pyblps(nevo: Any, digits: int) -> None:
    products, _ = nevo
    data = products.assign(nesting_ids=products['mushy'])
    data['demand_instruments20'] = data.groupby(['market_ids', 'nesting_ids'])['shares'].transform('size')
    solved = {library: library.Problem(library.Formulation('0 + prices'), data).solve(rho=0.7) for library in
              (blp, pyblp)}
    compare_printed(str(solved[blp].problem), str(solved[pyblp].problem))
    compare_printed(str(solved[blp]), str(solved[pyblp]))
    compare_printed(*both(lambda library: solved[library].bootstrap(draws=3, seed=0)))
    compare_printed(*both(lambda library: solved[library].compute_optimal_instruments()))


@pytest.mark.parametrize('digits', [7], indirect=True)
def test_random_coefficients_with_demographics_print_as_pyblps(nevo: Any, digits: int) -> None:
    """Nevo's problem at the tutorial's starting values: the nonlinear table with sigma and pi side by side. PyBLP
    does not reproduce the smallest Hessian eigenvalue here (PYBLP_UNSTABLE of tests/port), which is not compared."""
    products, agents = nevo
    sigma = np.diag([0.3302, 2.4526, 0.0163, 0.2441])
    pi = [[5.4819, 0, 0.2037, 0], [15.8935, -1.2, 0, 2.6342], [-0.2506, 0, 0.0511, 0], [1.2650, 0, -0.8091, 0]]

    def solve(library: Any) -> Any:
        formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'),
                        library.Formulation('1 + prices + sugar + mushy'))
        problem = library.Problem(formulations, products, library.Formulation('0 + income + income_squared + age + '
                                                                              'child'), agents)
        return problem.solve(sigma, pi, optimization=library.Optimization('return'), method='1s')

    ours, theirs = solve(blp), solve(pyblp)
    compare_printed(str(ours.problem), str(theirs.problem))
    summary, *rest = str(ours).split('\n\n')
    their_summary, *their_rest = str(theirs).split('\n\n')
    compare_printed('\n\n'.join(rest), '\n\n'.join(their_rest))
    assert numbers(summary)[:2] + numbers(summary)[3:] == numbers(their_summary)[:2] + numbers(their_summary)[3:]


@pytest.mark.parametrize('digits', [7], indirect=True)
def test_sigma_squared_is_printed_beside_a_full_sigma_with_pyblps_standard_errors(nevo: Any, digits: int) -> None:
    products, _ = nevo
    markets = products['market_ids'].unique()[:20]
    data = products[products['market_ids'].isin(markets)]
    sigma = np.tril(np.full((3, 3), 0.5))

    def solve(library: Any) -> Any:
        formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'),
                        library.Formulation('1 + prices + sugar'))
        problem = library.Problem(formulations, data, integration=library.Integration('product', size=4))
        return problem.solve(sigma, optimization=library.Optimization('return'), method='1s')

    ours, theirs = solve(blp), solve(pyblp)
    np.testing.assert_allclose(ours.sigma_squared, theirs.sigma_squared, rtol=1e-10)
    np.testing.assert_allclose(ours.sigma_squared_se, theirs.sigma_squared_se, rtol=1e-3)
    estimates, their_estimates = (str(results).split('\n\n')[2:] for results in (ours, theirs))
    assert estimates[0].startswith('Nonlinear') and 'Sigma Squared:' in estimates[0]
    compare_printed('\n\n'.join(estimates), '\n\n'.join(their_estimates))


@pytest.mark.parametrize('digits', [2], indirect=True)
def test_micro_moments_and_their_estimates_print_as_pyblps(digits: int) -> None:
    """Exercise 3's three micro moments (tests/reference/micro_workloads.py) at the starting values: the moments'
    own text and the results' `Estimated Micro Moments` table."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import micro_workloads
    import workloads
    workload = micro_workloads.exercise3_diversion()
    workload['solve'].update(optimization=('return', {}))
    for ours, theirs in zip(micro_workloads.exercise3_micro_moments(blp, 'all'),
                            micro_workloads.exercise3_micro_moments(pyblp, 'all')):
        assert repr(ours) == repr(theirs)
    results, their_results = workloads.run_blp(workload), workloads.run_pyblp(workload)
    assert str(results).split('\n\n')[-1].startswith('Estimated Micro Moments:')
    compare_printed(str(results).split('\n\n')[-1], str(their_results).split('\n\n')[-1])


def test_unadjusted_standard_errors_are_named_as_pyblp_names_them(nevo: Any, digits: int) -> None:
    products, _ = nevo
    compare_printed(*both(lambda library: library.Problem(library.Formulation('prices'), products).solve(
        method='2s', se_type='unadjusted')))


def simulation(library: Any, **extra: Any) -> Any:
    """The simulation tutorial's economy, smaller: a supply side and one random coefficient, or `extra` (demographics
    and a full sigma)."""
    formulations = (library.Formulation('1 + prices + x'), library.Formulation(extra.pop('X2', '0 + x')),
                    library.Formulation('0 + x + z'))
    arguments = dict(beta=[1, -2, 2], sigma=1, gamma=[1, 4], seed=0, integration=library.Integration('product', 3),
                     product_data=library.build_id_data(T=10, J=8, F=4))
    return library.Simulation(formulations, **{**arguments, **extra})


def _full(library: Any) -> dict[str, Any]:
    """Demographics and a sigma with an off-diagonal element: pi and sigma squared are printed too."""
    return dict(X2='1 + x', sigma=[[1, 0], [0.5, 1]], pi=[[0.5], [0.1]], agent_formulation=library.Formulation('0 + d'))


@pytest.mark.parametrize('full', [False, True], ids=['tutorial', 'pi-and-sigma-squared'])
def test_a_simulation_and_its_results_print_as_pyblps(full: bool, digits: int) -> None:
    """Dimensions, formulations and true values; then the results' summary with the profit gradients and Hessians
    computed, with only one of them, and with none."""
    ours, theirs = [simulation(library, **(_full(library) if full else {})) for library in (blp, pyblp)]
    assert [line.rstrip() for line in str(ours).split('\n')] == [line.rstrip() for line in str(theirs).split('\n')]
    for arguments in ({}, {'compute_gradients': False}, {'compute_hessians': False},
                      {'compute_gradients': False, 'compute_hessians': False}):
        compare_printed(str(ours.replace_endogenous(**arguments)), str(theirs.replace_endogenous(**arguments)))


@pytest.mark.parametrize('digits', [2], indirect=True)
@pytest.mark.parametrize('costs_bounds', [None, (None, None), (2.0, None), (None, 1e6)])
def test_clipped_costs_are_printed_only_under_a_finite_costs_bound(costs_bounds: Any, digits: int) -> None:
    """PyBLP 1.3.0 shows `Clipped Costs` only when `costs_bounds` has a finite bound, whatever was clipped."""
    printed = []
    for library in (blp, pyblp):
        problem = simulation(library).replace_endogenous().to_problem()
        printed.append(str(problem.solve(sigma=0.5, beta=[None, -1, None], method='1s', costs_bounds=costs_bounds,
                                         optimization=library.Optimization('return'))))
    compare_printed(*printed)
    assert ('Costs' in printed[0].split('\n\n')[0]) == (costs_bounds not in (None, (None, None)))


@pytest.mark.parametrize('digits', [7], indirect=True)
def test_a_problem_with_covariance_moments_and_its_results_print_as_pyblps(digits: int) -> None:
    """`MC` among the dimensions; the results of covariance restrictions print nothing of their own in PyBLP 1.3.0."""
    from covariance_workloads import COVARIANCE_WORKLOADS
    from supply_workloads import run_blp, run_pyblp
    workload = COVARIANCE_WORKLOADS['covariance_logit']()
    workload['solve'] = dict(workload['solve'], method='1s')
    ours, theirs = run_blp(workload), run_pyblp(workload)
    compare_printed(str(ours.problem), str(theirs.problem))
    compare_printed(str(ours), str(theirs))
