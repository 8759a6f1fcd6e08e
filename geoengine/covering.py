"""H3 coverings of fences: which cells, and which of them are interior.

Each fence gets a resolution from its size (:func:`choose_resolution`, about
``cells_across`` cells across it). Its covering is every cell that may hold a
point of the fence; a cell is **interior** when it lies wholly inside.

Exactness: an H3 cell is not exactly the straight-edged polygon of its
vertices (edges are geodesic-ish arcs, and float rounding applies), so the
fence is grown by a margin before the covering test and shrunk by it before
the interior test; the margin (:func:`margin_deg`) bounds the difference.
Candidate cells come from a grid disk around each part's bounding box, grown
until its outer ring misses the box (the box is connected and contains the
disk's centre, so it then lies inside the disk).

:func:`cover_fences` works on many fences at once: one vectorised buffer, one
polygon construction and one vectorised predicate for all candidate cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from geoengine import cells as h3cells
from geoengine.errors import GeometryTooLargeError
from geoengine.geometry import FenceShape

_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = 111_000.0  # conservative (smallest) metres per degree of latitude
_M_PER_DEG_EQ = 111_320.0


@dataclass(frozen=True, slots=True)
class CoverParams:
    """Resolution choice and caps of coverings.

    Attributes
    ----------
    min_res, max_res : int
        Bounds of the covering resolution.
    cells_across : float
        Target number of cells across a fence (``sqrt(area)`` / edge length).
    max_cells_per_fence : int
        Cell-count cap: coarser resolutions are tried, then the fence is refused.
    """

    min_res: int = 5
    max_res: int = 12
    cells_across: float = 4.0
    max_cells_per_fence: int = 50_000


@dataclass(frozen=True, slots=True)
class Covering:
    """Coverings of many fences as flat arrays (one row per (fence, cell))."""

    res: npt.NDArray[np.int64]  # per fence
    owner: npt.NDArray[np.int64]  # per row: index of the fence
    cells: npt.NDArray[np.uint64]
    interior: npt.NDArray[np.bool_]


def approx_area_m2(geometry: FenceShape) -> float:
    """Planar area scaled to metres at the fence's latitude (for sizing only)."""
    _, y0, _, y1 = geometry.bounds
    coslat = max(math.cos(math.radians((y0 + y1) / 2.0)), 0.01)
    return float(geometry.area) * (_M_PER_DEG_EQ**2) * coslat


def choose_resolution(geometry: FenceShape, params: CoverParams | None = None) -> int:
    """Covering resolution for a fence: about ``cells_across`` cells across it.

    Examples
    --------
    >>> from geoengine.geometry import circle_to_polygon
    >>> from geoengine.types import LatLng
    >>> choose_resolution(circle_to_polygon(LatLng(40.0, -74.0), 200.0))
    10
    """
    params = params or CoverParams()
    size_m = math.sqrt(max(approx_area_m2(geometry), 1.0))
    for res in range(params.min_res, params.max_res + 1):
        if h3cells.average_hexagon_edge_length_m(res) * params.cells_across <= size_m:
            return res
    return params.max_res


def margin_deg(geometry: FenceShape, res: int) -> float:
    """Margin in degrees that bounds H3-cell vs straight-polygon differences."""
    edge = h3cells.average_hexagon_edge_length_m(res) * 1.5
    margin_m = 0.1 + edge * edge / _EARTH_RADIUS_M
    _, y0, _, y1 = geometry.bounds
    coslat = max(math.cos(math.radians(max(abs(y0), abs(y1)))), 0.05)
    return margin_m / (_M_PER_DEG * coslat)


def _resolution_within_cap(
    geometry: FenceShape, params: CoverParams, field: str
) -> int:
    res = choose_resolution(geometry, params)
    area = approx_area_m2(geometry)
    cap = params.max_cells_per_fence
    while (
        res > params.min_res and area / h3cells.average_hexagon_area_m2(res) > cap / 4
    ):
        res -= 1
    estimate = area / h3cells.average_hexagon_area_m2(res)
    if estimate > cap:
        raise GeometryTooLargeError(
            field,
            f"needs about {estimate:.0f} H3 cells at resolution {res}, cap is {cap}",
        )
    return res


