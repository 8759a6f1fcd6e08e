"""Routing benchmark: Solomon VRPTW instances and a 1,000-stop city problem.

Usage (from the repository root)::

    python bench/routing.py --time-limit 10 --instances all
    python bench/routing.py --time-limit 10 --instances hard8 --pyvrp --vroom
    python bench/routing.py --large
    python bench/routing.py --instances R101,R109 \
        --variant "gls40:improve.SISR_FIRST_PHASE_SHARE=0.4" \
        --variant "gls10:improve.SISR_FIRST_PHASE_SHARE=0.1"

Per instance it prints vehicles, distance (Euclidean, unrounded), gap to the
best-known distance (``dist_distance`` in ``bks.csv``), the independent
feasibility verdict and wall time; then the means. ``--pyvrp`` and ``--vroom``
solve the same instances with those libraries in the same run (same time
limit) for a side-by-side table. ``--variant NAME:module.ATTR=value;...``
(repeatable) solves every instance once per variant, interleaved, with module
constants of ``routing`` set to the given literals (or ``@module``, another
module of ``routing``) for that solve only (worker
processes are forked, so they inherit them): an A/B comparison in one run under
the same machine load. Reads instances from ``../shared``; the package itself
never does.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import importlib
import math
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routing.feasibility import check_plan, check_routes
from routing.matrix import GreatCircleProvider
from routing.model import point_list
from routing.params import SolverParams
from routing.problem import ProblemBuilder
from routing.read import read_solomon
from routing.solver import solve
from routing.types import LatLng

_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = next(
    (
        p / "shared" / "benchmarks" / "solomon"
        for p in (_ROOT.parent, _ROOT.parent.parent)
        if (p / "shared" / "benchmarks" / "solomon").is_dir()
    ),
    _ROOT.parent / "shared" / "benchmarks" / "solomon",
)
HARD8 = ["R101", "R105", "R110", "R202", "RC101", "RC105", "RC202", "C204"]


def _bks(directory: Path) -> dict[str, float]:
    with open(directory / "bks.csv") as fh:
        return {r["instance"]: float(r["dist_distance"]) for r in csv.DictReader(fh)}


def family(name: str) -> str:
    """Solomon family of an instance name: C1, C2, R1, R2, RC1 or RC2."""
    letters = name.rstrip("0123456789")
    return letters + name[len(letters)]


def _route_distance(d: np.ndarray, routes: list[list[int]]) -> float:
    total = 0.0
    for r in routes:
        seq = [0, *r, 0]
        total += sum(float(d[a, b]) for a, b in pairwise(seq))
    return total


def parse_variant(text: str) -> tuple[str, list[tuple[str, str, object]]]:
    """``NAME:module.ATTR=literal;...`` -> name and (module, attribute, value).

    A value ``@name`` is the module ``routing.name`` (to swap an implementation).
    """
    name, _, body = text.partition(":")
    sets = []
    for item in filter(None, (x.strip() for x in body.split(";"))):
        target, _, value = item.partition("=")
        module, _, attr = target.strip().rpartition(".")
        mod = importlib.import_module(f"routing.{module}")
        if not hasattr(mod, attr):
            raise SystemExit(f"variant {name}: routing.{module} has no {attr}")
        value = value.strip()
        sets.append(
            (
                f"routing.{module}",
                attr,
                importlib.import_module(f"routing.{value[1:]}")
                if value.startswith("@")
                else ast.literal_eval(value),
            )
        )
    return name, sets


@contextlib.contextmanager
def patched(sets: list[tuple[str, str, object]]) -> Iterator[None]:
    """Set module constants for the duration of one solve."""
    saved = []
    for module, attr, value in sets:
        mod = importlib.import_module(module)
        saved.append((mod, attr, getattr(mod, attr)))
        setattr(mod, attr, value)
    try:
        yield
    finally:
        for mod, attr, old in reversed(saved):
            setattr(mod, attr, old)


def run_ours(
    path: Path, tl: float, workers: int, seed: int, improve: bool = True
) -> dict:
    problem = read_solomon(path)
    t = time.time()
    params = SolverParams(
        time_limit_s=tl, num_workers=workers, seed=seed, improve=improve
    )
    plan = solve(problem, params)
    wall = time.time() - t
    rep = check_plan(problem, plan)
    return {
        "vehicles": plan.vehicles_used,
        "distance": rep.distance_m,
        "feasible": rep.ok and not plan.unassigned,
        "wall": wall,
        "iters": plan.stats.get("iterations", 0),
        "winner": plan.stats.get("best_worker"),
    }


def _client(activity: object) -> int:
    """Client number (0-based, in insertion order) of a PyVRP scheduled activity."""
    return int(activity.idx)  # type: ignore[attr-defined]


def run_pyvrp(path: Path, tl: float, seed: int) -> dict:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    problem = read_solomon(path)
    assert problem.matrix is not None
    d = problem.matrix.distance_m
    scale = 1000  # PyVRP works in integers: 1/1000 units, times rounded up
    m = pyvrp.Model()
    v0 = problem.vehicles[0]
    locs = [m.add_location(x=0, y=0) for _ in range(len(problem.jobs) + 1)]
    m.add_depot(
        locs[0], tw_early=v0.shift.start_s * scale, tw_late=v0.shift.end_s * scale
    )
    m.add_vehicle_type(
        len(problem.vehicles),
        capacity=[v0.capacity[0]],
        tw_early=v0.shift.start_s * scale,
        tw_late=v0.shift.end_s * scale,
    )
    for j in problem.jobs:
        w = j.time_windows[0]
        m.add_client(
            locs[int(j.location)],
            delivery=[j.demand[0]],
            service_duration=j.service_s * scale,
            tw_early=w.start_s * scale,
            tw_late=w.end_s * scale,
        )
    for a, fr in enumerate(locs):
        for b, to in enumerate(locs):
            if a != b:
                m.add_edge(
                    fr,
                    to,
                    distance=round(d[a, b] * scale),
                    duration=math.ceil(d[a, b] * scale - 1e-6),
                )
    t = time.time()
    res = m.solve(stop=MaxRuntime(tl), seed=seed, display=False)
    wall = time.time() - t
    routes = {
        f"v{k + 1}": [problem.jobs[_client(c)].id for c in r if c.is_client()]
        for k, r in enumerate(res.best.routes())
    }
    rep = check_routes(problem, routes)
    return {
        "vehicles": len(routes),
        "distance": rep.distance_m,
        "feasible": rep.ok and res.best.is_feasible(),
        "wall": wall,
        "iters": 0,
    }


def run_vroom(path: Path, tl: float) -> dict:
    import vroom

    problem = read_solomon(path)
    assert problem.matrix is not None
    d = problem.matrix.distance_m
    scaled = np.ceil(d * 100).astype(np.int64)  # 1/100 units, rounded up (safe TWs)
    inp = vroom.Input()
    inp.set_durations_matrix("car", scaled)
    v0 = problem.vehicles[0]
    for k, v in enumerate(problem.vehicles):
        inp.add_vehicle(
            vroom.Vehicle(
                k + 1,
                start=0,
                end=0,
                capacity=[v.capacity[0]],
                time_window=vroom.TimeWindow(
                    v0.shift.start_s * 100, v0.shift.end_s * 100
                ),
            )
        )
    for j in problem.jobs:
        w = j.time_windows[0]
        inp.add_job(
            vroom.Job(
                int(j.id),
                location=int(j.location),
                default_service=j.service_s * 100,
                delivery=vroom.Amount([j.demand[0]]),
                time_windows=[vroom.TimeWindow(w.start_s * 100, w.end_s * 100)],
            )
        )
    t = time.time()
    sol = inp.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=tl))
    wall = time.time() - t
    routes: dict[str, list[str]] = {}
    for row in sol.routes.itertuples():
        if row.type == "job":
            routes.setdefault(f"v{row.vehicle_id}", []).append(str(row.id))
    rep = check_routes(problem, routes)
    return {
        "vehicles": len(routes),
        "distance": rep.distance_m,
        "feasible": rep.ok,
        "wall": wall,
        "iters": 0,
    }


def solomon(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    bks = _bks(directory)
    names = (
        sorted(bks)
        if args.instances == "all"
        else HARD8
        if args.instances == "hard8"
        else args.instances.split(",")
    )
    variants = dict(parse_variant(v) for v in args.variant)
    solvers = (
        (list(variants) or ["ortools"])
        + (["plain"] if args.plain else [])
        + (["pyvrp"] if args.pyvrp else [])
        + (["vroom"] if args.vroom else [])
    )
    rows: dict[str, list[dict]] = {s: [] for s in solvers}
    print(
        f"time limit {args.time_limit}s, workers {args.workers}, seed {args.seed}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for v, sets in variants.items():
        print(f"variant {v}: " + ", ".join(f"{m}.{a}={x!r}" for m, a, x in sets))
    print(
        f"{'instance':8} {'solver':7} {'veh':>4} {'distance':>10} {'bks':>9} "
        f"{'gap%':>6} {'feas':>5} {'wall_s':>6}  iterations/winner (ours)"
    )
    for name in names:
        path = directory / f"{name}.txt"
        for s in solvers:
            if s in variants:
                with patched(variants[s]):
                    r = run_ours(path, args.time_limit, args.workers, args.seed)
            elif s == "ortools":
                r = run_ours(path, args.time_limit, args.workers, args.seed)
            elif s == "plain":
                r = run_ours(path, args.time_limit, 1, args.seed, improve=False)
            elif s == "pyvrp":
                r = run_pyvrp(path, args.time_limit, args.seed)
            else:
                r = run_vroom(path, args.time_limit)
            r["gap"] = 100.0 * (r["distance"] / bks[name] - 1.0)
            rows[s].append(r)
            print(
                f"{name:8} {s:7} {r['vehicles']:4d} {r['distance']:10.2f} "
                f"{bks[name]:9.2f} {r['gap']:6.2f} {r['feasible']!s:>5} "
                f"{r['wall']:6.2f}"
                + (
                    f"  {r['iters']}/w{r['winner']}"
                    if s == "ortools" or s in variants
                    else ""
                ),
                flush=True,
            )
    print(
        f"\nmeans over {len(names)} instances, "
        f"load average {os.getloadavg()[0]:.2f} (1 min)"
    )
    for s in solvers:
        rs = rows[s]
        print(
            f"{s:7} vehicles {np.mean([r['vehicles'] for r in rs]):6.2f}  "
            f"gap {np.mean([r['gap'] for r in rs]):6.3f}%  "
            f"max gap {max(r['gap'] for r in rs):6.2f}%  "
            f"feasible {sum(r['feasible'] for r in rs)}/{len(rs)}  "
            f"wall {np.mean([r['wall'] for r in rs]):5.2f}s"
        )
    print("\nmean gap per family (max gap, instance)")
    fams = sorted({family(n) for n in names}, key=lambda f: (len(f), f))
    print(f"{'family':7} {'n':>3} " + " ".join(f"{s:>24}" for s in solvers))
    for f in [*fams, "all"]:
        idx = [i for i, n in enumerate(names) if f in ("all", family(n))]
        cells = []
        for s in solvers:
            gaps = [rows[s][i]["gap"] for i in idx]
            worst = max(idx, key=lambda i, s=s: rows[s][i]["gap"])
            cells.append(f"{np.mean(gaps):6.2f}% ({max(gaps):5.2f} {names[worst]:>6})")
        print(f"{f:7} {len(idx):3d} " + " ".join(f"{c:>24}" for c in cells))


def large(args: argparse.Namespace) -> None:
    """1,000 stops with 2-hour windows around a city, 50 vehicles."""
    rng = random.Random(args.seed)
    depot = LatLng(48.8566, 2.3522)
    b = ProblemBuilder(dimensions=("items",))
    for k in range(50):
        b.add_vehicle(f"v{k}", start=depot, shift=(6 * 3600, 20 * 3600), capacity=(60,))
    for i in range(1000):
        r_m = 15_000 * math.sqrt(rng.random())
        a = rng.random() * 2 * math.pi
        lat = depot.lat + r_m * math.sin(a) / 111_320
        lng = depot.lng + r_m * math.cos(a) / (
            111_320 * math.cos(math.radians(depot.lat))
        )
        start = rng.choice(range(7, 17)) * 3600
        b.add_job(
            f"j{i}",
            LatLng(lat, lng),
            service_s=180,
            time_windows=[(start, start + 2 * 3600)],
            demand=(rng.randint(1, 3),),
        )
    problem = b.build()
    t = time.time()
    plan = solve(
        problem,
        SolverParams(
            time_limit_s=args.large_limit, num_workers=args.workers, seed=args.seed
        ),
    )
    wall = time.time() - t
    points = point_list(problem)
    rep = check_plan(
        problem, plan, matrix=GreatCircleProvider().matrix(points), points=points
    )
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"large: 1000 stops, 50 vehicles, limit {args.large_limit}s: wall {wall:.1f}s, "
        f"vehicles used {plan.vehicles_used}, unassigned {len(plan.unassigned)}, "
        f"distance {plan.distance_m / 1000:.1f} km, feasible {rep.ok}, "
        f"peak RSS main {peak_self:.0f} MiB, largest worker {peak_kids:.0f} MiB"
    )
    if not rep.ok:
        print("\n".join(rep.violations[:10]))
    if args.plain:
        t = time.time()
        base = solve(
            problem,
            SolverParams(
                time_limit_s=args.large_limit,
                num_workers=1,
                improve=False,
                seed=args.seed,
            ),
        )
        base_rep = check_plan(
            problem, base, matrix=GreatCircleProvider().matrix(points), points=points
        )
        print(
            f"plain OR-Tools (1 process, GLS only): wall {time.time() - t:.1f}s, "
            f"vehicles used {base.vehicles_used}, unassigned {len(base.unassigned)}, "
            f"distance {base.distance_m / 1000:.1f} km, feasible {base_rep.ok}; "
            f"ours/plain distance ratio {plan.distance_m / base.distance_m:.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=str(DEFAULT_DIR))
    ap.add_argument("--instances", default="hard8", help="all | hard8 | R101,C101,...")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--plain",
        action="store_true",
        help="also plain OR-Tools: one process, PCI + guided local search, no own step",
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME:module.ATTR=literal;... (repeatable): A/B configurations, "
        "interleaved per instance",
    )
    ap.add_argument("--pyvrp", action="store_true")
    ap.add_argument("--vroom", action="store_true")
    ap.add_argument(
        "--large", action="store_true", help="run the 1,000-stop problem only"
    )
    ap.add_argument("--large-limit", type=float, default=60.0)
    args = ap.parse_args()
    if args.large:
        large(args)
    else:
        solomon(args)


if __name__ == "__main__":
    main()
