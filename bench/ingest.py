"""End-to-end ping ingestion benchmark through the HTTP API.

Starts ``uvicorn api.main:app`` (``--workers``, default 2) against a fresh bench
database on the project's own PostgreSQL and Redis, imports 10,000 fences around
20 US metros (the geofence benchmark's generator), records location consent for
100,000 devices, then measures:

* pings/second through ``POST /v1/pings/batch`` (batches of 10,000, several
  clients at once): HTTP, validation, fusion, Redis state, events, queueing;
* latency p50/p99 of single ``POST /v1/pings`` under load, two ways: with
  ``--concurrency`` closed-loop clients (each sends its next ping as soon as the
  last is answered: the server saturates and the figure is mostly queueing, p50
  about clients / throughput), and at a steady ``--single-rate`` (open loop:
  pings arrive on schedule whatever the server does, latency counted from each
  ping's due time, as wrk2 measures) at ``--single-load`` (default 60 %) of the
  saturation throughput just measured;
* as a machine-speed reference in the same run, requests/second of ``/healthz``;
* with ``--campaigns N`` (default 200): batch throughput with and without
  proximity-offer campaigns in the same run. A second tenant gets the same
  fences, consents and ping history plus N active campaigns (by tag on enter,
  by tag on dwell, and "within 200 m of a store with tag X"); then the same
  batch bodies go to both tenants, alternating which goes first, ``--rounds``
  times, so that the machine's drifting load hits both alike. Offers issued and enter/dwell
  events are counted from the responses.

Request bodies are serialised before the clock starts (the client only sends
bytes) and the client's own CPU time is reported, since client and server share
the machine. Before measuring, small batches on fresh connections warm every
worker up (each builds its in-memory fence index on its first ping).

Run: ``.venv/bin/python bench/ingest.py [--workers 2] [--batches 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import orjson
import uvloop
from shapely.geometry import mapping

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import (  # noqa: E402
    _request,
    create_tenant,
    fresh_database,
    paced_latency,
    quiet_client,
    raw_latency,
    start_persister,
    start_server,
)
from _harness import settings as bench_settings  # noqa: E402
from geofence import METROS, make_fences  # noqa: E402

BENCH_DB = "geocommerce_bench"


def make_pings(
    rng: np.random.Generator,
    n: int,
    devices: int,
    t0: datetime,
    clock: dict[int, float],
) -> list[dict]:
    """``n`` pings of random devices, each 30 s after that device's previous one,
    each an independent draw 2 km (sigma) around a random metro centre (a device
    jumps kilometres between pings: many enter events, a stress case for events
    and offers)."""
    metro = np.array(METROS)[rng.integers(0, len(METROS), n)]
    spread = rng.normal(0, 2000, (n, 2))  # metres around the metro centre
    lat = metro[:, 0] + spread[:, 0] / 111_320
    lng = metro[:, 1] + spread[:, 1] / (111_320 * np.cos(np.radians(metro[:, 0])))
    dev = rng.integers(0, devices, n)
    acc = rng.uniform(5, 30, n)
    out = []
    for i in range(n):
        d = int(dev[i])
        clock[d] = clock.get(d, 0.0) + 30.0
        out.append(
            {
                "device_id": f"dev-{d}",
                "timestamp": (t0 + timedelta(seconds=clock[d])).isoformat(),
                "lat": round(float(lat[i]), 6),
                "lon": round(float(lng[i]), 6),
                "accuracy_m": round(float(acc[i]), 1),
            }
        )
    return out


_JSON = {"content-type": "application/json"}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this client process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def batch_throughput(
    port: int,
    server_pid: int,
    key: str,
    bodies: list[tuple[bytes, int]],
    clients: int,
    seen: dict[str, int] | None = None,
) -> tuple[float, int]:
    """Send pre-serialised batch bodies over ``clients`` kept-alive connections,
    spread evenly over the server's workers (the minimal client of
    ``_harness``); the seconds the requests took and the pings sent.

    ``seen`` (if given) counts enter/dwell events and issued offers in the
    responses (a byte count, no JSON parsing on the client).
    """

    def count(raw: bytes) -> None:
        if seen is not None:
            seen["enter"] += raw.count(b'"kind":"enter"')
            seen["dwell"] += raw.count(b'"kind":"dwell"')
            seen["offers"] += raw.count(b'"offer_id"')

    timing: dict[str, float] = {}
    await raw_latency(
        port,
        [_request("POST", "/v1/pings/batch", key, b) for b, _ in bodies],
        clients,
        server_pid=server_pid,
        timing=timing,
        on_body=count,
    )
    return timing["elapsed_s"], sum(n for _, n in bodies)


def campaign_spec(i: int, brands: int) -> dict:
    """One of the benchmark's campaigns: by tag (enter or dwell) or near a store."""
    kind = i % 3
    tag = f"brand{i % brands}"
    return {
        "name": f"bench {i}",
        "trigger": "dwell" if kind == 1 else "enter",
        "target": (
            {"near_store": {"tag": tag, "within_m": 200}} if kind == 2 else {"tag": tag}
        ),
        "reward": {
            "kind": "percent",
            "percent": "10",
            "max_discount_minor": 1000,
            "currency": "USD",
        },
        "limits": {
            "per_device_per_day": 1,
            "per_device_per_week": 3,
            "budget_minor": 10_000_000,
        },
        "holdout_share": 0.05,
    }


