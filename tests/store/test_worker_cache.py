"""The pool process's cache of parsed datasets and built problems (worker/cache.py), on a real Redis."""

from __future__ import annotations

import pytest
import redis

import blp
from blp.spec import EstimateSpec
from examples import cereal
from jobstore.cache import problem_key
from jobstore.codec import write_frame
from jobstore.store import Store, connect
from worker import cache

SPEC = EstimateSpec.model_validate({'problem': {'product_formulations': [{'formula': '1 + prices + mushy'}]},
                                    'solve': {'method': '1s'}})


@pytest.fixture
def store(redis_url: str) -> Store:
    url = f'{redis_url}/4'
    redis.Redis.from_url(url).flushdb()
    cache.CACHE.clear()
    return Store(connect(url))


def put(store: Store, dataset_id: str, frame) -> None:
    store.put_dataset({'id': dataset_id}, write_frame(frame), 'owner')


def test_a_problem_is_built_once_per_data_and_spec_and_timed_when_built(store):
    put(store, 'products', cereal.product_data('price'))
    inputs = {'product_data': 'products', 'agent_data': None}
    first, again = {}, {}
    built = cache.problem(store, inputs, SPEC, first)
    assert cache.problem(store, inputs, SPEC, again) is built
    assert first['read_seconds'] > 0 and first['build_seconds'] > 0
    assert again == {'read_seconds': 0.0, 'build_seconds': 0.0}
    other = EstimateSpec.model_validate({'problem': {'product_formulations': [{'formula': '1 + prices'}]},
                                         'solve': {'method': '1s'}})
    assert cache.problem(store, inputs, other).K1 == built.K1 - 1


def test_a_dataset_deleted_after_it_was_cached_fails_the_job_by_name(store):
    put(store, 'products', cereal.product_data('price'))
    inputs = {'product_data': 'products', 'agent_data': None}
    cache.problem(store, inputs, SPEC)
    store.r.delete(store._dataset('products', ':data'))
    with pytest.raises(blp.DataError, match='product_data dataset products was deleted'):
        cache.problem(store, inputs, SPEC)
    with pytest.raises(blp.DataError, match='product_data dataset products was deleted'):
        cache.frames(store, inputs)


def test_the_cache_keeps_only_the_most_recent_problems_and_no_large_data(store, monkeypatch):
    frame = cereal.product_data('price')
    kept = cache.CACHE.problems.size
    for index in range(kept + 1):
        put(store, f'p{index}', frame.assign(extra=index))
        cache.problem(store, {'product_data': f'p{index}'}, SPEC)
    assert len(cache.CACHE.problems.items) == kept
    assert problem_key('p0', None, SPEC.problem) not in cache.CACHE.problems.items
    monkeypatch.setattr(cache.CACHE, 'max_bytes', 1000)
    put(store, 'big', frame)
    first = cache.problem(store, {'product_data': 'big'}, SPEC)
    assert cache.problem(store, {'product_data': 'big'}, SPEC) is not first  # built again: not kept
