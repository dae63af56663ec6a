"""Submissions whose task message is not known to be in a worker's hands: the job record and the broker message are
separate writes, and Redis (or the API, or a worker) can die between them or while the message moves.

Why: the API writes the record, then publishes the task; a worker pops the message and only then records it as
unacknowledged. A Redis SIGKILL, restart or network cut between the record and the publish, or while a worker takes
the message, leaves a record `queued` with no message anywhere: nothing would ever run it, it holds a place under its
owner's cap, and a client that retries with its Idempotency-Key is handed that job. So the record is written together
with an entry here (one transaction, Store.create_job), and the entry stays until the worker's reaper finds the job
no longer queued. An entry older than the grace period whose job is still `queued`, held by no worker, and whose
message is in no queue list and not unacknowledged (worker.leases.broker_task_ids) names a lost message: the
reaper requeues it, raising the task's epoch so that a message that was in fact delivered is skipped as stale
(jobstore.leases). A job whose message is still waiting is looked at again a grace period later (`postpone`).

What no ordering saves is the tail of that log itself: with `appendfsync everysec` a crash of the machine (not of
Redis alone: its writes are in the kernel's page cache by the time it answers) loses up to the last second or two of
writes, records answered 202 included. Job ids therefore begin with the millisecond they were minted (just before
their record is written), and every record written also writes its time under `submissions:last`; an id that is
not found, minted after the last record that survived and before this Redis started, names a job lost with that
tail, and the API says so instead of a plain "no such job".

Keys (prefix `blp:`):
  submissions        zset    job id -> when its record was written or last seen waiting (unix time), until it leaves
                             `queued`
  submissions:last   string  when the newest job record was written (unix time)
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any, Optional, cast

from jobstore.records import JobKind
from jobstore.replies import members
from jobstore.store import LAST_SUBMISSION, SUBMISSIONS, Store

# API replicas mint ids on their own clocks and write them a moment later: an id minted this much before the last
# surviving record may still have been lost.
CLOCK_SLACK_SECONDS = 5.0


def mint_job_id(now: Optional[float] = None) -> str:
    """32 hex digits like a uuid4's: the minting millisecond (12 digits), then 80 random bits."""
    return f'{int((time.time() if now is None else now) * 1000):012x}{secrets.token_hex(10)}'


def minted_at(job_id: str) -> Optional[float]:
    """When an id from `mint_job_id` was minted (unix time); None for anything else (ids of older releases)."""
    if len(job_id) != 32:
        return None
    try:
        seconds = int(job_id[:12], 16) / 1000
    except ValueError:
        return None
    return seconds if 1.7e9 < seconds < time.time() + 86400 else None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec='milliseconds').replace('+00:00', 'Z')

# KEYS: submissions zset, job hash, leases zset, epochs hash. ARGV: job id (= its task id).
# Requeues the job only if its entry was there (once), it is still queued and nobody holds its task: raises the
# task's epoch and returns it with the job's kind; drops the entry either way (false when there is nothing to do).
_TAKE_ORPHAN = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local status, kind = unpack(redis.call('HMGET', KEYS[2], 'status', 'kind'))
if status ~= 'queued' or redis.call('ZSCORE', KEYS[3], ARGV[1]) then return false end
return {kind, redis.call('HINCRBY', KEYS[4], ARGV[1], 1)}
"""


class Submissions:
    """The unconfirmed submissions of one store."""

    def __init__(self, store: Store) -> None:
        self.store, self.r = store, store.r
        self._take_orphan = self.r.register_script(_TAKE_ORPHAN)

    def lost_in_restart(self, job_id: str) -> Optional[dict[str, Any]]:
        """For an id that is not found: when it was accepted and when Redis restarted, if it was minted after the
        newest record that survived and before this Redis started (lost with the unsynced tail of the log)."""
        minted = minted_at(job_id)
        if minted is None or self.r.exists(self.store.job_key(job_id)):  # there, if not the caller's
            return None
        # Redis counts its uptime in whole seconds of its clock: it started within a second either side of this,
        # so an unknown id minted up to two seconds after the restart is still taken for a lost one.
        started = time.time() - int(self.r.info('server')['uptime_in_seconds'])
        last = float(self.r.get(LAST_SUBMISSION) or 0)
        if last - CLOCK_SLACK_SECONDS < minted < started + 1:
            return {'accepted_at': _iso(minted), 'redis_started_at': _iso(started)}
        return None

    def postpone(self, job_ids: list[str], now: Optional[float] = None) -> None:
        """These jobs' messages are waiting in the broker: look at them again a grace period from now."""
        if job_ids:
            self.r.zadd(SUBMISSIONS, dict.fromkeys(job_ids, now if now is not None else time.time()), xx=True)

    def unconfirmed(self, older_than: float, now: Optional[float] = None) -> list[str]:
        """Jobs written (or last seen waiting) over `older_than` seconds ago that the reaper has not dealt with."""
        return members(self.r.zrangebyscore(SUBMISSIONS, '-inf', (now if now is not None else time.time()) - older_than))

    def take_orphan(self, job_id: str, leases_key: str) -> Optional[tuple[JobKind, int]]:
        """(kind, new epoch) when the job is still queued with nobody holding its task, for the one caller that
        republishes it; None otherwise. The entry is gone afterwards."""
        taken = self._take_orphan(keys=[SUBMISSIONS, self.store.job_key(job_id), leases_key,
                                        self.store.job_key(job_id, ':epochs')], args=[job_id])
        if not taken:
            return None
        kind, epoch = taken
        return cast(JobKind, kind.decode()), int(epoch)
