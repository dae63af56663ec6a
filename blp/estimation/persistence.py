r"""Persistent unobservables (PyBLP 1.3's `phi` with `lag_indices`): AR(1) xi and omega with cross terms,

    xi_jt    = phi_xi    L xi_jt + phi_xi_omega L omega_jt + innovation,
    omega_jt = phi_omega L omega_jt + phi_omega_xi L xi_jt  + innovation,

where `lag_indices` defines the lag operator L (a row pointing at itself starts a product's history). A linear block
whose moment type is not 'levels' has its moments on the innovation ('innovations', zero where a row has no lag) or
on the innovation's first difference ('differenced_innovations', zero unless the lag has a lag too). The transform is
linear in (y, X) of both blocks, so the stack quasi-differences y and X and concentrates b out of the transformed
system (the IV step depends on phi); d u'/d phi[e, f] = -L u_f with u_f the levels residual, transformed likewise.
PyBLP's list of (type, instruments) splits a block's instruments between types: each part is an equation of its own
(its Z columns, its block's y and X transformed by its type), all sharing the block's b.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from blp.exceptions import DataError, SpecificationError

MOMENT_TYPES = ('levels', 'innovations', 'differenced_innovations')


@dataclass(frozen=True)
class Lags:
    """The lag operator of `lag_indices`: which rows have a lag and which have a lag of their lag."""

    indices: np.ndarray   # N ints, a row's own index where it has no lag
    lagged: np.ndarray    # N booleans
    twice: np.ndarray     # N booleans

    @classmethod
    def of(cls, values: np.ndarray, market_ids: np.ndarray) -> 'Lags':
        """Validated as PyBLP validates them (integers in [0, N - 1], at least one initial period, each other row
        the lag of one row only), a DataError naming the row otherwise."""
        N = len(values)

        def refuse(message: str, row: int) -> DataError:
            return DataError(f'product_data lag_indices: {message}', column='lag_indices', row=row,
                             market=market_ids[row], dataset='product_data')

        numbers = np.asarray(values, dtype=float)
        bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < 0) | (numbers > N - 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise refuse(f'row {row} has {values[row]}, which is not a row index from 0 to {N - 1}', row)
        indices = numbers.astype(np.int64)
        lagged = indices != np.arange(N)
        if not (~lagged).any():
            raise refuse('no row points at itself, so no product has an initial period', 0)
        targets = indices[lagged]
        unique, counts = np.unique(targets, return_counts=True)
        if (counts > 1).any():
            target = int(unique[counts > 1][0])
            rows = np.flatnonzero(lagged & (indices == target))
            raise refuse(f'rows {int(rows[0])} and {int(rows[1])} both have row {target} as their lag', int(rows[1]))
        return cls(indices, lagged, lagged & lagged[indices])

    def difference(self, kind: str, x: np.ndarray, own: float, other: Optional[np.ndarray] = None,
                   cross: float = 0.0) -> np.ndarray:
        """x - own L x - cross L other, zero where there is no lag ('innovations'), or its first difference, zero
        unless the lag has a lag ('differenced_innovations')."""
        result = x - own * x[self.indices]
        if other is not None and cross:
            result = result - cross * other[self.indices]
        return self._finish(kind, result)

    def derivative(self, kind: str, u: np.ndarray) -> np.ndarray:
        """d difference / d (the coefficient on L u): -L u, transformed as the difference is."""
        return self._finish(kind, -u[self.indices])

    def _finish(self, kind: str, x: np.ndarray) -> np.ndarray:
        if kind == 'differenced_innovations':
            x = x - x[self.indices]
            keep = self.twice
        else:
            keep = self.lagged
        x = np.array(x, dtype=float)
        x[~keep] = 0
        return x


def moment_types(value: object, side: str, M: int) -> tuple[tuple[str, int], ...]:
    """A side's moment types as PyBLP's (type, instruments) tuples splitting its M instruments in order: a type
    alone uses all M; a list needs distinct types with counts from 0 to M that sum to M (PyBLP's refusals)."""
    if isinstance(value, str) and value in MOMENT_TYPES:
        return ((value, M),)
    parameter = f'{side}_moment_types'
    wrong = SpecificationError(f"{parameter} must be one of {', '.join(map(repr, MOMENT_TYPES))} or a list of (type, "
                               f"instruments) pairs with an integer from 0 to {M} instruments", parameter=parameter)
    if not isinstance(value, (tuple, list)):
        raise wrong
    for pair in value:
        if not isinstance(pair, tuple) or len(pair) != 2 or pair[0] not in MOMENT_TYPES or \
                isinstance(pair[1], bool) or not isinstance(pair[1], int) or not 0 <= pair[1] <= M:
            raise wrong
    if len({kind for kind, _ in value}) != len(value):
        raise SpecificationError(f'{parameter} cannot have duplicate types', parameter=parameter)
    if sum(count for _, count in value) != M:
        raise SpecificationError(f'{parameter} instrument counts must sum to the number of {side}-side instruments, '
                                 f'{M}', parameter=parameter)
    return tuple(value)


@dataclass(frozen=True)
class Persistence:
    """The equations of the linear blocks' moments (demand's, then supply's): per equation its side (the block it
    quasi-differences), moment type and which of the side's instrument columns it uses; the lags that
    quasi-difference them; phi (E x E) comes from the parameters' values, `phi_columns` say where its free elements
    are in theta."""

    lags: Lags
    groups: tuple[tuple[int, str, tuple[int, ...]], ...]   # (side, kind, instrument columns)
    phi_columns: tuple[tuple[int, int, int], ...]   # (theta index, row, column)

    def instruments(self, Zs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each equation's columns of its side's instruments."""
        return [Zs[side][:, list(columns)] for side, _, columns in self.groups]

    def transform(self, phi: np.ndarray, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each equation's values (its side's y, X or dy/dtheta, given one per side) quasi-differenced by its type."""
        transformed = []
        for e, kind, _ in self.groups:
            x = values[e]
            if kind == 'levels':
                transformed.append(x)
                continue
            other = 1 - e if len(values) > 1 else None
            transformed.append(self.lags.difference(kind, x, float(phi[e, e]), None if other is None else
                                                    values[other], 0.0 if other is None else float(phi[e, other])))
        return transformed

    def add_phi_derivatives(self, jacobians: list[np.ndarray], levels: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each transformed equation's Jacobian with d u'/d phi in the columns of phi's free elements."""
        jacobians = [jacobian.copy() for jacobian in jacobians]
        for index, row, column in self.phi_columns:
            for equation, (side, kind, _) in enumerate(self.groups):
                if side == row and kind != 'levels':
                    jacobians[equation][:, index] += self.lags.derivative(kind, levels[column])
        return jacobians
