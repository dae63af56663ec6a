"""Optimal instruments with a linear parameter in theta against PyBLP (`generate_optimal_beta_fixtures.py`): the
IV logit with beta on prices optimized over. The instrument for beta (-E[prices | Z] / Var(xi)) at 1e-8, no expected
price column in `to_problem()` (PyBLP's instrument count), and the re-estimate's beta 1e-4, SE 1e-3."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_beta_fixtures import NAME, generate, re_estimate
from generate_optimal_fixtures import FIXTURES, ROWS
from test_against_pyblp import assert_close
from workloads import summarize

import blp

INSTRUMENT_RTOL = 1e-8


def assert_matches(reference: dict) -> None:
    instruments, updated = re_estimate(blp)
    Z = instruments.demand_instruments
    np.testing.assert_allclose(np.linalg.norm(Z, axis=0), reference['norms'], rtol=INSTRUMENT_RTOL)
    np.testing.assert_allclose(Z[:ROWS], reference['rows'], rtol=INSTRUMENT_RTOL)
    assert updated.problem.MD == reference['MD']
    assert_close(NAME, summarize(updated, 0), reference)


def test_optimal_instruments_with_beta_in_theta_match_stored_pyblp_numbers() -> None:
    assert_matches(json.loads((FIXTURES / f'{NAME}.json').read_text()))


@pytest.mark.live
def test_optimal_instruments_with_beta_in_theta_match_pyblp_run_now() -> None:
    live = generate()
    assert_close(f'{NAME} (stored fixture vs live PyBLP)', json.loads((FIXTURES / f'{NAME}.json').read_text()), live)
    assert_matches(live)
