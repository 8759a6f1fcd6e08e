"""Idempotency keys with Stripe semantics, as pure decisions.

The lead's ``state.py`` stores, per tenant and key, the request fingerprint
and (once finished) the response bytes. This module decides what a new
request with that key gets:

* no record: proceed (the caller claims the key atomically first);
* same fingerprint, finished: replay the stored response byte for byte;
* same fingerprint, still running: conflict (409), retry later;
* other fingerprint: mismatch (422), whatever the state.

The fingerprint covers tenant, method, path and body. A JSON body is
fingerprinted in canonical form (sorted keys, compact), so re-serialising the
same object does not count as another body; any other body is taken as bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from commerce.errors import InvalidDocumentError

MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"


def validate_key(key: str | None) -> str:
    """Check an ``Idempotency-Key`` header: 1-255 printable ASCII characters.

    Raises
    ------
    InvalidDocumentError
        Naming the header.
    """
    if key is None or not key.strip():
        raise InvalidDocumentError(HEADER, "is required")
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidDocumentError(
            HEADER, f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def _canonical_body(body: bytes) -> bytes:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return b"raw:" + body
    return b"json:" + json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(tenant_id: str, method: str, path: str, body: bytes) -> str:
    """SHA-256 hex of tenant, method, path and (canonical) body.

    Examples
    --------
    >>> a = fingerprint("t", "POST", "/payments", b'{"a": 1, "b": 2}')
    >>> a == fingerprint("t", "POST", "/payments", b'{"b":2,"a":1}')
    True
    >>> a == fingerprint("t", "POST", "/payments", b'{"a": 1, "b": 3}')
    False
    """
    h = hashlib.sha256()
    for part in (tenant_id.encode(), method.upper().encode(), path.encode()):
        h.update(len(part).to_bytes(4, "big") + part)
    h.update(_canonical_body(body))
    return h.hexdigest()


@dataclass(frozen=True)
class StoredRequest:
    """What was kept for a key; ``response_*`` are None while in progress."""

    fingerprint: str
    response_status: int | None = None
    response_body: bytes | None = None
    response_content_type: str | None = None

    @property
    def finished(self) -> bool:
        """Whether a response was stored."""
        return self.response_status is not None


class Outcome(StrEnum):
    """What to do with a request carrying an idempotency key."""

    PROCEED = "proceed"
    REPLAY = "replay"
    IN_PROGRESS = "in_progress"
    MISMATCH = "mismatch"


def decide(stored: StoredRequest | None, request_fingerprint: str) -> Outcome:
    """The outcome for a request given what is stored under its key.

    Examples
    --------
    >>> decide(None, "f"), decide(StoredRequest("f", 201, b"{}"), "f")
    (<Outcome.PROCEED: 'proceed'>, <Outcome.REPLAY: 'replay'>)
    >>> decide(StoredRequest("f"), "f"), decide(StoredRequest("f", 201, b"{}"), "g")
    (<Outcome.IN_PROGRESS: 'in_progress'>, <Outcome.MISMATCH: 'mismatch'>)
    """
    if stored is None:
        return Outcome.PROCEED
    if stored.fingerprint != request_fingerprint:
        return Outcome.MISMATCH
    return Outcome.REPLAY if stored.finished else Outcome.IN_PROGRESS
