"""Fence geometry: validation and normalisation from GeoJSON.

Accepted inputs are GeoJSON ``Polygon`` and ``MultiPolygon`` geometries and
circles (a ``Point`` plus ``radius_m``, or ``{"type": "Circle", "coordinates":
[lng, lat], "radius_m": r}``), which become geodesic polygons (pyproj).

Checks, each failing with an error that names the field and the problem:
structure, finite numbers, lng in [-180, 180] and lat in [-90, 90], rings
closed with at least 4 positions, no self-intersection (``repair=True`` applies
``shapely.make_valid`` instead and reports it), non-empty area, and the area
cap. An edge whose longitude jumps by more than 180 degrees is read as crossing
the antimeridian and the fence is split there into a MultiPolygon (RFC 7946
section 3.1.9). Output polygons are oriented as RFC 7946 asks (exterior
counter-clockwise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from geoengine.errors import (
    EmptyGeometryError,
    GeometryTooLargeError,
    InvalidGeometryError,
    RingError,
    SelfIntersectionError,
    UnsupportedGeometryError,
)
from geoengine.types import Flag, LatLng

GEOD = Geod(ellps="WGS84")

FenceShape = Polygon | MultiPolygon


@dataclass(frozen=True, slots=True)
class GeometryParams:
    """Limits for fence geometries.

    Attributes
    ----------
    max_area_m2 : float
        Geodesic area cap (default 100 km^2).
    min_radius_m, max_radius_m : float
        Bounds on circle radii.
    circle_vertices : int
        Vertices of the polygon that approximates a circle (vertices lie on the
        geodesic circle, so the polygon is inscribed: with 64 vertices it is
        at most 0.12 % of the radius inside the true circle).
    """

    max_area_m2: float = 100e6
    min_radius_m: float = 1.0
    max_radius_m: float = 50_000.0
    circle_vertices: int = 64


@dataclass(frozen=True, slots=True)
class FenceGeometry:
    """A validated fence geometry and what was done to it."""

    geometry: FenceShape
    area_m2: float
    repaired: bool = False
    repair_note: str | None = None
    antimeridian_split: bool = False
    center: LatLng | None = None
    radius_m: float | None = None


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidGeometryError(field, f"must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidGeometryError(field, f"must be finite, got {value!r}")
    return v


def _position(pos: Any, field: str) -> tuple[float, float]:
    if not isinstance(pos, Sequence) or isinstance(pos, str) or len(pos) < 2:
        raise InvalidGeometryError(field, "a position must be [lng, lat]")
    lng = _number(pos[0], f"{field}[0]")
    lat = _number(pos[1], f"{field}[1]")
    if not -180.0 <= lng <= 180.0:
        raise InvalidGeometryError(
            f"{field}[0]", f"longitude must be in [-180, 180], got {lng}"
        )
    if not -90.0 <= lat <= 90.0:
        hint = " (coordinates are [lng, lat]: swapped?)" if -90 <= lng <= 90 else ""
        raise InvalidGeometryError(
            f"{field}[1]", f"latitude must be in [-90, 90], got {lat}{hint}"
        )
    return lng, lat


def _ring(ring: Any, field: str) -> list[tuple[float, float]]:
    if not isinstance(ring, Sequence) or isinstance(ring, str):
        raise InvalidGeometryError(field, "a ring must be an array of positions")
    pts = [_position(p, f"{field}[{i}]") for i, p in enumerate(ring)]
    if len(pts) < 4:
        raise RingError(field, f"a ring needs at least 4 positions, got {len(pts)}")
    if pts[0] != pts[-1]:
        raise RingError(field, "ring is not closed (first and last positions differ)")
    return pts


def _polygon_rings(coords: Any, field: str) -> list[list[tuple[float, float]]]:
    if not isinstance(coords, Sequence) or isinstance(coords, str):
        raise InvalidGeometryError(
            field, "polygon coordinates must be an array of rings"
        )
    if len(coords) == 0:
        raise EmptyGeometryError(field, "polygon has no rings")
    return [_ring(r, f"{field}[{i}]") for i, r in enumerate(coords)]


def _crosses_antimeridian(rings: list[list[tuple[float, float]]]) -> bool:
    for ring in rings:
        lngs = np.array([p[0] for p in ring])
        if np.any(np.abs(np.diff(lngs)) > 180.0):
            return True
    return False


def _split_antimeridian(rings: list[list[tuple[float, float]]]) -> list[Polygon]:
    """Unwrap to [0, 360) then cut at lng 180 into two halves (RFC 7946)."""
    shifted = [[(x + 360.0 if x < 0 else x, y) for x, y in ring] for ring in rings]
    poly = Polygon(shifted[0], shifted[1:])
    parts: list[Polygon] = []
    for lo, offset in ((0.0, 0.0), (180.0, -360.0)):
        piece = poly.intersection(box(lo, -90.0, lo + 180.0, 90.0))
        piece = shapely.affinity.translate(piece, xoff=offset)
        parts.extend(g for g in shapely.get_parts(piece) if isinstance(g, Polygon))
    return [p for p in parts if p.area > 0]


def _polygons_of(geom: Any) -> list[Polygon]:
    out: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty and part.area > 0:
            out.append(part)
        elif isinstance(part, MultiPolygon | shapely.GeometryCollection):
            out.extend(_polygons_of(part))
    return out


def geodesic_area_m2(geometry: FenceShape) -> float:
    """Geodesic area of a lng/lat (Multi)Polygon on the WGS84 ellipsoid, in m^2."""
    area, _ = GEOD.geometry_area_perimeter(geometry)
    return abs(float(area))


def circle_to_polygon(center: LatLng, radius_m: float, n_vertices: int = 64) -> Polygon:
    """Geodesic circle as a lng/lat polygon (vertices exactly ``radius_m`` away).

    The result may cross the antimeridian; :func:`fence_geometry_from_geojson`
    splits it.

    Examples
    --------
    >>> p = circle_to_polygon(LatLng(40.0, -74.0), 100.0, 16)
    >>> len(p.exterior.coords)
    17
    """
    az = np.linspace(0.0, 360.0, n_vertices, endpoint=False)
    lngs, lats, _ = GEOD.fwd(
        np.full(n_vertices, center.lng),
        np.full(n_vertices, center.lat),
        az,
        np.full(n_vertices, float(radius_m)),
    )
    ring = list(zip(np.asarray(lngs).tolist(), np.asarray(lats).tolist(), strict=True))
    ring.append(ring[0])
    return Polygon(ring)


def _circle_rings(
    geometry: Mapping[str, Any], radius_m: Any, params: GeometryParams
) -> tuple[list[list[tuple[float, float]]], LatLng, float]:
    lng, lat = _position(geometry.get("coordinates"), "geometry.coordinates")
    r = _number(radius_m, "radius_m")
    if not params.min_radius_m <= r <= params.max_radius_m:
        raise InvalidGeometryError(
            "radius_m",
            f"must be in [{params.min_radius_m:g}, {params.max_radius_m:g}] m, "
            f"got {r:g}",
        )
    if abs(lat) > 89.0:
        raise InvalidGeometryError(
            "geometry.coordinates[1]", "circles near the poles are not supported"
        )
    center = LatLng(lat, lng)
    poly = circle_to_polygon(center, r, params.circle_vertices)
    return [list(poly.exterior.coords)], center, r


def fence_geometry_from_geojson(
    geometry: Mapping[str, Any],
    *,
    radius_m: float | None = None,
    repair: bool = False,
    params: GeometryParams | None = None,
) -> FenceGeometry:
    """Validate and normalise a GeoJSON fence geometry.

    Parameters
    ----------
    geometry : Mapping
        GeoJSON geometry object: ``Polygon``, ``MultiPolygon``, ``Point`` (with
        ``radius_m``) or ``Circle`` (``coordinates`` and ``radius_m`` keys).
    radius_m : float, optional
        Circle radius in metres, for ``Point`` geometries.
    repair : bool
        Apply ``make_valid`` to invalid (e.g. self-intersecting) polygons
        instead of raising; ``FenceGeometry.repaired`` and ``repair_note`` say so.
    params : GeometryParams, optional
        Limits (defaults: :class:`GeometryParams`).

    Returns
    -------
    FenceGeometry

    Raises
    ------
    InvalidGeometryError
        Or one of its subclasses, naming the field and the problem.
    GeometryTooLargeError
        If the geodesic area exceeds ``params.max_area_m2``.

    Examples
    --------
    >>> g = fence_geometry_from_geojson({"type": "Polygon", "coordinates": [
    ...     [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]]})
    >>> round(g.area_m2 / 1e6, 2)
    1.23
    """
    params = params or GeometryParams()
    if not isinstance(geometry, Mapping):
        raise InvalidGeometryError("geometry", "must be a GeoJSON geometry object")
    gtype = geometry.get("type")
    center: LatLng | None = None
    radius: float | None = None
    if gtype == "Polygon":
        polys = [_polygon_rings(geometry.get("coordinates"), "geometry.coordinates")]
    elif gtype == "MultiPolygon":
        coords = geometry.get("coordinates")
        if not isinstance(coords, Sequence) or isinstance(coords, str):
            raise InvalidGeometryError(
                "geometry.coordinates", "must be an array of polygons"
            )
        if len(coords) == 0:
            raise EmptyGeometryError(
                "geometry.coordinates", "multipolygon has no polygons"
            )
        polys = [
            _polygon_rings(c, f"geometry.coordinates[{i}]")
            for i, c in enumerate(coords)
        ]
    elif gtype in ("Point", "Circle"):
        r = radius_m if radius_m is not None else geometry.get("radius_m")
        if r is None:
            raise InvalidGeometryError("radius_m", "a circle fence needs radius_m")
        rings, center, radius = _circle_rings(geometry, r, params)
        polys = [rings]
    else:
        raise UnsupportedGeometryError(
            "geometry.type",
            f"must be Polygon, MultiPolygon, Point or Circle, got {gtype!r}",
        )

    split = False
    parts: list[Polygon] = []
    for rings in polys:
        if _crosses_antimeridian(rings):
            split = True
            parts.extend(_split_antimeridian(rings))
        else:
            parts.append(Polygon(rings[0], rings[1:]))
    shape: Any = (
        parts[0] if len(parts) == 1 else MultiPolygon(parts) if parts else Polygon()
    )

    repaired, note = False, None
    if not shape.is_empty and not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        if not repair:
            cls = (
                SelfIntersectionError
                if "Self-intersection" in reason
                else InvalidGeometryError
            )
            raise cls(
                "geometry",
                f"invalid polygon: {reason}; retry with repair=true to fix it",
            )
        shape = shapely.make_valid(shape)
        repaired, note = True, f"make_valid applied: {reason}"
    polys_out = _polygons_of(shape)
    if not polys_out:
        raise EmptyGeometryError("geometry", "geometry has no area")
    oriented = [orient(p, sign=1.0) for p in polys_out]
    final: FenceShape = oriented[0] if len(oriented) == 1 else MultiPolygon(oriented)
    if len(oriented) > 1 and not final.is_valid:
        final = MultiPolygon(_polygons_of(shapely.make_valid(final)))
    area = geodesic_area_m2(final)
    if area <= 0:
        raise EmptyGeometryError("geometry", "geometry has no area")
    if area > params.max_area_m2:
        raise GeometryTooLargeError(
            "geometry",
            f"area {area / 1e6:.3f} km^2 exceeds the cap of "
            f"{params.max_area_m2 / 1e6:g} km^2",
        )
    return FenceGeometry(final, area, repaired, note, split, center, radius)


def service_area_flags(
    latlng: LatLng, service_area: FenceShape | None
) -> frozenset[Flag]:
    """Flags for a position outside a tenant's service area.

    ``outside_service_area`` when the position is not covered by the area, plus
    ``swapped_coordinates`` when swapping latitude and longitude would put it
    inside (the classic ``[lat, lng]`` instead of ``[lng, lat]`` mistake).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> us = box(-125.0, 24.0, -66.0, 50.0)
    >>> sorted(service_area_flags(LatLng(-74.0, 40.7), us))
    [<Flag.OUTSIDE_SERVICE_AREA: 'outside_service_area'>, \
<Flag.SWAPPED_COORDINATES: 'swapped_coordinates'>]
    >>> service_area_flags(LatLng(40.7, -74.0), us)
    frozenset()
    """
    if service_area is None:
        return frozenset()
    if shapely.intersects_xy(service_area, latlng.lng, latlng.lat):
        return frozenset()
    flags = {Flag.OUTSIDE_SERVICE_AREA}
    if abs(latlng.lng) <= 90.0 and shapely.intersects_xy(
        service_area, latlng.lat, latlng.lng
    ):
        flags.add(Flag.SWAPPED_COORDINATES)
    return frozenset(flags)
