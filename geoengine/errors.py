"""Errors raised by the geofence engine.

One base class, :class:`GeoEngineError`, with a few abstract groups, in the
manner of h3-py's error system. Domain errors carry no HTTP status: the API
layer maps classes to statuses. Every error caused by a bad value is also a
:class:`ValueError` and names the offending field and the problem.
"""

from __future__ import annotations


class GeoEngineError(Exception):
    """Base class of every error raised by ``geoengine``."""


class InvalidInputError(GeoEngineError, ValueError):
    """A value given to the engine is invalid (abstract group).

    Parameters
    ----------
    field : str
        Name or path of the offending field, e.g. ``"geometry.coordinates[0]"``.
    problem : str
        Human-readable description of what is wrong with it.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InvalidPositionError(InvalidInputError):
    """A coordinate is not finite or lies outside the valid lat/lng range."""


class InvalidGeometryError(InvalidInputError):
    """A fence geometry is malformed (abstract group for geometry problems)."""


class UnsupportedGeometryError(InvalidGeometryError):
    """The GeoJSON geometry type cannot be used as a fence."""


class EmptyGeometryError(InvalidGeometryError):
    """The geometry has no area (no coordinates, or nothing left after repair)."""


class RingError(InvalidGeometryError):
    """A polygon ring is unclosed or has fewer than four positions."""


class SelfIntersectionError(InvalidGeometryError):
    """A ring crosses itself or another ring (e.g. a bow-tie polygon)."""


class GeometryTooLargeError(InvalidInputError):
    """A fence exceeds the area cap or the H3 cell-count cap."""


class FenceNotFoundError(GeoEngineError, LookupError):
    """A fence id is not present in the index or the store."""

    def __init__(self, fence_id: object) -> None:
        self.fence_id = fence_id
        super().__init__(f"fence {fence_id!r} not found")


class IpDatabaseError(GeoEngineError):
    """The IP location database cannot be opened or has an unknown schema."""


class StateError(GeoEngineError, ValueError):
    """A serialised device state cannot be decoded."""


class CampaignNotFoundError(GeoEngineError, LookupError):
    """No such offer campaign for this tenant."""


class OfferCodeError(GeoEngineError, ValueError):
    """An offer code was refused; ``reason`` says why (abstract group).

    Reasons: ``malformed``, ``invalid_signature``, ``foreign_tenant``,
    ``unknown_code``, ``expired``, ``wrong_customer``, ``currency_mismatch``,
    ``min_basket_not_met``, ``no_eligible_items``, ``already_redeemed``.
    """

    def __init__(self, reason: str, problem: str, field: str = "offer_code") -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {problem}")

    def problem_fields(self) -> dict[str, str]:
        return {"reason": self.reason}


class OfferCodeRejectedError(OfferCodeError):
    """The code is not valid here: tampered, foreign, expired or basket rules."""


class OfferCodeRedeemedError(OfferCodeError):
    """The single-use code was already redeemed."""
