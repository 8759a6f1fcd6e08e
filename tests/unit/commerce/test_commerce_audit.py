from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.audit import (
    GENESIS_HASH,
    AuditRecord,
    append_record,
    canonical_json,
    chain_hash,
    verify_chain,
)
from commerce.errors import InvalidDocumentError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chain(n: int, tenant: str = "t1") -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for i in range(n):
        out.append(
            append_record(
                out[-1] if out else None,
                tenant,
                "invoice_finalised" if i % 2 else "payment_received",
                {
                    "invoice_id": f"i{i}",
                    "total_minor": 1000 + i,
                    "currency": "USD",
                    "lines": [{"tax": str(i)}],
                },
                T0 + timedelta(seconds=i),
                actor="api",
            )
        )
    return out


class TestCanonical:
    def test_sorted_compact_utf8(self) -> None:
        assert (
            canonical_json({"b": 2, "a": {"z": None, "y": True}})
            == b'{"a":{"y":true,"z":null},"b":2}'
        )
        assert canonical_json("é") == '"é"'.encode()

    def test_key_order_does_not_matter(self) -> None:
        assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})

    def test_types(self) -> None:
        ist = timezone(timedelta(hours=5, minutes=30))
        assert canonical_json(
            [Decimal("1.50"), datetime(2026, 1, 1, 5, 30, tzinfo=ist)]
        ) == (b'["1.50","2026-01-01T00:00:00.000000+00:00"]')

    @pytest.mark.parametrize(
        ("value", "path"),
        [
            ({"x": 1.5}, r"\$\.x"),
            ({"x": [float("nan")]}, r"\$\.x\[0\]"),
            ({1: 2}, r"\$"),
            ({"t": datetime(2026, 1, 1)}, r"\$\.t"),
            ({"s": {1, 2}}, r"\$\.s"),
        ],
    )
    def test_refuses_ambiguous_values(self, value: object, path: str) -> None:
        with pytest.raises(InvalidDocumentError, match=f"^{path}:"):
            canonical_json(value)


class TestChain:
    def test_links(self) -> None:
        rs = chain(3)
        assert rs[0].prev_hash == GENESIS_HASH and rs[0].seq == 1
        assert rs[1].prev_hash == rs[0].hash and rs[2].seq == 3
        assert rs[0].hash == chain_hash(GENESIS_HASH, rs[0].body())
        assert verify_chain(rs, "t1").ok
        assert verify_chain([], "t1").ok

    def test_window_with_anchor(self) -> None:
        rs = chain(5)
        assert verify_chain(rs[2:], "t1", anchor=(rs[1].seq, rs[1].hash)).ok
        assert not verify_chain(rs[2:], "t1").ok

    def test_deleted_row(self) -> None:
        rs = chain(5)
        v = verify_chain(rs[:2] + rs[3:], "t1")
        assert (v.ok, v.first_broken_seq, v.field) == (False, 4, "seq")

    def test_reordered_rows(self) -> None:
        rs = chain(4)
        v = verify_chain([rs[0], rs[2], rs[1], rs[3]], "t1")
        assert v.first_broken_seq == 3 and v.field == "seq"

    def test_relinked_rewrite_breaks_prev_hash(self) -> None:
        rs = chain(4)
        forged = append_record(rs[0], "t1", "payment_received", {"total_minor": 1}, T0)
        v = verify_chain([rs[0], forged, rs[2], rs[3]], "t1")
        assert v.first_broken_seq == 3 and v.field == "prev_hash"

    def test_other_tenant(self) -> None:
        v = verify_chain(chain(2, "t2"), "t1")
        assert v.field == "tenant_id" and v.first_broken_seq == 1
        with pytest.raises(InvalidDocumentError, match=r"^tenant_id"):
            append_record(chain(1, "t2")[0], "t1", "x", {}, T0)

    def test_hash_column_altered(self) -> None:
        rs = chain(3)
        rs[1] = replace(rs[1], hash="f" * 64)
        v = verify_chain(rs, "t1")
        assert v.first_broken_seq == 2 and v.field == "hash"

    def test_naive_timestamp_refused(self) -> None:
        with pytest.raises(InvalidDocumentError, match=r"^at"):
            append_record(None, "t1", "x", {}, datetime(2026, 1, 1))


ALTERATIONS = {
    "actor": lambda r: replace(r, actor="mallory"),
    "event": lambda r: replace(r, event="refund_paid"),
    "at": lambda r: replace(r, at=r.at + timedelta(microseconds=1)),
    "data.total_minor": lambda r: replace(
        r, data={**r.data, "total_minor": r.data["total_minor"] + 1}
    ),
    "data.currency": lambda r: replace(r, data={**r.data, "currency": "EUR"}),
    "data.lines": lambda r: replace(r, data={**r.data, "lines": [{"tax": "999"}]}),
    "data.extra": lambda r: replace(r, data={**r.data, "extra": 1}),
    "tenant_id": lambda r: replace(r, tenant_id="t2"),
    "seq": lambda r: replace(r, seq=r.seq + 1),
    "prev_hash": lambda r: replace(r, prev_hash="0" * 63 + "1"),
    "hash": lambda r: replace(r, hash=r.hash[::-1]),
}


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.data(), st.sampled_from(sorted(ALTERATIONS)))
def test_any_single_altered_field_is_found_and_named(
    n: int, data: st.DataObject, field: str
) -> None:
    rs = chain(n)
    k = data.draw(st.integers(0, n - 1))
    rs[k] = ALTERATIONS[field](rs[k])
    v = verify_chain(rs, "t1")
    assert not v.ok
    assert v.first_broken_index == k
    assert v.first_broken_seq == (k + 2 if field == "seq" else k + 1)
    assert v.field == field


def test_without_stored_digests_the_record_is_still_named() -> None:
    rs = chain(3)
    rs[1] = replace(rs[1], field_digests={}, actor="mallory")
    v = verify_chain(rs, "t1")
    assert (v.first_broken_seq, v.field) == (2, "record")
