"""Task leases: a task a worker holds is renewed by that worker's heartbeat; one whose lease lapsed goes back to
the queue, whatever the broker's visibility timeout.

Why: after a SIGKILL of a whole worker (a host gone, the OOM killer on its main process, `docker kill`) Celery's
Redis transport gives its unacknowledged messages back only after the visibility timeout, over an hour with the
production time limits. A lease is written when a worker receives a task and when a process starts running it,
renewed by the worker's main process every heartbeat while it still holds the task, and dropped when the task
ends. A reaper in every worker (one at a time, under a lock) republishes tasks whose lease lapsed.

Every republication raises the task's epoch, and a delivery carries the epoch it was published with: a delivery
older than the task's current epoch (the dead worker's message that the broker restores an hour later) is stale
and skipped. A delivery of the current epoch runs, including Celery's own redelivery after a pool process died.

Keys (prefix `blp:`):
  leases               zset   task id -> lease expiry (unix time)
  lease:{task id}      hash   name, args (JSON), job, holder (worker hostname)
  job:{id}:epochs      hash   task id -> epoch (deleted with the job)
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from jobstore.replies import members, optional_text, text
from jobstore.store import PREFIX, Store

LEASES = f'{PREFIX}leases'
REAPER_LOCK = f'{PREFIX}reaper:lock'

# KEYS: leases zset, lease hash, epochs hash. ARGV: task id, expiry, holder, name, args, job, epoch, mode.
# mode 'run': the delivery that starts running the task takes the lease, unless its epoch is stale (returns 0).
# mode 'claim': a worker that received the task takes the lease only if nobody holds it (returns 1 if taken).
_TAKE = """
local current = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if tonumber(ARGV[7]) < current then return 0 end
if ARGV[8] == 'claim' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'name', ARGV[4], 'args', ARGV[5], 'job', ARGV[6], 'holder', ARGV[3])
return 1
"""

# KEYS: leases zset, lease hash. ARGV: task id, holder, new expiry. Renews only a lease this holder still has.
_RENEW = """
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[2] or not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""

# KEYS: leases zset, lease hash. ARGV: task id, holder. Drops the lease if this holder has it.
_RELEASE = """
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: leases zset, lease hash, epochs hash. ARGV: task id, now. Takes a lapsed lease away (once: the caller that
# gets it republishes), raising the task's epoch. Returns {name, args, job, new epoch}, or false if it is not lapsed.
_REAP = """
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then return false end
local info = redis.call('HMGET', KEYS[2], 'name', 'args', 'job')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if not info[1] then return false end
return {info[1], info[2], info[3], redis.call('HINCRBY', KEYS[3], ARGV[1], 1)}
"""


class Leases:
    """Leases of the tasks of one store; `seconds` is how long a lease lasts without renewal."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.store, self.seconds, self.r = store, seconds, store.r
        self._take, self._renew = self.r.register_script(_TAKE), self.r.register_script(_RENEW)
        self._release, self._reap = self.r.register_script(_RELEASE), self.r.register_script(_REAP)

    @staticmethod
    def _key(task_id: str) -> str:
        return f'{PREFIX}lease:{task_id}'

    def _take_as(self, mode: str, task_id: str, name: str, args: list[Any], holder: str, epoch: int) -> bool:
        job = str(args[0]) if args else task_id
        keys = [LEASES, self._key(task_id), self.store.job_key(job, ':epochs')]
        return self._take(keys=keys, args=[task_id, time.time() + self.seconds, holder, name,
                                           json.dumps(list(args)), job, int(epoch), mode]) == 1

    def start(self, task_id: str, name: str, args: list[Any], holder: str, epoch: int = 0) -> bool:
        """Take the lease to run the task; False when this delivery is stale (the task was republished since)."""
        return self._take_as('run', task_id, name, args, holder, epoch)

    def claim(self, task_id: str, name: str, args: list[Any], holder: str, epoch: int = 0) -> bool:
        """Lease a task a worker has received but not started, unless someone holds it already."""
        return self._take_as('claim', task_id, name, args, holder, epoch)

    def renew(self, task_ids: list[str], holder: str) -> int:
        """Extend this holder's leases of these tasks; how many it still held."""
        expiry = time.time() + self.seconds
        pipe = self.r.pipeline(transaction=False)
        for task_id in task_ids:
            self._renew(keys=[LEASES, self._key(task_id)], args=[task_id, holder, expiry], client=pipe)
        return sum(pipe.execute()) if task_ids else 0

    def release(self, task_id: str, holder: str) -> None:
        self._release(keys=[LEASES, self._key(task_id)], args=[task_id, holder])

    def holder(self, task_id: str) -> Optional[str]:
        return optional_text(self.r.hget(self._key(task_id), 'holder'))

    def lapsed(self, now: Optional[float] = None) -> list[str]:
        """Task ids whose lease has lapsed."""
        return members(self.r.zrangebyscore(LEASES, '-inf', now if now is not None else time.time()))

    def reap(self, task_id: str) -> Optional[tuple[str, list[Any], str, int]]:
        """Take a lapsed lease away: (task name, args, job id, new epoch) for the one caller that republishes it."""
        job = self.r.hget(self._key(task_id), 'job')
        if job is None:  # released meanwhile
            return None
        taken = self._reap(keys=[LEASES, self._key(task_id), self.store.job_key(text(job), ':epochs')],
                           args=[task_id, time.time()])
        if not taken:
            return None
        name, args, job, epoch = taken
        return name.decode(), json.loads(args), job.decode(), int(epoch)

    def lock_reaper(self, holder: str, seconds: float) -> bool:
        """Only one reaper at a time: a lock that expires by itself if its holder dies."""
        return bool(self.r.set(REAPER_LOCK, holder, nx=True, px=max(1, int(seconds * 1000))))
