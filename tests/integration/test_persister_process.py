"""The persister run apart from the API (``geocommerce persister``)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.persister import run
from geoengine.state import RecordStream

pytestmark = pytest.mark.asyncio


def _own_redis_db(url: str) -> str:
    """A Redis DB no app fixture of this xdist worker reads (so that no in-app
    persister can take the records first)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 15 - int("".join(c for c in worker if c.isdigit()) or 0)
    return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))


async def test_persister_process_moves_queued_pings_to_postgis(
    test_env, make_tenant, owner_engine
) -> None:
    tenant = await make_tenant()
    redis_url = _own_redis_db(test_env.redis_url)
    settings = test_env.settings.model_copy(update={"redis_url": redis_url})
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    device = f"dev-{uuid.uuid4().hex[:8]}"
    ts = time.time()
    await RecordStream(redis, tenant.tenant_id, 10_000).append_columns(
        {
            "device_id": [device, device],
            "ts": [ts, ts + 1],
            "lat": [39.74, 39.75],
            "lng": [-104.99, -104.98],
            "accuracy_m": [8.0, None],
            "h3_cell": [None, None],
            "fused_lat": [39.74, 39.75],
            "fused_lng": [-104.99, -104.98],
            "fused_accuracy_m": [8.0, 9.0],
            "sources": [["gps"], ["gps"]],
            "flags": [[], ["inaccurate"]],
        },
        [],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    rows: list = []
    try:
        for _ in range(200):
            with owner_engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT tenant_id, accuracy_m, flags FROM pings "
                        "WHERE device_id = :d ORDER BY ts"
                    ),
                    {"d": device},
                ).all()
            if len(rows) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert [(r.tenant_id, r.accuracy_m, r.flags) for r in rows] == [
        (tenant.tenant_id, 8.0, []),
        (tenant.tenant_id, None, ["inaccurate"]),
    ]
    # Acknowledged: nothing is left pending in the consumer group.
    pending = await redis.xpending(f"gs:{{{tenant.tenant_id}}}", "persist")
    assert pending["pending"] == 0
    await redis.flushdb()
    await redis.aclose()
