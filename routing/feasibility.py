"""An independent feasibility check of routes, written without the solver.

It recomputes every route from the problem and the travel matrix alone:
capacity in every dimension, time windows (service may start no earlier than
a window opens and no later than it closes), shift end, pickup before delivery
on the same vehicle, skills, max distance/duration/stops, and every job served
exactly once (or declared unassigned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from routing.matrix import TravelMatrix
from routing.problem import Job, Problem, Shipment
from routing.types import LatLng, Location

EPS = 1e-6


@dataclass
class FeasibilityReport:
    """``ok`` with the measured distance, or a list of violations."""

    violations: list[str] = field(default_factory=list)
    distance_m: float = 0.0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether no violation was found."""
        return not self.violations


def check_routes(
    problem: Problem,
    routes: Mapping[str, Sequence[str]],
    *,
    matrix: TravelMatrix | None = None,
    points: Sequence[LatLng] | None = None,
    unassigned: Sequence[str] = (),
) -> FeasibilityReport:
    """Check ``routes`` (vehicle id -> job ids in visiting order).

    A shipment id appears twice in its route: first for the pickup, then for
    the delivery. Vehicles start as early as their shift allows and wait for
    windows to open.

    Parameters
    ----------
    problem
        The problem the routes claim to solve.
    routes
        Visiting order per vehicle id.
    matrix, points
        Travel matrix and, for coordinate problems, its row order; defaults to
        the problem's own matrix.
    unassigned
        Job ids declared unassigned; every other job must be visited once.
    """
    rep = FeasibilityReport()
    m = matrix if matrix is not None else problem.matrix
    if m is None:
        rep.violations.append("no travel matrix to check against")
        return rep
    row_of = {p: i for i, p in enumerate(points or [])}

    def row(loc: Location) -> int:
        return loc if isinstance(loc, int) else row_of[loc]

    jobs: dict[str, Job | Shipment] = {j.id: j for j in problem.jobs}
    jobs.update({s.id: s for s in problem.shipments})
    vehicles = {v.id: v for v in problem.vehicles}
    seen: dict[str, int] = {}
    for vid, seq in routes.items():
        v = vehicles.get(vid)
        if v is None:
            rep.violations.append(f"unknown vehicle {vid}")
            continue
        if not seq:
            continue
        picked: set[str] = set()
        if v.max_stops is not None and len(seq) > v.max_stops:
            rep.violations.append(f"{vid}: {len(seq)} stops > max {v.max_stops}")
        # loads: deliveries are on board from the start
        dims = problem.num_dimensions
        load = [0] * dims
        for jid in seq:
            j = jobs.get(jid)
            if isinstance(j, Job) and j.kind == "delivery":
                load = [a + b for a, b in zip(load, j.demand, strict=True)]
        for k, (q, cap) in enumerate(zip(load, v.capacity, strict=True)):
            if q > cap:
                rep.violations.append(f"{vid}: load {q} in dim {k} at start > {cap}")
        t = float(v.shift.start_s)
        prev = None if v.start is None else row(v.start)
        dist = 0.0
        first_start = None
        for jid in seq:
            j = jobs.get(jid)
            if j is None:
                rep.violations.append(f"{vid}: unknown job {jid}")
                continue
            seen[jid] = seen.get(jid, 0) + 1
            if j.skills and not j.skills <= v.skills:
                rep.violations.append(f"{vid}: lacks skills for {jid}")
            if isinstance(j, Shipment):
                step = j.pickup if jid not in picked else j.delivery
                sign = 1 if jid not in picked else -1
                picked.add(jid)
                loc, svc, tws, delta = (
                    step.location,
                    step.service_s,
                    step.time_windows,
                    [sign * q for q in j.demand],
                )
            else:
                loc, svc, tws = j.location, j.service_s, j.time_windows
                delta = (
                    [-q for q in j.demand] if j.kind == "delivery" else list(j.demand)
                )
            r = row(loc)
            if prev is not None:
                dist += float(m.distance_m[prev, r])
                t += float(m.duration_s[prev, r]) / v.speed_factor
            if tws:
                open_ = [w for w in tws if w.end_s + EPS >= t]
                if not open_:
                    rep.violations.append(
                        f"{vid}: {jid} reached at {t:.3f} after its last window closes "
                        f"({tws[-1].end_s})"
                    )
                else:
                    t = max(t, float(open_[0].start_s))
            if first_start is None:
                first_start = t
            t += svc
            load = [a + b for a, b in zip(load, delta, strict=True)]
            for k, (q, cap) in enumerate(zip(load, v.capacity, strict=True)):
                if q > cap or q < 0:
                    rep.violations.append(
                        f"{vid}: load {q} in dim {k} after {jid} outside 0..{cap}"
                    )
            prev = r
        if v.end is not None and prev is not None:
            r = row(v.end)
            dist += float(m.distance_m[prev, r])
            t += float(m.duration_s[prev, r]) / v.speed_factor
        if t > v.shift.end_s + EPS:
            rep.violations.append(
                f"{vid}: back at {t:.3f} after shift end {v.shift.end_s}"
            )
        if v.max_distance_m is not None and dist > v.max_distance_m + EPS:
            rep.violations.append(
                f"{vid}: distance {dist:.1f} > max {v.max_distance_m}"
            )
        # the vehicle may leave late, so duration counts from the first service
        if (
            v.max_duration_s is not None
            and first_start is not None
            and t - first_start > v.max_duration_s + EPS
        ):
            rep.violations.append(f"{vid}: duration > max {v.max_duration_s}")
        for jid in picked:
            if seq.count(jid) != 2:
                rep.violations.append(f"{vid}: shipment {jid} not picked and delivered")
        rep.distance_m += dist
    declared = set(unassigned)
    for jid, j in jobs.items():
        want = 2 if isinstance(j, Shipment) else 1
        got = seen.get(jid, 0)
        if jid in declared:
            if got:
                rep.violations.append(f"{jid} declared unassigned but visited")
        elif got != want:
            rep.violations.append(f"{jid} visited {got} times, expected {want}")
    return rep


def check_plan(
    problem: Problem,
    plan: object,
    *,
    matrix: TravelMatrix | None = None,
    points: Sequence[LatLng] | None = None,
) -> FeasibilityReport:
    """Check a :class:`~routing.plan.RoutePlan` (only its visiting orders are used)."""
    routes = {r.vehicle_id: r.job_ids() for r in plan.routes}  # type: ignore[attr-defined]
    unassigned = [u.job_id for u in plan.unassigned]  # type: ignore[attr-defined]
    return check_routes(
        problem, routes, matrix=matrix, points=points, unassigned=unassigned
    )
