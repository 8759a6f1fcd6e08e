"""The one seam between ``tax_zones`` and H3 (h3-py v4 verb names).

Every H3 call of the package goes through this module, so the lead can later
point it at ``geoengine.cells`` without touching the index. Batch helpers take
and return numpy arrays of ``uint64`` cells; where h3-py has no vectorised call
(``latlng_to_cell``) the loop lives here, in one place. ``cell_to_parent_array``
and ``cell_to_children_array`` are pure bit arithmetic on the documented H3
index layout (resolution in bits 52-55, base cell in 45-51, fifteen 3-bit
digits below, unused digits set to 7) and are tested against h3-py.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
from h3.api import basic_int as _h3

try:  # the compiled function, without the pure-Python wrapper (~25% faster)
    from h3._cy import latlng_to_cell as _latlng_to_cell_int
except ImportError:  # pragma: no cover - layout of another h3-py release
    _latlng_to_cell_int = _h3.latlng_to_cell

_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT
_BASE_SHIFT = np.uint64(45)
_PENTAGON_BASE_CELLS = np.array(
    [4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117], dtype=np.uint64
)
MAX_RES = 15


def _digit_mask(res: int) -> np.uint64:
    """Bits of the digits finer than ``res`` (all set to 7 in a valid cell)."""
    return np.uint64((1 << (3 * (MAX_RES - res))) - 1)


def latlng_to_cell_array(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    """Cells (uint64) holding each point; h3-py 4 has no vectorised call."""
    it = map(_latlng_to_cell_int, lat.tolist(), lng.tolist(), repeat(res))
    return np.fromiter(it, dtype=np.uint64, count=len(lat))


def cell_range_at(cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer range ``[lo, hi]`` holding every descendant at ``res`` of each cell.

    With the resolution field set to ``res``, the descendants of a coarser cell
    share its leading digits; the digits in between run over 0-6, so the
    descendants form one contiguous integer range (7 is no valid digit).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    hi = (cells & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT)
    own = get_resolution_array(cells)
    free = (_digit_mask_array(own) ^ _digit_mask(res)) if len(cells) else hi
    lo = hi & ~free
    return lo, hi


def _digit_mask_array(res: np.ndarray) -> np.ndarray:
    shifts = (3 * (MAX_RES - res)).astype(np.uint64)
    return (np.uint64(1) << shifts) - np.uint64(1)


def latlng_to_cell(lat: float, lng: float, res: int) -> int:
    """One cell holding the point."""
    return int(_latlng_to_cell_int(lat, lng, res))


def get_resolution_array(cells: np.ndarray) -> np.ndarray:
    """Resolution of each cell."""
    return ((cells & _RES_MASK) >> _RES_SHIFT).astype(np.int64)


def cell_to_parent_array(cells: np.ndarray, res: int) -> np.ndarray:
    """Parent at ``res`` of each cell (cells must be at ``res`` or finer)."""
    cells = np.asarray(cells, dtype=np.uint64)
    out = (cells & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT)
    return out | _digit_mask(res)


def cell_to_children_array(cells: np.ndarray) -> np.ndarray:
    """Children one resolution finer of each cell (same-resolution cells).

    Pentagons have six children: the child on the deleted K axis (digit 1)
    is skipped, as in h3-py's ``cell_to_children``.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return cells
    res = int(get_resolution_array(cells[:1])[0])
    child_res = res + 1
    base = (cells & ~_RES_MASK) | (np.uint64(child_res) << _RES_SHIFT)
    shift = np.uint64(3 * (MAX_RES - child_res))
    clear = ~(np.uint64(7) << shift)
    digits = np.arange(7, dtype=np.uint64)
    children = (base[:, None] & clear) | (digits[None, :] << shift)
    base_cell = (cells >> _BASE_SHIFT) & np.uint64(0x7F)
    coarse_digits = (
        (cells >> np.uint64(3 * (MAX_RES - res))) & np.uint64((1 << (3 * res)) - 1)
        if res > 0
        else np.zeros_like(cells)
    )
    pent = np.isin(base_cell, _PENTAGON_BASE_CELLS) & (coarse_digits == 0)
    keep = np.ones(children.shape, dtype=bool)
    keep[pent, 1] = False
    return children[keep]


def cell_to_latlng_array(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (lat, lng) of each cell, in degrees."""
    f = _h3.cell_to_latlng
    flat = np.fromiter(
        (v for c in cells.tolist() for v in f(c)),
        dtype=np.float64,
        count=2 * len(cells),
    )
    return flat[0::2], flat[1::2]


def grid_disk_array(cells: np.ndarray, k: int = 1) -> np.ndarray:
    """Unique cells within ``k`` grid steps of any input cell."""
    f = _h3.grid_disk
    out = np.fromiter((n for c in cells.tolist() for n in f(c, k)), dtype=np.uint64)
    return np.unique(out)


def grid_disk_rows(cells: np.ndarray) -> np.ndarray:
    """(n, 7) array: each cell and its neighbours; pentagons padded with self."""
    f = _h3.grid_disk
    rows = []
    for c in cells.tolist():
        d = f(c, 1)
        if len(d) < 7:
            d = list(d) + [c] * (7 - len(d))
        rows.append(d)
    return np.array(rows, dtype=np.uint64).reshape(-1, 7)


def get_res0_cells() -> np.ndarray:
    """The 122 base cells."""
    return np.array(sorted(_h3.get_res0_cells()), dtype=np.uint64)


def average_hexagon_edge_length_m(res: int) -> float:
    """Average hexagon edge length at ``res`` in metres."""
    return float(_h3.average_hexagon_edge_length(res, unit="m"))


def cell_to_parent(cell: int, res: int) -> int:
    """Parent of one cell (h3-py)."""
    return int(_h3.cell_to_parent(cell, res))


def cell_to_children(cell: int, res: int) -> list[int]:
    """Children of one cell at ``res`` (h3-py)."""
    return [int(c) for c in _h3.cell_to_children(cell, res)]
