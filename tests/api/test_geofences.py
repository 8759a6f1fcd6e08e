"""Geofences over the API: GeoJSON CRUD, validation, import, contains, nearby."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

pytestmark = pytest.mark.asyncio

# A concave (L-shaped) store zone in Denver, about 200 m across.
L_SHAPE = {
    "type": "Polygon",
    "coordinates": [
        [
            [-104.9910, 39.7390],
            [-104.9886, 39.7390],
            [-104.9886, 39.7399],
            [-104.9898, 39.7399],
            [-104.9898, 39.7408],
            [-104.9910, 39.7408],
            [-104.9910, 39.7390],
        ]
    ],
}
BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def circle(lat: float, lon: float, radius_m: float, **props) -> dict:
    return feature(
        {"type": "Point", "coordinates": [lon, lat]}, radius_m=radius_m, **props
    )


async def test_create_get_list_replace_delete(
    client: httpx.AsyncClient, make_tenant
) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/geofences",
        headers=t.headers(),
        json=feature(
            L_SHAPE,
            name="Store 1",
            tag="store",
            external_id="s-1",
            dwell_s=300,
            floor=2,
        ),
    )
    assert r.status_code == 201, r.text
    fence = r.json()
    assert fence["properties"]["kind"] == "polygon"
    assert fence["properties"]["metadata"] == {"floor": 2}
    assert 20_000 < fence["properties"]["area_m2"] < 40_000
    fid = fence["id"]
    got = (await client.get(f"/v1/geofences/{fid}", headers=t.headers("device"))).json()
    assert got["properties"]["external_id"] == "s-1"
    listed = (await client.get("/v1/geofences?tag=store", headers=t.headers())).json()
    assert [f["id"] for f in listed] == [fid]
    r = await client.put(
        f"/v1/geofences/{fid}",
        headers=t.headers(),
        json=circle(39.7392, -104.9903, 150, name="Store 1 (circle)"),
    )
    assert r.status_code == 200
    assert r.json()["properties"]["kind"] == "circle"
    assert r.json()["properties"]["radius_m"] == 150
    assert (
        await client.delete(f"/v1/geofences/{fid}", headers=t.headers())
    ).status_code == 204
    assert (
        await client.get(f"/v1/geofences/{fid}", headers=t.headers())
    ).status_code == 404


async def test_device_key_cannot_write_fences(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/geofences", headers=t.headers("device"), json=circle(39.7, -104.9, 100)
    )
    assert r.status_code == 403


async def test_other_tenants_fences_are_404_and_invisible(client, make_tenant) -> None:
    a, b = await make_tenant("A"), await make_tenant("B")
    fid = (
        await client.post(
            "/v1/geofences", headers=b.headers(), json=circle(39.7392, -104.9903, 150)
        )
    ).json()["id"]
    assert (
        await client.get(f"/v1/geofences/{fid}", headers=a.headers())
    ).status_code == 404
    assert (
        await client.delete(f"/v1/geofences/{fid}", headers=a.headers())
    ).status_code == 404
    assert (await client.get("/v1/geofences", headers=a.headers())).json() == []
    r = await client.post(
        "/v1/geofences/contains",
        headers=a.headers("device"),
        json={"points": [[-104.9903, 39.7392]]},
    )
    assert r.json() == {"results": [[]]}


@pytest.mark.parametrize(
    ("geometry", "field_part"),
    [
        (BOW_TIE, "geometry"),
        ({"type": "Polygon", "coordinates": []}, "coordinates"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]},
            "coordinates",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 91], [1, 0], [1, 1], [0, 91]]]},
            "coordinates",
        ),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "type"),
    ],
)
async def test_invalid_geometry_is_422_naming_the_problem(
    client, make_tenant, geometry, field_part: str
) -> None:
    t = await make_tenant()
    r = await client.post("/v1/geofences", headers=t.headers(), json=feature(geometry))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] != "about:blank"
    assert field_part in body["field"]
    assert body["detail"]


async def test_bow_tie_is_repaired_on_request(client, make_tenant) -> None:
    t = await make_tenant()
    small_bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [
                [-104.99, 39.73],
                [-104.98, 39.74],
                [-104.98, 39.73],
                [-104.99, 39.74],
                [-104.99, 39.73],
            ]
        ],
    }
    r = await client.post(
        "/v1/geofences?repair=true", headers=t.headers(), json=feature(small_bow_tie)
    )
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["repaired"] is True
    assert r.json()["properties"]["repair_note"]


async def test_antimeridian_fence_is_split(client, make_tenant) -> None:
    t = await make_tenant()
    fiji = {
        "type": "Polygon",
        "coordinates": [
            [
                [179.99, -17.0],
                [-179.99, -17.0],
                [-179.99, -17.01],
                [179.99, -17.01],
                [179.99, -17.0],
            ]
        ],
    }
    r = await client.post("/v1/geofences", headers=t.headers(), json=feature(fiji))
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["antimeridian_split"] is True
    assert r.json()["geometry"]["type"] == "MultiPolygon"
    hits = await client.post(
        "/v1/geofences/contains",
        headers=t.headers(),
        json={"points": [[179.995, -17.005], [-179.995, -17.005], [0.0, -17.005]]},
    )
    fid = r.json()["id"]
    assert hits.json()["results"] == [[fid], [fid], []]


async def test_nan_coordinates_are_rejected(client, make_tenant) -> None:
    t = await make_tenant()
    body = (
        b'{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",'
        b' "coordinates": [[[0, 0], [1, NaN], [1, 1], [0, 0]]]}}'
    )
    r = await client.post(
        "/v1/geofences",
        headers={**t.headers(), "content-type": "application/json"},
        content=body,
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/geofences/contains",
        headers={**t.headers(), "content-type": "application/json"},
        content=b'{"points": [[0, Infinity]]}',
    )
    assert r.status_code == 422


async def test_contains_and_nearby(client, make_tenant) -> None:
    t = await make_tenant()
    l_id = (
        await client.post(
            "/v1/geofences", headers=t.headers(), json=feature(L_SHAPE, name="L")
        )
    ).json()["id"]
    c_id = (
        await client.post(
            "/v1/geofences",
            headers=t.headers(),
            json=circle(39.7400, -104.9900, 60, name="C"),
        )
    ).json()["id"]
    points = [
        [-104.9905, 39.7395],  # in L (foot)
        [-104.9890, 39.7405],  # in the notch of the L: outside L, inside C?
        [-104.9700, 39.7395],  # far away
        [-104.9900, 39.7400],
    ]  # circle centre, inside both? (notch corner)
    r = await client.post(
        "/v1/geofences/contains", headers=t.headers("device"), json={"points": points}
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0] == [l_id]
    assert l_id not in results[1]
    assert results[2] == []
    assert c_id in results[3]
    r = await client.post(
        "/v1/geofences/nearby",
        headers=t.headers("device"),
        json={"lat": 39.7395, "lon": -104.9930, "radius_m": 500},
    )
    got = r.json()["fences"]
    assert [f["id"] for f in got] == [l_id, c_id]  # nearest first
    assert got[0]["distance_m"] < got[1]["distance_m"]
    assert math.isclose(got[0]["distance_m"], 171.5, rel_tol=0.05)
    r = await client.post(
        "/v1/geofences/nearby",
        headers=t.headers("device"),
        json={"lat": 91, "lon": 0, "radius_m": 10},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "lat"


async def test_import_answers_ids_beside_external_ids(client, make_tenant) -> None:
    t = await make_tenant()
    features = [
        circle(39.70 + i * 0.001, -104.99, 100, external_id=f"ext-{i}")
        for i in range(300)
    ]
    r = await client.post(
        "/v1/geofences/import",
        headers=t.headers(),
        json={"type": "FeatureCollection", "features": features},
    )
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert [x["external_id"] for x in ids] == [f"ext-{i}" for i in range(300)]
    assert len({x["id"] for x in ids}) == 300
    hit = await client.post(
        "/v1/geofences/contains",
        headers=t.headers(),
        json={"points": [[-104.99, 39.75]]},
    )
    assert hit.json()["results"] == [[ids[50]["id"]]]


async def test_import_is_all_or_nothing(client, make_tenant) -> None:
    t = await make_tenant()
    features = [
        circle(39.7, -104.99, 100),
        feature(BOW_TIE),
        circle(39.8, -104.99, 100),
    ]
    r = await client.post(
        "/v1/geofences/import",
        headers=t.headers(),
        json={"type": "FeatureCollection", "features": features},
    )
    assert r.status_code == 422
    assert r.json()["field"].startswith("features[1]")
    assert (await client.get("/v1/geofences", headers=t.headers())).json() == []


async def test_huge_circle_is_refused(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/geofences", headers=t.headers(), json=circle(39.7, -104.99, 5_000_000)
    )
    assert r.status_code in (413, 422)
    assert "radius" in r.json()["field"] or "geometry" in r.json()["field"]


async def test_ten_megabyte_body_is_413(client, make_tenant) -> None:
    t = await make_tenant()
    pts = b"[0.5, 0.5]," * 1_000_000
    body = b'{"points": [' + pts + b"[0, 0]]}"
    r = await client.post(
        "/v1/geofences/contains",
        headers={**t.headers(), "content-type": "application/json"},
        content=body,
    )
    assert r.status_code == 413


async def test_large_import_reports_progress(client, make_tenant) -> None:
    t = await make_tenant()
    features = [
        circle(
            39.0 + (i // 100) * 0.01,
            -104.0 - (i % 100) * 0.01,
            120,
            external_id=f"e{i}",
        )
        for i in range(1200)
    ]
    r = await client.post(
        "/v1/geofences/import?import_id=big-1",
        headers=t.headers(),
        json={"type": "FeatureCollection", "features": features},
    )
    assert r.status_code == 201
    assert r.json()["created"] == 1200
    r = await client.get("/v1/geofences/imports/big-1", headers=t.headers("device"))
    assert r.json() == {
        "stage": "committing",
        "done": 1200,
        "total": 1200,
        "detail": "",
    }
    other = await make_tenant("other")
    r = await client.get("/v1/geofences/imports/big-1", headers=other.headers())
    assert r.status_code == 404
    # A failing import says where it stopped and why.
    features[700] = feature(BOW_TIE)
    r = await client.post(
        "/v1/geofences/import?import_id=big-2",
        headers=t.headers(),
        json={"type": "FeatureCollection", "features": features},
    )
    assert r.status_code == 422
    failed = (
        await client.get("/v1/geofences/imports/big-2", headers=t.headers())
    ).json()
    assert failed["stage"] == "failed"
    assert failed["done"] == 500
    assert "features[700]" in failed["detail"]


async def test_import_progress_stages_in_order() -> None:
    from geoengine.registry import FenceIndexRegistry
    from geoengine.service import FenceInput, GeofenceService, GeoParams

    class Repo:  # an in-memory stand-in for the PostGIS repository
        tenant_id = None
        session = None

        async def create_many(self, fences):
            return list(range(1, len(fences) + 1))

    stages: list[tuple[str, int, int]] = []

    async def progress(stage: str, done: int, total: int, detail: str = "") -> None:
        stages.append((stage, done, total))

    svc = GeofenceService(Repo(), FenceIndexRegistry(), GeoParams())
    svc._changed = lambda *a: asyncio.sleep(0)  # no database to notify
    items = [
        FenceInput(
            geometry={"type": "Point", "coordinates": [-104.0 - i * 0.01, 39.0]},
            radius_m=100,
        )
        for i in range(1100)
    ]
    await svc.import_many(items, progress=progress)
    assert stages == [
        ("validating", 0, 1100),
        ("validating", 500, 1100),
        ("validating", 1000, 1100),
        ("storing", 1100, 1100),
        ("indexing", 1100, 1100),
        ("committing", 1100, 1100),
    ]
