"""The project's only seam to H3 (``h3`` and, if installed, ``h3ronpy``).

Function names follow h3-py's verb vocabulary (``latlng_to_cell``,
``cell_to_parent``, ``grid_disk``). Cells are 64-bit integers (``int`` for one
cell, ``numpy.uint64`` arrays for many). The ``*_array`` helpers work on whole
numpy batches: h3-py 4 has no vectorised point-to-cell call, so
:func:`latlng_to_cell_array` uses ``h3ronpy`` when it is importable and a tight
C-level ``map`` over h3-py otherwise; parent/resolution arithmetic is done with
bit operations on the H3 index layout, with no H3 call at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import h3.api.basic_int as _h3
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geoengine.types import LatLng

try:  # optional vectorised backend
    from h3ronpy import vector as _h3ronpy_vector
except ImportError:  # pragma: no cover - depends on the environment
    _h3ronpy_vector = None

CellArray = npt.NDArray[np.uint64]

MAX_RES = 15
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT

VECTOR_BACKEND = "h3ronpy" if _h3ronpy_vector is not None else "h3-py"
"""Which backend :func:`latlng_to_cell_array` uses."""


def _check_res(res: int) -> None:
    if not 0 <= res <= MAX_RES:
        raise ValueError(f"res: must be in [0, {MAX_RES}], got {res}")


def latlng_to_cell(latlng: LatLng, res: int) -> int:
    """Return the cell containing ``latlng`` at resolution ``res``.

    Examples
    --------
    >>> hex(latlng_to_cell(LatLng(37.7752, -122.4186), 9))
    '0x8928308280fffff'
    """
    _check_res(res)
    return int(_h3.latlng_to_cell(latlng.lat, latlng.lng, res))


def latlng_to_cell_array(
    lats: npt.ArrayLike, lngs: npt.ArrayLike, res: int
) -> CellArray:
    """Vectorised point-to-cell for a batch.

    Parameters
    ----------
    lats, lngs : array_like of float
        Validated latitudes and longitudes in degrees (same length).
    res : int
        H3 resolution.

    Returns
    -------
    numpy.ndarray of uint64
        The cell of each point, identical to ``h3.latlng_to_cell``.
    """
    _check_res(res)
    lat = np.ascontiguousarray(lats, dtype=np.float64)
    lng = np.ascontiguousarray(lngs, dtype=np.float64)
    if lat.shape != lng.shape:
        raise ValueError("lngs: must have the same shape as lats")
    if lat.size == 0:
        return np.empty(0, dtype=np.uint64)
    if _h3ronpy_vector is not None:
        out = _h3ronpy_vector.coordinates_to_cells(lat, lng, res)
        return np.asarray(out, dtype=np.uint64)
    return np.fromiter(
        map(_h3.latlng_to_cell, lat.tolist(), lng.tolist(), [res] * lat.size),
        dtype=np.uint64,
        count=lat.size,
    )


def get_resolution(cell: int) -> int:
    """Resolution of one cell."""
    return int(_h3.get_resolution(cell))


def get_resolution_array(cells: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Resolutions of a batch of valid cells (bit arithmetic, no H3 call)."""
    c = np.asarray(cells, dtype=np.uint64)
    return ((c & _RES_MASK) >> _RES_SHIFT).astype(np.int64)


def cell_to_parent(cell: int, res: int) -> int:
    """Parent of one cell at resolution ``res``."""
    return int(_h3.cell_to_parent(cell, res))


def cell_to_parent_array(cells: npt.ArrayLike, res: int) -> CellArray:
    """Parents at ``res`` of a batch of valid cells of resolution >= ``res``.

    Pure bit arithmetic on the H3 layout: the resolution field is set to
    ``res`` and the digits of finer resolutions are set to 7 (unused).
    Beware: H3 is not strictly hierarchical, so the parent of a point's cell
    is not always the cell of that point at the parent resolution.
    """
    _check_res(res)
    c = np.asarray(cells, dtype=np.uint64)
    unused = np.uint64((1 << (3 * (MAX_RES - res))) - 1)
    return (c & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT) | unused


def cell_to_latlng(cell: int) -> LatLng:
    """Centre of a cell."""
    lat, lng = _h3.cell_to_latlng(cell)
    return LatLng(lat, lng)


def cell_to_boundary_xy(cell: int) -> list[tuple[float, float]]:
    """Boundary of a cell as ``(lng, lat)`` vertices (shapely order, open ring)."""
    return [(lng, lat) for lat, lng in _h3.cell_to_boundary(cell)]


def cell_to_polygon(cell: int) -> Polygon:
    """The cell as a shapely polygon in lng/lat (straight edges between vertices)."""
    return Polygon(cell_to_boundary_xy(cell))


