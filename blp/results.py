"""Estimates with their standard errors and diagnostics, shaped like PyBLP's `ProblemResults`, plus the
demand-side quantities computed from them (elasticities, diversion ratios, shares at other prices)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError


def _number(value: Any) -> Optional[float]:
    """A JSON-safe float: NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _nested(array: np.ndarray) -> Any:
    if np.ndim(array) == 0:
        return _number(array)
    return [_nested(item) for item in array]


class ProblemResults:
    """The outcome of `Problem.solve`. Array attributes have PyBLP's shapes: beta (K1 x 1), sigma (K2 x K2),
    pi (K2 x D), rho (H x 1 or 1 x 1), and the same for their standard errors (NaN where fixed)."""

    def __init__(self, estimation: Any, outcome: Any, history: list, statistics: dict, seconds: float) -> None:
        self._estimation = estimation
        self.problem = problem = estimation.problem
        parameters = estimation.parameters
        evaluation = outcome.evaluation
        self.theta = evaluation.theta
        self.theta_labels = parameters.labels
        self.sigma, self.pi, self.rho = parameters.expand(self.theta)
        self.beta = evaluation.beta.reshape(-1, 1)
        se = statistics['se']
        P = parameters.P
        self.sigma_se, self.pi_se, self.rho_se = parameters.expand(se[:P], fill_fixed=np.nan)
        self.beta_se = se[P:].reshape(-1, 1)
        self.beta_labels = list(problem.X1_labels)
        self.sigma_labels = list(problem.X2_labels)
        self.pi_labels = list(problem.demographics_labels)
        self.rho_labels = list(parameters.rho_labels) if problem.H else []
        self.delta = evaluation.delta.reshape(-1, 1)
        self.xi = evaluation.xi.reshape(-1, 1)
        self.objective = evaluation.objective
        self.gradient = evaluation.gradient
        self.projected_gradient = statistics['projected_gradient']
        self.gradient_norm = float(np.abs(self.projected_gradient).max()) if P else float('nan')
        self.hessian = statistics['hessian']
        self.hessian_eigenvalues = statistics['hessian_eigenvalues']
        self.active_bounds = statistics['active_bounds']  # labels of parameters that ended at a bound
        self.parameter_covariances = statistics['parameter_covariances']
        self.W = outcome.W
        self.updated_W = statistics['updated_W']
        self.step = statistics['step']
        self.converged = bool(outcome.converged)
        self.optimization_message = outcome.message
        self.optimization_iterations = sum(step.iterations for step in history)
        self.objective_evaluations = sum(step.evaluations for step in history)
        self.contraction_evaluations = estimation.contraction_evaluations
        layout = problem.products.layout
        self.contraction_evaluations_by_market = dict(zip(map(str, layout.markets),
                                                          estimation.market_evaluations.tolist()))
        self.inner_loop_failures = list(estimation.inner_loop_failures)
        self.timings = {
            'total_seconds': seconds,
            'optimization_seconds': sum(step.seconds for step in history),
            'contraction_seconds': estimation.contraction_seconds,
        }
        self.method = estimation.method
        self.optimization = estimation.optimization

    def __repr__(self) -> str:
        lines = [f'ProblemResults(objective={self.objective:.6g}, gradient_norm={self.gradient_norm:.3g}, '
                 f'converged={self.converged}, step={self.step})']
        for entry in self.parameter_table():
            se = 'fixed' if entry['fixed'] else f"{entry['se']:.6g}" if entry['se'] is not None else 'nan'
            name = entry['kind'] + '[' + ', '.join(str(x) for x in (entry['row'], entry['column']) if x is not None) + ']'
            lines.append(f"  {name:<40} {entry['value']:+.6e}  ({se})")
        return '\n'.join(lines)

    def parameter_table(self) -> list[dict[str, Any]]:
        """Every parameter as {kind, row, column, value, se, fixed}: beta by X1 label, sigma's lower triangle,
        pi by X2 label and demographic, rho by nest."""
        table = [{'kind': 'beta', 'row': label, 'column': None, 'value': _number(self.beta[i, 0]),
                  'se': _number(self.beta_se[i, 0]), 'fixed': False} for i, label in enumerate(self.beta_labels)]
        free = {(p.kind, p.location) for p in self._estimation.parameters.unfixed}
        for row, column in zip(*np.tril_indices(len(self.sigma_labels))):
            table.append({'kind': 'sigma', 'row': self.sigma_labels[row], 'column': self.sigma_labels[column],
                          'value': _number(self.sigma[row, column]), 'se': _number(self.sigma_se[row, column]),
                          'fixed': ('sigma', (row, column)) not in free})
        for row, column in np.ndindex(self.pi.shape):
            table.append({'kind': 'pi', 'row': self.sigma_labels[row], 'column': self.pi_labels[column],
                          'value': _number(self.pi[row, column]), 'se': _number(self.pi_se[row, column]),
                          'fixed': ('pi', (row, column)) not in free})
        for row, label in enumerate(self.rho_labels):
            table.append({'kind': 'rho', 'row': label, 'column': None, 'value': _number(self.rho[row, 0]),
                          'se': _number(self.rho_se[row, 0]), 'fixed': ('rho', (row, 0)) not in free})
        return table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: parameters with labels, values and SEs, diagnostics, and what `Problem.restore` needs."""
        return {
            'parameters': self.parameter_table(),
            'objective': _number(self.objective),
            'gradient_norm': _number(self.gradient_norm),
            'projected_gradient': _nested(self.projected_gradient),
            'hessian_eigenvalues': _nested(self.hessian_eigenvalues),
            'active_bounds': list(self.active_bounds),
            'converged': self.converged,
            'optimization_message': self.optimization_message,
            'step': self.step,
            'method': self.method,
            'optimization_iterations': self.optimization_iterations,
            'objective_evaluations': self.objective_evaluations,
            'contraction_iterations': int(self.contraction_evaluations),
            'contraction_iterations_by_market': self.contraction_evaluations_by_market,
            'inner_loop_failures': self.inner_loop_failures,
            'timings': self.timings,
            'dimensions': {'N': self.problem.N, 'T': self.problem.T, 'K1': self.problem.K1, 'K2': self.problem.K2,
                           'D': self.problem.D, 'MD': self.problem.MD, 'H': self.problem.H},
            'restore': {
                'sigma': _nested(self.sigma), 'pi': _nested(self.pi), 'rho': _nested(self.rho),
                'free': [[p.kind, list(p.location)] for p in self._estimation.parameters.unfixed],
                'W': _nested(self.W), 'step': self.step,
            },
        }

    # ---------------------------------------------------------------- demand-side quantities
    def _linear_coefficient(self, name: str) -> tuple[float, Optional[int]]:
        """beta on `name` and the X2 column of `name`; refuses characteristics that enter non-linearly."""
        labels = self.beta_labels + self.sigma_labels
        others = [label for label in labels if label != name and name in label.replace('(', ' ').replace(')', ' ')
                  .replace(':', ' ').replace('*', ' ').split()]
        if others:
            raise SpecificationError(f'{name!r} enters non-linearly ({others[0]!r}); derivatives with respect to it '
                                     f'are not supported', parameter='name')
        if name not in labels:
            raise SpecificationError(f'{name!r} is not a column of X1 or X2', parameter='name')
        beta = float(self.beta[self.beta_labels.index(name), 0]) if name in self.beta_labels else 0.0
        column = self.sigma_labels.index(name) if name in self.sigma_labels else None
        return beta, column

    def _agent_probabilities(self, delta: np.ndarray, X2_change: Optional[tuple[int, np.ndarray]] = None):
        """Individual probabilities (T x J x I) and weights (T x I); logit is one agent with weight one."""
        problem = self.problem
        layout = problem.products.layout
        padded_delta = layout.pad(delta)
        if problem.demand is None:
            mask = layout.mask
            top = np.maximum(np.where(mask, padded_delta, -np.inf).max(axis=1), 0)
            exp_delta = np.where(mask, np.exp(padded_delta - top[:, None]), 0)
            probabilities = exp_delta / (np.exp(-top) + exp_delta.sum(axis=1))[:, None]
            return probabilities[:, :, None], np.ones((layout.T, 1))
        demand = problem.demand
        if X2_change is not None:
            from blp.demand import RandomCoefficients
            column, values = X2_change
            X2 = problem.X2.copy()
            X2[:, column] = values
            demand = RandomCoefficients(layout, X2, demand.weights, demand.nodes, demand.demographics)
        utilities = demand.utilities(self.sigma, self.pi)
        return demand.probabilities(utilities, padded_delta), demand.weights

    def _check_nested(self, what: str) -> None:
        if self.problem.H:
            raise SpecificationError(f'{what} for nested logit is not supported yet', parameter='rho')

    def _derivatives(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """ds_j/dx_k per market (T x J x J, padded) and shares (T x J)."""
        self._check_nested('derivatives')
        beta, column = self._linear_coefficient(name)
        probabilities, weights = self._agent_probabilities(self.delta[:, 0])
        slopes = np.full(weights.shape, beta)
        if column is not None and self.problem.agents is not None:
            slopes = beta + self.problem.demand.utilities(self.sigma, self.pi).coefficients[:, :, column]
        weighted = probabilities * weights[:, None, :]
        shares = weighted.sum(axis=2)
        sloped = weighted * slopes[:, None, :]
        derivatives = -sloped @ probabilities.transpose(0, 2, 1)
        diagonal = np.einsum('tjj->tj', derivatives)
        diagonal += sloped.sum(axis=2)
        return derivatives, shares

    def _by_market(self, padded: np.ndarray, market_id: Any = None) -> dict[str, dict[str, Any]]:
        layout = self.problem.products.layout
        product_ids = self.problem.products.product_ids
        output = {}
        for t, market in enumerate(layout.markets):
            if market_id is not None and str(market) != str(market_id):
                continue
            count = layout.counts[t]
            rows = np.flatnonzero(layout.market_index == t)
            rows = rows[np.argsort(layout.position[rows])]
            ids = [str(v) for v in (product_ids[rows] if product_ids is not None else layout.position[rows])]
            output[str(market)] = {'product_ids': ids, 'matrix': _nested(padded[t, :count, :count])}
        if market_id is not None and not output:
            raise SpecificationError(f'market {market_id!r} is not in the product data', parameter='market')
        return output

    def compute_elasticities(self, name: str = 'prices', market_id: Any = None) -> dict[str, dict[str, Any]]:
        """Per market, E[j, k] = (x_k / s_j) ds_j / dx_k (rows: the product whose share responds)."""
        derivatives, shares = self._derivatives(name)
        layout = self.problem.products.layout
        values = layout.pad(self.problem.products.frame[name].to_numpy(dtype=float))
        with np.errstate(divide='ignore', invalid='ignore'):
            elasticities = derivatives * values[:, None, :] / shares[:, :, None]
        return self._by_market(elasticities, market_id)

    def compute_diversion_ratios(self, name: str = 'prices', market_id: Any = None) -> dict[str, dict[str, Any]]:
        """Per market, D[j, k] = -(ds_k/dx_j) / (ds_j/dx_j): the share of j's lost sales that go to k; the
        diagonal holds diversion to the outside good. Each row sums to one."""
        derivatives, _ = self._derivatives(name)
        mask = self.problem.products.layout.mask
        by_own = derivatives.transpose(0, 2, 1)  # [t, j, k] = ds_k / dx_j
        own = np.einsum('tjj->tj', by_own).copy()
        outside = -(by_own * mask[:, None, :]).sum(axis=2)
        with np.errstate(divide='ignore', invalid='ignore'):
            ratios = -by_own / own[:, :, None]
            diagonal = -outside / own
        index = np.arange(ratios.shape[1])
        ratios[:, index, index] = diagonal
        return self._by_market(ratios, market_id)

    def compute_shares(self, prices: Optional[np.ndarray] = None, market_id: Any = None) -> np.ndarray:
        """Shares (N x 1, or the market's rows) at other prices, holding xi and the estimates fixed."""
        self._check_nested('counterfactual shares')
        problem = self.problem
        delta = self.delta[:, 0].copy()
        change = None
        if prices is not None:
            prices = np.asarray(prices, dtype=float).ravel()
            old = problem.products.frame['prices'].to_numpy(dtype=float)
            if market_id is not None and prices.size != old.size:
                selected = problem.products.market_ids.astype(str) == str(market_id)
                if prices.size != selected.sum():
                    raise SpecificationError(f'prices must have one value per product in market {market_id!r}',
                                             parameter='prices')
                full = old.copy()
                full[selected] = prices
                prices = full
            if prices.size != old.size or not np.isfinite(prices).all():
                raise SpecificationError('prices must be finite, one per product row', parameter='prices')
            beta, column = self._linear_coefficient('prices')
            delta += beta * (prices - old)
            if column is not None:
                change = (column, prices)
        probabilities, weights = self._agent_probabilities(delta, change)
        shares = problem.products.layout.unpad((probabilities * weights[:, None, :]).sum(axis=2))
        if market_id is not None:
            selected = problem.products.market_ids.astype(str) == str(market_id)
            if not selected.any():
                raise SpecificationError(f'market {market_id!r} is not in the product data', parameter='market')
            return shares[selected].reshape(-1, 1)
        return shares.reshape(-1, 1)
