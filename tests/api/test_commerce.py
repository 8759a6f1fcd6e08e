"""Orders and billing over the API, against the real PostGIS, Redis and tax engine."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.asyncio

# One point per state, well inside it (Denver, St. Louis, Austin, Chicago, Seattle).
CITIES = [
    ("08", 39.7392, -104.9903),
    ("29", 38.6270, -90.1994),
    ("48", 30.2672, -97.7431),
    ("17", 41.8781, -87.6298),
    ("53", 47.6062, -122.3321),
]
PRODUCTS = [
    {"sku": "SHOE", "name": "Shoe", "price_minor": 4999, "tax_category": "clothing"},
    {
        "sku": "BOOK",
        "name": "E-book",
        "price_minor": 1299,
        "tax_category": "digital_goods",
    },
    {"sku": "LAMP", "name": "Lamp", "price_minor": 2550, "tax_category": "general"},
]


async def setup_shop(client: httpx.AsyncClient, t, customers: int = 1) -> list[str]:
    """Registrations in every test state, the catalog, and customers."""
    r = await client.put(
        "/v1/tax/registrations",
        headers=t.headers(),
        json={
            "registrations": [
                {"jurisdiction_code": code, "registration_id": f"R-{code}"}
                for code, _, _ in CITIES
            ]
        },
    )
    assert r.status_code == 204, r.text
    for p in PRODUCTS:
        r = await client.post(
            "/v1/products", headers=t.headers(), json={**p, "currency": "USD"}
        )
        assert r.status_code == 201, r.text
        yen = {**p, "sku": p["sku"] + "-JPY", "price_minor": p["price_minor"] * 3 // 2}
        r = await client.post(
            "/v1/products", headers=t.headers(), json={**yen, "currency": "JPY"}
        )
        assert r.status_code == 201, r.text
    ids = []
    for i in range(customers):
        r = await client.post(
            "/v1/customers",
            headers=t.headers("checkout"),
            json={
                "name": f"Customer {i}",
                "email": f"buyer{i}@example.com",
                "phone": "+1 555 0100",
                "address": "1 Main St",
                "address_point": {"lat": 39.74, "lon": -104.99},
                "payment_terms_days": 14,
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def order_body(customer_id: str, k: int = 0, currency: str = "USD", **extra) -> dict:
    _, lat, lon = CITIES[k % len(CITIES)]
    suffix = "" if currency == "USD" else f"-{currency}"
    discounts = [
        [],
        [{"discount_id": "d1", "kind": "percent", "percent": "10", "line_id": "a"}],
        [{"discount_id": "d2", "kind": "fixed", "amount_minor": 333, "code": "SAVE"}],
    ][k % 3]
    return {
        "customer_id": customer_id,
        "currency": currency,
        "lines": [
            {"line_id": "a", "sku": "SHOE" + suffix, "quantity": 1 + k % 3},
            {"line_id": "b", "sku": "LAMP" + suffix, "quantity": 1},
            {"line_id": "c", "sku": "BOOK" + suffix, "quantity": 2},
        ][: 1 + k % 3],
        "discounts": discounts,
        "shipping_minor": 500 * (k % 2),
        "ship_to": {"lat": lat, "lon": lon, "accuracy_m": 10},
        **extra,
    }


async def place(client, t, customer_id: str, k: int = 0, currency: str = "USD") -> dict:
    r = await client.post(
        "/v1/orders",
        headers=t.headers("checkout"),
        json=order_body(customer_id, k, currency),
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
    )
    assert r.status_code == 200, r.text
    return r.json()


async def pay(client, t, body: dict, key: str | None = None) -> httpx.Response:
    return await client.post(
        "/v1/payments",
        headers={**t.headers("checkout"), "Idempotency-Key": key or uuid.uuid4().hex},
        json=body,
    )


async def test_thirty_orders_invoices_ledger_and_tax_add_up(
    client, make_tenant
) -> None:
    t = await make_tenant()
    customers = await setup_shop(client, t, customers=3)
    placed = []
    for k in range(30):
        cust = customers[k % 3]
        if k % 5 == 4:  # some stay drafts
            r = await client.post(
                "/v1/orders", headers=t.headers("checkout"), json=order_body(cust, k)
            )
            assert r.json()["status"] == "draft"
            continue
        placed.append(await place(client, t, cust, k, "JPY" if k % 4 == 3 else "USD"))
    # pay some in full, some in part
    for k, o in enumerate(placed):
        inv = o["invoice"]
        if k % 3 == 0:
            amount = inv["total_minor"]
        elif k % 3 == 1:
            amount = inv["total_minor"] // 3
        else:
            continue
        r = await pay(
            client,
            t,
            {
                "customer_id": o["customer_id"],
                "currency": o["currency"],
                "amount_minor": amount,
                "token": "tok_visa",
                "last4": "4242",
                "allocations": {inv["id"]: amount},
            },
        )
        assert r.status_code == 201, r.text
    states = set()
    receivable = {"USD": 0, "JPY": 0}
    numbers = []
    for o in placed:
        r = await client.get(
            f"/v1/invoices/{o['invoice']['id']}", headers=t.headers("checkout")
        )
        inv = r.json()
        states.add(inv["status"])
        numbers.append(inv["number"])
        lines_net = sum(ln["net_minor"] for ln in inv["lines"])
        lines_gross = sum(
            ln["quantity"] * ln["unit_price_minor"] for ln in inv["lines"]
        )
        tax = sum(tl["tax_minor"] for tl in inv["tax_lines"])
        assert lines_net == lines_gross - inv["discount_minor"]
        assert inv["tax_minor"] == tax
        assert inv["total_minor"] == (
            lines_gross - inv["discount_minor"] + inv["shipping_minor"] + tax
        )
        assert inv["total_minor"] == o["total_minor"]
        receivable[inv["currency"]] += inv["amount_remaining_minor"]
    assert states == {"open", "paid"}
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seqs == list(range(1, len(placed) + 1))  # gapless per tenant
    r = await client.get("/v1/ledger/balance", headers=t.headers())
    book = r.json()
    assert book["balanced"] is True
    assert set(book["currencies"]) == {"USD", "JPY"}
    assert all(c["balanced"] for c in book["currencies"].values())
    assert book["tax_matches_lines"] is True
    assert len(book["tax_payable"]["USD"]) >= 5  # several states and counties
    assert book["tax_payable"]["JPY"]
    for cur in ("USD", "JPY"):
        assert book["accounts"][cur]["receivables"] == receivable[cur]
    # states of orders: placed, paid, draft
    r = await client.get(f"/v1/orders/{placed[0]['id']}", headers=t.headers("checkout"))
    assert r.json()["status"] == "paid"
    assert r.json()["evidence"]["resolution"]["jurisdictions"]


async def test_idempotent_payment_replays_bytes_and_refuses_other_body(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    o = await place(client, t, cust)
    body = {
        "customer_id": cust,
        "currency": "USD",
        "amount_minor": 1000,
        "token": "tok",
    }
    first = await pay(client, t, body, key="k-1")
    assert first.status_code == 201, first.text
    again = await client.post(
        "/v1/payments",
        headers={
            **t.headers("checkout"),
            "Idempotency-Key": "k-1",
            "Content-Type": "application/json",
        },
        content=b'{"token":"tok","amount_minor":1000,"currency":"USD","customer_id":"'
        + cust.encode()
        + b'"}',
    )
    assert again.status_code == 201, again.text
    assert again.content == first.content  # byte for byte
    other = await pay(client, t, {**body, "amount_minor": 1001}, key="k-1")
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"
    missing = await client.post(
        "/v1/payments", headers=t.headers("checkout"), json=body
    )
    assert missing.status_code == 422
    r = await client.get(f"/v1/invoices/{o['invoice']['id']}", headers=t.headers())
    assert r.json()["amount_paid_minor"] == 1000  # applied once
    with owner_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM commerce_payments")).scalar_one()
    assert n == 1


async def test_concurrent_payments_never_overpay(
    app, client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    total = inv["total_minor"]
    part = total // 7 + 1
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for _ in range(20)
    ]
    body = {"customer_id": cust, "currency": "USD", "amount_minor": part}
    try:
        answers = await asyncio.gather(
            *(pay(c, t, {**body, "allocations": None}) for c in clients[:10]),
            *(pay(c, t, body) for c in clients[10:]),
        )
        assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
        # the same key from five clients at once: one payment
        same = await asyncio.gather(*(pay(c, t, body, key="same") for c in clients[:5]))
        assert {a.status_code for a in same} == {201}
        assert len({a.content for a in same}) == 1
    finally:
        for c in clients:
            await c.aclose()
    r = await client.get(f"/v1/invoices/{inv['id']}", headers=t.headers())
    assert r.json()["amount_paid_minor"] == total
    assert r.json()["status"] == "paid"
    with owner_engine.connect() as conn:
        paid, credit = conn.execute(
            text("SELECT sum(amount_minor), sum(credit_minor) FROM commerce_payments")
        ).one()
        applied = conn.execute(
            text("SELECT sum(amount_minor) FROM commerce_payment_allocations")
        ).scalar_one()
        balance = conn.execute(
            text("SELECT balance_minor FROM commerce_customer_credit")
        ).scalar_one()
    assert paid == 21 * part
    assert applied == total
    assert credit == balance == 21 * part - total
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] is True
    assert book["accounts"]["USD"]["customer_credit"] == -balance


async def test_overpayment_over_several_invoices_goes_to_credit(
    client, make_tenant
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    a = (await place(client, t, cust, 0))["invoice"]
    b = (await place(client, t, cust, 1))["invoice"]
    amount = a["total_minor"] + b["total_minor"] + 123
    r = await pay(
        client, t, {"customer_id": cust, "currency": "USD", "amount_minor": amount}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert {x["invoice_id"] for x in doc["applications"]} == {a["id"], b["id"]}
    assert doc["credit_minor"] == 123 and doc["credit_balance_minor"] == 123
    assert {i["status"] for i in doc["invoices"]} == {"paid"}
    too_much = await pay(
        client,
        t,
        {
            "customer_id": cust,
            "currency": "USD",
            "amount_minor": 5,
            "allocations": {a["id"]: 5},
        },
    )
    assert too_much.status_code == 422  # no longer an open invoice


async def test_other_tenants_invoice_is_404(client, make_tenant) -> None:
    a = await make_tenant("A")
    b = await make_tenant("B")
    (cust_b,) = await setup_shop(client, b)
    inv = (await place(client, b, cust_b))["invoice"]
    await setup_shop(client, a)
    for path in (f"/v1/invoices/{inv['id']}", f"/v1/invoices/{inv['id']}/html"):
        r = await client.get(path, headers=a.headers("checkout"))
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await pay(
        client, a, {"customer_id": cust_b, "currency": "USD", "amount_minor": 100}
    )
    assert r.status_code == 404
    r = await client.get(f"/v1/invoices/{inv['id']}/html", headers=b.headers())
    assert r.status_code == 200 and "INV-" in r.text


@pytest.mark.parametrize(
    ("path", "method", "patch", "field"),
    [
        ("/v1/orders", "post", {"status": "paid"}, "status"),
        ("/v1/orders", "post", {"total_minor": 1}, "total_minor"),
        ("/v1/orders", "post", {"shipping_minor": 1.5}, "shipping_minor"),
        ("/v1/orders", "post", {"shipping_minor": -1}, "shipping_minor"),
        ("/v1/orders", "post", {"currency": "ABC"}, "currency"),
        ("/v1/customers/{cust}", "patch", {"on_hold": False}, "on_hold"),
        ("/v1/customers/{cust}", "patch", {"erased": False}, "erased"),
    ],
)
async def test_bad_input_and_mass_assignment_are_422(
    client, make_tenant, path, method, patch, field
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    body = order_body(cust) if method == "post" else {}
    r = await client.request(
        method.upper(),
        path.format(cust=cust),
        headers=t.headers("checkout"),
        json={**body, **patch},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_three_decimal_currency_product(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/products",
        headers=t.headers(),
        json={"sku": "K1", "price_minor": 1234, "currency": "KWD"},
    )
    assert r.status_code == 201 and r.json()["price_minor"] == 1234


async def test_card_numbers_are_refused_naming_the_field(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    r = await client.post(
        "/v1/customers",
        headers=t.headers("checkout"),
        json={"name": "X", "address": "card 4111 1111 1111 1111 thanks"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "address"
    assert "4111" not in r.text
    r = await pay(
        client,
        t,
        {
            "customer_id": cust,
            "currency": "USD",
            "amount_minor": 100,
            "reference": "4242424242424242",
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "reference"
    with owner_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM commerce_payments")).scalar() == 0
        )
        assert (
            conn.execute(text("SELECT count(*) FROM commerce_customers")).scalar() == 1
        )


async def test_list_masks_contact_data_and_erasure_keeps_the_books(
    client, make_tenant
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    listed = (await client.get("/v1/customers", headers=t.headers("checkout"))).json()
    c = listed["customers"][0]
    assert "buyer0@" not in c["email"] and c["name"] == "C***"
    assert c["address_point"] is None
    full = await client.get(f"/v1/customers/{cust}", headers=t.headers("checkout"))
    assert full.json()["email"] == "buyer0@example.com"
    assert inv["customer_name"] == "Customer 0"
    r = await client.delete(f"/v1/customers/{cust}", headers=t.headers("checkout"))
    assert r.status_code == 403  # erasure is admin only
    r = await client.delete(f"/v1/customers/{cust}", headers=t.headers())
    assert r.status_code == 200 and r.json()["erased"] is True
    assert r.json()["email"] is None and r.json()["name"] is None
    after = (await client.get(f"/v1/invoices/{inv['id']}", headers=t.headers())).json()
    assert after["customer_name"] is None
    assert after["total_minor"] == inv["total_minor"]
    assert after["tax_lines"] == inv["tax_lines"]
    order = (
        await client.get(f"/v1/orders/{inv['order_id']}", headers=t.headers())
    ).json()
    assert order["ship_to"]["lat"] == pytest.approx(39.7, abs=1e-9)  # coarsened
    assert "point" not in order["evidence"]
    assert order["tax_lines"] == inv["tax_lines"]
    html = (
        await client.get(f"/v1/invoices/{inv['id']}/html", headers=t.headers())
    ).text
    assert "Customer 0" not in html
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]


async def test_audit_verifier_names_a_row_altered_in_the_database(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    await place(client, t, cust)
    await place(client, t, cust, 1)
    r = await client.get("/v1/audit/verify", headers=t.headers())
    assert r.json()["ok"] is True and r.json()["checked"] == 3
    with owner_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE commerce_audit_chain SET data = jsonb_set(data, "
                "'{total_minor}', '1') WHERE tenant_id = :t AND seq = 2"
            ),
            {"t": t.tenant_id},
        )
    r = await client.get("/v1/audit/verify", headers=t.headers())
    v = r.json()
    assert v["ok"] is False
    assert v["first_broken_seq"] == 2
    assert v["field"] == "data.total_minor"


async def test_kpis_dunning_and_credit_hold(client, make_tenant) -> None:
    from datetime import UTC, datetime, timedelta

    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    await client.patch(
        f"/v1/customers/{cust}",
        headers=t.headers("checkout"),
        json={"payment_terms_days": 0, "segment": "retail"},
    )
    a = (await place(client, t, cust, 0))["invoice"]
    b = (await place(client, t, cust, 1))["invoice"]
    body = {"customer_id": cust, "currency": "USD", "amount_minor": 100}
    assert (await pay(client, t, body)).status_code == 201
    failed = await pay(client, t, {**body, "status": "failed"})
    assert failed.status_code == 201 and failed.json()["applications"] == []
    later = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    k = (
        await client.get(f"/v1/receivables/kpis?as_of={later}", headers=t.headers())
    ).json()
    usd = k["ageing"]["USD"]
    owed = a["total_minor"] + b["total_minor"] - 100
    assert usd["count"]["31-60"] == 2 and usd["amount_minor"]["31-60"] == owed
    assert usd["amount_minor"]["current"] == 0
    assert k["payment_success_rate"] == "0.5000"
    sales = a["total_minor"] + b["total_minor"]
    assert float(k["dso_days"]["USD"]) == pytest.approx(owed * 90 / sales, abs=0.05)
    run = await client.post(
        "/v1/receivables/dunning/run",
        headers=t.headers(),
        json={"as_of": later, "schedules": {"retail": [3, 7, 14, 35]}},
    )
    assert run.status_code == 200, run.text
    doc = run.json()
    assert sorted(r["invoice_id"] for r in doc["reminders"]) == sorted(
        [a["id"], b["id"]]
    )
    assert {r["stage"] for r in doc["reminders"]} == {4}
    assert doc["held"] == [cust]
    again = await client.post(
        "/v1/receivables/dunning/run", headers=t.headers(), json={"as_of": later}
    )
    assert again.json() == {"reminders": [], "held": [], "lifted": []}
    r = await client.post(
        "/v1/orders", headers=t.headers("checkout"), json=order_body(cust, 2)
    )
    blocked = await client.post(
        f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
    )
    assert blocked.status_code == 409 and blocked.json()["field"] == "customer_id"
    assert (await pay(client, t, body)).status_code == 201  # lifts the hold
    ok = await client.post(
        f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
    )
    assert ok.status_code == 200, ok.text
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]


async def test_spatial_order_queries(client, make_tenant) -> None:
    t = await make_tenant()
    other = await make_tenant("other")
    (cust,) = await setup_shop(client, t)
    (cust_o,) = await setup_shop(client, other)
    placed = [await place(client, t, cust, k) for k in range(5)]
    await place(client, other, cust_o, 0)  # Denver too, another tenant
    r = await client.post(
        "/v1/orders/search/within",
        headers=t.headers("checkout"),
        json={"lat": 39.75, "lon": -104.99, "radius_m": 50_000},
    )
    found = r.json()["orders"]
    assert [o["id"] for o in found] == [placed[0]["id"]]
    assert 1000 < found[0]["distance_m"] < 1300
    box = [[-91, 38], [-89, 38], [-89, 39], [-91, 39], [-91, 38]]  # St. Louis
    r = await client.post(
        "/v1/orders/search/polygon",
        headers=t.headers("checkout"),
        json={"polygon": {"type": "Polygon", "coordinates": [box]}},
    )
    assert [o["id"] for o in r.json()["orders"]] == [placed[1]["id"]]
    bad = await client.post(
        "/v1/orders/search/polygon",
        headers=t.headers("checkout"),
        json={"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "polygon"
    cells = (
        await client.get("/v1/orders/stats/h3?resolution=5", headers=t.headers())
    ).json()
    assert len(cells["cells"]) == 5 and {c["orders"] for c in cells["cells"]} == {1}
    assert sum(c["total_minor"]["USD"] for c in cells["cells"]) == sum(
        o["total_minor"] for o in placed
    )
    jur = (
        await client.get("/v1/orders/stats/jurisdictions", headers=t.headers())
    ).json()["jurisdictions"]
    states = {j["code"]: j for j in jur if j["level"] == "state"}
    assert set(states) == {"08", "29", "48", "17", "53"}
    assert all(j["orders"] == 1 for j in states.values())
    assert sum(j["tax_minor"] for j in jur) == sum(o["tax_minor"] for o in placed)


async def test_credit_notes_partial_then_full_with_tax_back(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    o = await place(client, t, cust, 0)
    inv = o["invoice"]
    total = inv["total_minor"]
    assert inv["tax_minor"] > 0
    paid = total // 2
    body = {"customer_id": cust, "currency": "USD", "amount_minor": paid}
    assert (await pay(client, t, body)).status_code == 201
    url = f"/v1/invoices/{inv['id']}/credit-notes"
    r = await client.post(url, headers=t.headers(), json={"amounts": {"a": 1000}})
    assert r.status_code == 201, r.text
    first = r.json()
    assert 0 < first["tax_minor"] < inv["tax_minor"]
    assert first["to_receivable_minor"] == first["total_minor"]
    assert sum(x["tax_minor"] for x in first["tax_lines"]) == first["tax_minor"]
    r = await client.post(url, headers=t.headers(), json={"reason": "returned"})
    assert r.status_code == 201, r.text
    second = r.json()
    assert first["tax_minor"] + second["tax_minor"] == inv["tax_minor"]
    assert first["total_minor"] + second["total_minor"] == total
    assert second["to_customer_credit_minor"] == paid  # what was paid comes back
    assert second["invoice"]["status"] == "paid"
    assert second["invoice"]["amount_remaining_minor"] == 0
    over = await client.post(url, headers=t.headers(), json={"amounts": {"a": 1}})
    assert over.status_code == 409
    forbidden = await client.post(url, headers=t.headers("checkout"), json={})
    assert forbidden.status_code == 403
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] and book["tax_matches_lines"]
    assert book["tax_payable"] == {}  # all tax credited back
    assert book["accounts"]["USD"]["customer_credit"] == -paid
    assert book["accounts"]["USD"]["receivables"] == 0
    html = (
        await client.get(f"/v1/invoices/{inv['id']}/html", headers=t.headers())
    ).text
    assert f"Credit note {second['id']}" in html
    with owner_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM tax_reversals")).scalar_one()
    assert n == 2


async def test_outbox_delivers_signed_events_with_retry(
    app, client, make_tenant, owner_engine
) -> None:
    import json
    import time

    from commerce.webhooks import verify

    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    secret = "whsec_0123456789abcdef"
    r = await client.put(
        "/v1/webhooks/endpoint",
        headers=t.headers(),
        json={"url": "https://hooks.example.test/in", "secret": secret},
    )
    assert r.status_code == 204, r.text
    await place(client, t, cust)
    received: list[dict] = []

    async def sender(url, headers, body):
        verify([secret.encode()], body, headers["Webhook-Signature"], int(time.time()))
        received.append(json.loads(body))
        return (500, "HTTP 500") if len(received) == 1 else (200, None)

    app.state.webhook_sender = sender
    try:
        first = await client.post("/v1/outbox/deliver", headers=t.headers(), json={})
        assert first.status_code == 200, first.text
        statuses = [d["status"] for d in first.json()["deliveries"]]
        assert statuses[0] == "retrying" and set(statuses[1:]) == {"delivered"}
        assert len(statuses) == 2  # customer.created, order.placed
        again = await client.post("/v1/outbox/deliver", headers=t.headers(), json={})
        assert again.json()["deliveries"] == []  # the retry is not due yet
        with owner_engine.begin() as conn:
            conn.execute(text("UPDATE commerce_outbox SET next_attempt_at = now()"))
        third = await client.post("/v1/outbox/deliver", headers=t.headers(), json={})
        (d,) = third.json()["deliveries"]
        assert d["status"] == "delivered" and d["attempts"] == 2
    finally:
        del app.state.webhook_sender
    assert [e["event"] for e in received] == [
        "customer.created",
        "order.placed",
        "customer.created",
    ]
    assert received[0]["id"] == received[2]["id"]  # receivers dedupe replays by id
    listed = (await client.get("/v1/outbox", headers=t.headers())).json()["events"]
    assert {e["status"] for e in listed} == {"delivered"}


async def test_statement_import_matches_and_queues(client, make_tenant) -> None:
    t = await make_tenant()
    c0, c1 = await setup_shop(client, t, customers=2)
    a = (await place(client, t, c0, 0))["invoice"]
    b = (await place(client, t, c1, 1))["invoice"]

    def major(minor: int) -> str:
        return f"{minor // 100}.{minor % 100:02d}"

    csv = (
        "date,amount,currency,reference,counterparty\n"
        f"2026-11-20,{major(a['total_minor'])},USD,Payment {a['number']},Customer 0\n"
        "2026-11-20,12.34,USD,misc transfer,Somebody\n"
        "2026-11-20,-5.00,USD,bank fee,Bank\n"
    )
    r = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["debits_ignored"] == 1
    (applied,) = doc["applied"]
    assert applied["payment"]["applications"] == [
        {"invoice_id": a["id"], "amount_minor": a["total_minor"]}
    ]
    (queued,) = doc["queued"]
    assert queued["status"] == "unmatched" and queued["amount_minor"] == 1234
    q = (await client.get("/v1/reconciliation/queue", headers=t.headers())).json()
    assert [x["id"] for x in q["lines"]] == [queued["id"]]
    r = await client.post(
        f"/v1/reconciliation/queue/{queued['id']}/resolve",
        headers=t.headers(),
        json={"customer_id": c1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["applications"] == [{"invoice_id": b["id"], "amount_minor": 1234}]
    q = (await client.get("/v1/reconciliation/queue", headers=t.headers())).json()
    assert q["lines"] == []
    again = await client.post(
        f"/v1/reconciliation/queue/{queued['id']}/resolve",
        headers=t.headers(),
        json={"customer_id": c1},
    )
    assert again.status_code == 404
    bad = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "text/csv"},
        content=b"when,how much\n1,2\n",
    )
    assert bad.status_code == 422 and bad.json()["field"] == "header"
    inv_a = (await client.get(f"/v1/invoices/{a['id']}", headers=t.headers())).json()
    assert inv_a["status"] == "paid"
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"]


async def test_cancelling_orders_voids_untouched_invoices(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    r = await client.post(
        "/v1/orders", headers=t.headers("checkout"), json=order_body(cust)
    )
    draft = r.json()["id"]
    r = await client.post(f"/v1/orders/{draft}/cancel", headers=t.headers("checkout"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await client.post(f"/v1/orders/{draft}/cancel", headers=t.headers("checkout"))
    assert r.status_code == 409
    placed = await place(client, t, cust, 1)
    r = await client.post(
        f"/v1/orders/{placed['id']}/cancel", headers=t.headers("checkout")
    )
    assert r.status_code == 200, r.text
    inv = (
        await client.get(f"/v1/invoices/{placed['invoice']['id']}", headers=t.headers())
    ).json()
    assert inv["status"] == "void"
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] and book["tax_matches_lines"]
    assert book["tax_payable"] == {} and book["accounts"]["USD"]["receivables"] == 0
    paid = await place(client, t, cust, 2)
    body = {"customer_id": cust, "currency": "USD", "amount_minor": 100}
    assert (await pay(client, t, body)).status_code == 201
    r = await client.post(
        f"/v1/orders/{paid['id']}/cancel", headers=t.headers("checkout")
    )
    assert r.status_code == 409
    with owner_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM tax_reversals")).scalar_one()
    assert n == 1


async def test_contact_data_needs_checkout_or_admin(client, make_tenant) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    for path in ("/v1/customers", f"/v1/customers/{cust}"):
        r = await client.get(path, headers=t.headers("device"))
        assert r.status_code == 403
        r = await client.get(path, headers=t.headers("dispatcher"))
        assert r.status_code == 403
