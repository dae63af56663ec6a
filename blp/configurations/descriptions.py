"""What `Formulation`, `Integration`, `Optimization` and `Iteration` print, in PyBLP's words: a PyBLP user reads
the configuration back as PyBLP would describe it, with the options that are in force (numbers by `options.digits`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from formulaic import Formula

from blp.printing import format_options

if TYPE_CHECKING:  # the configurations call these from their __repr__
    from blp.configurations.formulation import Formulation
    from blp.configurations.integration import Integration
    from blp.configurations.solve_options import Iteration, Optimization

# Terms in the order written, interactions where they are expanded (`trend * (jp + eu) + log(q)`: trend, jp, eu,
# trend:jp, trend:eu, log(q)), as PyBLP (patsy) orders the columns of its matrices; formulaic's default sorts by degree.
TERM_ORDER = 'none'

OPTIMIZERS = {
    'l-bfgs-b': 'the L-BFGS-B algorithm implemented in SciPy',
    'bfgs': 'the BFGS algorithm implemented in SciPy',
    'trust-constr': 'trust-region routine implemented in SciPy',
    'slsqp': 'Sequential Least SQuares Programming implemented in SciPy',
    'tnc': 'the truncated Newton algorithm implemented in SciPy',
    'nelder-mead': 'the Nelder-Mead algorithm implemented in SciPy',
    'powell': 'the modified Powell algorithm implemented in SciPy',
    'cg': 'the conjugate gradient algorithm implemented in SciPy',
    'return': 'a trivial routine that returns the initial parameters',
}
ITERATIONS = {'squarem': 'the SQUAREM acceleration method', 'simple': 'no acceleration',
              'return': 'a trivial routine that returns the initial values'}
# The options our contraction runs with unless told otherwise, in PyBLP's order: SQUAREM is Varadhan and Roland's
# scheme 3 with a first step bound of 1 that grows fourfold while it binds, and convergence is by atol alone.
ITERATION_DEFAULTS: dict[str, dict[str, Any]] = {
    'squarem': {'atol': 1e-14, 'rtol': 0, 'max_evaluations': 5000, 'norm': None, 'scheme': 3, 'step_min': 1.0,
                'step_max': 1.0, 'step_factor': 4.0},
    'simple': {'atol': 1e-14, 'rtol': 0, 'max_evaluations': 5000, 'norm': None},
}
INTEGRATIONS = {
    'monte_carlo': 'with Monte Carlo simulation',
    'halton': 'with Halton sequences',
    'sobol': 'with Sobol sequences',
    'lhs': 'with Latin Hypercube Sampling (LHS)',
    'mlhs': 'with Modified Latin Hypercube Sampling (MLHS)',
    'product': 'according to the level-{size} Gauss-Hermite product rule',
    'grid': 'in a sparse grid according to the level-{size} Gauss-Hermite rule',
    'nested_product': 'according to the level-{size} nested Gauss-Hermite product rule',
    'nested_grid': 'in a sparse grid according to the level-{size} nested Gauss-Hermite rule',
}


def _method(method: Any, names: dict[str, str]) -> str:
    return names.get(method, str(method)) if isinstance(method, str) else 'a custom method'


def describe_optimization(optimization: Optimization) -> str:
    gradients = 'with' if optimization.compute_gradient else 'without'
    return f'Configured to optimize using {_method(optimization.method, OPTIMIZERS)} {gradients} analytic gradients ' \
           f'and options {format_options(dict(optimization.method_options))}.'


def describe_iteration(iteration: Iteration) -> str:
    given = dict(iteration.method_options)
    defaults = ITERATION_DEFAULTS.get(iteration.method, {}) if isinstance(iteration.method, str) else {}
    shown = {name: given.pop(name, default) for name, default in defaults.items()}
    shown = {name: value for name, value in {**shown, **given}.items() if value is not None}
    return f'Configured to iterate using {_method(iteration.method, ITERATIONS)} without analytic Jacobians with ' \
           f'options {format_options(shown)}.'


def describe_integration(integration: Integration) -> str:
    description = _method(integration.specification, INTEGRATIONS).format(size=integration.size)
    shown = dict(getattr(integration, 'specification_options', None) or {})  # the options given, as PyBLP's
    if integration.specification == 'halton':  # PyBLP shows Halton's defaults, options in alphabetical order
        shown = dict(sorted({'discard': 1000, 'scramble': True, **shown}.items()))
    return f'Configured to construct nodes and weights {description} with options {format_options(dict(shown))}.'


def formulation_terms(formula: str) -> list[str]:
    """The formula's terms as the model builds them (`C(a) * C(b)` is `C(a)`, `C(b)`, `C(a):C(b)`)."""
    return [str(term) for term in Formula(formula, _ordering=TERM_ORDER)]


def describe_formulation(formulation: Formulation) -> str:
    """PyBLP's `'1 + size + I(size ** 2)'`: the built terms, the constant dropped when fixed effects are absorbed,
    then each absorbed term as `Absorb[...]`."""
    try:
        terms = formulation_terms(formulation.formula)
    except Exception:  # noqa: BLE001 - a formula formulaic cannot parse prints as written; building it says why
        return formulation.formula
    if formulation.absorb:
        terms = [term for term in terms if term != '1'] + [
            f'Absorb[{term}]' for term in formulation_terms(formulation.absorb) if term != '1']
    return ' + '.join(terms)
