"""Configuration from the environment (pydantic-settings), shared by the API and the worker."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Optional

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field is read from the environment variable of the same name in capitals."""

    model_config = SettingsConfigDict(extra='ignore', frozen=True)

    redis_url: str = 'redis://127.0.0.1:6379/0'
    # Comma-separated; empty means the API is open (development).
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    # Seconds a request may wait for the next part of its body: a stalled upload is answered 408 and closed.
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)
    # Seconds; the soft limit raises inside the task so the job ends `failed` with a reason, the hard one kills it.
    job_soft_time_limit: int = Field(default=3600, ge=1)
    job_time_limit: int = Field(default=3660, ge=1)
    # Must stay above the hard time limit or Redis redelivers tasks that are still running (None: limit + 10 min).
    broker_visibility_timeout: Optional[int] = Field(default=None, ge=1)
    # How often the broker sweeps for unacknowledged messages of dead workers; small only in tests.
    broker_unacked_restore_interval: Optional[int] = Field(default=None, ge=1)
    redis_socket_timeout: float = Field(default=5.0, gt=0)
    redis_connect_timeout: float = Field(default=2.0, gt=0)
    # Seconds an ended job (its record and result) is kept; 0 keeps it until DELETE.
    result_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    idempotency_ttl: int = Field(default=24 * 3600, ge=1)
    # A job redelivered more often than this (the worker died on it each time) fails instead of running again.
    job_max_attempts: int = Field(default=3, ge=1)
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    # A task's lease lasts this long unless its worker's heartbeat renews it; a lapsed one is requeued by the reaper
    # that runs every `reaper_interval_seconds` in some worker, so a dead worker's jobs resume within their sum.
    # The work budget of one job (blp.configurations.budget): refused with 422 before anything is built when over it.
    max_job_memory_bytes: int = Field(default=4_000_000_000, ge=1)
    max_agents_per_market: int = Field(default=100_000, ge=1)
    # Agent-product cells per objective evaluation, summed over a job's tasks (multi-start multiplies it).
    max_job_work: int = Field(default=20_000_000_000, ge=1)
    # RLIMIT_AS of each worker pool process (None: the job budget plus 1 GiB for the interpreter and libraries).
    worker_memory_limit_bytes: Optional[int] = Field(default=None, ge=1)
    # Per API key: job submissions a minute (after a burst of `submission_burst`) and queued + running jobs at once.
    submissions_per_minute: float = Field(default=120.0, gt=0)
    submission_burst: int = Field(default=30, ge=1)
    max_active_jobs_per_key: int = Field(default=100, ge=1)
    # Requests the API checks at once, and how long one may take before it gets 503.
    max_concurrent_validations: int = Field(default=2, ge=1)
    validation_timeout_seconds: float = Field(default=30.0, gt=0)
    # Uploads: larger ones are parsed in a parse process of the API process, at most this many at once (more wait
    # up to VALIDATION_TIMEOUT_SECONDS, then get 503), each process within this much memory (RLIMIT_AS).
    max_concurrent_parses: int = Field(default=1, ge=1)
    inline_parse_max_bytes: int = Field(default=1024**2, ge=0)
    upload_parse_memory_bytes: int = Field(default=3 * 1024**3, ge=256 * 1024**2)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    reaper_interval_seconds: float = Field(default=10.0, gt=0)
    sse_poll_seconds: float = Field(default=0.5, gt=0)

    @field_validator('api_keys', mode='before')
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(',') if key.strip())
        return value

    @model_validator(mode='after')
    def _soft_before_hard(self) -> 'Settings':
        # Celery arms the hard limit only once the soft one has fired: a soft limit above it disables it.
        if self.job_soft_time_limit >= self.job_time_limit:
            raise ValueError('JOB_SOFT_TIME_LIMIT must be below JOB_TIME_LIMIT')
        # Two heartbeats per lease at least, so one late renewal does not requeue a task that is running.
        if self.job_lease_seconds < 2 * self.worker_heartbeat_seconds:
            raise ValueError('JOB_LEASE_SECONDS must be at least twice WORKER_HEARTBEAT_SECONDS')
        return self

    def budget(self) -> Any:
        """The limits of one job, as the core's cost model takes them (blp.configurations.budget.Budget)."""
        from blp.configurations.budget import Budget  # the core's cost model, only when asked: the store never loads the core

        return Budget(memory_bytes=self.max_job_memory_bytes, agents_per_market=self.max_agents_per_market,
                      work=self.max_job_work)

    @cached_property
    def worker_memory_limit(self) -> int:
        return self.worker_memory_limit_bytes or self.max_job_memory_bytes + 1024**3

    @cached_property
    def visibility_timeout(self) -> int:
        return self.broker_visibility_timeout or self.job_time_limit + 600

    def broker_transport_options(self) -> dict:
        """Kombu's Redis transport options: bounded socket waits and a visibility timeout above the time limit."""
        options: dict = {
            'visibility_timeout': self.visibility_timeout,
            # Ten priority lists, 0 first: a key's first job is taken before another key's backlog.
            'priority_steps': list(range(10)), 'sep': ':', 'queue_order_strategy': 'priority',
            'socket_timeout': self.redis_socket_timeout,
            'socket_connect_timeout': self.redis_connect_timeout,
        }
        if self.broker_unacked_restore_interval:
            options.update(unacked_restore_interval=self.broker_unacked_restore_interval, unacked_restore_throttle=1)
        return options
