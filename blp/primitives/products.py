"""Product and agent data: validation with messages that name the column, market and row, and the padded
(market x product x agent) layout the vectorized market math runs on.

Markets keep their order of first appearance and products their order within a market, so every array the core
returns lines up with the rows the user passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from blp.exceptions import DataError
from blp.primitives.columns import numbered_columns

DataLike = Union[pd.DataFrame, Mapping[str, Any], np.ndarray]


def _fields(data: Union[Mapping[str, Any], np.ndarray], dataset: str) -> dict[str, Any]:
    """A mapping's entries, or a structured array's (PyBLP's record arrays) fields."""
    if not isinstance(data, np.ndarray):
        return dict(data)
    if not data.dtype.names:
        raise DataError(f'{dataset} must be a DataFrame, a mapping of columns or a structured array', dataset=dataset)
    return {name: data[name] for name in data.dtype.names}


def as_frame(data: DataLike, dataset: str, notes: Optional[list[str]] = None) -> pd.DataFrame:
    """Accept a DataFrame, a mapping of columns or a structured array (PyBLP accepts all three) and return a DataFrame.

    In a mapping, an N x 1 value is a column and an N x K value `name` a matrix field, as PyBLP reads them: its columns
    become `name0` .. `name<K-1>`, and `name<n>` entries given beside it are left out, as PyBLP leaves them (said in
    `notes` when a list is given)."""
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
    else:
        columns: dict[str, Any] = {}
        matrices: dict[str, np.ndarray] = {}
        for key, value in _fields(data, dataset).items():
            if np.ndim(value) == 2 and isinstance(key, str):
                matrix = np.asarray(value)
                if matrix.shape[1] == 1:
                    columns[key] = matrix[:, 0]
                elif matrix.shape[1] > 1:
                    matrices[key] = matrix
                continue
            columns[key] = np.asarray(value).ravel() if np.ndim(value) <= 1 else list(value)
        for key, matrix in matrices.items():
            beside = [column for column in columns if isinstance(column, str) and column != key
                      and column.startswith(key) and column[len(key):].isdigit()]
            if beside and notes is not None:
                notes.append(f"{dataset} entries {', '.join(beside)} are ignored: the {key!r} matrix is the whole "
                             f"field, as in PyBLP")
            for column in beside:
                del columns[column]
            columns.update({f'{key}{index}': matrix[:, index] for index in range(matrix.shape[1])})
        try:
            frame = pd.DataFrame(columns)
        except ValueError as exception:
            raise DataError(f'{dataset}: columns must all have the same length ({exception})', dataset=dataset) from None
    if frame.empty:
        raise DataError(f'{dataset} has no rows', dataset=dataset)
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], dataset: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise DataError(f"{dataset} has no {column!r} column (columns: {', '.join(map(str, frame.columns))})",
                            column=column, dataset=dataset)


def ids_column(frame: pd.DataFrame, column: str, dataset: str) -> np.ndarray:
    """An identifier column as an object array, refusing missing values."""
    values = frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f'{dataset} column {column!r} is missing in row {row}', column=column, row=row,
                        dataset=dataset)
    # Each distinct id becomes one Python object that every row shares: converted row by row, a million rows held
    # a million objects (about 36 MB per id column at N = 10^6) for a few thousand markets.
    codes, distinct = pd.factorize(values, sort=False)
    return pd.Series(distinct).to_numpy(dtype=object)[codes]


def numeric_column(frame: pd.DataFrame, column: str, dataset: str, market_ids: Optional[np.ndarray] = None) -> np.ndarray:
    """A finite float column, naming the first bad row and its market."""
    try:
        values = pd.to_numeric(frame[column], errors='raise').to_numpy(dtype=float)
    except (ValueError, TypeError):
        coerced = pd.to_numeric(frame[column], errors='coerce').to_numpy(dtype=float)
        row = int(np.flatnonzero(np.isnan(coerced))[0])
        raise DataError(f'{dataset} column {column!r} is not numeric in row {row}', column=column, row=row,
                        market=None if market_ids is None else market_ids[row], dataset=dataset) from None
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f'{dataset} column {column!r} is not finite ({values[row]}) in row {row}', column=column,
                        row=row, market=None if market_ids is None else market_ids[row], dataset=dataset)
    return values


