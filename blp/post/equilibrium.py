"""Equilibrium prices by the zeta-markup contraction of Morrow and Skerlos (2011), in every market at once.

Iterating p <- c + eta(p) need not converge; p <- c + zeta(p) with zeta = Lambda^-1 (H * Gamma') (p - c) - Lambda^-1 s
does (Lambda and Gamma from `DemandAtEstimates.jacobian_parts`). A market stops once its first-order conditions hold,
max_j |Lambda_j| |p_j - c_j - zeta_j| < atol, which is PyBLP's rule, so the prices agree with PyBLP's. Products held
fixed keep their price; they still enter the first-order conditions of their firm's other products. PyBLP's
`Iteration('return')` keeps the starting prices (e.g. given prices in `Simulation.replace_endogenous`). With costs
that move with shares (`ShareCosts`, PyBLP's `constant_costs=False`) each step first moves c to the step's shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.exceptions import SpecificationError
from blp.post.at_estimates import DemandAtEstimates
from blp.supply.share_costs import ShareCosts

DEFAULT_ITERATION = Iteration('simple', {'atol': 1e-12})
SMALLEST_LAMBDA = 1e-300  # Lambda underflows for products nobody buys; PyBLP bounds it the same way


@dataclass(frozen=True)
class Equilibrium:
    """Prices and shares with convergence per market (padded T x J and T)."""

    prices: np.ndarray
    shares: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def zeta_step(model: DemandAtEstimates, prices: np.ndarray, costs: np.ndarray, ownership: np.ndarray, free: np.ndarray,
              slopes: np.ndarray, moving: Optional[tuple[ShareCosts, np.ndarray]] = None) -> tuple[np.ndarray, np.ndarray]:
    """One contraction step: c + zeta(p) where `free` (p where not), and the FOC residual per market; `moving`
    (costs that move with shares, the markets' indices) moves c to the shares at p first."""
    choices = model.choose(model.at_prices(prices, slopes), overwrite=True)
    if moving is not None:
        costs = moving[0].update(costs, choices.shares, moving[1])
    Lambda, Gamma = model.jacobian_parts(choices, slopes)
    margins = np.where(model.mask, prices - costs, 0.0)
    with np.errstate(divide='ignore'):
        inverse = 1 / Lambda
    inverse[~np.isfinite(inverse)] = 1 / SMALLEST_LAMBDA
    zeta = inverse * (((ownership * Gamma.transpose(0, 2, 1)) @ margins[:, :, None])[:, :, 0] - choices.shares)
    updated = np.where(free, costs + zeta, prices)
    residual = np.where(free, np.abs(Lambda) * np.abs(updated - prices), 0.0).max(axis=1)
    return updated, residual


def solve_prices(model: DemandAtEstimates, costs: np.ndarray, ownership: np.ndarray, start: np.ndarray,
                 fixed: np.ndarray, iteration: Optional[Iteration] = None,
                 share_costs: Optional[ShareCosts] = None, markets: Optional[np.ndarray] = None) -> Equilibrium:
    """Iterate p <- c + zeta(p) from `start` until every market's FOCs hold; markets drop out as they converge.
    `share_costs` moves costs with shares; `markets` says which of its markets `model`'s are (default: all)."""
    iteration = iteration or DEFAULT_ITERATION
    if iteration.method not in ('simple', 'return'):
        raise SpecificationError("equilibrium prices iterate the zeta-markup contraction with Iteration('simple') "
                                 "(or take the starting prices with Iteration('return'))", parameter='iteration.method')
    if model.prices is None:
        raise SpecificationError('equilibrium prices need a prices column in product_data', parameter='prices')
    T = model.T
    prices = np.where(model.mask, start, 0.0)
    if iteration.returns:  # PyBLP's 'return': the starting prices are the equilibrium, with no iteration
        shares = model.choose(model.at_prices(prices, model.slopes('prices'))).shares
        return Equilibrium(prices, shares, np.asarray(np.isfinite(prices).all(axis=1)), np.zeros(T, dtype=np.int64))
    free_all = model.mask & ~fixed
    slopes_all = model.slopes('prices')
    converged = np.zeros(T, dtype=bool)
    iterations = np.zeros(T, dtype=np.int64)
    index = np.arange(T)
    markets = index if markets is None else markets
    sub, sub_costs, sub_ownership, free, slopes = model, costs, ownership, free_all, slopes_all
    while index.size:
        moving = None if share_costs is None else (share_costs, markets[index])
        updated, residual = zeta_step(sub, prices[index], sub_costs, sub_ownership, free, slopes, moving)
        iterations[index] += 1
        finite = np.isfinite(updated).all(axis=1)  # a broken market keeps its last finite prices and stops
        prices[index[finite]] = updated[finite]
        done = finite & (residual < iteration.atol)
        converged[index[done]] = True
        going = finite & ~done & (iterations[index] < iteration.max_evaluations)
        if not going.all():
            index = index[going]
            sub = model.restrict(index)
            sub_costs, sub_ownership, free, slopes = costs[index], ownership[index], free_all[index], slopes_all[index]
    shares = model.choose(model.at_prices(prices, slopes_all)).shares
    return Equilibrium(prices, shares, converged, iterations)
