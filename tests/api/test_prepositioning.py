"""Warehouse pre-positioning over the API: warehouses, a queued plan solved by a
real rq worker from orders stored in PostGIS, transfers, metrics, GeoJSON."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from routing.demand import City, HistoryParams, generate_history
from routing.types import LatLng

pytestmark = pytest.mark.asyncio

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
WEEKS = 6
AS_OF = (START + timedelta(days=7 * WEEKS)).isoformat()

WAREHOUSES = {
    "den": {"lat": 39.7392, "lng": -104.9903, "capacity_units": 500},
    "bou": {"lat": 40.015, "lng": -105.2705, "capacity_units": 500},
    "cos": {"lat": 38.8339, "lng": -104.8214, "capacity_units": 0},
}


def insert_orders(engine, tenant_id: uuid.UUID) -> int:
    """A seeded synthetic history (Denver area) stored as placed commerce orders."""
    history, _ = generate_history(
        [
            City("Denver", LatLng(39.7392, -104.9903), 700_000),
            City("Boulder", LatLng(40.015, -105.2705), 100_000),
            City("Colorado Springs", LatLng(38.8339, -104.8214), 480_000),
        ],
        HistoryParams(weeks=WEEKS, n_cells=60, n_skus=6, orders_per_week=60, seed=5),
    )
    customer = uuid.uuid4()
    order_ids = [uuid.uuid4() for _ in range(history.n_orders)]
    orders = [
        {
            "o": order_ids[i],
            "t": tenant_id,
            "c": customer,
            "p": START + timedelta(days=int(history.order_day[i]), hours=12),
            "g": f"SRID=4326;POINT({history.order_lng[i]} {history.order_lat[i]})",
        }
        for i in range(history.n_orders)
    ]
    lines = [
        {
            "t": tenant_id,
            "o": order_ids[int(o)],
            "l": f"l{j}",
            "s": history.sku_ids[int(k)],
            "q": int(q),
        }
        for j, (o, k, q) in enumerate(
            zip(history.line_order, history.line_sku, history.line_qty, strict=True)
        )
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO commerce_customers(id, tenant_id, name) VALUES (:c,:t,'x')"
            ),
            {"c": customer, "t": tenant_id},
        )
        conn.execute(
            text(
                "INSERT INTO commerce_orders(id, tenant_id, customer_id, status, currency,"
                " gross_minor, discount_minor, shipping_minor, tax_minor, total_minor,"
                " ship_to, ship_to_accuracy_m, placed_at) VALUES (:o,:t,:c,'paid','USD',"
                "100,0,0,0,100,:g,10,:p)"
            ),
            orders,
        )
        conn.execute(
            text(
                "INSERT INTO commerce_order_lines(tenant_id, order_id, line_id, position,"
                " sku, description, quantity, unit_price_minor, tax_code) VALUES"
                " (:t,:o,:l,0,:s,'',:q,100,'general')"
            ),
            lines,
        )
    return int(history.line_qty.sum())


async def put_warehouses(client, headers, stock_per_sku: int = 30) -> None:
    for code, w in WAREHOUSES.items():
        stock = (
            {f"SKU-{k:03d}": stock_per_sku for k in range(6)}
            if code != "cos"
            else {"SKU-000": 10}
        )
        r = await client.put(
            f"/v1/prepositioning/warehouses/{code}",
            headers=headers,
            json={
                **w,
                "name": code.upper(),
                "promise_radius_m": 30000,
                "outbound_cost_per_km_minor": "1.5",
                "stock": stock,
            },
        )
        assert r.status_code == 200, r.text


async def run_worker(test_env) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": test_env.database_url,
        "REDIS_URL": test_env.redis_url,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from api.cli import app; app()",
        "worker",
        "--burst",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, out.decode()[-3000:]


async def test_warehouses_are_per_tenant(client, make_tenant) -> None:
    t = await make_tenant()
    h = t.headers("dispatcher")
    await put_warehouses(client, h)
    listed = (await client.get("/v1/prepositioning/warehouses", headers=h)).json()
    by_code = {w["code"]: w for w in listed["warehouses"]}
    assert by_code["den"]["on_hand_units"] == 180
    assert by_code["cos"]["capacity_units"] == 0
    other = await make_tenant("other")
    oh = other.headers("dispatcher")
    assert (await client.get("/v1/prepositioning/warehouses", headers=oh)).json() == {
        "warehouses": []
    }
    r = await client.delete("/v1/prepositioning/warehouses/den", headers=oh)
    assert r.status_code == 404
    assert r.json()["field"] == "code"
    r = await client.put(
        "/v1/prepositioning/warehouses/x",
        headers=h,
        json={
            "lat": 95,
            "lng": 0,
            "capacity_units": 1,
            "promise_radius_m": 1,
            "outbound_cost_per_km_minor": "1",
        },
    )
    assert r.status_code == 422
    assert r.json()["field"] == "lat"
    base = {
        "lat": 39.7,
        "lng": -105.0,
        "capacity_units": 10,
        "outbound_cost_per_km_minor": "1",
    }
    r = await client.put("/v1/prepositioning/warehouses/x", headers=h, json=base)
    assert r.status_code == 422
    assert r.json()["field"] == "promise_radius_m"
    r = await client.put(
        "/v1/prepositioning/warehouses/x",
        headers=h,
        json={**base, "promise_travel_s": 3600},  # within an hour's drive
    )
    assert r.status_code == 200, r.text
    assert r.json()["promise_travel_s"] == 3600
    assert 40_000 < r.json()["promise_radius_m"] < 50_000
    r = await client.put(
        "/v1/prepositioning/warehouses/x",
        headers=h,
        json={**base, "promise_radius_m": 1000, "stock": {"a": -1}},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "stock.a"
    r = await client.get("/v1/prepositioning/warehouses", headers=t.headers("checkout"))
    assert r.status_code == 403


async def test_empty_history_is_a_422_naming_the_field(client, make_tenant) -> None:
    t = await make_tenant()
    h = t.headers("dispatcher")
    r = await client.post("/v1/prepositioning/plans", headers=h, json={"as_of": AS_OF})
    assert r.status_code == 422
    assert r.json()["field"] == "warehouses"
    await put_warehouses(client, h)
    r = await client.post("/v1/prepositioning/plans", headers=h, json={"as_of": AS_OF})
    assert r.status_code == 422, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["field"] == "history"
    assert "no placed orders" in body["detail"]


async def test_plan_runs_on_the_routing_queue(
    client, make_tenant, test_env, owner_engine
) -> None:
    t = await make_tenant()
    h = t.headers("dispatcher")
    await put_warehouses(client, h)
    units = insert_orders(owner_engine, t.tenant_id)
    # the tenant chooses coarser cells for its forecasts
    r = await client.patch(
        "/v1/settings", headers=t.headers("admin"), json={"prepositioning_h3_res": 6}
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/v1/prepositioning/plans",
        headers=h,
        json={"as_of": AS_OF, "weeks": WEEKS, "placement": {"time_limit_s": 20}},
    )
    assert r.status_code == 202, r.text
    plan_id = r.json()["id"]
    assert (await client.get(r.json()["progress_url"], headers=h)).json()[
        "status"
    ] == "queued"
    r = await client.get(f"/v1/prepositioning/plans/{plan_id}/transfers", headers=h)
    assert r.status_code == 409
    await run_worker(test_env)

    body = (await client.get(f"/v1/prepositioning/plans/{plan_id}", headers=h)).json()
    assert body["status"] == "done", body
    assert body["progress"]["status"] == "done"
    result = body["result"]
    assert result["history"]["orders"] > 0
    targets = {x["warehouse"]: x for x in result["targets"]}
    assert targets["cos"]["target_units"] == 0  # zero capacity receives nothing
    for x in targets.values():
        assert x["target_units"] <= x["capacity_units"]
    total = sum(x["target_units"] for x in targets.values())
    assert total == 2 * 180 + 10  # supply conserved
    ev = result["evaluation"]
    assert ev["plan"]["units"] == ev["baseline"]["units"] == ev["oracle"]["units"] > 0
    assert units > ev["plan"]["units"]  # the evaluation week is a part of the history
    assert result["forecast"]["h3_res"] == 6
    methods = {m["method"] for m in result["forecast"]["backtest_weekly"]["methods"]}
    assert {"ses", "croston", "tsb", "auto"} <= methods

    moves = (
        await client.get(f"/v1/prepositioning/plans/{plan_id}/transfers", headers=h)
    ).json()
    out = sum(m["units"] for m in moves["transfers"] if m["from"] == "cos")
    assert out == 10  # cos must empty itself
    assert not [m for m in moves["transfers"] if m["to"] == "cos"]
    net: dict[tuple[str, str], int] = {}
    for m in moves["transfers"]:
        net[(m["from"], m["sku"])] = net.get((m["from"], m["sku"]), 0) - m["units"]
        net[(m["to"], m["sku"])] = net.get((m["to"], m["sku"]), 0) + m["units"]
    assert sum(net.values()) == 0  # units out = units in
    assert moves["cost_minor"] == sum(m["cost_minor"] for m in moves["transfers"])

    geo = (
        await client.get(
            f"/v1/prepositioning/plans/{plan_id}/forecast.geojson", headers=h
        )
    ).json()
    assert geo["type"] == "FeatureCollection"
    assert geo["features"][0]["geometry"]["type"] == "Polygon"
    assert all(f["id"].startswith("86") for f in geo["features"])  # res-6 cells
    assert sum(f["properties"]["units"] for f in geo["features"]) == pytest.approx(
        result["forecast"]["units_next_week"], rel=1e-3
    )

    listed = (await client.get("/v1/prepositioning/plans", headers=h)).json()
    assert [p["id"] for p in listed["plans"]] == [plan_id]
    assert listed["plans"][0]["gap_closed"] == ev["gap_closed"]

    other = (await make_tenant("other")).headers("dispatcher")
    assert (await client.get("/v1/prepositioning/plans", headers=other)).json() == {
        "plans": []
    }
    for path in ("", "/transfers", "/forecast.geojson"):
        r = await client.get(f"/v1/prepositioning/plans/{plan_id}{path}", headers=other)
        assert r.status_code == 404, path
