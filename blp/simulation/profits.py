"""Whether simulated prices are an equilibrium: each firm's profit gradient (first-order conditions) and Hessian
(second-order conditions) in its own prices, with population-normalized profits pi_j = (p_j - c_j) s_j.

For firm f with products F and margins m = p - c:
    d pi_f / dp_k = s_k + sum_{j in F} m_j ds_j/dp_k
    d2 pi_f / dp_k dp_l = ds_k/dp_l + ds_l/dp_k + sum_{j in F} m_j d2 s_j / dp_k dp_l,
the last term the share curvature passthrough also needs (`blp.post.passthrough.share_curvature`, with nests too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blp.post.at_estimates import DemandAtEstimates
from blp.post.passthrough import share_curvature


def profit_derivatives(model: DemandAtEstimates, prices: np.ndarray, costs: np.ndarray, firm_codes: np.ndarray,
                       hessians: bool) -> tuple[list[dict[int, np.ndarray]], list[dict[int, np.ndarray]]]:
    """Per market (padded T x J inputs, `firm_codes` -1 where padded): {firm code: gradient (J_f)} and, when
    `hessians`, {firm code: Hessian (J_f x J_f)}."""
    slopes = model.slopes('prices')
    choices = model.choose(model.at_prices(prices, slopes))
    jacobian = model.jacobian(choices, slopes)
    shares = choices.shares
    margins = np.where(model.mask, prices - costs, 0.0)
    gradients: list[dict[int, np.ndarray]] = []
    second: list[dict[int, np.ndarray]] = []
    for t in range(model.T):
        gradients.append({})
        second.append({})
        J_t = int(model.mask[t].sum())
        for firm in np.unique(firm_codes[t][model.mask[t]]):
            F = np.flatnonzero(model.mask[t] & (firm_codes[t] == firm))
            own = jacobian[t][np.ix_(F, F)]
            gradients[t][int(firm)] = shares[t, F] + own.T @ margins[t, F]
            if not hessians:
                continue
            firm_margins = np.zeros(J_t)
            firm_margins[F] = margins[t, F]
            curvature = share_curvature(model, choices, slopes, t, np.tile(firm_margins, (J_t, 1)))
            second[t][int(firm)] = own + own.T + curvature[np.ix_(F, F)]
    return gradients, second


def by_market(values: list[dict[int, Any]], markets: np.ndarray, firms: np.ndarray, order: np.ndarray) -> dict:
    """{market id: {firm id: value}} in `order` (PyBLP's sorted markets)."""
    return {markets[t]: {firms[code]: value for code, value in sorted(values[t].items())} for t in order}
