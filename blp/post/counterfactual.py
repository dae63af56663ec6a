"""A counterfactual's before and after as one JSON-ready table: flat lists of rows, one per product, per market and
(with agent groups) per group, so that `pandas.DataFrame(table['products'])` is the table an economist reads.

Changes are after minus before; percent changes are 100 (after - before) / before (None where before is zero).
Supply-side columns (costs, markups, profits, HHI) are None when there are no firm ids to derive costs from.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.serialization import jsonable

Pair = tuple[Optional[np.ndarray], Optional[np.ndarray]]
Known = tuple[np.ndarray, np.ndarray]


def _compare(name: str, before: Any, after: Any) -> dict[str, Optional[float]]:
    """{name}_before, _after, _change and _change_percent."""
    before, after = jsonable(before), jsonable(after)
    change = None if before is None or after is None else after - before
    percent = None if change is None or before == 0 else 100 * change / before
    return {f'{name}_before': before, f'{name}_after': after, f'{name}_change': change,
            f'{name}_change_percent': percent}


def _at(values: Optional[np.ndarray], *index: Any) -> Any:
    return None if values is None else values[index]


def before_after_table(markets: list[tuple[int, str, np.ndarray, list[str]]], firms: Pair, prices: Known,
                       shares: Known, costs: Pair, surpluses: Known, hhi: Pair,
                       convergence: Optional[tuple[np.ndarray, np.ndarray]], groups: Optional[dict],
                       equilibrium: bool) -> dict[str, Any]:
    """The table for `markets` (t, market id, rows in product order, product ids). Product values are N arrays,
    market values T arrays, group values N x G (shares) and T x G (surplus)."""
    products, market_rows, group_rows, group_surpluses = [], [], [], []
    for t, market, rows, product_ids in markets:
        totals: dict[str, Optional[float]] = {'before': 0.0, 'after': 0.0}
        for n, product in zip(rows, product_ids):
            row: dict[str, Any] = {'market_id': market, 'product_id': product,
                   'firm_id_before': None if firms[0] is None else str(firms[0][n]),
                   'firm_id_after': None if firms[1] is None else str(firms[1][n])}
            row.update(_compare('price', prices[0][n], prices[1][n]))
            row.update(_compare('share', shares[0][n], shares[1][n]))
            row.update(_compare('cost', _at(costs[0], n), _at(costs[1], n)))
            margins = [None if cost is None else price - cost
                       for price, cost in ((prices[0][n], _at(costs[0], n)), (prices[1][n], _at(costs[1], n)))]
            row.update(_compare('markup', *[None if margin is None else margin / price
                                            for margin, price in zip(margins, (prices[0][n], prices[1][n]))]))
            profits = [None if margin is None else margin * share
                       for margin, share in zip(margins, (shares[0][n], shares[1][n]))]
            row.update(_compare('profit', *profits))
            for key, profit in zip(totals, profits):
                totals[key] = None if profit is None or totals[key] is None else totals[key] + profit
            products.append(row)
        summary: dict[str, Any] = {'market_id': market,
                   'converged': None if convergence is None else bool(convergence[0][t]),
                   'iterations': None if convergence is None else int(convergence[1][t])}
        summary.update(_compare('outside_share', 1 - shares[0][rows].sum(), 1 - shares[1][rows].sum()))
        summary.update(_compare('consumer_surplus', surpluses[0][t], surpluses[1][t]))
        summary.update(_compare('hhi', _at(hhi[0], t), _at(hhi[1], t)))
        summary.update(_compare('profit', totals['before'], totals['after']))
        market_rows.append(summary)
        if groups is not None:
            for g, label in enumerate(groups['labels']):
                for n, product in zip(rows, product_ids):
                    shares_g = groups['shares_before'][n, g], groups['shares_after'][n, g]
                    group_rows.append({'market_id': market, 'group': label, 'product_id': product,
                                       **_compare('share', *shares_g)})
                group_surpluses.append({'market_id': market, 'group': label,
                                        **_compare('consumer_surplus', groups['surplus_before'][t, g],
                                                   groups['surplus_after'][t, g])})
    table: dict[str, Any] = {'kind': 'equilibrium' if equilibrium else 'prices', 'products': products,
                             'markets': market_rows}
    if groups is not None:
        table.update(groups=group_rows, group_surpluses=group_surpluses)
    return table
