"""Redis state of routing: solve progress and the travel-matrix cache.

Keys (hash tag = tenant): ``rp:{<tenant>}:<plan_id>`` is a hash with ``status``,
``elapsed_s``, ``best_objective``, ``updated``; it expires a day after the last
update. ``routing:matrix:<provider>:<n>:<digest>`` (``matrix.matrix_cache_key``)
caches a travel matrix (``.npz`` bytes) keyed by the rounded coordinates. The rq job queue ``routing`` lives in the
same Redis (rq's own keys).
"""

from __future__ import annotations

import io
import time
import uuid

import numpy as np
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from routing.matrix import TravelMatrix

PROGRESS_TTL_S = 86_400
QUEUE_NAME = "routing"


def progress_key(tenant_id: uuid.UUID, plan_id: uuid.UUID) -> str:
    return f"rp:{{{tenant_id}}}:{plan_id}"


class ProgressWriter:
    """Written by the solver worker (synchronous, as rq jobs are)."""

    def __init__(
        self, redis: SyncRedis, tenant_id: uuid.UUID, plan_id: uuid.UUID
    ) -> None:
        self.redis = redis
        self.key = progress_key(tenant_id, plan_id)

    def update(
        self,
        status: str,
        elapsed_s: float | None = None,
        best_objective: float | None = None,
    ) -> None:
        mapping: dict[str, str] = {"status": status, "updated": f"{time.time():.3f}"}
        if elapsed_s is not None:
            mapping["elapsed_s"] = f"{elapsed_s:.3f}"
        if best_objective is not None:
            mapping["best_objective"] = f"{best_objective:.3f}"
        write_progress(self.redis, self.key, mapping)


def write_progress(redis: SyncRedis, key: str, mapping: dict[str, str]) -> None:
    """Update a job's progress hash and keep it for a day after the last update."""
    pipe = redis.pipeline(transaction=False)
    pipe.hset(key, mapping=mapping)
    pipe.expire(key, PROGRESS_TTL_S)
    pipe.execute()


_TEXT_FIELDS = frozenset({"status", "stage"})


async def read_progress_hash(redis: Redis, key: str) -> dict[str, float | str]:
    """A progress hash: ``status`` and ``stage`` as text, the rest as numbers."""
    raw = await redis.hgetall(key)
    out: dict[str, float | str] = {}
    for k, v in raw.items():
        name, value = k.decode(), v.decode()
        out[name] = value if name in _TEXT_FIELDS else float(value)
    return out


async def read_progress(
    redis: Redis, tenant_id: uuid.UUID, plan_id: uuid.UUID
) -> dict[str, float | str]:
    return await read_progress_hash(redis, progress_key(tenant_id, plan_id))


class RedisMatrixCache:
    """``routing.ports.MatrixCache`` on Redis (synchronous client)."""

    def __init__(self, redis: SyncRedis, ttl_s: int = 7 * 86_400) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    def get(self, key: str) -> TravelMatrix | None:
        raw = self.redis.get(key)
        if raw is None:
            return None
        data = np.load(io.BytesIO(raw))
        return TravelMatrix(data["distance_m"], data["duration_s"])

    def put(self, key: str, matrix: TravelMatrix) -> None:
        buf = io.BytesIO()
        np.savez_compressed(
            buf, distance_m=matrix.distance_m, duration_s=matrix.duration_s
        )
        self.redis.set(key, buf.getvalue(), ex=self.ttl_s)
