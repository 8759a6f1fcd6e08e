"""Per-device fusion of GPS and IP fixes into one position estimate.

A position-only Kalman filter in a local metric (east/north metres) frame,
with an isotropic covariance: every input is a circle, so one variance is
enough. Between fixes the variance grows with time as ``(sigma_speed * dt)^2``
(a random walk of a device of unknown motion). Each input's standard deviation
comes from its stated radius at its confidence level (GPS ``accuracy_m`` at
68 %, MaxMind's ``accuracy_radius`` at 67 %) through the 2-D normal law
``r = sigma * sqrt(-2 ln(1 - p))``.

Trust rules:

* a fix older than the state is not applied (``stale``), the state is kept;
* a GPS fix implying a ground speed above ``max_speed_mps`` (after allowing
  for both uncertainties) is not trusted (``jumped``), the state is kept;
* an IP whose Mahalanobis distance to the GPS-based (or prior) estimate
  exceeds the gate is not fused (``ip_gps_conflict``: VPN, proxy, roaming);
* the client's ``mocked`` flag passes through.

:func:`fuse` is pure: ``(state | None, fix, params) -> FusionResult``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from geoengine.errors import StateError
from geoengine.types import (
    Flag,
    IpStatus,
    LatLng,
    PositionEstimate,
    PositionFix,
    Source,
)

_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694379990141316e-3
_STATE_FMT = "<Bdddd"  # version, ts_s, lat, lng, variance_m2
_STATE_VERSION = 1


def radius_to_sigma(radius_m: float, confidence: float) -> float:
    """Per-axis standard deviation of a 2-D normal from a confidence radius.

    Examples
    --------
    >>> round(radius_to_sigma(10.0, 0.68), 3)
    6.624
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    return radius_m / math.sqrt(-2.0 * math.log(1.0 - confidence))


def sigma_to_radius(sigma_m: float, confidence: float) -> float:
    """Inverse of :func:`radius_to_sigma`."""
    return sigma_m * math.sqrt(-2.0 * math.log(1.0 - confidence))


