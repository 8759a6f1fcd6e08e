from __future__ import annotations

import json
import uuid

import pytest

from commerce.errors import (
    InvalidAmountError,
    InvalidDocumentError,
    UnknownCurrencyError,
    WebhookSignatureError,
)
from commerce.provider_events import (
    ProviderEventType,
    parse_provider_event,
    verify_provider_event,
)
from commerce.webhooks import sign

CUST = "6b1f3d2e-6c0a-4f4e-9a51-2f1d8c7e9b10"
NOW = 1_763_900_000


def body(**data: object) -> bytes:
    doc = {
        "id": "evt_1",
        "type": "payment_succeeded",
        "data": {
            "payment_id": "ch_1",
            "customer_id": CUST,
            "currency": "KWD",
            "amount_minor": 1234,
            **data,
        },
    }
    return json.dumps(doc).encode()


class TestParse:
    def test_payment_succeeded(self) -> None:
        e = parse_provider_event(body(invoice_id=CUST, last4="4242"))
        assert e.kind is ProviderEventType.PAYMENT_SUCCEEDED
        assert e.payment is not None
        assert (e.payment.amount_minor, e.payment.currency) == (1234, "KWD")
        assert e.payment.invoice_id == uuid.UUID(CUST)

    def test_unknown_types_carry_no_payment(self) -> None:
        e = parse_provider_event(b'{"id": "evt_2", "type": "payout.paid"}')
        assert e.kind is ProviderEventType.OTHER and e.payment is None

    @pytest.mark.parametrize(
        ("raw", "error", "field"),
        [
            (body(amount_minor=12.5), InvalidAmountError, "data.amount_minor"),
            (body(amount_minor=-1), InvalidAmountError, "data.amount_minor"),
            (body(amount_minor=0), InvalidAmountError, "data.amount_minor"),
            (body(currency="ABC"), UnknownCurrencyError, "data.currency"),
            (body(customer_id="x"), InvalidDocumentError, "data.customer_id"),
            (body(invoice_id=7), InvalidDocumentError, "data.invoice_id"),
            (body(last4="12"), InvalidDocumentError, "data.last4"),
            (body(payment_id=""), InvalidDocumentError, "data.payment_id"),
            (b'{"id": "", "type": "payment_failed"}', InvalidDocumentError, "id"),
            (b'{"id": "e", "type": "payment_failed"}', InvalidDocumentError, "data"),
            (b"[]", InvalidDocumentError, "body"),
            (b"\xff", InvalidDocumentError, "body"),
        ],
    )
    def test_errors_name_the_field(self, raw: bytes, error: type, field: str) -> None:
        with pytest.raises(error) as info:
            parse_provider_event(raw)
        assert info.value.field == field


class TestVerify:
    def test_current_or_previous_secret(self) -> None:
        raw = body()
        for secret in ("new-secret-0123456789", "old-secret-0123456789"):
            header = sign(secret.encode(), raw, NOW)
            event = verify_provider_event(
                ["new-secret-0123456789", "old-secret-0123456789"], raw, header, NOW
            )
            assert event.event_id == "evt_1"

    @pytest.mark.parametrize(
        ("secrets", "header", "now"),
        [
            ([], "t=1,v1=00", NOW),  # nothing configured
            (["s" * 16], None, NOW),  # unsigned
            (["s" * 16], "garbage", NOW),
            (["s" * 16], sign(b"t" * 16, body(), NOW), NOW),  # other secret
            (["s" * 16], sign(b"s" * 16, body(), NOW), NOW + 301),  # stale
            (["s" * 16], sign(b"s" * 16, body() + b" ", NOW), NOW),  # other body
        ],
        ids=["no-secret", "unsigned", "garbage", "other-secret", "stale", "other-body"],
    )
    def test_refused(self, secrets: list[str], header: str | None, now: int) -> None:
        with pytest.raises(WebhookSignatureError):
            verify_provider_event(secrets, body(), header, now)

    def test_signature_is_checked_before_the_body_is_read(self) -> None:
        with pytest.raises(WebhookSignatureError):
            verify_provider_event(["s" * 16], b"not json", "t=1,v1=00", NOW)
