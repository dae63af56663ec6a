"""A fresh worker's pool processes are forked warm: what a job's first dataset read loads is there before any job."""

from __future__ import annotations

from pathlib import Path

import pytest

from queue_support import Worker

pytestmark = pytest.mark.queue


def children(pid: int) -> list[int]:
    return [int(child) for task in Path(f'/proc/{pid}/task').iterdir()
            for child in (task / 'children').read_text().split()]


def test_pool_processes_have_the_parquet_reader_loaded_before_their_first_job(redis_url, tmp_path):
    worker = Worker(f'{redis_url}/5', 'warm', tmp_path / 'warm.log', concurrency=1)
    try:
        [pool] = children(worker.process.pid)
        maps = Path(f'/proc/{pool}/maps').read_text()
        # pyarrow's dataset reader is mapped only once a Parquet dataset was read (no job has run here), as the core's
        # lazily imported modules are imported only by a solve: the warm-up did both in the worker before forking.
        assert 'pyarrow/_dataset_parquet.' in maps, 'the pool process was forked cold'
    finally:
        worker.stop()
