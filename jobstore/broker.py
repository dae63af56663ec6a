"""The Redis lists in which kombu's Redis transport keeps a queue's task messages: one list per priority step.

Why one place: the worker's reaper looks for a job's message in them (worker.leases) and tests count and edit them,
so all must name the lists as kombu does. kombu's documented rule (its Redis transport options `priority_steps` and
`sep`): step 0 is the queue's own name, any other step the queue's name, `sep` and the step ('celery', 'celery:1',
..., 'celery:9' with the steps and separator of `Settings.broker_transport_options`).
"""

from __future__ import annotations

from typing import Iterable

from jobstore.settings import Settings

QUEUE = 'celery'  # Celery's default queue: every task of ours is published to it


def priority_lists(queue: str, priority_steps: Iterable[int], sep: str) -> list[str]:
    """The lists of `queue`, one per priority step, in the order of the steps."""
    return [f'{queue}{sep}{step}' if step else queue for step in priority_steps]


def queue_lists(settings: Settings, queue: str = QUEUE) -> list[str]:
    """The lists of `queue` under the transport options the API and the worker are configured with."""
    options = settings.broker_transport_options()
    return priority_lists(queue, options['priority_steps'], options['sep'])
