"""Parsed frames of stored datasets and problems built from them, kept by a process between requests or tasks.

Why one implementation: the API's numerics processes (checking many jobs on the same data: sweeps, retries) and
each worker pool process (the starts of a multi-start, repeated estimates) both read the stored Parquet and build
the same read-only problem again and again otherwise. Datasets are content-addressed, so an id always names the same
frame and a (datasets, problem spec) key the same problem: nothing here goes stale, though a dataset may be deleted.
Only data whose frames take at most `max_bytes` is kept, and at most a few entries; each side chooses its sizes
(service.dataset_cache, worker.cache). Callers must not modify what they get.

The cache builds nothing itself (the store may not import the core): callers build a problem and offer it with
`keep_problem`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Hashable, Optional

import pandas as pd
from pydantic import BaseModel

from jobstore.codec import read_frame
from jobstore.store import Store

# (product dataset id, agent dataset id or None, the problem spec as canonical JSON)
ProblemKey = tuple[Optional[str], Optional[str], str]


class LRU:
    """A small thread-safe LRU of at most `size` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self.size, self.lock = size, threading.Lock()
        self.items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


def problem_key(product_id: Optional[str], agent_id: Optional[str], problem_spec: BaseModel) -> ProblemKey:
    """The key of the problem built from these datasets and problem spec (a `blp.spec.ProblemSpec`)."""
    return product_id, agent_id, json.dumps(problem_spec.model_dump(mode='json'), sort_keys=True)


class DatasetCache:
    """At most `frames` parsed frames and `problems` built problems, of data whose frames take at most `max_bytes`."""

    def __init__(self, frames: int, problems: int, max_bytes: int) -> None:
        self.frames, self.problems, self.max_bytes = LRU(frames), LRU(problems), max_bytes

    def small(self, *frames: Optional[pd.DataFrame]) -> bool:
        """Whether frames this size are kept."""
        return sum(int(frame.memory_usage(index=False).sum()) for frame in frames if frame is not None) <= self.max_bytes

    def cached_frame(self, dataset_id: str) -> Optional[pd.DataFrame]:
        """A dataset's frame when this process has it cached, else None."""
        return self.frames.get(dataset_id)

    def frame(self, store: Store, dataset_id: str, confirm: bool = False) -> Optional[pd.DataFrame]:
        """A stored dataset's frame (cached when small), or None when the store no longer has it. With `confirm`, a
        cached frame is returned only while the store still has the dataset (one EXISTS): deleted meanwhile reads as
        gone, as if it was never cached."""
        cached = self.frames.get(dataset_id)
        if cached is not None and (not confirm or store.has_dataset_bytes(dataset_id)):
            return cached
        raw = store.dataset_bytes(dataset_id)
        if raw is None:
            return None
        parsed = read_frame(raw)
        if self.small(parsed):
            self.frames.put(dataset_id, parsed)
        return parsed

    def cached_problem(self, key: ProblemKey, store: Optional[Store] = None) -> Any:
        """The problem built for `key` when cached, else None; given the `store`, also None when one of its datasets
        was deleted meanwhile."""
        problem = self.problems.get(key)
        if problem is not None and store is not None and not all(
                store.has_dataset_bytes(dataset_id) for dataset_id in key[:2] if dataset_id):
            return None
        return problem

    def keep_problem(self, key: ProblemKey, problem: Any, *frames: Optional[pd.DataFrame]) -> None:
        """Keep a problem built from `frames` for `key`, when they are small enough."""
        if self.small(*frames):
            self.problems.put(key, problem)

    def clear(self) -> None:
        self.frames.clear()
        self.problems.clear()
