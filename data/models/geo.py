"""Geofences, device consent, stored pings and geofence events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, TenantOwned, Timestamped


class Geofence(TenantOwned, Timestamped, Base):
    """A merchant's fence; the geometry is the source of truth for every index."""

    __tablename__ = "geofences"
    __table_args__ = (
        Index(
            "uq_geofences_tenant_external_id",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_geofences_tenant_tag", "tenant_id", "tag"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    tag: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    geometry: Mapped[Any] = mapped_column(
        Geography("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
    center_lat: Mapped[float | None] = mapped_column(Double)
    center_lng: Mapped[float | None] = mapped_column(Double)
    radius_m: Mapped[float | None] = mapped_column(Double)
    area_m2: Mapped[float] = mapped_column(Double, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    dwell_s: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class DeviceConsent(Base):
    """What a device's user agreed to, per tenant (location and marketing apart)."""

    __tablename__ = "device_consents"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    )
    device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[bool] = mapped_column(Boolean, nullable=False)
    marketing: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Ping(Base):
    """Stored pings, partitioned by day; expired partitions are dropped whole.

    ``lat``/``lng`` are NULL when the tenant stores only the H3 cell (res 9).
    """

    __tablename__ = "pings"
    __table_args__ = (
        Index("ix_pings_tenant_device_ts", "tenant_id", "device_id", "ts"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    device_id: Mapped[str] = mapped_column(String(200), nullable=False)
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    h3_cell: Mapped[int | None] = mapped_column(BigInteger)
    fused_lat: Mapped[float | None] = mapped_column(Double)
    fused_lng: Mapped[float | None] = mapped_column(Double)
    fused_accuracy_m: Mapped[float | None] = mapped_column(Double)
    sources: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)


class GeofenceEvent(Base):
    """enter/exit/dwell events, partitioned by day; idempotent on ``event_id``."""

    __tablename__ = "geofence_events"
    __table_args__ = (
        Index("ix_geofence_events_tenant_device", "tenant_id", "device_id", "ts"),
        Index("ix_geofence_events_tenant_fence", "tenant_id", "fence_id", "ts"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    event_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    device_id: Mapped[str] = mapped_column(String(200), nullable=False)
    fence_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    probability: Mapped[float] = mapped_column(Double, nullable=False)
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    accuracy_m: Mapped[float | None] = mapped_column(Double)
