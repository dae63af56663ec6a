"""Excluded demand instruments built from product characteristics, as PyBLP's `build_blp_instruments` and
`build_differentiation_instruments`, and the spec's way of asking for them (`with_built_instruments`).

With X the matrix a formulation builds, J_ft the products of firm f in market t and j in J_ft:

    BLP ("sums of characteristics"):   Other_j = sum_{k in J_ft, k != j} x_k      Rival_j = sum_{k not in J_ft} x_k

Differentiation (Gandhi and Houde), with d_jkl = x_jl - x_kl (PyBLP's sign) and SD_l the standard deviation of
all within-market pairwise differences d_jkl (j != k) across markets:

    local:      Other_jl = sum_{k in J_ft, k != j} 1(|d_jkl| < SD_l)     (and Rival over k not in J_ft)
    quadratic:  Other_jl = sum_{k in J_ft} d_jkl^2
    interact:   local summands 1(|d_jkl| < SD_l) d_jkl' for every l'; quadratic d_jkl d_jkl' for l' >= l

The result is [Other, Rival] with the columns in PyBLP's order. BLP instruments are group sums (O(N)).
Differentiation instruments need every pair within a market, so they are computed on tiles of at most
`TILE_ELEMENTS` pairs: markets of similar size padded together, and rows of a large market split into blocks,
never one J x J matrix per market for all markets at once (PyBLP issue #141).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.exceptions import DataError, SpecificationError
from blp.primitives.columns import ignored_columns, numbered_columns
from blp.primitives.products import DataLike, as_frame, ids_column, require_columns

if TYPE_CHECKING:  # types only: the spec stays a light import
    from blp.spec import InstrumentsSpec

TILE_ELEMENTS = 1 << 21
VERSIONS = ('local', 'quadratic')


def _characteristics(formulation: Formulation, product_data: DataLike,
                     where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, market codes, firm codes) for a builder."""
    if not isinstance(formulation, Formulation):
        raise SpecificationError(f'{where} must be a Formulation', parameter=where)
    if formulation.absorb:
        raise SpecificationError(f'{where} cannot absorb fixed effects', parameter=where)
    frame = as_frame(product_data, 'product_data')
    require_columns(frame, ['market_ids', 'firm_ids'], 'product_data')
    markets = pd.factorize(pd.Series(ids_column(frame, 'market_ids', 'product_data')))[0]
    firms = pd.factorize(pd.Series(ids_column(frame, 'firm_ids', 'product_data')))[0]
    X = formulation.build(frame, where).matrix
    return X, markets, firms


def build_blp_instruments(formulation: Formulation, product_data: DataLike) -> np.ndarray:
    """Sums of characteristics of the firm's other products and of rivals' products (N x 2K), as PyBLP."""
    X, markets, firms = _characteristics(formulation, product_data, 'blp instruments formulation')
    pairs = pd.factorize(pd.Series(markets) * (firms.max() + 1) + firms)[0]
    own = _group_sums(X, pairs) - X
    rival = _group_sums(X, markets) - X - own
    return np.ascontiguousarray(np.c_[own, rival])


