"""Global options, as PyBLP's `pyblp.options`: the same names and defaults, set by assignment
(`blp.options.digits = 2`) and read when they are used, so a change applies to what runs afterwards.

Wired in `blp`:

- `digits`: significant digits of printed numbers (the summaries of problems, results and configurations).
- `verbose`: whether status updates are output (`blp.status`); on by default, as in PyBLP.
- `verbose_output`: the function status updates are passed to (`print` by default).
- `flush_output`: whether standard output is flushed after each status update.
- `collinear_atol`, `collinear_rtol`: the collinearity rule for X1, X2, X3, ZD and ZS (`blp.primitives.columns`): a
  column whose |R_kk| in the QR decomposition is below `collinear_atol + collinear_rtol * sd` is named in a warning;
  both 0 disable the check.

Accepted so that PyBLP code runs, but they concern PyBLP's internals and change nothing in `blp`:

- `verbose_tracebacks`: `blp`'s errors name the column, market or parameter at fault and keep Python's traceback.
- `dtype`: `blp` computes in float64 throughout (its log-sum-exp kernels keep small choice probabilities).
- `finite_differences_epsilon`: `blp`'s gradients and Hessians are analytic or use their own steps.
- `pseudo_inverses`: `blp` chooses per matrix between a solve and a pseudo-inverse.
- `weights_tol`: `blp` warns about agent weights that do not sum to one in a market beyond 1e-6.
- `singular_tol`, `psd_atol`, `psd_rtol`, `stable_atol`, `stable_rtol`: PyBLP's checks of its linear algebra.
- `detect_micro_collinearity`, `micro_computation_chunks`, `drop_product_fields`: PyBLP's memory management of micro
  moments and product fields (`blp` sizes its chunks by `Problem.solve(memory_budget_mb=)`).
"""

import numpy as _numpy

digits = 7
verbose = True
verbose_tracebacks = False
verbose_output = print
flush_output = False
dtype = _numpy.float64
finite_differences_epsilon = _numpy.sqrt(_numpy.finfo(_numpy.float64).eps)
pseudo_inverses = True
weights_tol = 1e-10
singular_tol = 1 / _numpy.finfo(_numpy.float64).eps
collinear_atol = 1e-10
collinear_rtol = 1e-10
psd_atol = 1e-8
psd_rtol = 1e-8
stable_atol = 1e-8
stable_rtol = 1e-8
detect_micro_collinearity = False
micro_computation_chunks = 1
drop_product_fields = False
