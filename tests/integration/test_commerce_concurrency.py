"""Concurrent placements through the API: real transactions racing for the
invoice counter and the tenant's audit chain."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytestmark = pytest.mark.asyncio


async def test_concurrent_placements_number_invoices_without_gaps(
    app, client, make_tenant
) -> None:
    t = await make_tenant()
    await client.put(
        "/v1/tax/registrations",
        headers=t.headers(),
        json={"registrations": [{"jurisdiction_code": "29", "registration_id": "M"}]},
    )
    r = await client.post(
        "/v1/products",
        headers=t.headers(),
        json={"sku": "LAMP", "price_minor": 2550, "currency": "USD"},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/customers", headers=t.headers("checkout"), json={"name": "Racer"}
    )
    cust = r.json()["id"]
    order_ids = []
    for k in range(10):
        r = await client.post(
            "/v1/orders",
            headers=t.headers("checkout"),
            json={
                "customer_id": cust,
                "currency": "USD",
                "lines": [{"line_id": "a", "sku": "LAMP", "quantity": 1 + k}],
                "ship_to": {"lat": 38.627, "lon": -90.1994, "accuracy_m": 10},
            },
        )
        order_ids.append(r.json()["id"])
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for _ in order_ids
    ]
    try:
        answers = await asyncio.gather(
            *(
                c.post(f"/v1/orders/{o}/place", headers=t.headers("checkout"))
                for c, o in zip(clients, order_ids, strict=True)
            ),
            # placing the first order twice at once: one wins, one is 409
            clients[0].post(
                f"/v1/orders/{order_ids[0]}/place", headers=t.headers("checkout")
            ),
        )
    finally:
        for c in clients:
            await c.aclose()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 10 + [409], [a.text for a in answers]
    numbers = sorted(
        int(a.json()["invoice"]["number"].rsplit("-", 1)[1])
        for a in answers
        if a.status_code == 200
    )
    assert numbers == list(range(1, 11))
    v = (await client.get("/v1/audit/verify", headers=t.headers())).json()
    assert v["ok"] is True and v["checked"] == 11  # customer + 10 placements
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] and book["tax_matches_lines"]
