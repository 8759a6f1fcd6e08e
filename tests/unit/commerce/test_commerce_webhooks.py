from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.errors import InvalidDocumentError, WebhookSignatureError
from commerce.webhooks import (
    Delivery,
    DeliveryStatus,
    RetryParams,
    backoff_schedule,
    parse_signature_header,
    record_attempt,
    retry_delay_s,
    sign,
    verify,
)

BODY = b'{"type":"invoice.paid","id":"evt_1"}'
NOW = 1_800_000_000


class TestSignatures:
    def test_round_trip(self) -> None:
        h = sign(b"secret", BODY, NOW)
        assert h.startswith(f"t={NOW},v1=")
        assert verify([b"secret"], BODY, h, NOW + 10) == NOW

    def test_known_vector(self) -> None:
        import hashlib
        import hmac

        expected = hmac.new(
            b"secret", f"{NOW}.".encode() + BODY, hashlib.sha256
        ).hexdigest()
        assert sign(b"secret", BODY, NOW) == f"t={NOW},v1={expected}"

    @pytest.mark.parametrize(
        "mutate",
        [lambda b: b + b" ", lambda b: b.replace(b"paid", b"void"), lambda b: b[:-1]],
    )
    def test_altered_body_fails(self, mutate) -> None:  # type: ignore[no-untyped-def]
        h = sign(b"secret", BODY, NOW)
        with pytest.raises(WebhookSignatureError, match="no signature matches"):
            verify([b"secret"], mutate(BODY), h, NOW)

    def test_wrong_secret_and_rotation(self) -> None:
        h = sign(b"old", BODY, NOW)
        with pytest.raises(WebhookSignatureError):
            verify([b"new"], BODY, h, NOW)
        assert verify([b"new", b"old"], BODY, h, NOW) == NOW
        both = h + "," + sign(b"new", BODY, NOW).split(",")[1]
        assert verify([b"new"], BODY, both, NOW) == NOW

    @pytest.mark.parametrize("delta", [301, -301, 10**6])
    def test_tolerance(self, delta: int) -> None:
        h = sign(b"s", BODY, NOW)
        with pytest.raises(WebhookSignatureError, match="tolerance"):
            verify([b"s"], BODY, h, NOW + delta)
        assert verify([b"s"], BODY, h, NOW + delta, tolerance_s=abs(delta)) == NOW

    def test_timestamp_is_signed(self) -> None:
        h = sign(b"s", BODY, NOW).replace(f"t={NOW}", f"t={NOW + 100}")
        with pytest.raises(WebhookSignatureError, match="no signature matches"):
            verify([b"s"], BODY, h, NOW + 100)

    @pytest.mark.parametrize(
        "header", ["", "t=1", "v1=ab", "t=x,v1=ab", "garbage", "t=1,t=2,v1=a"]
    )
    def test_malformed(self, header: str) -> None:
        with pytest.raises(WebhookSignatureError, match="signature header"):
            parse_signature_header(header)

    def test_empty_secret(self) -> None:
        with pytest.raises(InvalidDocumentError):
            sign(b"", BODY, NOW)


class TestBackoff:
    def test_exponential_capped_without_jitter(self) -> None:
        p = RetryParams(base_s=10, factor=2, cap_s=100, max_attempts=7, jitter=0)
        assert backoff_schedule(p, random.Random(1)) == [10, 20, 40, 80, 100, 100]

    @settings(deadline=None)
    @given(st.integers(1, 200), st.integers(0, 2**32))
    def test_jitter_within_bounds(self, attempt: int, seed: int) -> None:
        p = RetryParams(base_s=5, cap_s=3600, jitter=0.5)
        full = min(3600, 5 * 2 ** min(attempt - 1, 64))
        d = retry_delay_s(attempt, p, random.Random(seed))
        assert full * 0.5 <= d <= full

    def test_jitter_spreads(self) -> None:
        rng = random.Random(7)
        values = {round(retry_delay_s(3, RetryParams(), rng), 6) for _ in range(20)}
        assert len(values) == 20

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"base_s": 0},
            {"factor": 0.5},
            {"cap_s": 1, "base_s": 2},
            {"jitter": 1.5},
            {"max_attempts": 0},
        ],
    )
    def test_bad_params(self, kwargs: dict) -> None:
        with pytest.raises(InvalidDocumentError):
            RetryParams(**kwargs)


class TestDelivery:
    def test_retry_then_deliver_or_die(self) -> None:
        p = RetryParams(base_s=1, max_attempts=3, jitter=0)
        t = datetime(2026, 1, 1, tzinfo=UTC)
        d = Delivery("d", "e", "https://example.invalid/hook")
        d = record_attempt(d, t, p, random.Random(0), status_code=500, error="boom")
        assert d.status == DeliveryStatus.RETRYING and d.attempts == 1
        assert (d.next_attempt_at - t).total_seconds() == 1  # type: ignore[operator]
        ok = record_attempt(d, t, p, random.Random(0), status_code=204)
        assert ok.status == DeliveryStatus.DELIVERED and ok.next_attempt_at is None
        d = record_attempt(d, t, p, random.Random(0), status_code=None, error="timeout")
        d = record_attempt(d, t, p, random.Random(0), status_code=503)
        assert d.status == DeliveryStatus.DEAD and d.attempts == 3
        with pytest.raises(InvalidDocumentError):
            record_attempt(d, t, p, random.Random(0), status_code=200)
