"""Proximity offers: campaigns, issued codes, decisions, signing keys, device links.

PostGIS is the source of truth; the Redis cap and budget counters are rebuilt
from ``offers`` whenever Redis has lost them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, TenantOwned, Timestamped


class OfferCampaign(TenantOwned, Timestamped, Base):
    """A campaign; ``spec`` is its validated JSON definition."""

    __tablename__ = "offer_campaigns"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class OfferSettings(Base):
    """Per tenant: the code-signing secret and the global per-device caps."""

    __tablename__ = "offer_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    )
    key_version: Mapped[int] = mapped_column(Integer, nullable=False)
    secret: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    device_cap_per_day: Mapped[int | None] = mapped_column(Integer)
    device_cap_per_week: Mapped[int | None] = mapped_column(Integer)


class DeviceCustomer(Base):
    """Which commerce customer a device belongs to (for audience rules)."""

    __tablename__ = "offer_device_customers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    )
    device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_customers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


class Offer(TenantOwned, Base):
    """An issued single-use code; redeemed in the same transaction as its order."""

    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_tenant_campaign", "tenant_id", "campaign_id"),
        Index("ix_offers_tenant_device_issued", "tenant_id", "device_id", "issued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("offer_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    )
    device_id: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fence_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    value_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    discount_minor: Mapped[int | None] = mapped_column(BigInteger)


class OfferDecision(TenantOwned, Base):
    """A per-device ``holdout`` decision (the lift's control group; the offered
    group is the ``offers`` table)."""

    __tablename__ = "offer_decisions"
    __table_args__ = (
        Index("ix_offer_decisions_tenant_campaign", "tenant_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("offer_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    )
    device_id: Mapped[str] = mapped_column(String(200), nullable=False)
    fence_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    outcome: Mapped[str] = mapped_column(String(30), nullable=False)
    offer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class OfferOutcomeCount(TenantOwned, Base):
    """How many (trigger, campaign) pairs of one batch were suppressed, by reason.

    Issued and holdout decisions are kept per device in ``offer_decisions``
    (caps and lift need the device); other suppressions only as counts, one
    row per (batch, campaign, reason), so that a batch writes a few rows, not
    hundreds.
    """

    __tablename__ = "offer_outcome_counts"
    __table_args__ = (
        Index("ix_offer_outcome_counts_tenant_campaign", "tenant_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("offer_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    )
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    outcome: Mapped[str] = mapped_column(String(30), nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
