"""The contraction market by market in Python, for what the compiled kernel and the batched driver do not do: PyBLP's
iteration options beyond its defaults (a `norm`, `rtol`, SQUAREM's `scheme` and step lengths), custom iteration
methods (`Iteration(callable)`) and PyBLP's `Iteration('return')`.

Each market's mapping is the block's `Step` restricted to it (`Step.select`), seen through its real products only,
as PyBLP hands a custom method one market's delta. Slower than the kernel (numpy per step, Python per market), which
is why the kernel runs whenever the options are PyBLP's defaults (`Iteration.compiled`).

SQUAREM here is Varadhan and Roland's, with the step length of scheme S1, S2 or S3 (signs as in the R package
SQUAREM, whose options PyBLP mirrors: alpha = -r'v / v'v, -r'r / r'v, sqrt(r'r / v'v) with r = G(x) - x and v =
G(G(x)) - 2 G(x) + x), clipped to [step_min, step_max]; a bound that binds is multiplied by step_factor (step_min
only when negative). A market converges when norm(G(x) - x) <= atol + rtol * norm(x).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.model.squarem import Contraction, Step

Mapping = Callable[[np.ndarray], np.ndarray]


def solve_per_market(step: Step, start: np.ndarray, iteration: Iteration) -> Contraction:
    """delta = G(delta) in every market of the block (T x J, padded), one market at a time."""
    T = start.shape[0]
    delta = np.where(step.mask, start, 0.0)
    evaluations, iterations = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
    if iteration.returns:  # PyBLP's 'return': the start is the answer, with no evaluation
        return Contraction(delta, evaluations, iterations, np.asarray(np.isfinite(delta).all(axis=1)))
    converged = np.zeros(T, dtype=bool)
    for t in range(T):
        one = step.select(np.array([t]))
        real = np.flatnonzero(step.mask[t])
        count = [0]

        def mapping(x: np.ndarray, one: Step = one, real: np.ndarray = real, count: list = count) -> np.ndarray:
            padded = np.zeros((1, step.mask.shape[1]))
            padded[0, real] = x
            count[0] += 1
            return one(padded)[0, real]

        with np.errstate(all='ignore'):
            final, converged[t], iterations[t] = _iterate(mapping, delta[t, real].copy(), iteration)
        delta[t, real] = final
        evaluations[t] = count[0]
    return Contraction(delta, evaluations, iterations, converged)


def _iterate(mapping: Mapping, start: np.ndarray, iteration: Iteration) -> tuple[np.ndarray, bool, int]:
    """The market's delta, whether it converged, and its major iterations: a custom method counts them by calling
    the callback it is given, as PyBLP's do."""
    if callable(iteration.method):
        iterations = [0]

        def callback() -> None:
            iterations[0] += 1

        final, converged = iteration.method(start, lambda x: (mapping(np.asarray(x, dtype=float)), None, None),
                                            callback, **dict(iteration.method_options))
        final = np.asarray(final, dtype=float).reshape(start.shape)
        return final, bool(converged) and bool(np.isfinite(final).all()), iterations[0]
    return _squarem(mapping, start, iteration)


def _squarem(mapping: Mapping, x: np.ndarray, iteration: Iteration) -> tuple[np.ndarray, bool, int]:  # noqa: C901 - SQUAREM's safeguards in one loop
    """SQUAREM (or the simple iteration) with PyBLP's options from `x`; the last finite iterate, convergence and
    the major iterations (finite evaluations of the simple iteration; cycles whose stabilizing evaluation is
    finite)."""
    norm: Callable[[Any], float] = iteration.norm or (lambda difference: float(np.abs(difference).max(initial=0.0)))
    atol, rtol, limit = iteration.atol, iteration.rtol, iteration.max_evaluations
    scheme = iteration.option('scheme')
    step_min, step_max = iteration.option('step_min'), iteration.option('step_max')
    factor = iteration.option('step_factor')
    evaluations = iterations = 0

    def advance(old: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        """G(old), whether the market converged there, and whether G(old) is finite."""
        nonlocal evaluations
        evaluations += 1
        new = mapping(old)
        if not np.isfinite(new).all():
            return old, False, False
        return new, float(norm(new - old)) <= atol + rtol * float(norm(new)), True

    while evaluations < limit:
        x1, done, finite = advance(x)
        simple = iteration.method == 'simple'
        iterations += simple and finite
        if done or not finite:
            return x1, done, iterations
        if simple or evaluations >= limit:
            x = x1
            continue
        x2, done, finite = advance(x1)
        if done or not finite:
            return x2, done, iterations
        r, v = x1 - x, x2 - 2 * x1 + x
        rr, rv, vv = float(r @ r), float(r @ v), float(v @ v)
        with np.errstate(all='ignore'):
            alpha = -rv / vv if scheme == 1 else -rr / rv if scheme == 2 else math.sqrt(rr / vv) if vv else math.inf
        alpha = 1.0 if not math.isfinite(alpha) else min(max(alpha, step_min), step_max)
        if alpha == step_max:
            step_max *= factor
        if alpha == step_min and alpha < 0:
            step_min *= factor
        x3 = x + 2 * alpha * r + alpha ** 2 * v
        x = x3 if np.isfinite(x3).all() else x2
        if evaluations >= limit:
            break
        x, done, finite = advance(x)  # the stabilizing evaluation
        iterations += finite
        if done:
            return x, True, iterations
        if not finite:
            x = x2
    return x, False, iterations