def _disks(
    bounds: npt.NDArray[np.float64], res: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.object_],
    npt.NDArray[np.bool_],
]:
    """Grid disks covering boxes: (box index, cell, polygon, wraps) per row."""
    n = len(bounds)
    x0, y0, x1, y1 = bounds.T
    lat_c, lng_c = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    edge = np.array([h3cells.average_hexagon_edge_length_m(int(r)) for r in res])
    w = (x1 - x0) * _M_PER_DEG_EQ * np.cos(np.radians(lat_c))
    h = (y1 - y0) * _M_PER_DEG_EQ
    # a disk of radius k reaches about 1.5 k edges from its centre
    k = (np.ceil(np.hypot(w, h) / 3.0 / edge) + 1).astype(np.int64)
    centre = [
        h3cells.latlng_to_cell_array([lat_c[i]], [lng_c[i]], int(res[i]))[0]
        for i in range(n)
    ]
    boxes = shapely.box(x0, y0, x1, y1)
    out_idx, out_cells, out_polys, out_wraps = [], [], [], []
    todo = np.arange(n)
    while todo.size:
        disk = [
            np.asarray(h3cells.grid_disk(int(centre[i]), int(k[i])), np.uint64)
            for i in todo
        ]
        ring = [
            np.isin(
                d, np.asarray(h3cells.grid_ring(int(centre[i]), int(k[i])), np.uint64)
            )
            for d, i in zip(disk, todo, strict=True)
        ]
        sizes = np.array([d.size for d in disk])
        idx = np.repeat(todo, sizes)
        cells = np.concatenate(disk)
        polys, wraps = h3cells.cells_to_polygons(cells.tolist())
        on_ring = np.concatenate(ring)
        touch = np.zeros(n, dtype=bool)
        ring_hit = shapely.intersects(boxes[idx[on_ring]], polys[on_ring])
        touch[idx[on_ring][ring_hit]] = True
        ok_rows = ~touch[idx]
        out_idx.append(idx[ok_rows])
        out_cells.append(cells[ok_rows])
        out_polys.append(polys[ok_rows])
        out_wraps.append(wraps[ok_rows])
        todo = todo[touch[todo]]
        k[todo] += 2
    return (
        np.concatenate(out_idx),
        np.concatenate(out_cells),
        np.concatenate(out_polys),
        np.concatenate(out_wraps),
    )


def cover_fences(
    geometries: Sequence[FenceShape], params: CoverParams | None = None
) -> Covering:
    """H3 coverings of many fences at once.

    Raises
    ------
    GeometryTooLargeError
        Naming ``fences[i].geometry`` if a fence exceeds the cell-count cap.
    """
    params = params or CoverParams()
    geoms = np.asarray(list(geometries), dtype=object)
    n = geoms.size
    if n == 0:
        empty = np.empty(0, np.int64)
        return Covering(empty, empty, np.empty(0, np.uint64), np.empty(0, bool))
    field = "geometry" if n == 1 else "fences[{}].geometry"
    res = np.array(
        [
            _resolution_within_cap(g, params, field.format(i))
            for i, g in enumerate(geoms)
        ],
        dtype=np.int64,
    )
    margins = np.array([margin_deg(g, int(r)) for g, r in zip(geoms, res, strict=True)])
    grown = shapely.buffer(geoms, margins, quad_segs=2)
    shrunk = shapely.buffer(geoms, -margins, quad_segs=2)
    parts, part_owner = shapely.get_parts(grown, return_index=True)
    part_idx, cells, polys, wraps = _disks(shapely.bounds(parts), res[part_owner])
    owner = part_owner[part_idx]
    # one row per (fence, cell): parts of one fence may share cells
    order = np.lexsort((cells, owner))
    owner, cells, polys, wraps = owner[order], cells[order], polys[order], wraps[order]
    first = np.ones(owner.size, dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (cells[1:] != cells[:-1])
    owner, cells, polys, wraps = owner[first], cells[first], polys[first], wraps[first]
    shapely.prepare(grown)
    shapely.prepare(shrunk)
    keep = shapely.intersects(grown[owner], polys)
    owner, cells, polys, wraps = owner[keep], cells[keep], polys[keep], wraps[keep]
    counts = np.bincount(owner, minlength=n)
    over = np.flatnonzero(counts > params.max_cells_per_fence)
    if over.size:
        i = int(over[0])
        raise GeometryTooLargeError(
            field.format(i),
            f"needs {counts[i]} H3 cells at resolution {res[i]}, "
            f"cap is {params.max_cells_per_fence}",
        )
    interior = shapely.covers(shrunk[owner], polys) & ~wraps
    return Covering(res, owner, cells, np.asarray(interior, dtype=bool))


def cover_fence(
    geometry: FenceShape, params: CoverParams | None = None
) -> tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """H3 covering of one fence: ``(res, cells sorted, interior flags)``.

    Raises
    ------
    GeometryTooLargeError
        If even ``params.min_res`` needs more than ``max_cells_per_fence`` cells.
    """
    cov = cover_fences([geometry], params)
    return int(cov.res[0]), cov.cells, cov.interior
