"""GMM over theta: the objective with its analytic gradient, the optimizer loop, the steps and the results.

The linear parameters of every moment block (beta, later gamma) are concentrated out (IV-GMM for each theta), so
the optimizer only sees theta. The demand side comes from `problem.model`, the moments from `problem.moments_for`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence

import numpy as np
import scipy.optimize

from blp import options as options_module
from blp import status
from blp.configurations.solve_options import Iteration, Optimization, SolveOptions
from blp.estimation import progress_log
from blp.estimation.contractions import Column, ContractionRecord
from blp.estimation.gmm import LinearIV, SingularWeights, invert, parameter_covariances
from blp.estimation.moment_order import MomentOrder
from blp.estimation.moments import DemandState, MomentStack
from blp.estimation.parameters import Parameters, RhoParameter, check_gamma
from blp.estimation.records import Evaluation, Statistics, StepOutcome
from blp.estimation.resampling import FixedCovariances, Resampling
from blp.estimation.results import STORED_OPTIONS, ProblemResults
from blp.exceptions import NumericalError, SpecificationError, warn
from blp.micro.block import MicroBlock, given_covariances
from blp.micro.compiled import compile_micro
from blp.micro.from_spec import resolve_micro_moments
from blp.model.chunks import ChunkedDemand
from blp.model.settled import settle
from blp.supply.data import too_few_supply_instruments

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.problem import Problem

FINITE_DIFFERENCE_STEP = np.sqrt(np.finfo(float).eps)


def micro_stack(estimation: 'Estimation', stack: MomentStack, micro_moments: Any) -> MomentStack:
    """`stack` with the micro moments of this solve (`blp.micro.block`) stacked after it."""
    problem = estimation.problem
    compiled = compile_micro(problem, resolve_micro_moments(micro_moments, problem))
    if compiled is None:
        return stack
    model, parameters = estimation.model, estimation.parameters
    rho_moves = model.rho_moves(parameters)[:, :, [isinstance(p, RhoParameter) for p in parameters.unfixed]]
    return stack.with_blocks([MicroBlock(compiled, model, estimation.variables, estimation.columns, parameters.P,
                                         rho_moves)])


class CustomProgress(NamedTuple):
    """What a custom optimization method learns with each objective (PyBLP's `OptimizationProgress`, in part)."""

    theta: np.ndarray
    objective: float
    gradient: Optional[np.ndarray]
    iterations: int
    evaluations: int


@dataclass
class _Trace:
    """The optimizer's path within one step: the last evaluation, the last good one (to revert to), counts."""

    last: Evaluation
    good: Evaluation
    evaluations: int = 1
    iterations: int = 0
    smallest: float = math.inf  # the smallest objective so far (PyBLP's log shows improvements on it)


class Estimation:
    """One call of `Problem.solve`: holds the configuration and the warm-started delta between evaluations."""

    def __init__(self, problem: Problem, options: SolveOptions, progress: Optional[Callable[[dict], None]] = None,
                 first_step: int = 1, strict: bool = False, bounded: Optional[bool] = None) -> None:
        """`strict`: refuse an under-identified model (more unfixed parameters than moments), which PyBLP estimates
        with a warning (and so does this class without `strict`); `bounded`: whether PyBLP's default bounds apply
        (None: as the optimizer says)."""
        self.problem, self.options = problem, options
        for name in ('W_type', 'se_type'):
            if getattr(options, name) == 'clustered' and problem.products.clustering_ids is None:
                raise SpecificationError(f"{name}='clustered' needs a clustering_ids column in product_data",
                                         parameter=name)
        self.optimization, self.iteration = options.optimization, options.iteration
        if 'nonlinear' in options.fp_type and problem.epsilon_scale != 1:
            raise SpecificationError("with epsilon_scale other than 1, fp_type must be 'safe_linear' or 'linear' "
                                     "(PyBLP's rule)", parameter='fp_type')
        self.parameters = Parameters.of(problem, options, bounded)
        check_gamma(options.gamma, options.gamma_bounds, None if problem.supply is None else problem.supply.X3_labels)
        self.model = problem.model.with_nodes_for(self.parameters.values.sigma)  # data faults before identification
        self.variables, self.columns = self.model.parameter_variables(self.parameters)
        # Micro blocks hold every surveyed market's choice probabilities anyway: chunks would only recompute them, so
        # they are used there only when a budget is asked for. The supply side is evaluated in chunks of its own.
        whole_blocks = bool(options.micro_moments)
        self.chunked = None if whole_blocks and options.memory_budget_mb is None else ChunkedDemand.needed(
            self.model, self.parameters, self.variables, self.columns, options.chunk_bytes, options.threads)
        self.moments = moments = micro_stack(self, problem.moments_for(self.parameters, options, self.model),
                                             options.micro_moments)
        self.warnings: list[str] = []  # what this solve allows but a user should know (copied into the results)
        self.check_identification(strict)
        self.micro_sample_covariances = given_covariances(options.micro_sample_covariances,
                                                          moments.M - moments.linear_M, self.warnings)
        self.resampling: Optional[Resampling | FixedCovariances] = None if options.resample_agent_data is None else \
            Resampling(self, Estimation)
        # instruments of PyBLP's persistence groups are already in its order
        self.moment_order = MomentOrder.of([] if moments.persistence is not None else
                                           problem.instrument_orders()[:len(moments.blocks)], moments.M)
        W = options.W
        if W is not None:
            W = np.asarray(W, dtype=float)
            if W.shape != (moments.M, moments.M) or not np.isfinite(W).all():
                raise SpecificationError(f'W must be a finite {moments.M} x {moments.M} matrix', parameter='W')
            W = self.moment_order.given(W)  # in PyBLP's order, as results report it
        else:
            try:
                W = moments.initial_weights()
            except SingularWeights:
                raise problem.collinear_instruments_error() from None
        self.W = W
        self.progress, self.first_step = progress, first_step
        layout = problem.products.layout
        self.logit_delta = layout.pad(self.model.logit_delta)
        self.warm_delta = self.logit_delta if options.delta is None else layout.pad(self.given_delta(options.delta))
        self.warm_delta_theta: Optional[np.ndarray] = None  # where warm_delta was solved
        self.warm_theta: Optional[np.ndarray] = None  # where warm_jacobian (d delta / d theta) was computed
        self.warm_jacobian: Optional[np.ndarray] = None
        self.step_delta = self.warm_delta  # where the step's contractions started (PyBLP's start for the Hessian's)
        self.contractions = ContractionRecord(layout.T)  # the counts by market and the steps' columns
        self.inner_loop_failures: list[dict] = []  # thetas where markets failed and the optimizer was reverted
        self.contraction_seconds = 0.0

    def given_delta(self, delta: Any) -> np.ndarray:
        """`solve(delta=...)`: N finite starting values, as PyBLP requires."""
        values = np.asarray(delta, dtype=float)
        if values.size != self.problem.N or not np.isfinite(values).all():
            raise SpecificationError(f'delta must be {self.problem.N} finite values, one per product',
                                     parameter='delta')
        return values.reshape(-1)

    def check_identification(self, strict: bool) -> None:
        """PyBLP's count: unfixed nonlinear parameters, linear parameters (concentrated out or optimized over) and
        gamma against all moments. More parameters than moments is a warning (an error when `strict`)."""
        problem, parameters, moments = self.problem, self.parameters, self.moments
        supply = problem.supply
        if strict and supply is not None and supply.MS < supply.K3:
            raise SpecificationError(too_few_supply_instruments(supply.X3_labels, supply.X3_endogenous,
                                                                supply.ZS_labels), parameter='supply_instruments')
        concentrated = parameters.concentrated_beta
        kept = parameters.concentrated_gamma  # gamma in theta counts among parameters.P
        unfixed = parameters.P + int(concentrated.sum()) + int(kept.sum())
        if unfixed <= moments.M:
            return
        nonlinear = [label for label in parameters.labels if not label.startswith(('beta[', 'gamma['))]
        names = [label for label, keep in zip(problem.X1_labels, concentrated) if keep] + \
            ([label for label, keep in zip(supply.X3_labels, kept) if keep] if supply else []) + parameters.labels
        supplied = f', {problem.MS} supply instruments' if supply else ''
        micro = f', {moments.M - moments.aggregate_M} micro moment(s)' if moments.micro else ''
        covariance = f', {moments.aggregate_M - moments.linear_M} covariance moment(s)' if moments.residual else ''
        counted = f"{problem.MD} demand instruments ({', '.join(problem.ZD_labels) or 'none'}){supplied}{covariance}" \
            f"{micro}"
        if strict:
            raise SpecificationError(
                f"too few instruments: {unfixed} parameters ({', '.join(names)}) but only {counted}; add "
                f"demand_instruments columns (PyBLP would estimate this under-identified model with a warning)",
                parameter=nonlinear[-1] if nonlinear else problem.X1_labels[-1])
        warn(f"the model may be under-identified: {unfixed} unfixed parameters ({', '.join(names)}) but only "
             f"{moments.M} moment(s) from {counted}; check the instruments and which parameters are fixed (PyBLP warns "
             f"and estimates)", self.warnings)

    # ---------------------------------------------------------------- objective
    def demand_state(self, theta: np.ndarray, with_jacobian: bool) -> tuple[DemandState, list, list]:
        """delta(theta) and d delta / d theta from the demand model, with failed markets and unconverged ones (out
        of `max_evaluations` on finite values: used as they are under the default `error_behavior='revert'`, as PyBLP
        uses them, and failed under the others, `blp.model.settled`); keeps the warm start for the next evaluation
        when every market converged."""
        problem, layout, model = self.problem, self.problem.products.layout, self.model
        values = self.parameters.expand(theta)
        started = time.perf_counter()
        chunked_jacobian = None
        if self.chunked is not None:  # the Jacobian comes with the chunks (their utilities are gone afterwards)
            inversion, chunked_jacobian = self.chunked.solve(values, self.starting_delta(theta), self.iteration,
                                                             with_jacobian)
        else:
            inversion = model.invert(values, self.starting_delta(theta), self.iteration)
        self.contraction_seconds += time.perf_counter() - started
        self.contractions.add(inversion.evaluations, inversion.iterations, inversion.converged)
        rule = settle(inversion.converged, inversion.evaluations,
                      layout.pad(inversion.delta) if inversion.padded is None else inversion.padded, self.iteration,
                      self.options.error_behavior == 'revert')
        failed, unconverged = list(layout.markets[~rule.settled]), list(layout.markets[rule.limited])
        jacobian = np.zeros((problem.N, 0))
        padded: Optional[np.ndarray]
        warm = not unconverged  # a delta short of its fixed point is no start for the next contraction
        if failed:
            jacobian = np.full((problem.N, self.parameters.P), np.nan)
        else:
            if inversion.padded is not None and warm:
                self.warm_delta, self.warm_delta_theta = inversion.padded, np.array(theta, dtype=float)
            if chunked_jacobian is not None:
                jacobian, padded = layout.unpad(chunked_jacobian), chunked_jacobian
                if warm:
                    self.warm_theta, self.warm_jacobian = np.array(theta, dtype=float), padded
            elif (with_jacobian or model.random is None) and self.parameters.P:
                jacobian, padded = model.delta_jacobian(inversion, self.parameters, self.variables, self.columns,
                                                        observed=rule.observed)
                if padded is not None and warm:
                    self.warm_theta, self.warm_jacobian = np.array(theta, dtype=float), padded
        return DemandState(np.array(theta, dtype=float), values, inversion.delta, jacobian, inversion), failed, \
            unconverged

    def starting_delta(self, theta: np.ndarray) -> np.ndarray:
        """The last delta, moved to first order by d delta / d theta when that is known: fewer contraction steps
        (or, with `delta_behavior='logit'`, always the logit delta)."""
        if self.options.delta_behavior == 'logit':
            return self.logit_delta
        if self.warm_jacobian is None or self.warm_theta is None or self.warm_delta_theta is None or \
                not np.array_equal(self.warm_theta, self.warm_delta_theta):
            return self.warm_delta
        predicted = self.warm_delta + self.warm_jacobian @ (np.asarray(theta, dtype=float) - self.warm_theta)
        return predicted if np.isfinite(predicted).all() else self.warm_delta

    def evaluate(self, theta: np.ndarray, iv: LinearIV, with_gradient: bool = True) -> Evaluation:
        """The objective (and gradient) at theta. A block that cannot be evaluated here (log costs at a nonpositive
        implied cost) raises; `optimize` reverts from it as from an inner-loop failure."""
        moments = self.moments
        state, failed, unconverged = self.demand_state(theta, with_gradient)
        stacked = moments.evaluate(state, iv, with_gradient and not failed)
        mean_g = stacked.moments
        scale = moments.N if self.options.scale_objective else 1
        objective = float(scale * mean_g @ iv.W @ mean_g)
        gradient = np.full(self.parameters.P, np.nan)
        if with_gradient and not failed:
            mean_G = moments.theta_jacobian(stacked.dependent_jacobians, stacked.micro, stacked.residual)
            gradient = 2 * scale * mean_G.T @ iv.W @ mean_g
        return Evaluation(state.theta, objective, gradient, state.delta, stacked, state.delta_jacobian, failed,
                          unconverged)

    # ---------------------------------------------------------------- optimization
    @property
    def analytic_gradient(self) -> bool:
        """Whether the optimizer is given the analytic gradient (not for gradient-free methods, nor when the solve
        asks for finite differences)."""
        return self.optimization.compute_gradient and not self.options.finite_differences

    def failed_objective(self, state: '_Trace', evaluation: Evaluation, reason: Optional[str] = None) -> Evaluation:
        """What the optimizer is given where evaluation failed (`reason`: why, when no market failed), by
        `error_behavior` (PyBLP's): the last good values (`'revert'`) or an objective of 1 and a zero gradient
        (`'punish'`), the objective scaled by `error_punishment`; `'raise'` stops."""
        options = self.options
        if options.error_behavior == 'raise':
            if evaluation.failed_markets:
                raise self.inner_loop_error(f'theta = {evaluation.theta.tolist()}', evaluation)
            because = f': {reason}' if reason else ''
            raise NumericalError(f'the objective could not be evaluated at theta = {evaluation.theta.tolist()}{because}')
        base = state.good if options.error_behavior == 'revert' else dataclasses.replace(
            state.good, objective=1.0, gradient=np.zeros_like(state.good.gradient))
        return dataclasses.replace(base, theta=evaluation.theta, failed_markets=evaluation.failed_markets,
                                   unconverged_markets=[], objective=base.objective * options.error_punishment)

    def optimize(self, start: np.ndarray, W: np.ndarray, step: int) -> StepOutcome:
        iv = self.moments.iv(W)
        started = time.perf_counter()
        recorded = self.contractions.record()
        analytic = self.analytic_gradient
        columns = self._log_columns()
        first = self.evaluate(start, iv, analytic)
        if first.failed_markets or not np.isfinite(first.objective):
            raise self.inner_loop_error('the starting values', first)
        state = _Trace(first, first)
        self._log(step, state, first, time.perf_counter() - started, recorded, columns)
        self.note_unconverged(step, first)
        if self.optimization.method == 'return' or self.parameters.P == 0:
            self.warn_unconverged(step, first)
            self._log_end(True, started)
            return StepOutcome(evaluation=first, W=W, converged=True, iterations=0, evaluations=1,
                               seconds=time.perf_counter() - started, message='no optimization',
                               markets=self.contractions.stop())

        def objective(theta: np.ndarray) -> Any:
            reason = None
            if np.array_equal(theta, state.last.theta):
                evaluation = state.last
            else:
                evaluated, before = time.perf_counter(), len(recorded)
                try:
                    evaluation = self.evaluate(theta, iv, analytic)
                except SpecificationError as error:  # e.g. log costs at a nonpositive cost
                    evaluation = dataclasses.replace(state.good, theta=np.array(theta, dtype=float),
                                                     objective=np.nan, failed_markets=[], unconverged_markets=[])
                    reason = error.message
                state.evaluations += 1
                self._log(step, state, evaluation, time.perf_counter() - evaluated, recorded[before:], columns)
                self.note_unconverged(step, evaluation)
            if reason or evaluation.failed_markets or not np.isfinite(evaluation.objective):
                self.inner_loop_failures.append({'step': step, 'theta': evaluation.theta.tolist(),
                                                 'markets': [str(m) for m in evaluation.failed_markets],
                                                 **({'reason': reason} if reason else {})})
                evaluation = self.failed_objective(state, evaluation, reason)
            else:
                state.good = evaluation
            state.last = evaluation
            if analytic:
                return evaluation.objective, evaluation.gradient
            return evaluation.objective

        def callback(*_: Any, **__: Any) -> None:
            state.iterations += 1
            if self.progress is not None:
                last = state.good
                norm = float(np.abs(self.projected_gradient(last.theta, last.gradient)).max())
                self.progress({
                    'step': step, 'iteration': state.iterations, 'evaluations': state.evaluations,
                    'objective': last.objective,
                    'gradient_norm': norm if np.isfinite(norm) else None,  # None: finite differences, no gradient
                    'contraction_iterations': self.contractions.contraction_evaluations,
                })

        optimize = self._custom_optimization if self.optimization.custom else self._scipy_optimization
        theta, success, message = optimize(start, objective, callback, state)
        self._log_end(success, started, message)
        good = state.good
        reusable = np.array_equal(theta, good.theta) and np.isfinite(good.gradient).all()
        final = good if reusable else self.evaluate(theta, iv, True)
        if final.failed_markets:
            raise self.inner_loop_error('the final estimates', final)
        self.warn_unconverged(step, final)
        return StepOutcome(evaluation=final, W=W, converged=success, iterations=state.iterations,
                           evaluations=state.evaluations, seconds=time.perf_counter() - started, message=message,
                           markets=self.contractions.stop())

    def warn_unconverged(self, step: int, final: Evaluation) -> None:
        """Warn when a step's estimates rest on contractions that ran out of evaluations (PyBLP warns too)."""
        if final.unconverged_markets:
            warn(f'the contraction did not converge within max_evaluations at the final estimates of step {step} in '
                 f'{len(final.unconverged_markets)} market(s): {", ".join(map(str, final.unconverged_markets[:10]))}; '
                 f'their last iterates were used, as PyBLP uses them', self.warnings)

    def note_unconverged(self, step: int, evaluation: Evaluation) -> None:
        """Record an evaluation whose contraction ran out of evaluations in some markets (used as it is, as PyBLP
        goes on with it) among the inner-loop failures, with why."""
        if evaluation.unconverged_markets and not evaluation.failed_markets and np.isfinite(evaluation.objective):
            self.inner_loop_failures.append({
                'step': step, 'theta': evaluation.theta.tolist(),
                'markets': [str(m) for m in evaluation.unconverged_markets],
                'reason': f'the contraction did not converge within {self.iteration.max_evaluations} evaluations; its '
                          f'last iterate was used, as PyBLP uses it'})

    def _scipy_optimization(self, start: np.ndarray, objective: Callable[[np.ndarray], Any],
                            callback: Callable[..., None], state: _Trace) -> tuple[np.ndarray, bool, str]:
        """`scipy.optimize.minimize` with the optimization's method and options, within bounds where it takes them."""
        bounds = self.parameters.bounds
        use_bounds = self.optimization.supports_bounds and any(np.isfinite(b).any() for b in bounds)
        result = scipy.optimize.minimize(
            objective, start, jac=self.analytic_gradient, method=self.optimization.method,
            bounds=scipy.optimize.Bounds(*map(np.array, zip(*bounds))) if use_bounds else None,
            options=dict(self.optimization.method_options), callback=callback)
        state.iterations = int(getattr(result, 'nit', state.iterations) or state.iterations)
        return np.asarray(result.x, dtype=float), bool(result.success), str(result.message)

    def _custom_optimization(self, start: np.ndarray, objective: Callable[[np.ndarray], Any],
                             callback: Callable[[], None], state: _Trace) -> tuple[np.ndarray, bool, str]:
        """PyBLP's custom optimization method: `method(initial, bounds, objective_function, iteration_callback,
        **method_options) -> (final, converged)`, where `objective_function(theta) -> (objective, gradient or None,
        progress)` (the progress as a `CustomProgress`)."""

        def objective_function(values: Any) -> tuple[float, Optional[np.ndarray], CustomProgress]:
            theta = np.asarray(values, dtype=float).reshape(start.shape)
            value = objective(theta)
            evaluation = state.last
            gradient = evaluation.gradient.copy() if self.analytic_gradient else None
            progress = CustomProgress(theta.copy(), float(evaluation.objective), gradient, state.iterations,
                                      state.evaluations)
            return float(value[0] if isinstance(value, tuple) else value), gradient, progress

        method = self.optimization.method
        assert callable(method)
        bounds = [(float(lower), float(upper)) for lower, upper in self.parameters.bounds]
        final, converged = method(start.copy(), bounds, objective_function, callback,
                                  **dict(self.optimization.method_options))
        theta = np.asarray(final, dtype=float).reshape(start.shape)
        return theta, bool(converged), 'the custom optimization method ' + ('converged' if converged else
                                                                             'did not converge')

    def inner_loop_error(self, where: str, evaluation: Evaluation) -> NumericalError:
        """The markets whose contraction failed at `where`, with the nesting parameters there (RCNL crawls as rho
        nears 1)."""
        markets = evaluation.failed_markets
        detail = self.problem.model.describe(self.parameters.expand(evaluation.theta))
        return NumericalError(f'the inner loop failed at {where} in {len(markets)} market(s): '
                              f'{", ".join(map(str, markets[:10]))}{detail}', markets=markets)

    def _log_columns(self) -> progress_log.Columns:
        """The optional columns of PyBLP's progress log for this solve."""
        options = self.options
        costs_bounds = np.asarray(options.costs_bounds if options.costs_bounds is not None else [np.nan], dtype=float)
        shares_bounds = np.array([np.nan if bound is None else bound for bound in options.shares_bounds], dtype=float)
        return progress_log.Columns(
            clipped_shares=bool(np.isfinite(shares_bounds).any()),
            clipped_costs=self.problem.supply is not None and bool(np.isfinite(costs_bounds).any()),
            gradient=bool(self.optimization.compute_gradient),
            projected=any(np.isfinite(bound) for bounds in self.parameters.bounds for bound in bounds))

    def _log(self, step: int, state: _Trace, evaluation: Evaluation, seconds: float, contractions: Sequence[Column],
             columns: progress_log.Columns) -> None:
        """One row of PyBLP's progress log for `evaluation` (and its `contractions`), after PyBLP's opening lines on
        the first evaluation; PyBLP logs no optimization without parameters."""
        if not options_module.verbose or not self.parameters.P:
            return
        if state.evaluations == 1:
            status.output('Starting optimization ...')
            status.output('')
        details = evaluation.stacked.details[1] if len(evaluation.stacked.details) > 1 else {}
        norm = float(np.abs(self.projected_gradient(evaluation.theta, evaluation.gradient)).max()) \
            if evaluation.theta.size else math.nan
        progress_log.log_row(progress_log.Row(
            step=step, seconds=seconds, iterations=state.iterations, evaluations=state.evaluations,
            fp_iterations=int(sum(column.iterations.sum() for column in contractions)),
            contraction_evaluations=int(sum(column.evaluations.sum() for column in contractions)),
            clipped_costs=int(details.get('clipped_costs', 0)), objective=float(evaluation.objective),
            smallest=state.smallest, gradient_norm=norm, theta=evaluation.theta.tolist()), columns)
        if np.isfinite(evaluation.objective):
            state.smallest = min(state.smallest, float(evaluation.objective))

    def _log_end(self, converged: bool, started: float, message: str = '') -> None:
        if self.parameters.P:
            progress_log.finished(converged, time.perf_counter() - started, message)

    def projected_gradient(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """Zero the components that push against an active bound (PyBLP's projected gradient)."""
        projected = np.array(gradient, dtype=float)
        for index, (lower, upper) in enumerate(self.parameters.bounds):
            if theta[index] <= lower:
                projected[index] = min(0.0, projected[index])
            elif theta[index] >= upper:
                projected[index] = max(0.0, projected[index])
        return projected

    def hessian(self, theta: np.ndarray, W: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Central finite differences of the analytic gradient, symmetrized (PyBLP's method and step). Every
        perturbed contraction starts from the same `start` (the step's first delta, as PyBLP's): chained warm starts
        would put independent contraction errors into each difference, which the step of 1.5e-8 magnifies into the
        smallest eigenvalues. Their contractions are not counted in the cumulative statistics: PyBLP counts those
        of the objective's evaluations only."""
        iv = self.moments.iv(W)
        counts = self.contractions.saved()
        warm = self.warm_delta, self.warm_delta_theta, self.warm_theta, self.warm_jacobian

        def gradient(at: np.ndarray) -> np.ndarray:
            self.warm_delta, self.warm_jacobian = start, None
            return self.evaluate(at, iv).gradient

        columns = []
        for index in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[index] += FINITE_DIFFERENCE_STEP / 2
            down[index] -= FINITE_DIFFERENCE_STEP / 2
            columns.append((gradient(up) - gradient(down)) / FINITE_DIFFERENCE_STEP)
        self.contractions.restore(counts)
        self.warm_delta, self.warm_delta_theta, self.warm_theta, self.warm_jacobian = warm
        hessian = np.column_stack(columns) if columns else np.zeros((0, 0))
        return (hessian + hessian.T) / 2

    # ---------------------------------------------------------------- steps and results
    def run(self) -> ProblemResults:
        try:
            return self._run()
        except NumericalError as error:
            raise self.explained(error) from None

    def explained(self, error: NumericalError) -> NumericalError:
        """`error` naming what this problem was warned about (collinear columns, too few moments) as the likely
        cause: PyBLP goes on after those warnings, so a failure later must say so."""
        causes = [warning for warning in self.problem.warnings + self.warnings
                  if 'collinear' in warning or 'under-identified' in warning or 'too few' in warning]
        if not causes:
            return error
        return NumericalError(f"{error.message}; the problem was warned about what may cause it: {'; '.join(causes)}",
                              markets=error.markets)

    def _run(self) -> ProblemResults:
        started = time.perf_counter()
        theta, W = self.parameters.theta, self.W
        if self.options.initial_update or (self.moments.micro and self.options.W is None):
            W = self.initial_update(theta)
        history: list[StepOutcome] = []
        last = self.first_step + self.options.steps - 1
        for step in range(self.first_step, last + 1):
            self.step_delta = self.warm_delta if not history else \
                self.problem.products.layout.pad(history[-1].evaluation.delta)
            outcome = self.optimize(theta, W, step)
            history.append(outcome)
            theta = outcome.evaluation.theta
            if step < last:
                progress_log.results_step(False, None)
                W = invert(self._S(outcome.evaluation, self.options.W_type, outcome.W))
                status.output(f'Computed results after {status.elapsed(started)}.')
                status.output('')
        outcome = history[-1]
        progress_log.results_step(True, bool(self.parameters.P and self.optimization.compute_gradient
                                             and self.options.check_optimality == 'both'))
        return ProblemResults(self, outcome, history, self._statistics(outcome, last), time.perf_counter() - started)

    def initial_update(self, theta: np.ndarray) -> np.ndarray:
        """PyBLP's initial update (its zeroth step), asked for or used when there are micro moments and no W is given
        (the first W's micro block is zero): W = S^-1 with S at `theta` under the 2SLS W, and the warm-started delta
        moves to theta."""
        start = self.evaluate(theta, self.moments.iv(self.W), False)
        if start.failed_markets:
            raise NumericalError(f'the inner loop failed at the starting values in {len(start.failed_markets)} '
                                 f'market(s): {", ".join(map(str, start.failed_markets[:10]))}',
                                 markets=start.failed_markets)
        return invert(self._S(start, self.options.W_type, self.W))

    def restore(self, theta: np.ndarray, hessian: Optional[np.ndarray]) -> ProblemResults:
        """Results at a known theta under this estimation's W and step: one evaluation and the standard errors,
        with the Hessian given (a stored estimate's) instead of recomputed by 2P gradient evaluations."""
        started = time.perf_counter()
        evaluation = self.evaluate(np.asarray(theta, dtype=float), self.moments.iv(self.W))
        if evaluation.failed_markets:
            raise self.inner_loop_error('the stored estimates', evaluation)
        outcome = StepOutcome(evaluation=evaluation, W=self.W, converged=True, iterations=0, evaluations=1,
                              seconds=time.perf_counter() - started, message='restored')
        statistics = self._statistics(outcome, self.first_step, hessian)
        return ProblemResults(self, outcome, [outcome], statistics, time.perf_counter() - started)

    def _S(self, evaluation: Evaluation, kind: str, W: np.ndarray) -> np.ndarray:
        """The moments' covariances at `evaluation` (W: the step's, under which resampled agents' moments are
        computed), with given micro covariances and simulation error when the solve has them."""
        S = self.moments.covariances(evaluation.stacked.residuals, kind, self.problem.products.clustering_ids,
                                     self.options.center_moments, evaluation.stacked.micro,
                                     evaluation.stacked.residual, self.micro_sample_covariances)
        if self.resampling is not None:
            S = S + self.resampling.covariances(evaluation.theta, W)
        return S

    def _statistics(self, outcome: StepOutcome, step: int, hessian: Optional[np.ndarray] = None) -> Statistics:
        """Standard errors, updated weighting matrix, projected gradient and Hessian at the final estimates
        (`hessian` given: taken as it is rather than computed)."""
        evaluation, options, P = outcome.evaluation, self.options, self.parameters.P
        S_weights = self._S(evaluation, options.W_type, outcome.W)
        S = S_weights if options.se_type == options.W_type else self._S(evaluation, options.se_type, outcome.W)
        W_covariances = invert(S) if options.se_type == 'unadjusted' and step == 1 else outcome.W
        stacked = evaluation.stacked
        G = self.moments.jacobian(stacked.dependent_jacobians, stacked.micro, stacked.residual, stacked.regressors)
        with np.errstate(invalid='ignore'):
            covariances = parameter_covariances(W_covariances, S, G, options.se_type)
            se = np.sqrt(np.diag(covariances) / self.problem.N)
        theta = evaluation.theta
        projected = self.projected_gradient(theta, evaluation.gradient)
        at_bound = [value <= lower or value >= upper for value, (lower, upper) in zip(theta, self.parameters.bounds)]
        active = [label for label, bound in zip(self.parameters.labels, at_bound) if bound]
        if hessian is None:
            hessian = np.full((P, P), np.nan)
            if P and self.optimization.compute_gradient and options.check_optimality == 'both':
                hessian = self.hessian(theta, outcome.W, self.step_delta)
        eigenvalues = np.full(P, np.nan)
        reduced = np.array(hessian, dtype=float).reshape(P, P)
        for index in np.flatnonzero(at_bound):
            reduced[index, :] = reduced[:, index] = 0
        if P and np.isfinite(reduced).all():
            eigenvalues = np.linalg.eigvalsh(reduced)
        return Statistics(S=S, updated_W=invert(S_weights), parameter_covariances=covariances, se=se,
                          projected_gradient=projected, hessian=hessian, hessian_eigenvalues=eigenvalues, step=step,
                          active_bounds=active, moments_jacobian=G)


def stored_option(key: str, value: Any) -> Any:
    """A stored option as `solve` takes it: moment types' JSON lists back into PyBLP's (type, count) tuples."""
    if key.endswith('_moment_types') and isinstance(value, list):
        return [tuple(pair) if isinstance(pair, list) else pair for pair in value]
    return value


def restore(problem: Problem, stored: dict, micro_moments: Any = ()) -> ProblemResults:
    """Results at a stored estimate (`to_document()` or its `'restore'` part) of `problem`: one evaluation at the
    stored theta under the stored W, step and standard-error options; the stored Hessian is reused."""
    state = stored.get('restore', stored)
    try:
        sigma, pi, rho = (np.array(state[key], dtype=float) for key in ('sigma', 'pi', 'rho'))
        beta = np.array(state.get('beta') or [], dtype=float)
        gamma = np.array(state.get('gamma') or [], dtype=float)  # None (JSON null) where concentrated out
        phi = np.array(state.get('phi') or [], dtype=float)
        W, step = np.array(state['W'], dtype=float), int(state.get('step', 1))
        returned = state.get('iteration') == 'return'  # evaluated at a given delta, not at the contraction's
        iteration: dict[str, Any] = {'iteration': Iteration('return'), 'delta': np.array(state['delta'], dtype=float)} \
            if returned else {}
        options = SolveOptions(sigma=sigma if sigma.size else None, pi=pi if pi.size else None,
                               rho=rho if rho.size else None, method='1s', optimization=Optimization('return'),
                               W=W, beta=beta if np.isfinite(beta).any() else None, phi=phi if phi.size else None,
                               gamma=gamma if np.isfinite(gamma).any() else None,
                               micro_moments=micro_moments or (), **iteration,
                               **{key: stored_option(key, state[key]) for key in STORED_OPTIONS if key in state})
    except (KeyError, TypeError, ValueError):
        raise SpecificationError('a stored result needs sigma, pi, rho, W and step', parameter='restore') from None
    if int(state.get('micro_moments', 0)) and not options.micro_moments:
        raise SpecificationError(f"the stored estimate has {state['micro_moments']} micro moment(s): pass the same "
                                 f"micro_moments to restore it", parameter='micro_moments')
    # a stored estimate does not say which optimizer found it: no default bounds are added at a restore (the
    # bootstrap of a restored estimate is given the bounds of its solve)
    estimation = Estimation(problem, options, first_step=step, bounded=False)
    # documents stored before the moments were reported in PyBLP's order have no 'moment_order': theirs is ours
    in_our_order = state.get('moment_order') != 'pyblp'
    if in_our_order:
        estimation.W = W
    if state.get('simulation_covariances') is not None:  # the resampled agents' part of S, as estimated
        covariances = np.array(state['simulation_covariances'], dtype=float)
        estimation.resampling = FixedCovariances(covariances if in_our_order else
                                                 estimation.moment_order.given(covariances))
    hessian = state.get('hessian')
    P = estimation.parameters.P
    hessian = None if hessian is None else np.array(hessian, dtype=float).reshape(P, P)
    return estimation.restore(estimation.parameters.theta, hessian)
