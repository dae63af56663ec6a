"""PyBLP 1.3's micro moment options against PyBLP on identical data and agent draws (`micro_option_workloads.py`):
second choices with a group of products eliminated, given micro covariances and resampled agents. Estimates 1e-4,
standard errors 1e-3, objective 1e-6, fitted micro moments, their covariances and the simulation covariances 1e-6
(entries nine orders of magnitude below a matrix's largest are compared at 1e-9 of that largest: they carry the
optimizer's stopping point and the BLAS summation order, 1.3e-6 relative on a 4.7e-6 entry of a matrix whose largest
is 1.7e-2 with two BLAS threads).

The default run compares against `fixtures/micro_*.json` written by `generate_micro_option_fixtures.py`; the `live`
tests run PyBLP now and compare against that as well.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from generate_micro_option_fixtures import generate
from micro_option_workloads import MICRO_OPTION_WORKLOADS
from test_against_pyblp import OBJECTIVE_ATOL, assert_close
from test_micro_against_pyblp import stored
from workloads import run_blp, summarize, timed

MATRIX_RTOL, MATRIX_SCALE_ATOL, ZERO_OBJECTIVE = 1e-6, 1e-9, 1e-8


@functools.cache
def ours(name: str) -> tuple:
    """Our results of a workload and their summary, computed once per test session."""
    results, seconds = timed(run_blp, MICRO_OPTION_WORKLOADS[name]())
    return results, summarize(results, seconds)


def assert_options_close(name: str, reference: dict) -> None:
    results, summary = ours(name)
    if reference['objective'] < ZERO_OBJECTIVE:  # an exact fit: zero up to where each optimizer stopped
        np.testing.assert_allclose(summary['objective'], reference['objective'], rtol=0, atol=OBJECTIVE_ATOL,
                                   err_msg=f'{name}: objective')
        summary = {**summary, 'objective': reference['objective']}
    assert_close(name, summary, reference)
    for key in ('micro_values', 'micro_covariances', 'simulation_covariances'):
        expected = np.asarray(reference[key], dtype=float)
        np.testing.assert_allclose(np.asarray(getattr(results, key)).reshape(expected.shape), expected, rtol=MATRIX_RTOL,
                                   atol=MATRIX_SCALE_ATOL * np.abs(expected).max(initial=0), err_msg=f'{name}: {key}')


@pytest.mark.parametrize('name', sorted(MICRO_OPTION_WORKLOADS))
def test_micro_options_match_stored_pyblp_numbers(name: str) -> None:
    assert_options_close(name, stored(name))


def test_the_options_change_the_estimates() -> None:
    """Each option matters here: without it the same workload gives other numbers (so the tests above can fail)."""
    from micro_workloads import exercise3_micro_moments
    for name, removed in (('micro_sample_covariances', 'micro_sample_covariances'),
                          ('micro_resampled_agents', 'resample_agent_data')):
        workload = MICRO_OPTION_WORKLOADS[name]()
        del workload['solve'][removed]
        assert not np.isclose(summarize(run_blp(workload), 0)['objective'], stored(name)['objective'], rtol=1e-5)
    for name in ('micro_eliminated', 'micro_eliminated_rcnl'):  # without the groups: only j leaves
        workload = MICRO_OPTION_WORKLOADS[name]()
        workload['micro'] = lambda module: exercise3_micro_moments(module, 'all')
        sigma = np.diag(run_blp(workload).sigma)
        assert not np.allclose(sigma, np.diag(stored(name)['sigma']), rtol=1e-2)


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(MICRO_OPTION_WORKLOADS))
def test_micro_options_match_pyblp_run_now(name: str) -> None:
    """PyBLP run now gives the stored fixture's numbers, and ours match them."""
    live, fixture = generate(name), stored(name)
    assert_close(f'{name} (stored fixture vs live PyBLP)', fixture, live)
    assert_options_close(name, live)
