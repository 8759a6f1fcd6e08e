"""Exactness, patching and queries of the H3 fence index."""

from __future__ import annotations

import time

import numpy as np
import pytest
import shapely
from geoengine_helpers import (
    boundary_points,
    brute_force_pairs,
    mixed_fences,
    ring_with_hole,
    star,
    two_part,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geoengine import cells
from geoengine.covering import CoverParams, cover_fence
from geoengine.errors import (
    FenceNotFoundError,
    GeometryTooLargeError,
    InvalidPositionError,
)
from geoengine.geometry import circle_to_polygon, fence_geometry_from_geojson
from geoengine.index import FenceIndex, IndexParams
from geoengine.types import Geofence, LatLng

LAT0, LNG0 = 40.75, -73.98


def index_pairs(
    index: FenceIndex, x: np.ndarray, y: np.ndarray
) -> set[tuple[int, int]]:
    pt, fid = index.contains(x, y).pairs()
    return set(zip(pt.tolist(), fid.tolist(), strict=True))


def points_near(
    n: int, seed: int, spread_m: float = 4_000.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = LAT0 + rng.normal(0, spread_m, n) / 111_320.0
    x = LNG0 + rng.normal(0, spread_m, n) / (111_320.0 * np.cos(np.radians(LAT0)))
    return x, y


@pytest.fixture(scope="module")
def fences() -> list[Geofence]:
    return mixed_fences(120, seed=7)


@pytest.fixture(scope="module")
def index(fences: list[Geofence]) -> FenceIndex:
    return FenceIndex.build(fences)


class TestContainsExact:
    def test_random_points_match_brute_force(self, fences, index) -> None:
        x, y = points_near(50_000, seed=1)
        expected = brute_force_pairs(fences, x, y)
        assert len(expected) > 1_000  # the test exercises many hits
        assert index_pairs(index, x, y) == expected

    def test_boundary_points_count_as_inside_like_intersects(
        self, fences, index
    ) -> None:
        x, y = boundary_points(fences)
        got = index_pairs(index, x, y)
        assert got == brute_force_pairs(fences, x, y)
        # every vertex is on its own fence's boundary and must be reported
        first = fences[0]
        c = np.asarray(first.geometry.exterior.coords)
        res = index.contains(c[:, 0], c[:, 1])
        assert all(first.id in res.ids_for(i) for i in range(len(c)))

    def test_hole_and_multipolygon(self) -> None:
        holed = Geofence(1, ring_with_hole(LAT0, LNG0, 300.0))
        multi = Geofence(2, two_part(LAT0 + 0.02, LNG0, 200.0))
        idx = FenceIndex.build([holed, multi])
        centre = idx.contains([LNG0], [LAT0])  # inside the hole
        assert centre.ids_for(0) == []
        ring_pt = LNG0 + 250.0 / (111_320.0 * np.cos(np.radians(LAT0)))
        assert idx.contains([ring_pt], [LAT0]).ids_for(0) == [1]
        for part in multi.geometry.geoms:
            p = part.representative_point()
            assert idx.contains([p.x], [p.y]).ids_for(0) == [2]

    def test_csr_output_is_sorted_and_complete(self, fences, index) -> None:
        x, y = points_near(5_000, seed=2, spread_m=1_000)
        res = index.contains(x, y)
        assert len(res) == 5_000
        assert res.offsets[0] == 0
        assert res.offsets[-1] == res.fence_ids.size
        lists = res.to_lists()
        assert all(ids == sorted(ids) for ids in lists)
        assert sum(map(len, lists)) == res.fence_ids.size

    def test_points_far_from_every_fence(self, index) -> None:
        res = index.contains([0.0, 179.9, -179.9], [0.0, 89.0, -89.0])
        assert res.fence_ids.size == 0

    def test_empty_input_and_empty_index(self, index) -> None:
        assert len(index.contains([], [])) == 0
        assert FenceIndex().contains([LNG0], [LAT0]).to_lists() == [[]]

    @pytest.mark.parametrize(
        ("lng", "lat", "field"),
        [
            (0.0, float("nan"), "points[1].lat"),
            (0.0, 91.0, "points[1].lat"),
            (181.0, 0.0, "points[1].lng"),
            (float("inf"), 0.0, "points[1].lng"),
        ],
    )
    def test_bad_points_name_the_point(self, index, lng, lat, field) -> None:
        with pytest.raises(
            InvalidPositionError, match=field.replace("[", r"\[").replace("]", r"\]")
        ):
            index.contains([LNG0, lng], [LAT0, lat])


@st.composite
def fence_sets(draw):
    n = draw(st.integers(1, 6))
    fences = []
    for i in range(n):
        lat = LAT0 + draw(st.floats(-0.01, 0.01))
        lng = LNG0 + draw(st.floats(-0.01, 0.01))
        r = draw(st.floats(5.0, 1_500.0))
        kind = draw(st.sampled_from(["circle", "star", "holed", "multi"]))
        if kind == "circle":
            g = circle_to_polygon(LatLng(lat, lng), r, draw(st.integers(3, 40)))
        elif kind == "star":
            g = star(
                lat,
                lng,
                r,
                draw(st.integers(3, 12)),
                draw(st.floats(0.1, 0.9)),
                draw(st.floats(0, 6.28)),
            )
        elif kind == "holed":
            g = ring_with_hole(lat, lng, r)
        else:
            g = two_part(lat, lng, r)
        fences.append(Geofence(i + 1, g))
    return fences


class TestContainsProperty:
    @settings(
        max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(fences=fence_sets(), seed=st.integers(0, 2**32 - 1))
    def test_index_equals_brute_force(self, fences, seed) -> None:
        rng = np.random.default_rng(seed)
        bx, by = boundary_points(fences)
        pick = rng.integers(0, bx.size, min(bx.size, 300))
        x = np.concatenate([LNG0 + rng.uniform(-0.03, 0.03, 700), bx[pick]])
        y = np.concatenate([LAT0 + rng.uniform(-0.03, 0.03, 700), by[pick]])
        index = FenceIndex.build(fences)
        assert index_pairs(index, x, y) == brute_force_pairs(fences, x, y)

    @settings(max_examples=25, deadline=None)
    @given(
        centres=st.lists(
            st.tuples(
                st.floats(-60.0, 60.0), st.floats(-0.02, 0.02), st.floats(20, 3_000)
            ),
            min_size=1,
            max_size=4,
        ),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_antimeridian_circles_equal_brute_force(self, centres, seed) -> None:
        fences = []
        for i, (lat, dlng, r) in enumerate(centres):
            lng = (180.0 + dlng + 180.0) % 360.0 - 180.0
            geo = fence_geometry_from_geojson(
                {"type": "Point", "coordinates": [lng, lat]}, radius_m=r
            )
            fences.append(Geofence(i + 1, geo.geometry))
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(centres), 600)
        y = np.clip(
            np.array([c[0] for c in centres])[k] + rng.normal(0, 0.02, 600), -90, 90
        )
        x = 180.0 + rng.normal(0, 0.03, 600)
        x = (x + 180.0) % 360.0 - 180.0
        bx, by = boundary_points(fences)
        x, y = np.concatenate([x, bx]), np.concatenate([y, by])
        index = FenceIndex.build(fences)
        assert index_pairs(index, x, y) == brute_force_pairs(fences, x, y)


class TestCovering:
    def test_interior_cells_lie_inside_and_covering_covers(self) -> None:
        g = star(LAT0, LNG0, 800.0, 7, 0.4)
        res, cs, interior = cover_fence(g)
        assert interior.any()
        assert (~interior).any()
        polys, _ = cells.cells_to_polygons(cs.tolist())
        assert shapely.covers(g, polys[interior]).all()
        # each cell of a dense sample of fence points is in the covering
        pts = shapely.points(np.asarray(g.exterior.coords))
        x, y = shapely.get_x(pts), shapely.get_y(pts)
        assert set(cells.latlng_to_cell_array(y, x, res).tolist()) <= set(cs.tolist())

    def test_cell_count_cap(self) -> None:
        g = circle_to_polygon(LatLng(LAT0, LNG0), 5_000.0)
        with pytest.raises(GeometryTooLargeError, match="H3 cells"):
            cover_fence(g, CoverParams(min_res=12, max_res=12, max_cells_per_fence=100))

    def test_batch_cap_names_the_fence_and_changes_nothing(self) -> None:
        small = Geofence(1, circle_to_polygon(LatLng(LAT0, LNG0), 100.0))
        huge = Geofence(2, circle_to_polygon(LatLng(LAT0, LNG0), 20_000.0))
        params = IndexParams(cover=CoverParams(min_res=9, max_cells_per_fence=1_000))
        idx = FenceIndex.build([small], params)
        with pytest.raises(GeometryTooLargeError) as info:
            idx.add_many([Geofence(3, small.geometry), huge])
        assert info.value.field == "fences[1].geometry"
        assert len(idx) == 1
        assert idx.contains([LNG0], [LAT0]).ids_for(0) == [1]

    def test_resolution_follows_size(self) -> None:
        idx = FenceIndex.build(
            [
                Geofence(1, circle_to_polygon(LatLng(LAT0, LNG0), 100.0)),
                Geofence(2, circle_to_polygon(LatLng(LAT0, LNG0), 5_000.0)),
            ]
        )
        r = idx.resolutions()
        assert len(r) == 2
        assert r[0] < r[1]

    def test_antimeridian_fence(self) -> None:
        geo = fence_geometry_from_geojson(
            {"type": "Point", "coordinates": [179.999, -16.5]}, radius_m=500.0
        )
        assert geo.antimeridian_split
        idx = FenceIndex.build([Geofence(1, geo.geometry)])
        x = np.array([179.9995, -179.9995, 179.99, -179.99, 180.0, -180.0])
        y = np.full(6, -16.5)
        assert idx.contains(x, y).to_lists() == [[1], [1], [], [], [1], [1]]
        assert index_pairs(idx, x, y) == brute_force_pairs(
            [Geofence(1, geo.geometry)], x, y
        )


class TestPatching:
    def test_add_remove_update_equal_fresh_build(self, fences) -> None:
        x, y = points_near(20_000, seed=3)
        idx = FenceIndex.build(fences[:60])
        idx.contains(x[:10], y[:10])  # force a merge before patching
        for f in fences[60:]:
            idx.add(f)
        for f in fences[:30]:
            idx.remove(f.id)
        moved = [
            Geofence(f.id, star(LAT0, LNG0, 300.0 + f.id, 6, 0.5))
            for f in fences[30:40]
        ]
        for f in moved:
            idx.update(f)
        final = moved + fences[40:]
        assert len(idx) == len(final)
        assert index_pairs(idx, x, y) == brute_force_pairs(final, x, y)
        assert index_pairs(idx, x, y) == index_pairs(FenceIndex.build(final), x, y)

    def test_many_removals_purge_tombstones(self) -> None:
        fs = mixed_fences(400, seed=11, spread_m=800.0)
        x, y = points_near(5_000, seed=4, spread_m=800.0)
        idx = FenceIndex.build(fs)
        for f in fs[:300]:
            idx.remove(f.id)
        assert index_pairs(idx, x, y) == brute_force_pairs(fs[300:], x, y)

    def test_inactive_fence_is_not_indexed(self) -> None:
        g = circle_to_polygon(LatLng(LAT0, LNG0), 200.0)
        idx = FenceIndex.build([Geofence(1, g), Geofence(2, g, active=False)])
        assert idx.contains([LNG0], [LAT0]).ids_for(0) == [1]
        idx.update(Geofence(1, g, active=False))
        assert idx.contains([LNG0], [LAT0]).ids_for(0) == []
        assert 1 not in idx

    @settings(max_examples=25, deadline=None)
    @given(
        ops=st.lists(
            st.tuples(
                st.sampled_from(["add", "remove", "query"]),
                st.integers(1, 12),
                st.integers(0, 10**6),
            ),
            min_size=1,
            max_size=30,
        )
    )
    def test_random_patch_sequences(self, ops) -> None:
        idx = FenceIndex()
        live: dict[int, Geofence] = {}
        x, y = points_near(2_000, seed=9, spread_m=1_500.0)
        for op, fid, seed in ops:
            if op == "add":
                shape = mixed_fences(4, seed=seed, spread_m=1_000.0)[seed % 4].geometry
                f = Geofence(fid, shape)
                idx.add(f)
                live[fid] = f
            elif op == "remove" and fid in live:
                idx.remove(fid)
                del live[fid]
            else:
                assert index_pairs(idx, x, y) == brute_force_pairs(
                    list(live.values()), x, y
                )
        assert len(idx) == len(live)
        assert index_pairs(idx, x, y) == brute_force_pairs(list(live.values()), x, y)

    def test_remove_unknown_raises(self) -> None:
        with pytest.raises(FenceNotFoundError):
            FenceIndex().remove(42)


class TestNearby:
    def test_nearest_first_with_geodesic_distances(self) -> None:
        geod = Geod(ellps="WGS84")
        fs = []
        for i, d in enumerate([300.0, 900.0, 2_500.0]):
            lat, lng = LAT0 + d / 111_320.0, LNG0
            fs.append(Geofence(i + 1, circle_to_polygon(LatLng(lat, lng), 100.0)))
        idx = FenceIndex.build(fs)
        got = idx.nearby(LatLng(LAT0, LNG0), 1_000.0)
        assert [fid for fid, _ in got] == [1, 2]
        for fid, dist in got:
            ring = np.asarray(fs[fid - 1].geometry.exterior.coords)
            _, _, d = geod.inv(
                np.full(len(ring), LNG0),
                np.full(len(ring), LAT0),
                ring[:, 0],
                ring[:, 1],
            )
            assert dist == pytest.approx(d.min(), rel=2e-3)
        assert [f for f, _ in idx.nearby(LatLng(LAT0, LNG0), 5_000.0, limit=2)] == [
            1,
            2,
        ]

    def test_inside_is_distance_zero(self, fences, index) -> None:
        p = fences[0].geometry.representative_point()
        got = dict(index.nearby(LatLng(p.y, p.x), 50.0))
        assert got[fences[0].id] == 0.0

    def test_nearby_agrees_with_brute_force(self, fences, index) -> None:
        rng = np.random.default_rng(5)
        for _ in range(10):
            q = LatLng(LAT0 + rng.normal(0, 0.02), LNG0 + rng.normal(0, 0.02))
            radius = float(rng.uniform(50, 3_000))
            got = {fid for fid, _ in index.nearby(q, radius)}
            from geoengine.index_tables import local_metric_frame

            to_xy = local_metric_frame(q)
            geoms = shapely.transform(np.array([f.geometry for f in fences]), to_xy)
            dist = shapely.distance(shapely.Point(0, 0), geoms)
            assert got == {
                f.id for f, d in zip(fences, dist, strict=True) if d <= radius
            }

    def test_across_the_antimeridian(self) -> None:
        east = Geofence(1, circle_to_polygon(LatLng(10.0, 179.995), 100.0))
        idx = FenceIndex.build([east])
        got = idx.nearby(LatLng(10.0, -179.999), 2_000.0)
        assert [f for f, _ in got] == [1]
        assert 500.0 < got[0][1] < 700.0

    def test_bad_radius(self, index) -> None:
        with pytest.raises(ValueError, match="radius_m"):
            index.nearby(LatLng(LAT0, LNG0), float("nan"))


@pytest.mark.slow
def test_one_million_points_agree_with_shapely_on_every_pair() -> None:
    """1,000,000 points, 2,000 mixed fences (holes, multipolygons, concave)."""
    fs = mixed_fences(2_000, seed=99, spread_m=6_000.0)
    x, y = points_near(1_000_000, seed=6, spread_m=7_000.0)
    t = time.perf_counter()
    idx = FenceIndex.build(fs)
    got_pt, got_id = idx.contains(x, y).pairs()
    elapsed = time.perf_counter() - t
    geoms = np.array([f.geometry for f in fs], dtype=object)
    ids = np.array([f.id for f in fs])
    # brute force over bounding-box candidates: exact shapely intersects per pair
    pi, gi = shapely.STRtree(geoms).query(shapely.points(x, y))
    ok = shapely.intersects_xy(geoms[gi], x[pi], y[pi])
    exp = np.sort(pi[ok].astype(np.int64) * 10_000 + ids[gi[ok]])
    got = np.sort(got_pt * 10_000 + got_id)
    assert exp.size > 50_000
    assert np.array_equal(got, exp)
    assert elapsed < 120
