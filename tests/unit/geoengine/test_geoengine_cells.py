"""The H3 seam: vectorised helpers agree with the scalar (h3-py) calls.

Only ``geoengine.cells`` imports h3, so the scalar seam is the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from geoengine import cells
from geoengine.types import LatLng


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(-89, 89, 2_000), rng.uniform(-180, 180, 2_000)


class TestLatLngToCellArray:
    @pytest.mark.parametrize("res", [0, 5, 9, 12, 15])
    def test_matches_h3_per_point(self, sample, res) -> None:
        lat, lng = sample
        got = cells.latlng_to_cell_array(lat, lng, res)
        assert got.dtype == np.uint64
        expected = [
            cells.latlng_to_cell(LatLng(a, b), res)
            for a, b in zip(lat, lng, strict=True)
        ]
        assert got.tolist() == expected

    def test_h3py_fallback_matches(self, sample, monkeypatch) -> None:
        lat, lng = sample
        fast = cells.latlng_to_cell_array(lat, lng, 11)
        monkeypatch.setattr(cells, "_h3ronpy_vector", None)
        slow = cells.latlng_to_cell_array(lat, lng, 11)
        assert slow.dtype == np.uint64
        assert np.array_equal(fast, slow)

    def test_empty_and_bad_shapes(self) -> None:
        assert cells.latlng_to_cell_array([], [], 9).size == 0
        with pytest.raises(ValueError, match="lngs"):
            cells.latlng_to_cell_array([1.0, 2.0], [1.0], 9)
        with pytest.raises(ValueError, match="res"):
            cells.latlng_to_cell_array([1.0], [1.0], 16)


class TestBitArithmetic:
    def test_parent_and_resolution(self, sample) -> None:
        lat, lng = sample
        fine = cells.latlng_to_cell_array(lat, lng, 13)
        assert (cells.get_resolution_array(fine) == 13).all()
        for res in (0, 4, 9, 12, 13):
            got = cells.cell_to_parent_array(fine, res).tolist()
            assert got == [cells.cell_to_parent(int(c), res) for c in fine]


class TestScalarHelpers:
    def test_round_trips(self) -> None:
        c = cells.latlng_to_cell(LatLng(37.7752, -122.4186), 9)
        assert cells.str_to_cell(cells.cell_to_str(c)) == c
        assert cells.get_resolution(c) == 9
        assert cells.cell_to_parent(c, 5) == int(cells.cell_to_parent_array([c], 5)[0])
        centre = cells.cell_to_latlng(c)
        assert cells.latlng_to_cell(centre, 9) == c
        assert len(cells.grid_disk(c, 1)) == 7
        assert len(cells.grid_ring(c, 2)) == 12
        assert cells.cell_to_polygon(c).is_valid

    @pytest.mark.parametrize("text", ["zz", "123", ""])
    def test_bad_cell_strings(self, text) -> None:
        with pytest.raises(ValueError, match="cell"):
            cells.str_to_cell(text)

    def test_antimeridian_cells_are_flagged_and_unwrapped(self) -> None:
        c = cells.latlng_to_cell(LatLng(0.0, 179.9999), 3)
        polys, wraps = cells.cells_to_polygons([c])
        assert wraps[0]
        assert polys[0].geom_type == "MultiPolygon"

    def test_geometry_to_cells(self) -> None:
        from shapely.geometry import box

        got = cells.geometry_to_cells(box(-74.0, 40.0, -73.99, 40.01), 9, "center")
        assert got.size > 0
        assert (cells.get_resolution_array(got) == 9).all()
