"""Geofence index benchmark: H3 engine vs the strongest shapely STRtree baseline.

10,000 fences (half geodesic circles, half concave star polygons, 150-400 m in
radius) around 20 US metros and 1,000,000 points (80 % around the metros, 20 %
uniform over the contiguous US), seeded. Reports points/second of
``FenceIndex.contains`` and of two STRtree baselines (bulk
``query(points, predicate="intersects")``, the same with the point objects
built outside the clock, and a bounding-box ``query`` then a vectorised
``intersects_xy``), the ratio against the fastest baseline, index
build time and memory, and checks that every answer is identical.

Run: ``python bench/geofence.py [--fences 10000] [--points 1000000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geoengine import cells
from geoengine.events_batch import evaluate_batch_arrays
from geoengine.fusion import DeviceState
from geoengine.fusion_batch import fuse_batch
from geoengine.geometry import circle_to_polygon
from geoengine.index import FenceIndex
from geoengine.proximity import FenceProximity
from geoengine.types import Geofence, LatLng, PositionFix

METROS = [  # (lat, lng) of 20 US city centres
    (40.7128, -74.0060),
    (34.0522, -118.2437),
    (41.8781, -87.6298),
    (29.7604, -95.3698),
    (33.4484, -112.0740),
    (39.9526, -75.1652),
    (29.4241, -98.4936),
    (32.7157, -117.1611),
    (32.7767, -96.7970),
    (37.3382, -121.8863),
    (30.2672, -97.7431),
    (30.3322, -81.6557),
    (37.7749, -122.4194),
    (39.9612, -82.9988),
    (35.2271, -80.8431),
    (39.7684, -86.1581),
    (47.6062, -122.3321),
    (39.7392, -104.9903),
    (38.9072, -77.0369),
    (42.3601, -71.0589),
]
M_PER_DEG = 111_320.0


def make_fences(n: int, rng: np.random.Generator) -> list[Geofence]:
    fences = []
    for i in range(n):
        lat0, lng0 = METROS[i % len(METROS)]
        lat = lat0 + rng.normal(0, 6_000) / M_PER_DEG
        lng = lng0 + rng.normal(0, 6_000) / (M_PER_DEG * np.cos(np.radians(lat0)))
        radius = rng.uniform(150.0, 400.0)
        if i % 2 == 0:
            geom = circle_to_polygon(LatLng(lat, lng), radius, 64)
        else:  # concave star: 8-14 spikes, inner radius 40-70 % of the outer
            k = int(rng.integers(8, 15))
            ang = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(
                0, np.pi
            )
            r = np.where(
                np.arange(2 * k) % 2 == 0, radius, radius * rng.uniform(0.4, 0.7)
            )
            xs = lng + r * np.cos(ang) / (M_PER_DEG * np.cos(np.radians(lat)))
            ys = lat + r * np.sin(ang) / M_PER_DEG
            geom = shapely.Polygon(np.column_stack([xs, ys]))
        fences.append(Geofence(i + 1, geom))
    return fences


def make_points(
    n: int, rng: np.random.Generator, metro_share: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    n_metro = int(n * metro_share)
    which = rng.integers(0, len(METROS), n_metro)
    centre = np.array(METROS)[which]
    lat = centre[:, 0] + rng.normal(0, 8_000, n_metro) / M_PER_DEG
    lng = centre[:, 1] + rng.normal(0, 8_000, n_metro) / (
        M_PER_DEG * np.cos(np.radians(centre[:, 0]))
    )
    lat = np.concatenate([lat, rng.uniform(25.0, 49.0, n - n_metro)])
    lng = np.concatenate([lng, rng.uniform(-124.0, -67.0, n - n_metro)])
    perm = rng.permutation(n)
    return lng[perm], lat[perm]


def pairs_key(pt: np.ndarray, fid: np.ndarray) -> np.ndarray:
    return np.sort(pt.astype(np.int64) * 1_000_000 + fid.astype(np.int64))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fences", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--pings",
        type=int,
        default=10_000,
        help="devices per round in the pings pipeline run (0: skip)",
    )
    ap.add_argument(
        "--metro-share",
        type=float,
        default=0.8,
        help="share of points around the metros (the rest: anywhere in the US)",
    )
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    fences = make_fences(args.fences, rng)
    x, y = make_points(args.points, rng, args.metro_share)
    geoms = np.array([f.geometry for f in fences], dtype=object)
    ids = np.array([f.id for f in fences], dtype=np.int64)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    index = FenceIndex.build(fences)
    build_s = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t = time.perf_counter()
    tree = shapely.STRtree(geoms)
    tree_build_s = time.perf_counter() - t
    shapely.prepare(geoms)

    def h3_engine() -> np.ndarray:
        res = index.contains(x, y)
        pt, fid = res.pairs()
        return pairs_key(pt, fid)

    def strtree_bulk() -> np.ndarray:
        pts = shapely.points(x, y)
        pi, gi = tree.query(pts, predicate="intersects")
        return pairs_key(pi, ids[gi])

    def strtree_bbox_xy() -> np.ndarray:
        pts = shapely.points(x, y)
        pi, gi = tree.query(pts)
        ok = shapely.intersects_xy(geoms[gi], x[pi], y[pi])
        return pairs_key(pi[ok], ids[gi[ok]])

    pts_prebuilt = shapely.points(x, y)

    def strtree_bulk_prebuilt() -> np.ndarray:  # point objects made outside the clock
        pi, gi = tree.query(pts_prebuilt, predicate="intersects")
        return pairs_key(pi, ids[gi])

    runs = {
        "h3_engine": h3_engine,
        "strtree_bulk_intersects": strtree_bulk,
        "strtree_bbox_then_intersects_xy": strtree_bbox_xy,
        "strtree_bulk_points_prebuilt": strtree_bulk_prebuilt,
    }
    best = {k: float("inf") for k in runs}
    answers: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):  # interleaved, best of N for each
        for name, fn in runs.items():
            t = time.perf_counter()
            answers[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    ref = answers["strtree_bulk_intersects"]
    for name, ans in answers.items():
        if not np.array_equal(ans, ref):
            raise SystemExit(f"MISMATCH: {name} differs from the STRtree answer")
    near = index.count_near(x, y)

    n = args.points
    rate = {k: n / v for k, v in best.items()}
    baseline = max(v for k, v in rate.items() if k != "h3_engine")
    print(
        f"fences={args.fences} points={n} metro_share={args.metro_share} "
        f"hits={ref.size} repeat={args.repeat} "
        f"h3_backend={cells.VECTOR_BACKEND} resolutions={index.resolutions()}"
    )
    for name in runs:
        ms, mps = best[name] * 1000, rate[name] / 1e6
        print(f"  {name:34s} {ms:9.1f} ms  {mps:6.2f} M points/s")
    ratio = rate["h3_engine"] / baseline
    print(f"  ratio h3_engine / strongest STRtree baseline: {ratio:.2f}x")
    share = 100 * near / n
    print(f"  (point, resolution) probes past the pre-filter: {near} ({share:.1f} %)")
    print(f"  build: H3 index {build_s:.2f} s, STRtree {tree_build_s:.3f} s")
    print(
        f"  memory: H3 index arrays {index.nbytes() / 2**20:.1f} MiB, "
        f"max RSS growth during build {(rss1 - rss0) / 1024:.1f} MiB"
    )
    print("  exact: all answers identical (every (point, fence) pair)")
    if args.pings:
        pings_pipeline(fences, args.pings, rng)


def pings_pipeline(fences: list[Geofence], n: int, rng: np.random.Generator) -> None:
    """Pure part of ingest: fuse_batch + evaluate_batch_arrays, rounds of n devices."""
    t = time.perf_counter()
    prox = FenceProximity()
    prox.add_many(fences)
    prox.pairs_within([0.0], [0.0], [1.0])
    prox_s = time.perf_counter() - t
    x, y = make_points(n, rng, 1.0)
    dwell = {f.id: 300.0 for f in fences}
    states: list[DeviceState | None] = [None] * n
    members: list[dict] = [{} for _ in range(n)]
    ids = [f"dev{i}" for i in range(n)]
    fuse_s = events_s = 0.0
    n_events = 0
    rounds = 5
    for r in range(rounds):
        x = x + rng.normal(0, 20.0, n) / M_PER_DEG
        y = y + rng.normal(0, 20.0, n) / M_PER_DEG
        fixes = [
            PositionFix(ids[i], 10.0 * r, LatLng(y[i], x[i]), accuracy_m=12.0)
            for i in range(n)
        ]
        t = time.perf_counter()
        fused = fuse_batch(states, fixes)
        states = [fused.state(i) for i in range(n)]
        fuse_s += time.perf_counter() - t
        t = time.perf_counter()
        members, events = evaluate_batch_arrays(
            ids,
            fused.ts_s,
            fused.lat,
            fused.lng,
            fused.accuracy_m,
            members,
            prox,
            dwell,
        )
        events_s += time.perf_counter() - t
        n_events += sum(map(len, events))
    total = rounds * n
    print(
        f"pings pipeline (pure, {rounds} rounds of {n} devices, {len(fences)} fences): "
        f"fuse_batch {total / fuse_s / 1e3:.0f} k pings/s, "
        f"evaluate_batch_arrays {total / events_s / 1e3:.0f} k pings/s, "
        f"together {total / (fuse_s + events_s) / 1e3:.0f} k pings/s; "
        f"{n_events} events; proximity build {prox_s:.2f} s"
    )


if __name__ == "__main__":
    main()
