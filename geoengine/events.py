"""Enter / exit / dwell decisions from a fused estimate and its uncertainty.

For each candidate fence the probability that the device is inside is
``Phi(s / sigma)``, where ``s`` is the signed distance in metres from the
estimate to the fence boundary (positive inside) and ``sigma`` the estimate's
per-axis standard deviation: the exact answer for a straight boundary and a
good approximation when the fence is large compared with ``sigma``.

Hysteresis, in probability and in metres: a device enters when it is inside
by more than ``hysteresis_m`` with probability ``enter_p``, and exits when it
is outside by more than ``hysteresis_m`` with probability ``1 - exit_p``; in
between nothing changes. Probability alone is not enough: for a device sitting
on the boundary a well-calibrated ``Phi(s / sigma)`` is uniform on [0, 1] and
would cross any pair of thresholds every few fixes. ``dwell`` fires once per
visit after the fence's ``dwell_s`` inside. :func:`evaluate_fences` is pure
and works on a whole set of fences at once with vectorised shapely calls.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import shapely

from geoengine.errors import StateError
from geoengine.fusion import radius_to_sigma
from geoengine.geometry import FenceShape
from geoengine.index_tables import local_metric_frame
from geoengine.types import EventKind, FenceEvent, FenceId, Geofence, PositionEstimate

_Z = NormalDist()
_MEMBERSHIP = struct.Struct("<qBd")  # fence id, flags, entered_ts_s
_INSIDE, _DWELLED = 1, 2


@dataclass(frozen=True, slots=True)
class EventParams:
    """Thresholds of the event decision.

    Attributes
    ----------
    enter_p, exit_p : float
        Thresholds on the probability of being inside (with the band below).
    hysteresis_m : float
        Band around the boundary: entering needs ``P(inside by more than
        hysteresis_m) >= enter_p``, exiting ``P(inside by more than
        -hysteresis_m) <= exit_p``. Narrowed to ``0.2 * sqrt(area)`` for small
        fences.
    accuracy_confidence : float
        Confidence level of ``PositionEstimate.accuracy_m`` (to get sigma).
    min_sigma_m : float
        Floor on sigma (GPS never claims better than this).
    search_sigmas, max_search_m : float
        Batch search radius: ``hysteresis_m + search_sigmas * sigma``, capped.
    """

    enter_p: float = 0.9
    exit_p: float = 0.1
    hysteresis_m: float = 10.0
    search_sigmas: float = 6.0
    max_search_m: float = 20_000.0
    accuracy_confidence: float = 0.68
    min_sigma_m: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.exit_p < self.enter_p < 1.0:
            raise ValueError("enter_p, exit_p: need 0 < exit_p < enter_p < 1")


@dataclass(frozen=True, slots=True)
class Membership:
    """What the engine remembers about one (device, fence) pair."""

    inside: bool = False
    entered_ts_s: float = 0.0
    dwelled: bool = False


def encode_memberships(memberships: Mapping[FenceId, Membership]) -> bytes:
    """Compact bytes (17 per fence) for the state store; outside pairs dropped."""
    parts = [
        _MEMBERSHIP.pack(
            fid,
            (_INSIDE if m.inside else 0) | (_DWELLED if m.dwelled else 0),
            m.entered_ts_s,
        )
        for fid, m in sorted(memberships.items())
        if m.inside
    ]
    return b"".join(parts)


def decode_memberships(data: bytes) -> dict[FenceId, Membership]:
    """Inverse of :func:`encode_memberships`."""
    if len(data) % _MEMBERSHIP.size:
        raise StateError(
            f"memberships: {len(data)} bytes is not a whole number of records"
        )
    out: dict[FenceId, Membership] = {}
    for fid, flags, ts in _MEMBERSHIP.iter_unpack(data):
        out[fid] = Membership(bool(flags & _INSIDE), ts, bool(flags & _DWELLED))
    return out


def signed_distance_m(
    geometries: npt.ArrayLike, estimate: PositionEstimate
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Signed distance (metres, positive inside) from an estimate to each fence.

    Also returns each fence's area in m^2 (in the same local metric frame).
    Boundary points count as inside (distance 0), as in the index.
    """
    if estimate.latlng is None:
        raise ValueError("estimate.latlng: an estimate without position")
    geoms = np.asarray(geometries, dtype=object)
    if geoms.size == 0:
        return np.zeros(0), np.zeros(0)
    local = shapely.transform(geoms, local_metric_frame(estimate.latlng))
    origin = shapely.Point(0.0, 0.0)
    dist = shapely.distance(origin, shapely.boundary(local))
    inside = shapely.intersects(local, origin)
    return np.where(inside, dist, -dist), shapely.area(local)


