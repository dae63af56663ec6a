"""Estimates with their standard errors and diagnostics, shaped like PyBLP's `ProblemResults`; what is computed from
them (elasticities, diversion ratios, costs, equilibrium prices, counterfactuals) comes from `PostEstimation`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import scipy.linalg

from blp.estimation import attributes as pyblp_attributes
from blp.estimation.contractions import market_arrays
from blp.estimation.parameters import NonlinearValues, Parameter, Parameters
from blp.estimation.records import Statistics, StepOutcome
from blp.estimation.summary import results_summary
from blp.exceptions import SpecificationError
from blp.pickling import Pickled
from blp.post import importance, micro_values, scores
from blp.post.bootstrap import bootstrap
from blp.post.optimal import compute_optimal_instruments
from blp.post.postestimation import PostEstimation
from blp.serialization import jsonable

if TYPE_CHECKING:  # the estimator builds the results: a back-reference for the type checker only
    from blp.estimation.estimator import Estimation

# Options a stored estimate keeps so that restoring it reproduces its standard errors.
STORED_OPTIONS = ('W_type', 'se_type', 'center_moments', 'scale_objective', 'costs_bounds', 'covariance_moments_mean',
                  'demand_moment_types', 'supply_moment_types', 'micro_sample_covariances')
MATRIX_OPTIONS = ('costs_bounds', 'micro_sample_covariances')  # stored as JSON lists


class ProblemResults(PostEstimation, Pickled):
    """The outcome of `Problem.solve`. Array attributes have PyBLP's shapes: beta (K1 x 1), sigma (K2 x K2),
    pi (K2 x D), rho (H x 1 or 1 x 1), gamma (K3 x 1, with a supply side), and the same for their standard errors
    (NaN where fixed); xi and omega (N x 1); with a supply side the estimated costs and markups (N x 1)."""

    theta: np.ndarray
    nonlinear_values: NonlinearValues
    beta: np.ndarray
    delta: np.ndarray
    xi: np.ndarray

    def __init__(self, estimation: Estimation, outcome: StepOutcome, history: list[StepOutcome], statistics: Statistics,
                 seconds: float) -> None:
        self._estimation = estimation
        self.problem = problem = estimation.problem
        parameters = estimation.parameters
        evaluation = outcome.evaluation
        self.theta = evaluation.theta
        self.theta_labels = [pyblp_label(parameter, parameters) for parameter in parameters.unfixed]
        self.nonlinear_values = values = parameters.expand(self.theta)
        self.sigma, self.pi, self.rho = values.sigma, values.pi, values.rho
        se = statistics.se
        P = parameters.P
        standard_errors = parameters.expand(se[:P], fill_fixed=np.nan)
        self.sigma_se, self.pi_se, self.rho_se = standard_errors.sigma, standard_errors.pi, standard_errors.rho
        self.phi, self.phi_se, self.phi_labels = values.phi, standard_errors.phi, list(parameters.phi_labels)
        stacked = evaluation.stacked
        concentrated = parameters.concentrated_beta
        K_demand = int(concentrated.sum())
        beta, beta_se = values.beta[:, 0].copy(), standard_errors.beta[:, 0].copy()
        beta[concentrated], beta_se[concentrated] = stacked.coefficients[0], se[P:P + K_demand]
        self.beta, self.beta_se = beta.reshape(-1, 1), beta_se.reshape(-1, 1)
        self.beta_labels = list(problem.X1_labels)
        supply = problem.supply is not None
        gamma, gamma_se = values.gamma[:, 0].copy(), standard_errors.gamma[:, 0].copy()
        if supply:  # the concentrated elements from the supply IV step, the others from theta
            kept = parameters.concentrated_gamma
            gamma[kept], gamma_se[kept] = stacked.coefficients[1], se[P + K_demand:P + K_demand + int(kept.sum())]
        self.gamma, self.gamma_se = gamma.reshape(-1, 1), gamma_se.reshape(-1, 1)
        self.gamma_labels = list(problem.supply.X3_labels) if problem.supply is not None else []
        self.omega = stacked.structural[1].reshape(-1, 1) if supply else np.zeros((0, 1))
        details = stacked.details[1] if supply else {}
        self.estimated_costs = details['costs'].reshape(-1, 1) if supply else None
        self.estimated_markups = details['markups'].reshape(-1, 1) if supply else None
        self.clipped_costs = int(details.get('clipped_costs', 0))
        self.costs_type = problem.costs_type if supply else None
        self.demand_model = estimation.model
        self.warnings = list(problem.warnings) + list(estimation.warnings)
        self.sigma_labels = list(problem.X2_labels)
        self.pi_labels = list(problem.demographics_labels)
        self.rho_labels = list(parameters.rho_labels) if problem.H else []
        self.delta = evaluation.delta.reshape(-1, 1)
        self.xi = evaluation.xi.reshape(-1, 1)
        # PyBLP's d xi / d theta and d omega / d theta (NaN without a supply side): beta and gamma held fixed, or with
        # covariance moments their total derivatives through the concentrated-out beta and gamma (as PyBLP's); with
        # moment types other than levels, those of the levels errors (PyBLP's, whatever the moments' types)
        jacobians = [*(stacked.structural_jacobians or stacked.dependent_jacobians), None]
        self.xi_by_theta_jacobian, self.omega_by_theta_jacobian = (
            np.full((problem.N, P), np.nan) if jacobian is None else np.asarray(jacobian).reshape(problem.N, P)
            for jacobian in jacobians[:2])
        micro = evaluation.stacked.micro  # PyBLP's micro (observed - fitted), micro_values, micro_covariances
        moments = estimation.moments
        self.micro_labels = [label for block in moments.micro for label in block.labels]
        self.micro_observed = np.concatenate([block.compiled.observed for block in moments.micro]) if micro else \
            np.zeros(0)
        self.micro_values = np.concatenate([values.values for values in micro]).reshape(-1, 1) if micro else \
            np.zeros((0, 1))
        self.micro = np.concatenate([values.moments for values in micro]).reshape(-1, 1) if micro else np.zeros((0, 1))
        self.micro_covariances = scipy.linalg.block_diag(*(values.covariances for values in micro)) if micro else \
            np.zeros((0, 0))
        if micro and estimation.micro_sample_covariances is not None:  # as PyBLP: the given ones
            self.micro_covariances = estimation.micro_sample_covariances
        order = estimation.moment_order  # arrays over the moments in PyBLP's order
        M = evaluation.stacked.moments.size  # PyBLP's simulation error in S (zero without resample_agent_data)
        self.simulation_covariances = np.zeros((M, M)) if estimation.resampling is None else \
            order.matrix(estimation.resampling.covariances(evaluation.theta, outcome.W))
        self.objective = np.array(evaluation.objective, dtype=float)  # PyBLP's 0-d array: `.item()` works
        self.moments = order.vector(np.asarray(stacked.moments, dtype=float)).reshape(-1, 1)  # g-bar, M x 1
        self.moments_jacobian = order.vector(statistics.moments_jacobian)  # d g-bar / d (theta, beta and gamma)
        self.gradient = evaluation.gradient
        self.projected_gradient = statistics.projected_gradient
        self.gradient_norm = float(np.abs(self.projected_gradient).max()) if P else float('nan')
        self.hessian = statistics.hessian
        self.hessian_eigenvalues = statistics.hessian_eigenvalues
        self.active_bounds = statistics.active_bounds  # labels of parameters that ended at a bound
        self.parameter_covariances = statistics.parameter_covariances
        self.W = order.matrix(outcome.W)
        self.updated_W = order.matrix(statistics.updated_W)
        self.step = statistics.step
        self.converged = bool(outcome.converged)
        self.optimization_message = outcome.message
        self.optimization_iterations = sum(step.iterations for step in history)
        self.objective_evaluations = sum(step.evaluations for step in history)
        contractions = estimation.contractions
        self.contraction_evaluations = contractions.contraction_evaluations
        self.fp_iterations = contractions.fixed_point_iterations
        layout = problem.products.layout
        self.contraction_evaluations_by_market = dict(zip(map(str, layout.markets),
                                                          contractions.market_evaluations.tolist()))
        self.inner_loop_failures = list(estimation.inner_loop_failures)
        self.timings = {
            'total_seconds': seconds,
            'optimization_seconds': sum(step.seconds for step in history),
            'contraction_seconds': estimation.contraction_seconds,
        }
        self.options = estimation.options
        self.method = estimation.options.method
        self.optimization = estimation.optimization
        self.converged_by_step = [bool(step.converged) for step in history]
        self._pyblp_names(estimation, statistics)
        self.xi_fe, self.omega_fe = self._fixed_effects()
        self._pyblp_attributes(outcome, history, statistics, details)

    def _pyblp_names(self, estimation: Estimation, statistics: Statistics) -> None:
        """PyBLP's names for what the results hold: the projected gradient's norm, the reduced Hessian (rows and
        columns of parameters at a bound zero), sigma squared with delta-method SEs, shares clipped (none: the
        contraction does not clip shares) and the statistics summed over the GMM steps (`cumulative_*`)."""
        self.projected_gradient_norm = self.gradient_norm
        at_bound = np.array([label in statistics.active_bounds for label in estimation.parameters.labels], bool)
        self.reduced_hessian = np.array(self.hessian, dtype=float).reshape(at_bound.size, at_bound.size)
        self.reduced_hessian[at_bound, :] = self.reduced_hessian[:, at_bound] = 0  # PyBLP's: zeros, not removed
        self.reduced_hessian_eigenvalues = np.linalg.eigvalsh(self.reduced_hessian) \
            if self.reduced_hessian.size and np.isfinite(self.reduced_hessian).all() else np.full(at_bound.size, np.nan)
        self.sigma_squared, self.sigma_squared_se = sigma_squared(self.sigma, estimation.parameters,
                                                                  self.parameter_covariances, self.problem.N)
        self.clipped_shares = np.zeros((self.problem.N, 1), dtype=bool)
        self.cumulative_total_time = self.timings['total_seconds']
        self.cumulative_optimization_time = self.timings['optimization_seconds']
        self.cumulative_converged = all(self.converged_by_step)  # PyBLP's: every GMM step's optimizer converged
        self.cumulative_optimization_iterations = self.optimization_iterations
        self.cumulative_objective_evaluations = self.objective_evaluations
        self.cumulative_contraction_evaluations = self.contraction_evaluations
        self.cumulative_fp_iterations = self.fp_iterations

    def _pyblp_attributes(self, outcome: StepOutcome, history: list[StepOutcome], statistics: Statistics,
                          details: dict) -> None:
        """The rest of PyBLP's attributes (`to_dict`): the last step's times and the steps' contraction columns,
        theta with the concentrated-out beta and gamma (`parameters`), their sensitivity to the moments, bounds,
        the transformed costs, S and the micro moments' Jacobian."""
        problem = self.problem
        self.optimization_time = outcome.seconds
        self.total_time = self.timings['total_seconds'] - sum(step.seconds for step in history[:-1])
        self._last_counts = (outcome.iterations, outcome.evaluations)
        self._contraction_columns = [step.markets for step in history]  # compact, PyBLP's arrays on demand (`_market_counts`)
        concentrated = self._estimation.parameters.concentrated_beta
        self.parameters = np.c_[np.r_[self.theta, self.beta[concentrated, 0], self.gamma[:, 0]]]
        self.moments_covariances = self._estimation.moment_order.matrix(statistics.S)
        self.parameter_sensitivity = pyblp_attributes.sensitivity(self)
        for name, value in pyblp_attributes.bounds(self).items():
            setattr(self, name, value)
        micro = outcome.evaluation.stacked.micro
        self.micro_by_theta_jacobian = np.vstack([values.jacobian for values in micro]) if micro else \
            np.zeros((0, self.theta.size))
        self.clipped_costs_mask = np.asarray(details.get('clipped', np.zeros(problem.N, bool)), bool).reshape(-1, 1)
        self.tilde_costs = np.zeros((problem.N, 0))
        if self.estimated_costs is not None:
            with np.errstate(divide='ignore', invalid='ignore'):
                self.tilde_costs = np.log(self.estimated_costs) if self.costs_type == 'log' else self.estimated_costs

    def _market_counts(self, cumulative: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PyBLP's fp_converged, fp_iterations and contraction_evaluations (T x one column per contraction of the
        last step's optimization; `cumulative`: of every step's), int64, built from the compact columns kept."""
        steps = self._contraction_columns if cumulative else self._contraction_columns[-1:]
        return market_arrays([column for columns in steps for column in columns], self.problem.T)

    @property
    def fp_converged(self) -> np.ndarray:
        return self._market_counts()[0]

    @property
    def cumulative_fp_converged(self) -> np.ndarray:
        return self._market_counts(cumulative=True)[0]

    def _fixed_effects(self) -> tuple[np.ndarray, np.ndarray]:
        """PyBLP's xi_fe and omega_fe: what the absorbed fixed effects contribute to delta and to the transformed
        costs (delta - X1 beta - xi and c~ - X3 gamma - omega with X1 and X3 before absorbing); zeros where none."""
        problem = self.problem
        xi_fe = self.delta - problem.X1_raw @ self.beta - self.xi if problem.absorber.dimensions else \
            np.zeros_like(self.xi)
        supply = problem.supply
        omega_fe = np.zeros((problem.N, 0 if supply is None else 1))  # PyBLP's N x 0 without a supply side
        if supply is not None and supply.absorber.dimensions and self.estimated_costs is not None:
            with np.errstate(divide='ignore', invalid='ignore'):
                tilde = np.log(self.estimated_costs) if supply.costs_type == 'log' else self.estimated_costs
            omega_fe = tilde - supply.X3_raw @ self.gamma - self.omega
        return xi_fe, omega_fe

    def run_hansen_test(self) -> float:
        """PyBLP's Hansen J statistic, N times the unscaled GMM objective (chi-squared with as many degrees of freedom
        as overidentifying restrictions when W is optimal)."""
        return (1 if self.options.scale_objective else self.problem.N) * float(self.objective)

    def run_distance_test(self, unrestricted: 'ProblemResults') -> np.ndarray:
        """PyBLP's distance (likelihood-ratio-like) statistic: this restricted model's J minus the unrestricted one's,
        on the same products."""
        if not isinstance(unrestricted, ProblemResults):
            raise SpecificationError('unrestricted must be other ProblemResults', parameter='unrestricted')
        if unrestricted.problem.N != self.problem.N:
            raise SpecificationError(f'unrestricted must have the same {self.problem.N} products as these results, '
                                     f'not {unrestricted.problem.N}', parameter='unrestricted')
        return np.array(self.run_hansen_test() - unrestricted.run_hansen_test())

    def run_lm_test(self) -> float:
        """PyBLP's Lagrange multiplier statistic N g' W G V G' W g (g the averaged moments, G their Jacobian, V the
        parameters' covariances)."""
        gradient = self.moments_jacobian.T @ self.W @ self.moments
        return self.problem.N * float((gradient.T @ self.parameter_covariances @ gradient).item())

    def run_wald_test(self, restrictions: Any, restrictions_jacobian: Any) -> float:
        """PyBLP's Wald statistic N r' (R V R')^-1 r for restrictions r(theta) = 0 (a column vector at the estimates)
        with Jacobian R (a row per restriction, a column per row of `parameter_covariances`); a singular R V R' is
        pseudo-inverted."""
        r = np.asarray(restrictions, dtype=float)
        r = r.reshape(-1, 1) if r.ndim < 2 else r
        R = np.atleast_2d(np.asarray(restrictions_jacobian, dtype=float))
        size = self.parameter_covariances.shape[0]
        if r.shape[1] != 1:
            raise SpecificationError('restrictions must be a column vector', parameter='restrictions')
        if R.shape != (r.shape[0], size):
            raise SpecificationError(f'restrictions_jacobian must be a {r.shape[0]} by {size} matrix, not '
                                     f'{R.shape[0]} by {R.shape[1]}', parameter='restrictions_jacobian')
        matrix = R @ self.parameter_covariances @ R.T
        try:
            inverted = np.linalg.inv(matrix)
        except np.linalg.LinAlgError:
            inverted = np.linalg.pinv(matrix)
        return self.problem.N * float((r.T @ inverted @ r).item())

    def compute_optimal_instruments(self, method: str = 'approximate', draws: int = 1, seed: Optional[int] = None,
                                    expected_prices: Any = None, iteration: Any = None,
                                    constant_costs: bool = True) -> Any:
        """Feasible optimal instruments, Z_D and with a supply side Z_S (`blp.post.optimal`); `.to_problem()`
        re-creates a demand-only problem with them. `iteration`: the equilibrium prices' (supply side);
        `constant_costs` as PyBLP's (it matters only with shares in X3)."""
        return compute_optimal_instruments(self, method, draws, seed, expected_prices, iteration, constant_costs)

    def compute_micro_scores(self, dataset: Any, micro_data: Any, integration: Any = None) -> list[np.ndarray]:
        """Scores d log P_n / d theta of micro observations, one array per parameter (`blp.post.scores`)."""
        return scores.compute_micro_scores(self, dataset, micro_data, integration)

    def compute_agent_scores(self, dataset: Any, micro_data: Any = None, integration: Any = None) -> list[dict]:
        """Scores of every agent-choice as observations, {market id: array} per parameter (`blp.post.scores`)."""
        return scores.compute_agent_scores(self, dataset, micro_data, integration)

    def compute_micro_values(self, micro_moments: Any) -> np.ndarray:
        """f_m(v) of any micro moments at the estimates, one per moment (`blp.post.micro_values`)."""
        return micro_values.compute_micro_values(self, micro_moments)

    def importance_sampling(self, draws: int, ar_constant: float = 1.0, seed: Optional[int] = None,
                            agent_data: Any = None, integration: Any = None, delta: Any = None) -> Any:
        """PyBLP's importance sampling of agents at the estimates (`blp.post.importance`); `.to_problem()`
        re-creates the problem with the sampled agents."""
        return importance.importance_sampling(self, draws, ar_constant, seed, agent_data, integration, delta)

    def bootstrap(self, draws: int = 1000, seed: Optional[int] = None, iteration: Any = None,
                  constant_costs: bool = True) -> Any:
        """PyBLP's parametric bootstrap of theta, beta and gamma (`blp.post.bootstrap`), with a supply side each
        draw's equilibrium prices (`iteration`: their contraction's); post-estimation per draw."""
        return bootstrap(self, draws, seed, iteration, constant_costs)

    def __repr__(self) -> str:
        """PyBLP's summary tables (`blp.estimation.summary`), numbers by `blp.options.digits`."""
        return results_summary(self)

    def parameter_table(self) -> list[dict[str, Any]]:
        """Every parameter as {kind, row, column, value, se, fixed}: beta by X1 label, sigma's lower triangle,
        pi by X2 label and demographic, rho by nest."""
        table = [{'kind': 'beta', 'row': label, 'column': None, 'value': jsonable(self.beta[i, 0]),
                  'se': jsonable(self.beta_se[i, 0]), 'fixed': False} for i, label in enumerate(self.beta_labels)]
        free = {(kind, tuple(location)) for kind, location in self._estimation.parameters.free}
        for row, column in zip(*np.tril_indices(len(self.sigma_labels))):
            table.append({'kind': 'sigma', 'row': self.sigma_labels[row], 'column': self.sigma_labels[column],
                          'value': jsonable(self.sigma[row, column]), 'se': jsonable(self.sigma_se[row, column]),
                          'fixed': ('sigma', (row, column)) not in free})
        for row, column in np.ndindex(self.pi.shape):
            table.append({'kind': 'pi', 'row': self.sigma_labels[row], 'column': self.pi_labels[column],
                          'value': jsonable(self.pi[row, column]), 'se': jsonable(self.pi_se[row, column]),
                          'fixed': ('pi', (row, column)) not in free})
        concentrated = self._estimation.parameters.concentrated_beta
        for index, entry in enumerate(table[:len(self.beta_labels)]):
            entry['fixed'] = bool(not concentrated[index] and ('beta', (index, 0)) not in free)
        kept = self._estimation.parameters.concentrated_gamma
        for index, label in enumerate(self.gamma_labels):  # fixed: given as zero (neither concentrated nor in theta)
            table.append({'kind': 'gamma', 'row': label, 'column': None, 'value': jsonable(self.gamma[index, 0]),
                          'se': jsonable(self.gamma_se[index, 0]),
                          'fixed': bool(not kept[index] and ('gamma', (index, 0)) not in free)})
        for nest, label in enumerate(self.rho_labels):
            table.append({'kind': 'rho', 'row': label, 'column': None, 'value': jsonable(self.rho[nest, 0]),
                          'se': jsonable(self.rho_se[nest, 0]), 'fixed': ('rho', (nest, 0)) not in free})
        for row, column in np.ndindex(self.phi.shape):
            table.append({'kind': 'phi', 'row': self.phi_labels[row], 'column': self.phi_labels[column],
                          'value': jsonable(self.phi[row, column]), 'se': jsonable(self.phi_se[row, column]),
                          'fixed': ('phi', (row, column)) not in free})
        return table

    def to_dict(self, attributes: Sequence[str] = pyblp_attributes.ATTRIBUTES) -> dict[str, Any]:
        """PyBLP's: its attribute names mapped to its values (numpy arrays; `to_document` is the JSON form)."""
        return pyblp_attributes.pyblp_dict(self, attributes)

    def to_document(self) -> dict[str, Any]:
        """JSON-ready: parameters with labels, values and SEs, diagnostics, and what `Problem.restore` needs."""
        return {
            'parameters': self.parameter_table(),
            'micro_moments': [{'name': name, 'observed': jsonable(observed), 'fitted': jsonable(fitted),
                               'difference': jsonable(observed - fitted)}
                              for name, observed, fitted in zip(self.micro_labels, self.micro_observed,
                                                                self.micro_values[:, 0])],
            'objective': jsonable(self.objective),
            'gradient_norm': jsonable(self.gradient_norm),
            'projected_gradient': jsonable(self.projected_gradient),
            'hessian_eigenvalues': jsonable(self.hessian_eigenvalues),
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
                           'K3': self.problem.K3, 'D': self.problem.D, 'MD': self.problem.MD,
                           'MS': self.problem.MS, 'MC': self.problem.MC, 'H': self.problem.H},
            'clipped_costs': self.clipped_costs,
            'warnings': list(self.warnings),
            'restore': {
                'sigma': jsonable(self.sigma), 'pi': jsonable(self.pi), 'rho': jsonable(self.rho),
                'phi': jsonable(self.phi),
                'beta': jsonable(self.nonlinear_values.beta),
                'gamma': jsonable(self.nonlinear_values.gamma),
                'free': self._estimation.parameters.free,
                'W': jsonable(self.W), 'moment_order': 'pyblp',  # W's and simulation_covariances' rows
                'step': self.step, 'hessian': jsonable(self.hessian),
                'micro_moments': len(self.micro_labels),
                **{key: jsonable(getattr(self.options, key)) if key in MATRIX_OPTIONS else getattr(self.options, key)
                   for key in STORED_OPTIONS},
                'simulation_covariances': jsonable(self.simulation_covariances) if self.simulation_covariances.any()
                else None,
                # the 'return' iteration took its delta as given: a restore evaluates at the same delta
                **({'iteration': 'return', 'delta': jsonable(self.delta[:, 0])} if self.options.iteration.returns
                   else {}),
            },
        }


