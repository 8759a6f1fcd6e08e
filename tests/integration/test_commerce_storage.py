"""The commerce tables under the app role: gapless numbers, guards, isolation."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from commerce.repository import CommerceRepository
from data.db import make_app_engine, make_sessionmaker, tenant_session

pytestmark = pytest.mark.asyncio


def _tenant(owner_engine, name: str = "t") -> uuid.UUID:
    with owner_engine.begin() as conn:
        return conn.execute(
            text("INSERT INTO tenants(name) VALUES (:n) RETURNING id"), {"n": name}
        ).scalar_one()


async def test_invoice_numbers_are_gapless_across_rollbacks_and_races(
    test_env, owner_engine, clean_state
) -> None:
    a, b = _tenant(owner_engine, "A"), _tenant(owner_engine, "B")
    engine = make_app_engine(test_env.settings.resolved_app_database_url(), pool_size=6)
    sm = make_sessionmaker(engine)
    try:
        async with tenant_session(sm, a) as s:
            assert await CommerceRepository(s, a).next_invoice_seq() == 1

        async def numbered_then_failed() -> None:
            async with tenant_session(sm, a) as s:
                assert await CommerceRepository(s, a).next_invoice_seq() == 2
                raise RuntimeError("placement failed after numbering")

        with pytest.raises(RuntimeError):
            await numbered_then_failed()
        async with tenant_session(sm, b) as s:  # tenants count apart
            assert await CommerceRepository(s, b).next_invoice_seq() == 1

        async def one() -> int:
            async with tenant_session(sm, a) as s:
                seq = await CommerceRepository(s, a).next_invoice_seq()
                await asyncio.sleep(0.01)  # hold the counter row a little
                return seq

        got = await asyncio.gather(*(one() for _ in range(5)))
        assert sorted(got) == [2, 3, 4, 5, 6]  # the rolled-back 2 was reused
    finally:
        await engine.dispose()


async def test_database_refuses_overpaid_invoices_and_one_sided_postings(
    test_env, owner_engine, clean_state
) -> None:
    t = _tenant(owner_engine)
    cust, order, inv, entry = (uuid.uuid4() for _ in range(4))
    with owner_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO commerce_customers(id, tenant_id, name) VALUES (:c,:t,'x')"
            ),
            {"c": cust, "t": t},
        )
        conn.execute(
            text(
                "INSERT INTO commerce_orders(id, tenant_id, customer_id, status, currency,"
                " gross_minor, discount_minor, shipping_minor, tax_minor, total_minor,"
                " ship_to, ship_to_accuracy_m) VALUES (:o,:t,:c,'placed','USD',100,0,0,"
                "0,100,'SRID=4326;POINT(-90 38)',5)"
            ),
            {"o": order, "t": t, "c": cust},
        )
        conn.execute(
            text(
                "INSERT INTO commerce_invoices(id, tenant_id, order_id, customer_id,"
                " status, currency, gross_minor, discount_minor, shipping_minor,"
                " tax_minor, total_minor) VALUES (:i,:t,:o,:c,'open','USD',100,0,0,0,100)"
            ),
            {"i": inv, "t": t, "o": order, "c": cust},
        )
        conn.execute(
            text(
                "INSERT INTO commerce_ledger_entries(id, tenant_id, event, currency,"
                " reference) VALUES (:e,:t,'x','USD','r')"
            ),
            {"e": entry, "t": t},
        )
    bad = [
        ("UPDATE commerce_invoices SET amount_paid_minor = 101", "not_overpaid"),
        (
            "INSERT INTO commerce_ledger_postings(tenant_id, entry_id, account,"
            " debit_minor, credit_minor) VALUES (:t, :e, 'cash', 5, 5)",
            "one_side",
        ),
        (
            "INSERT INTO commerce_customer_credit(tenant_id, customer_id, currency,"
            " balance_minor) VALUES (:t, :c, 'USD', -1)",
            "non_negative",
        ),
    ]
    for stmt, name in bad:
        with pytest.raises(DBAPIError, match=name), owner_engine.begin() as conn:
            conn.execute(text(stmt), {"t": t, "e": entry, "c": cust})


async def test_app_role_cannot_rewrite_the_books(
    test_env, owner_engine, clean_state
) -> None:
    t = _tenant(owner_engine)
    engine = make_app_engine(test_env.settings.resolved_app_database_url(), pool_size=2)
    sm = make_sessionmaker(engine)
    try:
        for stmt in (
            "UPDATE commerce_audit_chain SET hash = 'x'",
            "DELETE FROM commerce_ledger_postings",
            "UPDATE commerce_payments SET amount_minor = 1",
        ):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with tenant_session(sm, t) as s:
                    await s.execute(text(stmt))
    finally:
        await engine.dispose()
