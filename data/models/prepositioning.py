"""Warehouse pre-positioning: warehouses, their stock per SKU, plan runs, transfers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, TenantOwned, Timestamped


class Warehouse(TenantOwned, Timestamped, Base):
    """A stocking location: where, how much it holds and its delivery promise
    (a great-circle radius, given as such or derived from a driving time)."""

    __tablename__ = "warehouses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_warehouses_tenant_code"),
        CheckConstraint("capacity_units >= 0", name="capacity_non_negative"),
        CheckConstraint("promise_radius_m > 0", name="promise_radius_positive"),
        CheckConstraint("outbound_cost_per_km_minor >= 0", name="cost_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    location: Mapped[Any] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=True), nullable=False
    )
    capacity_units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    outbound_cost_per_km_minor: Mapped[Decimal] = mapped_column(
        Numeric(14, 4), nullable=False
    )
    promise_radius_m: Mapped[float] = mapped_column(Double, nullable=False)
    #: the promise as given in driving seconds (the radius is derived from it)
    promise_travel_s: Mapped[int | None] = mapped_column(Integer)


class WarehouseStock(TenantOwned, Base):
    """Units on hand of one SKU in one warehouse."""

    __tablename__ = "warehouse_stock"
    __table_args__ = (CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),)

    warehouse_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("warehouses.id", ondelete="CASCADE"),
        primary_key=True,
    )
    sku: Mapped[str] = mapped_column(String(100), primary_key=True)
    on_hand: Mapped[int] = mapped_column(BigInteger, nullable=False)


class PrepositioningPlan(TenantOwned, Base):
    """One pre-positioning run (``queued`` -> ``running`` -> ``done``|``failed``).

    ``result`` holds targets, metrics and backtests; ``forecast_cells`` the
    forecast units per H3 cell (for the GeoJSON map).
    """

    __tablename__ = "prepositioning_plans"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    forecast_cells: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    transfer_cost_minor: Mapped[int | None] = mapped_column(BigInteger)


class PrepositioningTransfer(TenantOwned, Base):
    """One transfer order of a plan: units of a SKU from one warehouse to another."""

    __tablename__ = "prepositioning_transfers"
    __table_args__ = (CheckConstraint("units > 0", name="units_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("prepositioning_plans.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    from_warehouse_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("warehouses.id", ondelete="CASCADE"),
        nullable=False,
    )
    to_warehouse_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("warehouses.id", ondelete="CASCADE"),
        nullable=False,
    )
    sku: Mapped[str] = mapped_column(String(100), nullable=False)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    distance_m: Mapped[float] = mapped_column(Double, nullable=False)
    cost_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
