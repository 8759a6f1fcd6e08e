"""Payments racing for one invoice: 50 parallel API payments, a payment-provider
webhook delivered several times at once and again later, and one idempotency
key used concurrently. The invoice is never paid more than its total and every
event is applied once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from commerce.webhooks import sign
from tests.api.test_commerce import pay, place, setup_shop

pytestmark = pytest.mark.asyncio

SECRET = "whsec_provider_0123456789"


def provider_event(event_id: str, cust: str, amount: int, **data) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": data.pop("type", "payment_succeeded"),
            "created": int(time.time()),
            "data": {
                "payment_id": f"ch_{event_id}",
                "customer_id": cust,
                "currency": "USD",
                "amount_minor": amount,
                "token": "tok_visa",
                "last4": "4242",
                **data,
            },
        }
    ).encode()


async def deliver(
    c: httpx.AsyncClient,
    tenant_id,
    body: bytes,
    secret: str = SECRET,
    at: int | None = None,
) -> httpx.Response:
    return await c.post(
        f"/v1/payment-provider/{tenant_id}/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Webhook-Signature": sign(secret.encode(), body, at or int(time.time())),
        },
    )


async def test_fifty_parallel_payments_and_a_replayed_webhook_never_overpay(
    app, client, make_tenant, owner_engine
) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    inv = (await place(client, t, cust))["invoice"]
    total = inv["total_minor"]
    r = await client.put(
        "/v1/payment-provider/secret", headers=t.headers(), json={"secret": SECRET}
    )
    assert r.status_code == 204, r.text
    part = total // 40 + 1  # 50 of these are more than the invoice
    event = provider_event("evt_race", cust, total // 3, invoice_id=inv["id"])
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for _ in range(12)
    ]
    explicit = {"customer_id": cust, "currency": "USD", "amount_minor": part}
    try:
        answers = await asyncio.gather(
            *(
                pay(
                    clients[k % 10],
                    t,
                    {**explicit, "allocations": {inv["id"]: part}}
                    if k % 2
                    else explicit,
                )
                for k in range(50)
            ),
            *(deliver(clients[10 + k % 2], t.tenant_id, event) for k in range(5)),
            *(pay(clients[k], t, explicit, key="one-key") for k in range(5)),
        )
    finally:
        for c in clients:
            await c.aclose()
    api, hooks, same = answers[:50], answers[50:55], answers[55:]
    assert {a.status_code for a in api} <= {201, 409, 422}, [a.text for a in api]
    assert {a.status_code for a in hooks} == {200}, [h.text for h in hooks]
    docs = [h.json() for h in hooks]
    assert sorted(d["status"] for d in docs) == ["duplicate"] * 4 + ["processed"]
    assert len({d["payment_id"] for d in docs}) == 1  # the one payment it made
    webhook_payment = docs[0]["payment_id"]
    # one key, five concurrent requests: one payment, the same bytes for all
    assert {a.status_code for a in same} == {201}, [a.text for a in same]
    assert len({a.content for a in same}) == 1
    # a later replay of the delivered event changes nothing
    again = await deliver(client, t.tenant_id, event)
    assert again.status_code == 200
    assert again.json() == {
        "event_id": "evt_race",
        "status": "duplicate",
        "payment_id": webhook_payment,
    }
    accepted = [a.json() for a in api if a.status_code == 201]
    refused = [a for a in api if a.status_code != 201]
    assert all(a.json()["field"].startswith("allocations") for a in refused)
    doc = (await client.get(f"/v1/invoices/{inv['id']}", headers=t.headers())).json()
    assert doc["amount_paid_minor"] == total and doc["status"] == "paid"
    with owner_engine.connect() as conn:
        payments = conn.execute(
            text(
                "SELECT id::text, amount_minor, credit_minor FROM commerce_payments "
                "WHERE tenant_id = :t"
            ),
            {"t": t.tenant_id},
        ).all()
        applied = conn.execute(
            text(
                "SELECT sum(amount_minor) FROM commerce_payment_allocations "
                "WHERE invoice_id = :i"
            ),
            {"i": inv["id"]},
        ).scalar_one()
        credit = conn.execute(
            text(
                "SELECT coalesce(sum(balance_minor), 0) FROM commerce_customer_credit "
                "WHERE tenant_id = :t"
            ),
            {"t": t.tenant_id},
        ).scalar_one()
        events = conn.execute(
            text(
                "SELECT event_id, payment_id::text FROM commerce_provider_events "
                "WHERE tenant_id = :t"
            ),
            {"t": t.tenant_id},
        ).all()
    ids = {p[0] for p in payments}
    assert len(payments) == len(accepted) + 1 + 1  # + webhook + the one key
    assert ids == {a["id"] for a in accepted} | {webhook_payment, same[0].json()["id"]}
    assert applied == total
    received = sum(p[1] for p in payments)
    assert credit == sum(p[2] for p in payments) == received - total
    assert events == [("evt_race", webhook_payment)]
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"] is True
    assert book["accounts"]["USD"]["customer_credit"] == -credit
    assert book["accounts"]["USD"]["receivables"] == 0
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]


async def test_provider_webhook_refuses_bad_signatures_and_bad_events(
    client, make_tenant, owner_engine
) -> None:
    a = await make_tenant("A")
    b = await make_tenant("B")
    (cust,) = await setup_shop(client, a)
    inv = (await place(client, a, cust))["invoice"]
    for t, secret in ((a, SECRET), (b, "whsec_tenant_b_987654321")):
        r = await client.put(
            "/v1/payment-provider/secret", headers=t.headers(), json={"secret": secret}
        )
        assert r.status_code == 204
    short = await client.put(
        "/v1/payment-provider/secret", headers=a.headers(), json={"secret": "short"}
    )
    assert short.status_code == 422 and short.json()["field"] == "secret"
    body = provider_event("evt_1", cust, 100, invoice_id=inv["id"])
    bad = [
        await deliver(client, a.tenant_id, body, secret="whsec_wrong_0123456789"),
        await deliver(client, a.tenant_id, body, at=int(time.time()) - 600),  # stale
        await deliver(client, b.tenant_id, body),  # signed for A, sent to B
        await deliver(client, uuid.uuid4(), body),  # no such tenant
        await client.post(f"/v1/payment-provider/{a.tenant_id}/events", content=body),
    ]
    for r in bad:
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    malformed = [
        (provider_event("evt_2", cust, "12.5"), "data.amount_minor"),
        (provider_event("evt_3", cust, -5), "data.amount_minor"),
        (provider_event("evt_4", cust, 100, currency="XYZ"), "data.currency"),
        (provider_event("evt_5", "not-a-uuid", 100), "data.customer_id"),
        (provider_event("evt_6", str(uuid.uuid4()), 100), "data.customer_id"),
        (provider_event("evt_7", cust, 100, last4="4111111111111111"), "data.last4"),
        (b"[1, 2]", "body"),
    ]
    for doc, field in malformed:
        r = await deliver(client, a.tenant_id, doc)
        assert r.status_code in (404, 422), r.text
        assert r.json()["field"] == field, r.text
        assert "4111111111111111" not in r.text
    # rotation: the previous secret keeps working for in-flight deliveries
    r = await client.put(
        "/v1/payment-provider/secret",
        headers=a.headers(),
        json={"secret": "whsec_rotated_0123456789"},
    )
    ok = await deliver(client, a.tenant_id, body)
    assert ok.status_code == 200, ok.text
    assert ok.json()["applications"] == [{"invoice_id": inv["id"], "amount_minor": 100}]
    failed = provider_event("evt_8", cust, 700, type="payment_failed")
    r = await deliver(client, a.tenant_id, failed, secret="whsec_rotated_0123456789")
    assert r.status_code == 200 and r.json()["status"] == "processed"
    assert r.json()["applications"] == [] and r.json()["credit_minor"] == 0
    other = json.dumps({"id": "evt_9", "type": "charge.dispute.created"}).encode()
    r = await deliver(client, a.tenant_id, other)
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, amount_minor FROM commerce_payments ORDER BY status")
        ).all()
    assert rows == [("failed", 700), ("succeeded", 100)]
    kpis = (await client.get("/v1/receivables/kpis", headers=a.headers())).json()
    assert kpis["payment_success_rate"] == "0.5000"
