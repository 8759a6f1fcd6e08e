"""SQL building blocks used by migrations: the app role, RLS, append-only, partitions.

Kept as plain functions over a SQLAlchemy connection (``op.get_bind()`` in a
migration) so that later migrations reuse them for every new table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from data.db import APP_ROLE

TENANT_GUC = "app.tenant_id"
CURRENT_TENANT = f"NULLIF(current_setting('{TENANT_GUC}', true), '')::uuid"


def create_app_role(conn: Connection) -> None:
    """Create ``geocommerce_app``: owns nothing, no superuser, cannot bypass RLS.

    It gets its password from ``set_app_password`` (``geocommerce db upgrade``).
    """
    conn.execute(
        text(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
              NOBYPASSRLS;
          END IF;
        END $$;
    """)
    )
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))


def set_app_password(conn: Connection, password: str) -> None:
    """Let the app role log in with ``password`` (role passwords are cluster-wide)."""
    literal = "'" + password.replace("'", "''") + "'"
    conn.execute(text(f"ALTER ROLE {APP_ROLE} WITH LOGIN PASSWORD {literal}"))


def enable_tenant_rls(
    conn: Connection,
    table: str,
    column: str = "tenant_id",
    privileges: str = "SELECT, INSERT, UPDATE, DELETE",
) -> None:
    """Forced RLS on ``table``: the app role sees only the bound tenant's rows.

    The schema owner (migrations, administration) gets an explicit allow-all
    policy, so FORCE applies to it without locking it out.
    """
    conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
    conn.execute(text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
    conn.execute(
        text(
            f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
            f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
        )
    )
    conn.execute(
        text(
            f"CREATE POLICY owner_all ON {table} TO CURRENT_USER USING (true) "
            "WITH CHECK (true)"
        )
    )
    conn.execute(text(f"GRANT {privileges} ON {table} TO {APP_ROLE}"))


def make_append_only(conn: Connection, table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` for everyone (partitions are dropped)."""
    conn.execute(
        text("""
        CREATE OR REPLACE FUNCTION geocommerce_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    )
    conn.execute(
        text(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION geocommerce_refuse_change()"
        )
    )


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def ensure_partitions(
    conn: Connection,
    table: str,
    granularity: str = "month",
    ahead: int = 2,
    behind: int = 1,
    today: date | None = None,
) -> list[str]:
    """Create the range partitions of ``table`` around ``today`` and a default one.

    ``granularity`` is ``"month"`` (``table_pYYYYMM``) or ``"day"``
    (``table_pYYYYMMDD``). Returns the partitions created.
    """
    today = today or datetime.now(UTC).date()
    created = []
    if granularity == "month":
        start = _month_start(today)
        for _ in range(behind):
            start = _month_start(start - timedelta(days=1))
        bounds = []
        cur = start
        for _ in range(behind + ahead + 1):
            bounds.append((cur, _next_month(cur), f"{table}_p{cur:%Y%m}"))
            cur = _next_month(cur)
    elif granularity == "day":
        bounds = [
            (d, d + timedelta(days=1), f"{table}_p{d:%Y%m%d}")
            for d in (today + timedelta(days=i) for i in range(-behind, ahead + 1))
        ]
    else:
        raise ValueError(f"granularity must be 'month' or 'day', not {granularity!r}")
    existing = set(_partitions(conn, table))
    for lo, hi, name in bounds:
        if name not in existing:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                )
            )
            created.append(name)
    if f"{table}_pdefault" not in existing:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {table}_pdefault PARTITION OF {table} DEFAULT"
            )
        )
    return created


def drop_partitions_before(conn: Connection, table: str, before: date) -> list[str]:
    """Drop whole partitions of ``table`` that end on or before ``before`` (retention)."""
    dropped = []
    for name, upper in _partition_bounds(conn, table):
        if upper is not None and upper <= before:
            conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped


def _partitions(conn: Connection, table: str) -> list[str]:
    rows = conn.execute(
        text("""
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t
    """),
        {"t": table},
    )
    return [r[0] for r in rows]


def _partition_bounds(conn: Connection, table: str) -> list[tuple[str, date | None]]:
    rows = conn.execute(
        text("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t
    """),
        {"t": table},
    )
    out: list[tuple[str, date | None]] = []
    for name, expr in rows:
        upper = None
        if expr and "TO ('" in expr:
            upper = date.fromisoformat(expr.split("TO ('")[1][:10])
        out.append((name, upper))
    return out
