"""The demo's order-to-cash history: a few hundred orders whose KPIs are not empty."""

from __future__ import annotations

import time
from datetime import date

import pytest

from api.demo_commerce import DEMO_ORDERS, seed_commerce

pytestmark = pytest.mark.asyncio


async def test_demo_history_fills_the_kpis(test_env, client, make_tenant) -> None:
    t = await make_tenant("Demo Merchant")
    started = time.perf_counter()
    seeded = await seed_commerce(test_env.settings, t.tenant_id)
    elapsed = time.perf_counter() - started
    assert seeded.orders == DEMO_ORDERS >= 200
    assert seeded.paid and seeded.partly_paid and seeded.unpaid
    assert seeded.failed_payments
    # about 20 s alone on 2 cores; the bound only catches a pathological slowdown
    assert elapsed < 180, f"demo seeding took {elapsed:.1f} s"
    again = await seed_commerce(test_env.settings, t.tenant_id)
    assert again.orders == 0  # idempotent: a second `make demo` adds nothing

    k = (await client.get("/v1/receivables/kpis", headers=t.headers())).json()
    usd = k["ageing"]["USD"]
    overdue = {b: usd["count"][b] for b in ("1-30", "31-60", "61-90", "90+")}
    assert all(overdue.values()), usd  # every overdue bucket has invoices
    assert usd["count"]["current"] > 0
    assert 0 < float(k["dso_days"]["USD"]) < 150
    assert 0.5 < float(k["payment_success_rate"]) < 1
    inv = (
        await client.get(
            f"/v1/invoices/{seeded.example_invoice_id}", headers=t.headers()
        )
    ).json()
    assert date.fromisoformat(inv["issued_on"]) < date.today()  # back-dated
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] and book["tax_matches_lines"]
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]
    held = (await client.get("/v1/customers", headers=t.headers())).json()["customers"]
    assert any(c["on_hold"] for c in held)  # dunning ran: long-overdue customers
    outbox = (await client.get("/v1/outbox?limit=1000", headers=t.headers())).json()
    assert any(e["event"] == "invoice.reminder" for e in outbox["events"])

    # Warehouses with stock of the catalog; a pre-positioning plan over the demo's
    # own order history runs on the solver queue and moves stock that balances.
    from api.demo import DEMO_WAREHOUSES, _seed_warehouses
    from tests.api.test_prepositioning import run_worker

    assert await _seed_warehouses(test_env.settings, t.tenant_id) == len(
        DEMO_WAREHOUSES
    )
    assert await _seed_warehouses(test_env.settings, t.tenant_id) == 0  # idempotent
    h = t.headers("dispatcher")
    r = await client.post("/v1/prepositioning/plans", headers=h, json={"weeks": 20})
    assert r.status_code == 202, r.text
    plan_id = r.json()["id"]
    await run_worker(test_env)
    plan = (await client.get(f"/v1/prepositioning/plans/{plan_id}", headers=h)).json()
    assert plan["status"] == "done", plan
    assert plan["result"]["history"]["orders"] > 0
    targets = plan["result"]["targets"]
    stock = sum(60 - 10 * i for i in range(len(DEMO_WAREHOUSES))) * 5  # 5 SKUs
    assert sum(x["target_units"] for x in targets) == stock  # supply conserved
    assert all(x["target_units"] <= x["capacity_units"] for x in targets)
    moves = (
        await client.get(f"/v1/prepositioning/plans/{plan_id}/transfers", headers=h)
    ).json()
    assert all(m["units"] > 0 and m["from"] != m["to"] for m in moves["transfers"])
