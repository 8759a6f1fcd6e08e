"""The H3 seam's bit arithmetic agrees with h3-py."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from tax_zones import _h3

RNG = np.random.default_rng(11)
LAT = RNG.uniform(-85, 85, 300)
LNG = RNG.uniform(-180, 180, 300)


class TestLatlngToCellArray:
    def test_matches_h3(self) -> None:
        cells = _h3.latlng_to_cell_array(LAT, LNG, 7)
        expected = [
            h3.str_to_int(h3.latlng_to_cell(a, b, 7))
            for a, b in zip(LAT, LNG, strict=True)
        ]
        assert cells.tolist() == expected


class TestCellToParentArray:
    @pytest.mark.parametrize("res", [0, 3, 6])
    def test_matches_h3(self, res: int) -> None:
        cells = _h3.latlng_to_cell_array(LAT, LNG, 9)
        got = _h3.cell_to_parent_array(cells, res).tolist()
        assert got == [_h3.cell_to_parent(int(c), res) for c in cells]


class TestCellToChildrenArray:
    def test_matches_h3_including_pentagons(self) -> None:
        pentagons = [h3.str_to_int(p) for p in h3.get_pentagons(2)]
        hexes = _h3.latlng_to_cell_array(LAT[:20], LNG[:20], 2).tolist()
        for c in pentagons + hexes:
            got = sorted(_h3.cell_to_children_array(np.array([c], np.uint64)).tolist())
            assert got == sorted(_h3.cell_to_children(c, 3))


class TestCellRangeAt:
    def test_range_holds_exactly_the_descendants(self) -> None:
        cells = _h3.latlng_to_cell_array(LAT[:5], LNG[:5], 3)
        lo, hi = _h3.cell_range_at(cells, 6)
        fine = _h3.latlng_to_cell_array(LAT, LNG, 6)
        for c, a, b in zip(cells.tolist(), lo.tolist(), hi.tolist(), strict=True):
            kids = _h3.cell_to_children(c, 6)
            assert a <= min(kids)
            assert max(kids) <= b
            inside = (fine >= a) & (fine <= b)
            parents = _h3.cell_to_parent_array(fine, 3)
            assert np.array_equal(inside, parents == c)
