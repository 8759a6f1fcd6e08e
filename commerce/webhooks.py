"""Outgoing webhooks: Stripe-style HMAC-SHA256 signatures and retry backoff.

Signature header: ``t=<unix seconds>,v1=<hex hmac>``; the signed payload is
``f"{t}.".encode() + body``. Receivers (and our own tests) verify with a
tolerance on the timestamp, which defeats replays of old deliveries; several
``v1`` values are allowed so secrets can be rotated.

Retries: attempt ``n`` (1-based, after the first failure) waits
``min(cap_s, base_s x factor^(n-1))`` seconds, spread by "full jitter" over
``[delay x (1 - jitter), delay]``; after ``max_attempts`` the delivery is dead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from commerce.errors import InvalidDocumentError, WebhookSignatureError

SIGNATURE_HEADER = "Geocommerce-Signature"
DEFAULT_TOLERANCE_S = 300


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix s).

    Examples
    --------
    >>> sign(b"k", b"{}", 1700000000)[:13]
    't=1700000000,'
    """
    if not secret:
        raise InvalidDocumentError("secret", "must not be empty")
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def parse_signature_header(header: str) -> tuple[int, tuple[str, ...]]:
    """Timestamp and ``v1`` signatures of a header; other schemes are ignored."""
    timestamp: int | None = None
    sigs: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError("signature header: malformed element")
        if key == "t":
            if not value.isdigit() or timestamp is not None:
                raise WebhookSignatureError(
                    "signature header: bad or repeated timestamp"
                )
            timestamp = int(value)
        elif key == "v1":
            sigs.append(value)
    if timestamp is None or not sigs:
        raise WebhookSignatureError("signature header: needs t= and at least one v1=")
    return timestamp, tuple(sigs)


def verify(
    secrets: Sequence[bytes],
    body: bytes,
    header: str,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a signature header; return its timestamp.

    Parameters
    ----------
    secrets : sequence of bytes
        Current and previous secrets (rotation); any may match.
    body : bytes
        The raw request body, exactly as received.
    now_s, tolerance_s : int
        The timestamp must be within ``tolerance_s`` of ``now_s`` (both ways).

    Raises
    ------
    WebhookSignatureError
        Malformed header, timestamp outside the tolerance, or no match.
    """
    timestamp, sigs = parse_signature_header(header)
    if abs(now_s - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"signature timestamp is {now_s - timestamp} s away (tolerance {tolerance_s} s)"
        )
    for secret in secrets:
        expected = _mac(secret, timestamp, body)
        if any(hmac.compare_digest(expected, s) for s in sigs):
            return timestamp
    raise WebhookSignatureError("no signature matches the body")


def event_body(event_id: str, created_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The delivered JSON: an envelope whose ``id`` is always the outbox event id
    (receivers drop replays by it), the event name, and the event's own fields
    under ``data`` (where an ``id`` of, say, a customer cannot shadow it).

    Examples
    --------
    >>> from datetime import UTC
    >>> event_body("7", datetime(2026, 1, 1, tzinfo=UTC), {"event": "x", "id": "c1"})
    b'{"created_at":"2026-01-01T00:00:00+00:00","data":{"id":"c1"},"event":"x","id":"7"}'
    """
    fields = {k: v for k, v in data.items() if k != "event"}
    return json.dumps(
        {
            "id": event_id,
            "event": data.get("event"),
            "created_at": created_at.isoformat(),
            "data": fields,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class RetryParams:
    """Backoff schedule; ``jitter`` is the fraction of each delay randomised."""

    base_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 6 * 3600.0
    max_attempts: int = 12
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.factor >= 1 and self.cap_s >= self.base_s):
            raise InvalidDocumentError(
                "retry", "need base_s > 0, factor >= 1, cap_s >= base_s"
            )
        if not 0 <= self.jitter <= 1:
            raise InvalidDocumentError("retry.jitter", "must be within 0..1")
        if self.max_attempts < 1:
            raise InvalidDocumentError("retry.max_attempts", "must be >= 1")


def retry_delay_s(attempt: int, params: RetryParams, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    Examples
    --------
    >>> retry_delay_s(3, RetryParams(base_s=10, jitter=0), random.Random(0))
    40.0
    """
    if attempt < 1:
        raise InvalidDocumentError("attempt", "must be >= 1")
    exp = min(attempt - 1, 64)  # keep the power finite; the cap applies anyway
    delay = min(params.cap_s, params.base_s * params.factor**exp)
    return delay * (1 - params.jitter * rng.random())


def backoff_schedule(params: RetryParams, rng: random.Random) -> list[float]:
    """All waits of a delivery that keeps failing (``max_attempts - 1`` values)."""
    return [retry_delay_s(n, params, rng) for n in range(1, params.max_attempts)]


class DeliveryStatus(StrEnum):
    """Where a webhook delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD = "dead"


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint; ``attempts`` counts tries made so far."""

    delivery_id: str
    event_id: str
    endpoint_url: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None


def record_attempt(
    delivery: Delivery,
    now: datetime,
    params: RetryParams,
    rng: random.Random,
    status_code: int | None = None,
    error: str | None = None,
) -> Delivery:
    """The delivery after one try: 2xx delivers; else retry later or give up.

    ``status_code`` None means no response (timeout, connection refused).
    """
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD):
        raise InvalidDocumentError("delivery.status", f"already {delivery.status}")
    attempts = delivery.attempts + 1
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        return replace(
            delivery,
            status=DeliveryStatus.DELIVERED,
            attempts=attempts,
            next_attempt_at=None,
            last_status_code=status_code,
            last_error=None,
        )
    if attempts >= params.max_attempts:
        return replace(
            delivery,
            status=DeliveryStatus.DEAD,
            attempts=attempts,
            next_attempt_at=None,
            last_status_code=status_code,
            last_error=error,
        )
    wait = timedelta(seconds=retry_delay_s(attempts, params, rng))
    return replace(
        delivery,
        status=DeliveryStatus.RETRYING,
        attempts=attempts,
        next_attempt_at=now + wait,
        last_status_code=status_code,
        last_error=error,
    )
