"""Post-estimation on `ProblemResults`, with PyBLP's method names, arguments and return shapes.

Arrays come back as PyBLP returns them: product values N x 1 and matrices N x max J (rows in product order, NaN past
a market's products), market values T x 1 (markets sorted by id as in PyBLP, see `unique_market_ids`), or one
market's rows with `market_id=`. With `as_dict=True` the same numbers come JSON-ready (NaN as None), labelled by
market and product id: matrices `{market: {"product_ids": [...], "matrix": [[...]]}}`, product values
`{market: {"product_ids": [...], "values": [...]}}` and market values `{market: value}`.

Vector arguments (prices, costs, shares, firm_ids, prices_fixed) have one row per product, or with `market_id=` one
row per product of that market. This module only turns arguments into padded arrays and back; the numerics live in
`choice`, `substitution`, `supply` and `equilibrium`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Hashable, Optional, cast

import numpy as np
from numpy.typing import ArrayLike

from blp.configurations.solve_options import Iteration
from blp.exceptions import BLPError, SpecificationError
from blp.model.choices import Choices
from blp.post import micro_data, substitution
from blp.post.arguments import MarketArguments
from blp.post.at_estimates import DemandAtEstimates
from blp.post.counterfactual import before_after_table
from blp.post.diagonals import extract_diagonal_means, extract_diagonals
from blp.post.equilibrium import Equilibrium, solve_prices
from blp.post.passthrough import passthrough
from blp.primitives.columns import numbered_columns
from blp.serialization import jsonable
from blp.supply import bertrand as supply
from blp.supply.share_costs import ShareCosts

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults


class PostEstimation(MarketArguments):
    """Elasticities, diversion, supply, welfare and counterfactual prices at the estimates."""

    # ---------------------------------------------------------------- matrices
    def extract_diagonals(self, matrices: Any, market_id: Optional[Hashable] = None) -> np.ndarray:
        """PyBLP's: the own-product entries of per-market matrices (N x max J as returned here) as N x 1, or of one
        market's J x J matrix as J x 1 with `market_id`."""
        return extract_diagonals(self._layout, matrices, self._market(market_id))

    def extract_diagonal_means(self, matrices: Any, market_id: Optional[Hashable] = None) -> np.ndarray:
        """PyBLP's: the mean own-product entry per market, T x 1 (markets sorted as `unique_market_ids`), or 1 x 1
        with `market_id`."""
        return extract_diagonal_means(self._layout, self._market_order, matrices, self._market(market_id))

    # ---------------------------------------------------------------- demand
    def compute_demand_jacobians(self, name: Optional[str] = 'prices', market_id: Optional[Hashable] = None,
                                 as_dict: bool = False) -> Any:
        """ds_j / dx_k per market (rows: the product whose share responds)."""
        t = self._market(market_id)
        model = self._model
        return self._matrices(model.jacobian(self._choices, model.slopes(name)), t, as_dict)

    def compute_demand_hessians(self, name: str = 'prices', market_id: Optional[Hashable] = None) -> np.ndarray:
        """PyBLP's d2 s_j / dx_k dx_l: J x J x J in one market, else N x max J x max J (NaN past a market's
        products); pyRVtest reads them."""
        t = self._market(market_id)
        model = self._model
        hessians = model.hessians(self._choices, model.slopes(name))
        layout = self._layout
        if t is not None:
            count = layout.counts[t]
            return hessians[t, :count, :count, :count].copy()
        stacked = layout.unpad(hessians).astype(float)
        real = layout.mask[layout.market_index]
        stacked[~(real[:, :, None] & real[:, None, :])] = np.nan
        return stacked

    def compute_probabilities(self, prices: Optional[ArrayLike] = None, delta: Any = None, agent_data: Any = None,
                              integration: Any = None, market_id: Optional[Hashable] = None) -> np.ndarray:
        """PyBLP's agent choice probabilities s_ijt at the estimates or at other prices and/or mean utilities: J x I
        in one market, else N x max I (NaN past a market's agents); with `agent_data` and/or `integration`, those
        of other agents, read as `Problem` reads them."""
        t = self._market(market_id)
        model = self._model
        if agent_data is not None or integration is not None:
            other = self.problem.with_agents(agent_data, integration).model
            model = DemandAtEstimates.from_results(cast('ProblemResults', self), other)
        probabilities = model.choose(self._utilities(prices, delta, t, model)).probabilities
        agents = model.agent_mask
        if t is not None:
            return probabilities[t, :self._layout.counts[t]][:, agents[t]].copy()
        layout = self._layout
        stacked = layout.unpad(probabilities).astype(float)
        stacked[~agents[layout.market_index]] = np.nan
        return stacked

    def compute_elasticities(self, name: Optional[str] = 'prices', market_id: Optional[Hashable] = None,
                             as_dict: bool = False) -> Any:
        """E_jk = (x_k / s_j) ds_j / dx_k per market, for a characteristic x that enters X1 and/or X2 linearly (or
        delta when `name` is None). Diagonals are own elasticities."""
        t = self._market(market_id)
        model = self._model
        jacobian = model.jacobian(self._choices, model.slopes(name))
        return self._matrices(substitution.elasticities(jacobian, self._values(name), self._observed_shares), t,
                              as_dict)

    def compute_diversion_ratios(self, name: Optional[str] = 'prices', market_id: Optional[Hashable] = None,
                                 as_dict: bool = False) -> Any:
        """D_jk = -(ds_k/dx_j) / (ds_j/dx_j) per market: where j's lost sales go when x_j rises. The diagonal is the
        outside good's part, so each row sums to one (PyBLP's convention)."""
        t = self._market(market_id)
        model = self._model
        jacobian = model.jacobian(self._choices, model.slopes(name))
        return self._matrices(substitution.diversion_ratios(jacobian, model.mask), t, as_dict)

    def compute_long_run_diversion_ratios(self, market_id: Optional[Hashable] = None, as_dict: bool = False) -> Any:
        """D_jk = (s_k(-j) - s_k) / s_j per market: where j's sales go when j leaves the market; the diagonal is the
        outside good's part."""
        t = self._market(market_id)
        return self._matrices(substitution.long_run_diversion_ratios(self._model, self._observed_shares), t, as_dict)

    def compute_aggregate_elasticities(self, factor: float = 0.1, name: Optional[str] = 'prices',
                                       market_id: Optional[Hashable] = None, as_dict: bool = False) -> Any:
        """Per market, sum_j (s_j(x (1 + factor)) - s_j) / factor: how total inside demand responds when x rises
        by `factor` for every product (PyBLP's definition)."""
        factor = float(factor)
        if not np.isfinite(factor) or factor == 0:
            raise SpecificationError('factor must be a finite nonzero number', parameter='factor')
        t = self._market(market_id)
        values = substitution.aggregate_elasticities(self._model, name, self._values(name), self._observed_shares,
                                                     factor)
        return self._scalars(values, t, as_dict)

    def compute_shares(self, prices: Optional[ArrayLike] = None, delta: Any = None, market_id: Optional[Hashable] = None,
                       as_dict: bool = False) -> Any:
        """Shares at other prices (and/or mean utilities), holding xi and the estimates fixed: nobody re-prices."""
        t = self._market(market_id)
        shares = self._model.choose(self._utilities(prices, delta, t)).shares
        return self._vectors(shares, t, as_dict)

    def compute_group_shares(self, agent_groups: Any, prices: Optional[ArrayLike] = None, market_id: Optional[Hashable] = None,
                             as_dict: bool = False) -> Any:
        """Shares within groups of agents (e.g. income groups): sum_{i in g} w_i s_ij / sum_{i in g} w_i, at the
        estimated or at other prices. `agent_groups` is a column of the agent data or one value per agent row of
        `problem.agents.frame`. Returns {group: shares} (NaN where a market has no agent of the group), or with
        `as_dict` {market: {"product_ids": [...], "groups": {group: [...]}}}."""
        t = self._market(market_id)
        codes, labels = self._agent_groups(agent_groups)
        shares = group_shares(self._model.choose(self._utilities(prices, None, t)), codes, len(labels))
        if as_dict:
            layout = self._layout
            return {str(layout.markets[s]): {
                'product_ids': self._product_ids(s),
                'groups': {label: jsonable(shares[s, :layout.counts[s], g]) for g, label in enumerate(labels)}}
                for s in self._markets_out(t)}
        return {label: self._vectors(shares[:, :, g], t, False) for g, label in enumerate(labels)}

    def compute_consumer_surpluses(self, prices: Optional[ArrayLike] = None, keep_all: bool = False,
                                   eliminate_product_ids: Any = None, product_ids_index: int = 0,
                                   market_id: Optional[Hashable] = None, as_dict: bool = False) -> Any:
        """Consumer surplus per market in money, sum_i w_i log(1 + sum_j exp V_ij) / -alpha_i (nested logit: over
        the nests' inclusive values), with no income effects. `keep_all` returns each agent's surplus (T x I, NaN
        past a market's agents); `eliminate_product_ids` removes every product with these ids in column
        `product_ids_index` of PyBLP's product_ids field from the choice set (willingness to pay)."""
        t = self._market(market_id)
        model = self._model
        utilities = self._utilities(prices, None, t)
        if eliminate_product_ids is not None:
            frame = self.problem.products.frame
            columns = numbered_columns(frame, 'product_ids')  # a product_ids column, else product_ids0, 1, ...
            if not isinstance(product_ids_index, (int, np.integer)) or not 0 <= product_ids_index < len(columns):
                raise SpecificationError(f'product_ids_index {product_ids_index!r} has no column: product_data has '
                                         f"{', '.join(columns) or 'no product_ids columns'}",
                                         parameter='product_ids_index')
            ids = frame[columns[product_ids_index]].to_numpy()
            eliminated = np.isin(ids.astype(str), np.asarray(list(np.atleast_1d(eliminate_product_ids))).astype(str))
            utilities = model.without(self._layout.pad(eliminated.astype(float)) > 0, utilities)
        surpluses = model.consumer_surpluses(model.choose(utilities))
        if keep_all:
            counts = model.agent_mask.sum(axis=1)
            if as_dict:
                return {str(self._layout.markets[s]): jsonable(surpluses[s, :counts[s]]) for s in self._markets_out(t)}
            return surpluses[self._market_order] if t is None else surpluses[[t], :counts[t]].copy()
        return self._scalars((np.nan_to_num(surpluses) * model.weights).sum(axis=1), t, as_dict)

    def simulate_micro_data(self, dataset: Any, seed: Optional[int] = None) -> np.recarray:
        """Observations of a micro dataset drawn at the estimates (`blp.post.micro_data`): PyBLP's draws for a
        seed."""
        return micro_data.simulate_micro_data(self.problem, self._choices, dataset, seed, self._market_order,
                                              self._model.nests)

    # ---------------------------------------------------------------- supply
    def compute_costs(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
                      market_id: Optional[Hashable] = None,
                      as_dict: bool = False) -> Any:
        """Marginal costs c = p - eta implied by Bertrand-Nash pricing under the ownership (default: firm_ids)."""
        t = self._market(market_id)
        return self._vectors(self._costs(firm_ids, ownership, t), t, as_dict)

    def compute_markups(self, prices: Optional[ArrayLike] = None, costs: Optional[ArrayLike] = None,
                        market_id: Optional[Hashable] = None,
                        as_dict: bool = False) -> Any:
        """Lerner indices (p - c) / p; costs default to `compute_costs()`."""
        t = self._market(market_id)
        p = self._product_values(prices, 'prices', t, self._model.prices)
        c = self._given_costs(costs, t)
        with np.errstate(divide='ignore', invalid='ignore'):
            return self._vectors((p - c) / p, t, as_dict)

    def compute_profits(self, prices: Optional[ArrayLike] = None, shares: Any = None, costs: Optional[ArrayLike] = None,
                        market_id: Optional[Hashable] = None,
                        as_dict: bool = False) -> Any:
        """Population-normalized variable profits (p - c) s; defaults are the observed prices and shares and
        `compute_costs()`."""
        t = self._market(market_id)
        p = self._product_values(prices, 'prices', t, self._model.prices)
        s = self._product_values(shares, 'shares', t, self._observed_shares)
        c = self._given_costs(costs, t)
        return self._vectors((p - c) * s, t, as_dict)

    def compute_hhi(self, firm_ids: Optional[ArrayLike] = None, shares: Any = None, market_id: Optional[Hashable] = None,
                    as_dict: bool = False) -> Any:
        """Herfindahl-Hirschman index per market, 10,000 sum_f (firm f's part of the inside shares)^2."""
        t = self._market(market_id)
        s = self._product_values(shares, 'shares', t, self._observed_shares)
        return self._scalars(supply.hhi(s, self._same_firm(self._firm_ids(firm_ids, t)), self._layout.mask), t,
                             as_dict)

    def compute_passthrough(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
                            market_id: Optional[Hashable] = None, as_dict: bool = False) -> Any:
        """PyBLP's passthrough matrices dp_j / dc_k per market (`blp.post.passthrough`) under the ownership
        (default: product_data's), at the observed prices."""
        t = self._market(market_id)
        if self._model.prices is None:
            raise SpecificationError('passthrough needs a prices column in product_data', parameter='prices')
        H = self._ownership(firm_ids, ownership, t)
        return self._matrices(passthrough(self._model, self._choices, H, self._observed_shares,
                                          None if t is None else [t]), t, as_dict)

    def compute_approximate_prices(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
                                   costs: Optional[ArrayLike] = None,
                                   market_id: Optional[Hashable] = None, as_dict: bool = False) -> Any:
        """p = c + eta under changed ownership with shares and their derivatives held at the estimates: a quick
        first look at a merger (Hausman, Leonard and Zona; Werden)."""
        t = self._market(market_id)
        c = self._given_costs(costs, t)
        H = self._ownership(firm_ids, ownership, t)
        return self._vectors(c + supply.eta(self._price_jacobian, H, self._observed_shares, self._layout.mask), t,
                             as_dict)

    def solve_equilibrium(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
                          costs: Optional[ArrayLike] = None, prices: Optional[ArrayLike] = None,
                          prices_fixed: Optional[ArrayLike] = None, iteration: Optional[Iteration] = None,
                          market_id: Optional[Hashable] = None, constant_costs: bool = True) -> Equilibrium:
        """Bertrand-Nash prices and shares (padded T x J) with convergence per market; see `compute_prices`."""
        t = self._market(market_id)
        model = self._model
        if model.prices is None:
            raise SpecificationError('equilibrium prices need a prices column in product_data', parameter='prices')
        H = self._ownership(firm_ids, ownership, t)
        c = self._given_costs(costs, t)
        start = self._product_values(prices, 'prices', t, model.prices)
        fixed = self._product_flags(prices_fixed, 'prices_fixed', t)
        moving = self._share_costs(constant_costs)
        if t is None:
            return solve_prices(model, c, H, start, fixed, iteration, moving)
        one = solve_prices(model.restrict(np.array([t])), c[[t]], H[[t]], start[[t]], fixed[[t]], iteration, moving,
                           np.array([t]))
        shares = self._observed_shares.copy()
        prices_all = model.prices.copy()
        converged, iterations = np.ones(model.T, dtype=bool), np.zeros(model.T, dtype=np.int64)
        prices_all[t], shares[t], converged[t], iterations[t] = one.prices[0], one.shares[0], one.converged[0], \
            one.iterations[0]
        return Equilibrium(prices_all, shares, converged, iterations)

    def _share_costs(self, constant_costs: bool) -> Optional[ShareCosts]:
        """PyBLP's `constant_costs=False`: costs move with shares when X3 reads them (None: they stay put)."""
        if not isinstance(constant_costs, (bool, np.bool_)):
            raise SpecificationError('constant_costs must be True or False', parameter='constant_costs')
        problem = self.problem
        if constant_costs or problem.supply is None:
            return None
        return ShareCosts.build(problem.product_formulations[2], problem.products.frame, problem.products.layout,
                                self.gamma, problem.costs_type)

    def compute_prices(self, firm_ids: Optional[ArrayLike] = None, ownership: Optional[ArrayLike] = None,
                       costs: Optional[ArrayLike] = None, prices: Optional[ArrayLike] = None,
                       prices_fixed: Optional[ArrayLike] = None, iteration: Optional[Iteration] = None,
                       market_id: Optional[Hashable] = None,
                       as_dict: bool = False, constant_costs: bool = True) -> Any:
        """Equilibrium prices after ownership (firm_ids or ownership matrices) or cost changes, by the zeta-markup
        contraction from `prices` (default: observed); products flagged in `prices_fixed` keep their `prices`.
        Costs default to `compute_costs()` under the observed ownership; `constant_costs=False` (PyBLP's) moves them
        with the shares at each step when X3 reads shares. Warns about markets that did not converge; `as_dict`
        reports `converged` and `iterations` per market."""
        t = self._market(market_id)
        equilibrium = self.solve_equilibrium(firm_ids, ownership, costs, prices, prices_fixed, iteration, market_id,
                                             constant_costs)
        failed = [str(self._layout.markets[s]) for s in self._markets_out(t) if not equilibrium.converged[s]]
        if failed:
            warnings.warn(f'equilibrium prices did not converge in {len(failed)} market(s): {", ".join(failed[:10])}',
                          RuntimeWarning, stacklevel=2)
        if as_dict:
            output = self._vectors(equilibrium.prices, t, True)
            for s in self._markets_out(t):
                output[str(self._layout.markets[s])].update(converged=bool(equilibrium.converged[s]),
                                                            iterations=int(equilibrium.iterations[s]))
            return output
        return self._vectors(equilibrium.prices, t, False)

    # ---------------------------------------------------------------- counterfactuals
    def counterfactual(self, prices: Optional[ArrayLike] = None, firm_ids: Optional[ArrayLike] = None,
                       ownership: Optional[ArrayLike] = None, costs: Optional[ArrayLike] = None,
                       prices_fixed: Optional[ArrayLike] = None, equilibrium: Optional[bool] = None,
                       market_id: Optional[Hashable] = None,
                       agent_groups: Any = None, iteration: Optional[Iteration] = None,
                       constant_costs: bool = True) -> dict[str, Any]:
        """Before and after a counterfactual as a JSON-ready table (see `blp.post.counterfactual.before_after_table`).

        Prices taken as given (`prices=` alone: shares respond, nobody re-prices, the exercises' price cut), or a new
        equilibrium (`equilibrium=True`, the default when firm_ids, ownership, costs or prices_fixed are given):
        firms re-price under the new ownership and costs, products in `prices_fixed` keep their `prices`. Costs
        before are `compute_costs()`; after, `costs` (default: unchanged), moved to the new shares with
        `constant_costs=False` when X3 reads shares. `agent_groups` adds shares and consumer surplus by group of agents.
        """
        t = self._market(market_id)
        model, layout = self._model, self._layout
        if model.prices is None:
            raise SpecificationError('a counterfactual needs a prices column in product_data', parameter='prices')
        changes_supply = any(value is not None for value in (firm_ids, ownership, costs, prices_fixed))
        equilibrium = changes_supply if equilibrium is None else bool(equilibrium)
        if not equilibrium and prices is None:
            raise SpecificationError('a counterfactual needs new prices, or an equilibrium with new firm_ids, '
                                     'ownership, costs or prices_fixed', parameter='prices')
        firms_before = self.problem.products.firm_ids
        if equilibrium and firms_before is None and costs is None:
            raise SpecificationError('an equilibrium counterfactual needs costs, or firm_ids in product_data to '
                                     'derive them from', parameter='firm_ids')
        firms_after = self._firm_ids(firm_ids, t) if firm_ids is not None else firms_before
        costs_before = self._costs(t=t) if firms_before is not None else None
        costs_after: Optional[np.ndarray]
        if equilibrium:
            solved = self.solve_equilibrium(firm_ids, ownership, costs, prices, prices_fixed, iteration, market_id,
                                            constant_costs)
            prices_after, convergence = solved.prices, (solved.converged, solved.iterations)
            costs_after = self._product_values(costs, 'costs', t, costs_before)
            moving = self._share_costs(constant_costs)
            if moving is not None and costs_after is not None:
                costs_after = moving.update(costs_after, solved.shares, np.arange(model.T))
        else:
            prices_after, convergence = self._product_values(prices, 'prices', t, model.prices), None
            costs_after = costs_before
        before, after = self._choices, model.choose(model.at_prices(prices_after))
        shares_after = after.shares
        surplus_before, surplus_after = model.consumer_surpluses(before), model.consumer_surpluses(after)
        groups = None
        if agent_groups is not None:
            codes, labels = self._agent_groups(agent_groups)
            groups = dict(labels=labels,
                          shares_before=layout.unpad(group_shares(before, codes, len(labels))),
                          shares_after=layout.unpad(group_shares(after, codes, len(labels))),
                          surplus_before=group_means(surplus_before, model.weights, codes, len(labels)),
                          surplus_after=group_means(surplus_after, model.weights, codes, len(labels)))

        def hhi(firms: Optional[np.ndarray], shares: np.ndarray) -> Optional[np.ndarray]:
            return None if firms is None else supply.hhi(shares, self._same_firm(firms), layout.mask)

        def unpadded(values: Optional[np.ndarray]) -> Optional[np.ndarray]:
            return None if values is None else layout.unpad(values)

        return before_after_table(
            markets=[(s, str(layout.markets[s]), self._rows(s), self._product_ids(s)) for s in self._markets_out(t)],
            firms=(firms_before, firms_after), prices=(layout.unpad(model.prices), layout.unpad(prices_after)),
            shares=(self.problem.products.shares, layout.unpad(shares_after)),
            costs=(unpadded(costs_before), unpadded(costs_after)),
            surpluses=((np.nan_to_num(surplus_before) * model.weights).sum(axis=1),
                       (np.nan_to_num(surplus_after) * model.weights).sum(axis=1)),
            hhi=(hhi(firms_before, self._observed_shares), hhi(firms_after, shares_after)),
            convergence=convergence, groups=groups, equilibrium=equilibrium)


def group_shares(choices: Choices, codes: np.ndarray, groups: int) -> np.ndarray:
    """T x J x G shares within each group of agents (NaN where a market has no agent of the group)."""
    membership = (codes[:, :, None] == np.arange(groups)).astype(float) * choices.weights[:, :, None]  # T x I x G
    with np.errstate(divide='ignore', invalid='ignore'):
        return (choices.probabilities @ membership) / membership.sum(axis=1)[:, None, :]


def group_means(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    """T x G weighted means of agent values within each group."""
    membership = (codes[:, :, None] == np.arange(groups)).astype(float) * weights[:, :, None]
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.einsum('ti,tig->tg', np.nan_to_num(values), membership) / membership.sum(axis=1)


def mean_own_elasticity(results: ProblemResults, name: str = 'prices') -> Optional[float]:
    """The mean over products of the own elasticity with respect to `name` (None when the model cannot say)."""
    try:
        stacked = results.compute_elasticities(name=name, as_dict=False)
    except BLPError:
        return None
    own = stacked[np.arange(stacked.shape[0]), results.problem.products.layout.position]
    return float(np.mean(own)) if np.isfinite(own).all() else None
