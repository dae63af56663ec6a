"""Second choices under nests (RCNL), as PyBLP 1.3 defines them: the probability that agent i chooses j first and k
second is the share k gains when j leaves the choice set, pi_ijk = s_ik(-j) - s_ik (k != j; pi_ijj = 0). Without nests
this is Q_ij Q_ik / (1 - Q_ij); with nests j's leaving shrinks its nest's inclusive value, so there is no such
shortcut and `blp.micro.block.weighted_sum` does not apply.

With C_ij the within-nest share, S_ih the nest's share and a_ij = (1 - C_ij)^(1 - rho_h), removing j (nest h) scales
the logit denominator by 1 - K_ij with K_ij = S_ih (1 - a_ij) (K_i0 = Q_i0 for the outside good), so, with
r = 1 / (1 - K), phi_ij = (1 - C_ij)^(-rho_h) and G_jk = 1 when k != j share j's nest,

    s_ik(-j) = Q_ik r_ij f_ijk,   f_ijk = 1 + G_jk (phi_ij - 1),   pi_ijk = Q_ik (r_ij f_ijk - 1).

Derivatives: d pi_ijk = dQ_ik (r_ij f_ijk - 1) + Q_ik f_ijk dr_ij + Q_ik r_ij G_jk dphi_ij, so sum(A d pi) needs three
agent x choice coefficient arrays per A and one pass per parameter over agent x choice arrays, with

    dr = r^2 dK,  dK_ij = dS_ih (1 - a_ij) + S_ih a_ij ((1 - rho_h) dC_ij / (1 - C_ij) + d rho_h log(1 - C_ij)),
    dphi_ij = phi_ij (rho_h dC_ij / (1 - C_ij) - d rho_h log(1 - C_ij)),  dK_i0 = dQ_i0.

1 - C_ij is summed over what stays in the nest (R_ij, dR_ij = -dC_ij), never formed as a difference: when j's group is
its whole nest R is exactly 0, where 1 - sum C is +-1e-16 and R^(1 - rho) (1e-8 at rho 0.5) moved pi by 1e-9 relative.
log R is log1p(-C_ij) when C_ij is small, and 1 - a, phi - 1 and r f - 1 = r (K + G (phi - 1)) are formed by expm1 and
sums of terms >= 0, so pi keeps its digits when it is a small difference of shares (a tiny first choice or nest).

With eliminated groups (PyBLP's `eliminated_product_ids_index`) j's group G(j) leaves: C_ij above becomes the group's
within-nest share when G(j) lies in j's nest (K_ij = Q_iG(j), the group's probability, when it is a union of nests),
G_jk excludes G(j), pi is zero within G(j) and is split over the group in proportion to Q_ij / Q_iG(j), which adds
a term in d(Q_ij / Q_iG(j)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.model.choices import Choices, Nests


@dataclass(frozen=True)
class NestedLogDerivatives:
    """d log of the nested choices in one parameter, on T_d x J x I (inside products) and T_d x I (outside)."""

    conditionals: np.ndarray  # d log C_ij
    nest_shares: np.ndarray   # d log S_ih of j's nest h
    outside: np.ndarray       # d log Q_i0
    rho: np.ndarray           # d rho of j's nest (T_d x J x 1)


class NestedSecondChoices:
    """pi_ijk on T_d x I x (1 + J) x (1 + J) (choice 0 the outside good) and sum(A pi) with its derivatives."""

    def __init__(self, Q: np.ndarray, conditionals: np.ndarray, nest_shares: np.ndarray, rho: np.ndarray,
                 same_nest: np.ndarray, groups: Optional[np.ndarray] = None) -> None:
        """Q: T x I x (1 + J); conditionals, nest_shares: T x J x I; rho: rho of each product's nest (T x J); same_nest:
        T x J x J; groups: T x (1 + J) x (1 + J), 1 where j and k leave together (None: each choice alone)."""
        T, I, width = Q.shape
        self.Q = Q
        self.C = conditionals.transpose(0, 2, 1)
        self.S = nest_shares.transpose(0, 2, 1)
        self.rho = rho[:, None, :]
        M = np.broadcast_to(np.eye(width), (T, width, width)) if groups is None else groups
        nested = np.zeros((T, width, width))
        nested[:, 1:, 1:] = same_nest
        self.M = M
        self.within = ~np.any((M[:, 1:, 1:] > 0) & (nested[:, 1:, 1:] == 0), axis=2)[:, None, :]  # T x 1 x J
        self.E = Q @ M                                                   # the group's probability
        self.G = nested * (1 - M)                                        # share j's nest, stay when j's group leaves
        self.others = self.G[:, 1:, 1:]
        remaining = self.C @ self.others  # 1 - C_G(j) as a sum of what stays: exactly 0 when G(j) is the whole nest
        leaving = self.C @ (M * nested)[:, 1:, 1:]                       # C_G(j), j's group within its nest
        positive = remaining > 0
        safe = np.where(positive, remaining, 1.0)
        self.inverse = np.where(positive, 1 / safe, 0.0)           # zero when j's group is its whole nest
        # log R from whichever of R and C_G is small (log1p when the group is): its limit's weight is zero at R = 0
        self.log_remaining = np.where(positive, np.where(leaving < 0.5, np.log1p(-np.minimum(leaving, 0.5)),
                                                         np.log(safe)), 0.0)
        self.a = np.where(positive, safe ** (1 - self.rho), 0.0)
        self.one_minus_a = np.where(positive, -np.expm1((1 - self.rho) * self.log_remaining), 1.0)
        self.has_others = np.any(self.G[:, 1:], axis=2)[:, None, :]     # T x 1 x J
        excess = np.zeros_like(Q)                                        # phi - 1, by expm1
        excess[:, :, 1:] = np.where(self.has_others & positive, np.expm1(-self.rho * self.log_remaining), 0.0)
        self.phi = 1 + excess
        K = np.concatenate([Q[:, :, :1], np.where(self.within, self.S * self.one_minus_a, self.E[:, :, 1:])], axis=2)
        with np.errstate(divide='ignore', invalid='ignore'):
            self.r = np.where(K < 1, 1 / np.where(K < 1, 1 - K, 1.0), 0.0)
            self.split = np.where(self.E > 0, Q / np.where(self.E > 0, self.E, 1.0), 0.0)  # Q_ij / Q_iG(j)
        moved = self.G[:, None] * excess[..., None]
        self.f = 1 + moved
        # s_ik(-G(j)) / Q_ik - 1 = r (K + G (phi - 1)): two terms >= 0, where r f - 1 would cancel when K is small
        self.ratios = np.where(K[..., None] < 1, self.r[..., None] * (K[..., None] + moved), -1.0)
        self.gains = Q[:, :, None, :] * self.ratios * (1 - M)[:, None]  # s_ik(-G(j)) - s_ik, zero within G(j)
        self.pi = self.split[..., None] * self.gains

    def total(self, A: np.ndarray) -> float:
        return float((A * self.pi).sum())

    def derivative(self, A: np.ndarray, logs: list[NestedLogDerivatives]) -> np.ndarray:
        """d sum(A pi) / d theta (one element per entry of `logs`)."""
        off = A * (1 - self.M)[:, None]                                  # pi is zero within groups at every theta
        split = off * self.split[..., None]
        W1 = (split * self.ratios).sum(axis=2)                                 # by k
        W2 = (split * self.f * self.Q[:, :, None, :]).sum(axis=3)            # by j
        W3 = self.r * ((split * self.G[:, None]) @ self.Q[..., None])[..., 0]  # by j
        W4 = (off * self.gains).sum(axis=3)                                    # by j
        totals = []
        for log in logs:
            dlog_Q = np.concatenate([log.outside[:, :, None],
                                     (log.conditionals + log.nest_shares).transpose(0, 2, 1)], axis=2)
            dQ = self.Q * dlog_Q
            dR = (self.C * log.conditionals.transpose(0, 2, 1)) @ self.others
            dS = self.S * log.nest_shares.transpose(0, 2, 1)
            dE = dQ @ self.M
            d_rho = log.rho.transpose(0, 2, 1)
            dK_inside = np.where(self.within, dS * self.one_minus_a - self.S * self.a * (
                (1 - self.rho) * dR * self.inverse - d_rho * self.log_remaining), dE[:, :, 1:])
            dK = np.concatenate([dQ[:, :, :1], dK_inside], axis=2)
            dphi = np.zeros_like(dQ)
            dphi[:, :, 1:] = np.where(self.has_others, self.phi[:, :, 1:] * (
                -self.rho * dR * self.inverse - d_rho * self.log_remaining), 0.0)
            with np.errstate(divide='ignore', invalid='ignore'):
                d_split = np.where(self.E > 0, (dQ - self.split * dE) / np.where(self.E > 0, self.E, 1.0), 0.0)
            totals.append((W1 * dQ).sum() + (W2 * self.r ** 2 * dK).sum() + (W3 * dphi).sum() + (W4 * d_split).sum())
        return np.array(totals)


def nested_log_derivatives(choices: Choices, nests: Nests, X2: np.ndarray, variables: np.ndarray,
                           rho_moves: np.ndarray, delta_jacobian: np.ndarray) -> list[NestedLogDerivatives]:
    """d log of the nested choices in each of P' + R parameters: the first P' move agents' coefficients on the X2
    columns `X2` (T x J x P') by `variables` (T x I x P'), the last R move rho (`rho_moves`, T x J x R); all move
    delta (`delta_jacobian`, T x J x (P' + R)).

    For u_ij = dU_ij, d rho_j, C_ij the within-nest share, E_ih its entropy, ubar_ih = sum_{k in h} C_ik u_ik and
    dIV_ih = ubar_ih - d rho_h E_ih: d log C_ij = [(u_ij - ubar_ih) + d rho_h (log C_ij + E_ih)] / (1 - rho_h),
    d log S_ih = dIV_ih - sum_g Q_ig dIV_ig and d log Q_i0 = -sum_g Q_ig dIV_ig (the same derivatives as the nested
    markups')."""
    s, C, G = choices.probabilities, choices.conditionals, nests.same_nest
    assert C is not None
    lambdas = (1 - nests.rho_products)[:, :, None]
    with np.errstate(divide='ignore'):
        log_C = np.where(C > 0, np.log(np.where(C > 0, C, 1.0)), 0.0)
    entropy = -(G @ (C * log_C))
    logs = []
    moved = X2.shape[2]
    for q in range(moved + rho_moves.shape[2]):
        u = np.broadcast_to(delta_jacobian[:, :, q, None], s.shape)
        d_rho = np.zeros(lambdas.shape)
        if q < moved:
            u = u + X2[:, :, q, None] * variables[:, None, :, q]
        else:
            d_rho = rho_moves[:, :, q - moved, None]
        u_bar = G @ (C * u)
        inclusive = u_bar - d_rho * entropy
        common = (s * inclusive).sum(axis=1)                           # T x I
        logs.append(NestedLogDerivatives((u - u_bar + d_rho * (log_C + entropy)) / lambdas,
                                         inclusive - common[:, None, :], -common, d_rho))
    return logs
