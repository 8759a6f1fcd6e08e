"""Bad input to the commerce API: always a 422/404/405 problem naming the field,
never a 500, and nothing stored."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.api.test_commerce import order_body, pay, place, setup_shop

pytestmark = pytest.mark.asyncio


def _count(owner_engine, table: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


async def test_bad_amounts_and_currencies_in_payments(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    good = {"customer_id": cust, "currency": "USD", "amount_minor": 100}
    cases = [
        ({"amount_minor": -5}, "amount_minor"),
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": 12.5}, "amount_minor"),
        ({"amount_minor": 100.0}, "amount_minor"),
        ({"amount_minor": "100"}, "amount_minor"),
        ({"amount_minor": 10**16}, "amount_minor"),
        ({"amount_minor": True}, "amount_minor"),
        ({"currency": "ABC"}, "currency"),  # well formed, not ISO 4217
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"allocations": {inv["id"]: -1}}, f"allocations.{inv['id']}"),
        ({"allocations": {inv["id"]: 0.5}}, f"allocations.{inv['id']}"),
        ({"allocations": {"not-a-uuid": 1}}, "allocations.not-a-uuid.[key]"),
        ({"last4": "42424"}, "last4"),
        ({"status": "refunded"}, "status"),
        ({"amount_paid_minor": 1}, "amount_paid_minor"),  # not a field
    ]
    for patch, field in cases:
        r = await pay(client, t, {**good, **patch})
        assert r.status_code == 422, (patch, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field, (patch, r.json())
    assert _count(owner_engine, "commerce_payments") == 0


async def test_bad_orders_products_and_discounts(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    base = order_body(cust)
    cases = [
        (
            {"lines": [{"line_id": "a", "sku": "SHOE", "quantity": 0}]},
            "lines[0].quantity",
        ),
        (
            {"lines": [{"line_id": "a", "sku": "SHOE", "quantity": -2}]},
            "lines[0].quantity",
        ),
        (
            {"lines": [{"line_id": "a", "sku": "SHOE", "quantity": 1.5}]},
            "lines[0].quantity",
        ),
        ({"lines": [{"line_id": "a", "sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
        (
            {
                "lines": [{"line_id": "a", "sku": "SHOE", "quantity": 1}],
                "currency": "JPY",
            },
            "lines[0].sku",
        ),
        ({"currency": "XYZ"}, "currency"),
        ({"shipping_minor": 0.01}, "shipping_minor"),
        (
            {"discounts": [{"discount_id": "d", "kind": "fixed", "amount_minor": -1}]},
            "discounts[0].amount_minor",
        ),
        (
            {"discounts": [{"discount_id": "d", "kind": "percent", "percent": "150"}]},
            "discounts[0].percent",
        ),
        (
            {"discounts": [{"discount_id": "d", "kind": "percent", "percent": "NaN"}]},
            "discounts[0].percent",
        ),
        ({"ship_to": {"lat": 95, "lon": 0}}, "ship_to.lat"),
        ({"customer_id": str(uuid.uuid4())}, "customer_id"),
    ]
    for patch, field in cases:
        r = await client.post(
            "/v1/orders", headers=t.headers("checkout"), json={**base, **patch}
        )
        assert r.status_code in (404, 409, 422), (patch, r.text)
        assert r.json()["field"] == field, (patch, r.json())
    products = [
        ({"price_minor": -1}, "price_minor"),
        ({"price_minor": 9.99}, "price_minor"),
        ({"currency": "ABC"}, "currency"),
        ({"active": False, "status": "x"}, "active"),
    ]
    for patch, field in products:
        r = await client.post(
            "/v1/products",
            headers=t.headers(),
            json={"sku": "X1", "price_minor": 100, "currency": "USD", **patch},
        )
        assert r.status_code == 422, (patch, r.text)
        assert r.json()["field"] == field, (patch, r.json())
    assert _count(owner_engine, "commerce_orders") == 0


async def test_three_decimal_currency_end_to_end(client, make_tenant) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    r = await client.post(
        "/v1/products",
        headers=t.headers(),
        json={"sku": "OUD", "price_minor": 12345, "currency": "KWD"},  # 12.345 KWD
    )
    assert r.status_code == 201, r.text
    body = order_body(cust, currency="KWD")
    body["lines"] = [{"line_id": "a", "sku": "OUD", "quantity": 3}]
    body["shipping_minor"] = 1001  # 1.001 KWD
    r = await client.post("/v1/orders", headers=t.headers("checkout"), json=body)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
    )
    assert r.status_code == 200, r.text
    inv = r.json()["invoice"]
    tax = sum(tl["tax_minor"] for tl in inv["tax_lines"])
    assert tax > 0 and inv["tax_minor"] == tax
    assert inv["total_minor"] == 3 * 12345 + 1001 + tax
    html = (
        await client.get(f"/v1/invoices/{inv['id']}/html", headers=t.headers())
    ).text
    assert "37.035" in html  # three decimals on the invoice
    # a statement line with more precision than KWD has is refused, not rounded
    csv = f"date,amount,currency,reference\n2026-11-20,1.2345,KWD,{inv['number']}\n"
    r = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert r.status_code == 422 and r.json()["field"] == "line 2.amount", r.text
    r = await pay(
        client,
        t,
        {"customer_id": cust, "currency": "KWD", "amount_minor": inv["total_minor"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["invoices"] == [
        {"id": inv["id"], "status": "paid", "amount_remaining_minor": 0}
    ]


async def test_card_numbers_in_free_text_are_refused_and_not_stored(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    pan = "4111-1111-1111-1111"
    cases = [
        ("post", "/v1/customers", {"name": f"Card {pan}"}, "name"),
        ("patch", f"/v1/customers/{cust}", {"address": f"pay with {pan}"}, "address"),
        (
            "post",
            "/v1/orders",
            {
                **order_body(cust),
                "discounts": [
                    {
                        "discount_id": "d",
                        "kind": "fixed",
                        "amount_minor": 1,
                        "label": f"card {pan}",
                    }
                ],
            },
            "discounts[0].label",
        ),
        (
            "post",
            f"/v1/invoices/{inv['id']}/credit-notes",
            {"reason": "refund to 5555555555554444"},
            "reason",
        ),
    ]
    for method, path, body, field in cases:
        r = await client.request(method.upper(), path, headers=t.headers(), json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field, (path, r.json())
        assert "1111" not in r.text and "4444" not in r.text
    csv = f"date,amount,currency,reference\n2026-11-20,1.00,USD,{pan}\n"
    r = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert "1111" not in r.text
    with owner_engine.connect() as conn:
        customer = conn.execute(text("SELECT address FROM commerce_customers")).one()
        for table in ("commerce_credit_notes", "commerce_statement_lines"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM commerce_orders")).scalar() == 1
    assert customer == ("1 Main St",)


async def test_other_tenants_ids_are_404_everywhere(client, make_tenant) -> None:
    a = await make_tenant("A")
    b = await make_tenant("B")
    (cust_b,) = await setup_shop(client, b)
    o = await place(client, b, cust_b)
    (cust_a,) = await setup_shop(client, a)
    inv = o["invoice"]
    calls = [
        ("get", f"/v1/invoices/{inv['id']}", None),
        ("get", f"/v1/invoices/{inv['id']}/html", None),
        ("post", f"/v1/invoices/{inv['id']}/credit-notes", {}),
        ("get", f"/v1/orders/{o['id']}", None),
        ("post", f"/v1/orders/{o['id']}/place", None),
        ("post", f"/v1/orders/{o['id']}/cancel", None),
        ("get", f"/v1/customers/{cust_b}", None),
        ("patch", f"/v1/customers/{cust_b}", {"name": "mine now"}),
        ("delete", f"/v1/customers/{cust_b}", None),
        ("post", "/v1/orders", order_body(cust_b)),
    ]
    for method, path, body in calls:
        r = await client.request(method.upper(), path, headers=a.headers(), json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # B's invoice in A's allocation: A has no such invoice
    r = await pay(
        client,
        a,
        {
            "customer_id": cust_a,
            "currency": "USD",
            "amount_minor": 100,
            "allocations": {inv["id"]: 100},
        },
    )
    assert r.status_code == 404 and r.json()["field"] == f"allocations['{inv['id']}']"
    after = (await client.get(f"/v1/invoices/{inv['id']}", headers=b.headers())).json()
    assert after["amount_paid_minor"] == 0 and after["status"] == "open"
    assert after["customer_name"] == "Customer 0"


async def test_mass_assignment_in_patch_is_refused(client, make_tenant) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    for patch in (
        {"status": "paid"},
        {"total_minor": 0},
        {"on_hold": True},
        {"erased": True},
        {"id": str(uuid.uuid4())},
        {"name": "ok", "status": "paid"},
    ):
        r = await client.patch(
            f"/v1/customers/{cust}", headers=t.headers("checkout"), json=patch
        )
        assert r.status_code == 422, (patch, r.text)
        assert r.json()["field"] in patch, (patch, r.json())
    customer = (await client.get(f"/v1/customers/{cust}", headers=t.headers())).json()
    assert customer["name"] == "Customer 0" and customer["on_hold"] is False
    # invoices and orders cannot be patched at all: their state moves only
    # through payments, credit notes and cancellation
    for path in (f"/v1/invoices/{inv['id']}", f"/v1/orders/{inv['order_id']}"):
        r = await client.patch(
            path, headers=t.headers(), json={"status": "paid", "total_minor": 1}
        )
        assert r.status_code == 405, r.text
    after = (await client.get(f"/v1/invoices/{inv['id']}", headers=t.headers())).json()
    assert after["status"] == "open" and after["total_minor"] == inv["total_minor"]
