"""How post-estimation reads its arguments: market selection, vectors and flags per product, firms and ownership,
costs, utilities at other prices, agent groups, and the shapes results go back in (PyBLP's arrays or, with
`as_dict=True`, JSON-ready dicts labelled by market and product id). `PostEstimation` does the economics on top.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Optional, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blp.exceptions import SpecificationError
from blp.model.choices import Choices
from blp.post.at_estimates import DemandAtEstimates
from blp.serialization import jsonable
from blp.supply import bertrand as supply

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.problem import Problem
    from blp.estimation.results import ProblemResults


class MarketArguments:
    """State at the estimates and argument handling shared by every post-estimation method (mixed into
    `ProblemResults`, which supplies `problem`, `delta`, `beta`, `sigma`, `pi`, `rho` and their labels)."""

    problem: Problem
    gamma: np.ndarray  # K3 x 1: moves costs with shares when X3 reads them (`constant_costs=False`)
    # Costs implied by a joint demand-and-supply estimate (ProblemResults sets them); None for demand only.
    estimated_costs: Optional[np.ndarray] = None
    # Prices delta is at (N) when they are not product_data's: a bootstrap draw's equilibrium prices.
    _drawn_prices: Optional[np.ndarray] = None

    def _column(self, name: str) -> Optional[np.ndarray]:
        """N values of a product_data column (None without it); prices are a bootstrap draw's when it has its own."""
        if name == 'prices' and self._drawn_prices is not None:
            return self._drawn_prices
        frame = self.problem.products.frame
        return frame[name].to_numpy(dtype=float) if name in frame.columns else None

    # ---------------------------------------------------------------- cached state at the estimates
    @cached_property
    def _model(self) -> DemandAtEstimates:
        return DemandAtEstimates.from_results(cast('ProblemResults', self))  # MarketArguments is ProblemResults' base

    @cached_property
    def _choices(self) -> Choices:
        return self._model.choose()

    @cached_property
    def _observed_shares(self) -> np.ndarray:
        return self._layout.pad(self.problem.products.shares)

    @cached_property
    def _price_jacobian(self) -> np.ndarray:
        model = self._model
        return model.jacobian(self._choices, model.slopes('prices'))

    @property
    def _layout(self) -> Any:
        return self.problem.products.layout

    @cached_property
    def _market_order(self) -> np.ndarray:
        """Market indices in sorted market-id order, PyBLP's order for market-level outputs (first appearance if the
        ids cannot be sorted)."""
        markets = self._layout.markets
        try:
            return np.array(sorted(range(markets.size), key=lambda t: markets[t]), dtype=np.intp)
        except TypeError:
            return np.arange(markets.size)

    @property
    def unique_market_ids(self) -> np.ndarray:
        """Market ids in the order of the rows of market-level outputs (sorted, as PyBLP's)."""
        return self._layout.markets[self._market_order]

    # ---------------------------------------------------------------- arguments
    def _market(self, market_id: Any) -> Optional[int]:
        """Index of the market `market_id` (None for all markets); as PyBLP, a one-element list, tuple or array
        stands for its element (published code passes `market_id=['C01Q1']`)."""
        if market_id is None:
            return None
        if isinstance(market_id, (list, tuple, np.ndarray)):
            ids = np.asarray(market_id, dtype=object).reshape(-1)
            if ids.size != 1:
                raise SpecificationError(f'market_id must be one market id (or a list of one), not {ids.size} of them',
                                         parameter='market')
            market_id = ids[0]
        markets = self._layout.markets
        for t, market in enumerate(markets):
            if market == market_id or str(market) == str(market_id):
                return t
        raise SpecificationError(f'market {market_id!r} is not in the product data', parameter='market')

    def _rows(self, t: int) -> np.ndarray:
        """Rows of market t in product order."""
        layout = self._layout
        rows = np.flatnonzero(layout.market_index == t)
        return rows[np.argsort(layout.position[rows])]

    def _full(self, values: Any, name: str, t: Optional[int], default: np.ndarray, dtype: Any = float) -> np.ndarray:
        """N values from N rows, or from market t's rows with `default` (N) elsewhere."""
        values = np.asarray(values, dtype=dtype).reshape(-1)
        N = self.problem.N
        if values.size == N:
            return values
        if t is not None and values.size == self._layout.counts[t]:
            full = np.array(default, dtype=dtype)
            full[self._rows(t)] = values
            return full
        where = f' or {self._layout.counts[t]} (the products of market {self._layout.markets[t]!r})' if t is not None \
            else ''
        raise SpecificationError(f'{name} must have {N} rows (one per product){where}, not {values.size}',
                                 parameter=name)

    def _product_values(self, values: Any, name: str, t: Optional[int], default: Optional[np.ndarray]) -> np.ndarray:
        """Padded T x J values of a numeric product argument, `default` (padded) when it is None."""
        layout = self._layout
        if values is None:
            if default is None:
                raise SpecificationError(f'{name} are needed: product_data has no {name} column', parameter=name)
            return default
        fallback = layout.unpad(default) if default is not None else np.full(self.problem.N, np.nan)
        full = self._full(values, name, t, fallback)
        selected = full if t is None else full[self._rows(t)]
        if not np.isfinite(selected).all():
            raise SpecificationError(f'{name} must be finite', parameter=name)
        return layout.pad(full)

    def _product_flags(self, values: Any, name: str, t: Optional[int]) -> np.ndarray:
        """Padded T x J booleans (False by default)."""
        if values is None:
            return np.zeros(self._layout.mask.shape, dtype=bool)
        full = self._full(values, name, t, np.zeros(self.problem.N, dtype=bool), dtype=bool)
        return self._layout.pad(full.astype(float)) > 0

    def _firm_ids(self, firm_ids: Optional[ArrayLike], t: Optional[int]) -> np.ndarray:
        """N firm ids: the given ones (N, or market t's) or product_data's."""
        default = self.problem.products.firm_ids
        if firm_ids is None:
            if default is None:
                raise SpecificationError('product_data has no firm_ids column: pass firm_ids or ownership',
                                         parameter='firm_ids')
            return default
        fallback = default if default is not None else np.array([f'row {n}' for n in range(self.problem.N)],
                                                                  dtype=object)
        return self._full(firm_ids, 'firm_ids', t, fallback, dtype=object)

    def _same_firm(self, firm_ids: np.ndarray) -> np.ndarray:
        codes = pd.factorize(pd.Series(firm_ids, dtype=object))[0]
        layout = self._layout
        return supply.ownership_matrices(layout.pad(codes.astype(float), fill=-1).astype(np.intp), layout.mask)

    def _ownership(self, firm_ids: Optional[ArrayLike], ownership: Optional[ArrayLike], t: Optional[int]) -> np.ndarray:
        """Padded T x J x J ownership: PyBLP-style matrices (one row per product and at least max J columns, or
        market t's J_t x J_t block, other markets then being single-product firms) or same-firm indicators. With
        neither given, product_data's `ownership0..` columns when it has them (PyBLP's default), else its firm_ids."""
        if ownership is None and firm_ids is None and self.problem.products.ownership.shape[1]:
            ownership = self.problem.products.ownership
        if ownership is None:
            return self._same_firm(self._firm_ids(firm_ids, t))
        layout = self._layout
        matrix = np.asarray(ownership, dtype=float)
        if matrix.ndim == 2 and matrix.shape[0] == self.problem.N and matrix.shape[1] >= layout.width:
            padded = layout.pad(matrix[:, :layout.width])
        elif t is not None and matrix.ndim == 2 and matrix.shape[0] == layout.counts[t] <= matrix.shape[1]:
            count = layout.counts[t]
            padded = np.tile(np.eye(layout.width), (layout.T, 1, 1))
            padded[t] = 0.0
            padded[t, :count, :count] = matrix[:, :count]
        else:
            raise SpecificationError(f'ownership must have one row per product and at least {layout.width} columns',
                                     parameter='ownership')
        mask = layout.mask
        return np.where(mask[:, :, None] & mask[:, None, :], np.nan_to_num(padded), 0.0)

    def _costs(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
               t: Optional[int] = None) -> np.ndarray:
        """Padded marginal costs c = p - eta under the given (default: observed) ownership; with a supply side and
        the observed ownership, the costs the estimate implies (clipped to costs_bounds as in estimation)."""
        model = self._model
        if model.prices is None:
            raise SpecificationError('costs need a prices column in product_data', parameter='prices')
        estimated = self.estimated_costs
        if estimated is not None and firm_ids is None and ownership is None:
            return self._layout.pad(estimated[:, 0])
        H = self._ownership(firm_ids, ownership, t)
        return model.prices - supply.eta(self._price_jacobian, H, self._observed_shares, model.mask)

    def _given_costs(self, costs: Optional[ArrayLike], t: Optional[int]) -> np.ndarray:
        """Padded costs: the given ones, or `compute_costs()` under the observed ownership."""
        return self._costs(t=t) if costs is None else self._product_values(costs, 'costs', t, None)

    def _utilities(self, prices: Optional[ArrayLike], delta: Any, t: Optional[int],
                   model: Optional[DemandAtEstimates] = None) -> np.ndarray:
        """Utilities at other prices and/or mean utilities; with delta given, prices move only mu (PyBLP). `model`:
        demand with other agents (default: the problem's)."""
        model = self._model if model is None else model
        utilities = model.utilities
        if delta is not None:
            new = self._product_values(delta, 'delta', t, model.delta)
            utilities = model.delta_moved(np.where(model.mask, new - model.delta, 0.0), utilities)
        if prices is not None:
            new = self._product_values(prices, 'prices', t, model.prices)
            slopes = model.slopes('prices', random_only=delta is not None)
            utilities = model.shifted(np.where(model.mask, new - model.prices, 0.0), slopes, utilities)
        return utilities

    def _values(self, name: Optional[str]) -> np.ndarray:
        """Padded values of the characteristic x (delta when `name` is None)."""
        if name is None:
            return self._model.delta
        values = self._column(name)
        if values is None:
            raise SpecificationError(f'{name!r} is not a column of product_data', parameter='name')
        return self._layout.pad(values)

    def _agent_groups(self, groups: Any) -> tuple[np.ndarray, list]:
        """Padded T x I group codes (-1 for padded agents) and the group labels, from a column of the agent data
        (in `problem.agents.frame`) or values aligned with its rows."""
        agents = self.problem.agents
        if agents is None:
            raise SpecificationError('agent groups need agents: this is a logit or nested logit problem',
                                     parameter='agent_groups')
        if isinstance(groups, str):
            if agents.frame is None or groups not in agents.frame.columns:
                raise SpecificationError(f'agent_data has no {groups!r} column', parameter='agent_groups')
            groups = agents.frame[groups].to_numpy()
        groups = np.asarray(groups, dtype=object).reshape(-1)
        if groups.size != agents.layout.market_index.size:
            raise SpecificationError(f'agent_groups must have one value per agent ({agents.layout.market_index.size})',
                                     parameter='agent_groups')
        codes, labels = pd.factorize(pd.Series(groups, dtype=object), sort=True)
        padded = agents.layout.pad(codes.astype(float), fill=-1).astype(np.intp)
        return padded, [str(label) for label in labels]

    # ---------------------------------------------------------------- outputs
    def _product_ids(self, t: int) -> list[str]:
        ids = self.problem.products.product_ids
        rows = self._rows(t)
        return [str(v) for v in (ids[rows] if ids is not None else self._layout.position[rows])]

    def _markets_out(self, t: Optional[int]) -> Any:
        """The markets an output covers, in PyBLP's (sorted) order."""
        return self._market_order if t is None else [t]

    def _matrices(self, padded: np.ndarray, t: Optional[int], as_dict: bool) -> Any:
        layout = self._layout
        if as_dict:
            return {str(layout.markets[s]): {'product_ids': self._product_ids(s),
                                             'matrix': jsonable(padded[s, :layout.counts[s], :layout.counts[s]])}
                    for s in self._markets_out(t)}
        if t is not None:
            return padded[t, :layout.counts[t], :layout.counts[t]].copy()
        stacked = layout.unpad(padded).astype(float)
        stacked[~layout.mask[layout.market_index]] = np.nan
        return stacked

    def _vectors(self, padded: np.ndarray, t: Optional[int], as_dict: bool) -> Any:
        layout = self._layout
        if as_dict:
            return {str(layout.markets[s]): {'product_ids': self._product_ids(s),
                                             'values': jsonable(padded[s, :layout.counts[s]])}
                    for s in self._markets_out(t)}
        if t is not None:
            return padded[t, :layout.counts[t]].reshape(-1, 1).copy()
        return layout.unpad(padded).reshape(-1, 1).astype(float)

    def _scalars(self, values: np.ndarray, t: Optional[int], as_dict: bool) -> Any:
        if as_dict:
            return {str(self._layout.markets[s]): jsonable(values[s]) for s in self._markets_out(t)}
        if t is None:
            return values[self._market_order].reshape(-1, 1).astype(float)
        return values[[t]].reshape(1, 1).astype(float)

