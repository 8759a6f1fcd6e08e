"""Geofences, device consent, pings and geofence events (RLS; pings/events by day).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:25:02.167496
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

from data.schema_ops import enable_tenant_rls, ensure_partitions

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "geofence_events",
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("fence_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lng", sa.Double(), nullable=True),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", "ts", name=op.f("pk_geofence_events")),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index(
        "ix_geofence_events_tenant_device",
        "geofence_events",
        ["tenant_id", "device_id", "ts"],
        unique=False,
    )
    op.create_index(
        "ix_geofence_events_tenant_fence",
        "geofence_events",
        ["tenant_id", "fence_id", "ts"],
        unique=False,
    )
    op.create_table(
        "pings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lng", sa.Double(), nullable=True),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("h3_cell", sa.BigInteger(), nullable=True),
        sa.Column("fused_lat", sa.Double(), nullable=True),
        sa.Column("fused_lng", sa.Double(), nullable=True),
        sa.Column("fused_accuracy_m", sa.Double(), nullable=True),
        sa.Column("sources", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", "ts", name=op.f("pk_pings")),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index(
        "ix_pings_tenant_device_ts",
        "pings",
        ["tenant_id", "device_id", "ts"],
        unique=False,
    )
    op.create_table(
        "device_consents",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("location", sa.Boolean(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_consents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "device_id", name=op.f("pk_device_consents")
        ),
    )
    op.create_geospatial_table(
        "geofences",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "geometry",
            Geography(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("center_lat", sa.Double(), nullable=True),
        sa.Column("center_lng", sa.Double(), nullable=True),
        sa.Column("radius_m", sa.Double(), nullable=True),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
        sa.Column("dwell_s", sa.Integer(), nullable=True),
        sa.Column(
            "active", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
            name=op.f("fk_geofences_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geofences")),
    )
    op.create_geospatial_index(
        "idx_geofences_geometry",
        "geofences",
        ["geometry"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_geofences_tenant_id"), "geofences", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_geofences_tenant_tag", "geofences", ["tenant_id", "tag"], unique=False
    )
    op.create_index(
        "uq_geofences_tenant_external_id",
        "geofences",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    conn = op.get_bind()
    ensure_partitions(conn, "pings", "day", ahead=7, behind=1)
    ensure_partitions(conn, "geofence_events", "day", ahead=7, behind=1)
    enable_tenant_rls(conn, "geofences")
    enable_tenant_rls(conn, "device_consents")
    enable_tenant_rls(conn, "pings", privileges="SELECT, INSERT, DELETE")
    enable_tenant_rls(conn, "geofence_events", privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_index(
        "uq_geofences_tenant_external_id",
        table_name="geofences",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_geofences_tenant_tag", table_name="geofences")
    op.drop_index(op.f("ix_geofences_tenant_id"), table_name="geofences")
    op.drop_geospatial_index(
        "idx_geofences_geometry",
        table_name="geofences",
        postgresql_using="gist",
        column_name="geometry",
    )
    op.drop_geospatial_table("geofences")
    op.drop_table("device_consents")
    op.drop_index("ix_pings_tenant_device_ts", table_name="pings")
    op.drop_table("pings")
    op.drop_index("ix_geofence_events_tenant_fence", table_name="geofence_events")
    op.drop_index("ix_geofence_events_tenant_device", table_name="geofence_events")
    op.drop_table("geofence_events")
