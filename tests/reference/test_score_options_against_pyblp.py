"""Micro and agent scores with lognormal coefficients, nests (rho, one and per nest), beta in theta and second choices
(also with eliminated product ids: whole nests with nests) against PyBLP (`generate_score_fixtures.py`): the same data and
micro data, both evaluated at the true theta, 1e-10 absolute (1e-7 for agent scores of second choices with nests and
without eliminated groups, `NESTED_SECOND_ATOL`).

Every element of theta has a score (PyBLP's order, `theta_labels`); beta's are zero, as PyBLP's. The `live` test
runs PyBLP now on the stored data and compares against that as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from generate_score_fixtures import CASES, FIXTURES, generate, problem_at, score_outputs, table

import blp

ATOL = 1e-10
# Agent scores of every second choice with nests, unlikely pairs included: pi_ijk = s_ik(-j) - s_ik is a difference of
# nearly equal shares, rounded differently here and in PyBLP (largest difference seen 4.5e-8, median relative 1e-8)
NESTED_SECOND_ATOL = 1e-7
_cache: dict[str, dict[str, np.ndarray]] = {}


def stored(name: str) -> dict[str, np.ndarray]:
    path = FIXTURES / f'scores_{name}.npz'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_score_fixtures.py'
    with np.load(path) as arrays:
        return dict(arrays)


def ours(name: str, arrays: dict[str, np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
    results = problem_at(blp, CASES[name], table(arrays, 'products'), table(arrays, 'agents'))
    return results, score_outputs(results, blp, arrays)


def compare(name: str, arrays: dict[str, np.ndarray]) -> None:
    results, outputs = ours(name, arrays)
    labels = [str(label) for label in arrays['theta_labels']]  # PyBLP labels one rho by its first nest's id
    assert [label for label in results.theta_labels if label != 'All Groups'] == \
        [label for label, ours in zip(labels, results.theta_labels) if ours != 'All Groups']
    reference = {key.removeprefix('pyblp:'): value for key, value in arrays.items() if key.startswith('pyblp:')}
    assert sorted(outputs) == sorted(reference)
    for key, value in reference.items():
        assert np.isfinite(value).any(), f'{name}: {key} has no finite score'
        nested_pairs = key.startswith('agent_second') and CASES[name]['rho'] is not None
        atol = NESTED_SECOND_ATOL if nested_pairs else ATOL
        np.testing.assert_allclose(outputs[key], value, rtol=0, atol=atol, err_msg=f'{name}: {key}')


@pytest.mark.parametrize('name', sorted(CASES))
def test_scores_match_stored_pyblp_numbers(name: str) -> None:
    compare(name, stored(name))


def test_beta_in_theta_has_zero_scores_and_rho_does_not() -> None:
    arrays = stored('rcnl')
    labels = list(arrays['theta_labels'])
    scores = ours('rcnl', arrays)[1]['micro_own_nodes']
    assert np.all(scores[labels.index('prices')] == 0)
    assert np.abs(scores[labels.index(next(label for label in labels if label.startswith('rho') or
                                           label == '0'))]).max() > 1e-3


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(CASES))
def test_scores_match_pyblp_run_now(name: str) -> None:
    compare(name, generate(name))
