"""`blp.options`, PyBLP's global options: the same names and defaults, read when they are used (issue 24)."""

from __future__ import annotations

import importlib
import warnings
from typing import Iterator

import numpy as np
import pytest

import blp

IV = blp.Formulation('0 + prices', absorb='C(product_ids)')
PYBLP_DEFAULTS = {
    'digits': 7, 'verbose': True, 'verbose_tracebacks': False, 'verbose_output': print, 'flush_output': False,
    'dtype': np.float64, 'finite_differences_epsilon': np.sqrt(np.finfo(np.float64).eps), 'pseudo_inverses': True,
    'weights_tol': 1e-10, 'singular_tol': 1 / np.finfo(np.float64).eps, 'collinear_atol': 1e-10,
    'collinear_rtol': 1e-10, 'psd_atol': 1e-8, 'psd_rtol': 1e-8, 'stable_atol': 1e-8, 'stable_rtol': 1e-8,
    'detect_micro_collinearity': False, 'micro_computation_chunks': 1, 'drop_product_fields': False,
}


@pytest.fixture(autouse=True)
def restored_options() -> Iterator[None]:
    saved = {name: getattr(blp.options, name) for name in PYBLP_DEFAULTS}
    yield
    for name, value in saved.items():
        setattr(blp.options, name, value)


def test_options_have_pyblps_names_and_defaults() -> None:
    pyblp = pytest.importorskip('pyblp')  # the test-time oracle: its option names and defaults
    # The declared defaults of both: the service, the workers and the reference tests turn `verbose` off when loaded.
    theirs = {name: value for name, value in vars(pyblp.options).items() if not name.startswith('_')}
    importlib.reload(blp.options)
    importlib.reload(pyblp.options)
    try:
        public = {name for name in vars(blp.options) if not name.startswith('_')}
        assert public == set(PYBLP_DEFAULTS) == {name for name in vars(pyblp.options) if not name.startswith('_')}
        for name, default in PYBLP_DEFAULTS.items():
            assert getattr(blp.options, name) == default == getattr(pyblp.options, name), name
    finally:
        for name, value in theirs.items():
            setattr(pyblp.options, name, value)
    assert blp.options is __import__('blp.options').options and 'options' in blp.__all__


def _collinear_messages(data: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        blp.Problem(IV, data)
    return [str(warning.message) for warning in caught if 'collinear' in str(warning.message)]


def test_collinear_tolerances_decide_the_warning_when_the_problem_is_built(products) -> None:
    noise = np.random.default_rng(0).standard_normal(len(products))
    nearly = products.assign(demand_instruments4=products['demand_instruments0'] + 1e-6 * noise)
    assert _collinear_messages(nearly) == []
    blp.options.collinear_rtol = 1e-3  # read at call time: the same data are now collinear
    assert any("ZD column 'demand_instruments4'" in message for message in _collinear_messages(nearly))
    exact = products.assign(demand_instruments4=products['demand_instruments0'])
    blp.options.collinear_rtol = 1e-10
    assert _collinear_messages(exact)
    blp.options.collinear_atol = blp.options.collinear_rtol = 0  # PyBLP's way to disable the check
    assert _collinear_messages(exact) == []


def test_verbose_outputs_status_updates_through_verbose_output_and_flushes(products, monkeypatch) -> None:
    problem = blp.Problem(IV, products)
    lines: list[str] = []
    blp.options.verbose, blp.options.verbose_output = True, lines.append
    problem.solve(method='1s')
    assert lines[0] == 'Solving the problem ...' and lines[1] == 'Estimating standard errors ...'
    assert lines[2].startswith('Computed results after 00:00:') and lines[4].startswith('Problem Results Summary:')
    flushes: list[int] = []
    monkeypatch.setattr('sys.stdout.flush', lambda: flushes.append(1))
    blp.options.flush_output = True
    problem.solve(method='1s')
    assert len(flushes) == 5  # once per status update
    lines.clear()
    blp.options.verbose = False
    problem.solve(method='1s')
    assert lines == []


def test_digits_decide_the_printed_numbers_when_printed(products) -> None:
    blp.options.verbose = False
    results = blp.Problem(IV, products).solve(method='1s')
    objective = results.objective
    blp.options.digits = 3
    assert f'{objective:+.2E}' in str(results) and f'{objective:+.4E}' not in str(results)
    blp.options.digits = 5  # the same results, printed again
    assert f'{objective:+.4E}' in str(results)
