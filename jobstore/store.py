"""The Redis schema of datasets, jobs and results: the one contract between the API and the worker.

Job state lives here under our own keys (not in Celery's result backend) so the API can answer
without asking Celery, and records stay until deleted. Status changes go through one Lua script so
that a cancel and a worker picking the job up cannot both win.

Keys (prefix `blp:`):
  dataset:{id}            hash   rows, columns, markets, bytes, created_at
  dataset:{id}:data       string the canonical frame as Parquet
  dataset:{id}:owners     set    owners that uploaded it (an owner is `public` or a key fingerprint)
  dataset:{id}:jobs       set    jobs that read it
  job:{id}                hash   the job record (nested values as JSON)
  job:{id}:result         string the result document (JSON)
  job:{id}:epochs         hash   task id -> epoch of its last republication (jobstore.leases)
  job:{id}:{fan-out}...   a fanned-out job's plan and rows (jobstore.fanout; FAN_OUTS)

A job's keys expire `result_ttl` seconds after it ended (RESULT_TTL_SECONDS), and DELETE of an ended job removes
them at once. A finished estimate keeps only its result document (a few kB): elasticities and diversion ratios
are computed from it on demand.
  jobs:{owner}            zset   the owner's jobs, scored by creation sequence (for cursor pagination)
  active:{owner}          set    the owner's queued and running jobs (for its cap and its jobs' priority)
  jobs:seq                string creation sequence
  jobs:counts             hash   status -> number of jobs (for metrics)
  idempotency:{owner}:{h} string the job an Idempotency-Key created and the hash of its body
  workers                 zset   worker hostname -> last heartbeat (unix time)
  submissions             zset   job id -> creation time, until the reaper finds it no longer queued
  submissions:last        string when the newest job record was written (both: jobstore.submissions)
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Iterable, Literal, Optional, Union, cast

import redis

from jobstore.jsonsafe import dumps
from jobstore.records import STATUSES, TERMINAL, JobRecord, JobStatus, dataset_ids
from jobstore.replies import binary, members, optional_text, scored_members, text, text_hash, texts

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

PREFIX = 'blp:'
SUBMISSIONS, LAST_SUBMISSION = f'{PREFIX}submissions', f'{PREFIX}submissions:last'
# Fanned-out kinds (jobstore.fanout): the name of their keys, the unit of their rows, their phases.
FAN_OUTS: tuple[tuple[str, str, tuple[int, ...]], ...] = (('multistart', 'starts', (1, 2)), ('bootstrap', 'chunks', (1,)))
FAN_OUTS += (('sweep', 'variants', (1,)),)  # robustness sweeps (worker/sweeps.py)
FAN_OUTS += (('merger_screen', 'candidates', (1,)),)  # merger screens (worker/merger_screen.py)
_JSON_FIELDS = ('spec', 'request', 'progress', 'error', 'inputs')

# KEYS: job hash, counts hash, the prefix of active sets. ARGV: allowed from-states (JSON list), new status, then
# field/value pairs. Returns 1 when the job moved, else its current status (or false when it does not exist).
# A job that ends leaves its owner's active set.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
for _, state in ipairs(cjson.decode(ARGV[1])) do
  if state == current then
    redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 3))
    if current ~= ARGV[2] then
      redis.call('HINCRBY', KEYS[2], current, -1)
      redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    end
    if ARGV[2] == 'succeeded' or ARGV[2] == 'failed' or ARGV[2] == 'cancelled' then
      redis.call('SREM', KEYS[3] .. redis.call('HGET', KEYS[1], 'owner'), KEYS[1])
    end
    return 1
  end
end
return current
"""


class CapReached(Exception):
    """The owner already has as many queued and running jobs as it may."""


def now() -> str:
    """A UTC timestamp in ISO 8601, the form every record uses."""
    return datetime.now(UTC).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def connect(url: str, socket_timeout: float = 5.0, connect_timeout: float = 2.0) -> redis.Redis:
    """A client that fails fast (bounded socket waits) instead of hanging when Redis is gone."""
    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout,
                                health_check_interval=30)


