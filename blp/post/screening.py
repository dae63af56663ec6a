"""Merger screening and market definition at an estimate: what a competition authority computes for every candidate
merger before it simulates the few that matter, on random-coefficients demand.

For a candidate (a set of firms) and each merging product j, with D the diversion ratios (`substitution`), p prices,
c marginal costs, m = p - c, P_j the products of the other merging firms and E the efficiency credit (a share of c):

    diversion_j = sum_{k in P_j} D_jk                 GUPPI_j = sum_{k in P_j} D_jk m_k / p_j
    UPP_j = sum_{k in P_j} D_jk m_k - E c_j           CMCR_j = (eta_post_j - m_j) / c_j

CMCR is the share of c_j the merged firm must save for today's prices to stay optimal: eta_post is the Bertrand markup
under the merged ownership at today's shares and their derivatives (Werden 1996). Delta HHI is at today's shares. The
simulation solves the new Bertrand-Nash equilibrium by the zeta contraction (`equilibrium`) with the merging products'
costs cut by E, and reports price, consumer-surplus, profit and welfare changes per market.

Only markets where at least two of the candidate's firms sell are touched: elsewhere ownership, costs and so prices
stay as they are (the efficiency credit is a merger's, so it applies only where products are combined).

The hypothetical monopolist (SSNIP) test gives one owner every product of a candidate group and finds its
profit-maximizing prices, with the prices of all other products held fixed (the US Horizontal Merger Guidelines'
"terms of sale of all other products held constant", as the `antitrust` R package runs it) or, on request, with
rivals re-pricing to their Bertrand response. A group passes in a market when at least one of its prices rises by the
threshold (5 % or 10 %).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence

import numpy as np
import pandas as pd

from blp.configurations.solve_options import Iteration
from blp.exceptions import SpecificationError
from blp.post.at_estimates import DemandAtEstimates
from blp.post.equilibrium import solve_prices
from blp.post.substitution import diversion_ratios
from blp.serialization import jsonable
from blp.supply import bertrand as supply

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults

Rivals = Literal['fixed', 'bertrand']


@dataclass(frozen=True)
class MarketsToday:
    """Today's state in the screened markets (padded T x J): what every candidate starts from, computed once."""

    model: DemandAtEstimates
    markets: np.ndarray       # T market ids
    product_ids: np.ndarray   # T x J strings ('' where padded)
    firms: np.ndarray         # T x J firm codes (-1 where padded)
    firm_labels: list[str]
    prices: np.ndarray
    shares: np.ndarray        # observed
    costs: np.ndarray
    jacobian: np.ndarray      # T x J x J  ds_j / dp_k
    diversion: np.ndarray     # T x J x J
    surplus: np.ndarray       # T consumer surplus per market
    profits: np.ndarray       # T x J

    @property
    def mask(self) -> np.ndarray:
        return self.model.mask

    @property
    def T(self) -> int:
        return self.model.T

    @classmethod
    def from_results(cls, results: 'ProblemResults', markets: Optional[Sequence[Any]] = None) -> 'MarketsToday':
        """The state at the estimate in `markets` (market ids; default all), with the estimate's costs."""
        layout, products = results.problem.products.layout, results.problem.products
        if products.firm_ids is None:
            raise SpecificationError('merger screening needs a firm_ids column in product_data', parameter='firm_ids')
        model = results._model
        if model.prices is None:
            raise SpecificationError('merger screening needs a prices column in product_data', parameter='prices')
        index = np.arange(layout.T) if markets is None else np.array([results._market(m) for m in markets], dtype=int)
        if index.size == 0:
            raise SpecificationError('no market to screen', parameter='markets')
        codes, labels = pd.factorize(pd.Series(products.firm_ids, dtype=object).astype(str), sort=True)
        ids = products.product_ids if products.product_ids is not None else layout.position
        product_ids = np.full((layout.T, layout.width), '', dtype=object)
        product_ids[layout.market_index, layout.position] = np.asarray(ids).astype(str)
        model = model.restrict(index)
        shares = results._observed_shares[index]
        prices, costs = model.prices, results._costs()[index]
        assert prices is not None
        choices = model.choose()
        surplus = (np.nan_to_num(model.consumer_surpluses(choices)) * model.weights).sum(axis=1)
        jacobian = results._price_jacobian[index]
        return cls(model, layout.markets[index], product_ids[index],
                   layout.pad(codes.astype(float), fill=-1).astype(np.intp)[index], [str(f) for f in labels],
                   prices, shares, costs, jacobian, diversion_ratios(jacobian, model.mask), surplus,
                   np.where(model.mask, (prices - costs) * shares, 0.0))

    def restrict(self, index: np.ndarray) -> 'MarketsToday':
        """The same state in a subset of its markets."""
        return dataclasses.replace(
            self, model=self.model.restrict(index), markets=self.markets[index], product_ids=self.product_ids[index],
            firms=self.firms[index], prices=self.prices[index], shares=self.shares[index], costs=self.costs[index],
            jacobian=self.jacobian[index], diversion=self.diversion[index], surplus=self.surplus[index],
            profits=self.profits[index])

    def firm_codes(self, firms: Sequence[Any]) -> np.ndarray:
        """Codes of firm ids (422-style error naming the unknown ones)."""
        lookup = {label: code for code, label in enumerate(self.firm_labels)}
        unknown = [str(f) for f in firms if str(f) not in lookup]
        if unknown:
            raise SpecificationError(f'no firm {", ".join(unknown)} in the product data', parameter='firm_ids')
        return np.array([lookup[str(f)] for f in firms], dtype=np.intp)


