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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
                 same_nest: np.ndarray) -> None:
        """Q: T x I x (1 + J); conditionals, nest_shares: T x J x I; rho: rho of each product's nest (T x J); same_nest:
        T x J x J."""
        T, I, width = Q.shape
        self.Q = Q
        self.C = conditionals.transpose(0, 2, 1)
        self.S = nest_shares.transpose(0, 2, 1)
        self.rho = rho[:, None, :]
        remaining = np.clip(1 - self.C, 0, None)
        positive = remaining > 0
        safe = np.where(positive, remaining, 1.0)
        self.inverse = np.where(positive, 1 / safe, 0.0)           # 1 / (1 - C), zero when j is alone in its nest
        self.log_remaining = np.where(positive, np.log(safe), 0.0)  # log(1 - C), its limit's weight is zero
        self.a = np.where(positive, safe ** (1 - self.rho), 0.0)
        G = np.zeros((T, width, width))
        G[:, 1:, 1:] = same_nest
        G[:, np.arange(width), np.arange(width)] = 0
        self.G = G
        self.has_others = np.any(G[:, 1:], axis=2)[:, None, :]       # T x 1 x J
        self.phi = np.ones_like(Q)
        self.phi[:, :, 1:] = np.where(self.has_others & positive, safe ** -self.rho, 1.0)
        K = np.concatenate([Q[:, :, :1], self.S * (1 - self.a)], axis=2)
        with np.errstate(divide='ignore'):
            self.r = np.where(K < 1, 1 / np.where(K < 1, 1 - K, 1.0), 0.0)
        self.f = 1 + G[:, None] * (self.phi - 1)[..., None]
        self.ratios = self.r[..., None] * self.f - 1                    # s_ik(-j) / Q_ik - 1
        pi = Q[:, :, None, :] * self.ratios
        pi[:, :, np.arange(width), np.arange(width)] = 0
        self.pi = pi

    def total(self, A: np.ndarray) -> float:
        return float((A * self.pi).sum())

    def derivative(self, A: np.ndarray, logs: list[NestedLogDerivatives]) -> np.ndarray:
        """d sum(A pi) / d theta (one element per entry of `logs`)."""
        width = A.shape[-1]
        off = A.copy()
        off[:, :, np.arange(width), np.arange(width)] = 0                # pi_ijj = 0 at every theta
        W1 = (off * self.ratios).sum(axis=2)                                   # by k
        W2 = (off * self.f * self.Q[:, :, None, :]).sum(axis=3)              # by j
        W3 = self.r * ((off * self.G[:, None]) @ self.Q[..., None])[..., 0]  # by j
        totals = []
        for log in logs:
            dlog_Q = np.concatenate([log.outside[:, :, None],
                                     (log.conditionals + log.nest_shares).transpose(0, 2, 1)], axis=2)
            dQ = self.Q * dlog_Q
            dC = self.C * log.conditionals.transpose(0, 2, 1)
            dS = self.S * log.nest_shares.transpose(0, 2, 1)
            d_rho = log.rho.transpose(0, 2, 1)
            dK_inside = dS * (1 - self.a) + self.S * self.a * ((1 - self.rho) * dC * self.inverse +
                                                               d_rho * self.log_remaining)
            dK = np.concatenate([dQ[:, :, :1], dK_inside], axis=2)
            dphi = np.zeros_like(dQ)
            dphi[:, :, 1:] = np.where(self.has_others, self.phi[:, :, 1:] * (
                self.rho * dC * self.inverse - d_rho * self.log_remaining), 0.0)
            totals.append((W1 * dQ).sum() + (W2 * self.r ** 2 * dK).sum() + (W3 * dphi).sum())
        return np.array(totals)
