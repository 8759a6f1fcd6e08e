"""Frozen value types of ``tax_zones``: locations, jurisdictions, sources."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shapely.geometry.base import BaseGeometry

from tax_zones.errors import InvalidLocationError


class Level(StrEnum):
    """Jurisdiction levels, coarse to fine."""

    COUNTRY = "country"
    STATE = "state"
    COUNTY = "county"
    PLACE = "place"
    DISTRICT = "district"


LEVEL_ORDER: tuple[Level, ...] = tuple(Level)


@dataclass(frozen=True)
class LatLng:
    """A WGS84 position in degrees (same shape as ``geoengine.types.LatLng``).

    Raises
    ------
    InvalidLocationError
        When a coordinate is NaN, infinite or out of range (names the field).
    """

    lat: float
    lng: float

    def __post_init__(self) -> None:
        for name, value, limit in (("lat", self.lat, 90.0), ("lng", self.lng, 180.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidLocationError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InvalidLocationError(f"{name} must be finite, got {value!r}")
            if not -limit <= value <= limit:
                raise InvalidLocationError(
                    f"{name} must be within [-{limit:g}, {limit:g}], got {value!r}"
                )


@dataclass(frozen=True)
class BoundarySource:
    """Where a boundary layer comes from and how far off its lines may sit.

    Attributes
    ----------
    name, vintage : str
        Source identifier and the year of the boundaries.
    boundary_error_m : float
        Stated positional error of the boundary lines, in metres; added to the
        caller's accuracy radius when deciding whether a border is crossed.
    credit : str
        Attribution to show in responses.
    """

    name: str
    vintage: str
    boundary_error_m: float
    credit: str


CENSUS_500K_2016 = BoundarySource(
    name="census-cb-500k",
    vintage="2016",
    boundary_error_m=50.0,
    credit="U.S. Census Bureau, cartographic boundary files 1:500,000, 2016 "
    "(public domain)",
)
US_ATLAS_10M = BoundarySource(
    name="us-atlas-10m",
    vintage="2017",
    boundary_error_m=1300.0,
    credit="U.S. Census Bureau via us-atlas 3.0.1 (ISC); borders up to ~1.3 km "
    "off the 1:500k lines at p99: never for decisions near a border",
)


def world_atlas_source(scale: str) -> BoundarySource:
    """Natural Earth countries through world-atlas at ``scale`` (10m/50m/110m)."""
    errors = {"10m": 1_000.0, "50m": 5_000.0, "110m": 20_000.0}
    if scale not in errors:
        raise ValueError(f"scale must be one of {sorted(errors)}, got {scale!r}")
    return BoundarySource(
        name=f"world-atlas-{scale}",
        vintage="Natural Earth 4.1",
        boundary_error_m=errors[scale],
        credit="Natural Earth (public domain) via world-atlas 2.0.2 (ISC)",
    )


@dataclass(frozen=True)
class Jurisdiction:
    """One taxing jurisdiction with its boundary.

    ``code`` is the 2-digit FIPS for a US state, the 5-digit GEOID for a
    county, ISO 3166-1 alpha-2 for a country. ``geometry`` is a MultiPolygon
    in EPSG:4326, or None for a record known only as a parent.
    """

    level: Level
    code: str
    name: str
    parent_code: str | None
    geometry: BaseGeometry | None
    source: BoundarySource
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the record applies on ``day`` (``valid_to`` exclusive)."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to

    def ref(self) -> JurisdictionRef:
        """The geometry-free reference used in results."""
        return JurisdictionRef(self.level, self.code, self.name)


@dataclass(frozen=True, order=True)
class JurisdictionRef:
    """A jurisdiction in a result: level, code, name."""

    level: Level
    code: str
    name: str
