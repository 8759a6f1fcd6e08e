"""A numpy pre-filter in front of the H3 index: "is any fence near this point?".

The world is cut into coarse blocks (a dense int32 array of tile numbers) and
each block that holds fences gets a dense tile of fine cells
(``1 / cells_per_deg`` degrees) counting, per layer (one layer per covering
resolution), the fences whose bounding box (grown by a small margin) touches
the fine cell. A point's fine cell is two multiplications and a truncation,
computed once for all layers; points whose counts are zero cannot be inside
any fence and never reach H3. Counts make removal exact (no stale marks).

The margin covers float rounding: a point exactly on a fine-cell line may be
put in the neighbouring fine cell, which the grown box also marks.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

_MARGIN_DEG = 1e-7


class CoarseGrid:
    """Counts of fence bounding boxes over a two-level lat/lng grid, in layers.

    Parameters
    ----------
    cells_per_deg : int
        Fine cells per degree (a power of two keeps the scaling exact).
    tile : int
        Fine cells per block side (a power of two).
    """

    def __init__(self, cells_per_deg: int = 1024, tile: int = 256) -> None:
        if cells_per_deg & (cells_per_deg - 1) or tile & (tile - 1):
            raise ValueError("cells_per_deg and tile: must be powers of two")
        if tile > 180 * cells_per_deg:
            raise ValueError("tile: larger than the grid")
        self.scale = float(cells_per_deg)
        self.tile = tile
        self._shift = int(math.log2(tile))
        self._ny = 180 * cells_per_deg  # fine rows
        self._nx = 360 * cells_per_deg
        nby = -(-self._ny // tile)
        nbx = -(-self._nx // tile)
        self._blocks = np.full((nby, nbx), -1, dtype=np.int32)
        self._layers: dict[int, int] = {}  # layer key -> position
        self._tiles = np.zeros((0, 0, tile, tile), dtype=np.uint16)
        self._n_tiles = 0

    @property
    def n_tiles(self) -> int:
        """Number of allocated tiles."""
        return self._n_tiles

    def layers(self) -> list[int]:
        """Layer keys in use."""
        return sorted(self._layers)

    def nbytes(self) -> int:
        """Memory held by the grid, in bytes."""
        return int(self._blocks.nbytes + self._tiles[: self._n_tiles].nbytes)

    def _fine(self, lng: float, lat: float) -> tuple[int, int]:
        fy = min(max(math.floor((lat + 90.0) * self.scale), 0), self._ny - 1)
        fx = min(max(math.floor((lng + 180.0) * self.scale), 0), self._nx - 1)
        return fy, fx

    def _layer(self, key: int) -> int:
        pos = self._layers.get(key)
        if pos is None:
            pos = len(self._layers)
            self._layers[key] = pos
            t = self.tile
            grown = np.zeros((len(self._tiles), pos + 1, t, t), np.uint16)
            grown[:, :pos] = self._tiles
            self._tiles = grown
        return pos

    def _tile_of(self, by: int, bx: int) -> int:
        k = int(self._blocks[by, bx])
        if k < 0:
            if self._n_tiles == len(self._tiles):
                shape = (max(8, 2 * len(self._tiles)), *self._tiles.shape[1:])
                grown = np.zeros(shape, np.uint16)
                grown[: self._n_tiles] = self._tiles[: self._n_tiles]
                self._tiles = grown
            k = self._n_tiles
            self._n_tiles += 1
            self._blocks[by, bx] = k
        return k

    def add_bounds(
        self, bounds: tuple[float, float, float, float], delta: int = 1, layer: int = 0
    ) -> None:
        """Add ``delta`` (+1 or -1) to every fine cell touching a lng/lat box.

        Parameters
        ----------
        bounds : tuple of float
            ``(min_lng, min_lat, max_lng, max_lat)``.
        delta : int
            +1 when a fence is added, -1 when it is removed.
        layer : int
            Layer key (the index uses the covering resolution).
        """
        li = self._layer(layer)
        x0, y0, x1, y1 = bounds
        fy0, fx0 = self._fine(x0 - _MARGIN_DEG, y0 - _MARGIN_DEG)
        fy1, fx1 = self._fine(x1 + _MARGIN_DEG, y1 + _MARGIN_DEG)
        t = self.tile
        for by in range(fy0 >> self._shift, (fy1 >> self._shift) + 1):
            for bx in range(fx0 >> self._shift, (fx1 >> self._shift) + 1):
                k = self._tile_of(by, bx)
                ya, yb = max(fy0, by * t) - by * t, min(fy1, by * t + t - 1) - by * t
                xa, xb = max(fx0, bx * t) - bx * t, min(fx1, bx * t + t - 1) - bx * t
                view = self._tiles[k, li, ya : yb + 1, xa : xb + 1]
                if delta < 0 and np.any(view == 0):
                    raise ValueError("bounds: removing a box that was never added")
                if delta > 0:
                    view += np.uint16(delta)
                else:
                    view -= np.uint16(-delta)

    def candidates(
        self, lngs: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
    ) -> dict[int, npt.NDArray[np.intp]]:
        """Per layer, the indices of the points whose fine cell touches a box."""
        out: dict[int, npt.NDArray[np.intp]] = {}
        if self._n_tiles == 0 or lats.size == 0:
            return out
        fy = ((lats + 90.0) * self.scale).astype(np.int64)  # >= 0: truncation = floor
        fx = ((lngs + 180.0) * self.scale).astype(np.int64)
        np.clip(fy, 0, self._ny - 1, out=fy)
        np.clip(fx, 0, self._nx - 1, out=fx)
        tiles = self._blocks[fy >> self._shift, fx >> self._shift]
        near = np.flatnonzero(tiles >= 0)
        mask = self.tile - 1
        t, yy, xx = tiles[near], fy[near] & mask, fx[near] & mask
        for key, li in self._layers.items():
            counts = self._tiles[t, li, yy, xx]
            out[key] = near[counts > 0]
        return out
