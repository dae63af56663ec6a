"""Nested second choices keep their digits where pi_ijk = s_ik(-j) - s_ik is a small difference of shares: a first
choice in a nest of tiny share, and a first choice whose removal empties its nest. Checked against the same
definition evaluated at 50 digits (mpmath, installed with PyBLP) from the utilities."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from blp.micro.nested import NestedSecondChoices

NESTS = [0, 0, 1, 1, 2]
RHO = [0.3, 0.3, 0.6, 0.6, 0.5]
mpmath.mp.dps = 50


def shares(utilities: list[float], removed: set[int]) -> list:
    """Nested logit choice probabilities (outside good first) with the products in `removed` left out, at 50 digits."""
    inclusive: dict[int, mpmath.mpf] = {}
    for j, (nest, rho) in enumerate(zip(NESTS, RHO)):
        if j not in removed:
            inclusive[nest] = inclusive.get(nest, mpmath.mpf(0)) + mpmath.exp(mpmath.mpf(utilities[j]) / (1 - rho))
    weighted = {h: value ** (1 - RHO[NESTS.index(h)]) for h, value in inclusive.items()}
    denominator = 1 + sum(weighted.values())
    result = [1 / denominator]
    for j, (nest, rho) in enumerate(zip(NESTS, RHO)):
        result.append(mpmath.mpf(0) if j in removed else
                      mpmath.exp(mpmath.mpf(utilities[j]) / (1 - rho)) / inclusive[nest] * weighted[nest] / denominator)
    return result


@pytest.mark.parametrize('utilities', [[1.0, 0.5, -30.0, -31.0, 0.2], [0.3, -0.2, 0.1, -12.0, -40.0]])
def test_second_choices_match_fifty_digits(utilities: list[float]) -> None:
    J = len(NESTS)
    exact = shares(utilities, set())
    Q = np.array([[[float(value) for value in exact]]])                     # 1 x 1 x (1 + J)
    same = (np.array(NESTS)[:, None] == np.array(NESTS)[None, :]).astype(float)
    nest_shares = same @ Q[0, 0, 1:]
    conditionals = Q[0, 0, 1:] / nest_shares
    seconds = NestedSecondChoices(Q, conditionals[None, :, None], nest_shares[None, :, None], np.array([RHO]), same[None])
    for j in range(J + 1):
        removed = shares(utilities, {j - 1}) if j else [mpmath.mpf(0)] + [value / (1 - exact[0]) for value in exact[1:]]
        for k in range(J + 1):
            if k != j:
                expected = float(removed[k] - exact[k])
                np.testing.assert_allclose(seconds.pi[0, 0, j, k], expected, rtol=1e-12, err_msg=f'{j} -> {k}')
