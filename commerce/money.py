"""Money in integer minor units: currencies, strict parsing, a small Money type.

The ISO 4217 exponent table and the exact helpers (half-up rounding, largest
remainder allocation) are shared with :mod:`tax_zones.money`, so tax and
billing round identically. Amounts are ``int`` minor units everywhere; a
``Decimal`` appears only when a human-readable major amount is parsed or shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from commerce.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from tax_zones.money import CURRENCY_EXPONENT, allocate, round_half_up

__all__ = [
    "CURRENCY_EXPONENT",
    "MAX_MINOR",
    "Money",
    "allocate",
    "currency_exponent",
    "format_minor",
    "parse_major",
    "parse_minor",
    "round_half_up",
]

MAX_MINOR = 10**15  # 10 trillion in a 2-decimal currency; far inside a bigint
_CODE = re.compile(r"[A-Z]{3}")
_MINOR = re.compile(r"[0-9]+")


def currency_exponent(currency: object, field: str = "currency") -> int:
    """Minor-unit exponent (0, 2 or 3) of an ISO 4217 currency code.

    Parameters
    ----------
    currency : object
        The code as sent by the caller (upper-case, three letters).
    field : str
        Name of the field, used in the error message.

    Raises
    ------
    UnknownCurrencyError
        For anything that is not a supported upper-case code.

    Examples
    --------
    >>> currency_exponent("JPY"), currency_exponent("USD"), currency_exponent("KWD")
    (0, 2, 3)
    """
    if not isinstance(currency, str) or not _CODE.fullmatch(currency):
        raise UnknownCurrencyError(field, "must be a 3-letter upper-case ISO 4217 code")
    try:
        return CURRENCY_EXPONENT[currency]
    except KeyError:
        raise UnknownCurrencyError(
            field, f"unknown or unsupported currency {currency!r}"
        ) from None


def parse_minor(
    value: object, field: str, *, allow_zero: bool = True, max_value: int = MAX_MINOR
) -> int:
    """Validate an amount of minor units: a non-negative whole number.

    Accepts ``int`` (not ``bool``) or a string of ASCII digits. Rejects
    negative values, floats (even ``5.0``), fractional decimals, strings
    such as ``"1.5"`` or ``"-3"``, and values above ``max_value`` (default
    :data:`MAX_MINOR`, so sums stay far inside a 64-bit column).

    Raises
    ------
    InvalidAmountError
        Naming ``field``.

    Examples
    --------
    >>> parse_minor("1250", "amount_minor")
    1250
    """
    if isinstance(value, bool):
        raise InvalidAmountError(field, "must be an integer number of minor units")
    if isinstance(value, str):
        if not _MINOR.fullmatch(value):
            raise InvalidAmountError(
                field, "must be a non-negative integer number of minor units"
            )
        out = int(value)
    elif isinstance(value, int):
        out = value
    elif (
        isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
    ):
        out = int(value)
    else:
        raise InvalidAmountError(
            field, "must be an integer number of minor units (no fractions)"
        )
    if out < 0:
        raise InvalidAmountError(field, "must be >= 0")
    if out == 0 and not allow_zero:
        raise InvalidAmountError(field, "must be > 0")
    if out > max_value:
        raise InvalidAmountError(field, f"must be <= {max_value}")
    return out


def parse_major(value: str | Decimal, currency: str, field: str) -> int:
    """Convert a major-unit amount (``"12.34"``) to signed minor units, exactly.

    More decimals than the currency has (``"1.234"`` in USD, ``"5.5"`` in
    JPY) are an error, never rounded.

    Examples
    --------
    >>> parse_major("12.30", "USD", "amount"), parse_major("-1.005", "KWD", "amount")
    (1230, -1005)
    """
    exp = currency_exponent(currency)
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidAmountError(field, "is not a decimal number") from None
    if not dec.is_finite():
        raise InvalidAmountError(field, "must be finite")
    scaled = dec.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise InvalidAmountError(
            field, f"{currency} has {exp} decimal places; got more precision"
        )
    return int(scaled)


def format_minor(amount_minor: int, currency: str) -> str:
    """Show minor units as a major amount with the currency's decimals.

    Examples
    --------
    >>> format_minor(123456, "USD"), format_minor(-5, "KWD"), format_minor(7, "JPY")
    ('1,234.56', '-0.005', '7')
    """
    exp = currency_exponent(currency)
    value = Decimal(amount_minor).scaleb(-exp)
    return f"{value:,.{exp}f}"


@dataclass(frozen=True, order=True)
class Money:
    """A signed amount of minor units in one currency.

    Arithmetic only combines equal currencies; mixing raises
    :class:`CurrencyMismatchError`.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(
            self.amount_minor, int
        ):
            raise InvalidAmountError("amount_minor", "must be an integer")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                "currency", f"cannot combine {self.currency} and {other.currency}"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    @property
    def exponent(self) -> int:
        """The currency's number of decimals."""
        return CURRENCY_EXPONENT[self.currency]

    def to_decimal(self) -> Decimal:
        """The amount in major units (exact)."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    def __str__(self) -> str:
        return f"{format_minor(self.amount_minor, self.currency)} {self.currency}"
