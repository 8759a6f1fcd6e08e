"""Schemas of inbound payment-provider webhooks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import RequestModel
from commerce.provider_service import ProviderOutcome


class ProviderSecretIn(RequestModel):
    secret: str = Field(min_length=16, max_length=200)


def outcome_document(o: ProviderOutcome) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": o.event_id,
        "status": o.status,
        "payment_id": o.payment_id,
    }
    if o.result is not None:
        doc["applications"] = [
            {"invoice_id": a.invoice_id, "amount_minor": a.amount_minor}
            for a in o.result.allocation.applications
        ]
        doc["credit_minor"] = o.result.allocation.credit_minor
    return doc
