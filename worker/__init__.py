"""The Celery worker: runs estimates and counterfactuals with the core and stores their results in Redis.

BLAS is pinned to one thread here, before anything imports numpy: each pool process is one job, and
parallel jobs would otherwise fight for the cores.
"""

import os

for _variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'BLIS_NUM_THREADS',
                  'VECLIB_MAXIMUM_THREADS', 'NUMEXPR_NUM_THREADS'):
    os.environ.setdefault(_variable, '1')
