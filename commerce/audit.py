"""Tamper-evident audit log: an append-only hash chain per tenant.

Each record holds the hash of the previous one::

    hash = sha256(prev_hash + canonical_json(record)).hexdigest()

where the record is ``tenant_id, seq, at, actor, event, data`` serialised as
sorted-key, compact, UTF-8 JSON (:func:`canonical_json`). The first record of
a tenant has ``seq = 1`` and ``prev_hash = GENESIS_HASH``.

Every record also keeps a digest per field (``data`` per top-level key). They
are not part of the chain: after a hash mismatch the verifier uses them only
to *name* the altered field (``data.total_minor``). Floats are refused in
audit data: money is integer minor units, coordinates travel as strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from commerce.errors import InvalidDocumentError

GENESIS_HASH = "0" * 64
JsonValue = Any


def _normalise(value: object, path: str) -> JsonValue:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return _normalise(value.value, path)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidDocumentError(path, "must be a finite number")
        return str(value)
    if isinstance(value, float):
        raise InvalidDocumentError(path, "floats are not allowed in audit data")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidDocumentError(path, "datetimes must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidDocumentError(path, "object keys must be strings")
            out[k] = _normalise(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise InvalidDocumentError(path, f"unsupported type {type(value).__name__}")


def canonical_json(value: object) -> bytes:
    """Sorted-key, compact, UTF-8 JSON of ``value`` (after normalisation).

    Decimals become strings, datetimes UTC ISO 8601 with microseconds, enums
    their values, tuples lists.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [Decimal("1.50"), "é"]})
    b'{"a":["1.50","\\xc3\\xa9"],"b":1}'
    """
    return json.dumps(
        _normalise(value, "$"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def _digest(value: object) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One link of a tenant's chain; ``data`` is already JSON-normalised."""

    tenant_id: str
    seq: int
    at: datetime
    actor: str
    event: str
    data: Mapping[str, JsonValue]
    prev_hash: str
    hash: str
    field_digests: Mapping[str, str]

    def body(self) -> dict[str, object]:
        """The hashed fields."""
        return {
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "event": self.event,
            "data": self.data,
        }


def chain_hash(prev_hash: str, body: Mapping[str, object]) -> str:
    """``sha256(prev_hash + canonical_json(body))`` as hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()


def field_digests(body: Mapping[str, object]) -> dict[str, str]:
    """One digest per field, and per top-level key of ``data``."""
    out = {k: _digest(v) for k, v in body.items() if k != "data"}
    data = body.get("data")
    if isinstance(data, Mapping):
        out.update({f"data.{k}": _digest(v) for k, v in data.items()})
    return out


def append_record(
    previous: AuditRecord | None,
    tenant_id: str,
    event: str,
    data: Mapping[str, object],
    at: datetime,
    actor: str = "system",
) -> AuditRecord:
    """The next record of ``tenant_id``'s chain after ``previous`` (None: first).

    Raises
    ------
    InvalidDocumentError
        For data that cannot be serialised canonically (floats, naive
        datetimes, non-string keys), naming the path; or a ``previous`` record
        of another tenant.
    """
    if previous is not None and previous.tenant_id != tenant_id:
        raise InvalidDocumentError(
            "tenant_id", "previous record belongs to another tenant"
        )
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = GENESIS_HASH if previous is None else previous.hash
    norm = _normalise(dict(data), "data")
    if at.tzinfo is None:
        raise InvalidDocumentError("at", "must be timezone-aware")
    at = at.astimezone(UTC)
    body: dict[str, object] = {
        "tenant_id": tenant_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "event": event,
        "data": norm,
    }
    return AuditRecord(
        tenant_id,
        seq,
        at,
        actor,
        event,
        norm,
        prev_hash,
        chain_hash(prev_hash, body),
        field_digests(body),
    )


@dataclass(frozen=True)
class ChainVerification:
    """Outcome of :func:`verify_chain`; the ``first_broken_*`` fields are None if ok."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    first_broken_index: int | None = None
    field: str | None = None
    reason: str = ""


def verify_chain(
    records: Sequence[AuditRecord],
    tenant_id: str,
    anchor: tuple[int, str] | None = None,
) -> ChainVerification:
    """Check a tenant's records in order; name the first broken link.

    Parameters
    ----------
    records : sequence of AuditRecord
        Ordered by ``seq``, as stored.
    tenant_id : str
        Whose chain this is.
    anchor : (seq, hash) of the record just before ``records[0]``, optional
        To verify a window; by default the chain must start at ``seq = 1``
        from :data:`GENESIS_HASH`.

    Returns
    -------
    ChainVerification
        ``field`` is the altered field when the digests can tell
        (``data.total_minor``), else ``seq``, ``prev_hash``, ``tenant_id`` or
        ``hash``.
    """
    prev_seq, prev_hash = anchor if anchor is not None else (0, GENESIS_HASH)
    for i, r in enumerate(records):

        def broken(
            field: str, reason: str, r: AuditRecord = r, i: int = i
        ) -> ChainVerification:
            return ChainVerification(False, i, r.seq, i, field, reason)

        if r.tenant_id != tenant_id:
            return broken("tenant_id", f"record belongs to tenant {r.tenant_id!r}")
        if r.seq != prev_seq + 1:
            return broken(
                "seq",
                f"expected seq {prev_seq + 1}, found {r.seq} (row missing or inserted)",
            )
        if r.prev_hash != prev_hash:
            return broken("prev_hash", "does not match the previous record's hash")
        try:
            body = r.body()
            recomputed = chain_hash(r.prev_hash, body)
        except (InvalidDocumentError, ValueError) as exc:
            return broken("data", f"cannot be serialised: {exc}")
        if recomputed != r.hash:
            now = field_digests(body)
            changed = sorted(
                set(now) ^ set(r.field_digests)
                | {
                    k
                    for k in now.keys() & r.field_digests.keys()
                    if now[k] != r.field_digests[k]
                }
            )
            if not r.field_digests:
                field = "record"  # no digests stored: the field cannot be named
            else:
                field = ", ".join(changed) if changed else "hash"
            return broken(field, "content does not match its hash")
        prev_seq, prev_hash = r.seq, r.hash
    return ChainVerification(True, len(records))
