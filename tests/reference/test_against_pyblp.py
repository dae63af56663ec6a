"""blp against PyBLP on identical data and agents: estimates 1e-4, standard errors 1e-3, objective 1e-6 relative
(absolute 1e-10 where the objective is about zero, as in just-identified problems).

The default run compares against `fixtures/*.json` written by `generate_fixtures.py`; tests marked `live` run
PyBLP now and compare against that instead, which also proves the stored fixtures are current.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from workloads import ROOT, WORKLOADS, run_blp, run_pyblp, summarize, timed

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
ESTIMATE_RTOL, SE_RTOL, OBJECTIVE_RTOL, OBJECTIVE_ATOL = 1e-4, 1e-3, 1e-6, 1e-10
_ours: dict[str, dict] = {}


def ours(name: str) -> dict:
    """Our estimate of a workload, computed once per test session."""
    if name not in _ours:
        results, seconds = timed(run_blp, WORKLOADS[name]())
        _ours[name] = summarize(results, seconds)
    return _ours[name]


def assert_close(name: str, ours_: dict, reference: dict) -> None:
    if reference['objective'] < OBJECTIVE_ATOL:
        assert ours_['objective'] < OBJECTIVE_ATOL, f"{name}: objective {ours_['objective']} is not ~0"
    else:
        np.testing.assert_allclose(ours_['objective'], reference['objective'], rtol=OBJECTIVE_RTOL,
                                   err_msg=f'{name}: objective')
    for key, rtol in (('beta', ESTIMATE_RTOL), ('sigma', ESTIMATE_RTOL), ('pi', ESTIMATE_RTOL), ('rho', ESTIMATE_RTOL),
                      ('beta_se', SE_RTOL), ('sigma_se', SE_RTOL), ('pi_se', SE_RTOL), ('rho_se', SE_RTOL)):
        expected = np.array(reference[key] if reference[key] is not None else [], dtype=float)
        actual = np.array(ours_[key] if ours_[key] is not None else [], dtype=float)
        if key.endswith('_se'):  # PyBLP leaves fixed elements' SEs as NaN too; compare where it has numbers
            expected_shape = expected.shape
            assert actual.shape == expected_shape, f'{name}: {key} shape {actual.shape} != {expected_shape}'
            compared = np.isfinite(expected)
            assert np.isnan(actual[~compared]).all(), f'{name}: {key} should be NaN where PyBLP has no SE'
            expected, actual = expected[compared], actual[compared]
        else:
            expected, actual = expected.reshape(-1), actual.reshape(-1)
            nonzero = expected != 0
            assert (actual[~nonzero] == 0).all(), f'{name}: {key} has nonzero values where PyBLP fixes zeros'
            expected, actual = expected[nonzero], actual[nonzero]
        np.testing.assert_allclose(actual, expected, rtol=rtol, err_msg=f'{name}: {key}')


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_estimates_match_stored_pyblp_numbers(name: str) -> None:
    path = FIXTURES / f'{name}.json'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_fixtures.py'
    assert_close(name, ours(name), json.loads(path.read_text()))


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_estimates_match_pyblp_run_now(name: str) -> None:
    results, seconds = timed(run_pyblp, WORKLOADS[name]())
    live = summarize(results, seconds)
    assert_close(name, ours(name), live)
    stored = json.loads((FIXTURES / f'{name}.json').read_text())
    assert_close(f'{name} (stored fixture vs live PyBLP)', stored, live)
