"""Borders in metres: internal-border extraction, distances and discs.

* **Internal borders** are boundary segments shared by two jurisdictions of a
  layer; coastlines and the layer's outer edge are *external*. The Census files
  are built from one topology, so a shared border has the same vertices on both
  sides: segments are matched by their end points (rounded to 1e-7 degree,
  about 1 cm).
* **Distances** are metric: segment end points are put in a spherical
  azimuthal-equidistant frame centred on the query point (exact distances from
  the centre), then point-to-segment distances are taken in that plane.
* **Discs** are geodesic circles (pyproj ``Geod.fwd`` on WGS84), and their
  areas and the areas of their intersections are geodesic areas on the
  ellipsoid (``Geod.geometry_area_perimeter``), not degrees.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_MIN = 110_574.0  # metres per degree of latitude at the equator
_M_PER_DEG_MAX = 111_700.0
GEOD = Geod(ellps="WGS84")


def ring_segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ring segments of polygons: ``(n, 2, 2)`` lon/lat and owner index."""
    rings, ring_owner = shapely.get_rings(
        shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)[0],
        return_index=True,
    )
    part_owner = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)[
        1
    ]
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[1:] == ring_idx[:-1]
    seg = np.stack([coords[:-1][same], coords[1:][same]], axis=1)
    owner = part_owner[ring_owner[ring_idx[:-1][same]]]
    return seg, owner


