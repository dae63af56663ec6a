r"""Marginal costs from markups, their transformation and bounds, and how omega moves with theta (PyBLP's semantics).

    c = p - eta,   c <- clip(c, lower, upper),   c~ = c (linear) or log c (log),   omega = c~ - X3 gamma.

`costs_bounds=(lower, upper)`: None (or NaN) is no bound. A clipped cost is constant in theta, so its rows of the
omega Jacobian are zero (PyBLP: "Rows in Jacobians associated with clipped marginal costs will be zero"). Under log
costs d omega/d theta = -(1 / c) d eta/d theta, with c the (clipped) cost; a nonpositive c has no logarithm (NaN or
-inf here: the caller names the products, PyBLP reports a NonpositiveCostsError). With gamma concentrated out the
gradient treats gamma as fixed, as it does beta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError

COSTS_TYPES = ('linear', 'log')


def check_costs_type(costs_type: str) -> None:
    if costs_type not in COSTS_TYPES:
        raise SpecificationError(f"costs_type must be 'linear' or 'log', not {costs_type!r}", parameter='costs_type')


def bounds(costs_bounds: Optional[tuple[Any, Any]]) -> tuple[float, float]:
    """(lower, upper) as floats, None and NaN meaning -inf and +inf."""
    if costs_bounds is None:
        return -np.inf, np.inf
    lower, upper = costs_bounds
    lower = -np.inf if lower is None or np.isnan(lower) else float(lower)
    upper = np.inf if upper is None or np.isnan(upper) else float(upper)
    if lower >= upper:
        raise SpecificationError(f'costs_bounds must have lower < upper, not {costs_bounds!r}',
                                 parameter='costs_bounds')
    return lower, upper


@dataclass(frozen=True)
class Costs:
    """Marginal costs in the padded (T x J) layout, zero where padded."""

    costs: np.ndarray        # c, clipped to the bounds
    transformed: np.ndarray  # c~: c, or log c (NaN / -inf where c <= 0)
    clipped: np.ndarray      # booleans: c was outside the bounds
    nonpositive: np.ndarray  # booleans: log costs with c <= 0 (always False for linear costs)
    mask: np.ndarray         # booleans: real (not padded) products

    @property
    def clipped_count(self) -> int:
        return int(self.clipped.sum())


def marginal_costs(prices: np.ndarray, eta: np.ndarray, mask: np.ndarray, costs_type: str = 'linear',
                   costs_bounds: Optional[tuple[Any, Any]] = None) -> Costs:
    """c = p - eta clipped to `costs_bounds`, and c~ for `costs_type` ('linear' or 'log'); all T x J."""
    check_costs_type(costs_type)
    lower, upper = bounds(costs_bounds)
    costs = np.where(mask, prices - eta, 0.0)
    clipped = mask & ((costs < lower) | (costs > upper))
    costs = np.where(clipped, np.clip(costs, lower, upper), costs)
    if costs_type == 'linear':
        return Costs(costs, costs, clipped, np.zeros_like(mask), mask)
    nonpositive = mask & (costs <= 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        transformed = np.where(mask, np.log(np.where(mask, costs, 1.0)), 0.0)
    return Costs(costs, transformed, clipped, nonpositive, mask)


def check_log_costs(costs: Costs, markets: np.ndarray, product_ids: Optional[np.ndarray] = None) -> None:
    """Refuse log costs at nonpositive implied costs, naming the first market and product (markets: T ids; product
    ids padded T x J, or positions are named)."""
    if not costs.nonpositive.any():
        return
    t, j = np.argwhere(costs.nonpositive)[0]
    product = f'product {str(product_ids[t, j])!r}' if product_ids is not None else f'product {j}'
    raise SpecificationError(
        f"log costs need positive marginal costs, but {costs.nonpositive.sum()} implied costs p - eta are not "
        f"positive (first: {product} in market {str(markets[t])!r}, c = {costs.costs[t, j]:.6g}); set "
        f"costs_bounds=(lower, None) with a small positive lower bound, or use costs_type='linear'",
        parameter='costs_type')


def omega_by_theta(eta_jacobian: np.ndarray, costs: Costs, costs_type: str = 'linear') -> np.ndarray:
    """d omega / d theta (T x J x P) from the total d eta / d theta: -d eta/d theta, divided by c under log costs,
    zero in rows whose cost was clipped and in padded rows."""
    jacobian = -eta_jacobian
    if costs_type == 'log':
        with np.errstate(divide='ignore', invalid='ignore'):
            jacobian = jacobian / np.where(costs.mask, costs.costs, 1.0)[:, :, None]
    return np.where((costs.clipped | ~costs.mask)[:, :, None], 0.0, jacobian)
