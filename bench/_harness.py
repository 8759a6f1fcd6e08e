"""Shared set-up of the HTTP benchmarks: a fresh bench database on the project's
own PostgreSQL, a tenant with keys, and ``uvicorn`` serving the API."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import make_url, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.settings import Settings  # noqa: E402
from data.db import make_owner_engine  # noqa: E402
from data.migrate import upgrade  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings() -> Settings:
    s = Settings()
    if not (s.database_url and s.redis_url):
        s.local.up(echo=False)
    return s


def fresh_database(s: Settings, name: str) -> str:
    """Drop and re-create ``name``, migrated to head; returns its owner URL."""
    base = s.resolved_database_url()
    admin = make_owner_engine(
        make_url(base).set(database="postgres").render_as_string(False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = make_url(base).set(database=name).render_as_string(False)
    upgrade(url, app_password=s.migration_app_password())
    return url


async def create_tenant(url: str, scopes: tuple[str, ...]) -> dict[str, str]:
    from api.tenancy import TenancyService
    from data.db import make_async_owner_engine, make_sessionmaker

    engine = make_async_owner_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        svc = TenancyService(session, actor="bench")
        tenant = await svc.create_tenant("bench")
        keys = {sc: (await svc.create_key(tenant.id, [sc])).api_key for sc in scopes}
    await engine.dispose()
    return keys


def start_server(
    url: str, redis_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Serve the API with ``workers`` processes; returns the process and base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "GEOCOMMERCE_RATE_LIMIT_PER_SECOND": "1000000",
        "GEOCOMMERCE_RATE_LIMIT_BURST": "1000000",
        "GEOCOMMERCE_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not become ready")


def start_persister(url: str, redis_url: str) -> subprocess.Popen:
    """``geocommerce persister`` (niced) against the bench database, as ``serve``
    runs it beside the API."""
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from api.cli import app; app()",
            "persister",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


async def latencies(
    base: str,
    method: str,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
) -> list[float]:
    """Seconds per request, ``concurrency`` clients sharing the bodies."""
    out: list[float] = []
    it = iter(bodies)
    hdrs = {**headers, "content-type": "application/json"}

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            for body in it:
                t = time.perf_counter()
                r = await c.request(method, path, content=body, headers=hdrs)
                out.append(time.perf_counter() - t)
                if r.status_code >= 400:
                    raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def _request(method: str, path: str, key: str | None, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def raw_latency(
    port: int, requests: list[bytes], concurrency: int, ok: bytes = b"200"
) -> list[float]:
    """Latency of each request over ``concurrency`` keep-alive connections.

    A minimal HTTP/1.1 client (pre-built requests, responses read by
    Content-Length): about 20x cheaper per request than httpx, so that the
    client, which shares the machine, does not dominate the latency.
    """
    lat: list[float] = []
    it = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for req in it:
                t = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                i = head.lower().index(b"content-length:") + 15
                body = await reader.readexactly(int(head[i : head.index(b"\r\n", i)]))
                lat.append(time.perf_counter() - t)
                if head[9:12] != ok:
                    raise SystemExit(f"request failed: {head[:12]!r} {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat
