"""Persistent unobservables (`phi` with `lag_indices`, innovations moments) against PyBLP 1.3.0 on the seeded panel
of `persistence_workloads.py`, demand alone and with a supply side (phi 2 x 2 with its cross terms): stored numbers
(`generate_persistence_fixtures.py`) in every run, a live re-run of PyBLP under `-m live`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from persistence_workloads import FIXTURES, WORKLOADS, build, panel, run_pyblp, summary
from supply_workloads import frame_digest

import blp


def ours(name: str) -> dict:
    problem, solve = build(blp, name)
    return summary(problem.solve(**solve), 0.0)


def compare(name: str, reference: dict) -> None:
    mine = ours(name)
    assert mine['theta_labels'] == reference['theta_labels']
    assert mine['printed'] == reference['printed'] and len(mine['printed']) == (3 if 'supply' in name else 2)
    np.testing.assert_allclose(mine['objective'], reference['objective'], rtol=1e-6)
    for key in ('theta', 'beta', 'sigma', 'phi', 'gamma', 'xi', 'bootstrapped_phi'):
        np.testing.assert_allclose(mine[key], reference[key], rtol=1e-4, atol=1e-8, err_msg=key)
    for key in ('beta_se', 'sigma_se', 'phi_se', 'gamma_se'):
        np.testing.assert_allclose(mine[key], reference[key], rtol=1e-3, err_msg=key)


@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_persistent_unobservables_match_stored_pyblp(name: str) -> None:
    reference = json.loads((FIXTURES / f'{name}.json').read_text())
    assert frame_digest(panel()[0]) == reference['products_digest'], 'the panel is not the one PyBLP estimated on'
    compare(name, reference)


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(WORKLOADS))
def test_persistent_unobservables_match_pyblp_live(name: str) -> None:
    compare(name, run_pyblp(name))