def _group_sums(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row replaced by the sum of X over its group."""
    sums = np.zeros((groups.max() + 1, X.shape[1]))
    np.add.at(sums, groups, X)
    return sums[groups]


def build_differentiation_instruments(formulation: Formulation, product_data: DataLike, version: str = 'local',
                                      interact: bool = False) -> np.ndarray:
    """Gandhi–Houde differentiation instruments [Other, Rival] (N x 2K without interactions), as PyBLP."""
    if version not in VERSIONS:
        raise SpecificationError("version must be 'local' or 'quadratic'", parameter='version')
    X, markets, firms = _characteristics(formulation, product_data, 'differentiation instruments formulation')
    N, K = X.shape
    if version == 'quadratic':
        terms = [(k1, k2) for k1 in range(K) for k2 in range(k1, K if interact else k1 + 1)]
        sd = np.zeros(K)
    else:
        terms = [(k1, k2) for k1 in range(K) for k2 in (range(K) if interact else [-1])]
        squares, count = np.zeros(K), 0
        for tile in _tiles(X, markets, firms):
            squares += np.einsum('tjkl->l', np.where(tile.pairs[..., None], tile.distances ** 2, 0.0))
            count += int(tile.pairs.sum())
        sd = np.sqrt(squares / count) if count else np.full(K, np.nan)
    instruments = np.zeros((N, 2 * len(terms)))
    for tile in _tiles(X, markets, firms):
        d, others = tile.distances, tile.pairs
        own = others & tile.same_firm
        rival = tile.columns & ~tile.same_firm
        columns = []
        for k1, k2 in terms:
            if version == 'quadratic':
                term = d[..., k1] * d[..., k2]
            else:
                with np.errstate(invalid='ignore'):
                    close = others & (np.abs(d[..., k1]) < sd[k1])
                term = close.astype(float) if k2 < 0 else np.where(close, d[..., k2], 0.0)
            columns.append(((own * term).sum(axis=2), (rival * term).sum(axis=2)))
        block = np.stack([c[0] for c in columns] + [c[1] for c in columns], axis=2)  # T_c x B x 2 * terms
        instruments[tile.rows[tile.valid]] = block[tile.valid]
    return instruments


class _Tile:
    """Pairs (j, k) for a block of rows j of some markets, padded: distances d_jk = x_j - x_k (T x B x J x K)."""

    def __init__(self, rows: np.ndarray, valid: np.ndarray, distances: np.ndarray, columns: np.ndarray,
                 pairs: np.ndarray, same_firm: np.ndarray) -> None:
        self.rows, self.valid, self.distances = rows, valid, distances
        self.columns = columns        # k is a real product of the market (T x B x J)
        self.pairs = pairs            # j and k real and j != k
        self.same_firm = same_firm


def _tiles(X: np.ndarray, markets: np.ndarray, firms: np.ndarray) -> Iterator[_Tile]:
    """Markets sorted by size, chunked so that a chunk's padded pairs fit `TILE_ELEMENTS`; large markets by row
    blocks."""
    budget = TILE_ELEMENTS
    order = np.argsort(markets, kind='stable')
    counts = np.bincount(markets)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    by_size = np.argsort(counts, kind='stable')
    index = 0
    while index < by_size.size:
        width = counts[by_size[index]]
        # grow the chunk while the widest market (the last, as they are sorted) keeps it within the budget
        end = index + 1
        while end < by_size.size and (end + 1 - index) * counts[by_size[end]] ** 2 <= budget:
            end += 1
        chunk = by_size[index:end]
        width = counts[chunk].max()
        position = np.arange(width)
        real = position[None, :] < counts[chunk][:, None]                                   # T_c x J
        rows = np.where(real, starts[chunk][:, None] + np.minimum(position[None, :], counts[chunk][:, None] - 1), 0)
        rows = order[rows]
        x = np.where(real[..., None], X[rows], 0.0)                                          # T_c x J x K
        f = np.where(real, firms[rows], -1)
        block = max(1, budget // max(1, chunk.size * width))
        for first in range(0, width, block):
            last = min(width, first + block)
            rows_b, real_b = rows[:, first:last], real[:, first:last]
            distances = x[:, first:last, None, :] - x[:, None, :, :]                       # T_c x B x J x K
            columns = np.broadcast_to(real[:, None, :], (chunk.size, last - first, width)) & real_b[:, :, None]
            diagonal = position[first:last, None] == position[None, :]
            yield _Tile(rows_b, real_b, distances, columns, columns & ~diagonal[None],
                        f[:, first:last, None] == f[:, None, :])
        index = end


def built_instruments(spec: InstrumentsSpec, product_data: DataLike) -> np.ndarray:
    """The instruments a `blp.spec.InstrumentsSpec` asks for: BLP instruments first, then differentiation."""
    parts = []
    if spec.blp is not None:
        parts.append(build_blp_instruments(Formulation(spec.blp), product_data))
    differentiation = spec.differentiation
    if differentiation is not None:
        parts.append(build_differentiation_instruments(Formulation(differentiation.formula), product_data,
                                                       differentiation.version, differentiation.interact))
    return np.column_stack(parts)


def with_built_instruments(spec: Optional[Any], product_data: DataLike) -> DataLike:
    """Product data with the spec's built instruments appended as `demand_instruments<n>` columns, numbered on from
    the ones PyBLP's rule reads (a single `demand_instruments` column becomes `demand_instruments0`); the data itself
    is not modified. Data with numbered instruments that the rule leaves out (after a gap) are refused: the built
    ones would fill the gap and bring them back in."""
    if spec is None or (spec.blp is None and spec.differentiation is None):
        return product_data
    frame = as_frame(product_data, 'product_data').copy()
    ignored = ignored_columns(frame, 'demand_instruments')
    if ignored:
        raise DataError(f"product_data columns {', '.join(ignored)} come after a gap in the demand_instruments "
                        f"numbering, so PyBLP's rule ignores them, and built instruments numbered after the others "
                        f"would change which are read; renumber or drop them", column=ignored[0],
                        dataset='product_data')
    frame = frame.rename(columns={'demand_instruments': 'demand_instruments0'})
    matrix = built_instruments(spec, frame)
    first = len(numbered_columns(frame, 'demand_instruments'))
    for offset in range(matrix.shape[1]):
        frame[f'demand_instruments{first + offset}'] = matrix[:, offset]
    return frame
