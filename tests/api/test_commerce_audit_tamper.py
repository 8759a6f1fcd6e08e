"""The audit-chain verifier against tampering done directly in the database:
a deleted link, and a link rewritten with a freshly computed hash."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from commerce.audit import append_record
from tests.api.test_commerce import place, setup_shop

pytestmark = pytest.mark.asyncio


async def test_deleted_link_is_found(client, make_tenant, owner_engine) -> None:
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    for k in range(3):
        await place(client, t, cust, k)
    assert (await client.get("/v1/audit/verify", headers=t.headers())).json()["ok"]
    with owner_engine.begin() as conn:
        conn.execute(
            text("DELETE FROM commerce_audit_chain WHERE tenant_id = :t AND seq = 3"),
            {"t": t.tenant_id},
        )
    v = (await client.get("/v1/audit/verify", headers=t.headers())).json()
    assert v["ok"] is False and v["first_broken_seq"] == 4 and v["field"] == "seq"


async def test_rehashed_link_breaks_the_next_one(
    client, make_tenant, owner_engine
) -> None:
    """Whoever rewrites a record and recomputes its hash still breaks the link
    that follows, which holds the old hash."""
    t = await make_tenant()
    (cust,) = await setup_shop(client, t)
    for k in range(3):
        await place(client, t, cust, k)
    with owner_engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, at, actor, event, data, prev_hash FROM "
                "commerce_audit_chain WHERE tenant_id = :t AND seq IN (1, 2) "
                "ORDER BY seq"
            ),
            {"t": t.tenant_id},
        ).all()
        first = append_record(
            None,
            str(t.tenant_id),
            rows[0].event,
            rows[0].data,
            rows[0].at,
            rows[0].actor,
        )
        forged = append_record(
            first,
            str(t.tenant_id),
            rows[1].event,
            {**rows[1].data, "total_minor": 1},
            rows[1].at,
            rows[1].actor,
        )
        assert forged.prev_hash == rows[1].prev_hash  # a faithful re-computation
        conn.execute(
            text(
                "UPDATE commerce_audit_chain SET data = CAST(:d AS jsonb), hash = :h, "
                "field_digests = CAST(:f AS jsonb) WHERE tenant_id = :t AND seq = 2"
            ),
            {
                "d": json.dumps(dict(forged.data)),
                "h": forged.hash,
                "f": json.dumps(dict(forged.field_digests)),
                "t": t.tenant_id,
            },
        )
    v = (await client.get("/v1/audit/verify", headers=t.headers())).json()
    assert v["ok"] is False
    assert v["first_broken_seq"] == 3 and v["field"] == "prev_hash", v
