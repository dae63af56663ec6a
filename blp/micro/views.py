"""What users' micro callables see of one market, and how they are called: PyBLP's per-market views.

`compute_weights(t, products, agents)` and `compute_values(t, products, agents)` get `products` (J_t rows: `.size`,
`.X1`, `.X2`, `.X3`, `.market_ids`, `.product_ids`, `.firm_ids`, `.shares`, `.prices` and every product-data column by
name, each J_t x 1) and `agents` (I_t rows: `.size`, `.weights` I_t x 1, `.nodes` I_t x K2, `.demographics` I_t x D,
and every agent-data column by name, each I_t x 1). The micro block's compilation (`blp.micro.compiled`), simulated
micro data and micro scores (`blp.post`) build and call them the same way, through this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import pandas as pd

from blp.exceptions import SpecificationError
from blp.primitives.columns import numbered_columns
from blp.primitives.products import Agents

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.problem import Problem


class MarketView:
    """Named arrays of one market, read as attributes (PyBLP's record arrays: `products.X2`, `agents.demographics`)."""

    def __init__(self, size: int, arrays: dict[str, np.ndarray], kind: str) -> None:
        self.size, self._arrays, self._kind = size, arrays, kind

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get('_arrays', {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"{self.__dict__.get('_kind', 'market data')} have no field {name!r} "
                             f"(fields: {', '.join(sorted(arrays))})")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._arrays))


def market_columns(frame: Optional[pd.DataFrame], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of `frame` at `rows` as a column vector (floats where numeric)."""
    if frame is None:
        return {}
    columns = {}
    for name in frame.columns:
        if not isinstance(name, str) or not name.isidentifier():
            continue
        values = frame[name].to_numpy()[rows]
        if pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name]):
            values = values.astype(float)
        columns[name] = values.reshape(-1, 1)
    return columns


def call_market_function(function: Callable, t: Any, products: MarketView, agents: MarketView, what: str,
                         where: str) -> np.ndarray:
    """`function(t, products, agents)` as a finite array; what the user's code raised or returned wrong is a
    SpecificationError naming `what` failed in which market, for `where` (the parameter at fault)."""
    try:
        result = function(t, products, agents)
    except Exception as exception:  # the user's code: report what failed where, whatever it raised
        raise SpecificationError(f'{what} failed in market {t!r}: {type(exception).__name__}: {exception}',
                                 parameter=where) from exception
    try:
        array = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        raise SpecificationError(f'{what} returned something that is not an array of numbers in market {t!r}',
                                 parameter=where) from None
    if not np.isfinite(array).all():
        raise SpecificationError(f'{what} returned non-finite numbers in market {t!r}', parameter=where)
    return array


class MarketViews:
    """The per-market product and agent views of a problem, built on demand."""

    def __init__(self, problem: Problem, agents: Agents) -> None:
        self.problem = problem
        products = problem.products
        formulations = problem.product_formulations
        self.X1 = formulations[0].build(products.frame, 'X1 formulation').matrix
        X3 = getattr(problem, 'X3', None)
        self.X3 = np.zeros((products.N, 0)) if X3 is None else np.asarray(X3)
        self.agents = agents

    def products(self, t: int) -> MarketView:
        problem, layout = self.problem, self.problem.products.layout
        rows = np.flatnonzero(layout.market_index == t)
        arrays = market_columns(problem.products.frame, rows)
        arrays.update(X1=self.X1[rows], X2=problem.X2[rows], X3=self.X3[rows])
        product_ids = numbered_columns(problem.products.frame, 'product_ids')  # PyBLP's field: J_t x its columns
        arrays['product_ids'] = problem.products.frame[product_ids].to_numpy(dtype=object)[rows]
        for name in ('market_ids', 'firm_ids', 'nesting_ids', 'clustering_ids'):
            values = getattr(problem.products, name)
            arrays[name] = (values[rows] if values is not None else np.zeros(rows.size, dtype=object)[:, None][:, :0]) \
                .reshape(rows.size, -1)
        arrays['shares'] = problem.products.shares[rows].reshape(-1, 1)
        return MarketView(rows.size, arrays, 'products')

    def agents_in(self, t: int) -> MarketView:
        agents = self.agents
        I_t = int(agents.layout.counts[t])
        rows = np.flatnonzero(agents.layout.market_index == t)
        arrays = market_columns(agents.frame, rows) if agents.frame is not None else {}
        arrays.update(weights=agents.weights[t, :I_t, None], nodes=agents.nodes[t, :I_t],
                      demographics=agents.demographics[t, :I_t],
                      market_ids=np.full((I_t, 1), self.problem.products.layout.markets[t], dtype=object))
        return MarketView(I_t, arrays, 'agents')
