"""Redis replies read as text, bytes and scored members, from the shapes a real Redis and redis-py give."""

from __future__ import annotations

import pytest
import redis

from jobstore.replies import binary, members, optional_text, scored_members, text_hash, texts


@pytest.fixture
def clients(redis_url: str) -> tuple[redis.Redis, redis.Redis]:
    """(the store's kind of client, one that decodes) on the same flushed database."""
    url = f'{redis_url}/12'
    raw = redis.Redis.from_url(url)
    raw.flushdb()
    return raw, redis.Redis.from_url(url, decode_responses=True)


@pytest.mark.parametrize('decoding', [False, True])
def test_replies_read_the_same_whether_or_not_the_client_decodes(clients, decoding):
    client = clients[decoding]
    client.hset('hash', mapping={'status': 'queued', 'owner': 'é'})
    client.sadd('set', 'a', 'b')
    client.zadd('zset', {'w1': 1.5, 'w2': 2.0})
    assert text_hash(client.hgetall('hash')) == {'status': 'queued', 'owner': 'é'}
    assert optional_text(client.hget('hash', 'owner')) == 'é'
    assert optional_text(client.hget('hash', 'missing')) is None
    assert sorted(texts(client.smembers('set'))) == ['a', 'b']
    assert members(client.zrangebyscore('zset', '-inf', '+inf')) == ['w1', 'w2']
    assert scored_members(client.zrevrangebyscore('zset', '+inf', '-inf', withscores=True)) == [('w2', 2.0), ('w1', 1.5)]


def test_a_range_of_the_other_shape_is_refused_not_misread(clients):
    client = clients[0]
    client.zadd('zset', {'w1': 1.0})
    with pytest.raises(TypeError):
        members(client.zrangebyscore('zset', '-inf', '+inf', withscores=True))
    with pytest.raises(TypeError):
        scored_members(client.zrangebyscore('zset', '-inf', '+inf'))


def test_stored_bytes_are_returned_as_stored_and_refused_from_a_decoding_client(clients):
    raw, decoding = clients
    raw.set('data', b'PAR1\x00\xff')
    assert binary(raw.get('data')) == b'PAR1\x00\xff'
    assert binary(raw.get('missing')) is None
    decoding.set('text', 'PAR1')
    with pytest.raises(TypeError):
        binary(decoding.get('text'))
