"""Warehouse pre-positioning benchmark: forecast-driven plan vs baseline vs oracle.

Usage (from the repository root)::

    .venv/bin/python bench/prepositioning.py
    .venv/bin/python bench/prepositioning.py --weeks 52 --cells 5000 --skus 100 \
        --warehouses 20 --seed 7 --rolling 4

A seeded synthetic history (``--weeks`` whole weeks, population weighted around
the 200 largest US cities from GeoNames, Pareto SKU popularity, day-of-week and
yearly seasons, city trends) plus one more week that nobody sees in advance.
Warehouses sit in the ``--warehouses`` largest metros (at least 80 km apart),
each promising delivery within ``--radius-km``. Stock on hand per SKU is 1.1 x
its mean weekly demand over the 4 weeks before the planned week, spread the way
a quarter-old allocation would have it (share of the first 13 weeks);
capacity is 1.3 x the total stock, split by metro size.

Three placements start from the same stock and replay the unseen week with
nearest-in-stock fulfilment: the plan (forecast + LP), the proportional
baseline (stock split by each warehouse's historic share of the SKU), and the
oracle (the same LP fed the actual week). Prints coverage within the promise,
mean delivery distance, split orders, transfer cost, the share of the
baseline-to-oracle coverage gap the plan closes, and the solve times.
``--rolling N`` repeats the whole exercise for each of the last N weeks (plan
on the weeks before it, replay it) and prints the gap closed per week.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.loaders.cities import largest_us_cities
from routing.demand import (
    City,
    HistoryParams,
    OrderHistory,
    generate_history,
    haversine_m,
)
from routing.prepositioning import place_stock
from routing.prepositioning_run import (
    PrepositioningParams,
    evaluate_week,
    forecast_with,
)
from routing.replay import Evaluation
from routing.stock import PlacementProblem, Warehouse, historic_share
from routing.types import LatLng


def make_warehouses(
    n: int, radius_km: float, spacing_km: float = 80.0
) -> list[tuple[Warehouse, int]]:
    """Warehouses in the largest metros, with the metro population (for capacity)."""
    chosen: list[tuple[float, float, int]] = []
    for c in largest_us_cities(400):
        if all(
            haversine_m(c.lat, c.lng, lat, lng) > spacing_km * 1000
            for lat, lng, _ in chosen
        ):
            chosen.append((c.lat, c.lng, c.population))
        if len(chosen) == n:
            break
    return [
        (
            Warehouse(
                f"wh-{i:02d}",
                LatLng(lat, lng),
                capacity_units=0,
                promise_radius_m=radius_km * 1000,
                outbound_cost_per_km_minor=Decimal("1.5"),
            ),
            pop,
        )
        for i, (lat, lng, pop) in enumerate(chosen)
    ]


def stock_and_capacity(
    train: OrderHistory, sites: list[tuple[Warehouse, int]]
) -> tuple[list[Warehouse], np.ndarray]:
    """Stock on hand and capacities from the training weeks only (no peeking)."""
    days = train.n_days
    n_k = len(train.sku_ids)
    recent = np.zeros(n_k)
    last4 = train.days(days - 28, days)
    np.add.at(recent, last4.line_sku, last4.line_qty)
    supply = np.ceil(1.1 * recent / 4).astype(np.int64)
    wh = [w for w, _ in sites]
    old_share = historic_share(train.days(0, 13 * 7), wh)
    on_hand = np.floor(old_share * supply[None, :]).astype(np.int64)
    on_hand[0] += supply - on_hand.sum(axis=0)  # remainders to the largest metro
    pops = np.array([p for _, p in sites], dtype=np.float64)
    cap = np.floor(1.3 * on_hand.sum() * pops / pops.sum()).astype(np.int64)
    cap = np.maximum(cap, on_hand.sum(axis=1))  # today's stock fits where it is
    return [
        Warehouse(
            w.id, w.location, int(c), w.promise_radius_m, w.outbound_cost_per_km_minor
        )
        for w, c in zip(wh, cap, strict=True)
    ], on_hand


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--cells", type=int, default=5000)
    ap.add_argument("--skus", type=int, default=100)
    ap.add_argument("--warehouses", type=int, default=20)
    ap.add_argument("--orders-per-week", type=int, default=20000)
    ap.add_argument("--radius-km", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--rolling", type=int, default=0, help="also evaluate the last N weeks"
    )
    return ap.parse_args(argv)


def print_table(ev: Evaluation) -> None:
    print(
        f"{'placement':<10} {'coverage':>9} {'mean km':>8} {'split':>7} "
        f"{'unfilled':>8} {'moved':>8} {'transfer $':>11} {'delivery $':>11}"
    )
    for name, m in (
        ("plan", ev.plan),
        ("baseline", ev.baseline),
        ("oracle", ev.oracle),
    ):
        print(
            f"{name:<10} {m.coverage:>9.4f} {m.mean_distance_km:>8.1f} "
            f"{m.split_orders:>7,} {m.unfilled_units:>8,} {m.transferred_units:>8,} "
            f"{m.transfer_cost_minor / 100:>11,.2f} {m.delivery_cost_minor / 100:>11,.2f}"
        )


def main() -> None:
    args = parse_args()
    cities = [
        City(f"{c.name}, {c.state}", LatLng(c.lat, c.lng), c.population)
        for c in largest_us_cities(200)
    ]
    t0 = time.perf_counter()
    full, world = generate_history(
        cities,
        HistoryParams(
            weeks=args.weeks + 1,
            n_cells=args.cells,
            n_skus=args.skus,
            orders_per_week=args.orders_per_week,
            seed=args.seed,
        ),
    )
    days = args.weeks * 7
    train, week = full.days(0, days), full.days(days, days + 7)
    print(
        f"history: {args.weeks} weeks, {train.n_orders:,} orders, "
        f"{train.line_order.size:,} lines, {world.cells.size:,} generator cells, "
        f"{args.skus} SKUs; unseen week: {week.n_orders:,} orders "
        f"({time.perf_counter() - t0:.1f} s to generate)"
    )
    sites = make_warehouses(args.warehouses, args.radius_km)
    wh, on_hand = stock_and_capacity(train, sites)
    print(
        f"warehouses: {len(wh)}, promise {args.radius_km:g} km, "
        f"stock {int(on_hand.sum()):,} units, "
        f"capacity {sum(w.capacity_units for w in wh):,} units"
    )

    params = PrepositioningParams()
    t0 = time.perf_counter()
    fc = forecast_with(train, params)
    t_fc = time.perf_counter() - t0
    print(
        f"forecast: {fc.weekly.series:,} non-zero (cell, SKU) series of "
        f"{fc.cells.size:,} cells x {args.skus} SKUs = {fc.cells.size * args.skus:,}, "
        f"weekly and daily, in {t_fc:.1f} s"
    )
    for label, rep in (
        ("weekly (res-7 cell, SKU); groups: res-4 region x SKU", fc.weekly),
        ("daily (res-4 cell, SKU); groups: SKU", fc.daily),
    ):
        print(f"  backtest {label}, last {rep.origins} origins:")
        for s in rep.scores:
            agg = f"{s.group_wape:.3f}" if s.group_wape is not None else "n/a"
            print(
                f"    {s.method:<15} MAE {s.mae:.4f}  WAPE {s.wape:.3f}  "
                f"group WAPE {agg}  bias {s.bias:+.3f}  "
                f"chosen for {s.series_chosen:,}"
            )
    plan = place_stock(
        PlacementProblem(
            tuple(wh), train.sku_ids, on_hand, fc.cell_lat, fc.cell_lng, fc.demand
        ),
        params.placement,
    )
    print(
        f"placement: {plan.zones} zones, {plan.lp_columns:,} LP columns, "
        f"solved in {plan.solve_time_s:.2f} s; {len(plan.transfers)} transfers"
    )
    t0 = time.perf_counter()
    ev = evaluate_week(train, week, wh, on_hand, params, plan=plan)
    print(
        f"evaluation (baseline, oracle LP, 3 replays) in {time.perf_counter() - t0:.1f} s"
    )
    print()
    print_table(ev)
    gap = ev.gap_closed
    print()
    print(
        f"gap closed: {gap:.1%} of the baseline-to-oracle coverage gap "
        f"(target >= 30%); placement solve {plan.solve_time_s:.2f} s (target < 30 s)"
        if gap is not None
        else "gap closed: n/a (the oracle does not beat the baseline)"
    )
    if args.rolling:
        print()
        print(
            f"rolling origin: plan on the weeks before, replay each of the last {args.rolling}"
        )
        gaps = []
        for w in range(args.weeks - args.rolling + 1, args.weeks + 1):
            tr, wk = full.days(0, w * 7), full.days(w * 7, w * 7 + 7)
            wh_w, on_hand_w = stock_and_capacity(tr, sites)
            e = evaluate_week(tr, wk, wh_w, on_hand_w, params)
            gaps.append(e.gap_closed or 0.0)
            print(
                f"  week {w + 1:>3}: coverage plan {e.plan.coverage:.4f} baseline "
                f"{e.baseline.coverage:.4f} oracle {e.oracle.coverage:.4f}; "
                f"km {e.plan.mean_distance_km:.1f}/{e.baseline.mean_distance_km:.1f}/"
                f"{e.oracle.mean_distance_km:.1f}; gap closed {gaps[-1]:.1%}"
            )
        print(f"  mean gap closed: {np.mean(gaps):.1%}")


if __name__ == "__main__":
    main()
