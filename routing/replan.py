"""Re-planning during the day: keep what is done or locked, re-optimise the rest.

Given the full problem (today's jobs, including new ones) and the state of the
routes in progress, :func:`replan` plans from every vehicle's current position
and time. Completed stops are dropped, locked stops are visited first in their
given order by the same vehicle, and shipments already picked up are delivered
by the vehicle carrying them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing.errors import InvalidProblemError, ProblemIssue
from routing.matrix import MatrixProvider
from routing.model import CompiledModel
from routing.params import SolverParams
from routing.plan import RoutePlan
from routing.problem import Job, Problem, Vehicle
from routing.solver import solve
from routing.types import Location, TimeWindow
from routing.workers import ProgressCallback


@dataclass(frozen=True, slots=True)
class RouteInProgress:
    """Where a vehicle is now and what it has done.

    Parameters
    ----------
    vehicle_id
        The vehicle.
    position
        Current location (a coordinate, or a matrix row for matrix problems).
    time_s
        Current time; the vehicle is available from then on.
    done
        Completed job and shipment ids (a shipment counts once delivered).
    locked
        Ids the vehicle must visit next, in this order (for a shipment, its next
        step: the pickup, or the delivery once picked up).
    picked_up
        Shipment ids on board: picked up, not yet delivered.
    """

    vehicle_id: str
    position: Location
    time_s: int
    done: tuple[str, ...] = ()
    locked: tuple[str, ...] = ()
    picked_up: tuple[str, ...] = ()


def _derive(problem: Problem, states: Sequence[RouteInProgress]) -> Problem:
    by_vehicle = {s.vehicle_id: s for s in states}
    issues: list[ProblemIssue] = []
    known = {v.id for v in problem.vehicles}
    ids = set(problem.job_ids())
    for s in states:
        if s.vehicle_id not in known:
            issues.append(ProblemIssue(s.vehicle_id, "vehicle_id", "unknown vehicle"))
        for fld in ("done", "locked", "picked_up"):
            for jid in getattr(s, fld):
                if jid not in ids:
                    issues.append(
                        ProblemIssue(jid, fld, f"unknown job on {s.vehicle_id}")
                    )
        for jid in set(s.locked) & set(s.done):
            issues.append(ProblemIssue(jid, "locked", "job is both done and locked"))
    if issues:
        raise InvalidProblemError(issues)
    done = {j for s in states for j in s.done}
    onboard = {j: s.vehicle_id for s in states for j in s.picked_up}
    vehicles: list[Vehicle] = []
    for v in problem.vehicles:
        st = by_vehicle.get(v.id)
        if st is None:
            vehicles.append(v)
            continue
        begin = max(v.shift.start_s, st.time_s)
        vehicles.append(
            replace(
                v, start=st.position, shift=TimeWindow(begin, max(begin, v.shift.end_s))
            )
        )
    jobs = [j for j in problem.jobs if j.id not in done]
    shipments = []
    for sh in problem.shipments:
        if sh.id in done:
            continue
        if sh.id in onboard:
            d = sh.delivery
            jobs.append(
                Job(
                    sh.id,
                    d.location,
                    d.service_s,
                    d.time_windows,
                    sh.demand,
                    sh.skills,
                    sh.priority,
                    "delivery",
                )
            )
        else:
            shipments.append(sh)
    return replace(
        problem, vehicles=tuple(vehicles), jobs=tuple(jobs), shipments=tuple(shipments)
    )


def replan(
    problem: Problem,
    states: Sequence[RouteInProgress],
    params: SolverParams | None = None,
    *,
    provider: MatrixProvider | None = None,
    progress: ProgressCallback | None = None,
) -> RoutePlan:
    """Re-plan ``problem`` around the routes in progress.

    Parameters
    ----------
    problem
        All of today's jobs and shipments (new ones included) and the fleet.
    states
        One entry per vehicle already on the road.
    params, provider, progress
        As for :func:`routing.solver.solve`.

    Returns
    -------
    RoutePlan
        Routes starting at each vehicle's current position and time; done
        stops are absent, locked stops come first in their order.

    Raises
    ------
    InvalidProblemError
        When a state names an unknown vehicle or job.
    """
    derived = _derive(problem, states)
    index = {v.id: k for k, v in enumerate(derived.vehicles)}
    onboard = {j: s.vehicle_id for s in states for j in s.picked_up}
    locks = {s.vehicle_id: list(s.locked) for s in states if s.locked}

    def prepare(cm: CompiledModel) -> None:
        node_of: dict[str, list[int]] = {}
        for n in cm.job_nodes():
            node_of.setdefault(cm.refs[n].item_id, []).append(n)
        for jid, vid in onboard.items():
            for n in node_of.get(jid, []):
                cm.forced_vehicle[n] = index[vid]
        for vid, ids in locks.items():
            chain: list[int] = []
            for jid in ids:
                nodes = node_of.get(jid, [])
                if nodes:
                    n = nodes[0] if nodes[0] not in chain else nodes[-1]
                    chain.append(n)
                    cm.windows[n] = ()  # committed: never drop it for being late
                    cm.forced_vehicle[n] = index[vid]
            cm.locked[index[vid]] = chain

    return solve(
        derived, params, provider=provider, progress=progress, _prepare=prepare
    )