async def load_tenant(
    c: httpx.AsyncClient, admin: dict, fences: list, devices: int
) -> tuple[float, float]:
    """Import the fences (tagged ``brand<id % 50>``) and record consent for every
    device; returns the seconds each took."""
    t = time.perf_counter()
    for start in range(0, len(fences), 5000):
        feats = [
            {
                "type": "Feature",
                "geometry": mapping(f.geometry),
                "properties": {
                    "external_id": f"f{f.id}",
                    "dwell_s": 300,
                    "tag": f"brand{f.id % 50}",
                },
            }
            for f in fences[start : start + 5000]
        ]
        r = await c.post(
            "/v1/geofences/import",
            headers=admin,
            json={"type": "FeatureCollection", "features": feats},
        )
        r.raise_for_status()
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, devices, 10_000):
        items = [
            {"device_id": f"dev-{d}", "location": True, "marketing": True}
            for d in range(start, min(start + 10_000, devices))
        ]
        r = await c.post(
            "/v1/devices/consent/batch", headers=admin, json={"items": items}
        )
        r.raise_for_status()
    return import_s, time.perf_counter() - t


async def warm_up(base: str, key: str, bodies: list[bytes], rounds: int = 30) -> int:
    """Small batches on fresh connections until every request answers quickly.

    Each uvicorn worker builds the tenant's fence index on its first ping. The
    workers share one listening socket and a worker blocked in that build does
    not accept, so staggered fresh connections reach the others; three fast
    rounds in a row mean every worker is ready.
    """
    headers = {"Authorization": f"Bearer {key}", **_JSON}

    async def one(body: bytes, delay: float) -> float:
        # staggered: while one worker is busy building the index, the next
        # connection is accepted by another
        await asyncio.sleep(delay)
        async with httpx.AsyncClient(base_url=base, timeout=300) as c:
            t = time.perf_counter()
            r = await c.post("/v1/pings/batch", content=body, headers=headers)
            r.raise_for_status()
            return time.perf_counter() - t

    fast = 0
    for k in range(rounds):
        times = await asyncio.gather(*(one(b, 0.25 * i) for i, b in enumerate(bodies)))
        fast = fast + 1 if max(times) < 1.0 else 0
        if fast == 3:  # one fast round can miss a worker that never got a request
            return k + 1
    return rounds


async def drain_seconds(redis_url: str, timeout_s: float = 600.0) -> float:
    """Seconds until the persister has written every queued record: no stream
    entry left undelivered or unacknowledged in the ``persist`` group."""
    from redis.asyncio import Redis

    r = Redis.from_url(redis_url)
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < timeout_s:
            behind = 0
            async for key in r.scan_iter(match="gs:{*}", count=1000):
                for g in await r.xinfo_groups(key):
                    behind += int(g.get("lag") or 0) + int(g.get("pending") or 0)
            if not behind:
                break
            await asyncio.sleep(0.05)
        return time.perf_counter() - start
    finally:
        await r.aclose()


async def healthz_rate(port: int, n: int, concurrency: int, server_pid: int) -> float:
    timing: dict[str, float] = {}
    await raw_latency(
        port,
        [_request("GET", "/healthz", None)] * n,
        concurrency,
        server_pid=server_pid,
        timing=timing,
    )
    return n / timing["elapsed_s"]


