"""Where an upload spooled to a file is parsed and stored: small ones in a thread of the API process, large ones in
a parse process, at most MAX_CONCURRENT_PARSES at once per API process.

Why a process: parsing holds the GIL for most of its time, so even a thread stalls the event loop (a 253 MB CSV
parsed in a thread made /healthz p99 over a second), and whatever memory the parse takes would stay in the API
process. A parse process runs at a lower CPU priority under its own memory limit (RLIMIT_AS), reads the file,
writes the stored Parquet next to it and sends it to Redis itself: only the file's path and the dataset's
description cross between the processes. Small uploads (up to INLINE_PARSE_MAX_BYTES) are parsed whole in the API's
own thread pool, as before: a hop to another process and two passes over a file would cost them more than their parse.
Over the cap a request waits up to VALIDATION_TIMEOUT_SECONDS for a parse slot, then gets 503 with Retry-After.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jobstore.problems import ProblemDetails
from jobstore.settings import Settings
from jobstore.store import Store
from service import datasets
from service.process_slots import ProcessSlots, fault, from_fault, helper_store


def store_upload(settings: Settings, path: str, content_type: str, owner: str) -> dict[str, Any]:
    """Parse the upload at `path`, store it, and return `{"meta": description, "created": bool}` or `{"fault": ...}`
    (a problem as plain data, since ProblemDetails does not survive pickling)."""
    from service import dataset_files  # the chunked parser: only parse processes load it, never the API's

    output = Path(path + '.parquet')
    try:
        meta = dataset_files.store_file(Path(path), content_type, output)
        store = helper_store(settings)
        created = store.put_dataset_file(meta, str(output), owner)
        return {'meta': store.get_dataset(meta['id']) or meta, 'created': created}
    except datasets.DatasetError as error:
        return {'fault': fault(datasets.dataset_problem_details(error))}
    except MemoryError:
        return {'fault': fault(too_large_to_parse(settings))}
    finally:
        output.unlink(missing_ok=True)


def _store_small(store: Store, body: bytes, content_type: str, owner: str) -> tuple[dict[str, Any], bool]:
    """A small upload parsed whole, in memory (what `dataset_files` does in chunks gives the same dataset: tested)."""
    try:
        frame = datasets.parse_upload(body, content_type)
    except datasets.DatasetError as error:
        raise datasets.dataset_problem_details(error) from None
    meta, _, created = datasets.store_frame(store, frame, owner)
    return store.get_dataset(meta['id']) or meta, created


def too_large_to_parse(settings: Settings) -> ProblemDetails:
    return ProblemDetails(413, 'upload-too-large-to-parse', 'Content too large',
                          f'parsing this upload needs more than {settings.upload_parse_memory_bytes:,} bytes of memory '
                          '(UPLOAD_PARSE_MEMORY_BYTES); JSON columns are parsed whole: send large data as CSV or Parquet')


class UploadParsers:
    """The parse processes of one API process, and the cap on how many parses run at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = ProcessSlots('parsers', settings.max_concurrent_parses, settings.upload_parse_memory_bytes)

    def warm(self) -> None:
        """Start the processes and load pandas and pyarrow in them now, in the background."""
        self.processes.warm(_warm)

    def store(self, store: Store, path: str, content_type: str, owner: str) -> tuple[dict[str, Any], bool]:
        """(description, created) of the stored upload; a fault of the data as its ProblemDetails. Blocks: call it from a
        thread."""
        if os.path.getsize(path) <= self.settings.inline_parse_max_bytes:
            return _store_small(store, Path(path).read_bytes(), content_type, owner)
        answer = self._in_process(path, content_type, owner)
        if 'fault' in answer:
            raise from_fault(answer['fault'])
        return answer['meta'], answer['created']

    def _in_process(self, path: str, content_type: str, owner: str) -> dict[str, Any]:
        wait = self.settings.validation_timeout_seconds
        try:
            return self.processes.call(
                store_upload, self.settings, path, content_type, owner, wait=wait,
                busy=ProblemDetails(503, 'parsers-busy', 'Service busy',
                                    f'{self.settings.max_concurrent_parses} large upload(s) are being parsed and none '
                                    f'finished within {wait:g} s (MAX_CONCURRENT_PARSES); retry', headers={'Retry-After': '10'}),
                died=ProblemDetails(503, 'parse-failed', 'Service unavailable', 'the process parsing this upload died; retry',
                                    headers={'Retry-After': '10'}))
        finally:
            Path(path + '.parquet').unlink(missing_ok=True)  # left behind if the parse process was killed


def _warm() -> None:
    import service.dataset_files  # noqa: F401  (the warm-up's purpose: load the parser in each parse process)
