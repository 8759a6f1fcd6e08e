"""Redis state of tax: open quotes (until they expire) and registration caches.

Key scheme (hash tag = tenant): ``tq:{<tenant>}:<quote_id>`` holds an open quote
as JSON with the quote's own expiry as TTL. A quote reaches PostgreSQL only when
it is committed to an order, durably and in the order's transaction; an expired
quote simply disappears.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Generic, TypeVar

import orjson
from redis.asyncio import Redis

from data.redis import packed_command

K = TypeVar("K")
V = TypeVar("V")


def quote_key(tenant_id: uuid.UUID, quote_id: uuid.UUID | str) -> str:
    return f"tq:{{{tenant_id}}}:{quote_id}"


class QuoteCache:
    """Open quotes of one tenant."""

    def __init__(self, redis: Redis, tenant_id: uuid.UUID) -> None:
        self.redis = redis
        self.tenant_id = tenant_id

    async def put(self, quote_id: str, document: dict[str, Any], ttl_s: int) -> None:
        await self.redis.set(
            quote_key(self.tenant_id, quote_id),
            orjson.dumps(document),
            ex=max(ttl_s, 1),
        )

    async def put_encoded(self, quote_id: str, document: bytes, ttl_s: int) -> None:
        """:meth:`put` for a document already encoded as JSON (on the checkout's
        hot path: sent packed, past redis-py's per-command machinery)."""
        await packed_command(
            self.redis,
            "SET",
            quote_key(self.tenant_id, quote_id),
            document,
            "EX",
            max(ttl_s, 1),
        )

    async def get(self, quote_id: uuid.UUID) -> dict[str, Any] | None:
        raw = await self.redis.get(quote_key(self.tenant_id, quote_id))
        return orjson.loads(raw) if raw else None


class TtlCache(Generic[K, V]):
    """A small per-worker cache whose entries expire after ``ttl_s``.

    Used for a tenant's tax registrations: a change reaches the worker that made
    it at once and the others within ``ttl_s``.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