def grid_disk(cell: int, k: int) -> list[int]:
    """All cells within grid distance ``k`` of ``cell``."""
    if k < 0:
        raise ValueError(f"k: must be >= 0, got {k}")
    return [int(c) for c in _h3.grid_disk(cell, k)]


def grid_ring(cell: int, k: int) -> list[int]:
    """Cells at exactly grid distance ``k`` from ``cell``."""
    if k < 0:
        raise ValueError(f"k: must be >= 0, got {k}")
    return [int(c) for c in _h3.grid_ring(cell, k)]


def _unwrapped(xy: npt.NDArray[np.float64]) -> Any:
    """A cell crossing the antimeridian as two copies, east and west of it."""
    east = xy.copy()
    east[east[:, 0] < 0, 0] += 360.0
    west = east.copy()
    west[:, 0] -= 360.0
    return shapely.MultiPolygon([Polygon(east), Polygon(west)])


def cells_to_polygons(
    cells: Sequence[int],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """Shapely lng/lat polygons of many cells, and which of them wrap.

    A cell whose vertices span more than 180 degrees of longitude crosses the
    antimeridian (``wraps``); it is returned as a MultiPolygon of two copies
    (one reaching past +180, one past -180) so that planar predicates against
    geometries on either side stay correct.
    """
    bounds = [_h3.cell_to_boundary(int(c)) for c in cells]
    n = len(bounds)
    if n == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=bool)
    if all(len(b) == 6 for b in bounds):
        flat = np.fromiter(
            chain.from_iterable(chain.from_iterable(bounds)), np.float64, n * 12
        )
        arr = flat.reshape(n, 6, 2)[:, :, ::-1]
        lng = arr[:, :, 0]
        wraps = (lng.max(axis=1) - lng.min(axis=1)) > 180.0
        ring = np.concatenate([arr, arr[:, :1]], axis=1)
        polys = np.asarray(shapely.polygons(ring))
        for i in np.flatnonzero(wraps):
            polys[i] = _unwrapped(arr[i])
        return polys, wraps
    polys = np.empty(n, dtype=object)
    wraps = np.zeros(n, dtype=bool)
    for i, b in enumerate(bounds):
        xy = np.asarray([(lng, lat) for lat, lng in b], dtype=np.float64)
        wraps[i] = xy[:, 0].max() - xy[:, 0].min() > 180.0
        polys[i] = _unwrapped(xy) if wraps[i] else Polygon(xy)
    return polys, wraps


def grid_disk_array(cells: Iterable[int], k: int) -> CellArray:
    """Union of ``grid_disk(c, k)`` over ``cells``, sorted and unique."""
    out: set[int] = set()
    for c in cells:
        out.update(_h3.grid_disk(int(c), k))
    return np.array(sorted(out), dtype=np.uint64)


def geometry_to_cells(
    geometry: Polygon | MultiPolygon, res: int, contain: str = "overlap"
) -> CellArray:
    """Cells covering a lng/lat shapely (Multi)Polygon.

    Parameters
    ----------
    geometry : Polygon or MultiPolygon
        In lng/lat degrees, holes allowed.
    res : int
        H3 resolution.
    contain : {"center", "full", "overlap", "bbox_overlap"}
        H3's containment mode (``overlap``: every cell that touches the shape).
    """
    _check_res(res)
    shape = _h3.geo_to_h3shape(geometry)
    cells = _h3.h3shape_to_cells_experimental(shape, res, contain=contain)  # type: ignore[arg-type]
    return np.unique(np.asarray(cells, dtype=np.uint64))


def cells_to_geometry(cells: Sequence[int]) -> Any:
    """Outline of a set of cells as a GeoJSON-like mapping (``__geo_interface__``)."""
    return _h3.cells_to_h3shape([int(c) for c in cells]).__geo_interface__


def average_hexagon_edge_length_m(res: int) -> float:
    """Average hexagon edge length at ``res``, in metres."""
    _check_res(res)
    return float(_h3.average_hexagon_edge_length(res, unit="m"))


def average_hexagon_area_m2(res: int) -> float:
    """Average hexagon area at ``res``, in square metres."""
    _check_res(res)
    return float(_h3.average_hexagon_area(res, unit="m^2"))


def is_valid_cell(cell: int) -> bool:
    """Whether ``cell`` is a valid H3 cell index."""
    try:
        return bool(_h3.is_valid_cell(int(cell)))
    except (TypeError, ValueError, OverflowError):
        return False


def cell_to_str(cell: int) -> str:
    """Hexadecimal string form of a cell (``'8928308280fffff'``)."""
    return format(int(cell), "x")


def str_to_cell(text: str) -> int:
    """Parse a hexadecimal cell string; raises ValueError naming ``cell``."""
    try:
        cell = int(text, 16)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cell: not a hexadecimal H3 index: {text!r}") from exc
    if not is_valid_cell(cell):
        raise ValueError(f"cell: not a valid H3 index: {text!r}")
    return cell
