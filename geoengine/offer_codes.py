"""Signed, single-use offer codes and the discount they give (pure, stdlib only).

A code is ``GO1.<payload>.<mac>`` in base64url without padding. The payload
(61 bytes) binds the code to the tenant, the offer, the campaign, the device
(first 8 bytes of its SHA-256) and the expiry; the MAC is HMAC-SHA256 over
``"GO1." + payload`` with the tenant's secret, truncated to 16 bytes (128-bit
tags, as RFC 2104 / NIST SP 800-107 allow).

Why HMAC and not Ed25519: the only signature library that would give
public-key verification (``cryptography``) is not a dependency, and the
checkouts that verify codes are the tenant's own systems, which may hold the
tenant's verification secret (``GET /v1/offers/signing-key``, scope admin).
Verification is offline: :func:`verify_code` needs only that secret. The
single-use and expiry checks at redemption are done against PostGIS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from geoengine.errors import OfferCodeRejectedError
from geoengine.offers import Reward, RewardKind

PREFIX = "GO1"
_PAYLOAD = struct.Struct(">B16s16s16sQ4s")  # key version, tenant, offer, campaign,
# expiry (unix s), then the device digest is appended (8 bytes)
_DEVICE_LEN = 8
_MAC_LEN = 16


@dataclass(frozen=True)
class CodeClaims:
    key_version: int
    tenant_id: uuid.UUID
    offer_id: uuid.UUID
    campaign_id: uuid.UUID
    expires_s: int
    device_digest: bytes


def device_digest(device_id: str) -> bytes:
    return hashlib.sha256(device_id.encode()).digest()[:_DEVICE_LEN]


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    """Strict base64url: only the canonical text of its bytes is accepted (a last
    character that differs only in its unused bits would decode to the same
    bytes, so a tampered code would still verify)."""
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if _b64(raw) != s:
        raise ValueError("not canonical base64url")
    return raw


def _mac(secret: bytes, signed: str) -> bytes:
    return hmac.digest(secret, signed.encode(), "sha256")[:_MAC_LEN]


def sign_code(secret: bytes, claims: CodeClaims) -> str:
    """The code of ``claims`` signed with ``secret``.

    Examples
    --------
    >>> c = CodeClaims(1, uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3),
    ...                2_000_000_000, device_digest("d1"))
    >>> code = sign_code(b"k" * 32, c)
    >>> verify_code(b"k" * 32, code, uuid.UUID(int=1)) == c
    True
    """
    return sign_fields(
        secret,
        claims.key_version,
        claims.tenant_id.bytes,
        claims.offer_id.bytes,
        claims.campaign_id.bytes,
        claims.expires_s,
        claims.device_digest,
    )


def sign_fields(
    secret: bytes,
    key_version: int,
    tenant: bytes,
    offer: bytes,
    campaign: bytes,
    expires_s: int,
    device: bytes,
) -> str:
    """:func:`sign_code` from the claims' raw fields (UUIDs as 16 bytes), for
    issuing many codes without building a :class:`CodeClaims` each."""
    payload = _PAYLOAD.pack(
        key_version, tenant, offer, campaign, expires_s, b"\0\0\0\0"
    )
    signed = f"{PREFIX}.{_b64(payload + device)}"
    return f"{signed}.{_b64(_mac(secret, signed))}"


def read_claims(code: str) -> CodeClaims:
    """The claims of a code *without* checking its MAC (to find tenant and key)."""
    parts = code.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise OfferCodeRejectedError("malformed", "not an offer code")
    try:
        payload = _unb64(parts[1])
        _unb64(parts[2])
    except (ValueError, TypeError):
        raise OfferCodeRejectedError("malformed", "not an offer code") from None
    if len(payload) != _PAYLOAD.size + _DEVICE_LEN:
        raise OfferCodeRejectedError("malformed", "not an offer code")
    ver, tenant, offer, campaign, exp, _ = _PAYLOAD.unpack(payload[: _PAYLOAD.size])
    return CodeClaims(
        ver,
        uuid.UUID(bytes=tenant),
        uuid.UUID(bytes=offer),
        uuid.UUID(bytes=campaign),
        exp,
        payload[_PAYLOAD.size :],
    )


def verify_code(secret: bytes, code: str, tenant_id: uuid.UUID) -> CodeClaims:
    """Check a code's tenant and signature; return its claims.

    Raises :class:`OfferCodeRejectedError` with reason ``malformed``,
    ``foreign_tenant`` or ``invalid_signature``. Expiry and single use are
    checked by the caller (expiry needs a clock, single use needs storage).
    """
    claims = read_claims(code)
    if claims.tenant_id != tenant_id:
        raise OfferCodeRejectedError(
            "foreign_tenant", "the code was issued by another tenant"
        )
    signed, _, mac = code.rpartition(".")
    try:
        given = _unb64(mac)
    except (ValueError, TypeError):  # pragma: no cover - read_claims checked it
        given = b""
    if not hmac.compare_digest(given, _mac(secret, signed)):
        raise OfferCodeRejectedError(
            "invalid_signature", "the code's signature does not verify (tampered?)"
        )
    return claims


@dataclass(frozen=True)
class BasketLine:
    line_id: str
    sku: str
    gross_minor: int


def offer_discount(
    reward: Reward, lines: Sequence[BasketLine]
) -> list[tuple[str, int]]:
    """Per-line discount of a reward on a basket, in minor units.

    Eligible lines are those whose SKU is in ``eligible_skus`` (all when it is
    empty); the minimum basket applies to the eligible amount. A percentage is
    rounded half up and capped by ``max_discount_minor``; a fixed amount is
    capped by the eligible amount. The total is split over the eligible lines in
    proportion to their gross by largest remainder, so the parts add up exactly.

    Examples
    --------
    >>> r = Reward(RewardKind.PERCENT, "USD", Decimal(10), max_discount_minor=500)
    >>> offer_discount(r, [BasketLine("a", "X", 3000), BasketLine("b", "Y", 1000)])
    [('a', 300), ('b', 100)]
    """
    eligible = [
        ln for ln in lines if not reward.eligible_skus or ln.sku in reward.eligible_skus
    ]
    base = sum(ln.gross_minor for ln in eligible)
    if not eligible or base <= 0:
        raise OfferCodeRejectedError(
            "no_eligible_items", "the basket has none of the offer's eligible items"
        )
    if base < reward.min_basket_minor:
        raise OfferCodeRejectedError(
            "min_basket_not_met",
            f"eligible basket {base} is below the minimum {reward.min_basket_minor}",
        )
    if reward.kind is RewardKind.PERCENT:
        total = int(
            (Decimal(base) * reward.percent / 100).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
        )
        if reward.max_discount_minor is not None:
            total = min(total, reward.max_discount_minor)
    else:
        total = reward.amount_minor
    total = min(total, base)
    shares = [total * ln.gross_minor // base for ln in eligible]
    rest = total - sum(shares)
    order = sorted(
        range(len(eligible)),
        key=lambda i: (-(total * eligible[i].gross_minor % base), i),
    )
    for i in order[:rest]:
        shares[i] += 1
    return [(ln.line_id, s) for ln, s in zip(eligible, shares, strict=True) if s]
