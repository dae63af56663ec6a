"""The ledger of a fanned-out job (multi-start, bootstrap): one task per member, each member's row written once.

Keys (prefix `blp:job:{id}:{name}`, e.g. name `multistart`):
  {name}                    hash  the plan: fields the parent or a finishing phase publishes (JSON values)
  {name}:{unit}:{phase}     hash  member index -> its row (JSON), written once (HSETNX)
  {name}:attempts:{phase}   hash  member index -> deliveries so far
  {name}:running:{phase}    hash  member index -> the worker and process id of its latest delivery

No chord: Celery counts chord members, and a redelivered member breaks that count. One Lua script writes a row,
counts the rows and updates the parent's progress, so exactly one writer learns that its row completed the phase.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from jobstore.jsonsafe import dumps
from jobstore.store import Store, now

# KEYS: the phase's rows hash, the job hash. ARGV: index, row (JSON), members in the phase, phase, phases, now, unit.
# Writes the row unless one is there or the parent has ended (its rows are then final), and recomputes the parent's
# progress from all rows ({unit}_done, {unit}_total, {unit}_failed, best_objective). Returns {added, rows}.
_RECORD = """
if redis.call('HGET', KEYS[2], 'status') ~= 'running' then
  return {0, redis.call('HLEN', KEYS[1])}
end
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
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
local progress = {phase = tonumber(ARGV[4]), phases = tonumber(ARGV[5]),
                  best_objective = best == nil and cjson.null or best, updated_at = ARGV[6]}
progress[ARGV[7] .. '_done'] = #rows
progress[ARGV[7] .. '_total'] = tonumber(ARGV[3])
progress[ARGV[7] .. '_failed'] = failed
redis.call('HSET', KEYS[2], 'progress', cjson.encode(progress))
return {added, #rows}
"""


class FanOut:
    """A fanned-out job's plan and rows; `unit` names the members in keys and progress (`starts`, `draws`)."""

    def __init__(self, store: Store, job_id: str, name: str, unit: str) -> None:
        self.job_id, self.unit, self.r = job_id, unit, store.r
        self.job_key = store.job_key(job_id)
        self.key = store.job_key(job_id, f':{name}')
        self._record = self.r.register_script(_RECORD)

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
        pipe = self.r.pipeline()
        pipe.hincrby(self._part('attempts', phase), index, 1)
        pipe.hset(self._part('running', phase), index,
                  dumps({'worker': worker, 'pid': os.getpid(), 'started_at': now()}))
        return int(pipe.execute()[0])

    def row(self, phase: int, index: int) -> Optional[dict[str, Any]]:
        raw = self.r.hget(self._part(self.unit, phase), index)
        return json.loads(raw) if raw is not None else None

    def rows(self, phase: int) -> dict[int, dict[str, Any]]:
        return {int(index): json.loads(raw) for index, raw in self.r.hgetall(self._part(self.unit, phase)).items()}

    def record(self, phase: int, index: int, row: dict[str, Any], total: int, phases: int) -> tuple[bool, bool]:
        """Write the row once; (whether this call wrote it, whether the phase is now complete)."""
        added, count = self._record(keys=[self._part(self.unit, phase), self.job_key],
                                    args=[index, dumps(row), total, phase, phases, now(), self.unit])
        return bool(added), int(count) >= total
