"""A one-line progress display on stderr while the client waits for a job; silent when stderr is not a terminal
(logs and CI output stay clean) unless asked for."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO


def _number(value: Any) -> str:
    return '-' if value is None else f'{value:.3e}'


def describe(job: dict[str, Any]) -> str:
    """What a job is doing, in a few words: multi-start or sweep counts, or the optimizer's iteration and objective."""
    progress = job.get('progress') or {}
    if progress.get('starts_total'):
        done, total = progress.get('starts_done') or 0, progress['starts_total']
        width = 20
        bar = '#' * (width * done // total) + '.' * (width - width * done // total)
        return f"[{bar}] {done}/{total} starts  best objective {_number(progress.get('best_objective'))}"
    if progress.get('variants_total'):
        return (f"{progress.get('variants_done') or 0}/{progress['variants_total']} variants  "
                f"{progress.get('variants_failed') or 0} failed")
    if progress.get('iteration') is not None:
        return (f"iteration {progress['iteration']:>4}  objective {_number(progress.get('objective'))}  "
                f"gradient norm {_number(progress.get('gradient_norm'))}")
    return ''


class ProgressLine:
    """Rewrites one terminal line with the job's status and progress; `close()` ends the line."""

    def __init__(self, enabled: Optional[bool] = None, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.last = ''

    def update(self, job: dict[str, Any]) -> None:
        line = f"{job['kind']} {job['id'][:8]} {job['status']:<9} {describe(job)}".rstrip()
        if self.enabled and line != self.last:
            self.stream.write('\r' + line.ljust(len(self.last)))
            self.stream.flush()
            self.last = line

    def close(self) -> None:
        if self.enabled and self.last:
            self.stream.write('\n')
            self.stream.flush()
