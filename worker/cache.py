"""What a pool process keeps between tasks: parsed datasets and built problems of small data (jobstore.cache).

Why: the starts of a multi-start, and repeated estimates on the same data, would otherwise each read the stored
Parquet and build the same read-only Problem again. A worker keeps fewer and larger entries than the API (a large
job's process is replaced anyway: worker_max_memory_per_child), and checks on every hit that the datasets were not
deleted meanwhile, so a job on deleted data fails by name as it would uncached. Callers must not modify what they get.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pandas as pd

import blp
from jobstore.cache import DatasetCache, problem_key
from jobstore.records import InputIds
from jobstore.store import Store
from worker import memory

CACHE = DatasetCache(frames=4, problems=2, max_bytes=64 * 1024 * 1024)


def frame(store: Store, dataset_id: str, name: str) -> pd.DataFrame:
    """A stored dataset's frame; DataError naming the input (`name`) when it was deleted."""
    found = CACHE.frame(store, dataset_id, confirm=True)
    if found is None:
        raise blp.DataError(f'the {name} dataset {dataset_id} was deleted', dataset=dataset_id)
    return found


def frames(store: Store, inputs: InputIds) -> tuple[Any, Any]:
    """(product frame, agent frame or None) of a job's inputs."""
    product_id, agent_id = inputs.get('product_data'), inputs.get('agent_data')
    product = frame(store, product_id, 'product_data') if product_id else None
    agent = frame(store, agent_id, 'agent_data') if agent_id else None
    return product, agent


def problem(store: Store, inputs: InputIds, spec: Any,
            timings: Optional[dict[str, float]] = None) -> Any:
    """The built problem of a job's inputs and `spec` (an EstimateSpec), within the job budget.

    `timings`, when given, gets `read_seconds` and `build_seconds` (both 0 when the problem was cached)."""
    key = problem_key(inputs.get('product_data'), inputs.get('agent_data'), spec.problem)
    cached = CACHE.cached_problem(key, store)
    if cached is not None:
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
    CACHE.keep_problem(key, built, product, agent)
    return built
