"""GMM over theta: the objective with its analytic gradient, the optimizer loop, the steps and the results.

The linear parameters beta are concentrated out (IV-GMM for each theta), so the optimizer only sees theta.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import scipy.optimize

from blp.exceptions import NumericalError, SpecificationError
from blp.gmm import LinearIV, initial_weights, invert, moment_covariances, parameter_covariances
from blp.options import Iteration, Optimization
from blp.parameters import Parameters

DEFAULT_OPTIMIZATION = Optimization('l-bfgs-b', {'gtol': 1e-8})
FINITE_DIFFERENCE_STEP = np.sqrt(np.finfo(float).eps)


@dataclass
class Evaluation:
    """Everything one objective evaluation computed at theta."""

    theta: np.ndarray
    objective: float
    gradient: np.ndarray
    delta: np.ndarray
    beta: np.ndarray
    xi: np.ndarray
    delta_jacobian: np.ndarray
    contraction_evaluations: int = 0
    failed_markets: list = field(default_factory=list)


@dataclass
class StepOutcome:
    evaluation: Evaluation
    W: np.ndarray
    converged: bool
    iterations: int
    evaluations: int
    contraction_evaluations: int
    seconds: float
    message: str


class Estimation:
    """One call of `Problem.solve`: holds the configuration and the warm-started delta between evaluations."""

    def __init__(self, problem: Any, *, sigma: Any, pi: Any, rho: Any, sigma_bounds: Any, pi_bounds: Any,
                 rho_bounds: Any, method: str, optimization: Optional[Optimization], iteration: Optional[Iteration],
                 W: Optional[np.ndarray], W_type: str, se_type: str, center_moments: bool, scale_objective: bool,
                 progress: Optional[Callable[[dict], None]], first_step: int = 1) -> None:
        self.problem = problem
        if method not in ('1s', '2s'):
            raise SpecificationError("method must be '1s' or '2s'", parameter='method')
        for name, value in (('W_type', W_type), ('se_type', se_type)):
            if value not in ('robust', 'clustered', 'unadjusted'):
                raise SpecificationError(f"{name} must be 'robust', 'clustered' or 'unadjusted'", parameter=name)
            if value == 'clustered' and problem.products.clustering_ids is None:
                raise SpecificationError(f"{name}='clustered' needs a clustering_ids column in product_data",
                                         parameter=name)
        self.optimization = optimization or DEFAULT_OPTIMIZATION
        self.iteration = iteration or Iteration()
        self.parameters = Parameters(sigma, pi, rho, problem.X2_labels, problem.demographics_labels,
                                     problem.nest_labels, sigma_bounds, pi_bounds, rho_bounds,
                                     bounded=self.optimization.supports_bounds)
        needed = problem.K1 + self.parameters.P
        if problem.MD < needed:
            names = problem.X1_labels + self.parameters.labels
            raise SpecificationError(
                f"too few instruments: {needed} parameters ({', '.join(names)}) but only {problem.MD} demand "
                f"instruments ({', '.join(problem.ZD_labels) or 'none'}); add demand_instruments columns",
                parameter=self.parameters.labels[-1] if self.parameters.P else problem.X1_labels[-1])
        if W is not None:
            W = np.asarray(W, dtype=float)
            if W.shape != (problem.MD, problem.MD) or not np.isfinite(W).all():
                raise SpecificationError(f'W must be a finite {problem.MD} x {problem.MD} matrix', parameter='W')
        self.W = W if W is not None else initial_weights(problem.ZD)
        self.method, self.W_type, self.se_type = method, W_type, se_type
        self.center_moments, self.scale_objective = center_moments, scale_objective
        self.progress, self.first_step = progress, first_step
        self.variables, self.columns = self._parameter_variables()
        layout = problem.products.layout
        self.warm_delta = layout.pad(problem.logit_delta)
        self.warm_delta_theta: Optional[np.ndarray] = None  # where warm_delta was solved
        self.warm_theta: Optional[np.ndarray] = None  # where warm_jacobian (d delta / d theta) was computed
        self.warm_jacobian: Optional[np.ndarray] = None
        self.log_shares_padded = layout.pad(problem.log_shares)
        self.contraction_evaluations = 0
        self.market_evaluations = np.zeros(layout.T, dtype=np.int64)  # contraction steps per market, cumulative
        self.inner_loop_failures: list[dict] = []  # thetas where markets failed and the optimizer was reverted
        self.contraction_seconds = 0.0

    def _parameter_variables(self) -> tuple[np.ndarray, np.ndarray]:
        """For each free sigma/pi element: the agent variable it multiplies and the X2 column it moves."""
        agents = self.problem.agents
        if agents is None:
            return np.zeros((0, 0, 0)), np.zeros(0, dtype=np.intp)
        variables, columns = [], []
        for parameter in self.parameters.unfixed:
            row, column = parameter.location
            if parameter.kind == 'sigma':
                variables.append(agents.nodes[:, :, column])
            elif parameter.kind == 'pi':
                variables.append(agents.demographics[:, :, column])
            else:
                continue
            columns.append(row)
        shape = (agents.weights.shape[0], agents.weights.shape[1], 0)
        return (np.stack(variables, axis=2) if variables else np.zeros(shape)), np.array(columns, dtype=np.intp)

    # ---------------------------------------------------------------- objective
    def compute_delta(self, theta: np.ndarray, with_jacobian: bool) -> tuple[np.ndarray, np.ndarray, int, list]:
        """delta(theta) (N) and d delta / d theta (N x P), with contraction evaluations and failed markets."""
        problem, layout = self.problem, self.problem.products.layout
        sigma, pi, rho = self.parameters.expand(theta)
        if problem.demand is None:
            delta = problem.logit_delta.copy()
            jacobian = np.zeros((problem.N, self.parameters.P))
            if problem.H:
                rho_by_product = rho[:, 0][problem.nest_codes] if rho.shape[0] > 1 else np.full(problem.N, rho[0, 0])
                delta -= rho_by_product * problem.log_within_shares
                for index, parameter in enumerate(self.parameters.unfixed):
                    in_nest = problem.nest_codes == parameter.location[0] if rho.shape[0] > 1 else True
                    jacobian[:, index] = -problem.log_within_shares * in_nest
            return delta, jacobian, 0, []
        started = time.perf_counter()
        utilities = problem.demand.utilities(sigma, pi)
        contraction = problem.demand.solve_delta(utilities, self.log_shares_padded, self.starting_delta(theta),
                                                 self.iteration)
        self.contraction_seconds += time.perf_counter() - started
        evaluations = int(contraction.evaluations.sum())
        self.contraction_evaluations += evaluations
        self.market_evaluations += contraction.evaluations
        failed = list(layout.markets[~contraction.converged])
        delta = layout.unpad(contraction.delta)
        if failed:
            return delta, np.full((problem.N, self.parameters.P), np.nan), evaluations, failed
        self.warm_delta, self.warm_delta_theta = contraction.delta, np.array(theta, dtype=float)
        jacobian = np.zeros((problem.N, 0))
        if with_jacobian and self.parameters.P:
            padded = problem.demand.delta_jacobian(utilities, contraction.delta, self.variables, self.columns)
            self.warm_theta, self.warm_jacobian = np.array(theta, dtype=float), padded
            jacobian = layout.unpad(padded)
        return delta, jacobian, evaluations, failed

    def starting_delta(self, theta: np.ndarray) -> np.ndarray:
        """The last delta, moved to first order by d delta / d theta when that is known: fewer contraction steps."""
        if self.warm_jacobian is None or not np.array_equal(self.warm_theta, self.warm_delta_theta):
            return self.warm_delta
        predicted = self.warm_delta + self.warm_jacobian @ (np.asarray(theta, dtype=float) - self.warm_theta)
        return predicted if np.isfinite(predicted).all() else self.warm_delta

    def evaluate(self, theta: np.ndarray, iv: LinearIV, with_gradient: bool = True) -> Evaluation:
        problem = self.problem
        delta, jacobian, evaluations, failed = self.compute_delta(theta, with_gradient)
        beta, xi = iv.estimate(problem.absorber(delta))
        N = problem.N
        mean_g = problem.ZD.T @ xi / N
        scale = N if self.scale_objective else 1
        objective = float(scale * mean_g @ iv.W @ mean_g)
        gradient = np.full(self.parameters.P, np.nan)
        if with_gradient and not failed:
            mean_G = problem.ZD.T @ jacobian / N
            gradient = 2 * scale * mean_G.T @ iv.W @ mean_g
        return Evaluation(np.array(theta, dtype=float), objective, gradient, delta, beta, xi, jacobian, evaluations,
                          failed)

    # ---------------------------------------------------------------- optimization
    def optimize(self, start: np.ndarray, W: np.ndarray, step: int) -> StepOutcome:
        iv = LinearIV(self.problem.X1, self.problem.ZD, W)
        started = time.perf_counter()
        contraction_before = self.contraction_evaluations
        first = self.evaluate(start, iv, self.optimization.compute_gradient)
        if first.failed_markets or not np.isfinite(first.objective):
            raise NumericalError(f'the inner loop failed at the starting values in {len(first.failed_markets)} '
                                 f'market(s): {", ".join(map(str, first.failed_markets[:10]))}',
                                 markets=first.failed_markets)
        state = {'last': first, 'good': first, 'evaluations': 1, 'iterations': 0}
        if self.optimization.method == 'return' or self.parameters.P == 0:
            return StepOutcome(first, W, True, 0, 1, self.contraction_evaluations - contraction_before,
                               time.perf_counter() - started, 'no optimization')

        def objective(theta: np.ndarray):
            if np.array_equal(theta, state['last'].theta):
                evaluation = state['last']
            else:
                evaluation = self.evaluate(theta, iv, self.optimization.compute_gradient)
                state['evaluations'] += 1
            if evaluation.failed_markets or not np.isfinite(evaluation.objective):
                self.inner_loop_failures.append({'step': step, 'theta': evaluation.theta.tolist(),
                                                 'markets': [str(m) for m in evaluation.failed_markets]})
                good = state['good']  # revert to the last good values, as PyBLP's error_behavior='revert'
                evaluation = Evaluation(evaluation.theta, good.objective, good.gradient, good.delta, good.beta,
                                        good.xi, good.delta_jacobian, 0, evaluation.failed_markets)
            else:
                state['good'] = evaluation
            state['last'] = evaluation
            if self.optimization.compute_gradient:
                return evaluation.objective, evaluation.gradient
            return evaluation.objective

        def callback(*_: Any, **__: Any) -> None:
            state['iterations'] += 1
            if self.progress is not None:
                last = state['good']
                self.progress({
                    'step': step, 'iteration': state['iterations'], 'evaluations': state['evaluations'],
                    'objective': last.objective,
                    'gradient_norm': float(np.abs(self.projected_gradient(last.theta, last.gradient)).max()),
                    'contraction_iterations': self.contraction_evaluations,
                })

        bounds = self.parameters.bounds
        use_bounds = self.optimization.supports_bounds and any(np.isfinite(b).any() for b in bounds)
        options = dict(self.optimization.method_options)
        result = scipy.optimize.minimize(
            objective, start, jac=self.optimization.compute_gradient, method=self.optimization.method,
            bounds=scipy.optimize.Bounds(*map(np.array, zip(*bounds))) if use_bounds else None, options=options,
            callback=callback)
        theta = np.asarray(result.x, dtype=float)
        good = state['good']
        reusable = np.array_equal(theta, good.theta) and np.isfinite(good.gradient).all()
        final = good if reusable else self.evaluate(theta, iv, True)
        if final.failed_markets:
            raise NumericalError(f'the inner loop failed at the final estimates in {len(final.failed_markets)} '
                                 f'market(s): {", ".join(map(str, final.failed_markets[:10]))}',
                                 markets=final.failed_markets)
        iterations = int(getattr(result, 'nit', state['iterations']) or state['iterations'])
        return StepOutcome(final, W, bool(result.success), iterations, state['evaluations'],
                           self.contraction_evaluations - contraction_before, time.perf_counter() - started,
                           str(result.message))

    def projected_gradient(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """Zero the components that push against an active bound (PyBLP's projected gradient)."""
        projected = np.array(gradient, dtype=float)
        for index, (lower, upper) in enumerate(self.parameters.bounds):
            if theta[index] <= lower:
                projected[index] = min(0.0, projected[index])
            elif theta[index] >= upper:
                projected[index] = max(0.0, projected[index])
        return projected

    def hessian(self, theta: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Central finite differences of the analytic gradient, symmetrized."""
        iv = LinearIV(self.problem.X1, self.problem.ZD, W)
        columns = []
        for index in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[index] += FINITE_DIFFERENCE_STEP / 2
            down[index] -= FINITE_DIFFERENCE_STEP / 2
            columns.append((self.evaluate(up, iv).gradient - self.evaluate(down, iv).gradient) / FINITE_DIFFERENCE_STEP)
        hessian = np.column_stack(columns) if columns else np.zeros((0, 0))
        return (hessian + hessian.T) / 2

    # ---------------------------------------------------------------- steps and results
    def run(self) -> 'ProblemResults':
        from blp.results import ProblemResults
        started = time.perf_counter()
        theta, W = self.parameters.theta, self.W
        steps = 2 if self.method == '2s' else 1
        history = []
        for step in range(self.first_step, self.first_step + steps):
            outcome = self.optimize(theta, W, step)
            history.append(outcome)
            theta = outcome.evaluation.theta
            if step < self.first_step + steps - 1:
                W = invert(self._S(outcome.evaluation.xi, self.W_type))
        outcome = history[-1]
        return ProblemResults(self, outcome, history, self._statistics(outcome, step), time.perf_counter() - started)

    def _S(self, xi: np.ndarray, kind: str) -> np.ndarray:
        return moment_covariances(xi, self.problem.ZD, kind, self.problem.products.clustering_ids, self.center_moments)

    def _statistics(self, outcome: StepOutcome, step: int) -> dict[str, Any]:
        """Standard errors, updated weighting matrix, projected gradient and Hessian at the final estimates."""
        problem, evaluation = self.problem, outcome.evaluation
        S_weights = self._S(evaluation.xi, self.W_type)
        S = S_weights if self.se_type == self.W_type else self._S(evaluation.xi, self.se_type)
        W_covariances = invert(S) if self.se_type == 'unadjusted' and step == 1 else outcome.W
        G = problem.ZD.T @ np.column_stack([evaluation.delta_jacobian, -problem.X1]) / problem.N
        with np.errstate(invalid='ignore'):
            covariances = parameter_covariances(W_covariances, S, G, self.se_type)
            se = np.sqrt(np.diag(covariances) / problem.N)
        theta = evaluation.theta
        projected = self.projected_gradient(theta, evaluation.gradient)
        active = [label for label, value, (lower, upper) in zip(self.parameters.labels, theta, self.parameters.bounds)
                  if value <= lower or value >= upper]
        hessian = np.full((self.parameters.P, self.parameters.P), np.nan)
        eigenvalues = np.full(self.parameters.P, np.nan)
        if self.parameters.P and self.optimization.compute_gradient:
            hessian = self.hessian(theta, outcome.W)
            reduced = hessian.copy()
            for index, (lower, upper) in enumerate(self.parameters.bounds):
                if theta[index] <= lower or theta[index] >= upper:
                    reduced[index, :] = reduced[:, index] = 0
            if np.isfinite(reduced).all():
                eigenvalues = np.linalg.eigvalsh(reduced)
        return {
            'S': S, 'updated_W': invert(S_weights), 'parameter_covariances': covariances, 'se': se,
            'projected_gradient': projected, 'hessian': hessian, 'hessian_eigenvalues': eigenvalues, 'step': step,
            'active_bounds': active,
        }