class Store:
    """Typed access to the keys above; every method is one or a few round trips."""

    def __init__(self, client: redis.Redis, result_ttl: Optional[int] = None) -> None:
        self.r, self.result_ttl = client, result_ttl
        self._transition = client.register_script(_TRANSITION)

    # ---------------------------------------------------------------- datasets

    @staticmethod
    def _dataset(dataset_id: str, part: str = '') -> str:
        return f'{PREFIX}dataset:{dataset_id}{part}'

    def put_dataset(self, meta: dict[str, Any], data: bytes, owner: str) -> bool:
        """Store a dataset (idempotent: its id is its content hash); True when it is new to this owner."""
        key = self._dataset(meta['id'])
        pipe = self.r.pipeline()
        pipe.set(key + ':data', data, nx=True)
        pipe.hsetnx(key, 'created_at', now())
        pipe.hset(key, mapping={name: dumps(value) for name, value in meta.items()})
        pipe.sadd(key + ':owners', owner)
        return bool(pipe.execute()[-1])

    def put_dataset_file(self, meta: dict[str, Any], path: str, owner: str, chunk_bytes: int = 8 << 20) -> bool:
        """`put_dataset` with the stored bytes read from a file and sent a chunk at a time (a large dataset is never
        whole in the caller's memory): appended to a staging key that expires if the caller dies, then renamed."""
        key = self._dataset(meta['id'])
        if not self.r.exists(key + ':data'):
            staging = f'{key}:data:staging:{uuid.uuid4().hex}'
            with open(path, 'rb') as file:
                while chunk := file.read(chunk_bytes):
                    pipe = self.r.pipeline()
                    pipe.append(staging, chunk)
                    pipe.expire(staging, 3600)
                    pipe.execute()
            pipe = self.r.pipeline()  # MULTI: the data appears whole and without its staging expiry, or not at all
            pipe.renamenx(staging, key + ':data')
            pipe.persist(key + ':data')
            pipe.delete(staging)
            pipe.execute()
        pipe = self.r.pipeline()
        pipe.hsetnx(key, 'created_at', now())
        pipe.hset(key, mapping={name: dumps(value) for name, value in meta.items()})
        pipe.sadd(key + ':owners', owner)
        return bool(pipe.execute()[-1])

    def get_dataset(self, dataset_id: str, owner: Optional[str] = None) -> Optional[dict[str, Any]]:
        """The dataset's description, or None when it does not exist (or is not this owner's)."""
        key = self._dataset(dataset_id)
        if owner is not None and not self.r.sismember(key + ':owners', owner):
            return None
        raw = self.r.hgetall(key)
        if not raw:
            return None
        meta = text_hash(raw)
        created = meta.pop('created_at')
        return {**{k: json.loads(v) for k, v in meta.items()}, 'created_at': created}

    def dataset_bytes(self, dataset_id: str) -> Optional[bytes]:
        return binary(self.r.get(self._dataset(dataset_id, ':data')))

    def has_dataset_bytes(self, dataset_id: str) -> bool:
        return bool(self.r.exists(self._dataset(dataset_id, ':data')))

    def delete_dataset(self, dataset_id: str, owner: str) -> list[str]:
        """Drop this owner's claim (and the data once nobody holds it); returns unfinished jobs that block it.

        A job being created adds itself to `dataset:{id}:jobs` before checking the data exists, and this
        watches that set, so a dataset is never deleted under a job that was just queued on it.
        """
        key = self._dataset(dataset_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key + ':jobs', key + ':owners')
                    owners = set(texts(pipe.smembers(key + ':owners')))
                    last = owners <= {owner}
                    blocking = [job for job in texts(pipe.smembers(key + ':jobs'))
                                if self._blocks(job, owner, last)]
                    if blocking:
                        pipe.unwatch()
                        return blocking
                    pipe.multi()
                    pipe.srem(key + ':owners', owner)
                    if last:
                        pipe.delete(key, key + ':data', key + ':owners', key + ':jobs')
                    pipe.execute()
                    return []
                except redis.WatchError:
                    continue

    def _blocks(self, job_id: str, owner: str, last_owner: bool) -> bool:
        status, job_owner = self.r.hmget(self.job_key(job_id), 'status', 'owner')
        if status is None or text(status) in TERMINAL:
            return False
        return last_owner or optional_text(job_owner) == owner

    # ---------------------------------------------------------------- jobs

    @staticmethod
    def job_key(job_id: str, part: str = '') -> str:
        return f'{PREFIX}job:{job_id}{part}'

    @staticmethod
    def _idempotency(owner: str, key_hash: str) -> str:
        return f'{PREFIX}idempotency:{owner}:{key_hash}'

    def find_idempotent(self, owner: str, key_hash: str) -> Optional[dict[str, str]]:
        """What an Idempotency-Key already created: `{"job": id, "body": hash}`, or None."""
        raw = self.r.get(self._idempotency(owner, key_hash))
        return json.loads(raw) if raw else None

    def create_job(self, record: JobRecord, datasets: Iterable[str],
                   idempotency: Optional[tuple[str, str, int]] = None,
                   cap: Optional[int] = None) -> Optional[dict[str, str]]:
        """Write a queued job and its indexes in one transaction.

        `idempotency` is (key hash, body hash, ttl): when that key already names a job, nothing is written
        and its `{"job", "body"}` entry is returned instead; otherwise returns None. CapReached when the owner
        already has `cap` queued and running jobs.
        """
        job_id, owner = record['id'], record['owner']
        # Typed as HSET takes it: redis-py's Mapping of fields is invariant in its key, so a dict[str, str] is refused.
        fields: dict[FieldT, EncodableT] = {name: (dumps(value) if name in _JSON_FIELDS else str(value))
                                            for name, value in record.items() if value is not None}
        fields['status'] = 'queued'
        idem_key = self._idempotency(owner, idempotency[0]) if idempotency else None
        active = self._active(owner)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(active, *([idem_key] if idem_key else []))
                    existing = pipe.get(idem_key) if idem_key else None
                    if existing:
                        pipe.unwatch()
                        return json.loads(existing)
                    if cap is not None and pipe.scard(active) >= cap:
                        pipe.unwatch()
                        raise CapReached(owner)
                    sequence = self.r.incr(f'{PREFIX}jobs:seq')
                    pipe.multi()
                    pipe.hset(self.job_key(job_id), mapping={**fields, 'sequence': sequence})
                    pipe.zadd(f'{PREFIX}jobs:{owner}', {job_id: sequence})
                    pipe.sadd(active, self.job_key(job_id))
                    pipe.hincrby(f'{PREFIX}jobs:counts', 'queued', 1)
                    pipe.zadd(SUBMISSIONS, {job_id: time.time()})  # until a worker has it (jobstore.submissions)
                    pipe.set(LAST_SUBMISSION, time.time())
                    for dataset_id in datasets:
                        pipe.sadd(self._dataset(dataset_id, ':jobs'), job_id)
                    if idem_key and idempotency:
                        pipe.set(idem_key, dumps({'job': job_id, 'body': idempotency[1]}), ex=idempotency[2])
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    @staticmethod
    def _active(owner: str) -> str:
        return f'{PREFIX}active:{owner}'

    def active_jobs(self, owner: str) -> int:
        """How many of the owner's jobs are queued or running."""
        return int(self.r.scard(self._active(owner)))

    def get_job(self, job_id: str, owner: Optional[str] = None) -> Optional[JobRecord]:
        """The job record with nested values decoded, or None when missing (or another owner's)."""
        raw = self.r.hgetall(self.job_key(job_id))
        if not raw:
            return None
        record: dict[str, Any] = text_hash(raw)
        if owner is not None and record.get('owner') != owner:
            return None
        for name in _JSON_FIELDS:
            if name in record:
                record[name] = json.loads(record[name])
        record['attempts'] = int(record.get('attempts', 0))
        record['cancel_requested'] = record.get('cancel_requested') == '1'
        return cast(JobRecord, record)

    def transition(self, job_id: str, allowed: Iterable[JobStatus], status: JobStatus,
                   **fields: Any) -> Union[Literal[True], JobStatus, None]:
        """Move a job to `status` if it is in one of `allowed`; True on success, else its current status (None when
        the job does not exist)."""
        flat: list[str] = []
        for name, value in fields.items():
            flat += [name, dumps(value) if name in _JSON_FIELDS else str(value)]
        moved = self._transition(keys=[self.job_key(job_id), f'{PREFIX}jobs:counts', f'{PREFIX}active:'],
                                 args=[json.dumps(list(allowed)), status, *flat])
        if moved == 1:
            if status in TERMINAL:
                self.retain(job_id)
            return True
        return cast(Optional[JobStatus], moved.decode() if isinstance(moved, bytes) else moved)

    def set_fields(self, job_id: str, **fields: Any) -> None:
        self.r.hset(self.job_key(job_id), mapping={
            name: (dumps(value) if name in _JSON_FIELDS else str(value)) for name, value in fields.items()})

    def status_and_cancel(self, job_id: str) -> tuple[Optional[JobStatus], bool]:
        """The job's status (None when gone) and whether a cancel was requested, in one round trip."""
        status, cancel = self.r.hmget(self.job_key(job_id), 'status', 'cancel_requested')
        return cast(Optional[JobStatus], optional_text(status)), cancel == b'1'

    def request_cancel(self, job_id: str) -> None:
        self.r.hset(self.job_key(job_id), 'cancel_requested', '1')

    def report_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Record a running job's progress in one round trip; True when a cancel has been requested."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self.job_key(job_id), 'progress', dumps(progress))
        pipe.hget(self.job_key(job_id), 'cancel_requested')
        return pipe.execute()[1] == b'1'

    def list_jobs(self, owner: str, status: Optional[JobStatus], limit: int,
                  cursor: Optional[int]) -> tuple[list[JobRecord], Optional[int]]:
        """Newest first, `limit` at a time; the cursor is the sequence of the last job returned."""
        key = f'{PREFIX}jobs:{owner}'
        upper = f'({cursor}' if cursor is not None else '+inf'
        found: list[JobRecord] = []
        while len(found) < limit:
            batch = self.r.zrevrangebyscore(key, upper, '-inf', start=0, num=max(limit, 50), withscores=True)
            if not batch:
                return found, None
            for member, score in scored_members(batch):
                upper = f'({int(score)}'
                record = self.get_job(member)
                if record and (status is None or record['status'] == status):
                    found.append(record)
                    if len(found) == limit:
                        break
        more = self.r.zrevrangebyscore(key, upper, '-inf', start=0, num=1)
        return found, (int(found[-1]['sequence']) if more else None)

    def job_counts(self) -> dict[str, int]:
        raw = self.r.hgetall(f'{PREFIX}jobs:counts')
        counts: dict[str, int] = {status: 0 for status in STATUSES}
        counts.update({status: int(count) for status, count in text_hash(raw).items()})
        return counts

    # ---------------------------------------------------------------- results

    def put_result(self, job_id: str, result: dict[str, Any]) -> None:
        self.r.set(self.job_key(job_id, ':result'), dumps(result))

    def get_result(self, job_id: str) -> Optional[dict[str, Any]]:
        raw = self.r.get(self.job_key(job_id, ':result'))
        return json.loads(raw) if raw else None

    def job_keys(self, job_id: str) -> list[str]:
        """Every key of a job: its record, result, epochs and fan-out ledger."""
        keys = [self.job_key(job_id, part) for part in ('', ':result', ':epochs')]
        for name, unit, phases in FAN_OUTS:
            keys.append(self.job_key(job_id, f':{name}'))
            keys += [self.job_key(job_id, f':{name}:{part}:{phase}')
                     for part in (unit, 'attempts', 'running') for phase in phases]
        return keys

    def retain(self, job_id: str) -> None:
        """An ended job's keys expire after the retention period (none when it is unset)."""
        if self.result_ttl:
            pipe = self.r.pipeline(transaction=False)
            for key in self.job_keys(job_id):
                pipe.expire(key, self.result_ttl)
            pipe.execute()

    def delete_job(self, record: JobRecord) -> None:
        """Remove an ended job: its keys, its place in its owner's list and in its datasets' job sets, its count."""
        job_id = record['id']
        pipe = self.r.pipeline()
        pipe.delete(*self.job_keys(job_id))
        pipe.zrem(f'{PREFIX}jobs:{record["owner"]}', job_id)
        pipe.zrem(SUBMISSIONS, job_id)
        pipe.srem(self._active(record['owner']), self.job_key(job_id))
        for dataset_id in dataset_ids(record['inputs']) if 'inputs' in record else []:
            pipe.srem(self._dataset(dataset_id, ':jobs'), job_id)
        pipe.hincrby(f'{PREFIX}jobs:counts', record['status'], -1)
        pipe.execute()

    # ---------------------------------------------------------------- workers

    def ping(self) -> bool:
        return bool(self.r.ping())

    def heartbeat(self, hostname: str) -> None:
        """Mark a worker alive now, and forget workers silent for an hour (containers come and go)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(f'{PREFIX}workers', {hostname: time.time()})
        pipe.zremrangebyscore(f'{PREFIX}workers', '-inf', time.time() - 3600)
        pipe.execute()

    def forget_worker(self, hostname: str) -> None:
        self.r.zrem(f'{PREFIX}workers', hostname)

    def live_workers(self, within: float) -> list[str]:
        return members(self.r.zrangebyscore(f'{PREFIX}workers', time.time() - within, '+inf'))
