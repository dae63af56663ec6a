"""Supply-side data as PyBLP reads it: X3 (marginal-cost characteristics, may absorb fixed effects like X1), the
supply instruments ZS (exogenous X3 columns, then `supply_instruments0..`), who sets which price (`firm_ids`, or
`ownership0..` matrices) and the covariance instruments Z_C (`covariance_instruments0..`, which PyBLP reads only with a
supply side: its moments are those of xi omega, `blp.estimation.covariance`).

Standalone so that `Problem` can call it once a third formulation arrives; nothing here depends on the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from blp.configurations.formulation import Formulation
from blp.exceptions import DataError, SpecificationError, warn
from blp.primitives.absorb import Absorber, absorb_codes
from blp.primitives.columns import collinearity_warning, numbered_columns, numbering_warning, pyblp_order
from blp.primitives.products import Products, numeric_column
from blp.supply.costs import check_costs_type


def require_firm_ids(products: Products) -> Optional[np.ndarray]:
    """firm_ids (N), or None when `ownership0..` columns say who sets which price; a supply side needs one of them."""
    if products.firm_ids is not None:
        return products.firm_ids
    if numbered_columns(products.frame, 'ownership'):
        return None
    raise DataError("a supply side (an X3 formulation) needs a 'firm_ids' column in product_data to know which firm "
                    "sets which price (or ownership0.. columns)", column='firm_ids', dataset='product_data')


@dataclass(frozen=True)
class SupplyData:
    """X3 and ZS with fixed effects absorbed (N x K3, N x MS), their labels, and the firms."""

    X3: np.ndarray
    X3_labels: list[str]
    X3_endogenous: np.ndarray  # columns involving shares (not instruments)
    ZS: np.ndarray
    ZS_labels: list[str]
    ZS_exogenous: int  # ZS's leading columns that are X3's (PyBLP puts them after supply_instruments0..)
    absorber: Absorber
    firm_ids: Optional[np.ndarray]   # None when ownership0.. columns are given
    ownership: Optional[np.ndarray]  # N x max J from ownership0.. columns, or None
    costs_type: str
    ZC: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # N x MC, not absorbed (as PyBLP)
    ZC_labels: list[str] = field(default_factory=list)
    X3_raw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # before absorbing: for PyBLP's omega_fe

    @property
    def K3(self) -> int:
        return len(self.X3_labels)

    @property
    def MS(self) -> int:
        return len(self.ZS_labels)

    @property
    def MC(self) -> int:
        return len(self.ZC_labels)


def too_few_supply_instruments(X3_labels: list[str], X3_endogenous: np.ndarray, ZS_labels: list[str]) -> str:
    """Why gamma is not identified from the supply moments alone: fewer supply instruments than X3 columns."""
    endogenous = [label for label, flag in zip(X3_labels, X3_endogenous) if flag]
    because = f" ({', '.join(endogenous)} involve shares and cannot instrument themselves)" if endogenous else ''
    return (f"too few supply instruments: {len(X3_labels)} X3 columns ({', '.join(X3_labels)}) but only "
            f"{len(ZS_labels)} supply instruments ({', '.join(ZS_labels) or 'none'}){because}; add supply_instruments "
            f"columns")


def build_supply(formulation: Formulation, products: Products, costs_type: str = 'linear',
                 warnings: Optional[list[str]] = None) -> SupplyData:
    """X3 from `formulation` (prices may not enter: costs are what prices are set over), ZS = exogenous X3 columns
    and `supply_instruments0..`, fixed effects absorbed from both; at least as many supply instruments as X3 columns
    (gamma is estimated from the supply moments alone: fewer is a warning, as are collinear columns and numbered
    columns left out, recorded in `warnings`; PyBLP estimates on)."""
    recorded = [] if warnings is None else warnings
    check_costs_type(costs_type)
    frame = products.frame
    firm_ids = require_firm_ids(products)
    design = formulation.build(frame, 'X3 formulation')
    if not design.labels:
        raise SpecificationError('X3 formulation has no columns', parameter='X3')
    if 'prices' in formulation.column_names('X3 formulation'):
        raise SpecificationError('prices cannot be in the X3 (marginal cost) formulation', parameter='X3')
    absorber = Absorber(absorb_codes(formulation, frame, 'X3'))
    instruments = numbered_columns(frame, 'supply_instruments')
    warn(numbering_warning(frame, 'supply_instruments', 'product_data'), recorded)
    excluded = [numeric_column(frame, column, 'product_data', products.market_ids) for column in instruments]
    exogenous = ~design.endogenous
    ZS_labels = [label for label, keep in zip(design.labels, exogenous) if keep] + instruments
    raw_ZS = np.column_stack([design.matrix[:, exogenous], *excluded]) if excluded else design.matrix[:, exogenous]
    X3, ZS = absorber(design.matrix), absorber(raw_ZS)
    absorbs = bool(absorber.dimensions)
    ZS_exogenous = int(exogenous.sum())
    warn(collinearity_warning(X3, design.labels, 'X3', absorbs), recorded)
    warn(collinearity_warning(ZS, ZS_labels, 'ZS', absorbs, pyblp_order(len(ZS_labels), ZS_exogenous)), recorded)
    if len(ZS_labels) < len(design.labels):
        warn(f'{too_few_supply_instruments(design.labels, design.endogenous, ZS_labels)}; PyBLP estimates gamma '
             f'anyway (a pseudo-inverse), so it may not be identified', recorded)
    ownership_columns = numbered_columns(frame, 'ownership')
    warn(numbering_warning(frame, 'ownership', 'product_data'), recorded)
    ownership = np.column_stack([numeric_column(frame, column, 'product_data', products.market_ids)
                                 for column in ownership_columns]) if ownership_columns else None
    ZC_labels = numbered_columns(frame, 'covariance_instruments')
    warn(numbering_warning(frame, 'covariance_instruments', 'product_data'), recorded)
    ZC = np.column_stack([numeric_column(frame, column, 'product_data', products.market_ids) for column in ZC_labels]) \
        if ZC_labels else np.zeros((products.N, 0))
    warn(collinearity_warning(ZC, ZC_labels, 'ZC', False), recorded)
    return SupplyData(X3, design.labels, design.endogenous, ZS, ZS_labels, ZS_exogenous, absorber, firm_ids, ownership,
                      costs_type, ZC, ZC_labels, design.matrix)

