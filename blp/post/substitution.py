"""How demand substitutes: elasticities, diversion ratios (marginal and long-run) and aggregate elasticities.

Pure functions on padded (market x product) arrays; entries of padded products are meaningless and left for the
caller to mask. Shares are the observed ones, as in PyBLP (at the estimates they equal the model's).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from blp.post.at_estimates import DemandAtEstimates


def elasticities(jacobian: np.ndarray, values: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """E_jk = (x_k / s_j) ds_j / dx_k: rows are the product whose share responds."""
    with np.errstate(divide='ignore', invalid='ignore'):
        return jacobian * values[:, None, :] / shares[:, :, None]


def diversion_ratios(jacobian: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """D_jk = -(ds_k/dx_j) / (ds_j/dx_j): the part of j's lost sales that goes to k; the diagonal holds the part that
    goes to the outside good, -(ds_0/dx_j) / (ds_j/dx_j), so each row sums to one (PyBLP's convention)."""
    by_own = jacobian.transpose(0, 2, 1)  # [t, j, k] = ds_k / dx_j
    own = np.einsum('tjj->tj', by_own).copy()
    outside = -(by_own * mask[:, None, :]).sum(axis=2)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratios = -by_own / own[:, :, None]
        np.einsum('tjj->tj', ratios)[...] = -outside / own
    return ratios


def long_run_diversion_ratios(model: DemandAtEstimates, shares: np.ndarray) -> np.ndarray:
    """D_jk = (s_k(-j) - s_k) / s_j with s_k(-j) the share of k once j leaves the choice set; the diagonal holds the
    outside good's gain. Without nests the removal has a closed form per agent, s_ik(-j) = s_ik / (1 - s_ij), with
    1 - s_ij summed from the other choices so that it keeps its precision when s_ij is near one."""
    T, J = shares.shape
    if model.nests is None:
        choices = model.choose()
        probabilities = choices.probabilities
        others = (1 - np.eye(J)) @ probabilities + choices.outside[:, None, :]  # T x J x I: 1 - s_ij
        without = (probabilities * choices.weights[:, None, :]) @ (1 / others).transpose(0, 2, 1)  # [t, k, j]
        without = without.transpose(0, 2, 1)  # [t, j, k] = s_k(-j)
    else:  # one market copy per removed product (nested logit has a single agent, so this stays small)
        copies = model.restrict(np.repeat(np.arange(T), J))
        removed = np.tile(np.eye(J, dtype=bool), (T, 1))
        without = copies.choose(copies.without(removed)).shares.reshape(T, J, J)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratios = (without - shares[:, None, :]) / shares[:, :, None]
    ratios = np.where(model.mask[:, :, None] & model.mask[:, None, :], ratios, 0.0)
    index = np.arange(J)
    ratios[:, index, index] = -1.0
    ratios[:, index, index] = -ratios.sum(axis=2)
    return ratios


def aggregate_elasticities(model: DemandAtEstimates, name: Optional[str], values: np.ndarray, shares: np.ndarray,
                           factor: float) -> np.ndarray:
    """Per market, sum_j (s_j(x (1 + factor)) - s_j) / factor: the response of total inside demand to scaling x by
    1 + factor in every product at once (PyBLP's definition, which does not divide by the inside share)."""
    scaled = model.shifted(np.where(model.mask, factor * values, 0.0), model.slopes(name))
    changed = model.choose(scaled).shares
    return (np.where(model.mask, changed - shares, 0.0)).sum(axis=1) / factor
