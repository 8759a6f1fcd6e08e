"""Enter / exit / dwell with hysteresis, including the boundary-flapping test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoengine.events import (
    EventParams,
    Membership,
    decode_memberships,
    encode_memberships,
    evaluate_fences,
    inside_probability,
)
from geoengine.fusion import fuse
from geoengine.geometry import circle_to_polygon
from geoengine.index import FenceIndex
from geoengine.types import EventKind, Geofence, LatLng, PositionEstimate, PositionFix

CENTRE = LatLng(40.7128, -74.0060)
RADIUS = 150.0
FENCE = Geofence(1, circle_to_polygon(CENTRE, RADIUS, 64), dwell_s=300.0)


def at_distance(d_m: float, bearing_deg: float = 0.0) -> LatLng:
    b = math.radians(bearing_deg)
    dlat = d_m * math.cos(b) / 111_040.0
    dlng = d_m * math.sin(b) / (111_320.0 * math.cos(math.radians(CENTRE.lat)))
    return LatLng(CENTRE.lat + dlat, CENTRE.lng + dlng)


def est(p: LatLng, acc: float, ts: float) -> PositionEstimate:
    return PositionEstimate(p, acc, ts)


class TestProbability:
    def test_half_on_boundary_and_monotone(self) -> None:
        ps = [
            inside_probability([FENCE.geometry], est(at_distance(d), 10, 0), 5.0)[0]
            for d in (0.0, 140.0, RADIUS * math.cos(math.pi / 64), 160.0, 400.0)
        ]
        assert ps[0] > 0.999
        assert ps[1] > 0.9
        assert ps[2] == pytest.approx(0.5, abs=0.03)
        assert ps[3] < 0.1
        assert ps[4] < 1e-9


class TestTransitions:
    def test_enter_dwell_exit(self) -> None:
        fences = {1: FENCE}
        m: dict = {}
        m, ev = evaluate_fences("d", est(at_distance(500), 10, 0), fences, m)
        assert ev == []
        m, ev = evaluate_fences("d", est(at_distance(20), 10, 10), fences, m)
        assert [e.kind for e in ev] == [EventKind.ENTER]
        assert m[1].inside
        m, ev = evaluate_fences("d", est(at_distance(30), 10, 200), fences, m)
        assert ev == []
        m, ev = evaluate_fences("d", est(at_distance(30), 10, 310), fences, m)
        assert [e.kind for e in ev] == [EventKind.DWELL]
        m, ev = evaluate_fences("d", est(at_distance(40), 10, 900), fences, m)
        assert ev == []  # dwell fires once per visit
        m, ev = evaluate_fences("d", est(at_distance(400), 10, 1000), fences, m)
        assert [e.kind for e in ev] == [EventKind.EXIT]
        assert m == {}
        assert ev[0].event_id == "d:1:exit:1000.000"

    def test_uncertain_estimate_does_not_enter(self) -> None:
        _, ev = evaluate_fences("d", est(CENTRE, 5_000, 0), {1: FENCE}, {})
        assert ev == []

    def test_estimate_without_position_changes_nothing(self) -> None:
        m = {1: Membership(True, 0.0)}
        out, ev = evaluate_fences("d", PositionEstimate(None, None, 5.0), {1: FENCE}, m)
        assert out == m
        assert ev == []

    def test_bad_params(self) -> None:
        with pytest.raises(ValueError, match="exit_p"):
            EventParams(enter_p=0.2, exit_p=0.5)


def test_no_flapping_on_the_boundary_with_noisy_fixes() -> None:
    """Walk in, sit on the boundary 20 min at 1 Hz with 10 m noise, walk out."""
    rng = np.random.default_rng(2024)
    index = FenceIndex.build([FENCE])
    track = [at_distance(d) for d in np.linspace(600, 60, 60)]  # walk in
    track += [at_distance(RADIUS, 90.0)] * 1200  # sit exactly on the boundary
    track += [at_distance(d, 90.0) for d in np.linspace(RADIUS, 600, 60)]  # out
    state, members, kinds = None, {}, []
    for t, p in enumerate(track):
        noisy = LatLng(
            p.lat + rng.normal(0, 7) / 111_040,
            p.lng + rng.normal(0, 7) / (111_320 * math.cos(math.radians(p.lat))),
        )
        r = fuse(state, PositionFix("dev", float(t), noisy, accuracy_m=10.0))
        state = r.state
        e = r.estimate
        near = {fid: FENCE for fid, _ in index.nearby(e.latlng, 5 * e.accuracy_m + 50)}
        members, events = evaluate_fences("dev", e, near | {1: FENCE}, members)
        kinds += [(t, ev.kind) for ev in events]
    assert [k for _, k in kinds] == [EventKind.ENTER, EventKind.DWELL, EventKind.EXIT]
    enter_t, dwell_t, exit_t = (t for t, _ in kinds)
    assert enter_t < 60 < dwell_t < 60 + 1200 < exit_t


class TestMembershipCodec:
    def test_round_trip_keeps_inside_only(self) -> None:
        m = {3: Membership(True, 12.5, True), 9: Membership(True, 1.0), 4: Membership()}
        data = encode_memberships(m)
        assert len(data) == 34
        assert decode_memberships(data) == {3: m[3], 9: m[9]}

    def test_bad_length(self) -> None:
        with pytest.raises(ValueError, match="memberships"):
            decode_memberships(b"\x00" * 5)


class TestBatch:
    def test_batch_equals_per_device_on_a_random_walk(self) -> None:
        from geoengine.events_batch import evaluate_batch
        from geoengine.proximity import FenceProximity

        rng = np.random.default_rng(7)
        fences = {}
        for k in range(30):
            c = LatLng(
                CENTRE.lat + rng.normal(0, 0.01), CENTRE.lng + rng.normal(0, 0.01)
            )
            fences[k + 1] = Geofence(
                k + 1,
                circle_to_polygon(c, rng.uniform(60, 300)),
                dwell_s=float(rng.choice([0, 30, 120])),
            )
        prox = FenceProximity()
        prox.add_many(fences.values())
        dwell = {f.id: f.dwell_s for f in fences.values()}
        n_dev = 40
        pos = np.column_stack(
            [
                CENTRE.lat + rng.normal(0, 0.01, n_dev),
                CENTRE.lng + rng.normal(0, 0.01, n_dev),
            ]
        )
        one = [{} for _ in range(n_dev)]
        many = [{} for _ in range(n_dev)]
        ids = [f"d{i}" for i in range(n_dev)]
        n_events = 0
        for t in range(150):
            pos += rng.normal(0, 0.0003, pos.shape)
            acc = rng.uniform(5, 60, n_dev)
            ests = [
                PositionEstimate(LatLng(*pos[i]), float(acc[i]), float(t * 10))
                for i in range(n_dev)
            ]
            expected = []
            for i in range(n_dev):
                one[i], ev = evaluate_fences(ids[i], ests[i], fences, one[i])
                expected.append(ev)
            many, got = evaluate_batch(ids, ests, many, prox, dwell)
            assert [[(e.fence_id, e.kind) for e in ev] for ev in got] == [
                [(e.fence_id, e.kind) for e in ev] for ev in expected
            ]
            assert many == one
            n_events += sum(map(len, got))
        assert n_events > 50

    def test_batch_rejects_duplicate_devices(self) -> None:
        from geoengine.events_batch import evaluate_batch
        from geoengine.proximity import FenceProximity

        e = PositionEstimate(CENTRE, 10.0, 0.0)
        with pytest.raises(ValueError, match="unique"):
            evaluate_batch(["a", "a"], [e, e], [{}, {}], FenceProximity())

    def test_exit_from_a_far_fence_and_unknown_fences(self) -> None:
        from geoengine.events_batch import evaluate_batch
        from geoengine.proximity import FenceProximity

        prox = FenceProximity()
        prox.add(FENCE)
        far = PositionEstimate(at_distance(50_000), 10.0, 5.0)
        inside = {1: Membership(True, 0.0), 99: Membership(True, 0.0)}
        out, ev = evaluate_batch(["d"], [far], [inside], prox)
        assert [(e.fence_id, e.kind) for e in ev[0]] == [(1, EventKind.EXIT)]
        assert out[0] == {99: inside[99]}  # unknown fence: left alone

    def test_arrays_form_with_rows_without_position(self) -> None:
        from geoengine.events_batch import evaluate_batch_arrays
        from geoengine.proximity import FenceProximity

        prox = FenceProximity()
        prox.add(FENCE)
        p = at_distance(10)
        out, ev = evaluate_batch_arrays(
            ["a", "b"],
            [5.0, 5.0],
            [p.lat, float("nan")],
            [p.lng, float("nan")],
            [10.0, float("nan")],
            [{}, {1: Membership(True, 0.0)}],
            prox,
            {1: 0.0},
        )
        assert [(e.kind, e.ts_s) for e in ev[0]] == [
            (EventKind.ENTER, 5.0),
            (EventKind.DWELL, 5.0),
        ]
        assert ev[0][0].latlng == p
        assert ev[1] == []
        assert out[1] == {1: Membership(True, 0.0)}
        with pytest.raises(ValueError, match="one per device id"):
            evaluate_batch_arrays(["a"], [], [], [], [], [{}], prox)
