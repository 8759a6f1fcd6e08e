"""Fence geometry validation and normalisation."""

from __future__ import annotations

import math

import pytest
import shapely

from geoengine.errors import (
    EmptyGeometryError,
    GeometryTooLargeError,
    InvalidGeometryError,
    RingError,
    SelfIntersectionError,
    UnsupportedGeometryError,
)
from geoengine.geometry import (
    GeometryParams,
    circle_to_polygon,
    fence_geometry_from_geojson,
)
from geoengine.types import LatLng

SQUARE = [[-74.0, 40.0], [-73.99, 40.0], [-73.99, 40.01], [-74.0, 40.01], [-74.0, 40.0]]
BOW_TIE = [
    [-74.0, 40.0],
    [-73.99, 40.01],
    [-73.99, 40.0],
    [-74.0, 40.01],
    [-74.0, 40.0],
]


def poly(*rings):
    return {"type": "Polygon", "coordinates": list(rings)}


class TestValid:
    def test_polygon_is_oriented_ccw_and_measured(self) -> None:
        cw = list(reversed(SQUARE))
        g = fence_geometry_from_geojson(poly(cw))
        assert g.geometry.exterior.is_ccw
        expected = (0.01 * 111_040.0) * (
            0.01 * 111_320.0 * math.cos(math.radians(40.005))
        )
        assert g.area_m2 == pytest.approx(expected, rel=0.005)
        assert not g.repaired
        assert not g.antimeridian_split

    def test_polygon_with_hole_and_multipolygon(self) -> None:
        hole = [
            [-73.998, 40.002],
            [-73.998, 40.004],
            [-73.996, 40.004],
            [-73.996, 40.002],
            [-73.998, 40.002],
        ]
        g = fence_geometry_from_geojson(poly(SQUARE, hole))
        assert len(g.geometry.interiors) == 1
        far = [[x + 0.1, y] for x, y in SQUARE]
        m = fence_geometry_from_geojson(
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [far]]}
        )
        assert m.geometry.geom_type == "MultiPolygon"
        assert len(m.geometry.geoms) == 2

    @pytest.mark.parametrize("radius_m", [150.0, 400.0, 5_000.0])
    def test_circle_area_close_to_pi_r2(self, radius_m) -> None:
        g = fence_geometry_from_geojson(
            {"type": "Point", "coordinates": [-74.0, 40.7]}, radius_m=radius_m
        )
        assert g.radius_m == radius_m
        assert g.center == LatLng(40.7, -74.0)
        assert g.area_m2 == pytest.approx(math.pi * radius_m**2, rel=0.005)

    def test_circle_type_with_radius_inside(self) -> None:
        g = fence_geometry_from_geojson(
            {"type": "Circle", "coordinates": [-74.0, 40.7], "radius_m": 200}
        )
        assert g.geometry.is_valid

    def test_circle_vertices_are_at_the_radius(self) -> None:
        from pyproj import Geod

        p = circle_to_polygon(LatLng(40.0, -74.0), 300.0, 32)
        xs, ys = p.exterior.xy
        _, _, d = Geod(ellps="WGS84").inv([-74.0] * len(xs), [40.0] * len(xs), xs, ys)
        assert max(abs(v - 300.0) for v in d) < 1e-6


class TestAntimeridian:
    def test_polygon_crossing_is_split_in_two(self) -> None:
        ring = [
            [179.99, -16.0],
            [-179.99, -16.0],
            [-179.99, -15.99],
            [179.99, -15.99],
            [179.99, -16.0],
        ]
        g = fence_geometry_from_geojson(poly(ring))
        assert g.antimeridian_split
        parts = list(g.geometry.geoms)
        assert len(parts) == 2
        xs = sorted(p.bounds[0] for p in parts)
        assert xs[0] == pytest.approx(-180.0)
        assert all(p.bounds[0] >= -180.0 and p.bounds[2] <= 180.0 for p in parts)
        assert g.area_m2 == pytest.approx(
            2 * 0.01 * 0.01 * 111_320**2 * 0.9613, rel=0.01
        )

    def test_circle_crossing_is_split(self) -> None:
        g = fence_geometry_from_geojson(
            {"type": "Point", "coordinates": [-179.9995, 10.0]}, radius_m=300.0
        )
        assert g.antimeridian_split
        assert g.area_m2 == pytest.approx(math.pi * 300.0**2, rel=0.005)


