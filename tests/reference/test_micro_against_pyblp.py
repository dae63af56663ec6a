"""Exercise 3 (micro moments) against PyBLP on identical data and agent draws: estimates 1e-4, standard errors 1e-3,
objective 1e-6 (1e-10 absolute where it is about zero), fitted micro moments 1e-6, and the price cut (F1B04's price
halved in C01Q2) within 1e-6 at PyBLP's estimates.

The default run compares against `fixtures/exercise3_*.json` written by `generate_micro_fixtures.py`; the `live`
test runs PyBLP now and compares against that as well.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_micro_fixtures import generate, price_cut
from micro_workloads import MICRO_WORKLOADS
from test_against_pyblp import FIXTURES, assert_close
from workloads import _micro_arguments, run_blp, summarize, timed

import blp

MICRO_RTOL, COUNTERFACTUAL_RTOL = 1e-6, 1e-6
_ours: dict[str, tuple] = {}


def ours(name: str) -> tuple:
    """Our results of a workload and their summary, computed once per test session."""
    if name not in _ours:
        results, seconds = timed(run_blp, MICRO_WORKLOADS[name]())
        _ours[name] = results, summarize(results, seconds)
    return _ours[name]


def stored(name: str) -> dict:
    path = FIXTURES / f'{name}.json'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_micro_fixtures.py'
    return json.loads(path.read_text())


def assert_micro_close(name: str, reference: dict) -> None:
    """Our estimates, standard errors, objective and fitted micro values against `reference`."""
    results, summary = ours(name)
    assert_close(name, summary, reference)
    np.testing.assert_allclose(np.ravel(results.micro_values), reference['micro_values'], rtol=MICRO_RTOL,
                               err_msg=f'{name}: micro values')


def at_pyblp_estimates(name: str, reference: dict) -> object:
    """blp's results of the workload at PyBLP's theta and under its last W (when stored: over-identified, beta
    depends on W), without optimizing."""
    workload = MICRO_WORKLOADS[name]()
    formulations = [blp.Formulation(formula, absorb) for formula, absorb in workload['formulations']]
    problem = blp.Problem(formulations, workload['products'], blp.Formulation(workload['agent_formulation']),
                          workload['agents'])
    return problem.solve(sigma=reference['sigma'], pi=reference['pi'], rho=reference['rho'] or None, method='1s',
                         optimization=blp.Optimization('return'), iteration=blp.Iteration('squarem', {'atol': 1e-14}),
                         W=np.array(reference['W']) if 'W' in reference else None, **_micro_arguments(workload, blp))


@pytest.mark.parametrize('name', sorted(MICRO_WORKLOADS))
def test_micro_estimates_match_stored_pyblp_numbers(name: str) -> None:
    assert_micro_close(name, stored(name))


@pytest.mark.parametrize('name', sorted(MICRO_WORKLOADS))
def test_price_cut_matches_pyblp_at_its_estimates(name: str) -> None:
    reference = stored(name)
    results = at_pyblp_estimates(name, reference)
    np.testing.assert_allclose(results.beta[:, 0], np.ravel(reference['beta']), rtol=1e-6, err_msg=f'{name}: beta')
    shares = price_cut(results, MICRO_WORKLOADS[name]()['products'])
    for key in ('price_cut_before', 'price_cut_after'):
        np.testing.assert_allclose(shares[key], reference[key], rtol=COUNTERFACTUAL_RTOL, err_msg=f'{name}: {key}')


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(MICRO_WORKLOADS))
def test_micro_estimates_match_pyblp_run_now(name: str) -> None:
    live = generate(name)
    assert_micro_close(name, live)
    assert_close(f'{name} (stored fixture vs live PyBLP)', stored(name), live)
