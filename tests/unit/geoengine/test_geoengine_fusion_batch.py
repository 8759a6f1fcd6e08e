"""fuse_batch makes exactly the decisions of fuse."""

from __future__ import annotations

import time

import numpy as np
import pytest

from geoengine.fusion import FusionParams, fuse
from geoengine.fusion_batch import SCALAR_ROWS, fuse_batch, fuse_columns
from geoengine.types import IpLocation, IpStatus, LatLng, PositionFix


def random_round(rng, n, prev_states, t):
    fixes = []
    for i in range(n):
        base = prev_states[i]
        lat0, lng0 = (base.lat, base.lng) if base else (40.0 + (i % 100) * 0.01, -74.0)
        kind = rng.integers(0, 8)
        jump = rng.random() < 0.05
        dlat = rng.normal(0, 0.0003) + (5.0 if jump else 0.0)
        gps = LatLng(float(np.clip(lat0 + dlat, -89, 89)), lng0 + rng.normal(0, 0.0003))
        ip = None
        if kind in (1, 2, 3):
            far = rng.random() < 0.3
            ip = IpLocation(
                "8.8.8.8",
                IpStatus.FOUND,
                LatLng(lat0 + (10.0 if far else rng.normal(0, 0.05)), lng0),
                float(rng.uniform(1_000, 100_000)),
            )
        elif kind == 4:
            ip = IpLocation("10.0.0.1", IpStatus.PRIVATE)
        ts = t + float(rng.uniform(0, 30))
        if base is not None and rng.random() < 0.05:
            ts = base.ts_s - 10.0  # older than the state
        fixes.append(
            PositionFix(
                f"d{i}",
                ts,
                None if kind in (2, 5) else gps,
                None if kind == 6 else float(rng.uniform(3, 80)),
                ip,
                mocked=bool(rng.random() < 0.1),
            )
        )
    return fixes


def test_batch_equals_scalar_over_many_rounds() -> None:
    rng = np.random.default_rng(11)
    n = 300
    params = FusionParams()
    states = [None] * n
    seen_flags = set()
    for r in range(12):
        fixes = random_round(rng, n, states, 100.0 * r)
        batch = fuse_batch(states, fixes, params)
        for i in range(n):
            want = fuse(states[i], fixes[i], params)
            got = batch.result(i)
            assert got.applied == want.applied
            assert got.estimate.flags == want.estimate.flags
            assert got.estimate.sources == want.estimate.sources
            if want.state is None:
                assert got.state is None
            else:
                for a in ("ts_s", "lat", "lng", "variance_m2"):
                    assert getattr(got.state, a) == pytest.approx(
                        getattr(want.state, a), rel=1e-9, abs=1e-9
                    )
                assert got.estimate.accuracy_m == pytest.approx(
                    want.estimate.accuracy_m
                )
            seen_flags |= want.estimate.flags
        states = [fuse(states[i], fixes[i], params).state for i in range(n)]
    assert {f.value for f in seen_flags} >= {
        "mocked",
        "jumped",
        "ip_gps_conflict",
        "stale",
        "ip_unlocated",
        "inaccurate",
    }


def test_batch_is_faster_than_a_loop() -> None:
    rng = np.random.default_rng(1)
    n = 5_000
    fixes = random_round(rng, n, [None] * n, 0.0)
    t = time.perf_counter()
    fuse_batch([None] * n, fixes)
    batch_s = time.perf_counter() - t
    t = time.perf_counter()
    for f in fixes:
        fuse(None, f)
    loop_s = time.perf_counter() - t
    assert batch_s < loop_s


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="states"):
        fuse_batch([None], [])


def _columns(states, fixes, params):
    nan = float("nan")

    def ip_part(f, attr):
        ip = f.ip_location
        if ip is None or ip.status is not IpStatus.FOUND:
            return nan
        return getattr(ip.latlng, attr) if attr != "radius_m" else ip.radius_m

    return (
        tuple(
            np.array([getattr(s, a) if s else nan for s in states])
            for a in ("ts_s", "lat", "lng", "variance_m2")
        ),
        np.array([f.ts_s for f in fixes]),
        np.array([f.latlng.lat if f.latlng else nan for f in fixes]),
        np.array([f.latlng.lng if f.latlng else nan for f in fixes]),
        np.array([f.accuracy_m if f.accuracy_m is not None else nan for f in fixes]),
        np.array([f.ip_location is not None for f in fixes]),
        np.array([ip_part(f, "lat") for f in fixes]),
        np.array([ip_part(f, "lng") for f in fixes]),
        np.array([ip_part(f, "radius_m") for f in fixes]),
        np.array([f.mocked for f in fixes]),
        params,
    )


def test_few_rows_take_the_scalar_path_with_the_same_results() -> None:
    """A single ping (up to SCALAR_ROWS) is fused by the scalar filter: the same
    decisions and numbers as the vectorised one on a whole round."""
    rng = np.random.default_rng(5)
    n = 300
    params = FusionParams()
    states = [None] * n
    for r in range(8):
        fixes = random_round(rng, n, states, 100.0 * r)
        cols = _columns(states, fixes, params)
        whole = fuse_columns(*cols)
        assert n > SCALAR_ROWS
        for start in range(0, n, SCALAR_ROWS):
            part = slice(start, start + SCALAR_ROWS)
            few = fuse_columns(
                tuple(a[part] for a in cols[0]),
                *(a[part] for a in cols[1:-1]),
                params,
            )
            for name in ("applied", "flags", "sources"):
                assert np.array_equal(getattr(few, name), getattr(whole, name)[part])
            for name in ("lat", "lng", "variance_m2", "ts_s", "accuracy_m", "fix_ts_s"):
                np.testing.assert_allclose(
                    getattr(few, name),
                    getattr(whole, name)[part],
                    rtol=1e-12,
                    atol=1e-9,
                    equal_nan=True,
                )
        states = [whole.state(i) for i in range(n)]
