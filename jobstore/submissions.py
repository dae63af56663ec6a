"""Submissions whose task message is not known to be queued: the job record and the broker message are two writes,
and Redis (or the API) can die between them.

Why: the API writes the record, then publishes the task. A Redis SIGKILL, restart or network cut between the two
leaves a record `queued` with no message: nothing would ever run it, it holds a place under its owner's cap, and a
client that retries with its Idempotency-Key is handed that job. So the record is written together with an entry
here (one transaction, Store.create_job), and the API removes the entry once the publish has succeeded. An entry
older than the grace period names a job whose publish may have been lost; the worker's reaper requeues it if it is
still `queued` and no worker holds its task, raising the task's epoch so that the original message, if it was in
fact published, is skipped as stale when delivered (jobstore.leases).

The append-only file is one ordered log, so whatever a restart keeps of it is a prefix: a surviving removal of the
entry implies the message it confirms survived too, and a surviving record implies its entry did.

Keys (prefix `blp:`):
  submissions    zset   job id -> when its record was written (unix time), until its publish is confirmed
"""

from __future__ import annotations

import time
from typing import Optional

from jobstore.store import SUBMISSIONS, Store

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

    def confirm(self, job_id: str) -> None:
        """The job's task message was published: nothing to recover."""
        self.r.zrem(SUBMISSIONS, job_id)

    def unconfirmed(self, older_than: float, now: Optional[float] = None) -> list[str]:
        """Jobs whose publish has not been confirmed for `older_than` seconds."""
        members = self.r.zrangebyscore(SUBMISSIONS, '-inf', (now if now is not None else time.time()) - older_than)
        return [member.decode() for member in members]

    def take_orphan(self, job_id: str, leases_key: str) -> Optional[tuple[str, int]]:
        """(kind, new epoch) when the job is still queued with nobody holding its task, for the one caller that
        republishes it; None otherwise. The entry is gone afterwards."""
        taken = self._take_orphan(keys=[SUBMISSIONS, self.store.job_key(job_id), leases_key,
                                        self.store.job_key(job_id, ':epochs')], args=[job_id])
        if not taken:
            return None
        kind, epoch = taken
        return kind.decode(), int(epoch)
