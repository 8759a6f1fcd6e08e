"""Batch signed distances to nearby fences."""

from __future__ import annotations

import numpy as np
import pytest
from geoengine_helpers import mixed_fences

from geoengine.errors import FenceNotFoundError, InvalidPositionError
from geoengine.events import signed_distance_m
from geoengine.proximity import FenceProximity
from geoengine.types import Geofence, LatLng, PositionEstimate

LAT0, LNG0 = 40.75, -73.98


@pytest.fixture(scope="module")
def fences() -> list[Geofence]:
    return mixed_fences(60, seed=3, spread_m=1_500.0)


@pytest.fixture(scope="module")
def prox(fences) -> FenceProximity:
    p = FenceProximity()
    p.add_many(fences)
    return p


def test_pairs_match_exact_local_distances(fences, prox) -> None:
    rng = np.random.default_rng(0)
    y = LAT0 + rng.normal(0, 0.015, 300)
    x = LNG0 + rng.normal(0, 0.02, 300)
    radius = rng.uniform(10, 800, 300)
    got = prox.pairs_within(x, y, radius)
    by_id = {f.id: f for f in fences}
    found = set()
    for i in range(300):
        est = PositionEstimate(LatLng(y[i], x[i]), 10.0, 0.0)
        exact, _ = signed_distance_m([f.geometry for f in fences], est)
        want = {
            f.id for f, d in zip(fences, exact, strict=True) if d >= -radius[i] * 0.98
        }
        mine = set(got.fence_ids[got.point_idx == i].tolist())
        assert want <= mine
        for fid, s in zip(
            got.fence_ids[got.point_idx == i].tolist(),
            got.signed_m[got.point_idx == i].tolist(),
            strict=True,
        ):
            e = signed_distance_m([by_id[fid].geometry], est)[0][0]
            assert (s >= 0) == (e >= 0)
            assert s == pytest.approx(e, rel=0.01, abs=0.5)
            found.add(fid)
    assert len(found) > 20


def test_patching_and_unknown_ids(fences) -> None:
    p = FenceProximity()
    p.add_many(fences[:5])
    c = fences[0].geometry.representative_point()
    assert 1 in p.pairs_within([c.x], [c.y], [1.0]).fence_ids.tolist()
    p.remove(fences[0].id)
    assert fences[0].id not in p.pairs_within([c.x], [c.y], [1.0]).fence_ids.tolist()
    s, a = p.signed_distances([c.x, c.x], [c.y, c.y], [fences[0].id, fences[1].id])
    assert np.isnan(s[0])
    assert np.isfinite(s[1])
    assert a[1] > 0
    with pytest.raises(FenceNotFoundError):
        p.remove(fences[0].id)
    p.add(Geofence(fences[1].id, fences[1].geometry, active=False))
    assert fences[1].id not in p
    assert len(p) == 3


def test_bad_input(prox) -> None:
    with pytest.raises(InvalidPositionError):
        prox.pairs_within([float("nan")], [0.0], [1.0])
    empty = FenceProximity().pairs_within([0.0], [0.0], [1.0])
    assert empty.point_idx.size == 0
