r"""Derivatives of the Bertrand-Nash markup eta with respect to mean utilities and parameters (random coefficients).

Notation per market (t dropped): agents i with weights w_i, products j, k, m; s_ij choice probabilities; alpha_i the
agent's price coefficient dU_ij/dp_j (beta on prices plus the agent's Sigma/Pi terms when prices are in X2); H the
ownership matrix (H_jj = 1); S the observed shares.

    D_kj = ds_k/dp_j = sum_i w_i alpha_i s_ik (1[k=j] - s_ij)
    Delta = -H * D'                                   eta = Delta^-1 S

S is data, so a parameter psi moves eta only through Delta: d eta = -Delta^-1 (d Delta) eta = Delta^-1 b with

    b_j = sum_k H_jk eta_k dD_kj.

A direction moves utilities by u_ij = dU_ij/dpsi and price coefficients by a_i = dalpha_i/dpsi, so that
ds_ij = s_ij (u_ij - sum_k s_ik u_ik) and (second derivatives of shares, d^2 s / dp dpsi)

    dD_kj = sum_i w_i [a_i s_ik (1[k=j] - s_ij) + alpha_i ds_ik (1[k=j] - s_ij) - alpha_i s_ik ds_ij].

With e_ij = sum_k H_jk eta_k s_ik and de_ij = sum_k H_jk eta_k ds_ik the J x J x J tensor dD never needs building:

    b_j = sum_i w_i [(a_i s_ij + alpha_i ds_ij) (eta_j - e_ij) - alpha_i s_ij de_ij].

- delta_m (u_ij = 1[j=m], a = 0) gives the J x J matrix d eta / d delta = Delta^-1 A with
  A = diag(sum_i w_i alpha_i s_ij (eta_j - e_ij)) - (H * Gamma) diag(eta) + [s * (2e - eta)] diag(w alpha) s',
  Gamma_jm = sum_i w_i alpha_i s_ij s_im.
- sigma_kl / pi_kd: u_ij = x_jk v_i with v_i the node nu_il or demographic d_id; a_i = v_i when column k of X2 is
  prices, else 0.
- beta on prices (alpha in X1): u = 0, a_i = 1. PyBLP 1.3 refuses to concentrate alpha out when there is a supply
  side (ValueError "A supply side was specified, so alpha should not be concentrated out"; `beta` must give starting
  values for the X1 columns involving prices): eta depends on alpha, so alpha is an element of theta, its column of
  d xi/d theta is -X1[prices], its probabilities' total derivative is zero and its d eta comes only from a_i = 1
  (PyBLP's `compute_eta_by_theta_jacobian` with the X1 derivative of prices). The other betas and every gamma are
  concentrated out together by the stacked IV step and held fixed in the gradient.

The total derivative the GMM gradient needs is d eta/d theta = d eta/d theta|delta + d eta/d delta . d delta/d theta;
passing `delta_jacobian` adds d delta_j/d theta_p to u_ij, which gives it directly without the J x J matrices. For
alpha in X1, d delta/d alpha = 0 (delta is pinned by the shares; xi = delta - X1 beta moves by -prices), so its total
derivative is its partial one. Logit is one agent of weight one. Memory is one T x J x I array per direction at a
time, never J x J x P or J x J x J. Nests (nested logit and RCNL, rho per nest) have their own pair of functions below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from blp.supply.bertrand import FactoredDelta, solve_delta_system


@dataclass(frozen=True)
class Directions:
    """How each parameter p moves utilities, dU_ijt/dtheta_p = x_jtp v_itp, and price coefficients,
    dalpha_it/dtheta_p = a_p v_itp when `moves_price[p]`, with a_p the slope of prices in the parameter's column
    (`price_slopes`: -1 for `I(-prices)` in X2; 1 when not given)."""

    characteristics: np.ndarray  # T x J x P  x_jp (zero where padded, and for alpha in X1)
    agent_values: np.ndarray     # T x I x P  v_ip
    moves_price: np.ndarray      # P booleans
    price_slopes: Optional[np.ndarray] = None  # P floats a_p

    @property
    def P(self) -> int:
        return self.moves_price.size


def directions(X2: np.ndarray, nodes: np.ndarray, demographics: np.ndarray, elements: Sequence[tuple],
               price_column: Optional[int]) -> Directions:
    """Directions of parameters in order: ('sigma', k, l) on X2 column k and nodes column l, ('pi', k, d) on X2 column
    k and demographic d, ('alpha',) for beta on prices in X1. X2 is T x J x K2 (padded), nodes T x I x K2,
    demographics T x I x D; `price_column` is the X2 column of prices (None when prices are not in X2)."""
    T, J = X2.shape[:2]
    I = nodes.shape[1]
    characteristics, agent_values, moves_price = np.zeros((T, J, len(elements))), np.ones((T, I, len(elements))), []
    for p, element in enumerate(elements):
        kind = element[0]
        if kind == 'alpha':
            moves_price.append(True)
            continue
        if kind not in ('sigma', 'pi'):
            raise ValueError(f'unknown parameter kind {kind!r}')
        k, column = element[1], element[2]
        characteristics[:, :, p] = X2[:, :, k]
        agent_values[:, :, p] = (nodes if kind == 'sigma' else demographics)[:, :, column]
        moves_price.append(k == price_column)
    return Directions(characteristics, agent_values, np.array(moves_price, dtype=bool))


def firm_membership(ownership: np.ndarray) -> Optional[np.ndarray]:
    """One-hot firm membership F (T x J x F, zero rows where padded) with H = F F' when the ownership matrix partitions
    each market's products into firms (the usual case); None for partial ownership or any other H."""
    if not np.all((ownership == 0) | (ownership == 1)):
        return None
    T, J = ownership.shape[:2]
    member = ownership == 1
    first = np.argmax(member, axis=2)                                  # lowest-index product of j's firm
    present = member.any(axis=2)
    leaders = present & (first == np.arange(J))
    firm = np.take_along_axis(np.cumsum(leaders, axis=1) - 1, first, axis=1)
    membership = np.zeros((T, J, max(int(leaders.sum(axis=1).max(initial=0)), 1)))
    np.put_along_axis(membership, firm[:, :, None], present[:, :, None].astype(float), axis=2)
    if not np.array_equal(membership @ membership.transpose(0, 2, 1), ownership):
        return None
    return membership


