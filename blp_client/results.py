"""Results read back from the service, shaped like PyBLP's: `beta`, `sigma`, `pi`, `rho`, their `*_se` and labels.

The service sends a flat parameter table (kind, row, column, value, se, fixed); PyBLP users expect matrices
indexed by labels, so the table is folded back into them here. Null numbers (non-finite on the server) are NaN.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd


def _number(value: Optional[float]) -> float:
    return float('nan') if value is None else float(value)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class Results:
    """An estimate (or a multi-start's chosen estimate): PyBLP-like attributes plus the raw JSON in `raw`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document
        self.job_id: Optional[str] = document.get('job_id')
        estimate = document['results']
        self.parameters: list[dict[str, Any]] = estimate['parameters']
        self.provenance: dict[str, Any] = document.get('provenance', {})
        self.multistart: Optional[dict[str, Any]] = document.get('multistart')
        self.objective: Optional[float] = estimate.get('objective')
        self.gradient_norm: Optional[float] = estimate.get('gradient_norm')
        self.converged: Optional[bool] = estimate.get('converged')
        self.step: Any = estimate.get('step')
        self.method: Optional[str] = estimate.get('method')
        self.optimization_iterations: Optional[int] = estimate.get('optimization_iterations')
        self.contraction_iterations: Optional[int] = estimate.get('contraction_iterations')
        self.inner_loop_failures: Optional[list[Any]] = estimate.get('inner_loop_failures')
        self.optimization_message: Optional[str] = estimate.get('optimization_message')
        self.hessian_eigenvalues = np.array([_number(v) for v in estimate.get('hessian_eigenvalues') or []])
        rows = {kind: [p for p in self.parameters if p['kind'] == kind] for kind in ('beta', 'sigma', 'pi', 'rho')}
        self.beta_labels = [p['row'] for p in rows['beta']]
        self.sigma_labels = _unique([p['row'] for p in rows['sigma']] + [p['row'] for p in rows['pi']])
        self.pi_labels = _unique([p['column'] for p in rows['pi']])
        self.rho_labels = [p['row'] for p in rows['rho']]
        self.beta, self.beta_se = self._fold(rows['beta'], self.beta_labels, [None])
        self.sigma, self.sigma_se = self._fold(rows['sigma'], self.sigma_labels, self.sigma_labels)
        self.pi, self.pi_se = self._fold(rows['pi'], self.sigma_labels, self.pi_labels)
        self.rho, self.rho_se = self._fold(rows['rho'], self.rho_labels, [None])

    @staticmethod
    def _fold(rows: list[dict[str, Any]], row_labels: list[str], column_labels: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(values, SEs) as row_labels x column_labels matrices; entries the table leaves out are zero (sigma's
        upper triangle), as in PyBLP."""
        shape = (len(row_labels), len(column_labels))
        values, errors = np.zeros(shape), np.full(shape, np.nan)
        for p in rows:
            at = row_labels.index(p['row']), column_labels.index(p['column'])
            values[at], errors[at] = _number(p['value']), _number(p['se'])
        return values, errors

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: kind, row, column, value, se, fixed and the 95 % interval (value ± 1.96 se)."""
        frame = pd.DataFrame(self.parameters, columns=['kind', 'row', 'column', 'value', 'se', 'fixed'])
        frame[['value', 'se']] = frame[['value', 'se']].astype(float)
        frame['ci_lower'] = frame['value'] - 1.959964 * frame['se']
        frame['ci_upper'] = frame['value'] + 1.959964 * frame['se']
        return frame

    def __repr__(self) -> str:
        return f'Results(job {self.job_id}, objective {self.objective}, converged {self.converged})\n{self.to_frame()}'


class CounterfactualResult:
    """A counterfactual: before/after per product (`products`) and per market (`markets`) as DataFrames."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document
        self.job_id: Optional[str] = document.get('job_id')
        self.mode: Optional[str] = document.get('mode')
        self.market: Optional[str] = document.get('market')
        self.products = pd.DataFrame(document.get('products', []))
        self.markets = pd.DataFrame(document.get('markets', []))

    def to_frame(self) -> pd.DataFrame:
        return self.products

    def __repr__(self) -> str:
        return f'CounterfactualResult(job {self.job_id}, {self.mode})\n{self.products}'


def matrix_frame(document: dict[str, Any]) -> pd.DataFrame:
    """An elasticity or diversion matrix as a DataFrame indexed and labelled by product ids."""
    products = document['product_ids']
    values = [[_number(v) for v in row] for row in document['matrix']]
    return pd.DataFrame(values, index=pd.Index(products, name='product_ids'), columns=pd.Index(products))
