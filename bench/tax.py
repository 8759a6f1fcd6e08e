"""Benchmark: tax jurisdiction resolution in process vs shapely STRtree (vs PostGIS).

Run from the repository root::

    python -m bench.tax --points 1000000
    python -m bench.tax --points 1000000 --database-url postgresql://...

Points are uniform over the contiguous-US bounding box (about a third fall
outside the US: sea, Canada, Mexico; every method answers the same points).
All methods return the same (point, county) pairs; the run checks that.

* throughput: whole batches (chunks of ``--chunk`` points), points/second;
* per-point latency: single-point calls on ``--single`` points, p50/p99;
* ``resolve_many``: the full answer (border distance in metres, uncertainty
  disc, candidates) on ``--full`` points with a 100 m radius;
* PostGIS (only with ``--database-url``): counties in a temp table with a GiST
  index, ``ST_Intersects`` join on ``--pg-points`` points, and single-point
  queries. The ratio to the in-process index is printed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import shapely

from tax_zones.index import IndexParams, _intersects_grouped
from tax_zones.jurisdictions import JurisdictionResolver, ResolverParams, Status
from tax_zones.loaders import load_census_500k
from tax_zones.quotes import QuoteLine, QuoteRequest, Registration, compute_quote
from tax_zones.rates import RateTable, TaxCategory, TaxRules
from tax_zones.types import LatLng

Pairs = tuple[np.ndarray, np.ndarray]
STATE_FIPS = [f"{i:02d}" for i in range(1, 57)]


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(24.5, 49.5, n), rng.uniform(-124.8, -66.9, n)


def _throughput(
    fns: dict[str, Callable[[np.ndarray, np.ndarray], Pairs]],
    lat: np.ndarray,
    lng: np.ndarray,
    chunk: int,
) -> dict[str, tuple[float, Pairs]]:
    """Points/s of each method; methods take turns chunk by chunk, so a noisy
    neighbour on the machine slows all of them alike."""
    spent = dict.fromkeys(fns, 0.0)
    parts: dict[str, list[Pairs]] = {k: [] for k in fns}
    for s in range(0, len(lat), chunk):
        a, b = lat[s : s + chunk], lng[s : s + chunk]
        for name, fn in fns.items():
            t0 = time.perf_counter()
            p, g = fn(a, b)
            spent[name] += time.perf_counter() - t0
            parts[name].append((p + s, g))
    out = {}
    for name in fns:
        p = np.concatenate([x[0] for x in parts[name]])
        g = np.concatenate([x[1] for x in parts[name]])
        order = np.lexsort((g, p))
        out[name] = (len(lat) / spent[name], (p[order], g[order]))
    return out


def _latency(
    fn: Callable[[np.ndarray, np.ndarray], object], lat: np.ndarray, lng: np.ndarray
) -> tuple[float, float]:
    times = np.empty(len(lat))
    for i in range(len(lat)):
        a, b = lat[i : i + 1], lng[i : i + 1]
        t0 = time.perf_counter()
        fn(a, b)
        times[i] = time.perf_counter() - t0
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def _postgis(
    url: str,
    geoms: np.ndarray,
    codes: list[str],
    lat: np.ndarray,
    lng: np.ndarray,
    single: int,
) -> tuple[float, float, float, Pairs]:
    """Hook for the lead: counties in a GiST-indexed temp table, ST_Intersects."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(
            "CREATE TEMP TABLE bench_counties (gi int, geoid text, "
            "geom geometry(MultiPolygon, 4326))"
        )
        with conn.cursor().copy(
            "COPY bench_counties (gi, geoid, geom) FROM STDIN"
        ) as cp:
            for i, (code, wkb) in enumerate(
                zip(codes, shapely.to_wkb(geoms, hex=True), strict=True)
            ):
                cp.write_row((i, code, f"SRID=4326;{wkb}"))
        conn.execute("CREATE INDEX ON bench_counties USING gist (geom)")
        conn.execute("CREATE TEMP TABLE bench_pts (pi int, geom geometry(Point, 4326))")
        with conn.cursor().copy("COPY bench_pts (pi, geom) FROM STDIN") as cp:
            for i, (a, b) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True)):
                cp.write_row((i, f"SRID=4326;POINT({b!r} {a!r})"))
        conn.execute("ANALYZE bench_counties")
        conn.execute("ANALYZE bench_pts")
        t0 = time.perf_counter()
        rows = conn.execute(
            "SELECT p.pi, c.gi FROM bench_pts p JOIN bench_counties c "
            "ON ST_Intersects(c.geom, p.geom)"
        ).fetchall()
        rate = len(lat) / (time.perf_counter() - t0)
        q = (
            "SELECT gi FROM bench_counties WHERE ST_Intersects(geom, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
        )
        times = []
        for i in range(min(single, len(lat))):
            t1 = time.perf_counter()
            conn.execute(q, (float(lng[i]), float(lat[i])), prepare=True).fetchall()
            times.append(time.perf_counter() - t1)
    arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((arr[:, 1], arr[:, 0]))
    p50, p99 = np.percentile(np.array(times) * 1e6, [50, 99])
    return rate, float(p50), float(p99), (arr[order, 0], arr[order, 1])


