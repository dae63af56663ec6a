"""A fresh worker's pool processes are forked warm, and warm themselves once forked: what a job's first dataset read
loads is there before any job, and each pool process has built the tiny problem in its own memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from queue_support import Worker

pytestmark = pytest.mark.queue


def children(pid: int) -> list[int]:
    return [int(child) for task in Path(f'/proc/{pid}/task').iterdir()
            for child in (task / 'children').read_text().split()]


@pytest.fixture(scope='module')
def worker(redis_url, tmp_path_factory):
    started = Worker(f'{redis_url}/5', 'warm', tmp_path_factory.mktemp('warm') / 'warm.log', concurrency=1)
    yield started
    started.stop()


def test_pool_processes_have_the_parquet_reader_loaded_before_their_first_job(worker):
    [pool] = children(worker.process.pid)
    maps = Path(f'/proc/{pool}/maps').read_text()
    # pyarrow's dataset reader is mapped only once a Parquet dataset was read (no job has run here), as the core's
    # lazily imported modules are imported only by a solve: the warm-up did both in the worker before forking.
    assert 'pyarrow/_dataset_parquet.' in maps, 'the pool process was forked cold'


def test_each_pool_process_builds_the_tiny_problem_once_forked(worker):
    # worker_process_init runs in the pool process right after the fork (its log line names the pool process).
    deadline = time.monotonic() + 30
    while 'pool process warmed in' not in (log := worker.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 'warming the pool process failed' not in log, log[-3000:]
    assert 'pool process warmed in' in log, log[-3000:]
