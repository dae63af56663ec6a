"""`blp.Simulation(..., phi=)` against PyBLP's `Simulation` on the same ids, lag_indices and seed: the drawn AR(1)
xi and omega (1e-10), then an estimate of phi on the simulated panel after `replace_endogenous` (the project's
tolerances). PyBLP's side takes seconds, so it runs each time."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

T, J = 15, 6


def panel_ids() -> pd.DataFrame:
    """T periods of the same J products (one firm each), each row's lag the same product a period earlier."""
    rows = pd.DataFrame({'market_ids': np.repeat(np.arange(T), J), 'firm_ids': np.tile(np.arange(J), T)})
    rows['lag_indices'] = np.where(rows['market_ids'] > 0, np.arange(T * J) - J, np.arange(T * J))
    return rows


def simulate(library: Any, phi: Any, **extra: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return library.Simulation(
            product_formulations=(library.Formulation('1 + prices + x'), None, library.Formulation('1 + w')),
            product_data=panel_ids(), beta=[1, -2, 2], gamma=[1, 2], phi=phi, xi_variance=0.3, omega_variance=0.2,
            correlation=0.5, seed=3, **extra)


def test_autocorrelated_draws_equal_pyblps() -> None:
    phi = [[0.6, 0.1], [0.05, 0.4]]
    theirs, ours = simulate(pyblp, phi), simulate(blp, phi)
    np.testing.assert_allclose(ours.xi, theirs.xi, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.omega, theirs.omega, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ours.phi, theirs.phi)
    plain = simulate(blp, [[0, 0], [0, 0]])
    assert not np.allclose(plain.xi, ours.xi)


def test_an_unstable_phi_is_refused() -> None:
    with pytest.raises(blp.exceptions.SpecificationError, match='unit circle') as error:
        simulate(blp, [[1.2, 0], [0, 0.5]])
    assert error.value.parameter == 'phi'


def test_phi_estimated_on_the_simulated_panel_matches_pyblp() -> None:
    estimates = []
    for library in (pyblp, blp):
        simulation = simulate(library, [[0.6, 0.1], [0.05, 0.4]])
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            results = simulation.replace_endogenous()
        problem = results.to_problem()
        estimates.append(problem.solve(phi=[[0.3, 0], [0, 0.3]], beta=[None, -1.5, None], method='1s',
                                       demand_moment_types='innovations', supply_moment_types='innovations',
                                       optimization=library.Optimization('l-bfgs-b', {'gtol': 1e-10})))
    theirs, ours = estimates
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
    np.testing.assert_allclose(ours.phi, theirs.phi, rtol=1e-4)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-4)
    np.testing.assert_allclose(ours.phi_se, theirs.phi_se, rtol=1e-3)