async def main(args: argparse.Namespace) -> None:
    load0 = os.getloadavg()
    settings = bench_settings()
    url = fresh_database(settings, BENCH_DB)
    redis_url = settings.resolved_redis_url().rsplit("/", 1)[0] + "/15"
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    keys = await create_tenant(url, ("admin", "device"))
    keys_b = await create_tenant(url, ("admin", "device")) if args.campaigns else {}
    in_app = "true" if args.persister == "in-app" else "false"
    env = {"GEOCOMMERCE_RUN_PERSISTER": in_app}
    server, base = start_server(url, redis_url, args.workers, env)
    persister = start_persister(url, redis_url) if args.persister == "process" else None
    port = int(base.rsplit(":", 1)[1])
    try:
        rng = np.random.default_rng(42)
        fences = make_fences(args.fences, rng)
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        async with httpx.AsyncClient(base_url=base, timeout=600) as c:
            import_s, consent_s = await load_tenant(c, admin, fences, args.devices)
            if args.campaigns:
                admin_b = {"Authorization": f"Bearer {keys_b['admin']}"}
                await load_tenant(c, admin_b, fences, args.devices)
                for i in range(args.campaigns):
                    r = await c.post(
                        "/v1/campaigns", headers=admin_b, json=campaign_spec(i, 50)
                    )
                    r.raise_for_status()
        clock: dict[int, float] = {}
        t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

        def body(n: int) -> tuple[bytes, int]:
            pings = make_pings(rng, n, args.devices, t0, clock)
            return orjson.dumps({"pings": pings}), n

        small = [body(200)[0] for _ in range(8)]
        warm_rounds = await warm_up(base, keys["device"], small)
        bodies = [body(args.batch) for _ in range(args.batches)]
        cpu = _cpu_s()
        elapsed, n = await batch_throughput(
            port, server.pid, keys["device"], bodies, args.clients
        )
        batch_cpu = _cpu_s() - cpu
        drain_s = (
            await drain_seconds(redis_url) if args.persister != "none" else math.nan
        )
        single_pings = make_pings(rng, args.singles, args.devices, t0, clock)
        singles = [
            _request("POST", "/v1/pings", keys["device"], orjson.dumps(p))
            for p in single_pings
        ]
        quiet_client()
        cpu = _cpu_s()
        closed: dict[str, float] = {}
        lat = (
            np.array(
                await raw_latency(
                    port,
                    singles,
                    args.concurrency,
                    server_pid=server.pid,
                    timing=closed,
                )
            )
            * 1000
        )
        single_cpu = _cpu_s() - cpu
        saturation = len(lat) / closed["elapsed_s"]
        paced_at = args.single_rate or args.single_load * saturation
        paced_pings = make_pings(rng, args.paced_singles, args.devices, t0, clock)
        timeline: list[tuple[float, float]] = []
        paced_requests = [
            _request("POST", "/v1/pings", keys["device"], orjson.dumps(p))
            for p in paced_pings
        ]
        quiet_client()
        paced_lat, paced_rate = await paced_latency(
            port,
            paced_requests,
            paced_at,
            args.paced_connections,
            server_pid=server.pid,
            timeline=timeline,
        )
        if args.timeline:
            Path(args.timeline).write_bytes(orjson.dumps(timeline))
        paced_lat = np.array(paced_lat) * 1000
        hz = await healthz_rate(port, 4000, args.concurrency, server.pid)
        compare: dict[str, list] = {"without": [0.0, 0, None], "with": [0.0, 0, None]}
        if args.campaigns:
            tenants = {"without": keys["device"], "with": keys_b["device"]}
            # the second tenant's devices get the first one's history (untimed),
            # so both see the same events from here on; its warm-up spreads over
            # fresh connections like the first tenant's, so that every worker has
            # built this tenant's fence index before the clock starts (a repeated
            # warm-up batch is stale the second time and changes nothing)
            await warm_up(base, keys_b["device"], small)
            history = [b for b, _ in bodies]
            history.append(orjson.dumps({"pings": single_pings}))
            history.append(orjson.dumps({"pings": paced_pings}))
            await batch_throughput(
                port, server.pid, keys_b["device"], [(b, 0) for b in history], 1
            )
            for name in compare:
                compare[name][2] = {"enter": 0, "dwell": 0, "offers": 0}
            for r in range(args.rounds):
                bodies = [body(args.batch) for _ in range(args.batches_per_round)]
                order = ("without", "with") if r % 2 == 0 else ("with", "without")
                for name in order:
                    e, k = await batch_throughput(
                        port,
                        server.pid,
                        tenants[name],
                        bodies,
                        args.clients,
                        compare[name][2],
                    )
                    compare[name][0] += e
                    compare[name][1] += k
    finally:
        server.terminate()
        server.wait(timeout=30)
        if persister is not None:
            persister.terminate()
            persister.wait(timeout=60)
    print(
        f"fences: {args.fences} imported in {import_s:.1f} s; consent for "
        f"{args.devices} devices in {consent_s:.1f} s; server workers: {args.workers}"
    )
    print(f"persister: {args.persister}; warm-up rounds: {warm_rounds}")
    print(
        f"batch ingest: {n} pings in {elapsed:.2f} s = {n / elapsed:,.0f} pings/s "
        f"({args.clients} clients, batches of {args.batch}; "
        f"client CPU {batch_cpu:.2f} s)"
    )
    print(
        f"persister caught up {drain_s:.2f} s after the last batch answered "
        f"(every queued ping and event in PostGIS)"
    )
    print(
        f"single ping under load ({args.concurrency} concurrent clients, "
        f"{len(lat)} requests): p50 {np.percentile(lat, 50):.2f} ms, "
        f"p99 {np.percentile(lat, 99):.2f} ms (client CPU {single_cpu:.2f} s); "
        f"{len(lat) / closed['elapsed_s']:,.0f} pings/s: the saturation throughput"
    )
    print(
        f"single ping at a steady {paced_at:,.0f}/s (open loop, achieved "
        f"{paced_rate:,.0f}/s = {paced_rate / (len(lat) / closed['elapsed_s']):.0%} "
        f"of saturation; {len(paced_lat)} requests over {args.paced_connections} "
        f"connections; latency from each request's due time): "
        f"p50 {np.percentile(paced_lat, 50):.2f} ms, "
        f"p99 {np.percentile(paced_lat, 99):.2f} ms, "
        f"p99.9 {np.percentile(paced_lat, 99.9):.2f} ms"
    )
    if args.campaigns:
        rates = {}
        for name, (e, k, seen) in compare.items():
            rates[name] = k / e
            label = f"{args.campaigns} campaigns" if name == "with" else "no campaigns"
            print(
                f"batch ingest, {label}: {k} pings in {e:.2f} s = {k / e:,.0f} "
                f"pings/s (enter {seen['enter']}, dwell {seen['dwell']}, "
                f"offers issued {seen['offers']})"
            )
        print(
            f"with campaigns / without, same run, interleaved over {args.rounds} "
            f"rounds: {rates['with'] / rates['without']:.2f}"
        )
    print(f"load average before/after: {load0} / {os.getloadavg()}")
    print(f"reference: GET /healthz {hz:,.0f} requests/s in the same run")


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--fences", type=int, default=10_000)
    p.add_argument("--devices", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--singles", type=int, default=3000)
    p.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="closed-loop clients for single pings (saturates the server)",
    )
    p.add_argument(
        "--single-load",
        type=float,
        default=0.6,
        help="arrival rate of the open-loop single-ping measurement, as a share of "
        "the saturation throughput measured just before in the same run",
    )
    p.add_argument(
        "--single-rate",
        type=float,
        default=0.0,
        help="a fixed arrival rate instead of --single-load (pings/s)",
    )
    p.add_argument("--paced-singles", type=int, default=10_000)
    p.add_argument("--paced-connections", type=int, default=16)
    p.add_argument(
        "--timeline",
        help="write the open-loop requests' (due time s, latency s) pairs to a JSON file",
    )
    p.add_argument(
        "--campaigns",
        type=int,
        default=200,
        help="offer campaigns of the second tenant (0: skip the comparison)",
    )
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batches-per-round", type=int, default=2)
    p.add_argument(
        "--persister",
        choices=("process", "in-app", "none"),
        default="process",
        help="where queued records are moved to PostGIS: a niced process beside "
        "the API as `geocommerce serve` runs it (default), inside the API workers, "
        "or nowhere (records stay queued)",
    )
    # uvloop for the client too: it shares the machine with the server, and
    # its event loop costs about half of asyncio's per request
    uvloop.run(main(p.parse_args()))
