from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from commerce.money import (
    Money,
    currency_exponent,
    format_minor,
    parse_major,
    parse_minor,
)


class TestCurrencyExponent:
    @pytest.mark.parametrize(
        ("code", "exp"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3)]
    )
    def test_known(self, code: str, exp: int) -> None:
        assert currency_exponent(code) == exp

    @pytest.mark.parametrize("code", ["XXX", "usd", "US", "USDX", "", None, 840])
    def test_unknown_names_field(self, code: object) -> None:
        with pytest.raises(UnknownCurrencyError, match=r"^payment\.currency:") as e:
            currency_exponent(code, "payment.currency")
        assert isinstance(e.value, ValueError)
        assert e.value.field == "payment.currency"


class TestParseMinor:
    @pytest.mark.parametrize("value", [0, 1, 10**15, "0", "1250"])
    def test_accepts_whole_non_negative(self, value: object) -> None:
        assert parse_minor(value, "amount_minor") == int(value)  # type: ignore[call-overload]

    @pytest.mark.parametrize(
        "value",
        [-1, "-1", 1.5, 5.0, "1.5", "1e3", " 12", True, None, Decimal("1.5"), "", "١٢"],
    )
    def test_rejects_negative_and_fractional(self, value: object) -> None:
        with pytest.raises(InvalidAmountError, match=r"^amount_minor:"):
            parse_minor(value, "amount_minor")

    def test_zero_can_be_refused(self) -> None:
        with pytest.raises(InvalidAmountError, match="> 0"):
            parse_minor(0, "amount_minor", allow_zero=False)


class TestParseMajor:
    @pytest.mark.parametrize(
        ("text", "cur", "minor"),
        [
            ("12.34", "USD", 1234),
            ("12", "JPY", 12),
            ("1.005", "KWD", 1005),
            ("-0.10", "EUR", -10),
            ("7.000", "JPY", 7),
        ],
    )
    def test_exact(self, text: str, cur: str, minor: int) -> None:
        assert parse_major(text, cur, "amount") == minor

    @pytest.mark.parametrize(
        ("text", "cur"),
        [
            ("1.234", "USD"),
            ("5.5", "JPY"),
            ("1.0005", "KWD"),
            ("abc", "USD"),
            ("NaN", "USD"),
        ],
    )
    def test_rejects_excess_precision(self, text: str, cur: str) -> None:
        with pytest.raises(InvalidAmountError, match=r"^amount:"):
            parse_major(text, cur, "amount")

    @settings(deadline=None)
    @given(st.integers(-(10**12), 10**12), st.sampled_from(["USD", "JPY", "KWD"]))
    def test_round_trip_with_format(self, minor: int, cur: str) -> None:
        assert parse_major(format_minor(minor, cur).replace(",", ""), cur, "x") == minor


class TestMoney:
    def test_arithmetic_same_currency(self) -> None:
        assert Money(150, "USD") + Money(25, "USD") - Money(5, "USD") == Money(
            170, "USD"
        )
        assert str(Money(-123456, "KWD")) == "-123.456 KWD"
        assert Money(7, "JPY").to_decimal() == Decimal(7)

    def test_mixing_currencies_fails(self) -> None:
        with pytest.raises(CurrencyMismatchError):
            _ = Money(1, "USD") + Money(1, "EUR")

    def test_rejects_float_and_unknown(self) -> None:
        with pytest.raises(InvalidAmountError):
            Money(1.0, "USD")  # type: ignore[arg-type]
        with pytest.raises(UnknownCurrencyError):
            Money(1, "ZZZ")


def test_upper_bounds() -> None:
    from commerce.money import MAX_MINOR
    from commerce.orders import Order, OrderLine

    assert parse_minor(MAX_MINOR, "amount_minor") == MAX_MINOR
    with pytest.raises(InvalidAmountError, match=r"^amount_minor: must be <="):
        parse_minor(MAX_MINOR + 1, "amount_minor")
    with pytest.raises(InvalidAmountError, match=r"^lines\[0\]\.quantity"):
        Order("o", "c", "USD", (OrderLine("a", "s", 10**7, 1),))
