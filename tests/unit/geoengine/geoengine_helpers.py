"""Geometry builders and brute-force helpers shared by the geoengine unit tests."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geoengine.geometry import circle_to_polygon
from geoengine.types import Geofence, LatLng

M_PER_DEG = 111_320.0


def star(
    lat: float,
    lng: float,
    radius_m: float,
    spikes: int,
    inner: float,
    phase: float = 0.0,
) -> Polygon:
    """A concave star polygon (radius in metres) around a point."""
    ang = np.linspace(0, 2 * np.pi, 2 * spikes, endpoint=False) + phase
    r = np.where(np.arange(2 * spikes) % 2 == 0, radius_m, radius_m * inner)
    xs = lng + r * np.cos(ang) / (M_PER_DEG * np.cos(np.radians(lat)))
    ys = lat + r * np.sin(ang) / M_PER_DEG
    return Polygon(np.column_stack([xs, ys]))


def ring_with_hole(lat: float, lng: float, radius_m: float) -> Polygon:
    """A circle with a star-shaped hole (concave hole)."""
    outer = circle_to_polygon(LatLng(lat, lng), radius_m, 48)
    hole = star(lat, lng, radius_m * 0.5, 6, 0.5, 0.3)
    return Polygon(outer.exterior.coords, [hole.exterior.coords])


def two_part(lat: float, lng: float, radius_m: float) -> MultiPolygon:
    """A multipolygon: a circle and a star, side by side."""
    d = 2.5 * radius_m / M_PER_DEG
    return MultiPolygon(
        [
            circle_to_polygon(LatLng(lat, lng - d), radius_m, 32),
            star(lat, lng + d, radius_m, 5, 0.45),
        ]
    )


def mixed_fences(
    n: int,
    seed: int,
    lat0: float = 40.75,
    lng0: float = -73.98,
    spread_m: float = 3_000.0,
    first_id: int = 1,
) -> list[Geofence]:
    """Circles, concave stars, holed polygons and multipolygons, overlapping."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lat = lat0 + rng.normal(0, spread_m) / M_PER_DEG
        lng = lng0 + rng.normal(0, spread_m) / (M_PER_DEG * np.cos(np.radians(lat0)))
        r = float(rng.uniform(40.0, 600.0))
        kind = i % 4
        if kind == 0:
            g = circle_to_polygon(LatLng(lat, lng), r, 64)
        elif kind == 1:
            g = star(
                lat,
                lng,
                r,
                int(rng.integers(5, 13)),
                float(rng.uniform(0.3, 0.7)),
                float(rng.uniform(0, 3)),
            )
        elif kind == 2:
            g = ring_with_hole(lat, lng, r)
        else:
            g = two_part(lat, lng, r)
        assert g.is_valid
        out.append(Geofence(first_id + i, g))
    return out


def brute_force_pairs(
    fences: list[Geofence], x: np.ndarray, y: np.ndarray
) -> set[tuple[int, int]]:
    """Every (point, fence id) with shapely.intersects_xy, no index at all."""
    pairs: set[tuple[int, int]] = set()
    for f in fences:
        hit = np.flatnonzero(shapely.intersects_xy(f.geometry, x, y))
        pairs.update((int(i), f.id) for i in hit)
    return pairs


def boundary_points(fences: list[Geofence]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and edge midpoints of every fence: points on the boundary."""
    xs, ys = [], []
    for f in fences:
        for part in shapely.get_parts(f.geometry):
            for ring in [part.exterior, *part.interiors]:
                c = np.asarray(ring.coords)
                xs.extend(c[:, 0])
                ys.extend(c[:, 1])
                mid = (c[:-1] + c[1:]) / 2
                xs.extend(mid[:, 0])
                ys.extend(mid[:, 1])
    return np.asarray(xs), np.asarray(ys)
