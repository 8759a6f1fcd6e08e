"""Pings over the API: consent, fusion, events, IP location, erasure."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_geofences import circle

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STORE = (39.7392, -104.9903)  # Denver


def ping(
    device: str,
    t: float,
    lat: float | None = None,
    lon: float | None = None,
    acc: float | None = 8.0,
    **extra,
) -> dict:
    body = {"device_id": device, "timestamp": (T0 + timedelta(seconds=t)).isoformat()}
    if lat is not None:
        body |= {"lat": lat, "lon": lon, "accuracy_m": acc}
    return body | extra


async def _setup(client, make_tenant, devices=("d1",), marketing=False):
    t = await make_tenant()
    r = await client.post(
        "/v1/geofences",
        headers=t.headers(),
        json=circle(*STORE, 150, name="Store", dwell_s=120),
    )
    fence_id = r.json()["id"]
    r = await client.post(
        "/v1/devices/consent/batch",
        headers=t.headers("device"),
        json={
            "items": [
                {"device_id": d, "location": True, "marketing": marketing}
                for d in devices
            ]
        },
    )
    assert r.status_code == 204
    return t, fence_id


async def test_ping_without_consent_is_403_and_stores_nothing(
    client, make_tenant
) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/pings", headers=t.headers("device"), json=ping("stranger", 0, *STORE)
    )
    assert r.status_code == 403
    assert r.json()["field"] == "device_id"
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={"pings": [ping("stranger", 0, *STORE)]},
    )
    assert r.json()["results"][0] == {
        **r.json()["results"][0],
        "status": "refused",
        "reason": "no_location_consent",
    }
    await client.put(
        "/v1/devices/ok/consent",
        headers=t.headers("device"),
        json={"location": False, "marketing": True},
    )
    r = await client.post(
        "/v1/pings", headers=t.headers("device"), json=ping("ok", 0, *STORE)
    )
    assert r.status_code == 403


async def test_walking_in_gives_enter_then_dwell_then_exit(client, make_tenant) -> None:
    t, fid = await _setup(client, make_tenant)
    path = [
        (0, 39.7450),
        (60, 39.7420),
        (120, 39.7395),
        (180, 39.7392),
        (300, 39.7391),
        (360, 39.7393),
        (420, 39.7420),
        (480, 39.7460),
    ]
    kinds = []
    for ts, lat in path:
        r = await client.post(
            "/v1/pings",
            headers=t.headers("device"),
            json=ping("d1", ts, lat, STORE[1], acc=6),
        )
        assert r.status_code == 200, r.text
        kinds += [(e["kind"], e["fence_id"]) for e in r.json()["events"]]
    assert kinds == [("enter", fid), ("dwell", fid), ("exit", fid)]
    # Persisted by the consumer, queryable by device, fence and time range.
    for _ in range(100):
        stored = (
            await client.get(
                f"/v1/events?device_id=d1&fence_id={fid}", headers=t.headers("device")
            )
        ).json()
        if len(stored) == 3:
            break
        await asyncio.sleep(0.05)
    assert [e["kind"] for e in stored] == ["enter", "dwell", "exit"]
    end = (T0 + timedelta(seconds=200)).isoformat().replace("+00:00", "Z")
    early = (
        await client.get(
            "/v1/events",
            params={"device_id": "d1", "end": end},
            headers=t.headers("device"),
        )
    ).json()
    assert [e["kind"] for e in early] == ["enter"]


async def test_batch_reports_per_ping_fusion_and_flags(client, make_tenant) -> None:
    t, _ = await _setup(client, make_tenant, devices=("a", "b"))
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={
            "pings": [
                ping("a", 0, *STORE, acc=10),
                ping("a", 5, 40.7128, -74.0060, acc=10),  # New York 5 s later: jumped
                ping("b", 0, *STORE, acc=10, mocked=True),
                ping("nobody", 0, *STORE),
            ]
        },
    )
    assert r.status_code == 200
    res = r.json()["results"]
    assert res[0]["status"] == "accepted" and res[0]["sources"] == ["gps"]
    assert abs(res[0]["accuracy_m"] - 10) < 0.5
    assert "jumped" in res[1]["flags"]
    assert res[1]["position"]["lat"] == pytest.approx(STORE[0], abs=1e-4)
    assert "mocked" in res[2]["flags"]
    assert res[3]["status"] == "refused"
    # A ping older than the device's state is kept but does not move it.
    r = await client.post(
        "/v1/pings",
        headers=t.headers("device"),
        json=ping("a", -100, 39.70, -104.99, acc=10),
    )
    assert "stale" in r.json()["flags"]
    assert r.json()["position"]["lat"] == pytest.approx(STORE[0], abs=1e-4)


async def test_ip_only_and_ip_gps_conflict(client, make_tenant) -> None:
    t, _ = await _setup(client, make_tenant, devices=("ip", "vpn", "priv"))
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={
            "pings": [
                ping("ip", 0, ip="64.4.1.1"),  # Denver by DB-IP
                ping("vpn", 0, *STORE, acc=5, ip="81.2.69.10"),  # GPS Denver, IP London
                ping("priv", 0, ip="10.0.0.1"),
            ]
        },
    )
    ip_only, vpn, priv = r.json()["results"]
    assert ip_only["sources"] == ["ip"]
    assert ip_only["ip"]["city"] == "Denver"
    assert ip_only["ip"]["attribution"] == "IP geolocation by DB-IP"
    assert ip_only["accuracy_m"] > 1000
    assert "ip_gps_conflict" in vpn["flags"]
    assert vpn["sources"] == ["gps"]
    assert vpn["ip"]["city"] == "London"
    assert priv["position"] is None
    assert priv["ip"]["status"] == "private"
    assert "ip_unlocated" in priv["flags"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": 91, "lon": 0, "accuracy_m": 5}, "lat"),
        ({"lat": 10, "lon": 181, "accuracy_m": 5}, "lon"),
        ({"lat": 10, "accuracy_m": 5}, "body"),
        ({"accuracy_m": 5}, "body"),
        ({"lat": 10, "lon": 10, "accuracy_m": -1}, "accuracy_m"),
    ],
)
async def test_bad_pings_are_422_naming_the_field(
    client, make_tenant, body, field
) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/pings",
        headers=t.headers("device"),
        json={"device_id": "d", "timestamp": T0.isoformat(), **body},
    )
    assert r.status_code == 422
    assert r.json()["field"] == field


async def test_nan_in_a_ping_is_rejected(client, make_tenant) -> None:
    t = await make_tenant()
    raw = (
        b'{"device_id": "d", "timestamp": "2026-11-23T12:00:00Z", '
        b'"lat": NaN, "lon": 0, "accuracy_m": 5}'
    )
    r = await client.post(
        "/v1/pings",
        headers={**t.headers("device"), "content-type": "application/json"},
        content=raw,
    )
    assert r.status_code == 422


async def test_erasure_deletes_pings_state_and_events(
    client, make_tenant, owner_engine
) -> None:
    from sqlalchemy import text

    t, _ = await _setup(client, make_tenant)
    for ts, lat in [(0, 39.7450), (60, 39.7392), (120, 39.7392)]:
        await client.post(
            "/v1/pings", headers=t.headers("device"), json=ping("d1", ts, lat, STORE[1])
        )
    for _ in range(100):
        with owner_engine.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT count(*) FROM pings WHERE device_id='d1' AND tenant_id=:t"
                ),
                {"t": t.tenant_id},
            ).scalar()
        if n == 3:
            break
        await asyncio.sleep(0.05)
    assert n == 3
    with owner_engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT sources, flags, lat, fused_accuracy_m FROM pings "
                "WHERE device_id='d1' AND tenant_id=:t ORDER BY ts"
            ),
            {"t": t.tenant_id},
        ).all()
    assert stored[0].sources == ["gps"]
    assert stored[0].flags == []
    assert stored[1].sources == ["prior", "gps"]
    assert stored[0].lat == pytest.approx(39.7450)
    assert stored[0].fused_accuracy_m > 0
    r = await client.delete("/v1/devices/d1", headers=t.headers("device"))
    assert r.status_code == 200
    with owner_engine.connect() as conn:
        for table in ("pings", "geofence_events", "device_consents"):
            assert (
                conn.execute(
                    text(
                        f"SELECT count(*) FROM {table} "
                        "WHERE device_id='d1' AND tenant_id=:t"
                    ),
                    {"t": t.tenant_id},
                ).scalar()
                == 0
            ), table
    # Consent went with it: the device is a stranger now.
    r = await client.post(
        "/v1/pings", headers=t.headers("device"), json=ping("d1", 200, *STORE)
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"lat": 91, "lon": 0, "accuracy_m": 5}, "pings[1].lat"),
        ({"lat": 10, "lon": 10, "accuracy_m": 0}, "pings[1].accuracy_m"),
        ({"lat": 10, "accuracy_m": 5}, "pings[1]"),
        ({"ip": None}, "pings[1]"),
        ({"lat": 10, "lon": 10, "colour": "red"}, "pings[1].colour"),
        ({"lat": 10, "lon": 10, "timestamp": "soon"}, "pings[1].timestamp"),
        ({"lat": 10, "lon": 10, "device_id": "a b"}, "pings[1].device_id"),
    ],
)
async def test_bad_batch_items_are_422_naming_the_item_and_field(
    client, make_tenant, item, field
) -> None:
    t = await make_tenant()
    good = ping("d", 0, *STORE)
    bad = {"device_id": "d", "timestamp": T0.isoformat(), **item}
    r = await client.post(
        "/v1/pings/batch", headers=t.headers("device"), json={"pings": [good, bad]}
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"pings": []}, "pings"), ({"items": []}, "pings"), ([], "body")],
)
async def test_bad_batch_bodies_are_422(client, make_tenant, body, field) -> None:
    t = await make_tenant()
    r = await client.post("/v1/pings/batch", headers=t.headers("device"), json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field


async def test_batch_gives_what_single_pings_give(client, make_tenant) -> None:
    """Columnar batch path and one-by-one path: same fusion, flags and events."""
    t, fid = await _setup(client, make_tenant, devices=("batch", "single"))
    path = [(0, 39.7450), (60, 39.7392), (120, 39.7391), (200, 39.7393)]
    path += [(230, 40.7128), (300, 39.7460)]  # New York: jumped; then exit
    extra = {"ip": "64.4.1.1", "speed_mps": 1.5, "heading_deg": 90}
    singles = []
    for ts, lat in path:
        r = await client.post(
            "/v1/pings",
            headers=t.headers("device"),
            json=ping("single", ts, lat, STORE[1], acc=6, **extra),
        )
        assert r.status_code == 200, r.text
        singles.append(r.json())
    # Shuffled: the batch puts each device's pings in time order itself.
    items = [ping("batch", ts, lat, STORE[1], acc=6, **extra) for ts, lat in path]
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={"pings": items[::-1]},
    )
    assert r.status_code == 200, r.text
    batch = r.json()["results"][::-1]
    for s, b in zip(singles, batch, strict=True):
        assert _without_device_ids({"results": [b]}) == _without_device_ids(
            {"results": [s]}
        )
    kinds = [(e["kind"], e["fence_id"]) for s in singles for e in s["events"]]
    assert kinds == [("enter", fid), ("dwell", fid), ("exit", fid)]
    assert any("jumped" in s["flags"] for s in singles)


async def test_batch_values_of_other_json_types_take_the_exact_path(
    client, make_tenant
) -> None:
    """Values the schema coerces (a numeric string) give the same answer."""
    t, _ = await _setup(client, make_tenant, devices=("x", "y"))
    plain = ping("x", 0, *STORE, acc=10)
    coerced = ping("y", 0, *STORE, acc=10) | {"lat": str(STORE[0])}
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={"pings": [coerced]},
    )
    r2 = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={"pings": [plain]},
    )
    assert r.status_code == r2.status_code == 200
    assert _without_device_ids(r.json()) == _without_device_ids(r2.json())
    assert [e["kind"] for e in r.json()["results"][0]["events"]] == ["enter"]


def _without_device_ids(body: dict) -> dict:
    for res in body["results"]:
        for e in res["events"]:
            e["event_id"] = e["event_id"].split(":", 1)[1]
    return body


async def test_no_flapping_on_the_boundary(client, make_tenant) -> None:
    """A device parked on the fence edge for 20 min, fixes every 10 s with noise
    as large as their stated accuracy (15 m at 68 %): at most one visit."""
    t, _ = await _setup(client, make_tenant)
    rng = random.Random(7)
    edge_lat = STORE[0] + 150 / 111_000  # on the circle's northern edge
    sigma_m = 15 / 1.51  # per-axis sigma of a 68 % radius of 15 m
    pings = [
        ping(
            "d1",
            10 * i,
            edge_lat + rng.gauss(0, sigma_m) / 111_000,
            STORE[1] + rng.gauss(0, sigma_m) / 85_600,
            acc=15,
        )
        for i in range(120)
    ]
    r = await client.post(
        "/v1/pings/batch", headers=t.headers("device"), json={"pings": pings}
    )
    events = [e["kind"] for res in r.json()["results"] for e in res["events"]]
    # No flapping: at most one visit (enter, dwell, exit), never enter/exit again.
    assert events.count("enter") <= 1, events
    assert events.count("exit") <= 1, events


async def test_batch_body_schema_is_documented(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/v1/pings/batch"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["pings"]
    assert schema["properties"]["pings"]["items"] == {
        "$ref": "#/components/schemas/PingIn"
    }
    assert schema["properties"]["pings"]["maxItems"] == 10_000
    assert "PingIn" in spec["components"]["schemas"]


async def test_tenant_can_store_only_the_h3_cell(
    client, make_tenant, owner_engine
) -> None:
    from sqlalchemy import text

    t, _ = await _setup(client, make_tenant)
    r = await client.patch(
        "/v1/settings", headers=t.headers("device"), json={"ping_precision": "h3_9"}
    )
    assert r.status_code == 403
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"ping_precision": "h3_9"}
    )
    assert r.json() == {
        "ping_precision": "h3_9",
        "service_area": None,
        "prepositioning_h3_res": 7,
    }
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"ping_precision": "metre"}
    )
    assert r.status_code == 422
    assert (await client.get("/v1/settings", headers=t.headers())).json() == {
        "ping_precision": "h3_9",
        "service_area": None,
        "prepositioning_h3_res": 7,
    }
    r = await client.post(
        "/v1/pings", headers=t.headers("device"), json=ping("d1", 0, *STORE)
    )
    assert r.status_code == 200
    for _ in range(100):
        with owner_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT lat, lng, fused_lat, h3_cell FROM pings "
                    "WHERE device_id='d1' AND tenant_id=:t"
                ),
                {"t": t.tenant_id},
            ).all()
        if rows:
            break
        await asyncio.sleep(0.05)
    assert len(rows) == 1
    lat, lng, fused_lat, cell = rows[0]
    assert (lat, lng, fused_lat) == (None, None, None)
    assert cell is not None and cell > 0


US48 = {
    "type": "Polygon",
    "coordinates": [[[-125, 24], [-66, 24], [-66, 50], [-125, 50], [-125, 24]]],
}


async def test_service_area_flags_swapped_and_far_fixes(client, make_tenant) -> None:
    t, _ = await _setup(client, make_tenant, devices=("a", "b", "c"))
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[-105, 39], [-104, 40], [-104, 39], [-105, 40], [-105, 39]]],
    }
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"service_area": bow_tie}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"].startswith("service_area")
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"service_area": {"type": "Point"}}
    )
    assert r.status_code == 422 and r.json()["field"] == "service_area.type"
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"service_area": US48}
    )
    assert r.status_code == 200
    assert r.json()["service_area"]["type"] == "Polygon"
    assert r.json()["ping_precision"] == "exact"
    r = await client.post(
        "/v1/pings/batch",
        headers=t.headers("device"),
        json={
            "pings": [
                ping("a", 0, *STORE),  # Denver: inside, an enter
                # New York sent as [lng, lat]: lands in Antarctica
                ping("b", 0, -74.0060, 40.7128),
                ping("c", 0, 51.5074, -0.1278),  # London: outside, not swapped
            ]
        },
    )
    assert r.status_code == 200
    a, b, c = r.json()["results"]
    assert a["flags"] == [] and [e["kind"] for e in a["events"]] == ["enter"]
    assert set(b["flags"]) >= {"outside_service_area", "swapped_coordinates"}
    assert b["position"] is None and b["events"] == []
    assert "outside_service_area" in c["flags"]
    assert "swapped_coordinates" not in c["flags"]
    assert c["position"]["lat"] == pytest.approx(51.5074, abs=1e-4)
    # Removing the area stops the flags.
    r = await client.patch(
        "/v1/settings", headers=t.headers(), json={"service_area": None}
    )
    assert r.json()["service_area"] is None
    r = await client.post(
        "/v1/pings", headers=t.headers("device"), json=ping("c", 60, 51.5075, -0.1278)
    )
    assert r.json()["flags"] == []
