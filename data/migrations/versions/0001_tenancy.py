"""Tenants, API keys, the append-only audit log; the app role and row-level security.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data.db import APP_ROLE
from data.schema_ops import (
    create_app_role,
    enable_tenant_rls,
    ensure_partitions,
    make_append_only,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    create_app_role(conn)

    op.create_table(
        "tenants",
        sa.Column(
            "id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "api_keys",
        sa.Column(
            "id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject_type", sa.String(length=100), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_audit_log")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(
        "ix_audit_log_tenant_time", "audit_log", ["tenant_id", "occurred_at"]
    )
    ensure_partitions(conn, "audit_log", "month", ahead=3, behind=1)

    enable_tenant_rls(conn, "tenants", column="id", privileges="SELECT, UPDATE")
    enable_tenant_rls(conn, "api_keys")
    enable_tenant_rls(conn, "audit_log", privileges="SELECT, INSERT")
    make_append_only(conn, "audit_log")

    # The key lookup runs before a tenant is known: a narrow SECURITY DEFINER
    # function is the app role's only way to read a key it is not bound to.
    op.execute(f"""
        CREATE FUNCTION geocommerce_lookup_api_key(p_key_id text)
        RETURNS TABLE (id uuid, tenant_id uuid, secret_sha256 text, scopes text[],
                       revoked boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
          SELECT k.id, k.tenant_id, k.secret_sha256, k.scopes, k.revoked_at IS NOT NULL
          FROM api_keys k WHERE k.key_id = p_key_id
        $$;
        REVOKE ALL ON FUNCTION geocommerce_lookup_api_key(text) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION geocommerce_lookup_api_key(text) TO {APP_ROLE};
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS geocommerce_lookup_api_key(text)")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_table("tenants")
