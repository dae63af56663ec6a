"""The ledger of a fanned-out job (multi-start, bootstrap, sweep, merger screen): one task per member or batch of
members, each member's row written once.

Keys (prefix `blp:job:{id}:{name}`, e.g. name `multistart`):
  {name}                    hash  the plan: fields the parent or a finishing phase publishes, and those members set
                                  aside beside their rows (JSON values)
  {name}:{unit}:{phase}     hash  member index -> its row (JSON), written once (HSETNX)
  {name}:attempts:{phase}   hash  member index -> deliveries so far
  {name}:running:{phase}    hash  member index -> the worker and process id of its latest delivery

No chord: Celery counts chord members, and a redelivered member breaks that count. One Lua script writes a row (or a
batch's rows), counts the rows and updates the parent's progress, so exactly one writer learns that its rows completed
the phase.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

from jobstore.jsonsafe import dumps
from jobstore.store import Store, now

# KEYS: the phase's rows hash, the job hash, the plan hash. ARGV: members in the phase, phase, phases, now, unit, the
# number n of plan fields, n pairs of plan field and value (JSON), then pairs of index and row (JSON). Unless the parent
# has ended (its rows are then final): writes the plan fields (a member's bulky output beside its row), each row unless
# one is there, and recomputes the parent's progress from all rows once ({unit}_done, {unit}_total, {unit}_failed,
# best_objective). Returns {rows, added for each row}: one call records a batch of members at the cost of one.
_RECORD = """
if redis.call('HGET', KEYS[2], 'status') ~= 'running' then
  local result = {redis.call('HLEN', KEYS[1])}
  for i = 7 + 2 * tonumber(ARGV[6]), #ARGV, 2 do result[#result + 1] = 0 end
  return result
end
for i = 7, 6 + 2 * tonumber(ARGV[6]), 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
local added = {}
for i = 7 + 2 * tonumber(ARGV[6]), #ARGV, 2 do
  added[#added + 1] = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
local rows = redis.call('HVALS', KEYS[1])
local failed, best = 0, nil
for _, raw in ipairs(rows) do
  local row = cjson.decode(raw)
  if row['status'] ~= 'succeeded' then
    failed = failed + 1
  elseif type(row['objective']) == 'number' and (best == nil or row['objective'] < best) then
    best = row['objective']
  end
end
local progress = {phase = tonumber(ARGV[2]), phases = tonumber(ARGV[3]),
                  best_objective = best == nil and cjson.null or best, updated_at = ARGV[4]}
progress[ARGV[5] .. '_done'] = #rows
progress[ARGV[5] .. '_total'] = tonumber(ARGV[1])
progress[ARGV[5] .. '_failed'] = failed
redis.call('HSET', KEYS[2], 'progress', cjson.encode(progress))
local result = {#rows}
for _, flag in ipairs(added) do result[#result + 1] = flag end
return result
"""


# KEYS: the phase's attempts hash, its running hash. ARGV: the running entry (JSON), then member indices. Counts the
# first attempt at every member, unless one of them was attempted before (then nothing is counted). Returns 1 if counted.
_BEGIN_FIRST = """
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return 0 end
end
for i = 2, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], 1)
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
end
return 1
"""


class FanOut:
    """A fanned-out job's plan and rows; `unit` names the members in keys and progress (`starts`, `draws`)."""

    def __init__(self, store: Store, job_id: str, name: str, unit: str) -> None:
        self.job_id, self.unit, self.r = job_id, unit, store.r
        self.job_key = store.job_key(job_id)
        self.key = store.job_key(job_id, f':{name}')
        self._record, self._begin_first = self.r.register_script(_RECORD), self.r.register_script(_BEGIN_FIRST)

    def _part(self, name: str, phase: int) -> str:
        return f'{self.key}:{name}:{phase}'

    def get(self, field: str) -> Any:
        raw = self.r.hget(self.key, field)
        return json.loads(raw) if raw is not None else None

    def get_many(self, fields: list[str]) -> list[Any]:
        """Several plan fields at once (None for those not written)."""
        raws = self.r.hmget(self.key, fields) if fields else []
        return [json.loads(raw) if raw is not None else None for raw in raws]

    def put(self, **fields: Any) -> None:
        self.r.hset(self.key, mapping={name: dumps(value) for name, value in fields.items()})

    def published(self, phase: int) -> bool:
        return bool(self.get(f'published:{phase}'))

    def begin(self, phase: int, index: int, worker: str) -> int:
        """Count an attempt at a member and note who runs it (a member that keeps killing its worker gives up)."""
        return self.begin_checked(phase, index, worker)[0]

    def begin_checked(self, phase: int, index: int, worker: str) -> tuple[int, bool]:
        """`begin`, and in the same round trip whether the job is still running with no cancel requested (a batch
        of members checks before each one)."""
        pipe = self.r.pipeline()
        pipe.hincrby(self._part('attempts', phase), index, 1)
        pipe.hset(self._part('running', phase), index,
                  dumps({'worker': worker, 'pid': os.getpid(), 'started_at': now()}))
        pipe.hmget(self.job_key, 'status', 'cancel_requested')
        attempt, _, (status, cancel) = pipe.execute()
        return int(attempt), status == b'running' and cancel != b'1'

    def begin_first(self, phase: int, indices: Sequence[int], worker: str) -> bool:
        """Count the first attempt at each of a batch of members in one round trip; False, counting nothing, when one
        of them was attempted before (a batch delivered again: its members begin one at a time)."""
        running = dumps({'worker': worker, 'pid': os.getpid(), 'started_at': now()})
        keys = [self._part('attempts', phase), self._part('running', phase)]
        return self._begin_first(keys=keys, args=[running, *indices]) == 1

    def row(self, phase: int, index: int) -> Optional[dict[str, Any]]:
        raw = self.r.hget(self._part(self.unit, phase), index)
        return json.loads(raw) if raw is not None else None

    def rows(self, phase: int) -> dict[int, dict[str, Any]]:
        return {int(index): json.loads(raw) for index, raw in self.r.hgetall(self._part(self.unit, phase)).items()}

    def written(self, phase: int, indices: Sequence[int]) -> set[int]:
        """Those of `indices` whose row is written."""
        raws = self.r.hmget(self._part(self.unit, phase), list(indices)) if indices else []
        return {index for index, raw in zip(indices, raws) if raw is not None}

    def count(self, phase: int) -> int:
        return int(self.r.hlen(self._part(self.unit, phase)))

    def record(self, phase: int, index: int, row: dict[str, Any], total: int, phases: int) -> tuple[bool, bool]:
        """Write the row once; (whether this call wrote it, whether the phase is now complete)."""
        added, complete = self.record_many(phase, {index: row}, total, phases)
        return added[index], complete

    def record_many(self, phase: int, rows: dict[int, dict[str, Any]], total: int, phases: int,
                    plan: Optional[dict[str, Any]] = None) -> tuple[dict[int, bool], bool]:
        """Write the `plan` fields and each row once, in one script: ({index: whether this call wrote it}, whether
        the phase is complete)."""
        fields = [value for field, content in (plan or {}).items() for value in (field, dumps(content))]
        pairs = [value for index, row in rows.items() for value in (index, dumps(row))]
        count, *added = self._record(keys=[self._part(self.unit, phase), self.job_key, self.key],
                                     args=[total, phase, phases, now(), self.unit, len(fields) // 2, *fields, *pairs])
        return {index: bool(flag) for index, flag in zip(rows, added)}, int(count) >= total
