"""Redis progress of pre-positioning runs.

Key (hash tag = tenant): ``pp:{<tenant>}:<plan_id>``, a hash with ``status``,
``stage`` (``forecast``, ``placement``, ``evaluation``), ``fraction`` (0..1 of
the stage), ``elapsed_s`` and ``updated``; it expires a day after the last
update. Jobs run on the rq queue ``routing`` (:data:`routing.state.QUEUE_NAME`).
"""

from __future__ import annotations

import time
import uuid

from redis import Redis as SyncRedis
from redis.asyncio import Redis

PROGRESS_TTL_S = 86_400


def progress_key(tenant_id: uuid.UUID, plan_id: uuid.UUID) -> str:
    return f"pp:{{{tenant_id}}}:{plan_id}"


class PrepositioningProgress:
    """Written by the worker (synchronous, as rq jobs are)."""

    def __init__(
        self, redis: SyncRedis, tenant_id: uuid.UUID, plan_id: uuid.UUID
    ) -> None:
        self.redis = redis
        self.key = progress_key(tenant_id, plan_id)
        self.started = time.time()

    def update(self, status: str, stage: str = "", fraction: float = 0.0) -> None:
        mapping = {
            "status": status,
            "stage": stage,
            "fraction": f"{fraction:.3f}",
            "elapsed_s": f"{time.time() - self.started:.3f}",
            "updated": f"{time.time():.3f}",
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key, mapping=mapping)
        pipe.expire(self.key, PROGRESS_TTL_S)
        pipe.execute()


async def read_progress(
    redis: Redis, tenant_id: uuid.UUID, plan_id: uuid.UUID
) -> dict[str, float | str]:
    raw = await redis.hgetall(progress_key(tenant_id, plan_id))
    out: dict[str, float | str] = {}
    for k, v in raw.items():
        key, value = k.decode(), v.decode()
        out[key] = value if key in ("status", "stage") else float(value)
    return out
