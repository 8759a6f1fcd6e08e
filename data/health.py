"""Versions and reachability of PostgreSQL, PostGIS and Redis (``services status``)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import text

from data.db import make_async_owner_engine
from data.local_services import LocalServiceError, LocalServices
from data.redis import make_redis


async def probe(
    database_url: Callable[[], str],
    redis_url: Callable[[], str],
    *,
    local: LocalServices,
    external_db: bool,
    external_redis: bool,
) -> list[tuple[str, str, str, str, str]]:
    """Rows of (service, source, version, address, state)."""
    rows = []
    db_source = "DATABASE_URL" if external_db else f"local ({local.pg_data})"
    try:
        url = database_url()
        parts = urlsplit(url)
        address = f"{parts.hostname}:{parts.port}"
        engine = make_async_owner_engine(url)
        try:
            async with engine.connect() as conn:
                pg = (await conn.execute(text("SHOW server_version"))).scalar_one()
                postgis = (
                    await conn.execute(
                        text(
                            "SELECT extversion FROM pg_extension WHERE extname='postgis'"
                        )
                    )
                ).scalar_one_or_none()
                if postgis is None:
                    postgis = (
                        await conn.execute(
                            text(
                                "SELECT default_version FROM pg_available_extensions "
                                "WHERE name='postgis'"
                            )
                        )
                    ).scalar_one_or_none()
                    postgis = (
                        f"{postgis} (available, not yet created)"
                        if postgis
                        else "missing"
                    )
            rows.append(("PostgreSQL", db_source, pg, address, "up"))
            rows.append(("PostGIS", db_source, str(postgis), address, "up"))
        finally:
            await engine.dispose()
    except (LocalServiceError, OSError, Exception) as exc:  # report, don't crash
        rows.append(("PostgreSQL", db_source, "-", "-", f"down: {str(exc)[:80]}"))
    redis_source = "REDIS_URL" if external_redis else f"local ({local.redis_dir})"
    try:
        url = redis_url()
        parts = urlsplit(url)
        client = make_redis(url)
        try:
            info = await client.info("server")
            rows.append(
                (
                    "Redis",
                    redis_source,
                    str(info.get("redis_version")),
                    f"{parts.hostname}:{parts.port}",
                    "up",
                )
            )
        finally:
            await client.aclose()
    except Exception as exc:  # report, don't crash
        rows.append(("Redis", redis_source, "-", "-", f"down: {str(exc)[:80]}"))
    return rows
