"""Frozen value types of the geofence engine.

Coordinates travel as :class:`LatLng`; they become ``x=lng, y=lat`` only at the
shapely seam (see :mod:`geoengine.geometry`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

from geoengine.errors import InvalidInputError, InvalidPositionError

FenceId = int
"""Fence identifiers are integers (the store's primary key)."""


def check_lat_lng(lat: float, lng: float, field_prefix: str = "") -> None:
    """Raise :class:`InvalidPositionError` unless ``lat``/``lng`` are valid.

    Parameters
    ----------
    lat, lng : float
        Latitude and longitude in degrees (WGS84).
    field_prefix : str
        Prefix for the field names in the error message, e.g. ``"points[3]."``.
    """
    if (
        type(lat) is float
        and type(lng) is float
        and -90.0 <= lat <= 90.0
        and -180.0 <= lng <= 180.0
    ):
        return  # the common case, checked in one expression (NaN fails it)
    for name, value, bound in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidPositionError(f"{field_prefix}{name}", "must be a number")
        if not math.isfinite(value):
            raise InvalidPositionError(
                f"{field_prefix}{name}", f"must be finite, got {value}"
            )
        if not -bound <= value <= bound:
            raise InvalidPositionError(
                f"{field_prefix}{name}",
                f"must be in [-{bound:g}, {bound:g}], got {value}",
            )


@dataclass(frozen=True, slots=True)
class LatLng:
    """A validated WGS84 position in degrees.

    Examples
    --------
    >>> LatLng(40.7, -74.0)
    LatLng(lat=40.7, lng=-74.0)
    >>> LatLng(91.0, 0.0)
    Traceback (most recent call last):
    ...
    geoengine.errors.InvalidPositionError: lat: must be in [-90, 90], got 91.0
    """

    lat: float
    lng: float

    def __post_init__(self) -> None:
        check_lat_lng(self.lat, self.lng)
        object.__setattr__(self, "lat", float(self.lat))
        object.__setattr__(self, "lng", float(self.lng))


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Geofence:
    """A fence as the engine sees it (tenant-free: the service scopes tenants).

    ``geometry`` is a validated, normalised (Multi)Polygon in lng/lat degrees,
    as returned by :func:`geoengine.geometry.fence_geometry_from_geojson`.
    ``dwell_s`` is the time inside after which a ``dwell`` event fires (None:
    no dwell events). ``radius_m`` and ``center`` are set for circle fences.
    """

    id: FenceId
    geometry: Polygon | MultiPolygon
    name: str = ""
    tag: str | None = None
    external_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    dwell_s: float | None = None
    active: bool = True
    center: LatLng | None = None
    radius_m: float | None = None
    opening_hours: Mapping[str, Any] | None = field(
        default=None, hash=False, compare=False
    )

    def __post_init__(self) -> None:
        if (
            not isinstance(self.geometry, Polygon | MultiPolygon)
            or self.geometry.is_empty
        ):
            raise InvalidInputError(
                "geometry", "must be a non-empty Polygon or MultiPolygon"
            )
        if self.dwell_s is not None and not (
            math.isfinite(self.dwell_s) and self.dwell_s >= 0
        ):
            raise InvalidInputError(
                "dwell_s", f"must be a finite number >= 0, got {self.dwell_s}"
            )
        object.__setattr__(self, "metadata", _freeze(self.metadata))


class IpStatus(StrEnum):
    """Outcome of an IP lookup."""

    FOUND = "found"
    PRIVATE = "private"  # private, loopback, link-local, reserved, multicast...
    UNKNOWN = "unknown"  # a public address absent from the database
    INVALID = "invalid"  # not an IP address at all
    NO_LOCATION = "no_location"  # in the database, but without coordinates


@dataclass(frozen=True, slots=True)
class IpLocation:
    """Result of locating one IP address.

    ``latlng`` and ``radius_m`` are None unless ``status`` is ``FOUND``.
    ``radius_default`` is True when the database had no radius and the
    documented city-level default was used.
    """

    ip: str
    status: IpStatus
    latlng: LatLng | None = None
    radius_m: float | None = None
    radius_default: bool = False
    country_code: str | None = None
    region: str | None = None
    city: str | None = None
    postcode: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class PositionFix:
    """One ping of a device, with its IP already located (if any).

    At least one of ``latlng`` (GPS/Wi-Fi, with ``accuracy_m`` at about 68 %
    confidence) or ``ip_location`` should be present.
    """

    device_id: str
    ts_s: float
    latlng: LatLng | None = None
    accuracy_m: float | None = None
    ip_location: IpLocation | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    mocked: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.ts_s):
            raise InvalidInputError("ts_s", f"must be finite, got {self.ts_s}")
        if self.accuracy_m is not None and not (
            math.isfinite(self.accuracy_m) and self.accuracy_m > 0
        ):
            raise InvalidInputError(
                "accuracy_m", f"must be a finite number > 0, got {self.accuracy_m}"
            )


class Source(StrEnum):
    """Inputs that contributed to a fused estimate."""

    GPS = "gps"
    IP = "ip"
    PRIOR = "prior"


class Flag(StrEnum):
    """Trust flags attached to a fused estimate (Radar-like vocabulary)."""

    MOCKED = "mocked"
    JUMPED = "jumped"
    IP_GPS_CONFLICT = "ip_gps_conflict"
    STALE = "stale"  # older than the state: stored, not applied
    INACCURATE = "inaccurate"  # accuracy worse than FusionParams.inaccurate_m
    NO_POSITION = "no_position"  # nothing usable in the fix and no prior
    IP_UNLOCATED = "ip_unlocated"  # IP given but private/unknown/invalid
    OUTSIDE_SERVICE_AREA = "outside_service_area"
    SWAPPED_COORDINATES = "swapped_coordinates"  # lat/lng swapped lands inside


@dataclass(frozen=True, slots=True)
class PositionEstimate:
    """A fused position with its 1-sigma-per-axis accuracy in metres."""

    latlng: LatLng | None
    accuracy_m: float | None
    ts_s: float
    sources: tuple[Source, ...] = ()
    flags: frozenset[Flag] = frozenset()


class EventKind(StrEnum):
    """Fence transitions, using Tile38's words plus ``dwell``."""

    ENTER = "enter"
    EXIT = "exit"
    DWELL = "dwell"


@dataclass(frozen=True, slots=True)
class FenceEvent:
    """One transition of a device with respect to one fence."""

    device_id: str
    fence_id: FenceId
    kind: EventKind
    ts_s: float
    probability: float
    latlng: LatLng | None = None

    @property
    def event_id(self) -> str:
        """Deterministic id, so that persisting an event twice is idempotent."""
        return f"{self.device_id}:{self.fence_id}:{self.kind.value}:{self.ts_s:.3f}"
