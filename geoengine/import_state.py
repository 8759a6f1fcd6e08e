"""Redis state of fence imports: their progress, for clients polling a large import.

Key (hash tag = tenant): ``gi:{<tenant>}:<import_id>``, a hash with ``stage``
(``validating``, ``storing``, ``indexing``, ``done``, ``failed``), ``done``,
``total`` and ``detail``; it expires an hour after the last update.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

TTL_S = 3600


def import_key(tenant_id: uuid.UUID, import_id: str) -> str:
    return f"gi:{{{tenant_id}}}:{import_id}"


class ImportProgress:
    """Progress of one import, written by the importing request."""

    def __init__(self, redis: Redis, tenant_id: uuid.UUID, import_id: str) -> None:
        self.redis = redis
        self.key = import_key(tenant_id, import_id)

    async def __call__(
        self, stage: str, done: int, total: int, detail: str = ""
    ) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(
            self.key,
            mapping={"stage": stage, "done": done, "total": total, "detail": detail},
        )
        pipe.expire(self.key, TTL_S)
        await pipe.execute()


async def read_import_progress(
    redis: Redis, tenant_id: uuid.UUID, import_id: str
) -> dict[str, str | int] | None:
    raw = await redis.hgetall(import_key(tenant_id, import_id))
    if not raw:
        return None
    out: dict[str, str | int] = {k.decode(): v.decode() for k, v in raw.items()}
    for k in ("done", "total"):
        out[k] = int(out[k])
    return out
