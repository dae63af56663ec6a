"""Results read back from the service, shaped like PyBLP's: `beta`, `sigma`, `pi`, `rho`, their `*_se` and labels.

The service's result documents are read with the same models the service declares them with (`blp.spec.results`,
pydantic only): `model` is the typed document, `parameters` its table (kind, row, column, value, se, fixed,
interval). PyBLP users expect matrices indexed by labels, so the table is folded back into them here. Null numbers
(non-finite on the server) are NaN.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from blp.spec import results as wire


def _number(value: Optional[float]) -> float:
    return float('nan') if value is None else float(value)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def read_result(document: dict[str, Any]) -> Any:
    """A result document as its typed model (EstimateResult, MultistartResult, CounterfactualResult, BootstrapResult)."""
    return wire.JOB_RESULT.validate_python(document)


class Results:
    """An estimate (or a multi-start's chosen estimate): PyBLP-like attributes, the typed document in `model` and the
    raw JSON in `raw`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document
        self.model: Union[wire.EstimateResult, wire.MultistartResult] = read_result(document)
        self.job_id: Optional[str] = self.model.job_id
        estimate = self.model.results
        self.parameters: list[wire.Parameter] = list(estimate.parameters)
        self.provenance: wire.Provenance = self.model.provenance
        self.multistart: Optional[wire.MultistartReport] = getattr(self.model, 'multistart', None)
        self.optimal_instruments: Optional[wire.OptimalInstrumentsReport] = getattr(self.model, 'optimal_instruments',
                                                                                    None)
        self.objective: Optional[float] = estimate.objective
        self.gradient_norm: Optional[float] = estimate.gradient_norm
        self.converged: bool = estimate.converged
        self.step: Any = estimate.step
        self.method: str = estimate.method
        self.optimization_iterations: int = estimate.optimization_iterations
        self.contraction_iterations: int = estimate.contraction_iterations
        self.inner_loop_failures: list[wire.InnerLoopFailure] = list(estimate.inner_loop_failures)
        self.optimization_message: str = estimate.optimization_message
        self.trace: list[wire.TracePoint] = list(estimate.trace)
        self.hessian_eigenvalues = np.array([_number(v) for v in estimate.hessian_eigenvalues])
        rows = {kind: [p for p in self.parameters if p.kind == kind] for kind in ('beta', 'sigma', 'pi', 'rho')}
        self.beta_labels = [p.row for p in rows['beta']]
        self.sigma_labels = _unique([p.row for p in rows['sigma']] + [p.row for p in rows['pi']])
        self.pi_labels = _unique([p.column for p in rows['pi'] if p.column is not None])
        self.rho_labels = [p.row for p in rows['rho']]
        self.beta, self.beta_se = self._fold(rows['beta'], self.beta_labels, [None])
        self.sigma, self.sigma_se = self._fold(rows['sigma'], self.sigma_labels, self.sigma_labels)
        self.pi, self.pi_se = self._fold(rows['pi'], self.sigma_labels, self.pi_labels)
        self.rho, self.rho_se = self._fold(rows['rho'], self.rho_labels, [None])

    @staticmethod
    def _fold(rows: list[wire.Parameter], row_labels: list[str], column_labels: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(values, SEs) as row_labels x column_labels matrices; entries the table leaves out are zero (sigma's
        upper triangle), as in PyBLP."""
        shape = (len(row_labels), len(column_labels))
        values, errors = np.zeros(shape), np.full(shape, np.nan)
        for p in rows:
            at = row_labels.index(p.row), column_labels.index(p.column)
            values[at], errors[at] = _number(p.value), _number(p.se)
        return values, errors

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: kind, row, column, value, se, fixed and the 95 % interval (value ± 1.96 se)."""
        frame = pd.DataFrame([{**p.model_dump(exclude={'interval'}),
                               'ci_lower': p.interval.lower if p.interval else None,
                               'ci_upper': p.interval.upper if p.interval else None} for p in self.parameters],
                             columns=['kind', 'row', 'column', 'value', 'se', 'fixed', 'ci_lower', 'ci_upper'])
        frame[['value', 'se', 'ci_lower', 'ci_upper']] = frame[['value', 'se', 'ci_lower', 'ci_upper']].astype(float)
        return frame

    def __repr__(self) -> str:
        return f'Results(job {self.job_id}, objective {self.objective}, converged {self.converged})\n{self.to_frame()}'


class CounterfactualResult:
    """A counterfactual: before/after per product (`products`) and per market (`markets`) as DataFrames."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document
        self.model: wire.CounterfactualResult = read_result(document)
        self.job_id: str = self.model.job_id
        self.mode: str = self.model.mode
        self.market: Optional[str] = self.model.market
        self.provenance: wire.Provenance = self.model.provenance
        self.products = pd.DataFrame([product.model_dump() for product in self.model.products])
        self.markets = pd.DataFrame([market.model_dump() for market in self.model.markets])

    def to_frame(self) -> pd.DataFrame:
        return self.products

    def __repr__(self) -> str:
        return f'CounterfactualResult(job {self.job_id}, {self.mode})\n{self.products}'


def matrix_frame(document: dict[str, Any]) -> pd.DataFrame:
    """An elasticity or diversion matrix as a DataFrame indexed and labelled by product ids."""
    matrix = wire.SubstitutionMatrix.model_validate(document)
    products = matrix.product_ids
    values = [[_number(v) for v in row] for row in matrix.matrix]
    return pd.DataFrame(values, index=pd.Index(products, name='product_ids'), columns=pd.Index(products))
