"""Whether simulated prices are an equilibrium: each firm's profit gradient (first-order conditions) and Hessian
(second-order conditions) in its own prices, with population-normalized profits pi_j = (p_j - c_j) s_j.

For firm f with products F, margins m = p - c and agent price coefficients a_i (prices enter utility linearly):
    d pi_f / dp_k = s_k + sum_{j in F} m_j ds_j/dp_k
    d2 pi_f / dp_k dp_l = ds_k/dp_l + ds_l/dp_k + sum_{j in F} m_j d2 s_j / dp_k dp_l,
where, per agent, sum_{j in F} m_j d2 s_ij / dp_k dp_l = a_i^2 [1(k = l) s_ik (m_k - u_i) - s_ik s_il (m_k + m_l - 2 u_i)]
with u_i = sum_{j in F} m_j s_ij. Hessians are left out with nests (their second derivatives are not written here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blp.post.at_estimates import DemandAtEstimates


def profit_derivatives(model: DemandAtEstimates, prices: np.ndarray, costs: np.ndarray, firm_codes: np.ndarray,
                       hessians: bool) -> tuple[list[dict[int, np.ndarray]], list[dict[int, np.ndarray]]]:
    """Per market (padded T x J inputs, `firm_codes` -1 where padded): {firm code: gradient (J_f)} and, when
    `hessians` and there are no nests, {firm code: Hessian (J_f x J_f)}."""
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
        S, scale = choices.probabilities[t], choices.weights[t] * slopes[t] ** 2
        for firm in np.unique(firm_codes[t][model.mask[t]]):
            F = np.flatnonzero(model.mask[t] & (firm_codes[t] == firm))
            m = margins[t, F]
            gradients[t][int(firm)] = shares[t, F] + jacobian[t][np.ix_(F, F)].T @ m
            if not hessians or model.nests is not None:
                continue
            own = jacobian[t][np.ix_(F, F)]
            SF = S[F]
            u = m @ SF
            diagonal = (SF * (m[:, None] - u[None, :])) @ scale
            weighted = SF * scale[None, :]
            cross = (weighted * (2 * u)[None, :]) @ SF.T - (m[:, None] + m[None, :]) * (weighted @ SF.T)
            second[t][int(firm)] = own + own.T + np.diag(diagonal) + cross
    return gradients, second


def by_market(values: list[dict[int, Any]], markets: np.ndarray, firms: np.ndarray, order: np.ndarray) -> dict:
    """{market id: {firm id: value}} in `order` (PyBLP's sorted markets)."""
    return {markets[t]: {firms[code]: value for code, value in sorted(values[t].items())} for t in order}
