"""In-memory H3 fence index: exact, vectorised, patchable.

Each fence is covered at a resolution chosen from its size
(:mod:`geoengine.covering`). Covering cells are either **interior** (the whole
cell lies inside the fence: a point in it is a hit with no geometry test) or
**boundary** (the point is tested exactly against the prepared geometry).

Batch queries (:meth:`FenceIndex.contains`) run in four vectorised steps:

1. a numpy pre-filter (:class:`~geoengine.prefilter.CoarseGrid`, one layer
   per covering resolution) keeps, per resolution, the points whose fine grid
   cell touches a bounding box of a fence of that resolution, so points far
   from every fence cost a few array operations and no H3 call;
2. the remaining points get their H3 cell at that resolution
   (:func:`~geoengine.cells.latlng_to_cell_array`);
3. the resolution's table (cell ids sorted, with slot and interior flag) is
   probed with one ``searchsorted``;
4. boundary pairs are decided by one vectorised ``shapely.intersects_xy``.

Boundary rule: a point **on** a fence's boundary is inside, exactly as shapely's
``intersects`` (equivalently ``covers``) decides, and as the brute-force
reference ``shapely.intersects_xy`` does.

Exactness of the interior shortcut: see :mod:`geoengine.covering`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely

from geoengine import cells as h3cells
from geoengine.covering import Covering, CoverParams, cover_fences
from geoengine.errors import (
    FenceNotFoundError,
    InvalidPositionError,
)
from geoengine.geometry import FenceShape
from geoengine.index_tables import CellTable, local_metric_frame
from geoengine.prefilter import CoarseGrid
from geoengine.types import FenceId, Geofence, LatLng, check_lat_lng

_LB_M_PER_DEG = 110_000.0  # below every metres-per-degree figure, for lower bounds
_CHUNK = 256  # fences per vectorised covering pass (bounds peak memory)


@dataclass(frozen=True, slots=True)
class IndexParams:
    """Tuning of the H3 fence index.

    Attributes
    ----------
    cover : CoverParams
        Resolution choice and cell-count cap of the coverings.
    grid_cells_per_deg, grid_tile : int
        Pre-filter grid (see :class:`~geoengine.prefilter.CoarseGrid`).
    """

    cover: CoverParams = field(default_factory=CoverParams)
    grid_cells_per_deg: int = 1024
    grid_tile: int = 256


@dataclass(frozen=True, slots=True)
class ContainsResult:
    """Compressed (CSR) answer of :meth:`FenceIndex.contains`.

    The fences containing point ``i`` are ``fence_ids[offsets[i]:offsets[i+1]]``
    (ascending).
    """

    offsets: npt.NDArray[np.int64]
    fence_ids: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def ids_for(self, i: int) -> list[FenceId]:
        """Fence ids containing point ``i``."""
        return self.fence_ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def to_lists(self) -> list[list[FenceId]]:
        """One list of fence ids per point."""
        ids = self.fence_ids.tolist()
        off = self.offsets.tolist()
        return [ids[off[i] : off[i + 1]] for i in range(len(off) - 1)]

    def pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(point_index, fence_id)`` arrays of every hit."""
        counts = np.diff(self.offsets)
        return np.repeat(np.arange(len(counts), dtype=np.int64), counts), self.fence_ids