def candidate_pairs(today: MarketsToday) -> list[tuple[str, str]]:
    """Every pair of firms that sell in a common screened market (other pairs change nothing)."""
    present = np.zeros((today.T, len(today.firm_labels)), dtype=bool)
    rows, columns = np.nonzero(today.mask)
    present[rows, today.firms[rows, columns]] = True
    together = present.T.astype(int) @ present.astype(int)
    return [(today.firm_labels[a], today.firm_labels[b])
            for a, b in itertools.combinations(range(len(today.firm_labels)), 2) if together[a, b]]


def _ownership(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return supply.ownership_matrices(codes, mask)


def _share_weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per market, sum_j w_j v_j / sum_j w_j over the products where w > 0 (NaN where there are none)."""
    total = weights.sum(axis=1)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(total > 0, (np.where(weights > 0, values, 0.0) * weights).sum(axis=1) / total, np.nan)


@dataclass(frozen=True)
class MergerOutcome:
    """One candidate in the markets it touches (padded T' x J, T' the touched markets of `today`)."""

    firms: tuple[str, ...]
    credit: float
    today: MarketsToday        # restricted to the touched markets
    merging: np.ndarray        # T' x J  products of the merging firms
    diversion: np.ndarray      # T' x J  to the other merging firms' products (NaN for other products)
    guppi: np.ndarray
    upp: np.ndarray
    cmcr: np.ndarray
    hhi_before: np.ndarray     # T'
    hhi_after: np.ndarray      # T' at today's shares
    prices: np.ndarray         # T' x J after
    shares: np.ndarray
    costs: np.ndarray
    converged: np.ndarray      # T'
    iterations: np.ndarray
    surplus: np.ndarray        # T' after
    profits: np.ndarray        # T' x J after


@dataclass(frozen=True)
class MergerIndices:
    """A candidate's pricing-pressure indices at today's prices (padded T' x J over its touched markets): what the
    screen knows before it simulates anything."""

    firms: tuple[str, ...]
    credit: float
    today: MarketsToday        # restricted to the touched markets
    merging: np.ndarray
    after: np.ndarray          # T' x J x J  ownership after the merger
    diversion: np.ndarray
    guppi: np.ndarray
    upp: np.ndarray
    cmcr: np.ndarray
    hhi_before: np.ndarray
    hhi_after: np.ndarray


def merger_indices(today: MarketsToday, firms: Sequence[Any], credit: float = 0.0) -> MergerIndices:
    """Diversion to the partners, GUPPI, UPP at `credit`, CMCR and HHI of merging `firms` (at least two), in the
    markets where at least two of them sell."""
    labels = tuple(dict.fromkeys(str(f) for f in firms))
    if len(labels) < 2:
        raise SpecificationError('a merger needs at least two different firms', parameter='firms')
    if not np.isfinite(credit) or not 0 <= credit < 1:
        raise SpecificationError('the efficiency credit is a share of marginal cost in [0, 1)', parameter='credit')
    codes = today.firm_codes(labels)
    member = np.isin(today.firms, codes) & today.mask
    sellers = np.stack([(today.firms == code).any(axis=1) for code in codes], axis=1).sum(axis=1)
    touched = today.restrict(np.flatnonzero(sellers >= 2))
    merging = member[sellers >= 2]
    merged = np.where(merging, codes[0], touched.firms)
    mask = touched.mask
    before, after = _ownership(touched.firms, mask), _ownership(merged, mask)
    partners = (after - before) > 0  # [j, k]: k is another merging firm's product
    margins = touched.prices - touched.costs
    with np.errstate(divide='ignore', invalid='ignore'):
        diversion = np.where(merging, (touched.diversion * partners).sum(axis=2), np.nan)
        pressure = (touched.diversion * partners * margins[:, None, :]).sum(axis=2)
        guppi = np.where(merging, pressure / touched.prices, np.nan)
        upp = np.where(merging, pressure - credit * touched.costs, np.nan)
        eta_after = supply.eta(touched.jacobian, after, touched.shares, mask)
        cmcr = np.where(merging, (eta_after - margins) / touched.costs, np.nan)
    return MergerIndices(labels, float(credit), touched, merging, after, diversion, guppi, upp, cmcr,
                         supply.hhi(touched.shares, before, mask), supply.hhi(touched.shares, after, mask))


def screen_merger(today: MarketsToday, firms: Sequence[Any], credit: float = 0.0,
                  iteration: Optional[Iteration] = None) -> MergerOutcome:
    """Upward pricing pressure indices and the simulated merger of `firms` (at least two) with efficiency `credit`."""
    indices = merger_indices(today, firms, credit)
    touched, merging, mask = indices.today, indices.merging, indices.today.mask
    costs = np.where(merging, (1 - credit) * touched.costs, touched.costs)
    model = touched.model
    solved = solve_prices(model, costs, indices.after, touched.prices, np.zeros(mask.shape, dtype=bool), iteration)
    choices = model.choose(model.at_prices(solved.prices))
    surplus = (np.nan_to_num(model.consumer_surpluses(choices)) * model.weights).sum(axis=1)
    shares = np.where(mask, choices.shares, 0.0)
    return MergerOutcome(indices.firms, indices.credit, touched, merging, indices.diversion, indices.guppi,
                         indices.upp, indices.cmcr, indices.hhi_before, indices.hhi_after, solved.prices, shares, costs,
                         solved.converged, solved.iterations, surplus,
                         np.where(mask, (solved.prices - costs) * shares, 0.0))


def _percent(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    with np.errstate(divide='ignore', invalid='ignore'):
        return 100 * (after - before) / before


def _number(value: Any) -> Optional[float]:
    return jsonable(value)


def _max(values: np.ndarray) -> Optional[float]:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None


def merger_markets(outcome: MergerOutcome) -> list[dict[str, Any]]:
    """One row per touched market: Delta HHI, share-weighted price changes (all products and the merging ones, in %,
    weighted by today's shares), consumer surplus, profit and welfare changes, convergence."""
    today, mask = outcome.today, outcome.today.mask
    percent = np.where(mask, _percent(outcome.prices, today.prices), 0.0)
    shares = np.where(mask, today.shares, 0.0)
    all_products = _share_weighted(percent, shares)
    merging = _share_weighted(percent, np.where(outcome.merging, shares, 0.0))
    profit_change = outcome.profits - today.profits
    rows = []
    for t, market in enumerate(today.markets):
        surplus = outcome.surplus[t] - today.surplus[t]
        profits = profit_change[t][mask[t]].sum()
        rows.append({
            'market_id': str(market), 'hhi_before': _number(outcome.hhi_before[t]),
            'hhi_change': _number(outcome.hhi_after[t] - outcome.hhi_before[t]),
            'price_change_percent': _number(all_products[t]), 'merging_price_change_percent': _number(merging[t]),
            'consumer_surplus_change': _number(surplus),
            'merging_profit_change': _number(profit_change[t][outcome.merging[t]].sum()),
            'profit_change': _number(profits), 'welfare_change': _number(surplus + profits),
            'converged': bool(outcome.converged[t]), 'iterations': int(outcome.iterations[t])})
    return rows


def merger_products(outcome: MergerOutcome) -> list[dict[str, Any]]:
    """One row per merging product: diversion to the partners, GUPPI, UPP, CMCR and its simulated price change."""
    today = outcome.today
    rows = []
    for t, j in zip(*np.nonzero(outcome.merging)):
        rows.append({
            'market_id': str(today.markets[t]), 'product_id': str(today.product_ids[t, j]),
            'firm_id': today.firm_labels[today.firms[t, j]], 'diversion': _number(outcome.diversion[t, j]),
            'guppi': _number(outcome.guppi[t, j]), 'upp': _number(outcome.upp[t, j]),
            'cmcr': _number(outcome.cmcr[t, j]), 'price_before': _number(today.prices[t, j]),
            'price_after': _number(outcome.prices[t, j]),
            'price_change_percent': _number(_percent(outcome.prices[t, j], today.prices[t, j]))})
    return rows


def merger_summary(outcome: MergerOutcome) -> dict[str, Any]:
    """The candidate's row of the ranking: totals over the touched markets, maxima of the product indices."""
    markets = merger_markets(outcome)
    today = outcome.today

    def total(key: str) -> Optional[float]:
        values = [row[key] for row in markets]
        return None if any(value is None for value in values) else float(sum(values))

    shares = np.where(today.mask, today.shares, 0.0).ravel()
    merging_shares = np.where(outcome.merging, today.shares, 0.0).ravel()
    percent = np.where(today.mask, _percent(outcome.prices, today.prices), 0.0).ravel()
    surplus = total('consumer_surplus_change')
    return {
        'candidate': ' + '.join(outcome.firms), 'firms': list(outcome.firms), 'credit': outcome.credit,
        'markets': len(markets),
        'hhi_change_max': _max(outcome.hhi_after - outcome.hhi_before),
        'diversion_max': _max(outcome.diversion), 'guppi_max': _max(outcome.guppi),
        'guppi_mean': _weighted(np.nan_to_num(outcome.guppi).ravel(), merging_shares),
        'upp_max': _max(outcome.upp), 'cmcr_max': _max(outcome.cmcr),
        'price_change_percent': _weighted(percent, shares),
        'merging_price_change_percent': _weighted(percent, merging_shares),
        'consumer_surplus_change': surplus, 'consumer_surplus_loss': None if surplus is None else -surplus,
        'merging_profit_change': total('merging_profit_change'), 'profit_change': total('profit_change'),
        'welfare_change': total('welfare_change'),
        'converged': all(row['converged'] for row in markets),
        'iterations_max': max((row['iterations'] for row in markets), default=0),
    }


def _weighted(values: np.ndarray, weights: np.ndarray) -> Optional[float]:
    """The share-weighted mean of flat values over all touched markets (None when nothing is weighted)."""
    return _number(_share_weighted(values[None], weights[None])[0]) if weights.sum() > 0 else None


def rank(rows: list[dict[str, Any]], column: str = 'consumer_surplus_loss',
         descending: bool = True) -> list[dict[str, Any]]:
    """Rows sorted by `column` (unknown values last) with their `rank` (1 first)."""
    if rows and column not in rows[0]:
        raise SpecificationError(f'no column {column!r} to rank by', parameter='sort')
    known = [row for row in rows if isinstance(row.get(column), (int, float))]
    unknown = [row for row in rows if not isinstance(row.get(column), (int, float))]
    ordered = sorted(known, key=lambda row: row[column], reverse=descending) + unknown
    return [{'rank': position + 1, **row} for position, row in enumerate(ordered)]


# ---------------------------------------------------------------- the hypothetical monopolist test

@dataclass(frozen=True)
class MonopolistOutcome:
    """A group's hypothetical monopolist in the markets where the group sells (padded T' x J)."""

    today: MarketsToday
    group: np.ndarray        # T' x J
    prices: np.ndarray
    shares: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def hypothetical_monopolist(today: MarketsToday, product_ids: Sequence[Any], rivals: Rivals = 'fixed',
                            iteration: Optional[Iteration] = None) -> MonopolistOutcome:
    """Profit-maximizing prices of one owner of the group's products (by product id, in every market where any is
    sold), with other prices fixed or (`rivals='bertrand'`) at their owners' best response."""
    if rivals not in ('fixed', 'bertrand'):
        raise SpecificationError("rivals must be 'fixed' or 'bertrand'", parameter='rivals')
    wanted = {str(product) for product in product_ids}
    known = set(today.product_ids[today.mask])
    unknown = sorted(wanted - known)
    if unknown or not wanted:
        raise SpecificationError(f'no product {", ".join(unknown) or "given"} in the screened markets',
                                 parameter='products')
    group = np.isin(today.product_ids, list(wanted)) & today.mask
    selling = group.any(axis=1)
    sold = today.restrict(np.flatnonzero(selling))
    group = group[selling]
    owner = np.where(group, len(today.firm_labels), sold.firms)  # a new firm owns the group and nothing else
    fixed = ~group & sold.mask if rivals == 'fixed' else np.zeros(group.shape, dtype=bool)
    solved = solve_prices(sold.model, sold.costs, _ownership(owner, sold.mask), sold.prices, fixed, iteration)
    return MonopolistOutcome(sold, group, solved.prices, np.where(sold.mask, solved.shares, 0.0), solved.converged,
                             solved.iterations)


def monopolist_markets(outcome: MonopolistOutcome, threshold: float) -> list[dict[str, Any]]:
    """Per market: the group's price increases (%), the largest, whether it reaches the threshold, the group's
    profits before and after."""
    today = outcome.today
    rows = []
    for t, market in enumerate(today.markets):
        in_group = outcome.group[t]
        increases = _percent(outcome.prices[t][in_group], today.prices[t][in_group])
        margins_after = (outcome.prices[t] - today.costs[t])[in_group]
        largest = float(np.max(increases))
        rows.append({
            'market_id': str(market), 'products': [str(p) for p in today.product_ids[t][in_group]],
            'price_increase_percent': jsonable(increases), 'largest_increase_percent': largest,
            'passes': bool(largest >= 100 * threshold and outcome.converged[t]),
            'profit_before': float(today.profits[t][in_group].sum()),
            'profit_after': float((margins_after * outcome.shares[t][in_group]).sum()),
            'converged': bool(outcome.converged[t]), 'iterations': int(outcome.iterations[t])})
    return rows


def ssnip(today: MarketsToday, groups: Sequence[Sequence[Any]], threshold: float = 0.05, rivals: Rivals = 'fixed',
          iteration: Optional[Iteration] = None) -> dict[str, Any]:
    """The hypothetical monopolist test of each candidate group; a group passes when it passes in every market where
    it sells; the smallest passing group has the fewest products (the first given among equals)."""
    if not 0 < threshold < 1:
        raise SpecificationError('the SSNIP threshold is a share in (0, 1), e.g. 0.05 or 0.1', parameter='threshold')
    results: list[dict[str, Any]] = []
    for number, group in enumerate(groups):
        markets = monopolist_markets(hypothetical_monopolist(today, group, rivals, iteration), threshold)
        results.append({'group': number, 'products': [str(p) for p in group], 'size': len(set(map(str, group))),
                        'passes': all(row['passes'] for row in markets), 'markets': markets})
    passing = [row for row in results if row['passes']]
    smallest = min(passing, key=lambda row: row['size'])['group'] if passing else None
    return {'threshold': threshold, 'rivals': rivals, 'groups': results, 'smallest_passing_group': smallest}