_ERF = np.frompyfunc(math.erf, 1, 1)  # a ufunc: far less per-call cost than vectorize


def _phi(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    erf = np.asarray(_ERF(np.asarray(z, dtype=np.float64) / math.sqrt(2.0)), float)
    return np.asarray(0.5 * (1.0 + erf), dtype=np.float64)


def inside_probability(
    geometries: npt.ArrayLike, estimate: PositionEstimate, sigma_m: float
) -> npt.NDArray[np.float64]:
    """Probability ``Phi(s / sigma)`` of being inside each fence.

    Parameters
    ----------
    geometries : array_like of Polygon or MultiPolygon
        Fence geometries in lng/lat.
    estimate : PositionEstimate
        Must have a position.
    sigma_m : float
        Per-axis standard deviation of the estimate in metres (> 0).
    """
    signed, _ = signed_distance_m(geometries, estimate)
    return _phi(signed / sigma_m)


def evaluate_fences(
    device_id: str,
    estimate: PositionEstimate,
    fences: Mapping[FenceId, Geofence | FenceShape],
    memberships: Mapping[FenceId, Membership],
    params: EventParams | None = None,
    dwell_s: Mapping[FenceId, float | None] | None = None,
) -> tuple[dict[FenceId, Membership], list[FenceEvent]]:
    """Decide the events caused by one estimate.

    Parameters
    ----------
    device_id : str
    estimate : PositionEstimate
        The fused estimate (an estimate without position causes no event).
    fences : Mapping
        Candidate fences: those near the estimate (e.g. from
        ``FenceIndex.nearby`` within a few sigma) **and** those the device is
        currently inside. Memberships of fences absent here are kept unchanged.
    memberships : Mapping
        Current memberships of the device (missing: outside).
    params : EventParams, optional
    dwell_s : Mapping, optional
        Dwell thresholds for fences given as bare geometries.

    Returns
    -------
    memberships, events
        The device's new memberships (inside only) and the events, ordered
        by fence id.
    """
    p = params or EventParams()
    new = {fid: m for fid, m in memberships.items() if m.inside}
    if estimate.latlng is None or estimate.accuracy_m is None or not fences:
        return new, []
    sigma = max(
        radius_to_sigma(estimate.accuracy_m, p.accuracy_confidence), p.min_sigma_m
    )
    ids = sorted(fences)
    geoms = [
        f.geometry if isinstance(f, Geofence) else f for f in (fences[i] for i in ids)
    ]
    signed, area = signed_distance_m(geoms, estimate)
    prob = _phi(signed / sigma)
    # hysteresis band in metres, narrowed for fences too small to hold it
    band = np.minimum(p.hysteresis_m, 0.2 * np.sqrt(area))
    p_enter = _phi((signed - band) / sigma).tolist()
    p_exit = _phi((signed + band) / sigma).tolist()
    events: list[FenceEvent] = []
    ts = estimate.ts_s
    for k, (fid, pr) in enumerate(zip(ids, prob.tolist(), strict=True)):
        fence = fences[fid]
        dwell = (
            fence.dwell_s if isinstance(fence, Geofence) else (dwell_s or {}).get(fid)
        )
        m = new.get(fid, Membership())
        if not m.inside and p_enter[k] >= p.enter_p:
            m = Membership(True, ts, False)
            events.append(
                FenceEvent(device_id, fid, EventKind.ENTER, ts, pr, estimate.latlng)
            )
        elif m.inside and p_exit[k] <= p.exit_p:
            events.append(
                FenceEvent(device_id, fid, EventKind.EXIT, ts, pr, estimate.latlng)
            )
            new.pop(fid, None)
            continue
        if (
            m.inside
            and not m.dwelled
            and dwell is not None
            and ts - m.entered_ts_s >= dwell
        ):
            m = replace(m, dwelled=True)
            events.append(
                FenceEvent(device_id, fid, EventKind.DWELL, ts, pr, estimate.latlng)
            )
        if m.inside:
            new[fid] = m
    return new, events