def _quote_latency(
    resolver: JurisdictionResolver, lat: np.ndarray, lng: np.ndarray
) -> None:
    """In-process resolve + compute_quote per request (the API adds HTTP)."""
    rates, rules = RateTable.from_csv(), TaxRules.from_csv()
    regs = tuple(Registration(s, f"r{s}") for s in STATE_FIPS)
    lines = (
        QuoteLine("a", 1999, 3),
        QuoteLine("b", 4500, 1, TaxCategory.CLOTHING),
        QuoteLine("c", 799, 2, TaxCategory.FOOD),
    )
    times: list[float] = []
    day = date(2025, 6, 1)
    for a, b in zip(lat.tolist(), lng.tolist(), strict=True):
        if len(times) == 2000:
            break
        t0 = time.perf_counter()
        res = resolver.resolve(LatLng(a, b), 30.0)
        if res.status is not Status.RESOLVED:
            continue
        compute_quote(
            QuoteRequest(
                "USD", lines, res, day, shipping_minor=599, registrations=regs
            ),
            rates,
            rules,
            quote_id="bench",
            expires_at=datetime(2025, 6, 1, 1),
        )
        times.append(time.perf_counter() - t0)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    print(
        f"{'resolve + compute_quote (1 request)':34s} {len(times):>12,d} requests "
        f"p50 {p50:.2f} ms  p99 {p99:.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=20_000)
    ap.add_argument("--full", type=int, default=20_000)
    ap.add_argument("--pg-points", type=int, default=50_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--res", type=int, default=IndexParams().res)
    args = ap.parse_args()

    t0 = time.perf_counter()
    records, _ = load_census_500k()
    t1 = time.perf_counter()
    resolver = JurisdictionResolver(
        records, ResolverParams(index=IndexParams(res=args.res))
    )
    t2 = time.perf_counter()
    layer = resolver.layers[0]
    geoms = layer.geoms
    print(
        f"load 500k: {t1 - t0:.2f} s; resolver build (H3 index + border trees): "
        f"{t2 - t1:.2f} s; index cells: {layer.index.stats()}"
    )

    lat, lng = _points(args.points, args.seed)
    tree = shapely.STRtree(geoms)

    def strtree(a: np.ndarray, b: np.ndarray) -> Pairs:
        return tree.query(shapely.points(b, a), predicate="intersects")

    def strtree_prepared(a: np.ndarray, b: np.ndarray) -> Pairs:
        p, g = tree.query(shapely.points(b, a))
        keep = _intersects_grouped(geoms, g, b[p], a[p])
        return p[keep], g[keep]

    runs = _throughput(
        {"h3": layer.index.query, "st": strtree, "sp": strtree_prepared},
        lat,
        lng,
        args.chunk,
    )
    (rate_h3, pairs_h3), (rate_st, pairs_st), (rate_sp, pairs_sp) = (
        runs["h3"],
        runs["st"],
        runs["sp"],
    )
    same = all(np.array_equal(x, y) for x, y in zip(pairs_h3, pairs_st, strict=True))
    same &= all(np.array_equal(x, y) for x, y in zip(pairs_h3, pairs_sp, strict=True))
    hit = len(np.unique(pairs_h3[0])) / args.points
    print(
        f"{args.points:,} points ({hit:.1%} inside a county); identical answers: {same}"
    )
    print(
        f"{'method':34s} {'points/s':>12s} {'ratio':>7s} {'p50 us':>8s} {'p99 us':>8s}"
    )
    s = slice(0, args.single)
    lat_s, lng_s = lat[s], lng[s]
    rows = [
        (
            "H3 index (tax_zones.index)",
            rate_h3,
            _latency(layer.index.query, lat_s, lng_s),
        ),
        ("STRtree query(intersects)", rate_st, _latency(strtree, lat_s, lng_s)),
        (
            "STRtree bbox + prepared geoms",
            rate_sp,
            _latency(strtree_prepared, lat_s, lng_s),
        ),
    ]
    for name, rate, (p50, p99) in rows:
        print(f"{name:34s} {rate:12,.0f} {rate_h3 / rate:6.2f}x {p50:8.1f} {p99:8.1f}")

    f = slice(0, args.full)
    acc = np.full(len(lat[f]), 100.0)
    t3 = time.perf_counter()
    out = resolver.resolve_many(lat[f], lng[f], acc)
    rate_full = len(out) / (time.perf_counter() - t3)
    amb = sum(r.ambiguous for r in out)
    p50, p99 = _latency(
        lambda a, b: resolver.resolve_many(a, b, np.array([100.0])),
        lat[:2000],
        lng[:2000],
    )
    print(
        f"{'resolve_many, 100 m (full answer)':34s} {rate_full:12,.0f} {'':7s} "
        f"{p50:8.1f} {p99:8.1f}   ambiguous {amb}/{len(out)}"
    )

    _quote_latency(resolver, lat, lng)

    if args.database_url:
        n = min(args.pg_points, args.points)
        rate_pg, p50, p99, pairs_pg = _postgis(
            args.database_url,
            geoms,
            [j.code for j in layer.leaves],
            lat[:n],
            lng[:n],
            2000,
        )
        sub = pairs_h3[0] < n
        same_pg = np.array_equal(pairs_pg[0], pairs_h3[0][sub]) and np.array_equal(
            pairs_pg[1], pairs_h3[1][sub]
        )
        print(
            f"{'PostGIS GiST ST_Intersects join':34s} {rate_pg:12,.0f} "
            f"{rate_h3 / rate_pg:6.2f}x {p50:8.1f} {p99:8.1f}   "
            f"({n:,} points; identical answers: {same_pg})"
        )
    else:
        print("PostGIS: skipped (pass --database-url to compare)")


if __name__ == "__main__":
    main()
