"""`solve(gamma=..., gamma_bounds=...)`: PyBLP's default, gamma all NaN (concentrated out), gives PyBLP's objective and
gamma on the tutorial's simulated supply problem (PyBLP run now, about a second); gamma with starting values is not
ported and is refused naming gamma."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from test_simulation_against_pyblp import ids, simulate, tutorial

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False
NAN_GAMMA = dict(gamma=[np.nan, np.nan], gamma_bounds=([-10, -10], [10, 10]))


def problem(library: Any) -> Any:
    pyblp_ids, frame = ids(6, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return simulate(library, pyblp_ids if library is pyblp else frame, **tutorial(library)).replace_endogenous() \
            .to_problem()


def solve(library: Any, **arguments: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return problem(library).solve(sigma=1, beta=[np.nan, -2, np.nan], method='1s',
                                      optimization=library.Optimization('return'), **arguments)


def test_all_nan_gamma_is_pyblps_default() -> None:
    theirs, ours, default = solve(pyblp, **NAN_GAMMA), solve(blp, **NAN_GAMMA), solve(blp)
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.gamma), theirs.gamma, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.gamma_se), theirs.gamma_se, rtol=1e-3)
    assert float(ours.objective) == float(default.objective)
    np.testing.assert_array_equal(np.asarray(ours.gamma), np.asarray(default.gamma))


@pytest.mark.parametrize(('arguments', 'message'), [
    (dict(gamma=[1.0, np.nan]), r"\(x\) is not supported"),  # gamma in theta: not ported (PyBLP optimizes it)
    (dict(gamma=[np.nan]), 'one per X3 column'),
    (dict(gamma=[np.nan, np.nan], gamma_bounds=([0], [1])), 'gamma_bounds'),
])
def test_gamma_beyond_the_default_is_refused_by_name(arguments: dict, message: str) -> None:
    with pytest.raises(blp.SpecificationError, match=message) as raised:
        solve(blp, **arguments)
    assert raised.value.parameter == ('gamma_bounds' if 'gamma_bounds' in arguments else 'gamma')


def test_gamma_without_a_supply_side_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        demand = problem(blp)
        demand_only = blp.Problem(demand.product_formulations[:2], demand.products.to_record(),
                                  integration=blp.Integration('product', 3))
    with pytest.raises(blp.SpecificationError) as raised:
        demand_only.solve(sigma=1, gamma=[np.nan], optimization=blp.Optimization('return'))
    assert raised.value.parameter == 'gamma'