@dataclass(frozen=True)
class Layout:
    """Where each row sits in the padded (T x J) arrays: market index and position within the market."""

    markets: np.ndarray     # T market ids in order of first appearance
    market_index: np.ndarray  # N
    position: np.ndarray    # N
    counts: np.ndarray      # T

    @classmethod
    def from_ids(cls, market_ids: np.ndarray) -> 'Layout':
        codes, markets = pd.factorize(pd.Series(market_ids, dtype=object), sort=False)
        counts = np.bincount(codes, minlength=len(markets))
        order = np.argsort(codes, kind='stable')
        position = np.empty(codes.size, dtype=np.intp)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        position[order] = np.arange(codes.size) - np.repeat(starts, counts)
        return cls(np.asarray(markets, dtype=object), codes.astype(np.intp), position, counts)

    @property
    def T(self) -> int:
        return self.markets.size

    @property
    def width(self) -> int:
        return int(self.counts.max())

    @property
    def mask(self) -> np.ndarray:
        return np.arange(self.width)[None, :] < self.counts[:, None]

    def pad(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, ...) -> (T, width, ...) with `fill` where a market has fewer rows."""
        padded = np.full((self.T, self.width, *values.shape[1:]), fill, dtype=np.result_type(values, float))
        padded[self.market_index, self.position] = values
        return padded

    def unpad(self, padded: np.ndarray) -> np.ndarray:
        """(T, width, ...) -> (N, ...) in the original row order."""
        return padded[self.market_index, self.position]


@dataclass(frozen=True)
class Products:
    """Validated product data: ids, shares and the optional id columns PyBLP recognises.

    Also PyBLP's record of the problem's product matrices (`problem.products.X1`, `.X2`, `.X3`, `.ZD`, `.ZS`: N x K,
    fixed effects absorbed, instruments in PyBLP's column order: excluded instruments, then exogenous
    characteristics), set by `Problem`, and any product data column as an N x 1 array (`problem.products.prices`).
    The id fields stay vectors (N) or None, as the core reads them, where PyBLP's record has N x 1 or N x 0."""

    frame: pd.DataFrame
    market_ids: np.ndarray
    shares: np.ndarray
    layout: Layout
    product_ids: Optional[np.ndarray]
    firm_ids: Optional[np.ndarray]
    nesting_ids: Optional[np.ndarray]
    clustering_ids: Optional[np.ndarray]
    warnings: tuple[str, ...] = ()  # what reading the data left out, for the problem to warn about
    matrices: Mapping[str, np.ndarray] = field(default_factory=dict)
    variables: tuple[str, ...] = ()  # the data columns the formulations use, PyBLP's record's last fields
    # A matrix's columns in PyBLP's order, applied when it is read: a reordered copy of ZD would be held for the
    # problem's lifetime (61 MB at N = 10^6 with eight instruments) only for the record.
    column_orders: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def N(self) -> int:
        return self.shares.size

    def with_matrices(self, variables: Optional[tuple[str, ...]] = None,
                      column_orders: Optional[Mapping[str, Sequence[int]]] = None, **matrices: np.ndarray) -> 'Products':
        """The same products recording other matrices (X1, X2, X3, ZD, ZS, ZC, and the absorbed fixed effects' ids
        `demand_ids`, `supply_ids`), the order their columns are read in, and the formulations' `variables`."""
        orders = {**self.column_orders, **{name: tuple(order) for name, order in (column_orders or {}).items()}}
        return replace(self, matrices={**self.matrices, **matrices}, column_orders=orders,
                       variables=self.variables if variables is None else variables)

    def to_record(self) -> np.recarray:
        """PyBLP's `problem.products`: a record array of N x K fields, ids as objects, in PyBLP's field order."""
        N = self.N

        def ids(values: Optional[np.ndarray]) -> np.ndarray:
            return np.empty((N, 0), dtype=object) if values is None else np.asarray(values, dtype=object)[:, None]

        def matrix(name: str, dtype: Any = float) -> np.ndarray:
            return np.asarray(self._matrix(name), dtype=dtype).reshape(N, -1)

        fields = {'market_ids': ids(self.market_ids), 'firm_ids': ids(self.firm_ids),
                  'demand_ids': matrix('demand_ids', object), 'supply_ids': matrix('supply_ids', object),
                  'nesting_ids': ids(self.nesting_ids), 'product_ids': ids(self.product_ids),
                  'clustering_ids': ids(self.clustering_ids), 'lag_indices': matrix('lag_indices', np.int64),
                  'ownership': self.ownership, 'shares': self.shares[:, None], 'ZD': matrix('ZD'), 'ZS': matrix('ZS'),
                  'ZC': matrix('ZC'), 'X1': matrix('X1'), 'X2': matrix('X2'), 'X3': matrix('X3')}
        for name in self.variables:
            column = self.frame[name].to_numpy()
            fields[name] = column.astype(float if np.issubdtype(column.dtype, np.number) else object)[:, None]
        return record_array(fields)

    def __repr__(self) -> str:
        """As PyBLP's `problem.products` displays: its record array."""
        return repr(self.to_record())

    X1 = property(lambda self: self._matrix('X1'), doc='X1 (N x K1), fixed effects absorbed')
    X2 = property(lambda self: self._matrix('X2'), doc='X2 (N x K2; N x 0 without random coefficients)')
    X3 = property(lambda self: self._matrix('X3'), doc='X3 (N x K3, fixed effects absorbed; N x 0 without supply)')
    ZD = property(lambda self: self._matrix('ZD'), doc="ZD (N x MD) in PyBLP's column order, fixed effects absorbed")
    ZS = property(lambda self: self._matrix('ZS'), doc="ZS (N x MS) in PyBLP's column order (N x 0 without supply)")
    ZC = property(lambda self: self._matrix('ZC'), doc='covariance instruments ZC (N x MC; N x 0 without supply)')

    def _matrix(self, name: str) -> np.ndarray:
        matrix, order = self.matrices.get(name, np.zeros((self.N, 0))), self.column_orders.get(name)
        return matrix if order is None else matrix[:, list(order)]

    @property
    def ownership(self) -> np.ndarray:
        """N x J from `ownership0..` (PyBLP's field), N x 0 without them."""
        columns = numbered_columns(self.frame, 'ownership')
        return self.frame[columns].to_numpy(dtype=float) if columns else np.zeros((self.N, 0))

    if not TYPE_CHECKING:  # hidden from the type checker, so that a misspelt field of the core's is still an error
        def __getattr__(self, name: str) -> np.ndarray:
            """A product data column as PyBLP's record holds it (N x 1), e.g. `prices`."""
            frame = self.__dict__.get('frame')
            if name.startswith('_') or frame is None or name not in frame.columns:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            return frame[name].to_numpy()[:, None]


