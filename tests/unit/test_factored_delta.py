"""Delta factored once per market (`bertrand.factor_delta`) solves as numpy's batched solve does, falls back to the
pseudo-inverse when a market's Delta is singular, and is left as it is where factoring does not pay."""

from __future__ import annotations

import numpy as np

from blp.supply.bertrand import FACTOR_FROM, FactoredDelta, factor_delta, solve_delta_system


def deltas(T: int, J: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, J, J)) + J * np.eye(J)


def test_factored_solves_match_numpy() -> None:
    Delta = deltas(3, FACTOR_FROM + 4)
    right = np.random.default_rng(1).normal(size=(3, FACTOR_FROM + 4, 5))
    factored = factor_delta(Delta)
    assert isinstance(factored, FactoredDelta) and factored.factors is not None
    np.testing.assert_allclose(solve_delta_system(factored, right), np.linalg.solve(Delta, right), rtol=1e-12,
                               atol=1e-14)


def test_singular_market_falls_back_to_the_pseudo_inverse() -> None:
    Delta = deltas(2, FACTOR_FROM)
    Delta[1, :, 0] = 0.0  # a product whose price moves nothing
    right = np.ones((2, FACTOR_FROM, 1))
    factored = factor_delta(Delta)
    assert isinstance(factored, FactoredDelta) and factored.factors is None
    np.testing.assert_allclose(solve_delta_system(factored, right), np.linalg.pinv(Delta) @ right, rtol=1e-12)


def test_small_or_non_finite_markets_are_not_factored() -> None:
    small = deltas(4, FACTOR_FROM - 1)
    assert factor_delta(small) is small
    broken = deltas(1, FACTOR_FROM)
    broken[0, 0, 0] = np.nan
    assert factor_delta(broken) is broken
