from __future__ import annotations

import pytest

from commerce.errors import InvalidDocumentError
from commerce.idempotency import (
    Outcome,
    StoredRequest,
    decide,
    fingerprint,
    validate_key,
)

BODY = b'{"amount_minor": 1000, "currency": "USD", "allocations": {"i1": 1000}}'


class TestFingerprint:
    def test_same_json_in_other_order_is_same_body(self) -> None:
        other = b'{"currency":"USD","allocations":{"i1":1000},"amount_minor":1000}'
        assert fingerprint("t", "post", "/p", BODY) == fingerprint(
            "t", "POST", "/p", other
        )

    @pytest.mark.parametrize(
        ("tenant", "method", "path", "body"),
        [
            ("t2", "POST", "/p", BODY),
            ("t", "PUT", "/p", BODY),
            ("t", "POST", "/q", BODY),
            ("t", "POST", "/p", BODY.replace(b"1000}", b"1001}")),
            ("t", "POST", "/p", b"not json"),
        ],
    )
    def test_any_difference_changes_it(
        self, tenant: str, method: str, path: str, body: bytes
    ) -> None:
        assert fingerprint(tenant, method, path, body) != fingerprint(
            "t", "POST", "/p", BODY
        )

    def test_field_boundaries_are_unambiguous(self) -> None:
        assert fingerprint("ab", "POST", "/c", b"") != fingerprint(
            "a", "POST", "b/c", b""
        )

    def test_non_json_bytes(self) -> None:
        assert fingerprint("t", "POST", "/p", b"\xff\x00") == fingerprint(
            "t", "POST", "/p", b"\xff\x00"
        )


class TestDecide:
    def test_table(self) -> None:
        fp = fingerprint("t", "POST", "/p", BODY)
        done = StoredRequest(fp, 201, b'{"id":"pay_1"}', "application/json")
        assert decide(None, fp) == Outcome.PROCEED
        assert decide(done, fp) == Outcome.REPLAY
        assert decide(StoredRequest(fp), fp) == Outcome.IN_PROGRESS
        assert decide(done, "other") == Outcome.MISMATCH
        assert decide(StoredRequest(fp), "other") == Outcome.MISMATCH


class TestKey:
    @pytest.mark.parametrize("key", [None, "", "   ", "x" * 256, "clé", "a\nb"])
    def test_bad(self, key: str | None) -> None:
        with pytest.raises(InvalidDocumentError, match=r"^Idempotency-Key:"):
            validate_key(key)

    def test_good(self) -> None:
        assert validate_key("3f1c-9a") == "3f1c-9a"
