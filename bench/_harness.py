"""Shared set-up of the HTTP benchmarks: a fresh bench database on the project's
own PostgreSQL, a tenant with keys, and ``uvicorn`` serving the API."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
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


def server_workers(server_pid: int) -> list[int]:
    """The worker processes of a ``uvicorn --workers N`` server."""
    path = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _socket_inodes(pid: int) -> set[str]:
    out: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _owner(client_port: int, workers: dict[int, set[str]]) -> int | None:
    """The worker that accepted the connection from ``client_port`` (from
    /proc/net/tcp: the server side's remote port is the client's port)."""
    want = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[2] == want:
            for pid, inodes in workers.items():
                if f[9] in inodes:
                    return pid
    return None


async def balanced_connections(
    port: int, n: int, server_pid: int | None
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """``n`` keep-alive connections spread evenly over the server's workers.

    The workers of ``uvicorn --workers`` share one listening socket, and one
    worker's accept loop can take every connection opened at the same moment;
    kept-alive connections then load one core while the other idles. Each
    connection is checked (via /proc) and re-opened until no worker holds more
    than its share.
    """
    pids = server_workers(server_pid) if server_pid else []
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    if len(pids) < 2:
        for _ in range(n):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        return conns
    share = -(-n // len(pids))
    held = dict.fromkeys(pids, 0)
    spare: list[asyncio.StreamWriter] = []
    for _ in range(50 * n):
        if len(conns) == n:
            break
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client_port = writer.get_extra_info("sockname")[1]
        owner = None
        for _ in range(200):  # until a worker has accepted it
            owner = _owner(client_port, {p: _socket_inodes(p) for p in pids})
            if owner is not None:
                break
            await asyncio.sleep(0.005)
        if owner is not None and held[owner] < share:
            held[owner] += 1
            conns.append((reader, writer))
        else:
            spare.append(writer)  # kept open until done, so it is not re-used
    for w in spare:
        w.close()
    while len(conns) < n:
        conns.append(await asyncio.open_connection("127.0.0.1", port))
    return conns


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes
) -> tuple[bytes, bytes]:
    """Send one pre-built request and read its response (head, body) by
    Content-Length."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    i = head.lower().index(b"content-length:") + 15
    return head, await reader.readexactly(int(head[i : head.index(b"\r\n", i)]))


async def raw_latency(
    port: int,
    requests: list[bytes],
    concurrency: int,
    ok: bytes = b"200",
    server_pid: int | None = None,
    timing: dict[str, float] | None = None,
    on_body: Callable[[bytes], None] | None = None,
) -> list[float]:
    """Latency of each request over ``concurrency`` keep-alive connections
    (spread evenly over the server's workers when ``server_pid`` is given).

    A minimal HTTP/1.1 client (pre-built requests, responses read by
    Content-Length): about 20x cheaper per request than httpx, so that the
    client, which shares the machine, does not dominate the latency.
    """
    lat: list[float] = []
    it = iter(requests)
    conns = await balanced_connections(port, concurrency, server_pid)

    async def worker(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        reader, writer = conn
        try:
            for req in it:
                t = time.perf_counter()
                head, body = await _exchange(reader, writer, req)
                lat.append(time.perf_counter() - t)
                if on_body is not None:
                    on_body(body)
                if head[9:12] != ok:
                    raise SystemExit(f"request failed: {head[:12]!r} {body[:200]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    if timing is not None:  # the requests only, not the connection set-up
        timing["elapsed_s"] = time.perf_counter() - start
    return lat


async def paced_latency(
    port: int,
    requests: list[bytes],
    rate_per_s: float,
    connections: int,
    ok: bytes = b"200",
    server_pid: int | None = None,
    timeline: list[tuple[float, float]] | None = None,
) -> tuple[list[float], float]:
    """Latency of requests sent at a fixed rate (open loop), and the rate achieved.

    Request ``i`` is due at ``start + i / rate_per_s`` and goes out on the next
    free keep-alive connection; its latency runs from when it was *due*, so a
    request held back because every connection was busy counts the wait (no
    coordinated omission: a stalled server cannot slow the arrivals down and
    hide its own stall, as it does to a closed-loop client).
    """
    conns = await balanced_connections(port, connections, server_pid)
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.Queue()
    )
    for c in conns:
        free.put_nowait(c)
    lat: list[float] = []
    failed: list[bytes] = []

    async def one(req: bytes, due: float) -> None:
        conn = await free.get()
        head, body = await _exchange(*conn, req)
        lat.append(time.perf_counter() - due)
        if timeline is not None:
            timeline.append((due - start, lat[-1]))
        if head[9:12] != ok:
            failed.append(head[:12] + b" " + body[:200])
        free.put_nowait(conn)

    tasks = []
    start = time.perf_counter()
    for i, req in enumerate(requests):
        due = start + i / rate_per_s
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(req, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    if failed:
        raise SystemExit(f"request failed: {failed[0]!r}")
    return lat, len(requests) / elapsed


def quiet_client() -> None:
    """Keep the measuring client's garbage collector from pausing it mid-run.

    The client holds large set-up data (fences, bodies, per-device clocks); a full
    collection over it takes ~100-200 ms, during which no request is sent or read.
    Open-loop latencies count from each request's due time, so such a pause reads
    as a server stall of that length. Everything built so far is frozen (never
    rescanned); call it right before a timed phase.
    """
    gc.collect()
    gc.freeze()