def pyblp_label(parameter: Parameter, parameters: Parameters) -> str:
    """PyBLP's label of an element of theta: `'prices x prices'` (sigma), `'prices x income'` (pi), the nest
    (rho, `'All Groups'` for one rho), `'Xi on Omega'` (phi), the X1 column (beta) or the X3 column (gamma)."""
    row, column = parameter.location
    if parameter.kind == 'sigma':
        return f'{parameters.X2_labels[row]} x {parameters.X2_labels[column]}'
    if parameter.kind == 'pi':
        return f'{parameters.X2_labels[row]} x {parameters.demographics_labels[column]}'
    if parameter.kind == 'rho':
        return parameters.rho_labels[row]
    if parameter.kind == 'phi':
        return f'{parameters.phi_labels[row]} on {parameters.phi_labels[column]}'
    if parameter.kind == 'gamma':
        return parameters.X3_labels[row]
    return parameters.X1_labels[row]


def sigma_squared(sigma: np.ndarray, parameters: Parameters, covariances: np.ndarray,
                  N: int) -> tuple[np.ndarray, np.ndarray]:
    """PyBLP's sigma squared, the covariance of the random coefficients (sigma sigma'), with its standard errors by
    the delta method: d(sigma sigma')_ij / d sigma_kl = 1{i=k} sigma_jl + sigma_il 1{j=k}."""
    K2 = sigma.shape[0]
    squared = sigma @ sigma.T
    jacobian = np.zeros((K2, K2, len(parameters.unfixed)))
    for index, parameter in enumerate(parameters.unfixed):
        if parameter.kind == 'sigma':
            k, l = parameter.location
            jacobian[k, :, index] += sigma[:, l]
            jacobian[:, k, index] += sigma[:, l]
    P = jacobian.shape[2]
    flat = jacobian.reshape(K2 * K2, P)
    with np.errstate(invalid='ignore'):
        variances = np.einsum('ip,pq,iq->i', flat, np.asarray(covariances, dtype=float)[:P, :P], flat) / N
    return squared, np.sqrt(np.clip(variances, 0, None)).reshape(K2, K2)
