"""Topology report of a boundary layer: overlaps, gaps, nesting (km2 and %).

Areas are computed in an equal-area projection (EPSG:6933, World Cylindrical
Equal Area), never in degrees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from tax_zones.types import Jurisdiction

EQUAL_AREA = "EPSG:6933"
_TO_EQUAL_AREA = Transformer.from_crs("EPSG:4326", EQUAL_AREA, always_xy=True)


def equal_area_km2(geoms: np.ndarray) -> np.ndarray:
    """Area in km2 of lon/lat geometries, in an equal-area projection."""
    projected = shapely.transform(
        np.asarray(geoms, dtype=object),
        lambda xy: np.column_stack(_TO_EQUAL_AREA.transform(xy[:, 0], xy[:, 1])),
    )
    return shapely.area(projected) / 1e6


@dataclass(frozen=True)
class Overlap:
    """Two siblings whose interiors overlap."""

    code_a: str
    code_b: str
    area_km2: float


@dataclass(frozen=True)
class NestingIssue:
    """A parent whose children do not tile it exactly."""

    parent_code: str
    parent_area_km2: float
    outside_parent_km2: float  # child area lying outside the parent
    uncovered_km2: float  # parent area covered by no child (gaps)

    @property
    def outside_pct(self) -> float:
        """Child area outside the parent, as % of the parent's area."""
        return 100.0 * self.outside_parent_km2 / self.parent_area_km2

    @property
    def uncovered_pct(self) -> float:
        """Parent area without a child, as % of the parent's area."""
        return 100.0 * self.uncovered_km2 / self.parent_area_km2


@dataclass(frozen=True)
class TopologyReport:
    """Overlaps and gaps between siblings and children not nesting in parents.

    Differences below ``tolerance_km2`` (floating-point slivers) are ignored.
    """

    children: int
    total_area_km2: float
    overlaps: tuple[Overlap, ...]
    nesting: tuple[NestingIssue, ...]
    tolerance_km2: float

    @property
    def overlap_km2(self) -> float:
        """Total overlapping area."""
        return sum(o.area_km2 for o in self.overlaps)

    @property
    def overlap_pct(self) -> float:
        """Total overlapping area as % of the children's area."""
        return 100.0 * self.overlap_km2 / self.total_area_km2 if self.children else 0.0

    @property
    def gap_km2(self) -> float:
        """Parent area covered by no child, summed over parents."""
        return sum(n.uncovered_km2 for n in self.nesting)

    @property
    def is_partition(self) -> bool:
        """True when siblings neither overlap nor leave gaps nor stick out."""
        return not self.overlaps and not self.nesting


def topology_report(
    children: Sequence[Jurisdiction],
    parents: Sequence[Jurisdiction] = (),
    *,
    tolerance_km2: float = 0.01,
) -> TopologyReport:
    """Check that ``children`` tile their ``parents`` without overlaps.

    Parameters
    ----------
    children : sequence of Jurisdiction
        Siblings of one level (e.g. counties), each with a ``parent_code``.
    parents : sequence of Jurisdiction, optional
        The parent level (e.g. states). Without it only overlaps are checked.
    tolerance_km2 : float
        Ignore overlaps and nesting differences smaller than this.

    Examples
    --------
    >>> from shapely import box
    >>> from tax_zones.types import CENSUS_500K_2016 as S, Jurisdiction, Level
    >>> a = Jurisdiction(Level.COUNTY, "a", "A", "p", box(0, 0, 1, 1), S)
    >>> b = Jurisdiction(Level.COUNTY, "b", "B", "p", box(0.5, 0, 1.5, 1), S)
    >>> p = Jurisdiction(Level.STATE, "p", "P", None, box(0, 0, 2, 1), S)
    >>> r = topology_report([a, b], [p])
    >>> [o.code_a + o.code_b for o in r.overlaps], round(r.nesting[0].uncovered_pct)
    (['ab'], 25)
    """
    geoms = np.array([c.geometry for c in children], dtype=object)
    codes = [c.code for c in children]
    areas = equal_area_km2(geoms)
    shapely.prepare(geoms)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    inter = shapely.intersection(geoms[left], geoms[right])
    inter_km2 = equal_area_km2(inter)
    overlaps = tuple(
        Overlap(codes[i], codes[j], float(a))
        for i, j, a in zip(left, right, inter_km2, strict=True)
        if a > tolerance_km2
    )
    nesting: list[NestingIssue] = []
    if parents:
        by_parent: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(children):
            by_parent[c.parent_code or ""].append(i)
        for parent in parents:
            if parent.geometry is None:
                continue
            kids = by_parent.get(parent.code, [])
            union = shapely.union_all(geoms[kids]) if kids else shapely.Polygon()
            outside, uncovered, parea = equal_area_km2(
                np.array(
                    [
                        shapely.difference(union, parent.geometry),
                        shapely.difference(parent.geometry, union),
                        parent.geometry,
                    ],
                    dtype=object,
                )
            )
            if outside > tolerance_km2 or uncovered > tolerance_km2:
                nesting.append(
                    NestingIssue(
                        parent.code, float(parea), float(outside), float(uncovered)
                    )
                )
    return TopologyReport(
        children=len(children),
        total_area_km2=float(areas.sum()),
        overlaps=overlaps,
        nesting=tuple(nesting),
        tolerance_km2=tolerance_km2,
    )
