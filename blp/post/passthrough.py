"""Passthrough of marginal costs to Bertrand-Nash prices, Upsilon_jk = dp_j / dc_k (PyBLP's `compute_passthrough`).

Prices solve f(p, c) = s(p) + (H * J(p)') (p - c) = 0 with J_jk = ds_j / dp_k, so by the implicit function theorem
Upsilon = (df/dp)^-1 (H * J'), where

    df_j / dp_l = J_jl + H_jl J_lj + sum_k H_jk m_k d2 s_k / dp_j dp_l,    m = p - c = eta under H.

Prices move agent i's utilities by a_i (its price coefficient), so d2 s_k / dp_j dp_l = sum_i w_i a_i^2 d2 s_ik /
dV_j dV_l. With G_kj = ds_ik / dV_ij = s_ik R_kj, R_kj = 1[k=j] / (1 - rho_k) - c_k N_kj s_ij|h - s_ij (c = rho /
(1 - rho), N: same nest, s_j|h the share within the nest; plain logit has rho = 0),

    d2 s_k / dV_j dV_l = s_k R_kl R_kj - s_k G_jl - s_k c_k N_kj (s_j|h / (1 - rho_j)) (1[j=l] - N_jl s_l|h),

and with B_jk = H_jk m_k the sum over k is a matrix product per agent, one market at a time (I x J x J arrays).
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from blp.model.choices import Choices
from blp.post.at_estimates import DemandAtEstimates
from blp.supply import bertrand as supply


def curvature_term(probabilities: np.ndarray, conditionals: np.ndarray, rho: np.ndarray, same_nest: np.ndarray,
                   B: np.ndarray) -> np.ndarray:
    """sum_k B_jk d2 s_ik / dV_ij dV_il for each agent of one market (I x J x J), from its choice probabilities
    (I x J), shares within nests (I x J), each product's rho (J) and the same-nest indicators (J x J)."""
    J = probabilities.shape[1]
    c = rho / (1 - rho)
    R = np.eye(J) / (1 - rho)[:, None] - (c[:, None] * same_nest)[None] * conditionals[:, None, :] - \
        probabilities[:, None, :]                                       # I x k x j
    G = probabilities[:, :, None] * R                                   # I x k x j: ds_k / dV_j
    weighted = B[None] * (probabilities[:, None, :] * R.transpose(0, 2, 1))  # I x j x k: B_jk s_k R_kj
    term1 = weighted @ R                                                # sum_k B_jk s_k R_kj R_kl
    b = probabilities @ B.T                                             # I x J: sum_k B_jk s_k
    term2 = -b[:, :, None] * G
    e = probabilities @ (B * (c[None, :] * same_nest)).T                # I x J: sum_k B_jk s_k c_k N_jk
    within = (np.eye(J)[None] - same_nest[None] * conditionals[:, None, :])  # I x j x l
    term3 = -(e * conditionals / (1 - rho)[None, :])[:, :, None] * within
    return term1 + term2 + term3


def share_curvature(model: DemandAtEstimates, choices: Choices, slopes: np.ndarray, t: int,
                    B: np.ndarray) -> np.ndarray:
    """sum_k B_jk d2 s_k / dp_j dp_l in market t (J_t x J_t; B is J_t x J_t), agents' price coefficients `slopes`."""
    J_t, agents = B.shape[0], model.agent_mask[t]
    s = choices.probabilities[t, :J_t][:, agents].T                          # I x J_t
    nests = model.nests
    if nests is None:
        rho, same, conditionals = np.zeros(J_t), np.zeros((J_t, J_t)), np.zeros_like(s)
    else:
        assert choices.conditionals is not None
        rho = nests.rho_products[t, :J_t]
        same = nests.same_nest[t, :J_t, :J_t]
        conditionals = choices.conditionals[t, :J_t][:, agents].T
    scale = choices.weights[t, agents] * slopes[t, agents] ** 2
    return np.einsum('i,ijl->jl', scale, curvature_term(s, conditionals, rho, same, B))


def passthrough(model: DemandAtEstimates, choices: Choices, ownership: np.ndarray, shares: np.ndarray,
                markets: Optional[Iterable[int]] = None) -> np.ndarray:
    """Upsilon_jk = dp_j / dc_k per market (padded T x J x J, zero where padded or outside `markets`, default all)
    under `ownership` (T x J x J) at the estimates, with margins eta under that ownership."""
    slopes = model.slopes('prices')
    jacobian = model.jacobian(choices, slopes)
    mask = model.mask
    margins = supply.eta(jacobian, ownership, shares, mask)
    T, J = mask.shape
    upsilon = np.zeros((T, J, J))
    for t in range(T) if markets is None else markets:
        J_t = int(mask[t].sum())
        H = ownership[t, :J_t, :J_t]
        curvature = share_curvature(model, choices, slopes, t, H * margins[t, None, :J_t])
        J_t_jac = jacobian[t, :J_t, :J_t]
        right = H * J_t_jac.T
        upsilon[t, :J_t, :J_t] = np.linalg.solve(J_t_jac + right + curvature, right)
    return upsilon
