"""Tax over the API: border-aware resolution, quotes, commit, reversal, reports."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.asyncio


def codes(answer: dict) -> dict[str, str]:
    return {j["level"]: j["code"] for j in answer["jurisdictions"]}


async def test_resolve_a_real_place(client: httpx.AsyncClient, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/tax/resolve",
        headers=t.headers("checkout"),
        json={"lat": 38.6270, "lon": -90.1994, "accuracy_m": 10},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert codes(body) == {"country": "US", "state": "29", "county": "29510"}
    assert body["quality"] == "rooftop"
    assert body["ambiguous"] is False
    assert body["border_distance_m"] > 100
    assert any("Census" in s for s in body["sources"])


async def test_a_disc_across_a_state_line_is_ambiguous(client, make_tenant) -> None:
    t = await make_tenant()
    # Texarkana: State Line Avenue is the TX/AR border.
    point = {"lat": 33.4418, "lon": -94.0430, "accuracy_m": 2000}
    r = await client.post("/v1/tax/resolve", headers=t.headers("checkout"), json=point)
    body = r.json()
    assert body["ambiguous"] is True
    counties = {
        c
        for cand in body["candidates"]
        for j in cand["jurisdictions"]
        if j["level"] == "county"
        for c in [j["code"]]
    }
    assert {"48037", "05091"} <= counties
    assert sum(c["share"] for c in body["candidates"]) == pytest.approx(1.0, abs=1e-6)
    assert body["policy"] == "most_likely"
    r = await client.post(
        "/v1/tax/resolve",
        headers=t.headers("checkout"),
        json={**point, "policy": "require_precise_location"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(r.json()["candidates"]) >= 2


async def test_ocean_is_no_jurisdiction_never_zero(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/tax/resolve",
        headers=t.headers("checkout"),
        json={"lat": 30.0, "lon": -60.0, "accuracy_m": 10},
    )
    assert r.json()["status"] == "no_jurisdiction"
    assert r.json()["jurisdictions"] == []
    r = await client.post(
        "/v1/tax/quote",
        headers=t.headers("checkout"),
        json={
            "currency": "USD",
            "lines": [{"line_id": "a", "amount_minor": 1000}],
            "ship_to": {"lat": 30.0, "lon": -60.0, "accuracy_m": 10},
        },
    )
    assert r.status_code == 422
    assert r.json()["field"] == "ship_to"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": 91, "lon": 0, "accuracy_m": 5}, "lat"),
        ({"zip": "00000"}, "zip"),
        ({"ip": "10.1.2.3"}, "ip"),
        ({"lat": 10, "lon": 10, "zip": "75501"}, "body"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client, make_tenant, body, field
) -> None:
    t = await make_tenant()
    r = await client.post("/v1/tax/resolve", headers=t.headers("checkout"), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_zip_and_ip_resolution(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/tax/resolve", headers=t.headers("checkout"), json={"zip": "75501"}
    )
    assert r.json()["quality"] == "postal_centroid"
    assert codes(r.json())["state"] in ("48", "05")
    r = await client.post(
        "/v1/tax/resolve", headers=t.headers("checkout"), json={"ip": "64.4.10.10"}
    )
    assert r.json()["quality"] == "ip_city"
    assert codes(r.json())["state"] == "08"


async def test_batch_answers_in_order_with_per_item_errors(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/tax/resolve/batch",
        headers=t.headers("checkout"),
        json={
            "items": [
                {"lat": 39.7392, "lon": -104.9903, "accuracy_m": 5},
                {"zip": "99999"},
                {"lat": 39.2904, "lon": -76.6122, "accuracy_m": 5},
            ]
        },
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert codes(results[0])["county"] == "08031"
    assert results[1]["error"]["status"] == 422
    assert results[1]["error"]["field"] == "items[1].zip"
    assert codes(results[2])["county"] == "24510"


async def test_quote_commit_reverse_and_liability(client, make_tenant) -> None:
    t = await make_tenant()
    await client.put(
        "/v1/tax/registrations",
        headers=t.headers(),
        json={
            "registrations": [{"jurisdiction_code": "08", "registration_id": "CO-1"}]
        },
    )
    r = await client.post(
        "/v1/tax/quote",
        headers=t.headers("checkout"),
        json={
            "currency": "USD",
            "lines": [
                {
                    "line_id": "shoe",
                    "amount_minor": 4999,
                    "quantity": 2,
                    "category": "clothing",
                },
                {"line_id": "ebook", "amount_minor": 1299, "category": "digital_goods"},
            ],
            "shipping_minor": 500,
            "ship_to": {"lat": 39.7392, "lon": -104.9903, "accuracy_m": 15},
        },
    )
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["tax_minor"] == sum(ln["tax_minor"] for ln in q["lines"])
    assert q["tax_minor"] > 0
    assert q["rounding"]
    for line in q["lines"]:
        assert sum(j["tax_minor"] for j in line["jurisdictions"]) == line["tax_minor"]
    r = await client.post(
        f"/v1/tax/quotes/{q['quote_id']}/commit",
        headers=t.headers("checkout"),
        json={"order_id": "o-1"},
    )
    assert r.status_code == 200
    r = await client.post(
        f"/v1/tax/quotes/{q['quote_id']}/commit",
        headers=t.headers("checkout"),
        json={"order_id": "o-2"},
    )
    assert r.status_code == 409
    r = await client.post(
        f"/v1/tax/quotes/{q['quote_id']}/reverse",
        headers=t.headers("checkout"),
        json={"refunds": {"shoe": 4999}},
    )
    assert r.status_code == 201
    assert r.json()["tax_minor"] < 0
    r = await client.get(
        "/v1/tax/liability?start=2000-01-01&end=2100-01-01", headers=t.headers()
    )
    rows = r.json()["rows"]
    assert rows
    # Another tenant sees none of it.
    other = await make_tenant("other")
    r = await client.get(
        f"/v1/tax/quotes/{q['quote_id']}", headers=other.headers("checkout")
    )
    assert r.status_code == 404


async def test_unregistered_state_says_so(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/tax/quote",
        headers=t.headers("checkout"),
        json={
            "currency": "USD",
            "lines": [{"line_id": "a", "amount_minor": 1000}],
            "ship_to": {"lat": 39.7392, "lon": -104.9903, "accuracy_m": 15},
        },
    )
    reasons = {j["reason"] for ln in r.json()["lines"] for j in ln["jurisdictions"]}
    assert "not_registered" in reasons
    assert r.json()["tax_minor"] == 0
