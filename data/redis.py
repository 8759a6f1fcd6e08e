"""The Redis client factory (asyncio client with a connection pool)."""

from __future__ import annotations

from redis.asyncio import Redis


def make_redis(url: str, *, max_connections: int = 64) -> Redis:
    """An asyncio Redis client for ``url``; close it with ``await client.aclose()``."""
    return Redis.from_url(
        url,
        max_connections=max_connections,
        decode_responses=False,
        socket_connect_timeout=2.0,
        health_check_interval=30,
    )