def record_array(fields: Mapping[str, np.ndarray]) -> np.recarray:
    """A record array of N x K fields (PyBLP's layout: every field a matrix)."""
    rows = next(iter(fields.values())).shape[0]
    record = np.recarray(rows, dtype=[(name, values.dtype, (values.shape[1],)) for name, values in fields.items()])
    for name, values in fields.items():
        record[name] = values
    return record


def load_products(data: DataLike) -> Products:
    """Validate product data: market ids, shares in (0, 1), inside shares below one. product_ids may repeat within a
    market, as in PyBLP: they label products and group them (fixed effects, eliminated groups), never index them."""
    dataset = 'product_data'
    notes: list[str] = []
    frame = as_frame(data, dataset, notes)
    require_columns(frame, ['market_ids', 'shares'], dataset)
    market_ids = ids_column(frame, 'market_ids', dataset)
    shares = numeric_column(frame, 'shares', dataset, market_ids)
    outside = (shares <= 0) | (shares >= 1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(f'product_data shares must be in (0, 1): row {row} in market {market_ids[row]!r} has '
                        f'{shares[row]}', column='shares', market=market_ids[row], row=row, dataset=dataset)
    if 'prices' in frame.columns:  # a text cell would otherwise make prices a categorical variable of the formula
        numeric_column(frame, 'prices', dataset, market_ids)
    layout = Layout.from_ids(market_ids)
    inside = np.bincount(layout.market_index, weights=shares, minlength=layout.T)
    full = np.flatnonzero(inside >= 1)
    if full.size:
        market = layout.markets[full[0]]
        raise DataError(f'inside shares in market {market!r} sum to {inside[full[0]]:.6g}, which leaves no room for '
                        f'the outside good (they must sum below 1)', column='shares', market=market, dataset=dataset)
    optional = {name: ids_column(frame, name, dataset) if name in frame.columns else None
                for name in ('product_ids', 'firm_ids', 'nesting_ids', 'clustering_ids')}
    return Products(frame, market_ids, shares, layout, optional['product_ids'], optional['firm_ids'],
                    optional['nesting_ids'], optional['clustering_ids'], tuple(notes))


@dataclass(frozen=True)
class Agents:
    """Agents per market in the padded (T x I) layout: integration weights, nodes and demographics."""

    weights: np.ndarray       # T x I (zero where a market has fewer agents)
    nodes: np.ndarray         # T x I x K2
    demographics: np.ndarray  # T x I x D
    layout: Layout            # agents' own layout, markets ordered like the products'
    frame: Optional[pd.DataFrame]


def nodes_columns(frame: pd.DataFrame, dimensions: int) -> list[str]:
    """The nodes columns PyBLP reads (`nodes`, or `nodes0`, `nodes1`, ... up to the first missing number), at most
    `dimensions` of them (PyBLP drops extra columns; fewer columns than X2 has are assigned to sigma's nonzero
    columns at solve time)."""
    return numbered_columns(frame, 'nodes')[:dimensions]


def order_agents(frame: pd.DataFrame, product_layout: Layout, needs_all_markets: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Agent rows sorted into the product markets' order, refusing markets that exist on one side only."""
    dataset = 'agent_data'
    require_columns(frame, ['market_ids'], dataset)
    agent_markets = ids_column(frame, 'market_ids', dataset)
    known = {market: index for index, market in enumerate(product_layout.markets)}
    unknown = [(row, market) for row, market in enumerate(agent_markets) if market not in known]
    if unknown:
        row, market = unknown[0]
        raise DataError(f'agent_data has market {market!r} (row {row}), which has no products', column='market_ids',
                        market=market, row=row, dataset=dataset)
    codes = np.array([known[market] for market in agent_markets], dtype=np.intp)
    if needs_all_markets:
        present = np.bincount(codes, minlength=product_layout.T) > 0
        if not present.all():
            market = product_layout.markets[np.flatnonzero(~present)[0]]
            raise DataError(f'market {market!r} has products but no agents in agent_data', column='market_ids',
                            market=market, dataset=dataset)
    order = np.argsort(codes, kind='stable')
    return frame.iloc[order].reset_index(drop=True), product_layout.markets[codes[order]]


def check_weights(weights: np.ndarray, layout: Layout, dataset: str = 'agent_data') -> list[str]:
    """Integration weights must be nonnegative; weights that do not sum to one in a market are allowed (importance
    sampling, as in BLP's automobile data) but worth a warning, as PyBLP gives one. Returns the warnings."""
    negative = np.flatnonzero(weights < 0)
    if negative.size:
        row = int(negative[0])
        market = layout.markets[layout.market_index[row]]
        raise DataError(f'agent weights must be nonnegative: row {row} in market {market!r} has {weights[row]}',
                        column='weights', market=market, row=row, dataset=dataset)
    totals = np.bincount(layout.market_index, weights=weights, minlength=layout.T)
    wrong = np.flatnonzero(np.abs(totals - 1) > 1e-6)
    if not wrong.size:
        return []
    market = layout.markets[wrong[0]]
    return [f'agent weights do not sum to 1 in {wrong.size} market(s) (market {market!r}: '
            f'{totals[wrong[0]]:.10g}); they are used as given (importance sampling)']
