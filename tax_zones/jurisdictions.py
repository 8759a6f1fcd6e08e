"""Point + accuracy radius -> jurisdiction stack, border distance, ambiguity.

The resolver answers from memory: an H3 :class:`~tax_zones.index.CellIndex` of
the finest level of each boundary source (US counties; world countries),
parents through ``parent_code``. For each location it

1. finds the jurisdiction(s) holding the point (exact, vectorised);
2. measures the distance in metres to the nearest *internal* border (a border
   shared by two jurisdictions; coastlines do not count), searching up to
   ``border_search_m`` (beyond that: ``None``);
3. widens the caller's accuracy radius by the boundary source's own error
   (``BoundarySource.boundary_error_m``). When that disc touches any boundary
   it is intersected with the layer's polygons: every jurisdiction touching
   the disc is a candidate, with the share of the disc's *covered* area it
   holds (geodesic areas; shares sum to 1). The part of the disc over no
   jurisdiction (sea, or abroad when no country layer is loaded) is left out
   of the shares and reported as ``outside_share``.

Layers are tried finest first; a location that no layer's disc touches gets a
``no_jurisdiction`` result, never an empty stack that could read as zero tax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from tax_zones import borders
from tax_zones.errors import InvalidLocationError, PositionUnavailableError
from tax_zones.index import CellIndex
from tax_zones.postal import zip_location
from tax_zones.resolution import (
    Candidate,
    Policy,
    Quality,
    RateOf,
    Resolution,
    ResolverParams,
    Status,
)
from tax_zones.types import LEVEL_ORDER, Jurisdiction, JurisdictionRef, LatLng, Level

__all__ = [
    "Candidate",
    "JurisdictionResolver",
    "Policy",
    "Quality",
    "RateOf",
    "Resolution",
    "ResolverParams",
    "Status",
]

if TYPE_CHECKING:
    from tax_zones.ports import IpLocator

# MaxMind states accuracy_radius at 67% confidence; DB-IP Lite states none: a
# city-level guess of 25 km is used then.
DEFAULT_IP_ACCURACY_M = 25_000.0


class _Layer:
    """One indexed level of one boundary source."""

    def __init__(
        self,
        leaves: list[Jurisdiction],
        params: ResolverParams,
        cache_dir: Path | None,
    ) -> None:
        self.leaves = leaves
        self.geoms = np.array([j.geometry for j in leaves], dtype=object)
        shapely.prepare(self.geoms)
        src = leaves[0].source
        self.error_m = max(j.source.boundary_error_m for j in leaves)
        self.credit = f"{src.credit}; boundary vintage {src.vintage}"
        if cache_dir is not None:
            key = f"{src.name}:{src.vintage}:{leaves[0].level}"
            self.index = CellIndex.build_cached(
                self.geoms, cache_dir, key, params.index
            )
        else:
            self.index = CellIndex.build(self.geoms, params.index)
        self.tree = shapely.STRtree(self.geoms)
        seg, owner = borders.ring_segments(self.geoms)
        internal, external = borders.split_internal(seg, owner)
        self.internal = internal
        self.external = external
        self.internal_tree = shapely.STRtree(shapely.linestrings(internal))
        self.external_tree = shapely.STRtree(shapely.linestrings(external))


class JurisdictionResolver:
    """In-memory, border-aware resolver over jurisdiction records.

    Parameters
    ----------
    records : sequence of Jurisdiction
        All levels; for each boundary source the finest level with geometry is
        indexed, coarser levels are reached through ``parent_code``.
    params : ResolverParams, optional
    cache_dir : Path, optional
        Where to cache built H3 indexes (keyed by source and geometry hash).
    """

    def __init__(
        self,
        records: Sequence[Jurisdiction],
        params: ResolverParams | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.params = params or ResolverParams()
        self.by_code: dict[str, Jurisdiction] = {}
        for r in records:
            self.by_code.setdefault(r.code, r)
        finest: dict[str, int] = {}
        for r in records:
            if r.geometry is not None:
                rank = LEVEL_ORDER.index(r.level)
                finest[r.source.name] = max(finest.get(r.source.name, -1), rank)
        groups = sorted(finest.items(), key=lambda kv: -kv[1])
        self.layers = [
            _Layer(
                [
                    r
                    for r in records
                    if r.geometry is not None
                    and r.source.name == name
                    and LEVEL_ORDER.index(r.level) == rank
                ],
                self.params,
                cache_dir,
            )
            for name, rank in groups
        ]

    # ------------------------------------------------------------------ API
    def stack(self, leaf: Jurisdiction) -> tuple[JurisdictionRef, ...]:
        """Country-first chain of references from a leaf up its parents."""
        chain = [leaf.ref()]
        seen = {leaf.code}
        code = leaf.parent_code
        while code and code not in seen and code in self.by_code:
            parent = self.by_code[code]
            chain.append(parent.ref())
            seen.add(code)
            code = parent.parent_code
        return tuple(reversed(chain))

    def resolve(
        self,
        location: LatLng,
        accuracy_m: float,
        *,
        quality: Quality | None = None,
        at: date | None = None,
        policy: Policy | None = None,
        rate_of: RateOf | None = None,
    ) -> Resolution:
        """Resolve one location; see :meth:`resolve_many`.

        Raises
        ------
        AmbiguousJurisdictionError
            Under ``require_precise_location`` when the disc crosses a border.
        """
        return self.resolve_many(
            np.array([location.lat]),
            np.array([location.lng]),
            np.array([accuracy_m], dtype=np.float64),
            quality=quality,
            at=at,
            policy=policy,
            rate_of=rate_of,
        )[0].raise_for_status()

    def resolve_zip(
        self,
        zip_code: str,
        *,
        at: date | None = None,
        policy: Policy | None = None,
        rate_of: RateOf | None = None,
    ) -> Resolution:
        """Resolve a US ZIP as a postal centroid with a stated radius.

        The ZIP table's own state and county are added as a note; the answer
        comes from the boundaries (a ZIP often spans a county line).

        Raises
        ------
        UnknownZipError
            Malformed or unknown ZIP (names the ``zip`` field).
        """
        z = zip_location(zip_code)
        res = self.resolve(
            z.center,
            z.radius_m,
            quality=Quality.POSTAL_CENTROID,
            at=at,
            policy=policy,
            rate_of=rate_of,
        )
        note = (
            f"ZIP {z.zip_code}: postal centroid with a {z.radius_m:.0f} m radius; "
            f"the ZIP table lists {z.city}, {z.county}, {z.state}"
        )
        return replace(res, notes=(*res.notes, note))

    def resolve_ip(
        self,
        ip: str,
        locator: IpLocator,
        *,
        at: date | None = None,
        policy: Policy | None = None,
        rate_of: RateOf | None = None,
    ) -> Resolution:
        """Resolve an IP through an MMDB locator (accuracy from the database).

        A position gives an ``ip_city`` answer with the database's accuracy
        radius (``DEFAULT_IP_ACCURACY_M`` when it states none); a country alone
        gives a ``country`` answer.

        Raises
        ------
        PositionUnavailableError
            When the locator knows no position (names the ``ip`` field).
        """
        pos = locator.locate(ip)
        if pos is not None and pos.lat is not None and pos.lng is not None:
            accuracy = pos.accuracy_m if pos.accuracy_m else DEFAULT_IP_ACCURACY_M
            return self.resolve(
                LatLng(pos.lat, pos.lng),
                accuracy,
                quality=Quality.IP_CITY,
                at=at,
                policy=policy,
                rate_of=rate_of,
            )
        country = self.by_code.get(pos.country_code or "") if pos else None
        if country is None or country.level is not Level.COUNTRY:
            raise PositionUnavailableError(
                f"ip: the IP database has no position for {ip!r}"
            )
        stack = (country.ref(),)
        return Resolution(
            status=Status.RESOLVED,
            jurisdictions=stack,
            quality=Quality.COUNTRY,
            border_distance_m=None,
            ambiguous=False,
            candidates=(Candidate(1.0, stack),),
            policy=Policy(policy or self.params.policy),
            accuracy_m=None,
            boundary_error_m=0.0,
            outside_share=0.0,
            sources=(country.source.credit,),
            notes=("the IP database gives a country only",),
        )

    def resolve_many(
        self,
        lat: np.ndarray,
        lng: np.ndarray,
        accuracy_m: np.ndarray,
        *,
        quality: Quality | None = None,
        at: date | None = None,
        policy: Policy | None = None,
        rate_of: RateOf | None = None,
    ) -> list[Resolution]:
        """Resolve a batch of locations, in order.

        Parameters
        ----------
        lat, lng : numpy.ndarray
            Degrees; validated (NaN, infinities and out-of-range values raise
            :class:`InvalidLocationError` naming ``items[i].lat``).
        accuracy_m : numpy.ndarray
            Caller's accuracy radius in metres (>= 0).
        quality : Quality, optional
            Input grade; default from the radius (``rooftop`` up to
            ``rooftop_max_m``, else ``gps``).
        at : date, optional
            Tax date: jurisdictions not valid on it are ignored.
        policy : Policy, optional
            Defaults to ``params.policy``.
        rate_of : callable, optional
            Combined rate of a stack; required by ``highest_rate``.
        """
        lat, lng, acc = _validate(lat, lng, accuracy_m)
        policy = Policy(policy or self.params.policy)
        if policy is Policy.HIGHEST_RATE and rate_of is None:
            raise ValueError("rate_of: policy highest_rate needs a rate lookup")
        n = len(lat)
        out: list[Resolution | None] = [None] * n
        pending = np.arange(n)
        for layer in self.layers:
            if len(pending) == 0:
                break
            done = self._resolve_layer(
                layer, pending, lat, lng, acc, quality, at, policy, rate_of, out
            )
            pending = pending[~done]
        for i in pending.tolist():
            out[i] = Resolution(
                status=Status.NO_JURISDICTION,
                jurisdictions=(),
                quality=quality or self._grade(acc[i]),
                border_distance_m=None,
                ambiguous=False,
                candidates=(),
                policy=policy,
                accuracy_m=float(acc[i]),
                boundary_error_m=max((la.error_m for la in self.layers), default=0.0),
                outside_share=1.0,
                sources=tuple(la.credit for la in self.layers),
                notes=("no loaded jurisdiction contains or touches this location",),
            )
        return [r for r in out if r is not None]

    # ------------------------------------------------------------ internals
    def _grade(self, accuracy_m: float) -> Quality:
        return (
            Quality.ROOFTOP if accuracy_m <= self.params.rooftop_max_m else Quality.GPS
        )

    def _resolve_layer(
        self,
        layer: _Layer,
        idx: np.ndarray,
        lat: np.ndarray,
        lng: np.ndarray,
        acc: np.ndarray,
        quality: Quality | None,
        at: date | None,
        policy: Policy,
        rate_of: RateOf | None,
        out: list[Resolution | None],
    ) -> np.ndarray:
        la, ln = lat[idx], lng[idx]
        radius = acc[idx] + layer.error_m
        pi, gi = layer.index.query(la, ln)
        if at is not None and len(gi):
            ok = np.array(
                [layer.leaves[g].valid_on(at) for g in gi.tolist()], dtype=bool
            )
            pi, gi = pi[ok], gi[ok]
        hits = np.bincount(pi, minlength=len(idx))
        first = np.full(len(idx), -1)
        first[pi[::-1]] = gi[::-1]
        d_int = borders.nearest_segment_m(
            layer.internal_tree, layer.internal, la, ln, self.params.border_search_m
        )
        reach = radius * 1.01 + 1.0  # spherical distances vs geodesic disc
        near = (d_int <= reach) | borders.any_segment_within_m(
            layer.external_tree, layer.external, la, ln, reach
        )
        # discs wider than the border search: look for internal borders directly
        wide = ~near & (reach > self.params.border_search_m)
        if wide.any():
            near[wide] = borders.any_segment_within_m(
                layer.internal_tree, layer.internal, la[wide], ln[wide], reach[wide]
            )
        done = np.zeros(len(idx), dtype=bool)
        for k in range(len(idx)):
            i = int(idx[k])
            if hits[k] == 1 and not near[k]:
                cands = [(1.0, int(first[k]))]
                outside = 0.0
            elif hits[k] == 0 and not near[k]:
                continue  # clear of this layer: try the next one
            else:
                cands, outside = self._disc_candidates(
                    layer, la[k], ln[k], radius[k], at
                )
                if not cands:
                    continue
            done[k] = True
            out[i] = self._answer(
                layer, cands, outside, d_int[k], acc[i], quality, policy, rate_of
            )
        return done

    def _disc_candidates(
        self,
        layer: _Layer,
        lat: float,
        lng: float,
        radius_m: float,
        at: date | None,
    ) -> tuple[list[tuple[float, int]], float]:
        disc = borders.disc_polygon(lat, lng, radius_m, self.params.disc_vertices)
        gi = layer.tree.query(disc, predicate="intersects")
        if at is not None:
            gi = np.array(
                [g for g in gi.tolist() if layer.leaves[g].valid_on(at)], dtype=np.int64
            )
        if len(gi) == 0:
            return [], 1.0
        parts = shapely.intersection(layer.geoms[gi], disc)
        areas = np.array([borders.geodesic_area_m2(p) for p in parts])
        disc_area = borders.geodesic_area_m2(disc)
        covered = float(areas.sum())
        shares = areas / covered if covered > 0 else np.full(len(gi), 1.0 / len(gi))
        outside = max(0.0, 1.0 - covered / disc_area) if disc_area > 0 else 0.0
        outside = 0.0 if outside < 1e-6 else outside  # float noise of intersections
        return [(float(s), int(g)) for s, g in zip(shares, gi, strict=True)], outside

    def _answer(
        self,
        layer: _Layer,
        cands: list[tuple[float, int]],
        outside: float,
        d_int: float,
        acc: float,
        quality: Quality | None,
        policy: Policy,
        rate_of: RateOf | None,
    ) -> Resolution:
        stacks = [Candidate(share, self.stack(layer.leaves[g])) for share, g in cands]
        stacks.sort(key=lambda c: (-c.share, [r.code for r in c.jurisdictions]))
        ambiguous = len(stacks) > 1
        status = Status.RESOLVED
        if policy is Policy.HIGHEST_RATE and ambiguous:
            assert rate_of is not None
            chosen = max(stacks, key=lambda c: (rate_of(c.jurisdictions), c.share))
        else:
            chosen = stacks[0]
        notes: list[str] = []
        if policy is Policy.REQUIRE_PRECISE_LOCATION and ambiguous:
            status = Status.NEEDS_PRECISE_LOCATION
        if policy is Policy.SPLIT and ambiguous:
            notes.append("split: weight each candidate by its share (reporting only)")
        if outside > 0:
            notes.append(
                f"{outside:.1%} of the uncertainty disc lies outside every "
                "loaded jurisdiction (sea or abroad) and is not in the shares"
            )
        return Resolution(
            status=status,
            jurisdictions=chosen.jurisdictions,
            quality=quality or self._grade(acc),
            border_distance_m=None if not np.isfinite(d_int) else float(d_int),
            ambiguous=ambiguous,
            candidates=tuple(stacks),
            policy=policy,
            accuracy_m=float(acc),
            boundary_error_m=layer.error_m,
            outside_share=outside,
            sources=(layer.credit,),
            notes=tuple(notes),
        )


def _validate(
    lat: np.ndarray, lng: np.ndarray, accuracy_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lng = np.asarray(lng, dtype=np.float64).ravel()
    acc = np.asarray(accuracy_m, dtype=np.float64).ravel()
    if not len(lat) == len(lng) == len(acc):
        raise InvalidLocationError("items: lat, lng and accuracy_m differ in length")
    for name, arr, lo, hi in (
        ("lat", lat, -90.0, 90.0),
        ("lng", lng, -180.0, 180.0),
        ("accuracy_m", acc, 0.0, 1e7),
    ):
        bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidLocationError(
                f"items[{i}].{name} must be a finite number in [{lo:g}, {hi:g}], "
                f"got {arr[i]!r}"
            )
    return lat, lng, acc
