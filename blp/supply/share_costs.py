"""Marginal costs that move with shares (`shares` in X3, PyBLP's `constant_costs=False`).

Costs c were recovered at the observed shares s; at other shares s' they are, as PyBLP updates them,

    c(s') = c + (X3(s') - X3(s)) gamma          (linear costs)
    c(s') = c exp((X3(s') - X3(s)) gamma)       (log costs)

with X3 evaluated before absorbing fixed effects (a fixed effect does not move with shares). The equilibrium price
contraction calls this at every step (thousands of times when costs rise steeply with shares), so X3 at the observed
shares is built once, and when every column is linear in shares (`shares`, `I(2 * shares)`) the shift is
(s' - s) sum_k a_k gamma_k with no formula evaluated; other columns (`log(shares)`) re-evaluate the formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation, column_slope
from blp.exceptions import SpecificationError
from blp.primitives.products import Layout


def reads_shares(formulation: Optional[Formulation]) -> bool:
    """Whether X3 (`formulation`, None without a supply side) reads shares: only then can costs move with them."""
    return formulation is not None and 'shares' in formulation.variables()


@dataclass(frozen=True)
class ShareCosts:
    """How costs move with shares in every market: `update(costs, shares, index)` on padded rows `index`."""

    formulation: Formulation
    frame: pd.DataFrame   # product data with the shares the costs were recovered at
    layout: Layout
    gamma: np.ndarray     # K3
    costs_type: str
    observed: np.ndarray  # N x K3  X3 at the frame's shares
    slope: Optional[float]  # sum_k a_k gamma_k when every column is linear in shares (a_k = d x3_k / d shares)
    shares: np.ndarray    # T x J  the frame's shares, padded

    @classmethod
    def build(cls, formulation: Optional[Formulation], frame: pd.DataFrame, layout: Layout, gamma: np.ndarray,
              costs_type: str) -> Optional['ShareCosts']:
        """None when X3 does not read shares: costs are then constant whatever `constant_costs` says (PyBLP)."""
        if formulation is None or not reads_shares(formulation):
            return None
        design = formulation.build(frame, 'X3 formulation')
        gamma = np.asarray(gamma, dtype=float).ravel()
        return cls(formulation, frame, layout, gamma, costs_type, design.matrix, _linear_slope(design.labels, gamma),
                   layout.pad(frame['shares'].to_numpy(dtype=float)))

    def shift(self, shares: np.ndarray) -> np.ndarray:
        """(X3(s') - X3(s)) gamma, padded T x J, at padded shares s' for every market."""
        frame = self.frame.copy()
        frame['shares'] = self.layout.unpad(shares)
        change = self.formulation.build(frame, 'X3 formulation').matrix - self.observed
        return self.layout.pad(change @ self.gamma)

    def update(self, costs: np.ndarray, shares: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Costs of the markets `index` (rows of `costs` and `shares`) at those markets' new shares."""
        if self.slope is not None:
            shift = np.where(self.layout.mask[index], self.slope * (shares - self.shares[index]), 0.0)
        else:
            full = self.shares.copy()
            full[index] = shares
            shift = np.where(self.layout.mask, self.shift(full), 0.0)[index]
        return costs + shift if self.costs_type == 'linear' else costs * np.exp(shift)


def _linear_slope(labels: list[str], gamma: np.ndarray) -> Optional[float]:
    """sum_k gamma_k d x3_k / d shares when every column is linear in shares, else None."""
    total = 0.0
    for label, value in zip(labels, gamma):
        try:
            slope = column_slope(label, 'shares')
        except SpecificationError:  # shares enter non-linearly
            return None
        total += 0.0 if slope is None else slope * value
    return total
