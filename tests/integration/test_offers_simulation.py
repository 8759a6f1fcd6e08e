"""Simulation: 5,000 devices walk past 50 stores over two days (about 214,000
pings), ingested by four concurrent workers through ``POST /v1/pings/batch``
while codes are redeemed through ``POST /v1/orders``, with Redis flushed in the
middle of the run. Every per-device cap, global cap and budget must hold
exactly, the budgets must be used up exactly (demand is far above them), and no
acknowledged redemption may be lost or repeatable. Real PostGIS and Redis;
about 30 s on 2 shared cores."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text

from geoengine.offers import day_week
from tests.api.test_commerce import order_body, setup_shop
from tests.api.test_geofences import circle

pytestmark = [pytest.mark.asyncio, pytest.mark.slow, pytest.mark.timeout(240)]

SEED = 20261123
DEVICES = 5_000
STORES = 50
WORKERS = 4
BATCH = 5_000
CENTRE = (39.7400, -104.9900)
M_LAT = 111_320.0
M_LNG = 111_320.0 * math.cos(math.radians(CENTRE[0]))

GLOBAL_DAY, GLOBAL_WEEK = 2, 3
CAMPAIGNS = {
    "all_stores": {
        "name": "Any store, 3 USD",
        "target": {"tag": "store"},
        "reward": {"kind": "fixed", "amount_minor": 300, "currency": "USD"},
        "limits": {"per_device_per_day": 1, "per_device_per_week": 2},
    },
    "flagships": {
        "name": "Flagships, 5 USD",
        "target": {"fence_ids": []},  # filled with ten store fences
        "reward": {"kind": "fixed", "amount_minor": 500, "currency": "USD"},
        "limits": {"per_device_per_day": 2, "budget_redemptions": 400},
    },
    "near_cafe": {
        "name": "Near a cafe, 15 %",
        "target": {"near_store": {"tag": "cafe", "within_m": 150}},
        "reward": {
            "kind": "percent",
            "percent": "15",
            "max_discount_minor": 1_000,
            "currency": "USD",
        },
        "limits": {"per_device_per_day": 1, "budget_minor": 300_000},
        "holdout_share": 0.1,
    },
}


def _xy_to_latlng(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return CENTRE[0] + y / M_LAT, CENTRE[1] + x / M_LNG


def make_world(rng: np.random.Generator) -> list[tuple[float, float, float, str]]:
    """50 stores on a jittered 2 km grid: (x m, y m, radius m, tag)."""
    gx, gy = np.meshgrid(np.arange(10), np.arange(5))
    x = (gx.ravel() - 4.5) * 220 + rng.normal(0, 25, STORES)
    y = (gy.ravel() - 2.0) * 380 + rng.normal(0, 25, STORES)
    r = rng.uniform(50, 80, STORES)
    tags = ["cafe" if i % 5 == 0 else "store" for i in range(STORES)]
    return list(zip(x.tolist(), y.tolist(), r.tolist(), tags, strict=True))


def make_walks(
    rng: np.random.Generator, stores: list, t_day1: float
) -> list[tuple[str, float, float, float, float]]:
    """Per device: day 1 evening from a random point to two stores; day 2 morning
    on to two more. Steps of about 100 m every 30 s, GPS noise 4 m."""
    out = []
    sx = np.array([s[0] for s in stores])
    sy = np.array([s[1] for s in stores])
    for d in range(DEVICES):
        dev = f"dev{d:05d}"
        way = rng.choice(STORES, 4, replace=False)
        start = np.array([sx[way[0]], sy[way[0]]]) + rng.uniform(-400, 400, 2)
        legs = [
            (start, (sx[way[0]], sy[way[0]])),
            ((sx[way[0]], sy[way[0]]), (sx[way[1]], sy[way[1]])),
            ((sx[way[1]], sy[way[1]]), (sx[way[2]], sy[way[2]])),
            ((sx[way[2]], sy[way[2]]), (sx[way[3]], sy[way[3]])),
        ]
        t = t_day1 + rng.uniform(0, 3 * 3600)
        for k, (a, b) in enumerate(legs):
            if k == 2:  # home for the night, back next morning
                t += 86_400 - 6 * 3600 + rng.uniform(0, 3600)
            dist = math.hypot(b[0] - a[0], b[1] - a[1])
            n = max(2, int(dist / 100) + 1)
            f = np.linspace(0, 1, n + 2)  # two extra fixes standing at the store
            f = np.minimum(f * (n + 2) / n, 1.0)
            x = a[0] + (b[0] - a[0]) * f + rng.normal(0, 4, f.size)
            y = a[1] + (b[1] - a[1]) * f + rng.normal(0, 4, f.size)
            acc = rng.uniform(5, 12, f.size)
            lat, lng = _xy_to_latlng(x, y)
            for i in range(f.size if k == 0 else f.size - 1):
                j = i if k == 0 else i + 1
                out.append((dev, t, float(lat[j]), float(lng[j]), float(acc[j])))
                t += 30
    return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest_asyncio.fixture
async def sim_client(test_env, clean_state) -> AsyncIterator[httpx.AsyncClient]:
    """The app without the ping persister: the run is about offers, and 200,000
    stored pings would only slow it down (the persister has its own tests)."""
    from api.app import create_app

    app = create_app(test_env.settings.model_copy(update={"run_persister": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_caps_and_budgets_hold_under_concurrency_and_redis_loss(
    sim_client, make_tenant, owner_engine, test_env
):
    client = sim_client
    rng = np.random.default_rng(SEED)
    t = await make_tenant("sim")
    admin, device, checkout = t.headers(), t.headers("device"), t.headers("checkout")
    stores = make_world(rng)
    fence_ids = []
    for i, (x, y, r, tag) in enumerate(stores):
        lat, lng = _xy_to_latlng(np.array([x]), np.array([y]))
        resp = await client.post(
            "/v1/geofences",
            headers=admin,
            json=circle(float(lat[0]), float(lng[0]), r, name=f"S{i}", tag=tag),
        )
        assert resp.status_code == 201, resp.text
        fence_ids.append(resp.json()["id"])
    flagships = {**CAMPAIGNS["flagships"], "target": {"fence_ids": fence_ids[1:11]}}
    campaigns = {**CAMPAIGNS, "flagships": flagships}
    resp = await client.put(
        "/v1/offers/settings",
        headers=admin,
        json={"device_cap_per_day": GLOBAL_DAY, "device_cap_per_week": GLOBAL_WEEK},
    )
    assert resp.status_code == 200, resp.text
    spec = {}
    for body in campaigns.values():
        resp = await client.post(
            "/v1/campaigns", headers=admin, json={**body, "code_ttl_s": 7 * 86400}
        )
        assert resp.status_code == 201, resp.text
        spec[resp.json()["id"]] = resp.json()
    by_name = {v["name"]: k for k, v in spec.items()}
    resp = await client.post(
        "/v1/devices/consent/batch",
        headers=device,
        json={
            "items": [
                {"device_id": f"dev{d:05d}", "location": True, "marketing": d % 10 != 0}
                for d in range(DEVICES)
            ]
        },
    )
    assert resp.status_code == 204
    customers = await setup_shop(client, t, customers=2)

    # Day 1 is last week's Tuesday from 22:00 UTC, day 2 its Wednesday: one ISO
    # week, in the past (codes are valid for 7 days from issue).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tuesday = today - timedelta(days=today.weekday() + 6)
    walks = make_walks(rng, stores, (tuesday + timedelta(hours=22)).timestamp())
    per_worker: list[list[dict]] = [[] for _ in range(WORKERS)]
    for dev, ts, lat, lng, acc in sorted(walks, key=lambda w: w[1]):
        per_worker[int(dev[3:]) % WORKERS].append(
            {
                "device_id": dev,
                "timestamp": iso(ts),
                "lat": lat,
                "lon": lng,
                "accuracy_m": acc,
            }
        )
    total_batches = sum(math.ceil(len(p) / BATCH) for p in per_worker)
    sent = 0
    flushed = asyncio.Event()
    redis = Redis.from_url(test_env.redis_url)
    codes_seen: list[str] = []
    redeemed: dict[str, str] = {}  # code -> order id (acknowledged)
    redeemed_before_flush: list[str] = []
    pick = random.Random(SEED)

    async def redeem(code: str) -> None:
        body = order_body(customers[pick.randrange(2)], 1, offer_code=code)
        resp = await client.post("/v1/orders", headers=checkout, json=body)
        assert resp.status_code == 201, resp.text
        redeemed[code] = resp.json()["id"]
        if not flushed.is_set():
            redeemed_before_flush.append(code)

    async def worker(pings: list[dict]) -> None:
        nonlocal sent
        for i in range(0, len(pings), BATCH):
            resp = await client.post(
                "/v1/pings/batch", headers=device, json={"pings": pings[i : i + BATCH]}
            )
            assert resp.status_code == 200, resp.text
            got = [o["code"] for r in resp.json()["results"] for o in r["offers"]]
            codes_seen.extend(got)
            for code in got[:2]:
                await redeem(code)
            sent += 1
            if sent >= total_batches // 2 and not flushed.is_set():
                flushed.set()
                await redis.flushdb()  # Redis loses everything mid-run

    await asyncio.gather(*(worker(p) for p in per_worker))
    assert flushed.is_set()

    # ---- every cap and budget, from the source of truth -------------------------
    with owner_engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT campaign_id::text, device_id, issued_at, value_minor, "
                "redeemed_at IS NOT NULL, order_id::text FROM offers "
                "WHERE tenant_id = :t"
            ),
            {"t": t.tenant_id},
        ).all()
        outcomes = dict(
            conn.execute(
                text(
                    "SELECT outcome, sum(n) FROM ("
                    " SELECT outcome, count(*) AS n FROM offer_decisions"
                    " WHERE tenant_id = :t GROUP BY outcome UNION ALL"
                    " SELECT outcome, sum(n) FROM offer_outcome_counts"
                    " WHERE tenant_id = :t GROUP BY outcome) u GROUP BY outcome"
                ),
                {"t": t.tenant_id},
            ).all()
        )
    assert len(rows) == len(codes_seen) == len(set(codes_seen)) > 1_000
    per_day, per_week = Counter(), Counter()
    g_day, g_week = Counter(), Counter()
    count, money = Counter(), Counter()
    for cid, dev, issued, value, _, _ in rows:
        day, week = day_week(issued.timestamp())
        per_day[cid, dev, day] += 1
        per_week[cid, dev, week] += 1
        g_day[dev, day] += 1
        g_week[dev, week] += 1
        count[cid] += 1
        money[cid] += value
    limits = {cid: s["limits"] for cid, s in spec.items()}
    for (cid, _, _), n in per_day.items():
        assert n <= limits[cid]["per_device_per_day"]
    for (cid, _, _), n in per_week.items():
        assert n <= (limits[cid]["per_device_per_week"] or 10**9)
    assert max(g_day.values()) == GLOBAL_DAY
    assert max(g_week.values()) == GLOBAL_WEEK
    # budgets are exhausted exactly, not exceeded (demand is far above them)
    assert count[by_name["Flagships, 5 USD"]] == 400
    assert money[by_name["Near a cafe, 15 %"]] == 300_000
    # every kind of limit did bite
    for reason in (
        "device_cap_day",
        "global_cap_day",
        "global_cap_week",
        "budget_redemptions",
        "budget_money",
        "holdout",
        "no_marketing_consent",
    ):
        assert outcomes.get(reason, 0) > 0, (reason, outcomes)
    for cid in spec:
        report = (await client.get(f"/v1/campaigns/{cid}/report", headers=admin)).json()
        assert report["issued"] == count[cid]

    # ---- no redemption lost; none can be repeated after the flush ---------------
    stored = {r[5] for r in rows if r[4]}
    assert len(redeemed) > 50 and redeemed_before_flush
    assert set(redeemed.values()) == stored
    resp = await client.post(
        "/v1/orders",
        headers=checkout,
        json=order_body(customers[0], 1, offer_code=redeemed_before_flush[0]),
    )
    assert (resp.status_code, resp.json()["reason"]) == (409, "already_redeemed")

    # ---- the rebuilt Redis counters agree with PostGIS ------------------------------
    for cid in spec:
        b = await redis.hmget(f"ob:{{{t.tenant_id}:{cid}}}", "money", "count")
        assert (int(b[0] or 0), int(b[1] or 0)) == (money[cid], count[cid])
    await redis.aclose()
