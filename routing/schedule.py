"""Turn node sequences into timed routes (plain Python, exact float arithmetic).

The solver works in scaled integers; the plan is recomputed here from the
unscaled matrix so reported distances and times carry no rounding.
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from routing.diagnose import explain_unassigned
from routing.model import CompiledModel
from routing.plan import PlannedStop, RoutePlan, UnassignedJob, VehicleRoute
from routing.problem import Problem
from routing.types import Location


def physical_delta(cm: CompiledModel, node: int) -> list[int]:
    """Change of the on-board load at ``node`` (pickups add, deliveries remove)."""
    dem = [int(q) for q in cm.demand[node]]
    role = cm.refs[node].role
    if role == "job" and not cm.signed_load:
        return [-q for q in dem]  # unsigned model stores deliveries as positive
    return dem


def initial_load(cm: CompiledModel, nodes: list[int]) -> list[int]:
    """Load on board when leaving the start: deliveries not picked up en route."""
    dims = cm.demand.shape[1]
    load = [0] * dims
    in_route = set(nodes)
    pickup_of = {d: p for p, d in cm.pairs}
    for n in nodes:
        role = cm.refs[n].role
        delta = physical_delta(cm, n)
        if role == "job" or (role == "delivery" and pickup_of.get(n) not in in_route):
            for k, q in enumerate(delta):
                if q < 0:
                    load[k] -= q
    return load


def _location(problem: Problem, cm: CompiledModel, node: int) -> Location | None:
    ref = cm.refs[node]
    if ref.role == "job":
        return problem.jobs[ref.item_index].location
    ship = problem.shipments[ref.item_index]
    return ship.pickup.location if ref.role == "pickup" else ship.delivery.location


def schedule_route(
    problem: Problem, cm: CompiledModel, vehicle: int, nodes: list[int]
) -> VehicleRoute:
    """Time the visits ``nodes`` (job nodes only, in order) of ``vehicle``.

    Service starts at the earliest time within a window; the departure from the
    start is delayed so the vehicle does not wait at its first stop. A break,
    if any, is taken before the first leg that would end after its window
    opens. Stops served after their window closes get ``late_s`` > 0.
    """
    veh = problem.vehicles[vehicle]
    speed = veh.speed_factor
    start, end = cm.starts[vehicle], cm.ends[vehicle]
    seq = [start, *nodes, end]
    t0 = float(cm.start_time_s[vehicle] if cm.start_time_s else veh.shift.start_s)
    if nodes:
        first = nodes[0]
        travel = cm.dur[start, first] / speed
        opens = [w.start_s for w in cm.windows[first] if w.end_s >= t0 + travel]
        if opens and opens[0] > t0 + travel:
            t0 = opens[0] - travel
    load = initial_load(cm, nodes)
    stops: list[PlannedStop] = []
    t, dist, waiting_total = t0, 0.0, 0.0
    brk = veh.break_
    break_start: float | None = None
    stops.append(
        PlannedStop(
            "start",
            None,
            veh.start,
            t0,
            0.0,
            t0,
            tuple(load),
            0.0,
            0.0,
        )
    )
    for prev, node in pairwise(seq):
        travel = cm.dur[prev, node] / speed
        pause = 0.0
        if brk is not None and break_start is None:
            for w in brk.time_windows:
                b = max(t, float(w.start_s))
                if b <= w.end_s and t + travel >= w.start_s:
                    break_start = b
                    pause = b - t + brk.duration_s
                    break
        arrival = t + pause + travel
        dist += cm.dist[prev, node]
        ref = cm.refs[node]
        start_service, late = arrival, 0.0
        at_end = node == end and ref.role == "depot"
        wins = cm.windows[node] if not at_end else (veh.shift,)
        if wins:
            fit = [w for w in wins if w.end_s >= arrival]
            if fit:
                start_service = max(arrival, float(fit[0].start_s))
            else:
                late = arrival - wins[-1].end_s
        waiting = start_service - arrival
        waiting_total += waiting
        svc = float(cm.service_s[node])
        delta = physical_delta(cm, node)
        load = [a + b for a, b in zip(load, delta, strict=True)]
        stops.append(
            PlannedStop(
                "end" if at_end else ref.role,  # type: ignore[arg-type]
                None if at_end else ref.item_id,
                veh.end if at_end else _location(problem, cm, node),
                arrival,
                waiting,
                start_service + svc,
                tuple(load),
                dist,
                start_service + svc - t0,
                late,
            )
        )
        t = start_service + svc
    duration = t - t0
    cost = veh.fixed_cost + round(
        veh.cost_per_km * dist / 1000.0 + veh.cost_per_hour * duration / 3600.0
    )
    return VehicleRoute(
        veh.id, tuple(stops), dist, duration, waiting_total, cost, break_start
    )


def assemble_plan(
    problem: Problem,
    cm: CompiledModel,
    routes_by_vehicle: list[list[int]] | None,
    set_aside: dict[str, UnassignedJob],
    objective: str,
    t0: float,
    stats: dict[str, Any] | None = None,
) -> RoutePlan:
    """Build the plan from job nodes per vehicle and the jobs set aside.

    Jobs the solver left out get their reason from
    :func:`routing.diagnose.explain_unassigned`.
    """
    routes = []
    served: set[str] = set()
    for k, nodes in enumerate(routes_by_vehicle or []):
        if nodes:
            routes.append(schedule_route(problem, cm, k, nodes))
            served.update(cm.refs[n].item_id for n in nodes)
    unassigned = list(set_aside.values())
    listed = set(set_aside)
    for n in cm.job_nodes():
        jid = cm.refs[n].item_id
        if jid not in served and jid not in listed:
            unassigned.append(explain_unassigned(problem, cm, n))
            listed.add(jid)
    dist = sum(r.distance_m for r in routes)
    dur = sum(r.duration_s for r in routes)
    cost = sum(r.cost for r in routes)
    value = float({"distance": dist, "time": dur, "cost": cost}[objective])
    return RoutePlan(
        routes=tuple(routes),
        unassigned=tuple(sorted(unassigned, key=lambda u: u.job_id)),
        objective=objective,
        objective_value=value,
        solve_time_s=time.time() - t0,
        cost=cost,
        stats=dict(stats or {}),
    )