def _validated_xy(
    lngs: npt.ArrayLike, lats: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.ascontiguousarray(lngs, dtype=np.float64).ravel()
    y = np.ascontiguousarray(lats, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidPositionError("lngs", "must have as many values as lats")
    bad = ~(
        np.isfinite(x) & np.isfinite(y) & (np.abs(y) <= 90.0) & (np.abs(x) <= 180.0)
    )
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        check_lat_lng(float(y[i]), float(x[i]), f"points[{i}].")
    return x, y


class FenceIndex:
    """Exact, vectorised, patchable H3 index of fences.

    Queries do not modify the index, so any number of threads may query it
    at once; patches (``add``, ``add_many``, ``remove``) must come from one
    thread at a time, not concurrently with queries (swap in a patched copy
    or hold a lock).

    Examples
    --------
    >>> from geoengine.geometry import circle_to_polygon
    >>> idx = FenceIndex()
    >>> idx.add(Geofence(7, circle_to_polygon(LatLng(40.0, -74.0), 150.0)))
    >>> idx.contains([-74.0, -74.1], [40.0, 40.0]).to_lists()
    [[7], []]
    """

    def __init__(self, params: IndexParams | None = None) -> None:
        self.params = params or IndexParams()
        self._grid = CoarseGrid(self.params.grid_cells_per_deg, self.params.grid_tile)
        self._tables: dict[int, CellTable] = {}
        self._slot_of: dict[FenceId, int] = {}
        self._ids = np.zeros(0, dtype=np.int64)
        self._geoms = np.zeros(0, dtype=object)
        self._alive = np.zeros(0, dtype=bool)
        self._res = np.zeros(0, dtype=np.int8)
        self._bounds = np.zeros((0, 4), dtype=np.float64)
        self._n_slots = 0

    # -- patching -------------------------------------------------------------
    @classmethod
    def build(
        cls, fences: Iterable[Geofence], params: IndexParams | None = None
    ) -> FenceIndex:
        """Index many fences at once (inactive ones are skipped)."""
        idx = cls(params)
        idx.add_many(fences)
        return idx

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, fence_id: object) -> bool:
        return fence_id in self._slot_of

    def _new_slot(self, fence_id: FenceId, geometry: FenceShape, res: int) -> int:
        if self._n_slots == len(self._ids):
            n = max(64, 2 * len(self._ids))
            self._ids = np.resize(self._ids, n)
            geoms = np.empty(n, dtype=object)
            geoms[: self._n_slots] = self._geoms[: self._n_slots]
            self._geoms = geoms
            self._alive = np.concatenate(
                [self._alive, np.zeros(n - len(self._alive), bool)]
            )
            self._res = np.resize(self._res, n)
            self._bounds = np.resize(self._bounds, (n, 4))
        slot = self._n_slots
        self._n_slots += 1
        shapely.prepare(geometry)
        # GEOS builds a prepared geometry's point-in-area index lazily; build it
        # now, so that concurrent queries (shapely releases the GIL) only read
        x0, y0, _, _ = geometry.bounds
        shapely.intersects_xy(geometry, x0, y0)
        self._ids[slot], self._geoms[slot] = fence_id, geometry
        self._alive[slot], self._res[slot] = True, res
        self._bounds[slot] = geometry.bounds
        return slot

    def add(self, fence: Geofence) -> None:
        """Add or replace one fence (an inactive fence is removed instead)."""
        self.add_many([fence])

    def add_many(self, fences: Iterable[Geofence]) -> None:
        """Add or replace many fences with vectorised covering passes.

        Raises
        ------
        GeometryTooLargeError
            If a fence exceeds the cell-count cap (nothing is changed then).
        """
        batch: dict[FenceId, Geofence] = {f.id: f for f in fences}
        active = [f for f in batch.values() if f.active]
        # all coverings first, so that a too-large fence leaves the index as it was
        chunks = []
        for i in range(0, len(active), _CHUNK):
            part = active[i : i + _CHUNK]
            chunks.append(
                (part, cover_fences([f.geometry for f in part], self.params.cover))
            )
        for fid in batch:
            if fid in self._slot_of:
                self.remove(fid)
        for part, cov in chunks:
            self._insert(part, cov)
        for table in self._tables.values():
            table.flush()

    def _insert(self, active: list[Geofence], cov: Covering) -> None:
        slots = np.array(
            [
                self._new_slot(f.id, f.geometry, int(r))
                for f, r in zip(active, cov.res, strict=True)
            ],
            dtype=np.int32,
        )
        for f, slot in zip(active, slots.tolist(), strict=True):
            self._slot_of[f.id] = slot
        entry_res = cov.res[cov.owner]
        for res in np.unique(cov.res).tolist():
            rows = entry_res == res
            table = self._tables.setdefault(res, CellTable(res))
            table.stage(cov.cells[rows], slots[cov.owner[rows]], cov.interior[rows])
        for f, r in zip(active, cov.res.tolist(), strict=True):
            for part in shapely.get_parts(f.geometry):
                self._grid.add_bounds(part.bounds, +1, layer=r)

    update = add

    def remove(self, fence_id: FenceId) -> None:
        """Remove a fence; raises :class:`FenceNotFoundError` if absent."""
        slot = self._slot_of.pop(fence_id, None)
        if slot is None:
            raise FenceNotFoundError(fence_id)
        self._alive[slot] = False
        res = int(self._res[slot])
        for part in shapely.get_parts(self._geoms[slot]):
            self._grid.add_bounds(part.bounds, -1, layer=res)
        self._tables[int(self._res[slot])].note_dead(self._alive)
        self._geoms[slot] = None

    def nbytes(self) -> int:
        """Approximate memory of the index arrays (geometries not counted)."""
        n = sum(t.nbytes() for t in self._tables.values())
        n += self._grid.nbytes()
        return n + self._ids.nbytes + self._alive.nbytes + self._res.nbytes

    def count_near(self, lngs: npt.ArrayLike, lats: npt.ArrayLike) -> int:
        """How many (point, resolution) probes pass the pre-filter (diagnostics)."""
        x, y = _validated_xy(lngs, lats)
        return sum(int(c.size) for c in self._grid.candidates(x, y).values())

    def resolutions(self) -> list[int]:
        """Covering resolutions in use."""
        return sorted(r for r, t in self._tables.items() if len(t))

    def geometry_of(self, fence_id: FenceId) -> FenceShape:
        """The indexed geometry of a fence."""
        slot = self._slot_of.get(fence_id)
        if slot is None:
            raise FenceNotFoundError(fence_id)
        return self._geoms[slot]  # type: ignore[no-any-return]

    # -- queries --------------------------------------------------------------
    def contains(self, lngs: npt.ArrayLike, lats: npt.ArrayLike) -> ContainsResult:
        """Per point, the ids of the fences that contain it (boundary counts).

        Parameters
        ----------
        lngs, lats : array_like of float
            Longitudes and latitudes in degrees; any NaN, infinite or
            out-of-range value raises :class:`InvalidPositionError` naming
            ``points[i].lat`` or ``points[i].lng``.

        Returns
        -------
        ContainsResult
            CSR arrays; identical to ``shapely.intersects_xy`` on every pair.
        """
        x, y = _validated_xy(lngs, lats)
        n = x.size
        pts, slots = self._candidate_pairs(x, y)
        fence_ids = self._ids[slots]
        order = np.lexsort((fence_ids, pts))
        counts = np.bincount(pts, minlength=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return ContainsResult(offsets, fence_ids[order].astype(np.int64))

    def contains_latlng(self, latlng: LatLng) -> list[FenceId]:
        """Ids of the fences containing one position."""
        return self.contains([latlng.lng], [latlng.lat]).ids_for(0)

    def _candidate_pairs(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
        hit_pts: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64)]
        hit_slots: list[npt.NDArray[np.intp]] = [np.empty(0, np.intp)]
        alive = self._alive
        near_by_res = self._grid.candidates(x, y)
        for res, table in self._tables.items():
            near = near_by_res.get(res)
            if not len(table) or near is None or near.size == 0:
                continue
            # H3 is not strictly hierarchical (a point's cell at res r is not
            # always the parent of its cell at r + 1): one H3 call per table.
            probe = h3cells.latlng_to_cell_array(y[near], x[near], res)
            p_idx, slot, interior = table.lookup(probe)
            keep = alive[slot]
            p_idx, slot, interior = p_idx[keep], slot[keep], interior[keep]
            pt = near[p_idx]
            b = ~interior
            if b.any():
                # grouped by fence: each prepared geometry stays hot in cache
                rows = np.flatnonzero(b)
                rows = rows[np.argsort(slot[rows], kind="stable")]
                ok = shapely.intersects_xy(
                    self._geoms[slot[rows]], x[pt[rows]], y[pt[rows]]
                )
                b[rows] = ~ok
            inside = ~b
            hit_pts.append(pt[inside].astype(np.int64))
            hit_slots.append(slot[inside].astype(np.intp))
        return np.concatenate(hit_pts), np.concatenate(hit_slots)

    def nearby(
        self, latlng: LatLng, radius_m: float, limit: int | None = None
    ) -> list[tuple[FenceId, float]]:
        """Fences within ``radius_m`` of a position, nearest first.

        Candidates come from ``grid_disk`` over the covering cells (at a coarser
        ancestor resolution when the radius spans many cells), then a bounding
        box distance bound in numpy; distances are
        exact planar distances in a local metric frame centred on the point
        (0 inside a fence). Ties are broken by fence id.

        Returns
        -------
        list of (fence_id, distance_m)
        """
        if not (math.isfinite(radius_m) and radius_m >= 0):
            raise ValueError(f"radius_m: must be a finite number >= 0, got {radius_m}")
        slots_parts = []
        for table in self._tables.values():
            if not len(table):
                continue
            rc = table.res
            k = math.ceil(radius_m / h3cells.average_hexagon_edge_length_m(rc)) + 2
            while k > 6 and rc > 0:
                rc -= 1
                k = math.ceil(radius_m / h3cells.average_hexagon_edge_length_m(rc)) + 2
            disk = h3cells.grid_disk(h3cells.latlng_to_cell(latlng, rc), k)
            slots_parts.append(table.slots_under(np.asarray(disk, dtype=np.uint64), rc))
        if not slots_parts:
            return []
        slots = np.unique(np.concatenate(slots_parts))
        slots = slots[self._alive[slots]]
        # cheap lower bound on the distance to each bounding box (~1 % low)
        b = self._bounds[slots]
        dx = np.min(  # across the antimeridian too
            [
                np.maximum(np.maximum(b[:, 0] - lng, lng - b[:, 2]), 0.0)
                for lng in (latlng.lng - 360.0, latlng.lng, latlng.lng + 360.0)
            ],
            axis=0,
        )
        dy = np.maximum(np.maximum(b[:, 1] - latlng.lat, latlng.lat - b[:, 3]), 0.0)
        coslat = math.cos(math.radians(min(abs(latlng.lat) + 0.5, 90.0)))
        lower = np.hypot(dx * _LB_M_PER_DEG * coslat, dy * _LB_M_PER_DEG)
        slots = slots[lower <= radius_m]
        if slots.size == 0:
            return []
        to_xy = local_metric_frame(latlng)
        geoms = shapely.transform(self._geoms[slots], to_xy)
        dist = shapely.distance(shapely.Point(0.0, 0.0), geoms)
        ids = self._ids[slots]
        ok = dist <= radius_m
        order = np.lexsort((ids[ok], dist[ok]))
        out = list(zip(ids[ok][order].tolist(), dist[ok][order].tolist(), strict=True))
        return out[:limit] if limit is not None else out
