"""Errors of ``tax_zones``: one base class, a few groups (no HTTP statuses)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TaxZoneError(Exception):
    """Base class of every tax_zones error."""


# --- bad input (ValueError: the message names the offending field) ----------
class TaxInputError(TaxZoneError, ValueError):
    """A caller-supplied value is invalid."""


class InvalidLocationError(TaxInputError):
    """A coordinate or accuracy radius is NaN, infinite or out of range."""


class UnknownZipError(TaxInputError):
    """A ZIP code is malformed or not in the ZIP table."""


class InvalidQuoteError(TaxInputError):
    """A quote request has a bad line, amount, currency or category."""


# --- resolution outcomes ------------------------------------------------------
class ResolutionError(TaxZoneError):
    """A location could not be turned into one jurisdiction stack."""


class NoJurisdictionError(ResolutionError):
    """The location lies outside every loaded jurisdiction (never zero tax)."""


class AmbiguousJurisdictionError(ResolutionError):
    """The uncertainty disc crosses a border and the policy requires precision."""

    def __init__(self, message: str, candidates: Sequence[Any]) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)

    def problem_fields(self) -> dict[str, Any]:
        """Extra fields of the API's problem document: every candidate stack."""
        from tax_zones.codec import to_jsonable

        return {"candidates": to_jsonable(self.candidates)}


class PositionUnavailableError(ResolutionError):
    """An input (e.g. an IP) carries no usable position."""


# --- data ---------------------------------------------------------------------
class TaxDataError(TaxZoneError):
    """Reference data (boundaries, rates, rules) is missing or inconsistent."""


class BoundaryDataError(TaxDataError):
    """A boundary file cannot be read or has no usable geometry or CRS."""


class RateDataError(TaxDataError):
    """A rate table row is malformed or rates overlap in time."""


class RateNotFoundError(TaxDataError):
    """No rate covers a jurisdiction, category and date."""