@dataclass(frozen=True)
class OwnershipFactors:
    """H = L R' per market, computed once per problem (ownership does not change while theta does)."""

    left: np.ndarray      # L, T x J x F
    right_t: np.ndarray   # R' (T x F x J, contiguous)


def ownership_factors(ownership: np.ndarray) -> OwnershipFactors:
    """H = L R' with L, R T x J x F: the firm membership twice when H partitions products into firms (so sums over a
    firm cost T J F I instead of the T J^2 I of H @ X, which dominated the supply side's gradient), else H and I."""
    membership = firm_membership(ownership)
    if membership is None:
        return OwnershipFactors(ownership, np.broadcast_to(np.eye(ownership.shape[1]), ownership.shape))  # I' = I
    return OwnershipFactors(membership, np.ascontiguousarray(membership.transpose(0, 2, 1)))


def _ownership_sums(ownership: np.ndarray, eta: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """e_ij = sum_k H_jk eta_k s_ik (T x J x I)."""
    return ownership @ (eta[:, :, None] * probabilities)


def eta_by_delta(probabilities: np.ndarray, weights: np.ndarray, price_slopes: np.ndarray, ownership: np.ndarray,
                 eta: np.ndarray, Delta: np.ndarray) -> np.ndarray:
    """d eta_j / d delta_m per market (T x J x J, rows j, columns m), theta held fixed. probabilities T x J x I,
    weights and price_slopes (alpha_i) T x I, ownership and Delta T x J x J (see `supply.capital_delta`), eta T x J."""
    weighted = (weights * price_slopes)[:, None, :]                 # w_i alpha_i
    e = _ownership_sums(ownership, eta, probabilities)
    gap = eta[:, :, None] - e
    Gamma = (probabilities * weighted) @ probabilities.transpose(0, 2, 1)
    A = (probabilities * (e + e - eta[:, :, None]) * weighted) @ probabilities.transpose(0, 2, 1)
    A -= ownership * Gamma * eta[:, None, :]
    np.einsum('tjj->tj', A)[...] += (probabilities * gap * weighted).sum(axis=2)
    return solve_delta_system(Delta, A)


def eta_by_theta(probabilities: np.ndarray, weights: np.ndarray, price_slopes: np.ndarray, ownership: OwnershipFactors,
                 eta: np.ndarray, Delta: 'np.ndarray | FactoredDelta', parameters: Directions,
                 delta_jacobian: Optional[np.ndarray] = None) -> np.ndarray:
    """d eta_j / d theta_p (T x J x P): with delta held fixed, or, given delta_jacobian = d delta/d theta (T x J x P,
    zero where padded), the total derivative. `ownership` is H factored once by `ownership_factors`; the other
    arguments are as in `eta_by_delta`.

    With H = L R', u_ij = x_j v_i + d_j (d = d delta/d theta_p, or 0) and m_i = sum_k s_ik u_ik,
    no T x J x I array is made per parameter: with Q = w alpha s (eta - e) and G = R' (eta ds) (T x F x I),

        b_j = x_j (Q v)_j + d_j (Q 1)_j - (Q m)_j - sum_f L_jf ((w alpha s) G')_jf
        G = (R' diag(eta x) s) diag(v) + R' diag(eta d) s - (R' diag(eta) s) diag(m).
    """
    left, factor_t = ownership.left, ownership.right_t                 # L, R' (T x F x J)
    firm_shares = factor_t @ (eta[:, :, None] * probabilities)         # R' diag(eta) s
    gap = eta[:, :, None] - left @ firm_shares                          # eta_j - e_ij
    slopes = (weights * price_slopes)[:, None, :]                       # w_i alpha_i
    weighted_shares = probabilities * slopes
    gapped = probabilities * gap
    Q = gapped * slopes
    Q_sums = Q.sum(axis=2)
    right = np.zeros(eta.shape + (parameters.P,))
    for p in range(parameters.P):
        x, v = parameters.characteristics[:, :, p], parameters.agent_values[:, :, p]
        mean = (x[:, None, :] @ probabilities)[:, 0, :] * v             # m_i
        G = ((factor_t * (eta * x)[:, None, :]) @ probabilities) * v[:, None, :]
        b = x * (Q @ v[:, :, None])[:, :, 0]
        if delta_jacobian is not None:
            d = delta_jacobian[:, :, p]
            mean += (d[:, None, :] @ probabilities)[:, 0, :]
            G += (factor_t * (eta * d)[:, None, :]) @ probabilities
            b += d * Q_sums
        G -= firm_shares * mean[:, None, :]
        b -= (Q @ mean[:, :, None])[:, :, 0]
        b -= (left * (weighted_shares @ G.transpose(0, 2, 1))).sum(axis=2)
        if parameters.moves_price[p]:
            slope = 1.0 if parameters.price_slopes is None else float(parameters.price_slopes[p])
            b += slope * (gapped @ (weights * v)[:, :, None])[:, :, 0]
        right[:, :, p] = b
    return solve_delta_system(Delta, right)


# ---------------------------------------------------------------- nests: nested logit and RCNL (agents, rho per nest)
# With lambda = 1 - rho, r = rho / lambda, G the same-nest indicator and C_ij = s_ij|h agent i's within-nest share,
# ds_ik/dV_ij = s_ik c_ikj with c_ikj = 1[k=j] / lambda_k - r_k G_kj C_ij - s_ij, so D_kj = sum_i w_i alpha_i s_ik c_ikj.
# A direction moves utilities by u_ij (x_j v_i, plus d delta_j/d theta for the total derivative), price coefficients by
# a_i and rho by d rho_j (per product: 1 in the moved nests). With E_ih = -sum_{k in h} C_ik log C_ik, ubar_ih =
# sum_{k in h} C_ik u_ik and the inclusive value's change dIV_ih = ubar_ih - d rho_h E_ih (log C_ij + E_ih is
# (V_ij - Vbar_ih) / lambda_h, so no utility level enters and nothing overflows):
#
#     dC_ij = C_ij [(u_ij - ubar_ih) + d rho_h (log C_ij + E_ih)] / lambda_h
#     ds_ij = s_ij [dC_ij / C_ij + dIV_ih - sum_g s_ig dIV_ig]
#
# and, with y_ik = w_i (a_i s_ik + alpha_i ds_ik), e = H (eta s), z = (H * G) (eta r s), b_j = sum_i of
#
#     eta_j y_ij / lambda_j - C_ij ((H * G)(eta r y))_ij - s_ij (H (eta y))_ij
#     + w_i alpha_i [eta_j s_ij d rho_j / lambda_j^2 - C_ij ((H * G)(eta s d rho / lambda^2))_ij - dC_ij z_ij
#                    - ds_ij e_ij],
#
# the derivative of b_j = sum_k H_jk eta_k D_kj as above; d eta = Delta^-1 b.


@dataclass(frozen=True)
class NestedChoices:
    """What nested markups and their derivatives read, per market (nested logit is one agent of weight one)."""

    probabilities: np.ndarray  # T x J x I  s_ij (zero where padded)
    conditionals: np.ndarray   # T x J x I  C_ij = s_ij|h
    weights: np.ndarray        # T x I
    slopes: np.ndarray         # T x I      alpha_i
    rho: np.ndarray            # T x J      rho of each product's nest (0 where padded)
    same_nest: np.ndarray      # T x J x J

    def restrict(self, markets: slice) -> 'NestedChoices':
        return NestedChoices(self.probabilities[markets], self.conditionals[markets], self.weights[markets],
                             self.slopes[markets], self.rho[markets], self.same_nest[markets])


def nested_price_jacobian(choices: NestedChoices) -> np.ndarray:
    """ds_j/dp_k (T x J x J): sum_i w_i alpha_i s_ij (1[j=k] / lambda_j - r_j G_jk C_ik - s_ik)."""
    weighted = choices.probabilities * (choices.weights * choices.slopes)[:, None, :]
    r = choices.rho / (1 - choices.rho)
    jacobian = -(weighted @ choices.probabilities.transpose(0, 2, 1))
    jacobian -= r[:, :, None] * choices.same_nest * (weighted @ choices.conditionals.transpose(0, 2, 1))
    np.einsum('tjj->tj', jacobian)[...] += weighted.sum(axis=2) / (1 - choices.rho)
    return jacobian


def nested_eta_by_theta(choices: NestedChoices, ownership: np.ndarray, eta: np.ndarray,
                        Delta: 'np.ndarray | FactoredDelta',
                        parameters: Directions, rho_moves: np.ndarray,
                        delta_jacobian: Optional[np.ndarray] = None) -> np.ndarray:
    """d eta_j / d theta_p with nests (T x J x P): delta held fixed or, given delta_jacobian (T x J x P), the total
    derivative. `rho_moves` (T x J x P) is d rho_j / d theta_p (1 for the products of the nests a rho moves);
    ownership and Delta T x J x J, eta T x J. Memory: a few T x J x I arrays per direction."""
    s, C, weights = choices.probabilities, choices.conditionals, choices.weights
    lambdas = (1 - choices.rho)[:, :, None]
    r = choices.rho[:, :, None] / lambdas
    G = choices.same_nest
    HG = ownership * G
    with np.errstate(divide='ignore'):
        log_C = np.where(C > 0, np.log(np.where(C > 0, C, 1.0)), 0.0)
    entropy = -(G @ (C * log_C))                                        # E_ih(j), T x J x I
    weighted_slopes = (weights * choices.slopes)[:, None, :]           # w_i alpha_i
    eta3 = eta[:, :, None]
    e = ownership @ (eta3 * s)
    z = HG @ (eta3 * r * s)
    right = np.zeros(eta.shape + (parameters.P,))
    for p in range(parameters.P):
        u = parameters.characteristics[:, :, p, None] * parameters.agent_values[:, None, :, p]
        if delta_jacobian is not None:
            u = u + delta_jacobian[:, :, p, None]
        d_rho = rho_moves[:, :, p, None]
        u_bar = G @ (C * u)
        d_inclusive = u_bar - d_rho * entropy
        relative_C = (u - u_bar + d_rho * (log_C + entropy)) / lambdas
        ds = s * (relative_C + d_inclusive - (s * d_inclusive).sum(axis=1, keepdims=True))
        y = weighted_slopes * ds
        if parameters.moves_price[p]:
            slope = 1.0 if parameters.price_slopes is None else float(parameters.price_slopes[p])
            y = y + (weights * slope * parameters.agent_values[:, :, p])[:, None, :] * s
        b = eta3 * y / lambdas - C * (HG @ (eta3 * r * y)) - s * (ownership @ (eta3 * y))
        by_rho = eta3 * s * d_rho / lambdas ** 2
        b += weighted_slopes * (by_rho - C * (HG @ by_rho) - C * relative_C * z - ds * e)
        right[:, :, p] = b.sum(axis=2)
    return solve_delta_system(Delta, right)
