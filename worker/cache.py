"""What a pool process keeps between tasks: parsed datasets and built problems of small data.

Why: the starts of a multi-start, and repeated estimates on the same data, would otherwise each read the stored
Parquet and build the same read-only Problem again. Datasets are content-addressed, so an id always names the same
frame and a (datasets, problem spec) key the same problem: nothing here goes stale. Only data whose frames take at
most CACHE_MAX_BYTES is kept, and at most a few entries, so a process never holds much beyond the job it runs (a
large job's process is replaced anyway: worker_max_memory_per_child). Callers must not modify what they get.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pandas as pd

import blp
from jobstore.codec import read_frame
from jobstore.lru import LRU
from jobstore.store import Store
from worker import memory

CACHE_MAX_BYTES = 64 * 1024 * 1024
FRAMES, PROBLEMS = 4, 2


_frames, _problems = LRU(FRAMES), LRU(PROBLEMS)


def small(*frames: Optional[pd.DataFrame]) -> bool:
    return sum(int(frame.memory_usage(index=False).sum()) for frame in frames if frame is not None) <= CACHE_MAX_BYTES


def frame(store: Store, dataset_id: str, name: str) -> pd.DataFrame:
    """A stored dataset's frame; DataError naming the input (`name`) when it was deleted."""
    cached = _frames.get(dataset_id)
    if cached is not None and store.has_dataset_bytes(dataset_id):  # deleted meanwhile: fail as if uncached
        return cached
    raw = store.dataset_bytes(dataset_id)
    if raw is None:
        raise blp.DataError(f'the {name} dataset {dataset_id} was deleted', dataset=dataset_id)
    parsed = read_frame(raw)
    if small(parsed):
        _frames.put(dataset_id, parsed)
    return parsed


def frames(store: Store, inputs: dict[str, Optional[str]]) -> tuple[Any, Any]:
    """(product frame, agent frame or None) of a job's inputs."""
    product, agent = (frame(store, dataset_id, name) if (dataset_id := inputs.get(name)) else None
                      for name in ('product_data', 'agent_data'))
    return product, agent


def problem(store: Store, inputs: dict[str, Optional[str]], spec: Any,
            timings: Optional[dict[str, float]] = None) -> Any:
    """The built problem of a job's inputs and `spec` (an EstimateSpec), within the job budget.

    `timings`, when given, gets `read_seconds` and `build_seconds` (both 0 when the problem was cached)."""
    key = (inputs.get('product_data'), inputs.get('agent_data'), spec.problem.model_dump_json())
    cached = _problems.get(key)
    if cached is not None and all(store.has_dataset_bytes(dataset_id) for dataset_id in key[:2] if dataset_id):  # its datasets
        if timings is not None:
            timings.update(read_seconds=0.0, build_seconds=0.0)
        return cached
    clock = time.perf_counter()
    with memory.doing('reading the data'):
        product, agent = frames(store, inputs)
    read = time.perf_counter()
    memory.check_budget(spec, product, agent)
    with memory.doing('building the problem'):
        built = blp.Problem.from_spec(spec.problem, product, agent)
    if timings is not None:
        timings.update(read_seconds=read - clock, build_seconds=time.perf_counter() - read)
    if small(product, agent):
        _problems.put(key, built)
    return built
