"""Schema by migration, and tenant isolation enforced by PostgreSQL itself."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from data.db import APP_ROLE, make_app_engine, make_sessionmaker, tenant_session
from data.migrate import pending_changes
from data.models import tenant_owned_tables
from data.schema_ops import drop_partitions_before, ensure_partitions


def test_migrations_head_matches_models(test_env) -> None:
    assert pending_changes(test_env.database_url) == []


def test_every_tenant_table_has_forced_rls(owner_engine) -> None:
    tables = [*tenant_owned_tables(), "tenants"]
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity, "
                "pg_get_userbyid(relowner) FROM pg_class WHERE relname = ANY(:t) "
                "AND relkind IN ('r', 'p')"
            ),
            {"t": tables},
        ).all()
        app_role = conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname=:r"
            ),
            {"r": APP_ROLE},
        ).one()
    assert {r[0] for r in rows} == set(tables)
    for name, enabled, forced, owner in rows:
        assert enabled, name
        assert forced, name
        assert owner != APP_ROLE, name
    assert app_role == (False, False, True)  # not super, no BYPASSRLS, logs in


async def _seed_two_tenants(owner_engine) -> tuple[uuid.UUID, uuid.UUID]:
    ids = []
    with owner_engine.begin() as conn:
        for name in ("A", "B"):
            tid = conn.execute(
                text("INSERT INTO tenants(name) VALUES (:n) RETURNING id"), {"n": name}
            ).scalar_one()
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO api_keys(tenant_id, key_id, secret_sha256, scopes) "
                        "VALUES (:t, :k, 'x', '{device}')"
                    ),
                    {"t": tid, "k": f"{name}{i}{uuid.uuid4().hex[:8]}"},
                )
            conn.execute(
                text(
                    "INSERT INTO audit_log(tenant_id, actor, action, subject_type) "
                    "VALUES (:t, 'test', 'seed', 'tenant')"
                ),
                {"t": tid},
            )
            ids.append(tid)
    return ids[0], ids[1]


@pytest.mark.asyncio
async def test_session_bound_to_a_reads_none_of_bs_rows(
    test_env, owner_engine, clean_state
) -> None:
    a, b = await _seed_two_tenants(owner_engine)
    engine = make_app_engine(test_env.settings.resolved_app_database_url(), pool_size=2)
    sm = make_sessionmaker(engine)
    try:
        async with tenant_session(sm, a) as s:
            assert (await s.execute(text("SELECT current_user"))).scalar() == APP_ROLE
            for table in tenant_owned_tables():
                seen = (
                    (await s.execute(text(f"SELECT DISTINCT tenant_id FROM {table}")))
                    .scalars()
                    .all()
                )
                assert set(seen) <= {a}, table
                if table in ("api_keys", "audit_log"):  # the tables seeded above
                    assert seen == [a], table
            assert (
                await s.execute(text("SELECT id FROM tenants"))
            ).scalars().all() == [a]
            # Writes into B are refused by the policy's WITH CHECK.
            with pytest.raises(DBAPIError, match="row-level security"):
                await s.execute(
                    text(
                        "INSERT INTO api_keys(tenant_id, key_id, secret_sha256, scopes) "
                        "VALUES (:t, 'evil', 'x', '{admin}')"
                    ),
                    {"t": b},
                )
        async with tenant_session(sm, a) as s:
            # Updates and deletes aimed at B's rows touch nothing.
            res = await s.execute(
                text("DELETE FROM api_keys WHERE tenant_id = :t"), {"t": b}
            )
            assert res.rowcount == 0
        # A transaction that names no tenant sees no tenant rows at all.
        async with sm() as s, s.begin():
            for table in [*tenant_owned_tables(), "tenants"]:
                assert (
                    await s.execute(text(f"SELECT count(*) FROM {table}"))
                ).scalar() == 0
            # ... and no SQL can switch to the owner to escape.
            await s.execute(text("RESET ROLE"))
            assert (await s.execute(text("SELECT current_user"))).scalar() == APP_ROLE
            assert (
                await s.execute(text("SELECT count(*) FROM api_keys"))
            ).scalar() == 0
        owner = make_url(test_env.database_url).username
        async with sm() as s, s.begin():
            with pytest.raises(DBAPIError, match="permission denied"):
                await s.execute(text(f"SET SESSION AUTHORIZATION {owner}"))
    finally:
        await engine.dispose()
    with owner_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM api_keys WHERE tenant_id=:t"), {"t": b}
            ).scalar()
            == 3
        )


@pytest.mark.asyncio
async def test_audit_log_is_append_only(owner_engine, clean_state) -> None:
    await _seed_two_tenants(owner_engine)
    for stmt in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            owner_engine.begin() as conn,
        ):
            conn.execute(text(stmt))


def test_audit_log_is_partitioned_by_month(owner_engine) -> None:
    from datetime import date

    with owner_engine.begin() as conn:
        kind = conn.execute(
            text(
                "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname = 'audit_log'"
            )
        ).scalar()
        assert kind == "r"
        created = ensure_partitions(
            conn, "audit_log", "month", ahead=1, behind=0, today=date(2031, 1, 15)
        )
        assert created == ["audit_log_p203101", "audit_log_p203102"]
        assert (
            ensure_partitions(
                conn, "audit_log", "month", ahead=1, behind=0, today=date(2031, 1, 15)
            )
            == []
        )
        dropped = drop_partitions_before(conn, "audit_log", date(2031, 2, 1))
        assert "audit_log_p203101" in dropped
        assert "audit_log_p203102" not in dropped
        conn.execute(text("DROP TABLE audit_log_p203102"))


def test_maintenance_drops_expired_ping_partitions(test_env, owner_engine) -> None:
    from datetime import date

    from data.maintenance import maintain

    with owner_engine.begin() as conn:
        ensure_partitions(
            conn, "pings", "day", ahead=0, behind=0, today=date(2020, 1, 1)
        )
    out = maintain(test_env.database_url, {"pings": 30}, today=date(2020, 3, 1))
    assert any("pings_p20200101" in line for line in out)
    with owner_engine.connect() as conn:
        names = (
            conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relname LIKE 'pings_p2020%' AND relkind = 'r'"
                )
            )
            .scalars()
            .all()
        )
        assert "pings_p20200101" not in names
        for name in names:  # partitions maintain() created around 2020-03-01
            conn.execute(text(f"DROP TABLE {name}"))
        conn.commit()
    with pytest.raises(ValueError, match="cannot expire"):
        maintain(test_env.database_url, {"audit_log": 1})
