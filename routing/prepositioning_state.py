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

from routing.state import read_progress_hash, write_progress


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
        write_progress(self.redis, self.key, mapping)


async def read_progress(
    redis: Redis, tenant_id: uuid.UUID, plan_id: uuid.UUID
) -> dict[str, float | str]:
    return await read_progress_hash(redis, progress_key(tenant_id, plan_id))
