"""The consumer that moves queued ping and event records from Redis to PostGIS.

At-least-once: entries are acknowledged only after their transaction commits; a
consumer that dies leaves them pending and another claims them after 30 s. Events
are idempotent on ``event_id``, so a replay stores nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from geoengine.repository import DeviceRepository, StoredPing
from geoengine.state import StreamConsumer, ping_rows, tenant_of_stream
from geoengine.types import EventKind, FenceEvent, LatLng

log = logging.getLogger("geocommerce.persist")

SessionFactory = Callable[[uuid.UUID], AbstractAsyncContextManager[Any]]


def _ping(tenant_id: uuid.UUID, r: dict[str, Any]) -> StoredPing:
    return StoredPing(
        tenant_id=tenant_id,
        device_id=r["device_id"],
        ts=datetime.fromtimestamp(r["ts"], UTC),
        lat=r["lat"],
        lng=r["lng"],
        accuracy_m=r["accuracy_m"],
        h3_cell=r["h3_cell"],
        fused_lat=r["fused_lat"],
        fused_lng=r["fused_lng"],
        fused_accuracy_m=r["fused_accuracy_m"],
        sources=r["sources"],
        flags=r["flags"],
    )


def _event(r: dict[str, Any]) -> FenceEvent:
    latlng = LatLng(r["lat"], r["lng"]) if r["lat"] is not None else None
    return FenceEvent(
        r["device_id"],
        r["fence_id"],
        EventKind(r["kind"]),
        r["ts"],
        r["probability"],
        latlng,
    )


MAX_ROWS_PER_TRANSACTION = 10_000


def _chunks(
    items: list[tuple[bytes, dict[str, Any]]], max_rows: int
) -> list[list[tuple[bytes, dict[str, Any]]]]:
    """Whole entries grouped so that a group holds about ``max_rows`` records."""
    out: list[list[tuple[bytes, dict[str, Any]]]] = []
    rows = max_rows
    for item in items:
        doc = item[1]
        n = len(doc.get("p", ())) + len(doc.get("e", ()))
        n += len(doc.get("c", {}).get("device_id", ()))
        if rows + n > max_rows and rows:
            out.append([])
            rows = 0
        out[-1].append(item)
        rows += n
    return out


# Stream entries per read (a single ping is one entry, and so is a whole batch).
READ_ENTRIES = 200
# A read that emptied the stream and found fewer records than LINGER_BELOW is
# followed by a pause of LINGER_S: under a trickle of single pings the next
# transaction then carries a few hundred records instead of a handful (~10x less
# CPU per record, here and in PostgreSQL), for at most LINGER_S more delay before
# they are queryable. A backlog is read without pauses.
LINGER_BELOW = 1000
LINGER_S = 0.25


async def persist_once(
    consumer: StreamConsumer,
    session_for: SessionFactory,
    block_ms: int = 1000,
    max_rows: int = MAX_ROWS_PER_TRANSACTION,
    count: int = READ_ENTRIES,
) -> tuple[int, bool]:
    """Read one batch, store it, acknowledge it; returns the records stored and
    whether the read took everything there was (fewer entries than ``count``).

    Entries are stored in transactions of about ``max_rows`` records (an entry
    is never split), with a pause for the event loop between them, so that a
    backlog of 10,000-ping batches does not hold a worker for seconds.
    """
    entries = await consumer.read(count=count, block_ms=block_ms)
    by_stream: dict[bytes, list[tuple[bytes, dict[str, Any]]]] = {}
    for key, entry_id, doc in entries:
        by_stream.setdefault(key, []).append((entry_id, doc))
    stored = 0
    for key, all_items in by_stream.items():
        tenant_id = tenant_of_stream(key)
        for items in _chunks(all_items, max_rows):
            pings = [_ping(tenant_id, r) for _, doc in items for r in ping_rows(doc)]
            events = [_event(r) for _, doc in items for r in doc["e"]]
            accuracy = {
                e["event_id"]: e["accuracy_m"] for _, doc in items for e in doc["e"]
            }
            async with session_for(tenant_id) as session:
                repo = DeviceRepository(session, tenant_id)
                await repo.store_pings(pings)
                await repo.store_events(tenant_id, events, accuracy)
            await consumer.ack(key, [entry_id for entry_id, _ in items])
            stored += len(pings) + len(events)
            await asyncio.sleep(0)
    return stored, len(entries) < count


async def run_persister(
    consumer: StreamConsumer, session_for: SessionFactory, stop: asyncio.Event
) -> None:
    """Persist until ``stop`` is set; errors are logged and retried."""
    while not stop.is_set():
        try:
            stored, drained = await persist_once(consumer, session_for)
            if drained and 0 < stored < LINGER_BELOW:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LINGER_S)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("persisting ping/event records failed; retrying")
            await asyncio.sleep(1.0)
