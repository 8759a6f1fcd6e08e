"""Route plans (RLS): request, status, result and route lines.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23 07:30:09.429701
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from data.schema_ops import enable_tenant_rls

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "route_plans",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("vehicles_used", sa.Integer(), nullable=True),
        sa.Column(
            "routes",
            Geometry(
                geometry_type="MULTILINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_route_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_plans")),
    )
    op.create_geospatial_index(
        "idx_route_plans_routes",
        "route_plans",
        ["routes"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_route_plans_tenant_id"), "route_plans", ["tenant_id"], unique=False
    )
    enable_tenant_rls(op.get_bind(), "route_plans")


def downgrade() -> None:
    op.drop_index(op.f("ix_route_plans_tenant_id"), table_name="route_plans")
    op.drop_geospatial_index(
        "idx_route_plans_routes",
        table_name="route_plans",
        postgresql_using="gist",
        column_name="routes",
    )
    op.drop_geospatial_table("route_plans")
