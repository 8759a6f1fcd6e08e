"""Inbound payment-provider webhooks (RLS): signing secrets and seen event ids.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.schema_ops import enable_tenant_rls

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commerce_provider_secrets",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("previous_secret", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_commerce_provider_secrets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_commerce_provider_secrets")),
    )
    op.create_table(
        "commerce_provider_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_commerce_provider_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "event_id", name=op.f("pk_commerce_provider_events")
        ),
    )
    conn = op.get_bind()
    enable_tenant_rls(conn, "commerce_provider_secrets")
    enable_tenant_rls(
        conn, "commerce_provider_events", privileges="SELECT, INSERT, UPDATE"
    )


def downgrade() -> None:
    op.drop_table("commerce_provider_events")
    op.drop_table("commerce_provider_secrets")
