"""IP/GPS fusion: Kalman update, gates and trust flags."""

from __future__ import annotations

import math

import pytest

from geoengine.errors import InvalidInputError, StateError
from geoengine.fusion import DeviceState, FusionParams, fuse, radius_to_sigma
from geoengine.types import Flag, IpLocation, IpStatus, LatLng, PositionFix, Source

NYC = LatLng(40.7128, -74.0060)


def ip_at(latlng: LatLng, radius_m: float = 20_000.0) -> IpLocation:
    return IpLocation("8.8.8.8", IpStatus.FOUND, latlng, radius_m)


def metres(a: LatLng, b: LatLng) -> float:
    dy = (a.lat - b.lat) * 111_000
    dx = (a.lng - b.lng) * 111_320 * math.cos(math.radians(a.lat))
    return math.hypot(dx, dy)


def north(p: LatLng, m: float) -> LatLng:
    return LatLng(p.lat + m / 111_000, p.lng)


class TestFirstFix:
    def test_gps_only(self) -> None:
        r = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=12.0))
        assert r.applied
        assert r.estimate.latlng == NYC
        assert r.estimate.accuracy_m == pytest.approx(12.0)
        assert r.estimate.sources == (Source.GPS,)
        assert not r.estimate.flags

    def test_ip_only_is_inaccurate(self) -> None:
        r = fuse(None, PositionFix("d", 0.0, ip_location=ip_at(NYC, 50_000)))
        assert r.estimate.sources == (Source.IP,)
        assert Flag.INACCURATE in r.estimate.flags
        assert r.estimate.accuracy_m == pytest.approx(
            50_000 * math.sqrt(-2 * math.log(0.32)) / math.sqrt(-2 * math.log(0.33)),
            rel=1e-9,
        )

    def test_nothing_usable(self) -> None:
        ip = IpLocation("10.0.0.1", IpStatus.PRIVATE)
        r = fuse(None, PositionFix("d", 0.0, ip_location=ip))
        assert r.estimate.latlng is None
        assert r.state is None
        assert {Flag.NO_POSITION, Flag.IP_UNLOCATED} <= r.estimate.flags

    def test_bad_accuracy_rejected(self) -> None:
        with pytest.raises(InvalidInputError, match="accuracy_m"):
            PositionFix("d", 0.0, NYC, accuracy_m=float("nan"))


class TestFusion:
    def test_gps_and_consistent_ip_fuse_with_gps_dominating(self) -> None:
        ip = ip_at(north(NYC, 5_000), 20_000)
        r = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0, ip_location=ip))
        assert r.estimate.sources == (Source.GPS, Source.IP)
        assert Flag.IP_GPS_CONFLICT not in r.estimate.flags
        assert 0 < metres(r.estimate.latlng, NYC) < 0.01
        assert r.estimate.accuracy_m < 10.0

    def test_ip_far_from_gps_is_a_conflict_and_not_fused(self) -> None:
        ip = ip_at(LatLng(51.5, -0.12), 10_000)  # London while GPS says New York
        r = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0, ip_location=ip))
        assert Flag.IP_GPS_CONFLICT in r.estimate.flags
        assert r.estimate.sources == (Source.GPS,)
        assert r.estimate.latlng == NYC

    def test_ip_gated_against_prior_when_no_gps(self) -> None:
        s = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0)).state
        r = fuse(s, PositionFix("d", 10.0, ip_location=ip_at(LatLng(34.05, -118.24))))
        assert Flag.IP_GPS_CONFLICT in r.estimate.flags
        assert not r.applied
        assert r.state == s

    def test_kalman_averages_noise(self) -> None:
        s = None
        for i, off in enumerate([8.0, -8.0, 6.0, -6.0, 4.0, -4.0]):
            s = fuse(
                s, PositionFix("d", float(i), north(NYC, off), accuracy_m=10.0)
            ).state
        assert metres(LatLng(s.lat, s.lng), NYC) < 3.0
        assert s.sigma_m < radius_to_sigma(10.0, 0.68)

    def test_uncertainty_grows_with_time(self) -> None:
        p = FusionParams(sigma_speed_mps=2.0)
        s = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0), p).state
        ip = ip_at(NYC, 1e9)  # almost no information, only propagates
        soon = fuse(s, PositionFix("d", 1.0, ip_location=ip), p).state
        later = fuse(s, PositionFix("d", 600.0, ip_location=ip), p).state
        assert s.sigma_m < soon.sigma_m < later.sigma_m
        assert later.sigma_m == pytest.approx(math.hypot(s.sigma_m, 1200.0), rel=1e-3)


class TestTrustFlags:
    def test_jump_is_flagged_and_not_trusted(self) -> None:
        s = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0)).state
        la = LatLng(34.05, -118.24)
        r = fuse(s, PositionFix("d", 60.0, la, accuracy_m=10.0))
        assert Flag.JUMPED in r.estimate.flags
        assert not r.applied
        assert r.state == s

    def test_fast_but_plausible_move_is_accepted(self) -> None:
        s = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0)).state
        r = fuse(
            s, PositionFix("d", 60.0, north(NYC, 2_000), accuracy_m=10.0)
        )  # 33 m/s
        assert Flag.JUMPED not in r.estimate.flags
        assert r.applied

    def test_mocked_passes_through(self) -> None:
        r = fuse(None, PositionFix("d", 0.0, NYC, accuracy_m=10.0, mocked=True))
        assert Flag.MOCKED in r.estimate.flags
        assert r.applied

    def test_older_ping_does_not_move_the_state(self) -> None:
        s = fuse(None, PositionFix("d", 100.0, NYC, accuracy_m=10.0)).state
        r = fuse(s, PositionFix("d", 50.0, north(NYC, 30), accuracy_m=5.0))
        assert Flag.STALE in r.estimate.flags
        assert not r.applied
        assert r.state == s
        assert r.estimate.latlng == NYC


class TestState:
    def test_round_trip_is_compact(self) -> None:
        s = DeviceState(1_700_000_000.5, 40.1, -74.2, 123.4)
        data = s.to_bytes()
        assert len(data) == 33
        assert DeviceState.from_bytes(data) == s

    @pytest.mark.parametrize("data", [b"", b"\x01" * 10, b"\x09" + b"\x00" * 32])
    def test_bad_bytes(self, data) -> None:
        with pytest.raises(StateError, match="state"):
            DeviceState.from_bytes(data)
