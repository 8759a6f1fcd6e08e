"""The ping/event persister as its own process (``geocommerce persister``).

Ingestion answers from Redis and queues records on per-tenant streams; this
process moves them to PostGIS (consumer group ``persist``, at least once,
idempotent on the event id). Run apart from the API workers, a backlog after a
burst of 10,000-ping batches costs the request path no event-loop time, and the
process lowers its own CPU priority so that request handling wins the cores: nice
19 by default (at nice 10 it still took ~11 % of a core beside the workers under a
steady 1,000 single pings/s, see bench/RESULTS.md; its queue holds minutes of pings
and it catches up as soon as the cores are free). ``geocommerce serve`` starts one
beside the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from api.settings import Settings
from data.db import make_app_engine, make_sessionmaker, tenant_session
from data.redis import make_redis
from geoengine.persist import run_persister
from geoengine.state import StreamConsumer

log = logging.getLogger("geocommerce.persister")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Persist queued records until ``stop`` is set."""
    engine = make_app_engine(settings.resolved_app_database_url(), pool_size=2)
    redis = make_redis(settings.resolved_redis_url(), max_connections=4)
    sessionmaker = make_sessionmaker(engine)
    consumer = StreamConsumer(redis, f"persister-{socket.gethostname()}-{os.getpid()}")
    task = asyncio.create_task(
        run_persister(consumer, lambda t: tenant_session(sessionmaker, t), stop)
    )
    log.info("persister started")
    try:
        await stop.wait()
        # Let the batch in hand finish (storing it twice would duplicate pings).
        await asyncio.wait_for(asyncio.shield(task), timeout=30)
    except (asyncio.CancelledError, TimeoutError):
        task.cancel()
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await redis.aclose()
        await engine.dispose()
        log.info("persister stopped")


def main(settings: Settings, niceness: int = 19) -> None:
    """Entry point of the process: lower its priority, then :func:`run`."""
    if niceness:
        os.nice(niceness)

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(until_signalled())
