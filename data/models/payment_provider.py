"""Inbound payment-provider webhooks: the per-tenant signing secret and the
provider event ids already applied (deduplication, in the payment's transaction).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, Timestamped


def _tenant_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    )


class ProviderSecret(Base):
    """The HMAC-SHA256 secret a tenant's payment provider signs webhooks with;
    the previous one stays valid after a rotation."""

    __tablename__ = "commerce_provider_secrets"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(String(200))


class ProviderEvent(Timestamped, Base):
    """A provider event id seen once; its payment (if it made one)."""

    __tablename__ = "commerce_provider_events"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
