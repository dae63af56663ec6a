"""The job record: what the store keeps under `job:{id}` (jobstore.store), typed for the API and the worker.

A record is written by the API (`create_job`: the fields up to `attempts`), then moved through its statuses by
the store's one transition script (`status`, the timestamps, the worker's fields, `error`) and read back with nested
values decoded. Kinds and statuses are part of the stored and queued contract: task names are chosen by kind
(jobstore.tasks), and the job counts and active sets by status.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Optional, TypedDict, get_args

JobKind = Literal['estimate', 'multistart', 'counterfactual', 'optimal_instruments', 'bootstrap', 'sweep',
                  'merger_screen']
JobStatus = Literal['queued', 'running', 'succeeded', 'failed', 'cancelled']

STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
TERMINAL: frozenset[JobStatus] = frozenset({'succeeded', 'failed', 'cancelled'})


class InputIds(TypedDict):
    """The datasets a job reads, by id."""

    product_data: str
    agent_data: Optional[str]


def dataset_ids(inputs: InputIds) -> list[str]:
    """The ids of the datasets a job reads."""
    return [dataset_id for dataset_id in (inputs.get('product_data'), inputs.get('agent_data')) if dataset_id]


class JobRecord(TypedDict):
    """A job as stored. The API writes the fields up to `request`; the store adds `status`, `sequence` and
    `cancel_requested` (a record being created has none of them yet); the worker and the API's cancel add the rest as
    the job moves. A field whose value is None is not stored: it is absent from a record read back."""

    id: str
    kind: JobKind
    owner: str
    created_at: str
    inputs: InputIds
    spec: dict[str, Any]  # the EstimateSpec as JSON
    attempts: int  # deliveries that took the job
    parent: NotRequired[str]  # the estimate a counterfactual, bootstrap or re-estimate starts from
    request: NotRequired[dict[str, Any]]  # the kind's own request: starts, counterfactual, bootstrap
    status: NotRequired[JobStatus]
    sequence: NotRequired[str]  # creation order within the owner's jobs (the list's cursor)
    cancel_requested: NotRequired[bool]
    started_at: NotRequired[str]
    finished_at: NotRequired[str]
    worker: NotRequired[str]  # the worker's hostname
    pid: NotRequired[str]
    process: NotRequired[str]  # pid:start time of the pool process running it
    progress: NotRequired[dict[str, Any]]
    error: NotRequired[dict[str, Any]]  # the problem document of a failed job
