"""In-memory H3 index of one layer of polygons (one jurisdiction level).

The layer must be a partition (members do not overlap; the topology report in
:mod:`tax_zones.loaders` says whether it is). Then the index answers exactly
what brute-force shapely answers (``intersects``, so a point on a shared border
belongs to both sides):

* **Boundary cells.** Every polygon boundary is sampled at a quarter of the
  H3 edge length at the finest resolution ``res``; the cells of the samples and
  their neighbours (``grid_disk(1)``) form the boundary set. A point on a
  boundary segment lies within a quarter edge of a sample, so its cell is in
  that disk: no boundary cell is missed. Points in boundary cells are checked
  exactly with prepared shapely geometry against the cell's candidates (the
  polygons whose boundary passes there).
* **Interior cells.** Any other cell of ``res`` is crossed by no boundary,
  so it lies inside one polygon or outside all. Walking down from the 122 base
  cells, a cell with no boundary descendant is labelled once, by its centre
  point, and stored at its own (coarse) resolution: the compacted,
  multi-resolution interior. A point's cell at ``res`` is looked up by its
  ancestors with numpy ``searchsorted``.

Everything after the one ``latlng_to_cell`` call per point is vectorised.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from tax_zones import _h3

_M_PER_DEG = 111_320.0
_SMALL_BATCH = 8


@dataclass(frozen=True)
class IndexParams:
    """Parameters of a :class:`CellIndex`.

    Attributes
    ----------
    res : int
        Finest H3 resolution (boundary cells live there). The default 6 (36 km2
        cells) builds the 3,233 counties in about 2 s; the exact path on prepared
        geometry is cheap, so finer cells buy little query speed.
    sample_fraction : float
        Boundary sampling spacing as a fraction of the average edge length.
    """

    res: int = 6
    sample_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.res <= _h3.MAX_RES:
            raise ValueError(f"res must be in 0..15, got {self.res}")
        if not 0 < self.sample_fraction <= 0.5:
            raise ValueError(
                f"sample_fraction must be in (0, 0.5], got {self.sample_fraction}"
            )

    def key(self) -> str:
        """Short text naming the parameters (for cache keys)."""
        return f"r{self.res}-s{self.sample_fraction}"


@dataclass(frozen=True)
class IndexTables:
    """The arrays of a built index (what gets cached on disk)."""

    res: int
    interior_cells: tuple[np.ndarray, ...]  # per resolution, sorted uint64
    interior_owner: tuple[np.ndarray, ...]  # per resolution, int64
    boundary_cells: np.ndarray  # sorted uint64
    boundary_offsets: np.ndarray  # CSR offsets into boundary_candidates
    boundary_candidates: np.ndarray  # int64 geometry indices


class CellIndex:
    """Exact point-in-polygon index over a partition of polygons.

    Parameters
    ----------
    geometries : numpy.ndarray of shapely geometries
        The layer's (Multi)Polygons in lon/lat (EPSG:4326). They get prepared.
    tables : IndexTables
        Built by :meth:`build` or read by :meth:`load`.
    """

    def __init__(self, geometries: np.ndarray, tables: IndexTables) -> None:
        self.geometries = np.asarray(geometries, dtype=object)
        shapely.prepare(self.geometries)
        self.tables = tables
        self.res = tables.res
        self._build_ranges()

    def _build_ranges(self) -> None:
        """One sorted table of disjoint cell ranges at ``res`` (see ``_h3``).

        Each entry covers an interior cell (any resolution) or one boundary
        cell, and points to its owners (CSR). A point needs one
        ``searchsorted`` whatever the resolution of the cell that holds it.
        """
        t = self.tables
        los, his, checks, owner_lists = [], [], [], []
        starts_all, counts_all = [], []
        base = 0
        for cells, owners in zip(t.interior_cells, t.interior_owner, strict=True):
            if len(cells) == 0:
                continue
            ucells, first, counts = np.unique(
                cells, return_index=True, return_counts=True
            )
            lo, hi = _h3.cell_range_at(ucells, self.res)
            los.append(lo)
            his.append(hi)
            checks.append(np.zeros(len(ucells), dtype=bool))
            starts_all.append(first + base)
            counts_all.append(counts)
            owner_lists.append(owners)
            base += len(owners)
        b = t.boundary_cells
        los.append(b)
        his.append(b)
        checks.append(np.ones(len(b), dtype=bool))
        starts_all.append(t.boundary_offsets[:-1] + base)
        counts_all.append(np.diff(t.boundary_offsets))
        owner_lists.append(t.boundary_candidates)
        lo = np.concatenate(los)
        order = np.argsort(lo, kind="stable")
        self._lo = lo[order]
        self._hi = np.concatenate(his)[order]
        self._check = np.concatenate(checks)[order]
        self._start = np.concatenate(starts_all)[order]
        self._count = np.concatenate(counts_all)[order]
        self._owners = np.concatenate(owner_lists).astype(np.int64)
        # plain-Python copies for single points (no numpy call overhead)
        self._lo_list = self._lo.tolist()
        self._hi_list = self._hi.tolist()

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls, geometries: np.ndarray, params: IndexParams | None = None
    ) -> CellIndex:
        """Build the index (seconds for the 3,233 Census 500k counties).

        Parameters
        ----------
        geometries : numpy.ndarray of shapely geometries
            Polygons of one layer in lon/lat.
        params : IndexParams, optional
            Resolution and sampling; defaults to ``IndexParams()``.
        """
        params = params or IndexParams()
        geoms = np.asarray(geometries, dtype=object)
        res = params.res
        boundary, offsets, cands = _boundary_cells(geoms, params)
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        ancestors = [
            np.unique(_h3.cell_to_parent_array(boundary, r)) for r in range(res + 1)
        ]
        cells_r: list[np.ndarray] = []
        owners_r: list[np.ndarray] = []
        cand = _h3.get_res0_cells()
        for r in range(res + 1):
            in_a = _isin_sorted(cand, ancestors[r])
            uniform = cand[~in_a]
            lat, lng = _h3.cell_to_latlng_array(uniform)
            pi, gi = tree.query(shapely.points(lng, lat))
            keep = _intersects_grouped(geoms, gi, lng[pi], lat[pi])
            cells, owners = uniform[pi[keep]], gi[keep].astype(np.int64)
            order = np.argsort(cells, kind="stable")
            cells_r.append(cells[order])
            owners_r.append(owners[order])
            if r < res:
                cand = _h3.cell_to_children_array(cand[in_a])
        tables = IndexTables(
            res=res,
            interior_cells=tuple(cells_r),
            interior_owner=tuple(owners_r),
            boundary_cells=boundary,
            boundary_offsets=offsets,
            boundary_candidates=cands,
        )
        return cls(geoms, tables)

    # ------------------------------------------------------------------ query
    def query(self, lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (point index, geometry index) of every polygon holding a point.

        Same contract as ``shapely.STRtree.query(points, "intersects")``:
        points on a shared border map to both sides; points outside every
        polygon appear in no pair. Pairs are sorted by point index.

        Parameters
        ----------
        lat, lng : numpy.ndarray
            Latitudes and longitudes in degrees (validated by the caller).
        """
        lat = np.asarray(lat, dtype=np.float64)
        lng = np.asarray(lng, dtype=np.float64)
        if len(lat) <= _SMALL_BATCH:  # numpy call overhead dominates: loop
            hits = [
                self.query_point(a, b)
                for a, b in zip(lat.tolist(), lng.tolist(), strict=True)
            ]
            p = [i for i, h in enumerate(hits) for _ in h]
            g = [x for h in hits for x in h]
            return np.array(p, dtype=np.int64), np.array(g, dtype=np.int64)
        cells = _h3.latlng_to_cell_array(lat, lng, self.res)
        return self.query_cells(cells, lat, lng)

    def query_cells(
        self, cells: np.ndarray, lat: np.ndarray, lng: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`query` for points whose cells at ``res`` are already known."""
        n = len(cells)
        if n == 0 or len(self._lo) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        # sorted needles keep the one searchsorted cache-friendly
        idx = np.argsort(cells)
        sc = cells[idx]
        pos = np.searchsorted(self._lo, sc, side="right") - 1
        pos_c = np.maximum(pos, 0)
        inside = (pos >= 0) & (sc <= self._hi[pos_c])
        idx, pos = idx[inside], pos_c[inside]
        reps = self._count[pos]
        pp = np.repeat(idx, reps)
        within = np.arange(len(pp)) - np.repeat(np.cumsum(reps) - reps, reps)
        gg = self._owners[np.repeat(self._start[pos], reps) + within]
        check = np.repeat(self._check[pos], reps)
        if check.any():
            keep = ~check
            keep[check] = _intersects_grouped(
                self.geometries, gg[check], lng[pp[check]], lat[pp[check]]
            )
            pp, gg = pp[keep], gg[keep]
        order = np.argsort(pp * len(self.geometries) + gg)  # by point, then polygon
        return pp[order], gg[order]

    def query_point(self, lat: float, lng: float) -> list[int]:
        """Geometry indices holding one point (no numpy overhead)."""
        cell = _h3.latlng_to_cell(lat, lng, self.res)
        pos = bisect.bisect_right(self._lo_list, cell) - 1
        if pos < 0 or cell > self._hi_list[pos]:
            return []
        s = int(self._start[pos])
        owners = self._owners[s : s + int(self._count[pos])].tolist()
        if not self._check[pos]:
            return sorted(owners)
        return sorted(
            g for g in owners if shapely.intersects_xy(self.geometries[g], lng, lat)
        )

    def is_boundary_cell(self, cells: np.ndarray) -> np.ndarray:
        """Whether each cell (at ``res``) is on the exact-check path."""
        b = self.tables.boundary_cells
        return _isin_sorted(np.asarray(cells, dtype=np.uint64), b)

    def stats(self) -> dict[str, int]:
        """Cell counts: interior per resolution and boundary."""
        out = {
            f"interior_r{r}": len(c)
            for r, c in enumerate(self.tables.interior_cells)
            if len(c)
        }
        out["boundary"] = len(self.tables.boundary_cells)
        out["boundary_candidates"] = len(self.tables.boundary_candidates)
        return out

    # ------------------------------------------------------------------ cache
    def save(self, path: Path) -> None:
        """Write the tables to an ``.npz`` file (geometries are not stored)."""
        t = self.tables
        arrays: dict[str, np.ndarray] = {
            "res": np.array([t.res]),
            "boundary_cells": t.boundary_cells,
            "boundary_offsets": t.boundary_offsets,
            "boundary_candidates": t.boundary_candidates,
        }
        for r in range(t.res + 1):
            arrays[f"ic{r}"] = t.interior_cells[r]
            arrays[f"io{r}"] = t.interior_owner[r]
        with Path(path).open("wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path, geometries: np.ndarray) -> CellIndex:
        """Read tables written by :meth:`save` for the same geometries."""
        with np.load(Path(path)) as z:
            res = int(z["res"][0])
            tables = IndexTables(
                res=res,
                interior_cells=tuple(z[f"ic{r}"] for r in range(res + 1)),
                interior_owner=tuple(z[f"io{r}"] for r in range(res + 1)),
                boundary_cells=z["boundary_cells"],
                boundary_offsets=z["boundary_offsets"],
                boundary_candidates=z["boundary_candidates"],
            )
        return cls(geometries, tables)

    @classmethod
    def build_cached(
        cls,
        geometries: np.ndarray,
        cache_dir: Path,
        source_key: str,
        params: IndexParams | None = None,
    ) -> CellIndex:
        """Build, or load from ``cache_dir`` keyed by source and parameters.

        ``source_key`` should name the data (e.g. a hash of the source file);
        the WKB of the geometries is hashed into the key as well, so a changed
        geometry never reuses stale tables.
        """
        params = params or IndexParams()
        geoms = np.asarray(geometries, dtype=object)
        h = hashlib.sha256(source_key.encode())
        for wkb in shapely.to_wkb(geoms):
            h.update(wkb)
        path = Path(cache_dir) / f"cellindex-{params.key()}-{h.hexdigest()[:24]}.npz"
        if path.exists():
            return cls.load(path, geoms)
        index = cls.build(geoms, params)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel test workers
        index.save(tmp)
        tmp.replace(path)
        return index


def _isin_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    if len(sorted_ref) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ref, values), len(sorted_ref) - 1)
    return sorted_ref[pos] == values


def _intersects_grouped(
    geoms: np.ndarray, gidx: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """``intersects_xy(geoms[gidx[i]], x[i], y[i])`` grouped by geometry."""
    keep = np.zeros(len(gidx), dtype=bool)
    if len(gidx) == 0:
        return keep
    order = np.argsort(gidx, kind="stable")
    sg = gidx[order]
    bounds = np.flatnonzero(np.diff(sg)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(sg)]))
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        sel = order[s:e]
        keep[sel] = shapely.intersects_xy(geoms[sg[s]], x[sel], y[sel])
    return keep


def _boundary_cells(
    geoms: np.ndarray, params: IndexParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary cells at ``params.res`` with their candidate polygons (CSR)."""
    res = params.res
    spacing_m = _h3.average_hexagon_edge_length_m(res) * params.sample_fraction
    lines = shapely.segmentize(shapely.boundary(geoms), spacing_m / _M_PER_DEG)
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    cells = _h3.latlng_to_cell_array(coords[:, 1], coords[:, 0], res)
    pair_cells, pair_owner = _unique_pairs(cells, owner)
    ucells, inv = np.unique(pair_cells, return_inverse=True)
    # neighbours of every sampled cell inherit its owners
    disks = _disk1_table(ucells)  # (n, 7), padded with the cell itself
    k = disks.shape[1]
    nb = disks[inv].reshape(-1)
    both_cells, both_owner = _unique_pairs(nb, np.repeat(pair_owner, k))
    bcells, starts = np.unique(both_cells, return_index=True)
    offsets = np.append(starts, len(both_cells)).astype(np.int64)
    return bcells, offsets, both_owner


def _unique_pairs(
    cells: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unique (cell, owner) pairs sorted by cell then owner.

    Cells of one resolution have their unused low digits all set, so the owner
    is packed into those bits for a fast one-dimensional ``unique``.
    """
    res = int(_h3.get_resolution_array(cells[:1])[0]) if len(cells) else 0
    free_bits = 3 * (_h3.MAX_RES - res)
    owner = owner.astype(np.uint64)
    if len(owner) and int(owner.max()) < (1 << free_bits):
        mask = np.uint64((1 << free_bits) - 1)
        keys = np.unique((cells & ~mask) | owner)
        return keys | mask, (keys & mask).astype(np.int64)
    both = np.unique(np.stack([cells, owner], axis=1), axis=0)
    return both[:, 0], both[:, 1].astype(np.int64)


def _disk1_table(cells: np.ndarray) -> np.ndarray:
    """(n, 7) neighbours incl. self; pentagon rows padded with the cell."""
    return _h3.grid_disk_rows(cells)
