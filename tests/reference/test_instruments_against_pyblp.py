"""Instrument builders against PyBLP's matrices at 1e-12 (stored by `generate_instrument_fixtures.py`; the `live`
test re-runs PyBLP now), on markets of unequal size whose rows are not grouped by market."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from generate_instrument_fixtures import CASES, FIXTURE, product_data, pyblp_instruments

import blp
from blp.primitives import instruments

RTOL = ATOL = 1e-12
STORED = json.loads(FIXTURE.read_text())


def ours(frame: pd.DataFrame, builder: str, formula: str, version: str | None, interact: bool) -> np.ndarray:
    if builder == 'blp':
        return blp.build_blp_instruments(blp.Formulation(formula), frame)
    return blp.build_differentiation_instruments(blp.Formulation(formula), frame, version=version, interact=interact)


@pytest.mark.parametrize('name', [case[0] for case in CASES])
def test_builders_match_stored_pyblp_matrices(name: str) -> None:
    case = STORED['cases'][name]
    frame = pd.DataFrame(STORED['product_data'])
    actual = ours(frame, case['builder'], case['formula'], case['version'], case['interact'])
    expected = np.array(case['matrix'])
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize('name', [case[0] for case in CASES if case[1] == 'differentiation'])
def test_differentiation_instruments_do_not_depend_on_the_tile_size(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of 64 pairs split every market into row blocks and pad markets of different sizes together."""
    case = STORED['cases'][name]
    frame = pd.DataFrame(STORED['product_data'])
    monkeypatch.setattr(instruments, 'TILE_ELEMENTS', 64)
    actual = ours(frame, case['builder'], case['formula'], case['version'], case['interact'])
    np.testing.assert_allclose(actual, np.array(case['matrix']), rtol=RTOL, atol=ATOL)


@pytest.mark.live
@pytest.mark.parametrize('case', CASES, ids=[case[0] for case in CASES])
def test_builders_match_pyblp_run_now(case: tuple) -> None:
    name, builder, formula, version, interact = case
    frame = product_data()
    expected = pyblp_instruments(frame, builder, formula, version, interact)
    np.testing.assert_allclose(ours(frame, builder, formula, version, interact), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.array(STORED['cases'][name]['matrix']), expected, rtol=RTOL, atol=ATOL)
