"""The frames and built problems of recent datasets in an API process and in each of its numerics processes, so that
many jobs on the same data (sweeps, retries, the load test) are checked in a millisecond instead of rebuilt each time.

The cache is jobstore.cache's (the worker keeps one too, with its own sizes); the API keeps more entries of smaller
data than a worker pool process. Callers must not modify what they get.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd

from jobstore.cache import DatasetCache
from jobstore.store import Store

CACHE = DatasetCache(frames=8, problems=16, max_bytes=32 * 1024 * 1024)


def stored_frame(store: Store, dataset_id: str) -> Optional[pd.DataFrame]:
    """A stored dataset's frame (cached), or None when it is gone."""
    return CACHE.frame(store, dataset_id)