class TestInvalid:
    @pytest.mark.parametrize(
        ("geometry", "error", "field", "problem"),
        [
            (
                poly([[-74.0, float("nan")], *SQUARE[1:]]),
                InvalidGeometryError,
                "coordinates[0][0][1]",
                "finite",
            ),
            (
                poly([[float("inf"), 40.0], *SQUARE[1:]]),
                InvalidGeometryError,
                "coordinates[0][0][0]",
                "finite",
            ),
            (
                poly([[-74.0, 91.0], *SQUARE[1:]]),
                InvalidGeometryError,
                "coordinates[0][0][1]",
                "latitude must be in",
            ),
            (
                poly([[30.0, -97.0], [30.01, -97.0], [30.01, -96.99], [30.0, -97.0]]),
                InvalidGeometryError,
                "coordinates[0][0][1]",
                "swapped",
            ),
            (
                poly([[-181.0, 40.0], *SQUARE[1:]]),
                InvalidGeometryError,
                "coordinates[0][0][0]",
                "longitude",
            ),
            (poly(SQUARE[:-1]), RingError, "coordinates[0]", "not closed"),
            (
                poly([SQUARE[0], SQUARE[1], SQUARE[0]]),
                RingError,
                "coordinates[0]",
                "at least 4",
            ),
            (poly(BOW_TIE), SelfIntersectionError, "geometry", "Self-intersection"),
            (poly(), EmptyGeometryError, "geometry.coordinates", "no rings"),
            (
                {"type": "MultiPolygon", "coordinates": []},
                EmptyGeometryError,
                "geometry.coordinates",
                "no polygons",
            ),
            (
                {"type": "Polygon", "coordinates": "x"},
                InvalidGeometryError,
                "geometry.coordinates",
                "array of rings",
            ),
            (
                poly([["a", 40.0], *SQUARE[1:]]),
                InvalidGeometryError,
                "coordinates[0][0][0]",
                "number",
            ),
            (
                {"type": "LineString", "coordinates": SQUARE},
                UnsupportedGeometryError,
                "geometry.type",
                "LineString",
            ),
            (
                {"type": "Point", "coordinates": [-74.0, 40.0]},
                InvalidGeometryError,
                "radius_m",
                "needs radius_m",
            ),
            (
                poly([[-74.0, 40.0], [-73.99, 40.0], [-73.98, 40.0], [-74.0, 40.0]]),
                InvalidGeometryError,
                "geometry",
                "",
            ),
        ],
    )
    def test_error_names_field_and_problem(
        self, geometry, error, field, problem
    ) -> None:
        with pytest.raises(error) as info:
            fence_geometry_from_geojson(geometry)
        assert field in info.value.field
        assert problem in info.value.problem
        assert isinstance(info.value, ValueError)

    def test_bow_tie_repaired_on_request(self) -> None:
        g = fence_geometry_from_geojson(poly(BOW_TIE), repair=True)
        assert g.repaired
        assert "Self-intersection" in g.repair_note
        assert g.geometry.is_valid
        assert g.geometry.geom_type == "MultiPolygon"

    def test_area_cap(self) -> None:
        big = [
            [-100.0, 30.0],
            [-90.0, 30.0],
            [-90.0, 40.0],
            [-100.0, 40.0],
            [-100.0, 30.0],
        ]
        with pytest.raises(GeometryTooLargeError, match="exceeds the cap"):
            fence_geometry_from_geojson(poly(big))

    def test_radius_bounds(self) -> None:
        with pytest.raises(InvalidGeometryError, match="radius_m"):
            fence_geometry_from_geojson(
                {"type": "Point", "coordinates": [-74.0, 40.0]},
                radius_m=1e6,
                params=GeometryParams(max_radius_m=50_000),
            )

    def test_not_a_mapping(self) -> None:
        with pytest.raises(InvalidGeometryError, match="GeoJSON geometry object"):
            fence_geometry_from_geojson([1, 2])  # type: ignore[arg-type]

    def test_overlapping_multipolygon_parts(self) -> None:
        shifted = [[x + 0.005, y] for x, y in SQUARE]
        geom = {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]}
        with pytest.raises(InvalidGeometryError):
            fence_geometry_from_geojson(geom)
        fixed = fence_geometry_from_geojson(geom, repair=True)
        assert fixed.repaired
        assert shapely.is_valid(fixed.geometry)


class TestServiceArea:
    US = shapely.box(-125.0, 24.0, -66.0, 50.0)

    @pytest.mark.parametrize(
        ("latlng", "expected"),
        [
            (LatLng(40.7, -74.0), set()),
            (LatLng(-74.0, 40.7), {"outside_service_area", "swapped_coordinates"}),
            (LatLng(51.5, -0.1), {"outside_service_area"}),
        ],
    )
    def test_flags(self, latlng, expected) -> None:
        from geoengine.geometry import service_area_flags

        assert {f.value for f in service_area_flags(latlng, self.US)} == expected
        assert service_area_flags(latlng, None) == frozenset()
