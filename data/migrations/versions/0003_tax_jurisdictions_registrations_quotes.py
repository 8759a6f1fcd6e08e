"""Tax jurisdictions (global, read-only for the app), registrations, quotes, reversals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:50:54.384040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from data.db import APP_ROLE
from data.schema_ops import enable_tenant_rls

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "jurisdictions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column(
            "geometry",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("vintage", sa.String(length=50), nullable=False),
        sa.Column("boundary_error_m", sa.Double(), nullable=False),
        sa.Column("credit", sa.String(length=300), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdictions")),
        sa.UniqueConstraint("source", "code", name="uq_jurisdictions_source_code"),
    )
    op.create_geospatial_index(
        "idx_jurisdictions_geometry",
        "jurisdictions",
        ["geometry"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_jurisdictions_code"), "jurisdictions", ["code"], unique=False
    )
    op.create_table(
        "tax_quotes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tax_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tax_quotes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_quotes")),
    )
    op.create_index(
        "ix_tax_quotes_tenant_committed",
        "tax_quotes",
        ["tenant_id", "tax_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tax_quotes_tenant_id"), "tax_quotes", ["tenant_id"], unique=False
    )
    op.create_table(
        "tax_registrations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=20), nullable=False),
        sa.Column("registration_id", sa.String(length=100), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tax_registrations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_registrations")),
        sa.UniqueConstraint(
            "tenant_id",
            "jurisdiction_code",
            "registration_id",
            name="uq_tax_registrations_tenant_code_reg",
        ),
    )
    op.create_index(
        op.f("ix_tax_registrations_tenant_id"),
        "tax_registrations",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "tax_reversals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("quote_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tax_date", sa.Date(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["tax_quotes.id"],
            name=op.f("fk_tax_reversals_quote_id_tax_quotes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tax_reversals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_reversals")),
    )
    op.create_index(
        op.f("ix_tax_reversals_quote_id"), "tax_reversals", ["quote_id"], unique=False
    )
    op.create_index(
        op.f("ix_tax_reversals_tenant_id"), "tax_reversals", ["tenant_id"], unique=False
    )
    conn = op.get_bind()
    op.execute(f"GRANT SELECT ON jurisdictions TO {APP_ROLE}")
    enable_tenant_rls(conn, "tax_registrations")
    enable_tenant_rls(conn, "tax_quotes", privileges="SELECT, INSERT, UPDATE")
    enable_tenant_rls(conn, "tax_reversals", privileges="SELECT, INSERT")


def downgrade() -> None:
    op.drop_index(op.f("ix_tax_reversals_tenant_id"), table_name="tax_reversals")
    op.drop_index(op.f("ix_tax_reversals_quote_id"), table_name="tax_reversals")
    op.drop_table("tax_reversals")
    op.drop_index(
        op.f("ix_tax_registrations_tenant_id"), table_name="tax_registrations"
    )
    op.drop_table("tax_registrations")
    op.drop_index(op.f("ix_tax_quotes_tenant_id"), table_name="tax_quotes")
    op.drop_index("ix_tax_quotes_tenant_committed", table_name="tax_quotes")
    op.drop_table("tax_quotes")
    op.drop_index(op.f("ix_jurisdictions_code"), table_name="jurisdictions")
    op.drop_geospatial_index(
        "idx_jurisdictions_geometry",
        table_name="jurisdictions",
        postgresql_using="gist",
        column_name="geometry",
    )
    op.drop_geospatial_table("jurisdictions")
