"""The wire format of a problem and its solve: pydantic models mirroring PyBLP's arguments.

The service validates requests with these models and the worker rebuilds the problem from them, so this
module must stay light (pydantic only: no numpy or scipy) and every field must mean what the same-named
PyBLP argument means.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from blp.configurations.solve_options import Iteration, Optimization, SolveOptions
from blp.spec.micro import MicroMomentsSpec

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# A bound is a finite number or null (no bound), since JSON cannot spell infinity.
Bound = Optional[FiniteFloat]
Matrix = list[list[FiniteFloat]]
BoundMatrix = list[list[Bound]]
MomentType = Literal['levels', 'innovations', 'differenced_innovations']
# One type for all of a side's instruments, or PyBLP's (type, instruments) pairs (checked against the problem's
# instrument counts by `blp.estimation.persistence.moment_types`).
MomentTypes = Union[MomentType, Annotated[list[tuple[MomentType, Annotated[int, Field(ge=0, strict=True)]]],
                                          Field(min_length=1, max_length=3)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)


class FormulationSpec(_Strict):
    """An R-style formula in PyBLP's syntax, e.g. `'0 + prices'` with `absorb='C(market_ids)'`."""

    formula: str = Field(min_length=1, max_length=2000, examples=['0 + prices'])
    absorb: Optional[str] = Field(default=None, max_length=2000, examples=['C(market_ids) + C(product_ids)'])


class IntegrationSpec(_Strict):
    """Agents built by the core instead of supplied as agent data (PyBLP's `Integration`)."""

    specification: Literal['monte_carlo', 'halton', 'lhs', 'mlhs', 'sobol', 'product', 'grid', 'nested_product',
                           'nested_grid']
    size: int = Field(ge=1, le=100_000, description='draws per market (MC/QMC), nodes per dimension (product), or the '
                                                    'level (grid; nested_product and nested_grid: 1 to 25)')
    seed: Optional[int] = Field(default=0, ge=0, description='seed for Monte Carlo and scrambling')


class DifferentiationInstrumentsSpec(_Strict):
    """`blp.build_differentiation_instruments(Formulation(formula), product_data, version, interact)`."""

    formula: str = Field(min_length=1, max_length=2000, examples=['0 + sugar'])
    version: Literal['local', 'quadratic'] = 'local'
    interact: bool = False


class InstrumentsSpec(_Strict):
    """Excluded demand instruments built from product characteristics (needs `firm_ids`), appended to any
    `demand_instruments` columns of the product data: BLP sums of characteristics, then differentiation ones."""

    blp: Optional[str] = Field(default=None, min_length=1, max_length=2000, examples=['1 + sugar'],
                               description='formula for `blp.build_blp_instruments`')
    differentiation: Optional[DifferentiationInstrumentsSpec] = None


class ProblemSpec(_Strict):
    """The arguments of `Problem(product_formulations, product_data, agent_formulation, agent_data, integration)`."""

    product_formulations: list[Optional[FormulationSpec]] = Field(
        min_length=1, max_length=3,
        description='X1, then optionally X2 (random coefficients; null for none) and X3 (marginal costs: a supply side)')
    agent_formulation: Optional[FormulationSpec] = Field(default=None, description='demographics for pi')
    integration: Optional[IntegrationSpec] = Field(
        default=None, description='build agents instead of reading nodes from agent data')
    rc_types: Optional[list[Literal['linear', 'log']]] = Field(
        default=None, max_length=100,
        description="one per X2 column: 'linear' (normal, the default) or 'log' (lognormal: the coefficient is "
                    "exp(Sigma_k nu + Pi_k d), e.g. on I(-prices) with a constant demographic for its mean)")
    instruments: Optional[InstrumentsSpec] = Field(
        default=None, description='build excluded demand instruments instead of supplying every column')
    costs_type: Literal['linear', 'log'] = Field(default='linear', description='marginal costs c (linear) or log c')
    epsilon_scale: FiniteFloat = Field(
        default=1.0, gt=0, description='scale e of the logit error: agents choose by (delta + mu) / e (PyBLP\'s '
                                       '`epsilon_scale`; 1 with nesting_ids)')

    @model_validator(mode='after')
    def _x1_given(self) -> 'ProblemSpec':
        if self.product_formulations[0] is None:
            raise ValueError('product_formulations[0] (X1) cannot be null')
        return self


