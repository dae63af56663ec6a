"""The helper processes of an API process (service.process_slots, behind the numerics and the upload parsers): a slot
per call, a call past its time keeps its slot until it ends, and a pool broken by a dead process is replaced."""

from __future__ import annotations

import os
import time
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

import pytest

from service.process_slots import NoSlot, ProcessSlots

LIMIT = 4 * 1024**3


def test_a_process_that_dies_breaks_one_call_and_the_next_call_gets_a_fresh_pool():
    processes = ProcessSlots('test-dies', 1, LIMIT)
    first = processes.run(os.getpid, wait=60, timeout=60)
    with pytest.raises(BrokenProcessPool):
        processes.run(os._exit, 1, wait=60, timeout=60)
    second = processes.run(os.getpid, wait=60, timeout=60)  # the slot was given back, and the pool is a new one
    assert second not in (first, os.getpid())


def test_a_call_past_its_time_keeps_its_slot_until_it_ends():
    processes = ProcessSlots('test-slow', 1, LIMIT)
    processes.run(os.getpid, wait=60, timeout=60)  # the process has started: what follows is timed on the call alone
    with pytest.raises(FutureTimeout):
        processes.run(time.sleep, 1.5, wait=0, timeout=0.1)
    with pytest.raises(NoSlot):  # the sleep still runs in the only process
        processes.run(os.getpid, wait=0.1)
    assert processes.run(os.getpid, wait=30, timeout=30) != os.getpid()


def test_helper_processes_run_at_a_low_priority_within_the_memory_limit():
    processes = ProcessSlots('test-limits', 1, LIMIT)
    assert processes.run(os.nice, 0, wait=60, timeout=60) == 19
    import resource
    assert processes.run(resource.getrlimit, resource.RLIMIT_AS, wait=60, timeout=60) == (LIMIT, LIMIT)


def test_the_time_limit_counts_the_wait_for_a_slot():
    """A request waits for a slot and then for its result within one limit (VALIDATION_TIMEOUT_SECONDS), not twice it."""
    import threading

    processes = ProcessSlots('test-deadline', 1, LIMIT)
    processes.run(os.getpid, wait=60, timeout=60)  # the process has started
    holder = threading.Thread(target=processes.run, args=(time.sleep, 1.0), kwargs={'wait': 0})
    holder.start()
    time.sleep(0.1)
    started = time.perf_counter()
    with pytest.raises(FutureTimeout):  # a slot after ~0.9 s, then 1 s of sleep: past the limit of 1.5 s in all
        processes.run(time.sleep, 1.0, wait=5, timeout=1.5)
    assert time.perf_counter() - started < 1.9
    holder.join()
    assert processes.run(os.getpid, wait=30, timeout=30) != os.getpid()


def verbose() -> bool:
    """In a helper process: whether the core would print its status lines."""
    import blp
    return bool(blp.options.verbose)


def test_numerics_processes_start_with_the_cores_status_lines_off_and_leave_the_api_processs_options_alone():
    import blp
    before = blp.options.verbose
    from jobstore.settings import Settings
    from service.numerics import Numerics
    numerics = Numerics(Settings(max_concurrent_validations=1))
    numerics.processes.key = ('test-numerics-quiet', *numerics.processes.key[1:])  # a pool of its own, not shared
    assert numerics.processes.run(verbose, wait=120, timeout=120) is False
    assert blp.options.verbose is before
