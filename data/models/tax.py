"""Tax jurisdictions (global reference data) and each tenant's registrations,
quotes and reversals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, TenantOwned


class Jurisdiction(Base):
    """A taxing jurisdiction's boundary from one source (not tenant-owned)."""

    __tablename__ = "jurisdictions"
    __table_args__ = (
        UniqueConstraint("source", "code", name="uq_jurisdictions_source_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(50), nullable=False)
    code: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(20))
    geometry: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True
    )
    vintage: Mapped[str] = mapped_column(String(50), nullable=False)
    boundary_error_m: Mapped[float] = mapped_column(Double, nullable=False)
    credit: Mapped[str] = mapped_column(String(300), nullable=False)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class TaxRegistration(TenantOwned, Base):
    """Where a tenant is registered to collect tax (nexus)."""

    __tablename__ = "tax_registrations"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "jurisdiction_code",
            "registration_id",
            name="uq_tax_registrations_tenant_code_reg",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4
    )
    jurisdiction_code: Mapped[str] = mapped_column(String(20), nullable=False)
    registration_id: Mapped[str] = mapped_column(String(100), nullable=False)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class TaxQuote(TenantOwned, Base):
    """A computed quote, kept as computed; committed to an order it counts."""

    __tablename__ = "tax_quotes"
    __table_args__ = (Index("ix_tax_quotes_tenant_committed", "tenant_id", "tax_date"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False
    )
    tax_date: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(100))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaxReversal(TenantOwned, Base):
    """A full or partial reversal of a committed quote, at its original tax date."""

    __tablename__ = "tax_reversals"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4
    )
    quote_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tax_quotes.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    tax_date: Mapped[date] = mapped_column(Date, nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
