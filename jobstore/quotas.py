"""Per-key submission rate: a token bucket in Redis, shared by every API process.

Why: without it one key could fill the queue for everyone. Each owner (an API key's fingerprint, or `public`) has
a bucket of `burst` submissions that refills at `per_minute`; a submission takes a token or is refused with the
seconds until the next one. (The cap on an owner's queued and running jobs is the store's: Store.create_job.)

Keys (prefix `blp:`):
  rate:{owner}   hash   tokens, updated (unix time); expires once full again
"""

from __future__ import annotations

import math
import time

from jobstore.store import PREFIX, Store

# KEYS: the bucket. ARGV: now, capacity, refill per second. Returns {1, 0} when a token was taken, else {0, wait}
# with wait the seconds (as a string) until one is available.
_TAKE = """
local now, capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
if tokens < 1 then
  return {0, tostring((1 - tokens) / rate)}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {1, '0'}
"""


class RateLimit:
    """`burst` submissions at once, then `per_minute` a minute, per owner."""

    def __init__(self, store: Store, per_minute: float, burst: int) -> None:
        self.r, self.per_second, self.burst = store.r, per_minute / 60.0, burst
        self._take = self.r.register_script(_TAKE)

    def take(self, owner: str) -> int:
        """0 when the owner may submit now (a token is taken), else the whole seconds to wait."""
        taken, wait = self._take(keys=[f'{PREFIX}rate:{owner}'], args=[time.time(), self.burst, self.per_second])
        return 0 if taken == 1 else max(1, math.ceil(float(wait)))
