"""Vectorised fusion: one ping for each of many devices, in numpy.

:func:`fuse_batch` makes exactly the decisions of :func:`geoengine.fusion.fuse`
(same filter, gates and flags) for a whole round of pings at once, one ping
per device: for several pings of one device, call it once per round in time
order. Results come back as arrays (:class:`FusionArrays`), cheap to turn into
a response; :meth:`FusionArrays.result` gives the scalar form for one ping.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geoengine.fusion import DeviceState, FusionParams, FusionResult, fuse
from geoengine.types import (
    Flag,
    IpLocation,
    IpStatus,
    LatLng,
    PositionEstimate,
    PositionFix,
    Source,
)

_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694379990141316e-3
_FLAGS = list(Flag)
_BIT = {f: 1 << i for i, f in enumerate(_FLAGS)}
_SOURCES = (Source.PRIOR, Source.GPS, Source.IP)  # canonical order, as fuse gives
_SRC = {s: 1 << i for i, s in enumerate(_SOURCES)}
FLAG_BITS: dict[Flag, int] = dict(_BIT)
SOURCE_BITS: dict[Source, int] = dict(_SRC)

F64 = npt.NDArray[np.float64]


@functools.cache
def flags_of(bits: int) -> frozenset[Flag]:
    """The flags of a :attr:`FusionArrays.flags` bit mask."""
    return frozenset(f for f in _FLAGS if bits & _BIT[f])


@functools.cache
def sources_of(bits: int) -> tuple[Source, ...]:
    """The sources of a :attr:`FusionArrays.sources` bit mask, in ``fuse`` order."""
    return tuple(s for s in _SOURCES if bits & _SRC[s])


def _c(conf: float) -> float:
    return math.sqrt(-2.0 * math.log(1.0 - conf))


def _k(lat: F64) -> tuple[F64, F64]:
    phi = np.radians(lat)
    s2 = np.sin(phi) ** 2
    n_rad = _WGS84_A / np.sqrt(1.0 - _WGS84_E2 * s2)
    m_rad = _WGS84_A * (1.0 - _WGS84_E2) / (1.0 - _WGS84_E2 * s2) ** 1.5
    return math.radians(1.0) * n_rad * np.cos(phi), math.radians(1.0) * m_rad


def _offset(lat0: F64, lng0: F64, lat: F64, lng: F64) -> tuple[F64, F64]:
    kx, ky = _k(lat0)
    dlng = (lng - lng0 + 180.0) % 360.0 - 180.0
    return dlng * kx, (lat - lat0) * ky


@dataclass(frozen=True, slots=True)
class FusionArrays:
    """Per-ping outputs of :func:`fuse_batch` (NaN where there is no position).

    ``lat``, ``lng``, ``variance_m2``, ``ts_s`` describe the state to store and
    the estimate to report; ``flags`` and ``sources`` are bit masks (see
    :meth:`flag_set` and :meth:`source_tuple`).
    """

    lat: F64
    lng: F64
    variance_m2: F64
    ts_s: F64
    accuracy_m: F64
    applied: npt.NDArray[np.bool_]
    flags: npt.NDArray[np.int64]
    sources: npt.NDArray[np.int64]
    fix_ts_s: F64

    def __len__(self) -> int:
        return int(self.lat.size)

    def flag_set(self, i: int) -> frozenset[Flag]:
        """Flags of ping ``i``."""
        return flags_of(int(self.flags[i]))

    def source_tuple(self, i: int) -> tuple[Source, ...]:
        """Sources of ping ``i``, in the order :func:`~geoengine.fusion.fuse` gives."""
        return sources_of(int(self.sources[i]))

    def state(self, i: int) -> DeviceState | None:
        """State to store for ping ``i`` (None: the device has no position)."""
        if not math.isfinite(self.lat[i]):
            return None
        return DeviceState(
            float(self.ts_s[i]),
            float(self.lat[i]),
            float(self.lng[i]),
            float(self.variance_m2[i]),
        )

    def result(self, i: int) -> FusionResult:
        """Ping ``i`` as the :class:`~geoengine.fusion.FusionResult` of ``fuse``."""
        st = self.state(i)
        if st is None:
            est = PositionEstimate(
                None, None, float(self.fix_ts_s[i]), (), self.flag_set(i)
            )
        else:
            est = PositionEstimate(
                LatLng(st.lat, st.lng),
                float(self.accuracy_m[i]),
                st.ts_s,
                self.source_tuple(i),
                self.flag_set(i),
            )
        return FusionResult(est, st, bool(self.applied[i]))


def fuse_batch(
    states: Sequence[DeviceState | None],
    fixes: Sequence[PositionFix],
    params: FusionParams | None = None,
) -> FusionArrays:
    """Fuse one fix per device for many devices at once.

    Parameters
    ----------
    states : Sequence[DeviceState or None]
        Previous state of each device.
    fixes : Sequence[PositionFix]
        One fix per device (same order as ``states``).
    params : FusionParams, optional

    Returns
    -------
    FusionArrays
    """
    p = params or FusionParams()
    n = len(fixes)
    if len(states) != n:
        raise ValueError("states: need one per fix")
    nan = math.nan
    s_ts = np.array([s.ts_s if s else nan for s in states], dtype=np.float64)
    s_lat = np.array([s.lat if s else nan for s in states], dtype=np.float64)
    s_lng = np.array([s.lng if s else nan for s in states], dtype=np.float64)
    s_var = np.array([s.variance_m2 if s else nan for s in states], dtype=np.float64)
    ts = np.array([f.ts_s for f in fixes], dtype=np.float64)
    g_lat = np.array(
        [f.latlng.lat if f.latlng else nan for f in fixes], dtype=np.float64
    )
    g_lng = np.array(
        [f.latlng.lng if f.latlng else nan for f in fixes], dtype=np.float64
    )
    acc = np.array(
        [f.accuracy_m if f.accuracy_m is not None else p.inaccurate_m for f in fixes],
        dtype=np.float64,
    )
    ip_given = np.array([f.ip_location is not None for f in fixes])
    ips = [f.ip_location for f in fixes]
    found = [
        ip is not None
        and ip.status is IpStatus.FOUND
        and ip.latlng is not None
        and ip.radius_m is not None
        for ip in ips
    ]
    i_lat = np.array(
        [
            ip.latlng.lat if ok else nan  # type: ignore[union-attr]
            for ip, ok in zip(ips, found, strict=True)
        ],
        dtype=np.float64,
    )
    i_lng = np.array(
        [
            ip.latlng.lng if ok else nan  # type: ignore[union-attr]
            for ip, ok in zip(ips, found, strict=True)
        ],
        dtype=np.float64,
    )
    i_rad = np.array(
        [
            ip.radius_m if ok else nan  # type: ignore[union-attr]
            for ip, ok in zip(ips, found, strict=True)
        ],
        dtype=np.float64,
    )
    mocked = np.array([f.mocked for f in fixes])

    with np.errstate(invalid="ignore", divide="ignore"):  # inf/NaN rows are masked
        return _fuse_arrays(
            p,
            s_ts,
            s_lat,
            s_lng,
            s_var,
            ts,
            g_lat,
            g_lng,
            acc,
            ip_given,
            i_lat,
            i_lng,
            i_rad,
            mocked,
        )


def fuse_columns(
    states: tuple[F64, F64, F64, F64],
    ts_s: F64,
    lat: F64,
    lng: F64,
    accuracy_m: F64,
    ip_given: npt.NDArray[np.bool_],
    ip_lat: F64,
    ip_lng: F64,
    ip_radius_m: F64,
    mocked: npt.NDArray[np.bool_],
    params: FusionParams | None = None,
) -> FusionArrays:
    """:func:`fuse_batch` on plain arrays: no per-ping objects.

    Parameters
    ----------
    states : tuple of arrays
        Previous ``(ts_s, lat, lng, variance_m2)`` per device, NaN where the
        device has no state.
    ts_s, lat, lng, accuracy_m : arrays
        The fixes; ``lat``/``lng`` NaN without GPS, ``accuracy_m`` NaN when
        not given (then ``params.inaccurate_m`` is used, as in ``fuse``).
    ip_given : bool array
        An IP address came with the ping (located or not).
    ip_lat, ip_lng, ip_radius_m : arrays
        The located IP position (NaN unless the lookup found one).
    mocked : bool array
    params : FusionParams, optional

    Returns
    -------
    FusionArrays
    """
    p = params or FusionParams()
    s_ts, s_lat, s_lng, s_var = (np.asarray(a, dtype=np.float64) for a in states)
    ts = np.asarray(ts_s, dtype=np.float64)
    n = ts.size
    cols = (s_ts, s_lat, s_lng, s_var, lat, lng, accuracy_m, ip_lat, ip_lng)
    if any(np.shape(a) != (n,) for a in (*cols, ip_radius_m, ip_given, mocked)):
        raise ValueError("states, lat, lng, accuracy_m, ip_*, mocked: one per ts_s")
    acc = np.asarray(accuracy_m, dtype=np.float64)
    acc = np.where(np.isnan(acc), p.inaccurate_m, acc)
    args = (
        p,
        s_ts,
        s_lat,
        s_lng,
        s_var,
        ts,
        np.asarray(lat, dtype=np.float64),
        np.asarray(lng, dtype=np.float64),
        acc,
        np.asarray(ip_given, dtype=bool),
        np.asarray(ip_lat, dtype=np.float64),
        np.asarray(ip_lng, dtype=np.float64),
        np.asarray(ip_radius_m, dtype=np.float64),
        np.asarray(mocked, dtype=bool),
    )
    if n <= SCALAR_ROWS:
        return _fuse_rows(*args)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf/NaN rows are masked
        return _fuse_arrays(*args)


# Up to this many rows (a single ping, say), the scalar filter is several times
# cheaper than the ~150 numpy calls of the vectorised one, each with its fixed cost.
SCALAR_ROWS = 4


def _fuse_rows(
    p: FusionParams,
    s_ts: F64,
    s_lat: F64,
    s_lng: F64,
    s_var: F64,
    ts: F64,
    g_lat: F64,
    g_lng: F64,
    acc: F64,
    ip_given: npt.NDArray[np.bool_],
    i_lat: F64,
    i_lng: F64,
    i_rad: F64,
    mocked: npt.NDArray[np.bool_],
) -> FusionArrays:
    """:func:`_fuse_arrays` for a few rows, each through the scalar :func:`fuse`."""
    n = ts.size
    out = np.full((5, n), math.nan)  # lat, lng, variance, ts, accuracy
    applied = np.zeros(n, dtype=bool)
    flags = np.zeros(n, dtype=np.int64)
    src = np.zeros(n, dtype=np.int64)
    rows = zip(
        s_ts.tolist(),
        s_lat.tolist(),
        s_lng.tolist(),
        s_var.tolist(),
        ts.tolist(),
        g_lat.tolist(),
        g_lng.tolist(),
        acc.tolist(),
        ip_given.tolist(),
        i_lat.tolist(),
        i_lng.tolist(),
        i_rad.tolist(),
        mocked.tolist(),
        strict=True,
    )
    for i, (
        st_ts,
        st_lat,
        st_lng,
        st_var,
        t,
        la,
        ln,
        a,
        ipg,
        il,
        ig,
        ir,
        mk,
    ) in enumerate(rows):
        state = (
            DeviceState(st_ts, st_lat, st_lng, st_var)
            if math.isfinite(st_var)
            else None
        )
        ip = None
        if ipg:
            ip = (
                IpLocation("", IpStatus.FOUND, LatLng(il, ig), ir)
                if math.isfinite(il)
                else IpLocation("", IpStatus.UNKNOWN)
            )
        gps = LatLng(la, ln) if math.isfinite(la) else None
        r = fuse(state, PositionFix("", t, gps, a, ip, mocked=mk), p)
        est = r.estimate
        if r.state is not None:
            st = r.state
            out[:, i] = (st.lat, st.lng, st.variance_m2, st.ts_s, est.accuracy_m)
        applied[i] = r.applied
        flags[i] = sum(_BIT[f] for f in est.flags)
        src[i] = sum(_SRC[s] for s in est.sources)
    lat, lng, var, out_ts, accuracy = out
    return FusionArrays(lat, lng, var, out_ts, accuracy, applied, flags, src, ts)


def _fuse_arrays(
    p: FusionParams,
    s_ts: F64,
    s_lat: F64,
    s_lng: F64,
    s_var: F64,
    ts: F64,
    g_lat: F64,
    g_lng: F64,
    acc: F64,
    ip_given: npt.NDArray[np.bool_],
    i_lat: F64,
    i_lng: F64,
    i_rad: F64,
    mocked: npt.NDArray[np.bool_],
) -> FusionArrays:
    n = ts.size
    max_var = p.max_sigma_m**2
    flags = np.where(mocked, _BIT[Flag.MOCKED], 0).astype(np.int64)
    src = np.zeros(n, dtype=np.int64)
    has_state = np.isfinite(s_var)
    stale = has_state & (ts < s_ts)
    flags |= np.where(stale, _BIT[Flag.STALE], 0)
    live = ~stale

    dt = np.where(has_state, ts - s_ts, 0.0)
    lat, lng = s_lat.copy(), s_lng.copy()
    var = np.where(
        has_state, np.minimum(s_var + (p.sigma_speed_mps * dt) ** 2, max_var), np.inf
    )
    has_mean = has_state.copy()

    # GPS
    has_gps = np.isfinite(g_lat) & live
    var_g = (acc / _c(p.gps_confidence)) ** 2
    init = has_gps & ~has_mean
    lat, lng, var = (
        np.where(init, g_lat, lat),
        np.where(init, g_lng, lng),
        np.where(init, var_g, var),
    )
    src |= np.where(init, _SRC[Source.GPS], 0)
    upd = has_gps & has_mean
    dx, dy = _offset(
        np.where(upd, lat, 0.0),
        np.where(upd, lng, 0.0),
        np.where(upd, g_lat, 0.0),
        np.where(upd, g_lng, 0.0),
    )
    slack = 3.0 * (np.sqrt(var) + np.sqrt(var_g))
    speed = np.maximum(np.hypot(dx, dy) - slack, 0.0) / np.maximum(dt, 1.0)
    jumped = upd & (speed > p.max_speed_mps)
    flags |= np.where(jumped, _BIT[Flag.JUMPED], 0)
    ok = upd & ~jumped
    gain = np.where(ok, var / (var + var_g), 0.0)
    kx, ky = _k(np.where(ok, lat, 0.0))
    new_lat = np.clip(lat + gain * dy / ky, -90.0, 90.0)
    new_lng = (lng + gain * dx / np.maximum(kx, 1e-9) + 180.0) % 360.0 - 180.0
    lat, lng = np.where(ok, new_lat, lat), np.where(ok, new_lng, lng)
    var = np.where(ok, var * var_g / (var + var_g), var)
    src |= np.where(ok, _SRC[Source.PRIOR] | _SRC[Source.GPS], 0)
    has_mean |= init

    # IP
    ip_ok = np.isfinite(i_lat) & live
    flags |= np.where(ip_given & ~np.isfinite(i_lat) & live, _BIT[Flag.IP_UNLOCATED], 0)
    var_i = (i_rad / _c(p.ip_confidence)) ** 2
    init = ip_ok & ~has_mean
    lat, lng, var = (
        np.where(init, i_lat, lat),
        np.where(init, i_lng, lng),
        np.where(init, var_i, var),
    )
    src |= np.where(init, _SRC[Source.IP], 0)
    gate = ip_ok & has_mean
    dx, dy = _offset(
        np.where(gate, lat, 0.0),
        np.where(gate, lng, 0.0),
        np.where(gate, i_lat, 0.0),
        np.where(gate, i_lng, 0.0),
    )
    m2 = (dx * dx + dy * dy) / (var + var_i)
    conflict = gate & (m2 > p.gate_chi2)
    flags |= np.where(conflict, _BIT[Flag.IP_GPS_CONFLICT], 0)
    ok = gate & ~conflict
    gain = np.where(ok, var / (var + var_i), 0.0)
    kx, ky = _k(np.where(ok, lat, 0.0))
    new_lat = np.clip(lat + gain * dy / ky, -90.0, 90.0)
    new_lng = (lng + gain * dx / np.maximum(kx, 1e-9) + 180.0) % 360.0 - 180.0
    lat, lng = np.where(ok, new_lat, lat), np.where(ok, new_lng, lng)
    var = np.where(ok, var * var_i / (var + var_i), var)
    src |= np.where(ok & (src == 0), _SRC[Source.PRIOR], 0)
    src |= np.where(ok, _SRC[Source.IP], 0)

    applied = live & (src != 0)
    out_lat = np.where(applied, lat, s_lat)
    out_lng = np.where(applied, lng, s_lng)
    out_var = np.where(applied, np.minimum(var, max_var), s_var)
    out_ts = np.where(applied, ts, s_ts)
    src = np.where(applied, src, 0)
    no_pos = ~np.isfinite(out_lat)
    flags |= np.where(no_pos, _BIT[Flag.NO_POSITION], 0)
    accuracy = np.sqrt(out_var) * _c(p.gps_confidence)
    flags |= np.where(~no_pos & (accuracy > p.inaccurate_m), _BIT[Flag.INACCURATE], 0)
    return FusionArrays(
        out_lat, out_lng, out_var, out_ts, accuracy, applied, flags, src, ts
    )