def split_internal(
    segments: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split segments into internal (shared by two owners) and external ones.

    Returns one copy of each internal segment (not one per side) and every
    external segment.
    """
    q = np.round(segments * 1e7).astype(np.int64).reshape(-1, 4)
    swap = (q[:, 0] > q[:, 2]) | ((q[:, 0] == q[:, 2]) & (q[:, 1] > q[:, 3]))
    q[swap] = q[swap][:, [2, 3, 0, 1]]
    order = np.lexsort((owner, q[:, 3], q[:, 2], q[:, 1], q[:, 0]))
    qs = q[order]
    new_key = np.ones(len(qs), dtype=bool)
    new_key[1:] = np.any(qs[1:] != qs[:-1], axis=1)
    group = np.cumsum(new_key) - 1
    owners_sorted = owner[order]
    distinct_owner = np.ones(len(qs), dtype=bool)
    distinct_owner[1:] = new_key[1:] | (owners_sorted[1:] != owners_sorted[:-1])
    n_owners = np.bincount(group, weights=distinct_owner.astype(np.float64))
    first = order[new_key]
    shared = n_owners >= 2
    return segments[first[shared]], segments[first[~shared]]


def segment_tree(segments: np.ndarray) -> tuple[shapely.STRtree, np.ndarray]:
    """STRtree over segments (``(n, 2, 2)`` lon/lat) and the segment array."""
    lines = shapely.linestrings(segments)
    return shapely.STRtree(lines), segments


def aeqd_xy(
    lat0: np.ndarray, lng0: np.ndarray, lat: np.ndarray, lng: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical azimuthal-equidistant x, y in metres of points around centres."""
    p0, l0 = np.radians(lat0), np.radians(lng0)
    p, lam = np.radians(lat), np.radians(lng)
    dl = lam - l0
    cos_c = np.sin(p0) * np.sin(p) + np.cos(p0) * np.cos(p) * np.cos(dl)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(c > 1e-12, c / np.sin(c), 1.0)
    x = EARTH_RADIUS_M * k * np.cos(p) * np.sin(dl)
    y = (
        EARTH_RADIUS_M
        * k
        * (np.cos(p0) * np.sin(p) - np.sin(p0) * np.cos(p) * np.cos(dl))
    )
    return x, y


def point_segment_m(lat0: np.ndarray, lng0: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Metric distance from each centre to its segment (``seg`` is (n, 2, 2))."""
    ax, ay = aeqd_xy(lat0, lng0, seg[:, 0, 1], seg[:, 0, 0])
    bx, by = aeqd_xy(lat0, lng0, seg[:, 1, 1], seg[:, 1, 0])
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(den > 0, -(ax * dx + ay * dy) / den, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(ax + t * dx, ay + t * dy)


def nearest_segment_m(
    tree: shapely.STRtree,
    segments: np.ndarray,
    lat: np.ndarray,
    lng: np.ndarray,
    max_m: float,
) -> np.ndarray:
    """Metric distance from each point to the nearest segment (inf past max_m).

    The nearest segment in degrees gives an upper bound in metres; every
    segment whose box lies within that bound is then measured in metres, so
    the result is the metric minimum, not the degree one.
    """
    n = len(lat)
    out = np.full(n, np.inf)
    if n == 0 or len(segments) == 0:
        return out
    pts = shapely.points(lng, lat)
    pi, si = tree.query_nearest(pts, all_matches=False)
    ub = np.full(n, np.inf)
    ub[pi] = point_segment_m(lat[pi], lng[pi], segments[si])
    reach = np.minimum(ub, max_m) * 1.001 + 1.0
    dlat = reach / _M_PER_DEG_MIN
    coslat = np.cos(np.radians(np.minimum(np.abs(lat) + dlat, 89.9)))
    dlng = reach / (_M_PER_DEG_MIN * coslat)
    # The metric distance to a long segment (a chord in the local projection) can
    # be shorter than its lon/lat distance: a border along a parallel bows away
    # from the chord by metres. The box must still reach the nearest segment.
    deg = np.full(n, 0.0)
    deg[pi] = shapely.distance(pts[pi], tree.geometries[si]) * 1.001 + 1e-9
    dlat = np.maximum(dlat, deg)
    dlng = np.maximum(dlng, deg)
    boxes = shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat)
    qi, qs = tree.query(boxes)
    if len(qi) == 0:
        return out
    d = point_segment_m(lat[qi], lng[qi], segments[qs])
    np.minimum.at(out, qi, d)
    out[out > max_m] = np.inf
    return out


def disc_polygon(
    lat: float, lng: float, radius_m: float, vertices: int = 64
) -> Polygon | MultiPolygon:
    """Geodesic circle of ``radius_m`` around a point, as a lon/lat polygon.

    A disc crossing the antimeridian is split there into two parts (RFC 7946),
    so it never turns into a band around the globe.

    Examples
    --------
    >>> d = disc_polygon(40.0, -100.0, 1000.0)
    >>> round(geodesic_area_m2(d) / 1e6, 3)  # ~ pi km2 (64-gon: 99.8%)
    3.137
    >>> disc_polygon(52.0, 179.99, 5000.0).geom_type
    'MultiPolygon'
    """
    az = np.linspace(0.0, 360.0, vertices, endpoint=False)
    lons, lats, _ = GEOD.fwd(
        np.full(vertices, lng),
        np.full(vertices, lat),
        az,
        np.full(vertices, max(radius_m, 0.01)),
    )
    lons = lng + (lons - lng + 180.0) % 360.0 - 180.0  # continuous around lng
    disc = Polygon(np.column_stack([lons, lats]))
    if lons.min() >= -180.0 and lons.max() <= 180.0:
        return disc
    world = shapely.box(-180.0, -90.0, 180.0, 90.0)
    parts = [
        shapely.intersection(shapely.affinity.translate(disc, xoff=off), world)
        for off in (-360.0, 0.0, 360.0)
    ]
    polys = [g for p in parts for g in shapely.get_parts(p) if g.area > 0]
    return MultiPolygon(polys)


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Geodesic area of a lon/lat (Multi)Polygon on WGS84, in m2."""
    if geom is None or geom.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(float(area))


def any_segment_within_m(
    tree: shapely.STRtree,
    segments: np.ndarray,
    lat: np.ndarray,
    lng: np.ndarray,
    radius_m: np.ndarray,
) -> np.ndarray:
    """Whether any segment lies within ``radius_m`` metres of each point."""
    n = len(lat)
    out = np.zeros(n, dtype=bool)
    if n == 0 or len(segments) == 0:
        return out
    reach = np.asarray(radius_m, dtype=np.float64) * 1.001 + 1.0
    dlat = reach / _M_PER_DEG_MIN
    coslat = np.cos(np.radians(np.minimum(np.abs(lat) + dlat, 89.9)))
    dlng = reach / (_M_PER_DEG_MIN * coslat)
    boxes = shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat)
    qi, qs = tree.query(boxes)
    if len(qi):
        d = point_segment_m(lat[qi], lng[qi], segments[qs])
        out[np.unique(qi[d <= reach[qi]])] = True
    return out
