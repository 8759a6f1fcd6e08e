"""Inbound payment-provider webhooks, as pure functions: parse and check an event.

A provider (Stripe-like) calls us when a charge succeeds or fails. The body is
JSON, signed like our own outgoing webhooks (:mod:`commerce.webhooks`): the
header ``t=<unix s>,v1=<hex HMAC-SHA256 of "t." + body>`` with the tenant's
provider secret, and a timestamp tolerance against replays of old deliveries.
Providers deliver at least once, so the same event id can arrive twice, or
twice at once; the service records the id in the payment's own transaction and
applies each event once.

Event shape::

    {"id": "evt_123", "type": "payment_succeeded", "created": 1763887000,
     "data": {"payment_id": "ch_9", "customer_id": "<uuid>", "currency": "USD",
              "amount_minor": 1250, "invoice_id": "<uuid>" (optional),
              "token": "tok_x" (optional), "last4": "4242" (optional)}}

``type`` ``payment_succeeded`` records a payment (applied to ``invoice_id`` up
to what remains on it, or oldest due first; the rest becomes customer credit);
``payment_failed`` records a failed attempt (payment success rate); any other
type is acknowledged and ignored, so the provider stops retrying it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commerce.errors import InvalidDocumentError, WebhookSignatureError
from commerce.money import currency_exponent, parse_minor
from commerce.webhooks import DEFAULT_TOLERANCE_S, verify

SIGNATURE_HEADER = "Webhook-Signature"
MAX_BODY_BYTES = 64 * 1024
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,255}")


class ProviderEventType(StrEnum):
    """What an inbound event asks us to do."""

    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    OTHER = "other"


@dataclass(frozen=True)
class ProviderPayment:
    """The payment an event describes (amount in minor units)."""

    provider_payment_id: str
    customer_id: uuid.UUID
    currency: str
    amount_minor: int
    invoice_id: uuid.UUID | None = None
    token: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """A verified inbound event; ``payment`` is None for types we ignore."""

    event_id: str
    event_type: str
    kind: ProviderEventType
    payment: ProviderPayment | None


def _str(data: dict[str, Any], key: str, field: str, max_len: int = 200) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidDocumentError(field, f"must be a string of 1-{max_len} characters")
    return value


def _uuid(value: object, field: str) -> uuid.UUID:
    try:
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise InvalidDocumentError(field, "must be a UUID")


def _optional(data: dict[str, Any], key: str, field: str) -> str | None:
    if data.get(key) is None:
        return None
    return _str(data, key, field)


def parse_provider_event(body: bytes) -> ProviderEvent:
    """Parse a provider event body (already signature-checked).

    Raises
    ------
    InvalidDocumentError
        Naming the field (``data.amount_minor: ...``).
    InvalidAmountError, UnknownCurrencyError
        For a bad amount or currency, named likewise.

    Examples
    --------
    >>> e = parse_provider_event(b'{"id": "evt_1", "type": "refund_created"}')
    >>> e.kind, e.payment
    (<ProviderEventType.OTHER: 'other'>, None)
    """
    if len(body) > MAX_BODY_BYTES:
        raise InvalidDocumentError("body", f"at most {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidDocumentError("body", "must be a JSON object") from None
    if not isinstance(doc, dict):
        raise InvalidDocumentError("body", "must be a JSON object")
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidDocumentError("id", "must be 1-255 printable ASCII characters")
    event_type = _str(doc, "type", "type", 100)
    try:
        kind = ProviderEventType(event_type)
    except ValueError:
        kind = ProviderEventType.OTHER
    if kind is ProviderEventType.OTHER:
        return ProviderEvent(event_id, event_type, kind, None)
    data = doc.get("data")
    if not isinstance(data, dict):
        raise InvalidDocumentError("data", "must be an object")
    currency = data.get("currency")
    currency_exponent(currency, "data.currency")
    last4 = _optional(data, "last4", "data.last4")
    if last4 is not None and not (len(last4) == 4 and last4.isdigit()):
        raise InvalidDocumentError("data.last4", "must be exactly four digits")
    invoice = data.get("invoice_id")
    payment = ProviderPayment(
        _str(data, "payment_id", "data.payment_id"),
        _uuid(data.get("customer_id"), "data.customer_id"),
        str(currency),
        parse_minor(data.get("amount_minor"), "data.amount_minor", allow_zero=False),
        None if invoice is None else _uuid(invoice, "data.invoice_id"),
        _optional(data, "token", "data.token"),
        last4,
    )
    return ProviderEvent(event_id, event_type, kind, payment)


def verify_provider_event(
    secrets: Sequence[str],
    body: bytes,
    header: str | None,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> ProviderEvent:
    """Check the signature (any current or previous secret), then parse.

    Raises
    ------
    WebhookSignatureError
        No secret configured, no or malformed header, stale timestamp, no match.
    """
    if not secrets:
        raise WebhookSignatureError("no payment-provider secret is configured")
    if not header:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} header is missing")
    verify([s.encode() for s in secrets], body, header, now_s, tolerance_s)
    return parse_provider_event(body)