class OptimizationSpec(_Strict):
    """A SciPy optimizer and its options (PyBLP's `Optimization(method, method_options)`)."""

    method: Literal['l-bfgs-b', 'trust-constr', 'bfgs', 'slsqp', 'tnc', 'nelder-mead', 'powell', 'cg', 'return'] = 'l-bfgs-b'
    method_options: dict[str, Union[FiniteFloat, int, bool, str]] = Field(default_factory=dict)
    compute_gradient: bool = True


class IterationSpec(_Strict):
    """The inner-loop fixed point (PyBLP's `Iteration(method, method_options)`); `'return'` takes the starting delta
    (the solve's `delta`, else the logit delta) as the fixed point, as PyBLP's, and takes no options."""

    method: Literal['squarem', 'simple', 'return'] = 'squarem'
    method_options: dict[str, Union[FiniteFloat, int]] = Field(
        default_factory=lambda: {'atol': 1e-14},
        description="the contraction's options (default {'atol': 1e-14}; none with 'return')")

    @model_validator(mode='before')
    @classmethod
    def _return_has_no_default_options(cls, given: Any) -> Any:
        """`{"method": "return"}` alone means no options: the default atol is the contraction's."""
        if isinstance(given, dict) and given.get('method') == 'return' and 'method_options' not in given:
            return {**given, 'method_options': {}}
        return given

    @field_validator('method_options')
    @classmethod
    def _no_options_for_return(cls, given: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.data.get('method') == 'return' and given:
            raise ValueError(f"the 'return' iteration takes no options (got {', '.join(sorted(given))})")
        return given


class SolveSpec(_Strict):
    """The arguments of `Problem.solve(...)`. A zero in `sigma` or `pi` fixes that element at zero."""

    sigma: Optional[Union[Matrix, FiniteFloat]] = None
    pi: Optional[Union[Matrix, FiniteFloat]] = None
    rho: Optional[Union[list[FiniteFloat], FiniteFloat]] = Field(
        default=None, description='nesting parameters in [0, 1): one for all nests or one per nest (0 fixes it); '
                                  'with X2 this is the random coefficients nested logit')
    sigma_bounds: Optional[tuple[BoundMatrix, BoundMatrix]] = None
    pi_bounds: Optional[tuple[BoundMatrix, BoundMatrix]] = None
    rho_bounds: Optional[tuple[list[Bound], list[Bound]]] = None
    method: Literal['1s', '2s'] = '2s'
    optimization: OptimizationSpec = Field(default_factory=OptimizationSpec)
    iteration: IterationSpec = Field(default_factory=IterationSpec)
    delta: Optional[list[FiniteFloat]] = Field(
        default=None, description="starting delta, one per product in product-data order (PyBLP's solve(delta=...)); "
        "null: the logit delta. With iteration 'return' the estimate is evaluated at it")
    W_type: Literal['robust', 'clustered', 'unadjusted'] = 'robust'
    se_type: Literal['robust', 'clustered', 'unadjusted'] = 'robust'
    center_moments: bool = True
    scale_objective: bool = True
    beta: Optional[list[Optional[FiniteFloat]]] = Field(
        default=None, description='per X1 column: null to concentrate out (default), a starting value to optimize over '
                                  '(a supply side needs one for prices), 0 to fix at zero')
    beta_bounds: Optional[tuple[list[Bound], list[Bound]]] = None
    costs_bounds: Optional[tuple[Bound, Bound]] = Field(
        default=None, description='(lower, upper) marginal costs are clipped to, null for no bound')
    gamma: Optional[list[Optional[FiniteFloat]]] = Field(
        default=None, description='with a supply side, per X3 column: null to concentrate out (default, PyBLP\'s NaN), '
                                  'a starting value to optimize over in theta after beta, 0 to fix at zero (PyBLP\'s gamma)')
    gamma_bounds: Optional[tuple[list[Bound], list[Bound]]] = None
    initial_update: bool = Field(default=False, description='update W and delta at the starting values first (PyBLP)')
    micro_moments: Optional[MicroMomentsSpec] = Field(
        default=None, description='survey statistics matched by micro moments (declarative: see blp/spec/micro.py)')
    memory_budget_mb: Optional[FiniteFloat] = Field(
        default=None, gt=0, le=1_000_000, description='megabytes of per-market temporaries one objective evaluation '
        'may hold: markets are evaluated in chunks that fit (null: the default, 32)')
    threads: Optional[int] = Field(default=None, ge=1, le=64, description='threads over market chunks in one '
                                   'estimate (null: what the worker can spare, its cores divided by the tasks it runs '
                                   'now; a worker running several jobs at once caps a number at its share of the cores; '
                                   'the estimates are the same on any number)')
    error_behavior: Literal['revert', 'punish', 'raise'] = Field(
        default='revert', description="where the inner loop fails during optimization: give the optimizer the last "
        "good values ('revert'), an objective of 1 and a zero gradient ('punish'), or stop ('raise'), as PyBLP")
    error_punishment: FiniteFloat = Field(default=1.0, gt=0, description='scales the objective given after a failure')
    delta_behavior: Literal['first', 'logit', 'last'] = Field(
        default='first', description="'logit' starts every contraction at the logit delta; 'first' and 'last' "
        "warm-start from the last delta (the estimates agree to the contraction's tolerance)")
    check_optimality: Literal['gradient', 'both'] = Field(
        default='both', description="'both' also computes the Hessian for its eigenvalues; 'gradient' skips it")
    finite_differences: bool = Field(
        default=False, description='optimize without the analytic gradient (standard errors stay analytic)')
    phi: Optional[Union[Matrix, FiniteFloat]] = Field(
        default=None, description="persistent unobservables (product data's lag_indices): phi_xi, or with a supply side "
        "[[phi_xi, phi_xi_omega], [phi_omega_xi, phi_omega]]; a zero fixes an element at zero (PyBLP's phi)")
    phi_bounds: Optional[tuple[BoundMatrix, BoundMatrix]] = None
    demand_moment_types: MomentTypes = Field(
        default='levels', description="moments on xi ('levels'), on its AR(1) innovation ('innovations') or on the "
        "innovation's first difference ('differenced_innovations'), as PyBLP's; the last two need lag_indices. "
        "PyBLP's list form, e.g. [['levels', 1], ['innovations', 3]], splits the instruments (in PyBLP's column "
        "order) between distinct types; the counts must sum to the side's number of instruments")
    supply_moment_types: MomentTypes = Field(default='levels', description='the same for omega')
    fp_type: Literal['safe_linear', 'linear', 'safe_nonlinear', 'nonlinear'] = Field(
        default='safe_linear', description="PyBLP's contraction types, accepted and ignored: all define the same "
        "delta, which the core always computes with its stable log-linear contraction")
    shares_bounds: tuple[Optional[FiniteFloat], Optional[FiniteFloat]] = Field(
        default=(1e-300, None), description="PyBLP's bounds on simulated shares in the contraction, accepted and "
        "ignored: the core's contraction never lets shares underflow")
    covariance_moments_mean: Optional[FiniteFloat] = Field(
        default=None, description='m of the covariance restrictions E[(xi omega - m) Z_C] = 0 (MacKay and Miller), '
        'stacked after the demand and supply moments; needs a supply side and covariance_instruments0.. columns (Z_C, '
        'e.g. a column of ones) in the product data, which alone give m = 0 (PyBLP\'s default)')
    micro_sample_covariances: Optional[Matrix] = Field(
        default=None, max_length=200, description='covariances of the micro moments (one row and column per moment, '
        'in the order of micro_moments.moments; symmetric, positive semidefinite) used in place of those computed at '
        'the estimates, e.g. bootstrapped from the micro data')

    @field_validator('micro_sample_covariances')
    @classmethod
    def _micro_sample_covariances_fit(cls, given: Optional[Matrix], info: ValidationInfo) -> Optional[Matrix]:
        """One row and column per micro moment (micro_moments is validated first: it comes earlier)."""
        if given is None:
            return given
        micro_moments = info.data.get('micro_moments')
        if micro_moments is None:
            raise ValueError('micro_sample_covariances needs micro_moments')
        count = len(micro_moments.moments)
        if len(given) != count or any(len(row) != count for row in given):
            raise ValueError(f'micro_sample_covariances must be {count} by {count}: one row and column per micro '
                             f'moment')
        return given


class OptimalInstrumentsSpec(_Strict):
    """Re-estimate with feasible optimal instruments: `results.compute_optimal_instruments(method, draws, seed,
    expected_prices, constant_costs=...)`, then `.to_problem(supply_shifter_formulation, demand_shifter_formulation,
    drop_indices)` solved again from the first estimates with the same solve options."""

    method: Literal['approximate', 'normal', 'empirical'] = 'approximate'
    # strict: JSON's true and false are not counts or seeds
    draws: int = Field(default=1, ge=1, le=1000, strict=True,
                       description='realizations of xi averaged over (1 for approximate)')
    seed: Optional[int] = Field(default=None, ge=0, le=2**32 - 1, strict=True,
                                description='seed of the normal or empirical draws')
    constant_costs: bool = Field(default=True, strict=True, description=(
        "PyBLP's constant_costs; it changes nothing here, as in PyBLP: with shares in X3 optimal instruments take "
        'reduced-form expected prices and solve no equilibrium in which costs could move'))
    expected_prices_column: Optional[str] = Field(
        default=None, min_length=1, max_length=200, examples=['expected_prices'], description=(
            "PyBLP's expected_prices, E[p | Z], as a product_data column; by default fitted prices (demand only) or "
            'equilibrium prices of each error realization (a supply side)'))
    drop_indices: Optional[list[Annotated[int, Field(strict=True)]]] = Field(
        default=None, max_length=1000, description=(
            "PyBLP's to_problem(drop_indices): the elements of theta (0-based, negative from the end) whose columns "
            'of the optimal instruments are left out; by default those of betas in theta on exogenous X1 columns'))
    supply_shifter_formulation: Optional[str] = Field(
        default=None, min_length=1, max_length=2000, examples=['z'], description=(
            'with a supply side: the supply shifters added to the demand instruments (intercept dropped), built from '
            'the product data; by default X3\'s exogenous columns not in X1'))
    demand_shifter_formulation: Optional[str] = Field(
        default=None, min_length=1, max_length=2000, examples=['x'], description=(
            'with a supply side: the demand shifters added to the supply instruments (intercept dropped); by default '
            'X1\'s exogenous columns not in X3'))


def drop_indices_problem(drop_indices: Optional[list[int]], P: int) -> Optional[str]:
    """Why `optimal_instruments.drop_indices` does not fit a theta of P elements (None when it does)."""
    outside = [index for index in drop_indices or () if not -P <= index < P]
    if outside:
        return f'optimal_instruments.drop_indices has {outside[0]}, but theta has {P} element(s)'
    return None


class EstimateSpec(_Strict):
    """Everything an estimate needs besides the data: the problem and how to solve it."""

    problem: ProblemSpec
    solve: SolveSpec = Field(default_factory=SolveSpec)
    optimal_instruments: Optional[OptimalInstrumentsSpec] = Field(
        default=None, description='after the estimate, re-estimate with optimal instruments in the same job')

    @model_validator(mode='after')
    def _shifters_need_a_supply_side(self) -> 'EstimateSpec':
        wanted = self.optimal_instruments
        supply = len(self.problem.product_formulations) > 2 and self.problem.product_formulations[2] is not None
        for name in ('supply_shifter_formulation', 'demand_shifter_formulation'):
            if wanted is not None and getattr(wanted, name) is not None and not supply:
                raise ValueError(f'optimal_instruments.{name} needs a supply side (an X3 formulation)')
        return self

    @model_validator(mode='after')
    def _pi_needs_demographics(self) -> 'EstimateSpec':
        if self.solve.pi is not None and self.problem.agent_formulation is None:
            raise ValueError('solve.pi is set but problem.agent_formulation is missing: pi needs demographics')
        return self


class StartsBoundsSpec(_Strict):
    """Where starting values are drawn; a bound left out is the solve's own (`solve.sigma_bounds`, ...)."""

    sigma_bounds: Optional[tuple[BoundMatrix, BoundMatrix]] = None
    pi_bounds: Optional[tuple[BoundMatrix, BoundMatrix]] = None
    rho_bounds: Optional[tuple[list[Bound], list[Bound]]] = None
    beta_bounds: Optional[tuple[list[Bound], list[Bound]]] = None


class StartsSpec(_Strict):
    """A multi-start: solve from `count` starting values (the spec's own first, the rest drawn within `bounds`)
    and keep the best start whose first- and second-order conditions hold."""

    count: int = Field(ge=2, le=64, description="starts, the spec's own starting values included")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    sampler: Literal['sobol', 'uniform'] = Field(default='sobol',
                                                 description="scrambled Sobol' points or uniform draws")
    bounds: StartsBoundsSpec = Field(default_factory=StartsBoundsSpec)
    gradient_tolerance: FiniteFloat = Field(
        default=1e-4, gt=0, description='a start is acceptable when its projected gradient norm is below this')
    theta_tolerance: FiniteFloat = Field(
        default=1e-3, gt=0, description='relative tolerance within which two starts reached the same theta')


def _unbound(bounds: Any) -> Any:
    """(lower, upper) with null (no bound) replaced by -inf and +inf."""
    if bounds is None:
        return None

    def swap(values: Any, default: float) -> Any:
        if isinstance(values, list):
            return [swap(v, default) for v in values]
        return default if values is None else values

    lower, upper = bounds
    return swap(lower, float('-inf')), swap(upper, float('inf'))


def starts_kwargs(starts: StartsSpec) -> dict[str, Any]:
    """Translate a StartsSpec into keyword arguments of `blp.estimation.multistart.draw_starts` (after the solve arguments)."""
    return dict(count=starts.count, seed=starts.seed, sampler=starts.sampler,
                bounds={name: _unbound(getattr(starts.bounds, name))
                        for name in ('sigma_bounds', 'pi_bounds', 'rho_bounds', 'beta_bounds')})


def solve_options(solve: SolveSpec) -> SolveOptions:
    """The `blp.configurations.solve_options.SolveOptions` a SolveSpec means (null bounds become infinities)."""
    return SolveOptions(
        sigma=solve.sigma, pi=solve.pi, rho=solve.rho,
        sigma_bounds=_unbound(solve.sigma_bounds),
        pi_bounds=_unbound(solve.pi_bounds),
        rho_bounds=_unbound(solve.rho_bounds),
        method=solve.method,
        optimization=Optimization(solve.optimization.method, dict(solve.optimization.method_options),
                                  compute_gradient=solve.optimization.compute_gradient),
        iteration=Iteration(solve.iteration.method, dict(solve.iteration.method_options)), delta=solve.delta,
        W_type=solve.W_type, se_type=solve.se_type, center_moments=solve.center_moments,
        scale_objective=solve.scale_objective, beta=solve.beta, beta_bounds=_unbound(solve.beta_bounds),
        costs_bounds=solve.costs_bounds, gamma=solve.gamma, gamma_bounds=_unbound(solve.gamma_bounds),
        initial_update=solve.initial_update,
        micro_moments=solve.micro_moments or (), memory_budget_mb=solve.memory_budget_mb, threads=solve.threads or 1,
        error_behavior=solve.error_behavior, error_punishment=solve.error_punishment,
        delta_behavior=solve.delta_behavior, check_optimality=solve.check_optimality,
        finite_differences=solve.finite_differences, fp_type=solve.fp_type, shares_bounds=solve.shares_bounds,
        covariance_moments_mean=solve.covariance_moments_mean,
        phi=solve.phi, phi_bounds=_unbound(solve.phi_bounds), demand_moment_types=solve.demand_moment_types,
        supply_moment_types=solve.supply_moment_types,
        micro_sample_covariances=solve.micro_sample_covariances,
    )
