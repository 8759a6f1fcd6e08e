"""Read instance files into problems, and solve a file for the CLI.

Formats: Solomon VRPTW text files, VRPLIB/CVRPLIB files (through the
``vrplib`` package) and the project's JSON problem format (a VROOM-like shape,
see :func:`problem_from_dict`). Benchmark instances use planar coordinates, so
they come with a caller-supplied matrix (Euclidean, unrounded for Solomon) and
locations are matrix rows; travel time equals distance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from routing.errors import InstanceFormatError
from routing.matrix import TravelMatrix
from routing.params import SolverParams
from routing.problem import Break, Problem, ProblemBuilder, ShipmentStep
from routing.types import LatLng, Location, TimeWindow


def euclidean_matrix(xy: np.ndarray, *, rounded: bool = False) -> TravelMatrix:
    """Planar Euclidean distances; travel time equals distance."""
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    if rounded:
        d = np.rint(d)
    return TravelMatrix(d, d.copy())


def read_solomon(path: str | Path) -> Problem:
    """Read a Solomon VRPTW instance (``VEHICLE`` and ``CUSTOMER`` sections).

    Customer ``c`` becomes job ``str(c)`` at matrix row ``c``; the depot is row 0
    and its due date is the vehicles' shift end.
    """
    lines = Path(path).read_text().splitlines()
    try:
        v_at = next(i for i, ln in enumerate(lines) if ln.strip().upper() == "VEHICLE")
        nv, cap = (int(x) for x in lines[v_at + 2].split()[:2])
        c_at = next(i for i, ln in enumerate(lines) if ln.strip().upper() == "CUSTOMER")
    except (StopIteration, ValueError, IndexError) as exc:
        raise InstanceFormatError(f"{path}: missing or bad VEHICLE section") from exc
    rows: list[list[float]] = []
    for lineno, ln in enumerate(lines[c_at + 1 :], start=c_at + 2):
        parts = ln.split()
        if not parts or not parts[0].lstrip("-").isdigit():
            continue
        if len(parts) < 7:
            raise InstanceFormatError(f"{path}:{lineno}: expected 7 columns")
        rows.append([float(x) for x in parts[:7]])
    if len(rows) < 2 or int(rows[0][0]) != 0:
        raise InstanceFormatError(f"{path}: needs a depot (customer 0) and customers")
    a = np.array(rows)
    ids = a[:, 0].astype(int)
    if not np.array_equal(ids, np.arange(len(a))):
        raise InstanceFormatError(f"{path}: customer numbers must be 0..n-1 in order")
    b = ProblemBuilder(dimensions=("demand",), matrix=euclidean_matrix(a[:, 1:3]))
    shift = (int(a[0, 4]), int(a[0, 5]))
    for k in range(nv):
        b.add_vehicle(f"v{k + 1}", start=0, end=0, shift=shift, capacity=(cap,))
    for r in a[1:]:
        b.add_job(
            str(int(r[0])),
            int(r[0]),
            service_s=int(r[6]),
            time_windows=[(int(r[4]), int(r[5]))],
            demand=(int(r[3]),),
        )
    return b.build()


def read_vrplib(path: str | Path) -> Problem:
    """Read a VRPLIB/CVRPLIB instance with the ``vrplib`` package.

    ``EUC_2D`` distances are rounded to integers (the CVRPLIB convention).
    Without a ``VEHICLES`` entry the fleet is twice the lower bound on routes.
    """
    import vrplib

    try:
        inst = vrplib.read_instance(str(path))
    except Exception as exc:
        raise InstanceFormatError(f"{path}: {exc}") from exc
    if "edge_weight" not in inst:
        raise InstanceFormatError(f"{path}: no coordinates or edge weights")
    d = np.asarray(inst["edge_weight"], dtype=np.float64)
    if str(inst.get("edge_weight_type", "")).upper() == "EUC_2D":
        d = np.rint(d)
    n = d.shape[0]
    depot = int(np.atleast_1d(inst.get("depot", [0]))[0])
    demand = np.asarray(inst.get("demand", np.zeros(n)), dtype=np.int64)
    cap = int(inst.get("capacity", max(1, int(demand.sum()))))
    nv = int(inst.get("vehicles", 0)) or min(
        n - 1, 2 * math.ceil(demand.sum() / cap) + 2
    )
    tw = inst.get("time_window")
    svc = inst.get("service_time")
    b = ProblemBuilder(dimensions=("demand",), matrix=TravelMatrix(d, d.copy()))
    shift = (int(tw[depot][0]), int(tw[depot][1])) if tw is not None else None
    for k in range(nv):
        b.add_vehicle(f"v{k + 1}", start=depot, end=depot, shift=shift, capacity=(cap,))
    for i in range(n):
        if i == depot:
            continue
        b.add_job(
            str(i),
            i,
            service_s=int(
                np.atleast_1d(svc)[i]
                if svc is not None and np.ndim(svc)
                else (svc or 0)
            ),
            time_windows=[(int(tw[i][0]), int(tw[i][1]))] if tw is not None else None,
            demand=(int(demand[i]),),
        )
    return b.build()


# ---------------------------------------------------------------- project JSON
def _loc(value: Any) -> Location:
    if isinstance(value, dict):
        return LatLng(float(value["lat"]), float(value["lng"]))
    if isinstance(value, list | tuple) and len(value) == 2:
        return LatLng(float(value[0]), float(value[1]))
    return int(value)


def _windows(value: Any) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (value or [])]


def problem_from_dict(data: dict[str, Any]) -> Problem:
    """Build a problem from the project's JSON shape.

    Keys: ``dimensions``; ``vehicles`` (``id``, ``start``, ``end``, ``shift``,
    ``capacity``, ``skills``, ``fixed_cost``, ``cost_per_km``,
    ``cost_per_hour``, ``speed_factor``, ``max_distance_m``, ``max_duration_s``,
    ``max_stops``, ``break``: ``{duration_s, time_windows}``); ``jobs`` (``id``,
    ``location``, ``service_s``, ``time_windows``, ``demand``, ``skills``,
    ``priority``, ``kind``); ``shipments`` (``id``, ``pickup``/``delivery``:
    ``{location, service_s, time_windows}``, ``demand``, ``skills``,
    ``priority``); optional ``matrix``: ``{distance_m, duration_s}``.
    Locations are ``{"lat", "lng"}`` objects or matrix row numbers.
    """
    try:
        mx = data.get("matrix")
        matrix = (
            TravelMatrix(
                np.asarray(mx["distance_m"], dtype=float),
                np.asarray(mx["duration_s"], dtype=float),
            )
            if mx
            else None
        )
        b = ProblemBuilder(dimensions=data.get("dimensions", ()), matrix=matrix)
        for v in data.get("vehicles", []):
            brk = v.get("break")
            b.add_vehicle(
                v["id"],
                start=_loc(v["start"]) if v.get("start") is not None else None,
                end=_loc(v["end"]) if v.get("end") is not None else None,
                return_to_start=v.get("end") is not None or not v.get("open", False),
                shift=tuple(v["shift"]) if v.get("shift") else None,
                capacity=v.get("capacity", ()),
                skills=v.get("skills", ()),
                fixed_cost=int(v.get("fixed_cost", 0)),
                cost_per_km=int(v.get("cost_per_km", 0)),
                cost_per_hour=int(v.get("cost_per_hour", 0)),
                speed_factor=float(v.get("speed_factor", 1.0)),
                max_distance_m=v.get("max_distance_m"),
                max_duration_s=v.get("max_duration_s"),
                max_stops=v.get("max_stops"),
                break_=Break(
                    int(brk["duration_s"]),
                    tuple(TimeWindow(*w) for w in _windows(brk["time_windows"])),
                )
                if brk
                else None,
            )
        for j in data.get("jobs", []):
            b.add_job(
                j["id"],
                _loc(j["location"]),
                service_s=int(j.get("service_s", 0)),
                time_windows=_windows(j.get("time_windows")),
                demand=j.get("demand", ()),
                skills=j.get("skills", ()),
                priority=int(j.get("priority", 0)),
                kind=j.get("kind", "delivery"),
            )
        for s in data.get("shipments", []):
            steps = {}
            for name in ("pickup", "delivery"):
                st = s.get(name)
                steps[name] = (
                    None
                    if st is None
                    else ShipmentStep(
                        _loc(st["location"]),
                        int(st.get("service_s", 0)),
                        tuple(TimeWindow(*w) for w in _windows(st.get("time_windows"))),
                    )
                )
            b.add_shipment(
                s["id"],
                pickup=steps["pickup"],
                delivery=steps["delivery"],
                demand=s.get("demand", ()),
                skills=s.get("skills", ()),
                priority=int(s.get("priority", 0)),
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and hasattr(exc, "issues"):
            raise
        raise InstanceFormatError(
            f"bad problem JSON: {type(exc).__name__}: {exc}"
        ) from exc
    return b.build()


def read_problem(path: str | Path) -> Problem:
    """Read any supported file, chosen by extension and content."""
    p = Path(path)
    text = p.read_text()
    if p.suffix.lower() == ".json":
        return problem_from_dict(json.loads(text))
    head = text.upper()
    if "CUSTOMER" in head and "VEHICLE" in head and "NODE_COORD_SECTION" not in head:
        return read_solomon(p)
    return read_vrplib(p)


def solve_file(
    path: str | Path, time_limit_s: float, *, seed: int = 0, num_workers: int = 2
) -> dict[str, Any]:
    """Solve an instance file and return a JSON-able plan.

    ``routes`` lists, per used vehicle, the instance's customer ids in visiting
    order (integers for Solomon and VRPLIB files, job ids for JSON problems);
    ``plan`` is the full :meth:`~routing.plan.RoutePlan.to_json`.
    """
    from routing.solver import solve

    problem = read_problem(path)
    plan = solve(
        problem,
        SolverParams(time_limit_s=time_limit_s, seed=seed, num_workers=num_workers),
    )

    def cid(job_id: str) -> int | str:
        return int(job_id) if job_id.isdigit() else job_id

    return {
        "instance": Path(path).stem,
        "distance": round(plan.distance_m, 4),
        "vehicles": plan.vehicles_used,
        "routes": [[cid(j) for j in r.job_ids()] for r in plan.routes],
        "unassigned": [u.job_id for u in plan.unassigned],
        "plan": plan.to_json(),
    }
