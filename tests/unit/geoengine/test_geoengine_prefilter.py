"""The numpy pre-filter grid: marks, layers and exact removal."""

from __future__ import annotations

import numpy as np
import pytest

from geoengine.prefilter import CoarseGrid

BOX = (-74.001, 40.0, -73.999, 40.002)


def near(grid: CoarseGrid, x, y, layer: int = 0) -> list[int]:
    got = grid.candidates(np.asarray(x, float), np.asarray(y, float))
    return got.get(layer, np.empty(0, int)).tolist()


class TestCoarseGrid:
    def test_points_in_box_are_candidates_far_points_are_not(self) -> None:
        g = CoarseGrid()
        g.add_bounds(BOX)
        x = [-74.0, -74.001, -73.999, -73.0, 10.0]
        y = [40.001, 40.0, 40.002, 40.001, 10.0]
        assert near(g, x, y) == [0, 1, 2]

    def test_box_on_a_fine_cell_line(self) -> None:
        g = CoarseGrid(cells_per_deg=1024)
        edge = -74.0 + 1 / 1024 * 0  # exactly on a fine-cell line
        g.add_bounds((edge, 40.0, edge + 0.001, 40.001))
        assert near(g, [edge, np.nextafter(edge, -180)], [40.0005, 40.0005]) == [0, 1]

    def test_layers_are_separate(self) -> None:
        g = CoarseGrid()
        g.add_bounds(BOX, layer=10)
        g.add_bounds((10.0, 10.0, 10.001, 10.001), layer=11)
        x, y = [-74.0, 10.0005], [40.001, 10.0005]
        assert near(g, x, y, 10) == [0]
        assert near(g, x, y, 11) == [1]
        assert g.layers() == [10, 11]

    def test_removal_is_exact_with_overlaps(self) -> None:
        g = CoarseGrid()
        g.add_bounds(BOX)
        g.add_bounds((-74.0, 40.001, -73.99, 40.01))
        g.add_bounds(BOX, -1)
        assert near(g, [-74.0009], [40.0001]) == []
        assert near(g, [-73.995], [40.005]) == [0]
        with pytest.raises(ValueError, match="never added"):
            g.add_bounds(BOX, -1)

    def test_box_across_blocks_and_world_edges(self) -> None:
        g = CoarseGrid(cells_per_deg=64, tile=16)
        g.add_bounds((179.5, 89.5, 180.0, 90.0))
        g.add_bounds((-0.3, -0.3, 0.3, 0.3))
        assert near(
            g, [180.0, 179.9, 0.0, 0.29, -0.29], [90.0, 89.9, 0.0, 0.29, -0.29]
        ) == [0, 1, 2, 3, 4]
        assert g.n_tiles >= 5

    def test_bad_sizes(self) -> None:
        with pytest.raises(ValueError, match="powers of two"):
            CoarseGrid(cells_per_deg=1000)
