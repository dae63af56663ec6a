"""PyBLP's convergence decision (issue 24, item 3), where published code found `blp` deciding otherwise.

- A contraction that runs out of `max_evaluations` on finite values is used as it is under the default
  `error_behavior='revert'` (PyBLP reverts only values that are not finite; d delta / d theta then takes the observed
  shares, as PyBLP's), punished or raised under the others.
- `Problem.solve` without `optimization` runs L-BFGS-B with PyBLP's options `{'ftol': 0, 'gtol': 1e-8}`.

The Nevo estimates by BFGS (`convergence_workloads.py`) take PyBLP about 40 s each: stored fixtures
(`generate_convergence_fixtures.py`). The other checks run PyBLP now (seconds).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from convergence_workloads import CONVERGENCE_WORKLOADS, FLAGS_AT_ROUNDING_LEVEL, _nevo
from test_against_pyblp import assert_close
from workloads import ROOT, summarize

import blp
from blp.exceptions import NumericalError

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'


@pytest.mark.parametrize('name', sorted(CONVERGENCE_WORKLOADS))
def test_convergence_flags_and_estimates_are_pyblps(name: str) -> None:
    stored = json.loads((FIXTURES / f'{name}.json').read_text())
    results = CONVERGENCE_WORKLOADS[name](blp)
    used = [failure['markets'] for failure in results.inner_loop_failures if 'last iterate' in failure.get('reason', '')]
    assert used  # a market out of evaluations in the first step's line search, used as PyBLP uses it
    if name in FLAGS_AT_ROUNDING_LEVEL:  # PyBLP's own flag there turns on rounding (see convergence_workloads.py)
        assert results.converged_by_step[0]  # the step that used to differ, as PyBLP's (its objective's path)
    else:
        assert (results.converged, results.cumulative_converged) == (stored['converged'],
                                                                     stored['cumulative_converged'])
    assert_close(name, summarize(results, 0.0), stored)


def starved(module: Any, **options: Any) -> Any:
    """Nevo's problem at a sigma of ones, its contractions stopped after 10 evaluations (none converges)."""
    return _nevo(module).solve(sigma=np.ones((4, 4)), method='1s', optimization=module.Optimization('return'),
                               iteration=module.Iteration('squarem', {'atol': 1e-14, 'max_evaluations': 10}),
                               check_optimality='gradient', **options)


def test_a_contraction_out_of_evaluations_is_used_as_pyblp_uses_it() -> None:
    theirs = starved(pyblp)
    with pytest.warns(blp.BLPWarning, match='did not converge within max_evaluations'):
        ours = starved(blp)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(ours.gradient), np.ravel(theirs.gradient), rtol=1e-6)
    np.testing.assert_allclose(np.ravel(ours.beta), np.ravel(theirs.beta), rtol=1e-6)
    assert ours.inner_loop_failures and 'did not converge within 10 evaluations' in ours.inner_loop_failures[0]['reason']


def test_a_contraction_out_of_evaluations_raises_under_raise_as_pyblp() -> None:
    with pytest.raises(Exception, match='failed to converge'):
        starved(pyblp, error_behavior='raise')
    with pytest.raises(NumericalError, match='inner loop failed at the starting values'):
        starved(blp, error_behavior='raise')


class Called(Exception):
    """Stops a solve at its optimizer call, with what it was given."""

    def __init__(self, method: str, options: dict) -> None:
        super().__init__(method)
        self.method, self.options = method, options


def optimizer_call(module: Any, monkeypatch: pytest.MonkeyPatch) -> Called:
    def minimize(*_: Any, method: str, options: dict, **__: Any) -> None:
        raise Called(method, options)

    monkeypatch.setattr(scipy.optimize, 'minimize', minimize)
    with pytest.raises(Called) as called:
        _nevo(module).solve(sigma=np.eye(4), method='1s')
    return called.value


def test_the_default_optimization_is_pyblps(monkeypatch: pytest.MonkeyPatch) -> None:
    theirs, ours = optimizer_call(pyblp, monkeypatch), optimizer_call(blp, monkeypatch)
    assert theirs.method.lower() == ours.method.lower() == 'l-bfgs-b'
    assert ours.options == theirs.options == {'ftol': 0, 'gtol': 1e-8}


def test_the_data_is_pyblps() -> None:
    assert pd.read_csv(blp.data.NEVO_PRODUCTS_LOCATION).equals(pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION))
