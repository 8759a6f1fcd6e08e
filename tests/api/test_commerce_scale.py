"""Two hundred orders across eight US states through the API: every invoice adds
up to the minor unit, the books balance per tenant and currency, and tax payable
per jurisdiction equals the committed tax lines. The totals are checked through
the API and again directly in SQL, independently of the application's code."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.api.test_commerce import order_body, pay, setup_shop

pytestmark = pytest.mark.asyncio

# (state FIPS, lat, lon): Denver, St. Louis, Austin, Chicago, Seattle, Atlanta,
# Nashville, Philadelphia
CITIES = [
    ("08", 39.7392, -104.9903),
    ("29", 38.6270, -90.1994),
    ("48", 30.2672, -97.7431),
    ("17", 41.8781, -87.6298),
    ("53", 47.6062, -122.3321),
    ("13", 33.7490, -84.3880),
    ("47", 36.1627, -86.7816),
    ("42", 39.9526, -75.1652),
]
ORDERS = 200
GROUP = 8  # concurrent requests at a time


async def test_two_hundred_orders_in_eight_states_add_up(
    client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    other = await make_tenant("other")  # its books must not mix with t's
    customers = await setup_shop(client, t, customers=6)
    (other_cust,) = await setup_shop(client, other)
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

    async def place_one(k: int) -> dict:
        _, lat, lon = CITIES[k % len(CITIES)]
        body = order_body(customers[k % 6], k, "JPY" if k % 9 == 4 else "USD")
        body["ship_to"] = {"lat": lat, "lon": lon, "accuracy_m": 10}
        r = await client.post("/v1/orders", headers=t.headers("checkout"), json=body)
        assert r.status_code == 201, r.text
        r = await client.post(
            f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
        )
        assert r.status_code == 200, r.text
        return r.json()

    placed: list[dict] = []
    for start in range(0, ORDERS, GROUP):
        placed += await asyncio.gather(
            *(place_one(k) for k in range(start, min(start + GROUP, ORDERS)))
        )
    await pay(  # the other tenant trades too
        client,
        other,
        {"customer_id": other_cust, "currency": "USD", "amount_minor": 999},
    )

    async def settle(k: int, o: dict) -> None:
        inv = o["invoice"]
        if k % 10 == 7:  # cancelled: invoice voided, tax reversed
            r = await client.post(
                f"/v1/orders/{o['id']}/cancel", headers=t.headers("checkout")
            )
            assert r.status_code == 200, r.text
            return
        amount = [inv["total_minor"], inv["total_minor"] // 3, 0][k % 3]
        if amount:
            r = await pay(
                client,
                t,
                {
                    "customer_id": o["customer_id"],
                    "currency": o["currency"],
                    "amount_minor": amount,
                    "allocations": {inv["id"]: amount},
                },
            )
            assert r.status_code == 201, r.text

    for start in range(0, ORDERS, GROUP):
        await asyncio.gather(
            *(settle(k, placed[k]) for k in range(start, min(start + GROUP, ORDERS)))
        )

    # every invoice: lines + shipping + tax - discounts = total, to the minor unit
    async def invoice(o: dict) -> dict:
        r = await client.get(
            f"/v1/invoices/{o['invoice']['id']}", headers=t.headers("checkout")
        )
        assert r.status_code == 200, r.text
        return r.json()

    invoices: list[dict] = []
    for start in range(0, ORDERS, 25):
        invoices += await asyncio.gather(
            *(invoice(o) for o in placed[start : start + 25])
        )
    states_taxed = set()
    for o, inv in zip(placed, invoices, strict=True):
        gross = sum(ln["quantity"] * ln["unit_price_minor"] for ln in inv["lines"])
        line_discounts = sum(ln["discount_minor"] for ln in inv["lines"])
        tax = sum(tl["tax_minor"] for tl in inv["tax_lines"])
        assert inv["gross_minor"] == gross
        assert inv["discount_minor"] == line_discounts
        assert all(
            ln["net_minor"]
            == ln["quantity"] * ln["unit_price_minor"] - ln["discount_minor"]
            for ln in inv["lines"]
        )
        assert inv["tax_minor"] == tax
        assert (
            inv["total_minor"] == gross - line_discounts + inv["shipping_minor"] + tax
        )
        assert inv["total_minor"] == o["total_minor"]
        assert inv["amount_remaining_minor"] == (
            inv["total_minor"] - inv["amount_paid_minor"] - inv["amount_credited_minor"]
        )
        states_taxed |= {
            tl["code"] for tl in inv["tax_lines"] if tl["level"] == "state"
        }
    assert states_taxed == {code for code, _, _ in CITIES}
    assert {i["status"] for i in invoices} == {"open", "paid", "void"}
    numbers = sorted(int(i["number"].rsplit("-", 1)[1]) for i in invoices)
    assert numbers == list(range(1, ORDERS + 1))  # gapless, voids keep theirs

    # the books through the API
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] is True and book["unbalanced_entries"] == []
    assert set(book["currencies"]) == {"USD", "JPY"}
    assert all(c["balanced"] for c in book["currencies"].values())
    assert book["tax_matches_lines"] is True
    assert len(book["tax_payable"]["USD"]) >= len(CITIES)

    # and again straight from the tables, per tenant and currency
    with owner_engine.connect() as conn:
        per_tenant = conn.execute(
            text(
                "SELECT e.tenant_id, e.currency, sum(p.debit_minor), "
                "sum(p.credit_minor) FROM commerce_ledger_postings p "
                "JOIN commerce_ledger_entries e ON e.id = p.entry_id "
                "GROUP BY e.tenant_id, e.currency"
            )
        ).all()
        receivable = dict(
            conn.execute(
                text(
                    "SELECT e.currency, sum(p.debit_minor - p.credit_minor) "
                    "FROM commerce_ledger_postings p JOIN commerce_ledger_entries e "
                    "ON e.id = p.entry_id WHERE e.tenant_id = :t "
                    "AND p.account = 'receivables' GROUP BY e.currency"
                ),
                {"t": t.tenant_id},
            ).all()
        )
        payable = dict(
            conn.execute(
                text(
                    "SELECT e.currency || ' ' || p.account, "
                    "sum(p.credit_minor - p.debit_minor) "
                    "FROM commerce_ledger_postings p JOIN commerce_ledger_entries e "
                    "ON e.id = p.entry_id WHERE e.tenant_id = :t "
                    "AND p.account LIKE 'tax_payable:%' GROUP BY 1"
                ),
                {"t": t.tenant_id},
            ).all()
        )
        committed = dict(
            conn.execute(
                text(
                    "SELECT o.currency || ' tax_payable:' || l.level || ':' || l.code, "
                    "sum(l.tax_minor) FROM commerce_tax_lines l "
                    "JOIN commerce_orders o ON o.id = l.order_id "
                    "WHERE o.tenant_id = :t AND o.status <> 'cancelled' GROUP BY 1"
                ),
                {"t": t.tenant_id},
            ).all()
        )
        mismatched = conn.execute(
            text(
                "SELECT i.id FROM commerce_invoices i WHERE i.tenant_id = :t AND "
                "i.total_minor <> i.shipping_minor "
                "+ (SELECT coalesce(sum(net_minor), 0) FROM commerce_invoice_lines "
                "   WHERE invoice_id = i.id) "
                "+ (SELECT coalesce(sum(tax_minor), 0) FROM commerce_tax_lines "
                "   WHERE order_id = i.order_id)"
            ),
            {"t": t.tenant_id},
        ).all()
    assert {(row[0], row[1]) for row in per_tenant} == {
        (t.tenant_id, "USD"),
        (t.tenant_id, "JPY"),
        (other.tenant_id, "USD"),
    }
    assert all(debit == credit for _, _, debit, credit in per_tenant)
    open_amounts: dict[str, int] = {}
    for inv in invoices:
        if inv["status"] != "void":
            cur = inv["currency"]
            open_amounts[cur] = open_amounts.get(cur, 0) + inv["amount_remaining_minor"]
    assert receivable == open_amounts
    assert {k: v for k, v in payable.items() if v} == {
        k: v for k, v in committed.items() if v
    }
    assert mismatched == []
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]
