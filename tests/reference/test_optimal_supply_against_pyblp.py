"""Optimal instruments with a supply side against PyBLP (`generate_optimal_supply_fixtures.py`): on the simulated
supply workload, approximate, normal and empirical instruments (PyBLP's draws for a seed) give Z_D, Z_S, the 2 x 2
inverse covariance of (xi, omega), the expected prices and shares at 1e-6 (each library at its own estimates, which
agree to about 1e-8); and the re-estimate with them (`to_problem()`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_fixtures import FIXTURES
from generate_optimal_supply_fixtures import NAME, generate, re_estimate
from supply_workloads import SUPPLY_WORKLOADS, run_blp
from test_against_pyblp import assert_close
from workloads import summarize

import blp

RTOL = 1e-6


def assert_instruments_close(reference: dict) -> None:
    ours = generate('blp')
    np.testing.assert_allclose(ours['theta'], reference['theta'], rtol=1e-6, err_msg='theta')
    for key, expected in reference['instruments'].items():
        actual = ours['instruments'][key]
        np.testing.assert_allclose(actual['inverse_covariance_matrix'], expected['inverse_covariance_matrix'],
                                   rtol=RTOL, err_msg=f'{key}: inverse covariance')
        for name in ('demand_instruments', 'supply_instruments', 'expected_prices', 'expected_shares'):
            for part in ('norms', 'rows'):
                np.testing.assert_allclose(actual[name][part], expected[name][part], rtol=RTOL, atol=1e-12,
                                           err_msg=f'{key}: {name} {part}')


def test_supply_optimal_instruments_match_stored_pyblp_numbers() -> None:
    assert_instruments_close(json.loads((FIXTURES / f'{NAME}.json').read_text()))


def test_supply_re_estimate_matches_stored_pyblp_numbers() -> None:
    """`to_problem()` (Z_D with the supply shifter z, Z_S) solved from the first estimates: PyBLP's instrument counts,
    estimates 1e-4, SEs 1e-3, objective 1e-6, gamma 1e-4."""
    reference = json.loads((FIXTURES / f'{NAME}.json').read_text())['re_estimate']
    results = run_blp(SUPPLY_WORKLOADS['supply_simulation']())
    updated = re_estimate(results, results.compute_optimal_instruments(), blp)
    assert (updated.problem.MD, updated.problem.MS) == (reference['MD'], reference['MS'])
    assert_close('optimal_supply re-estimate', summarize(updated, 0), reference)
    np.testing.assert_allclose(updated.gamma, reference['gamma'], rtol=1e-4, err_msg='gamma')


@pytest.mark.live
def test_supply_optimal_instruments_match_pyblp_run_now() -> None:
    live = generate()
    assert_instruments_close(live)
    assert_close('optimal_supply re-estimate (stored fixture vs live PyBLP)',
                 json.loads((FIXTURES / f'{NAME}.json').read_text())['re_estimate'], live['re_estimate'])
