"""Choice probabilities from full utilities V_ijt = delta_jt + mu_ijt: the logit and nested logit kernels that the
demand model applies per agent (a logit is one agent of weight one). Padded products carry V = -inf so nobody
chooses them. Nested logit scales utilities by 1 / (1 - rho) within nests, with PyBLP's conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Choices:
    """What agents choose at one set of utilities."""

    probabilities: np.ndarray           # T x J x I  s_ijt, zero for padded or removed products
    outside: np.ndarray                 # T x I      s_i0t
    conditionals: Optional[np.ndarray]  # T x J x I  s_ij|h within the nest (nested logit only)
    log_inclusive: np.ndarray           # T x I      log(1 + sum exp V) (over nests' inclusive values when nested)
    weights: np.ndarray                 # T x I

    @property
    def shares(self) -> np.ndarray:
        return (self.probabilities @ self.weights[:, :, None])[:, :, 0]


@dataclass(frozen=True)
class Nests:
    """Nest membership in the padded layout, with rho per nest."""

    codes: np.ndarray   # T x J nest of each product (0 where padded)
    member: np.ndarray  # T x H x J
    rho: np.ndarray     # H

    @property
    def rho_products(self) -> np.ndarray:
        """rho of each product's nest (T x J)."""
        return self.rho[self.codes] * self.member.any(axis=1)

    @property
    def same_nest(self) -> np.ndarray:
        """T x J x J: whether products j and k share a nest."""
        member = self.member.astype(float)
        return member.transpose(0, 2, 1) @ member

    def restrict(self, index: np.ndarray) -> 'Nests':
        return Nests(self.codes[index], self.member[index], self.rho)


def logit(utilities: np.ndarray, weights: np.ndarray, overwrite: bool = False) -> Choices:
    """s_ij = exp V_ij / (1 + sum_k exp V_ik), scaled by each agent's largest utility (at least zero)."""
    reduction = np.maximum(utilities.max(axis=1), 0.0)
    probabilities = np.subtract(utilities, reduction[:, None, :], out=utilities if overwrite else None)
    np.exp(probabilities, out=probabilities)
    outside = np.exp(-reduction)
    denominator = outside + probabilities.sum(axis=1)
    probabilities /= denominator[:, None, :]
    return Choices(probabilities, outside / denominator, None, reduction + np.log(denominator), weights)


def nested_logit(utilities: np.ndarray, weights: np.ndarray, nests: Nests) -> Choices:
    """s_ij = s_ij|h s_ih with s_ij|h = exp(V_ij / (1 - rho_h)) / D_ih and s_ih = D_ih^(1 - rho_h) / (1 + sum_g
    D_ig^(1 - rho_g)), computed in logs so that neither sum overflows."""
    rho = nests.rho_products
    scaled = utilities / (1 - rho)[:, :, None]
    member = nests.member
    by_nest = np.where(member[:, :, :, None], scaled[:, None, :, :], -np.inf)  # T x H x J x I
    peak = by_nest.max(axis=2)                                                 # T x H x I
    peak = np.where(np.isfinite(peak), peak, 0.0)
    codes = np.broadcast_to(nests.codes[:, :, None], scaled.shape)
    exponentiated = np.exp(scaled - np.take_along_axis(peak, codes, axis=1))
    totals = member.astype(float) @ exponentiated                              # T x H x I
    with np.errstate(divide='ignore', invalid='ignore'):
        conditionals = np.nan_to_num(exponentiated / np.take_along_axis(totals, codes, axis=1))
        inclusive = (1 - nests.rho)[None, :, None] * (peak + np.log(totals))   # -inf for empty nests
    reduction = np.maximum(inclusive.max(axis=1), 0.0)
    exponentiated_inclusive = np.exp(inclusive - reduction[:, None, :])
    outside = np.exp(-reduction)
    denominator = outside + exponentiated_inclusive.sum(axis=1)
    marginals = exponentiated_inclusive / denominator[:, None, :]
    probabilities = conditionals * np.take_along_axis(marginals, codes, axis=1)
    return Choices(probabilities, outside / denominator, conditionals, reduction + np.log(denominator), weights)
