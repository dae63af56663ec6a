"""PyBLP's further solve options (issue 26, item 5): `error_behavior`, `error_punishment`, `delta_behavior`,
`check_optimality`, `finite_differences`, `fp_type` and `shares_bounds`, each accepted with PyBLP's choices, refused
with the option named otherwise, and doing what `Problem.solve`'s docstring says: checked against PyBLP run now on
the cereal exercise's random-coefficients problem (`live`: about ten seconds of PyBLP each), and by what each
changes here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from test_against_pyblp import assert_close
from workloads import cereal_sigma_prices, run_blp, run_pyblp, summarize

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.exceptions import NumericalError, SpecificationError

pytest.importorskip('pyblp')

PYBLP_OPTIONS = dict(error_behavior='punish', error_punishment=2.0, delta_behavior='last', fp_type='safe_nonlinear',
                     shares_bounds=(1e-10, None), check_optimality='gradient')


def workload(**options: Any) -> dict:
    spec = cereal_sigma_prices()
    spec['solve'] = {**spec['solve'], **options}
    return spec


@pytest.fixture(scope='module')
def default() -> Any:
    return run_blp(workload())


@pytest.mark.live
@pytest.mark.parametrize(('name', 'value'), [*PYBLP_OPTIONS.items(), ('fp_type', 'linear')])
def test_each_option_gives_pyblps_estimates(name: str, value: Any) -> None:
    """PyBLP with the option set, run now: estimates, SEs and objective at the project's tolerances (one at a time:
    all together, PyBLP met an error at its final estimates and punished it: an objective of 2)."""
    spec = workload(**{name: value})
    assert_close(f'cereal with {name}={value!r}', summarize(run_blp(spec), 0.0), summarize(run_pyblp(spec), 0.0))


def test_finite_differences_find_the_same_estimates(default: Any) -> None:
    differenced = run_blp(workload(finite_differences=True))
    for name in ('sigma', 'pi', 'beta'):
        np.testing.assert_allclose(getattr(differenced, name), getattr(default, name), rtol=1e-4, atol=1e-8,
                                   err_msg=name)
    np.testing.assert_array_equal(np.isfinite(differenced.sigma_se), np.isfinite(default.sigma_se))


def test_check_optimality_gradient_skips_the_hessian_only(default: Any) -> None:
    gradient_only = run_blp(workload(check_optimality='gradient'))
    assert np.isfinite(default.hessian).all() and np.isnan(gradient_only.hessian).all()
    np.testing.assert_array_equal(gradient_only.sigma, default.sigma)
    np.testing.assert_array_equal(gradient_only.sigma_se, default.sigma_se)


def test_logit_delta_behavior_costs_steps_not_accuracy(default: Any) -> None:
    logit = run_blp(workload(delta_behavior='logit'))
    np.testing.assert_allclose(logit.sigma, default.sigma, rtol=1e-6)
    np.testing.assert_allclose(logit.objective, default.objective, rtol=0, atol=1e-12)  # just identified: ~1e-15
    assert logit.contraction_evaluations > default.contraction_evaluations


def estimation(**options: Any) -> Estimation:
    spec = cereal_sigma_prices()
    problem = blp.Problem([blp.Formulation(f, a) for f, a in spec['formulations']], spec['products'],
                          blp.Formulation(spec['agent_formulation']), spec['agents'])
    return Estimation(problem, SolveOptions(sigma=spec['solve']['sigma'], pi=spec['solve']['pi'], method='1s',
                                            **options))


@dataclasses.dataclass
class Trace:
    good: Any


@pytest.mark.parametrize(('behavior', 'objective', 'gradient_zero'), [('revert', None, False), ('punish', 1.0, True)])
def test_error_behavior_gives_the_optimizer_what_pyblp_does(behavior: str, objective: Any, gradient_zero: bool) -> None:
    run = estimation(error_behavior=behavior, error_punishment=3.0)
    good = run.evaluate(run.parameters.theta, run.moments.iv(run.W))
    failed = dataclasses.replace(good, theta=good.theta + 1, failed_markets=['C01Q1'])
    given = run.failed_objective(Trace(good), failed)  # type: ignore[arg-type]
    expected = good.objective if objective is None else objective
    assert given.objective == pytest.approx(3.0 * expected)
    np.testing.assert_array_equal(given.theta, failed.theta)
    assert (given.gradient == 0).all() == gradient_zero
    assert given.failed_markets == ['C01Q1']


def test_error_behavior_raise_names_the_markets() -> None:
    run = estimation(error_behavior='raise')
    good = run.evaluate(run.parameters.theta, run.moments.iv(run.W))
    failed = dataclasses.replace(good, failed_markets=['C01Q1'])
    with pytest.raises(NumericalError, match='C01Q1'):
        run.failed_objective(Trace(good), failed)  # type: ignore[arg-type]


@pytest.mark.parametrize(('name', 'value'), [
    ('fp_type', 'newton'), ('error_behavior', 'ignore'), ('delta_behavior', 'middle'), ('check_optimality', 'hessian'),
    ('error_punishment', 0.0), ('error_punishment', float('nan')), ('finite_differences', 'yes'),
    ('shares_bounds', (0.5, 0.1)), ('shares_bounds', (1e-300,)), ('shares_bounds', (-1, None)),
])
def test_bad_values_name_the_option(name: str, value: Any) -> None:
    with pytest.raises(SpecificationError) as error:
        SolveOptions(**{name: value})
    assert error.value.parameter == name


def test_the_json_spec_carries_them() -> None:
    from blp.spec import SolveSpec, solve_options
    options = solve_options(SolveSpec(**{**PYBLP_OPTIONS, 'finite_differences': True}))
    for name, value in {**PYBLP_OPTIONS, 'finite_differences': True}.items():
        assert getattr(options, name) == value, name
