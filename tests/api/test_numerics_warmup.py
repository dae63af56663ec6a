"""The API's numerics processes are warmed by checking a tiny request as a real one is checked, so that the first
POST /v1/jobs each process serves does not import the core or pyarrow's reader (0.24 s of the first check)."""

from __future__ import annotations

import sys
import time

from jobstore.settings import Settings
from service.numerics import Numerics, _warm

# What a process's first check of a real request loaded before the warm-up did (cProfile of a fresh helper).
LOADED_BY_A_CHECK = ('scipy.optimize', 'blp.estimation.estimator', 'blp.estimation.multistart', 'pyarrow._dataset_parquet')


def loaded(names: tuple[str, ...]) -> list[str]:
    """In a helper process: which of `names` are imported there."""
    return [name for name in names if name in sys.modules]


def test_the_warm_up_request_passes_every_check_so_it_builds_and_draws_as_a_real_one():
    # A fault would end the warm-up early (before the build or the multi-start's draw): it must pass.
    assert _warm(Settings()) is None


def test_numerics_processes_have_the_checks_modules_loaded_before_their_first_request():
    numerics = Numerics(Settings(max_concurrent_validations=1))
    numerics.processes.key = ('test-numerics-warm', *numerics.processes.key[1:])  # a pool of its own, not shared
    numerics.warm()
    deadline = time.monotonic() + 120
    # The warm-up was submitted first, and the only process runs calls in order: this runs after it.
    found = numerics.processes.run(loaded, LOADED_BY_A_CHECK, wait=deadline - time.monotonic(),
                                   timeout=deadline - time.monotonic())
    assert found == list(LOADED_BY_A_CHECK), f'the numerics process was not warmed: only {found} loaded'


def cached(dataset_id: str) -> bool:
    """In a numerics process: whether it has the dataset's frame cached."""
    from service.dataset_cache import CACHE

    return CACHE.cached_frame(dataset_id) is not None


def read_count() -> int:
    """In a numerics process: how many datasets it has read from Redis (counted by `count_reads`)."""
    from jobstore import cache

    return getattr(cache, 'reads', 0)


def count_reads() -> None:
    """In a numerics process: count the datasets read from Redis from now on."""
    from jobstore import cache

    read = cache.read_frame

    def counted(raw: bytes):  # noqa: ANN202
        cache.reads = getattr(cache, 'reads', 0) + 1  # type: ignore[attr-defined]
        return read(raw)

    cache.read_frame = counted  # type: ignore[assignment]


def test_an_upload_is_read_into_the_numerics_cache_so_the_first_check_of_a_job_reads_nothing(make_client, products):
    from api_support import upload

    client = make_client(max_concurrent_validations=1)
    numerics = client.app.state.numerics
    numerics.processes.key = ('test-numerics-prime', *numerics.processes.key[1:])  # a pool of its own
    numerics.processes.run(count_reads, wait=60, timeout=60)
    dataset = upload(client, products)
    assert dataset.status_code == 201, dataset.text
    dataset_id = dataset.json()['id']
    # The priming was submitted before this call, and the only process runs calls in order.
    assert numerics.processes.run(cached, dataset_id, wait=60, timeout=60), 'the upload was not read into the cache'
    assert numerics.processes.run(read_count, wait=60, timeout=60) == 1
    response = client.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': dataset_id},
                                             'spec': {'problem': {'product_formulations': [{'formula': '1 + prices'}]},
                                                      'solve': {'method': '1s'}}})
    assert response.status_code == 202, response.text
    assert numerics.processes.run(read_count, wait=60, timeout=60) == 1, 'the check read the dataset again'


def test_a_primed_dataset_deleted_since_is_still_refused_by_name(make_client, products):
    from api_support import assert_problem, upload

    client = make_client()
    dataset_id = upload(client, products).json()['id']
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204
    response = client.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': dataset_id},
                                             'spec': {'problem': {'product_formulations': [{'formula': '1 + prices'}]},
                                                      'solve': {'method': '1s'}}})
    assert_problem(response, 422, field='product_data.dataset_id')