@dataclass(frozen=True, slots=True)
class FusionParams:
    """Parameters of the fusion filter.

    Attributes
    ----------
    sigma_speed_mps : float
        Growth of the position uncertainty between fixes (m/s, per axis).
    max_speed_mps : float
        Plausible ground speed; beyond it a GPS fix is ``jumped``.
    gate_chi2 : float
        Mahalanobis gate (chi-square, 2 dof; 13.8 = 99.9 %).
    gps_confidence, ip_confidence : float
        Confidence level of GPS ``accuracy_m`` and of IP radii.
    max_sigma_m : float
        Cap on the state's standard deviation.
    inaccurate_m : float
        Estimates with a larger ``accuracy_m`` are flagged ``inaccurate``.
    """

    sigma_speed_mps: float = 2.0
    max_speed_mps: float = 90.0
    gate_chi2: float = 13.8
    gps_confidence: float = 0.68
    ip_confidence: float = 0.67
    max_sigma_m: float = 500_000.0
    inaccurate_m: float = 1_000.0


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Fused state of one device: mean, isotropic variance and time."""

    ts_s: float
    lat: float
    lng: float
    variance_m2: float

    @property
    def sigma_m(self) -> float:
        """Per-axis standard deviation in metres."""
        return math.sqrt(self.variance_m2)

    def to_bytes(self) -> bytes:
        """Compact serialisation (33 bytes)."""
        return struct.pack(
            _STATE_FMT, _STATE_VERSION, self.ts_s, self.lat, self.lng, self.variance_m2
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceState:
        """Decode :meth:`to_bytes`; raises :class:`StateError` on bad input."""
        try:
            version, ts, lat, lng, var = struct.unpack(_STATE_FMT, data)
        except struct.error as exc:
            raise StateError(f"state: cannot decode {len(data)} bytes") from exc
        if version != _STATE_VERSION:
            raise StateError(f"state: unknown version {version}")
        return cls(ts, lat, lng, var)


@dataclass(frozen=True, slots=True)
class FusionResult:
    """Outcome of one fix: the estimate to report and the state to store."""

    estimate: PositionEstimate
    state: DeviceState | None
    applied: bool


def _m_per_deg(lat: float) -> tuple[float, float]:
    phi = math.radians(lat)
    s2 = math.sin(phi) ** 2
    n_rad = _WGS84_A / math.sqrt(1.0 - _WGS84_E2 * s2)
    m_rad = _WGS84_A * (1.0 - _WGS84_E2) / (1.0 - _WGS84_E2 * s2) ** 1.5
    return math.radians(1.0) * n_rad * math.cos(phi), math.radians(1.0) * m_rad


def _offset_m(origin: LatLng, p: LatLng) -> tuple[float, float]:
    kx, ky = _m_per_deg(origin.lat)
    dlng = (p.lng - origin.lng + 180.0) % 360.0 - 180.0
    return dlng * kx, (p.lat - origin.lat) * ky


def _move(origin: LatLng, dx: float, dy: float) -> LatLng:
    kx, ky = _m_per_deg(origin.lat)
    lat = min(max(origin.lat + dy / ky, -90.0), 90.0)
    lng = (origin.lng + dx / max(kx, 1e-9) + 180.0) % 360.0 - 180.0
    return LatLng(lat, lng)


def _update(mean: LatLng, var: float, z: LatLng, var_z: float) -> tuple[LatLng, float]:
    gain = var / (var + var_z)
    dx, dy = _offset_m(mean, z)
    return _move(mean, gain * dx, gain * dy), var * var_z / (var + var_z)


def _mahalanobis2(mean: LatLng, var: float, z: LatLng, var_z: float) -> float:
    dx, dy = _offset_m(mean, z)
    return (dx * dx + dy * dy) / (var + var_z)


def fuse(
    state: DeviceState | None, fix: PositionFix, params: FusionParams | None = None
) -> FusionResult:
    """Fuse one fix into a device's state.

    Parameters
    ----------
    state : DeviceState or None
        The device's previous state (None for a new device).
    fix : PositionFix
        The ping, with its IP already located (``fix.ip_location``).
    params : FusionParams, optional

    Returns
    -------
    FusionResult
        ``estimate`` (position, ``accuracy_m`` at the GPS confidence level,
        sources, flags), the new ``state`` and whether the fix was applied.

    Examples
    --------
    >>> fix = PositionFix("d1", 100.0, LatLng(40.0, -74.0), accuracy_m=10.0)
    >>> r = fuse(None, fix)
    >>> r.estimate.latlng, round(r.estimate.accuracy_m, 1), r.estimate.sources
    (LatLng(lat=40.0, lng=-74.0), 10.0, (<Source.GPS: 'gps'>,))
    """
    p = params or FusionParams()
    flags: set[Flag] = {Flag.MOCKED} if fix.mocked else set()
    max_var = p.max_sigma_m**2

    def result(
        st: DeviceState | None, sources: tuple[Source, ...], applied: bool
    ) -> FusionResult:
        if st is None:
            flags.add(Flag.NO_POSITION)
            est = PositionEstimate(None, None, fix.ts_s, sources, frozenset(flags))
            return FusionResult(est, None, applied)
        acc = sigma_to_radius(st.sigma_m, p.gps_confidence)
        if acc > p.inaccurate_m:
            flags.add(Flag.INACCURATE)
        est = PositionEstimate(
            LatLng(st.lat, st.lng), acc, st.ts_s, sources, frozenset(flags)
        )
        return FusionResult(est, st, applied)

    if state is not None and fix.ts_s < state.ts_s:
        flags.add(Flag.STALE)
        return result(state, (), False)

    mean: LatLng | None = None
    var = math.inf
    sources: list[Source] = []
    if state is not None:
        dt = fix.ts_s - state.ts_s
        mean = LatLng(state.lat, state.lng)
        var = min(state.variance_m2 + (p.sigma_speed_mps * dt) ** 2, max_var)

    if fix.latlng is not None:
        acc = fix.accuracy_m if fix.accuracy_m is not None else p.inaccurate_m
        var_g = radius_to_sigma(acc, p.gps_confidence) ** 2
        if mean is None:
            mean, var = fix.latlng, var_g
            sources.append(Source.GPS)
        else:
            dx, dy = _offset_m(mean, fix.latlng)
            slack = 3.0 * (math.sqrt(var) + math.sqrt(var_g))
            dt = max(fix.ts_s - (state.ts_s if state else fix.ts_s), 1.0)
            if max(math.hypot(dx, dy) - slack, 0.0) / dt > p.max_speed_mps:
                flags.add(Flag.JUMPED)
            else:
                mean, var = _update(mean, var, fix.latlng, var_g)
                sources.extend((Source.PRIOR, Source.GPS))

    ip = fix.ip_location
    if ip is not None:
        if ip.status is not IpStatus.FOUND or ip.latlng is None or ip.radius_m is None:
            flags.add(Flag.IP_UNLOCATED)
        else:
            var_i = radius_to_sigma(ip.radius_m, p.ip_confidence) ** 2
            if mean is None:
                mean, var = ip.latlng, var_i
                sources.append(Source.IP)
            elif _mahalanobis2(mean, var, ip.latlng, var_i) > p.gate_chi2:
                flags.add(Flag.IP_GPS_CONFLICT)
            else:
                mean, var = _update(mean, var, ip.latlng, var_i)
                if not sources:
                    sources.append(Source.PRIOR)
                sources.append(Source.IP)

    if mean is None:
        return result(None, (), False)
    if not sources:  # nothing trusted: keep the prior as it was
        return result(state, (), False)
    new_state = DeviceState(fix.ts_s, mean.lat, mean.lng, min(var, max_var))
    return result(new_state, tuple(dict.fromkeys(sources)), True)
