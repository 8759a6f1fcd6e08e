from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.errors import SensitiveDataError
from commerce.sensitive import (
    Finding,
    find_card_numbers,
    luhn_valid,
    mask_card_numbers,
    reject_card_numbers,
    scan_json,
)

CARDS = [
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4222222222222",
    "6304000000000000000",
]


def luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError


class TestText:
    @pytest.mark.parametrize("card", CARDS)
    def test_plain(self, card: str) -> None:
        assert luhn_valid(card)
        assert [m.length for m in find_card_numbers(f"my card is {card}, thanks")] == [
            len(card)
        ]

    @pytest.mark.parametrize(
        "text",
        [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "3782-822463-10005",
            "card:4111 1111 1111 1111!",
            "x4111111111111111y",
        ],
    )
    def test_grouped(self, text: str) -> None:
        assert len(find_card_numbers(text)) == 1

    def test_card_followed_by_expiry_group(self) -> None:
        ms = find_card_numbers("4111 1111 1111 1111 2028 cvc 123")
        assert len(ms) == 1 and ms[0].length == 16

    @pytest.mark.parametrize(
        "text",
        [
            "4111111111111112",  # fails Luhn
            "0000000000000000",  # passes Luhn, all one digit
            "41111111111111110000000",  # an identifier longer than any card
            "123456789012",  # too short
            "phone +1 555 123 4567, order 2026-01-31",
            "1 2 3 4 5 6 7 8 9 0 1 2 6",  # single digits are not card groups
            "4111 1111-1111 1111",  # mixed separators
            "411 111 111 111 1111",  # not a card layout
            "ids 432198766 587654321 000",  # numbers next to each other
            "ts 1732300000004",  # millisecond timestamp (Luhn-valid, starts with 1)
            "7111111111111114",  # Luhn-valid, no major network starts with 7
            "amount 12.34, ref INV-2026-000123",
            # a UUID whose hex holds a Luhn-valid 4-4-4-4 layout (a random
            # customer_id once made an order fail with "looks like a card")
            "0a1b2c3d-4111-4111-8111-1110abcdef01",
            "customer 0A1B2C3D-4111-4111-8111-1110ABCDEF01 asked",
        ],
    )
    def test_ignored(self, text: str) -> None:
        assert find_card_numbers(text) == []

    def test_card_next_to_a_uuid_is_still_found(self) -> None:
        text = "id 0a1b2c3d-4111-4111-8111-1110abcdef01 card 4111 1111 1111 1111"
        (m,) = find_card_numbers(text)
        assert text[m.start : m.end] == "4111 1111 1111 1111"

    def test_mask(self) -> None:
        assert (
            mask_card_numbers("a 4111-1111-1111-1111 b 4111111111111112")
            == "a ****-****-****-1111 b 4111111111111112"
        )


class TestJson:
    def test_paths_in_nested_json(self) -> None:
        body = {
            "amount_minor": 1000,
            "customer": {
                "notes": ["call me", "use 4242 4242 4242 4242"],
                "name": "Ada",
            },
            "metadata": {
                "weird key": 5555555555554444,
                "ok": 42,
                "4111111111111111": "x",
            },
        }
        assert scan_json(body) == [
            Finding("customer.notes[1]"),
            Finding("metadata['weird key']"),
            Finding("metadata['4111111111111111']", in_key=True),
        ]

    def test_reject_names_fields_and_does_not_echo(self) -> None:
        body = {
            "memo": "4111 1111 1111 1111",
            "lines": [{"description": "fine"}, {"description": "5555555555554444"}],
        }
        with pytest.raises(SensitiveDataError) as e:
            reject_card_numbers(body)
        assert e.value.paths == ("lines[1].description", "memo")
        assert "4111" not in str(e.value) and "5555" not in str(e.value)
        assert isinstance(e.value, ValueError)
        reject_card_numbers(
            {"last4": "4242", "token": "tok_123", "amount_minor": 1234567890123}
        )

    def test_top_level_string(self) -> None:
        assert scan_json("4111111111111111") == [Finding("$")]


json_leaf = st.one_of(
    st.text(alphabet="abc xyz-.,", max_size=12),
    st.integers(-1000, 10**6),
    st.booleans(),
    st.none(),
)


def nested(leaf: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaf,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4),
            st.dictionaries(
                st.text(alphabet="abcdef_", min_size=1, max_size=6), kids, max_size=4
            ),
        ),
        max_leaves=15,
    )


@settings(deadline=None)
@given(
    nested(json_leaf),
    st.text(alphabet="0123456789", min_size=12, max_size=18),
    st.data(),
)
def test_hidden_card_is_found_at_its_path(
    doc: object, prefix: str, data: st.DataObject
) -> None:
    card = luhn_complete(data.draw(st.sampled_from("23456")) + prefix[1:])
    if len(set(card)) == 1:
        return
    sep = data.draw(st.sampled_from(["", " ", "-"]))
    shown = sep.join(card[i : i + 4] for i in range(0, len(card), 4)) if sep else card
    wrapper = {"outer": [doc, {"deep": {"note": f"ref {shown} end"}}]}
    assert json.loads(json.dumps(wrapper)) == wrapper
    assert Finding("outer[1].deep.note") in scan_json(wrapper)
    assert (
        scan_json(doc) == []
    )  # the random document alone has no digits runs long enough


@settings(deadline=None)
@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_only_luhn_runs_with_a_card_prefix_are_found(digits: str) -> None:
    expected = luhn_valid(digits) and len(set(digits)) > 1 and digits[0] in "23456"
    assert bool(find_card_numbers(f"id {digits} x")) == expected
    grouped = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    if expected:  # grouped, a window of whole groups may also match on its own
        assert [m.length for m in find_card_numbers(f"id {grouped} x")] == [len(digits)]


def test_deep_nesting_does_not_overflow() -> None:
    doc: object = "4111 1111 1111 1111"
    for _ in range(5000):
        doc = [doc]
    (finding,) = scan_json(doc)
    assert finding.path == "[0]" * 5000


@given(st.uuids())
def test_uuids_are_never_card_numbers(u) -> None:
    assert scan_json({"customer_id": str(u), "note": f"for {str(u).upper()}"}) == []
