"""Celery task names: the API publishes by name and the worker registers under these, so neither imports the other."""

from jobstore.records import JobKind

ESTIMATE, MULTISTART, COUNTERFACTUAL = 'blp.estimate', 'blp.estimation.multistart', 'blp.post.counterfactual'
MULTISTART_START, MULTISTART_FINALIZE = 'blp.estimation.multistart.start', 'blp.estimation.multistart.finalize'
OPTIMAL_INSTRUMENTS, BOOTSTRAP = 'blp.optimal_instruments', 'blp.post.bootstrap'
BOOTSTRAP_CHUNK, BOOTSTRAP_FINALIZE = 'blp.post.bootstrap.chunk', 'blp.post.bootstrap.finalize'
MERGER_SCREEN, MERGER_SCREEN_CANDIDATE = 'blp.post.merger_screen', 'blp.post.merger_screen.candidate'
MERGER_SCREEN_FINALIZE = 'blp.post.merger_screen.finalize'
# What `POST /v1/jobs`, counterfactuals, optimal instruments and the bootstrap publish, by job kind.
BY_KIND: dict[JobKind, str] = {'estimate': ESTIMATE, 'multistart': MULTISTART, 'counterfactual': COUNTERFACTUAL,
           'optimal_instruments': OPTIMAL_INSTRUMENTS, 'bootstrap': BOOTSTRAP,
           'merger_screen': MERGER_SCREEN}
# Robustness sweeps (worker/sweeps.py): the parent fans out one estimate per variant, finalize compares them.
SWEEP, SWEEP_VARIANT, SWEEP_FINALIZE = 'blp.sweep', 'blp.sweep.variant', 'blp.sweep.finalize'
BY_KIND['sweep'] = SWEEP
