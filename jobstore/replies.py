"""Redis replies read as the types the store means.

Why: redis-py types a reply as `bytes | str`, since whether it decodes is a runtime flag of the client
(`decode_responses`), and a sorted-set range as members or (member, score) pairs, since that depends on an argument.
The store's clients never decode (jobstore.store.connect), so its replies are bytes; these helpers read them once,
typed, instead of a cast at every call, and read a decoding client's `str` replies the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Optional

if TYPE_CHECKING:
    from redis.typing import ZSetRangeResponse


def text(reply: bytes | str) -> str:
    """A key, member or value as text."""
    return reply.decode() if isinstance(reply, bytes) else reply


def optional_text(reply: bytes | str | None) -> Optional[str]:
    """`text`, or None for a missing key or field."""
    return None if reply is None else text(reply)


def texts(replies: Iterable[bytes | str]) -> list[str]:
    """The members of a set, as text."""
    return [text(reply) for reply in replies]


def text_hash(reply: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash (HGETALL) with its fields and values as text."""
    return {text(field): text(value) for field, value in reply.items()}


def binary(reply: bytes | str | None) -> Optional[bytes]:
    """Stored bytes (a dataset's Parquet), or None when missing: a decoding client would have garbled them."""
    if isinstance(reply, str):
        raise TypeError('binary values need a Redis client without decode_responses')
    return reply


def members(reply: ZSetRangeResponse) -> list[str]:
    """A sorted-set range asked for without scores: its members, as text."""
    found = []
    for item in reply:
        if not isinstance(item, (bytes, str)):
            raise TypeError(f'a range without scores was expected, got {item!r}')
        found.append(text(item))
    return found


def scored_members(reply: ZSetRangeResponse) -> list[tuple[str, float]]:
    """A sorted-set range asked for `withscores`: (member, score) pairs."""
    pairs = []
    for item in reply:
        if isinstance(item, (bytes, str)):
            raise TypeError(f'a range with scores was expected, got the bare member {item!r}')
        member, score = item
        pairs.append((text(member), float(score)))
    return pairs
