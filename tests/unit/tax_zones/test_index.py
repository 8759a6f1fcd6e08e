"""CellIndex on synthetic partitions: exact, cacheable, validated params."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely import box

from tax_zones.index import CellIndex, IndexParams

# a 3 x 3 grid of 0.5 degree squares in Kansas, plus a polygon with a hole
GRID = np.array(
    [
        box(-99 + 0.5 * i, 38 + 0.5 * j, -98.5 + 0.5 * i, 38.5 + 0.5 * j)
        for i in range(3)
        for j in range(3)
    ]
    + [
        shapely.Polygon(
            [(-97, 38), (-96, 38), (-96, 39), (-97, 39)],
            [[(-96.8, 38.2), (-96.2, 38.2), (-96.2, 38.8), (-96.8, 38.8)]],
        )
    ],
    dtype=object,
)


def _brute(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = shapely.STRtree(GRID).query(shapely.points(lng, lat), predicate="intersects")
    order = np.lexsort((g, p))
    return p[order], g[order]


@pytest.fixture(scope="module")
def index() -> CellIndex:
    return CellIndex.build(GRID, IndexParams(res=6))


class TestQuery:
    def test_random_points_equal_brute_force(self, index: CellIndex) -> None:
        rng = np.random.default_rng(5)
        lat = rng.uniform(37.5, 40, 5000)
        lng = rng.uniform(-99.5, -95.5, 5000)
        got = index.query(lat, lng)
        exp = _brute(lat, lng)
        np.testing.assert_array_equal(got[0], exp[0])
        np.testing.assert_array_equal(got[1], exp[1])

    def test_points_on_edges_and_corners_belong_to_every_side(
        self, index: CellIndex
    ) -> None:
        lat = np.array([38.5, 38.5, 38.25, 38.2, 39.0])
        lng = np.array([-98.5, -98.75, -98.5, -96.5, -96.5])
        p, g = index.query(lat, lng)
        assert np.bincount(p).tolist() == [4, 2, 2, 1, 1]
        exp = _brute(lat, lng)
        np.testing.assert_array_equal(g, exp[1])

    def test_single_point_path_equals_batch_path(self, index: CellIndex) -> None:
        for lat, lng in [(38.25, -98.75), (38.5, -98.5), (38.5, -96.5), (0.0, 0.0)]:
            assert index.query_point(lat, lng) == sorted(
                _brute(np.array([lat]), np.array([lng]))[1].tolist()
            )

    def test_hole_is_outside(self, index: CellIndex) -> None:
        p, _ = index.query(np.array([38.5] * 20), np.array([-96.5] * 20))
        assert len(p) == 0

    def test_interior_is_compacted_over_several_resolutions(
        self, index: CellIndex
    ) -> None:
        stats = index.stats()
        assert stats["boundary"] > 0
        assert sum(1 for k in stats if k.startswith("interior_r")) >= 2


class TestCache:
    def test_cached_build_answers_the_same(
        self, tmp_path: Path, index: CellIndex
    ) -> None:
        a = CellIndex.build_cached(GRID, tmp_path, "grid", IndexParams(res=6))
        files = list(tmp_path.glob("*.npz"))
        assert len(files) == 1
        b = CellIndex.build_cached(GRID, tmp_path, "grid", IndexParams(res=6))
        lat = np.linspace(37.6, 39.9, 400)
        lng = np.linspace(-99.4, -95.6, 400)
        for x, y in zip(b.query(lat, lng), index.query(lat, lng), strict=True):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(a.query(lat, lng), index.query(lat, lng), strict=True):
            np.testing.assert_array_equal(x, y)


class TestParams:
    @pytest.mark.parametrize(
        ("kw", "field"),
        [({"res": 16}, "res"), ({"sample_fraction": 0.0}, "sample_fraction")],
    )
    def test_bad_params_name_the_field(self, kw: dict, field: str) -> None:
        with pytest.raises(ValueError, match=field):
            IndexParams(**kw)
