"""Configuration of a solve: the outer optimizer and the inner fixed-point loop (PyBLP's Optimization and
Iteration), and `SolveOptions`, every argument of `Problem.solve` in one frozen object."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

from blp.configurations.budget import DEFAULT_CHUNK_BYTES
from blp.exceptions import SpecificationError

if TYPE_CHECKING:  # annotations only: blp.spec imports this module and must not load numpy
    from numpy.typing import ArrayLike

OPTIMIZERS = ('l-bfgs-b', 'trust-constr', 'bfgs', 'slsqp', 'tnc', 'nelder-mead', 'powell', 'cg', 'return')
# PyBLP counts 'return' among its bounded methods: its default bounds apply (the bootstrap clips draws to them)
BOUNDED_OPTIMIZERS = ('l-bfgs-b', 'trust-constr', 'slsqp', 'tnc', 'nelder-mead', 'powell', 'return')
GRADIENT_FREE_OPTIMIZERS = ('nelder-mead', 'powell')


@dataclass(frozen=True)
class Optimization:
    """A SciPy optimizer: `method` as in `scipy.optimize.minimize`, `method_options` passed through untouched.

    `'return'` skips optimization and evaluates the starting values (useful to reproduce a stored estimate). A callable
    is PyBLP's custom method, `method(initial, bounds, objective_function, iteration_callback, **method_options) ->
    (final, converged)`, with `objective_function(theta) -> (objective, gradient or None, progress)` and
    `iteration_callback()` called after each major iteration.
    """

    method: Union[str, Callable[..., Any]] = 'l-bfgs-b'
    method_options: Mapping[str, Any] = field(default_factory=dict)
    compute_gradient: bool = True

    def __post_init__(self) -> None:
        if callable(self.method):
            return
        if self.method not in OPTIMIZERS:
            raise SpecificationError(f"optimization method {self.method!r} is not one of {', '.join(OPTIMIZERS)} "
                                     f"or a function", parameter='optimization.method')
        if self.method in GRADIENT_FREE_OPTIMIZERS and self.compute_gradient:
            object.__setattr__(self, 'compute_gradient', False)

    @property
    def custom(self) -> bool:
        return callable(self.method)

    @property
    def supports_bounds(self) -> bool:
        return self.custom or self.method in BOUNDED_OPTIMIZERS

    def __repr__(self) -> str:
        from blp.configurations.descriptions import describe_optimization  # not at import: blp.spec loads no numpy
        return describe_optimization(self)


# The options of PyBLP's 'simple' and 'squarem' iterations, with PyBLP's defaults; `norm` None is the sup norm.
ITERATION_DEFAULTS: dict[str, Any] = {'atol': 1e-14, 'rtol': 0.0, 'max_evaluations': 5000, 'norm': None}
SQUAREM_DEFAULTS: dict[str, Any] = {'scheme': 3, 'step_min': 1.0, 'step_max': 1.0, 'step_factor': 4.0}
ITERATION_METHODS = ('squarem', 'simple', 'return')


@dataclass(frozen=True)
class Iteration:
    """The contraction for delta: `'squarem'` (accelerated, the default), `'simple'`, `'return'` (PyBLP's trivial
    routine: the starting values are taken as the fixed point, converged, with no evaluation; it takes no options),
    or PyBLP's custom method, a callable `method(initial, contraction, callback, **method_options) -> (final,
    converged)` run market by market with `contraction(x) -> (G(x), None, None)` and `callback()` after each major
    iteration.

    Options (PyBLP's): `atol` (default 1e-14: inner-loop error bubbles up into the outer loop's gradient), `rtol`
    (0), `max_evaluations` of the contraction per market (5000) and `norm` of the change (the sup norm); SQUAREM's
    `scheme` (3; 1 and 2 are Varadhan and Roland's S1 and S2), `step_min` (1), `step_max` (1) and `step_factor` (4).
    With PyBLP's defaults the compiled kernel runs; other options run a per-market loop that honours them.
    """

    method: Union[str, Callable[..., Any]] = 'squarem'
    method_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if callable(self.method):
            return
        if self.method not in ITERATION_METHODS:
            raise SpecificationError(f"iteration method {self.method!r} is not 'squarem', 'simple', 'return' or a "
                                     f"function", parameter='iteration.method')
        if self.method == 'return':
            if self.method_options:
                raise SpecificationError("the 'return' iteration takes no options",
                                         parameter='iteration.method_options')
            return
        known = {**ITERATION_DEFAULTS, **(SQUAREM_DEFAULTS if self.method == 'squarem' else {})}
        unknown = set(self.method_options) - set(known)
        if unknown:
            raise SpecificationError(f"unknown {self.method} iteration options: {', '.join(sorted(unknown))} (known: "
                                     f"{', '.join(known)})", parameter='iteration.method_options')
        if not 0 <= self.atol < 1 or not 0 <= self.rtol < 1 or self.atol == self.rtol == 0:
            raise SpecificationError('iteration atol and rtol must be in [0, 1), not both 0',
                                     parameter='iteration.method_options.atol')
        if self.max_evaluations < 1:
            raise SpecificationError('iteration max_evaluations must be positive',
                                     parameter='iteration.method_options.max_evaluations')
        if self.norm is not None and not callable(self.norm):
            raise SpecificationError('iteration norm must be a function of the array of changes',
                                     parameter='iteration.method_options.norm')
        if self.option('scheme') not in (None, 1, 2, 3):
            raise SpecificationError('the SQUAREM scheme must be 1, 2 or 3', parameter='iteration.method_options.scheme')

    @property
    def returns(self) -> bool:
        """Whether this is the 'return' routine: the starting values are the answer."""
        return self.method == 'return'

    def option(self, name: str) -> Any:
        """An option's value, PyBLP's default when not given (None for options this method does not take)."""
        if callable(self.method) or self.method == 'return':
            return self.method_options.get(name)
        defaults = {**ITERATION_DEFAULTS, **(SQUAREM_DEFAULTS if self.method == 'squarem' else {})}
        return self.method_options.get(name, defaults.get(name))

    @property
    def atol(self) -> float:
        return float(self.option('atol') if self.option('atol') is not None else ITERATION_DEFAULTS['atol'])

    @property
    def rtol(self) -> float:
        return float(self.option('rtol') or 0.0)

    @property
    def max_evaluations(self) -> int:
        return int(self.option('max_evaluations') or ITERATION_DEFAULTS['max_evaluations'])

    @property
    def norm(self) -> Optional[Callable[[Any], float]]:
        return self.option('norm')

    @property
    def compiled(self) -> bool:
        """Whether the compiled kernel's rules are these (PyBLP's defaults: sup norm, absolute tolerance, S3 with
        unit steps growing fourfold), so that it may run instead of the per-market loop."""
        if callable(self.method) or self.returns or self.norm is not None or self.rtol:
            return False
        return self.method == 'simple' or all(self.option(name) == value for name, value in SQUAREM_DEFAULTS.items())

    def __repr__(self) -> str:
        from blp.configurations.descriptions import describe_iteration  # not at import: blp.spec loads no numpy
        return describe_iteration(self)


DEFAULT_OPTIMIZATION = Optimization('l-bfgs-b', {'ftol': 0, 'gtol': 1e-8})  # PyBLP's
WEIGHTING_TYPES = ('robust', 'clustered', 'unadjusted')
MAX_THREADS = 64
# PyBLP's choices for the solve options below (`Problem.solve`'s docstring says what each does here).
FP_TYPES = ('safe_linear', 'linear', 'safe_nonlinear', 'nonlinear')
ERROR_BEHAVIORS = ('revert', 'punish', 'raise')
DELTA_BEHAVIORS = ('first', 'logit', 'last')
OPTIMALITY_CHECKS = ('gradient', 'both')


@dataclass(frozen=True, eq=False)
class SolveOptions:
    """Everything `Problem.solve` takes besides progress, in one frozen object: the spec builds it, `solve`,
    `check_solve`, restore and multi-start all read it, and `replace` derives a variant (another start, one step).

    Starting values and bounds are kept as given (validated against the problem by `Parameters`); the rest is
    validated here, where it does not depend on the problem.
    """

    sigma: Optional[ArrayLike] = None
    pi: Optional[ArrayLike] = None
    rho: Optional[ArrayLike] = None
    sigma_bounds: Optional[ArrayLike] = None
    pi_bounds: Optional[ArrayLike] = None
    rho_bounds: Optional[ArrayLike] = None
    method: str = '2s'
    optimization: Optimization = None  # type: ignore[assignment]  # None means the default, filled in below
    iteration: Iteration = None  # type: ignore[assignment]
    W: Any = None
    W_type: str = 'robust'
    se_type: str = 'robust'
    center_moments: bool = True
    scale_objective: bool = True
    beta: Any = None
    beta_bounds: Any = None
    costs_bounds: Any = None
    initial_update: bool = False
    micro_moments: Any = ()  # blp.MicroMoment list or its JSON form (blp.spec.micro), after the aggregate moments
    # Per-market temporaries one objective evaluation may hold (MB, all threads together; None: the default of
    # blp.configurations.budget), and threads over market chunks (opt-in: 1 unless the cores are this job's alone).
    memory_budget_mb: Optional[float] = None
    threads: int = 1
    # PyBLP's further solve options, with its defaults (see `Problem.solve`).
    fp_type: str = 'safe_linear'
    shares_bounds: Any = (1e-300, None)
    error_behavior: str = 'revert'
    error_punishment: float = 1.0
    delta_behavior: str = 'first'
    check_optimality: str = 'both'
    finite_differences: bool = False
    # m of the covariance restrictions E[(xi omega - m) Z_C] = 0 (`blp.estimation.covariance`); None: not asked for
    # (0 when the problem has covariance instruments, as PyBLP's default)
    covariance_moments_mean: Optional[float] = None
    # Persistent unobservables (PyBLP 1.3): phi with product data's lag_indices, and the moments' types per side
    # ('levels', 'innovations', 'differenced_innovations', or PyBLP's list of (type, instruments) tuples), checked
    # against the problem by `blp.estimation.persistence`.
    phi: Optional[ArrayLike] = None
    phi_bounds: Optional[ArrayLike] = None
    demand_moment_types: Any = 'levels'
    supply_moment_types: Any = 'levels'
    # Micro moments' covariances given rather than computed, and agent data resampled for simulation error (see
    # `Problem.solve`); checked against the moments in `blp.estimation.estimator`.
    micro_sample_covariances: Any = None
    resample_agent_data: Optional[Callable[[int], Any]] = None
    # PyBLP's starting delta (N) for the first step's first contraction (None: the logit delta), checked against the
    # problem by `blp.estimation.estimator`.
    delta: Optional[ArrayLike] = None
    # PyBLP's gamma and its bounds: NaN elements are concentrated out (PyBLP's default), numbers are starting values
    # of elements optimized over in theta (`blp.estimation.parameters`).
    gamma: Any = None
    gamma_bounds: Any = None

    def __post_init__(self) -> None:
        if self.method not in ('1s', '2s'):
            raise SpecificationError("method must be '1s' or '2s'", parameter='method')
        for name in ('W_type', 'se_type'):
            if getattr(self, name) not in WEIGHTING_TYPES:
                raise SpecificationError(f"{name} must be 'robust', 'clustered' or 'unadjusted'", parameter=name)
        if self.optimization is None:
            object.__setattr__(self, 'optimization', DEFAULT_OPTIMIZATION)
        if self.iteration is None:
            object.__setattr__(self, 'iteration', Iteration())
        if self.memory_budget_mb is not None and not (isinstance(self.memory_budget_mb, (int, float))
                                                      and 0 < self.memory_budget_mb < float('inf')):
            raise SpecificationError('memory_budget_mb must be a positive number of megabytes',
                                     parameter='memory_budget_mb')
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 1 <= self.threads <= MAX_THREADS:
            raise SpecificationError(f'threads must be an integer from 1 to {MAX_THREADS}', parameter='threads')
        if self.micro_moments is None or isinstance(self.micro_moments, (list, tuple)):
            object.__setattr__(self, 'micro_moments', tuple(self.micro_moments or ()))
        self._check_pyblp_choices()

    def _check_pyblp_choices(self) -> None:
        """The options that take one of PyBLP's named choices, a punishment and share bounds."""
        for name, choices in (('fp_type', FP_TYPES), ('error_behavior', ERROR_BEHAVIORS),
                              ('delta_behavior', DELTA_BEHAVIORS), ('check_optimality', OPTIMALITY_CHECKS)):
            if getattr(self, name) not in choices:
                raise SpecificationError(f"{name} must be one of {', '.join(map(repr, choices))}, not "
                                         f"{getattr(self, name)!r}", parameter=name)
        punishment = self.error_punishment
        if isinstance(punishment, bool) or not isinstance(punishment, (int, float)) or \
                not 0 < punishment < float('inf'):
            raise SpecificationError('error_punishment must be a positive number', parameter='error_punishment')
        mean = self.covariance_moments_mean
        if mean is not None and (isinstance(mean, bool) or not isinstance(mean, (int, float)) or
                                 not math.isfinite(mean)):
            raise SpecificationError(f'covariance_moments_mean must be a finite number, not {mean!r}',
                                     parameter='covariance_moments_mean')
        if self.resample_agent_data is not None and not callable(self.resample_agent_data):
            raise SpecificationError('resample_agent_data must be None or a function of the index',
                                     parameter='resample_agent_data')
        if not isinstance(self.finite_differences, bool):
            raise SpecificationError('finite_differences must be true or false', parameter='finite_differences')
        bounds = self.shares_bounds
        valid = isinstance(bounds, (tuple, list)) and len(bounds) == 2 and all(
            bound is None or (not isinstance(bound, bool) and isinstance(bound, (int, float)) and 0 <= bound <= 1)
            for bound in bounds)
        if not valid or (bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]):
            raise SpecificationError('shares_bounds must be (lower, upper), each None or in [0, 1], lower < upper',
                                     parameter='shares_bounds')

    @property
    def chunk_bytes(self) -> int:
        """The budget of per-market temporaries in bytes (`blp.model.chunks`)."""
        return DEFAULT_CHUNK_BYTES if self.memory_budget_mb is None else int(self.memory_budget_mb * 1024**2)

    @property
    def steps(self) -> int:
        return 2 if self.method == '2s' else 1

    def replace(self, **changes: Any) -> 'SolveOptions':
        return dataclasses.replace(self, **changes)
