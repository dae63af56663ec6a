"""Absorbed fixed effects give the same coefficients as dummy variables (Frisch-Waugh-Lovell)."""

import numpy as np

from blp.primitives.absorb import Absorber


def test_two_way_absorption_matches_dummy_regression_on_an_unbalanced_panel():
    rng = np.random.default_rng(0)
    firms, markets = rng.integers(0, 15, 400), rng.integers(0, 30, 400)
    x = rng.normal(size=400) + firms * 0.3 - markets * 0.1
    y = 2.5 * x + firms * 1.0 + markets * 0.5 + rng.normal(size=400)
    absorber = Absorber([firms, markets])
    residualized = absorber(np.column_stack([y, x]))
    slope = residualized[:, 1] @ residualized[:, 0] / (residualized[:, 1] @ residualized[:, 1])
    dummies = np.column_stack([x, np.eye(15)[firms], np.eye(30)[markets][:, 1:]])
    expected = np.linalg.lstsq(dummies, y, rcond=None)[0][0]
    np.testing.assert_allclose(slope, expected, rtol=1e-10)


def test_one_way_absorption_demeans_within_groups():
    groups = np.array([0, 0, 1, 1, 1])
    values = np.array([1.0, 3.0, 2.0, 4.0, 9.0])
    np.testing.assert_allclose(Absorber([groups])(values), [-1, 1, -3, -1, 4])


def test_no_fixed_effects_leaves_columns_alone():
    values = np.arange(6.0).reshape(3, 2)
    assert Absorber([])(values) is values
