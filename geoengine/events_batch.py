"""Enter / exit / dwell for many devices at once (vectorised).

:func:`evaluate_batch` makes the decisions of
:func:`geoengine.events.evaluate_fences` for a round of estimates, one per
device: candidate fences and signed distances come from one
:meth:`~geoengine.proximity.FenceProximity.pairs_within` call, and the few
pairs whose approximate distance lies within 1 % of a threshold are
recomputed exactly, so that the decisions are the same.
:func:`evaluate_batch_arrays` takes plain arrays, e.g. from
:func:`~geoengine.fusion_batch.fuse_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from geoengine.events import (
    _Z,
    EventParams,
    Membership,
    _phi,
    signed_distance_m,
)
from geoengine.proximity import FenceProximity
from geoengine.types import EventKind, FenceEvent, FenceId, LatLng, PositionEstimate


def evaluate_batch(
    device_ids: Sequence[str],
    estimates: Sequence[PositionEstimate],
    memberships: Sequence[Mapping[FenceId, Membership]],
    proximity: FenceProximity,
    dwell_s: Mapping[FenceId, float | None] | None = None,
    params: EventParams | None = None,
) -> tuple[list[dict[FenceId, Membership]], list[list[FenceEvent]]]:
    """Decide the events of many devices at once (one estimate per device).

    The same decision as :func:`evaluate_fences`, vectorised: candidate fences
    and signed distances for every estimate come from one
    :meth:`FenceProximity.pairs_within` call (radius: the hysteresis band plus
    ``search_sigmas`` sigma, capped at ``max_search_m``), plus the fences each
    device is currently inside. For several pings of one device, call once per
    ping round, in time order.

    Parameters
    ----------
    device_ids : Sequence[str]
        One per estimate, unique within the call.
    estimates : Sequence[PositionEstimate]
    memberships : Sequence[Mapping]
        Current memberships of each device.
    proximity : FenceProximity
        The tenant's fences.
    dwell_s : Mapping, optional
        Dwell threshold per fence id (missing or None: no dwell events).
    params : EventParams, optional

    Returns
    -------
    memberships, events
        Per device: new memberships (inside only) and events by fence id.
    """
    if len(estimates) != len(device_ids):
        raise ValueError("estimates: need one per device id")
    nan = math.nan
    lat = np.array([e.latlng.lat if e.latlng else nan for e in estimates], np.float64)
    lng = np.array([e.latlng.lng if e.latlng else nan for e in estimates], np.float64)
    acc = np.array(
        [e.accuracy_m if e.accuracy_m is not None else nan for e in estimates],
        np.float64,
    )
    ts = np.array([e.ts_s for e in estimates], dtype=np.float64)
    return evaluate_batch_arrays(
        device_ids, ts, lat, lng, acc, memberships, proximity, dwell_s, params
    )


def evaluate_batch_arrays(
    device_ids: Sequence[str],
    ts_s: npt.ArrayLike,
    lats: npt.ArrayLike,
    lngs: npt.ArrayLike,
    accuracy_m: npt.ArrayLike,
    memberships: Sequence[Mapping[FenceId, Membership]],
    proximity: FenceProximity,
    dwell_s: Mapping[FenceId, float | None] | None = None,
    params: EventParams | None = None,
) -> tuple[list[dict[FenceId, Membership]], list[list[FenceEvent]]]:
    """:func:`evaluate_batch` on arrays (e.g. straight from ``fuse_batch``).

    Rows whose position or accuracy is NaN (no position) cause no event.
    """
    new, events = evaluate_round(
        device_ids,
        ts_s,
        lats,
        lngs,
        accuracy_m,
        memberships,
        proximity,
        dwell_s,
        params,
    )
    return new, [events.get(i, []) for i in range(len(device_ids))]


def evaluate_round(
    device_ids: Sequence[str],
    ts_s: npt.ArrayLike,
    lats: npt.ArrayLike,
    lngs: npt.ArrayLike,
    accuracy_m: npt.ArrayLike,
    memberships: Sequence[Mapping[FenceId, Membership]],
    proximity: FenceProximity,
    dwell_s: Mapping[FenceId, float | None] | None = None,
    params: EventParams | None = None,
) -> tuple[list[dict[FenceId, Membership]], dict[int, list[FenceEvent]]]:
    """:func:`evaluate_batch_arrays` with the events as ``{row: [events]}``.

    Only rows with events appear, so a round of 10,000 pings allocates no
    per-row lists (cheaper, and less work for the garbage collector).
    """
    p = params or EventParams()
    n = len(device_ids)
    ts_all = np.asarray(ts_s, dtype=np.float64)
    lat_all = np.asarray(lats, dtype=np.float64)
    lng_all = np.asarray(lngs, dtype=np.float64)
    acc_all = np.asarray(accuracy_m, dtype=np.float64)
    if (
        not n
        == len(memberships)
        == ts_all.size
        == lat_all.size
        == lng_all.size
        == (acc_all.size)
    ):
        raise ValueError("memberships, ts_s, lats, lngs, accuracy_m: one per device id")
    if len(set(device_ids)) != n:
        raise ValueError("device_ids: must be unique within one call (one ping round)")
    dwell = dwell_s or {}
    new = [{f: m for f, m in ms.items() if m.inside} for ms in memberships]
    events: dict[int, list[FenceEvent]] = {}
    idx = np.flatnonzero(
        np.isfinite(lat_all) & np.isfinite(lng_all) & np.isfinite(acc_all)
    )
    if idx.size == 0:
        return new, events
    has = idx.tolist()
    lat, lng, acc = lat_all[idx], lng_all[idx], acc_all[idx]
    sigma = np.maximum(
        acc / math.sqrt(-2.0 * math.log(1.0 - p.accuracy_confidence)), p.min_sigma_m
    )
    radius = np.minimum(p.hysteresis_m + p.search_sigmas * sigma, p.max_search_m)
    near = proximity.pairs_within(lng, lat, radius)
    row, fid, signed, area = near.point_idx, near.fence_ids, near.signed_m, near.area_m2
    # fences the device is inside but that are beyond the search radius
    seen = set(zip(row.tolist(), fid.tolist(), strict=True))
    extra = [(k, f) for k, i in enumerate(has) for f in new[i] if (k, f) not in seen]
    if extra:
        er = np.array([k for k, _ in extra], dtype=np.int64)
        ef = np.array([f for _, f in extra], dtype=np.int64)
        es, ea = proximity.signed_distances(lng[er], lat[er], ef)
        gone = np.isnan(es)  # fence no longer known: leave the membership alone
        row = np.concatenate([row, er[~gone]])
        fid = np.concatenate([fid, ef[~gone]])
        signed = np.concatenate([signed, es[~gone]])
        area = np.concatenate([area, ea[~gone]])
    if not row.size:  # no fence near any point, none to leave: no events
        return new, events
    s = sigma[row]
    band = np.minimum(p.hysteresis_m, 0.2 * np.sqrt(area))
    # the scaled-frame distance is within 1 %: pairs that close to a threshold
    # get the exact local-frame distance, so the decision equals evaluate_fences
    s_enter = band + s * _Z.inv_cdf(p.enter_p)
    s_exit = s * _Z.inv_cdf(p.exit_p) - band
    tol = 0.01 * np.abs(signed) + 0.5
    close = (np.abs(signed - s_enter) < tol) | (np.abs(signed - s_exit) < tol)
    for j in np.flatnonzero(close).tolist():
        geom = proximity.geometry_of(int(fid[j]))
        k = int(row[j])
        est = PositionEstimate(LatLng(lat[k], lng[k]), float(acc[k]), 0.0)
        signed[j] = signed_distance_m([geom], est)[0][0]
    prob = _phi(signed / s)
    p_enter = _phi((signed - band) / s)
    p_exit = _phi((signed + band) / s)
    order = np.lexsort((fid, row))

    def _at(i: int) -> LatLng:
        return LatLng(float(lat_all[i]), float(lng_all[i]))

    for j in order.tolist():
        i = int(idx[row[j]])
        f = int(fid[j])
        m = new[i].get(f)
        ts = float(ts_all[i])
        if m is None:
            if p_enter[j] < p.enter_p:
                continue
            m = Membership(True, ts, False)
            events.setdefault(i, []).append(
                FenceEvent(
                    device_ids[i], f, EventKind.ENTER, ts, float(prob[j]), _at(i)
                )
            )
        elif p_exit[j] <= p.exit_p:
            events.setdefault(i, []).append(
                FenceEvent(device_ids[i], f, EventKind.EXIT, ts, float(prob[j]), _at(i))
            )
            del new[i][f]
            continue
        d = dwell.get(f)
        if not m.dwelled and d is not None and ts - m.entered_ts_s >= d:
            m = replace(m, dwelled=True)
            events.setdefault(i, []).append(
                FenceEvent(
                    device_ids[i], f, EventKind.DWELL, ts, float(prob[j]), _at(i)
                )
            )
        new[i][f] = m
    return new, events
