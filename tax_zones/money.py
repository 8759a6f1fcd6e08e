"""Money helpers: currency minor units, half-up rounding, exact allocation."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from tax_zones.errors import InvalidQuoteError

# ISO 4217 minor-unit exponents (a small table; extend as needed)
CURRENCY_EXPONENT: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "MXN": 2,
    "INR": 2,
    "SGD": 2,
    "BRL": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}


def currency_exponent(currency: str) -> int:
    """Minor-unit exponent of a currency (0, 2 or 3).

    Raises
    ------
    InvalidQuoteError
        When the currency is unknown (names the ``currency`` field).
    """
    try:
        return CURRENCY_EXPONENT[currency]
    except KeyError:
        raise InvalidQuoteError(
            f"currency: unknown or unsupported currency {currency!r}"
        ) from None


def round_half_up(value: Decimal) -> int:
    """Round a Decimal amount of minor units half-up (away from zero) to int.

    Examples
    --------
    >>> round_half_up(Decimal("2.5")), round_half_up(Decimal("-2.5"))
    (3, -3)
    """
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def allocate(total: int, weights: Sequence[Decimal]) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``, exactly.

    Largest-remainder method: shares are floored, then the leftover units go to
    the largest remainders (ties to the earliest). The parts always sum to
    ``total``.

    Examples
    --------
    >>> allocate(10, [Decimal(1), Decimal(1), Decimal(1)])
    [4, 3, 3]
    >>> allocate(-5, [Decimal(2), Decimal(3)])
    [-2, -3]
    """
    if not weights:
        return []
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    wsum = sum(weights, Decimal(0))
    if wsum == 0:
        weights = [Decimal(1)] * len(weights)
        wsum = Decimal(len(weights))
    exact = [magnitude * w / wsum for w in weights]
    parts = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
    left = magnitude - sum(parts)
    order = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]
