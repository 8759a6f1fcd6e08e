"""Why a job cannot be served: checked per job against every vehicle alone.

A job that no vehicle could serve even on an otherwise empty route is kept out
of the solver and reported with the first reason that rules out every vehicle,
in the order skills, capacity, distance, time window, duration.
"""

from __future__ import annotations

from itertools import pairwise

from routing.model import CompiledModel
from routing.plan import UnassignedJob
from routing.problem import Problem
from routing.types import TimeWindow

_ORDER = ("skills", "capacity", "distance", "time_window", "duration")


def _earliest(windows: tuple[TimeWindow, ...], t: float) -> float | None:
    if not windows:
        return t
    for w in windows:
        if w.end_s >= t:
            return max(t, float(w.start_s))
    return None


def _alone(
    problem: Problem, cm: CompiledModel, k: int, nodes: list[int], soft: bool = False
) -> str | None:
    """Why vehicle ``k`` cannot serve ``nodes`` (in order) alone, or ``None``."""
    v = problem.vehicles[k]
    if any(cm.allowed[n] is not None and k not in cm.allowed[n] for n in nodes):
        return "skills"
    for n in nodes:
        if any(abs(int(q)) > c for q, c in zip(cm.demand[n], v.capacity, strict=True)):
            return "capacity"
    seq = [cm.starts[k], *nodes, cm.ends[k]]
    dist = sum(cm.dist[a, b] for a, b in pairwise(seq))
    if v.max_distance_m is not None and dist > v.max_distance_m + 1e-6:
        return "distance"
    t = float(cm.start_time_s[k] if cm.start_time_s else v.shift.start_s)
    first = t
    for a, b in pairwise(seq):
        arrive = t + float(cm.service_s[a]) + cm.dur[a, b] / v.speed_factor
        wins = cm.windows[b] if b != cm.ends[k] else (v.shift,)
        start = (
            _earliest(wins, arrive)
            if b != cm.ends[k]
            else (arrive if arrive <= v.shift.end_s + 1e-6 else None)
        )
        if start is None:
            if not soft:
                return "time_window"
            start = arrive
        if a == cm.starts[k] and b != cm.ends[k]:
            first = max(first, start - cm.dur[a, b] / v.speed_factor)
        t = start
    if v.max_duration_s is not None and t - first > v.max_duration_s + 1e-6:
        return "duration"
    return None


def _groups(cm: CompiledModel) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for n in cm.job_nodes():
        groups.setdefault(cm.refs[n].item_id, []).append(n)
    return groups


def _verdict(
    problem: Problem, cm: CompiledModel, nodes: list[int], soft: bool = False
) -> str | None:
    reasons = []
    vehicles = cm.forced_vehicle.get(nodes[0])
    for k in range(len(problem.vehicles)) if vehicles is None else [vehicles]:
        why = _alone(problem, cm, k, nodes, soft)
        if why is None:
            return None
        reasons.append(why)
    return min(reasons, key=_ORDER.index) if reasons else "no_vehicle_left"


def unservable_jobs(
    problem: Problem, cm: CompiledModel, *, soft_time_windows: bool = False
) -> dict[str, UnassignedJob]:
    """Jobs that no vehicle can serve on its own, with the reason.

    With ``soft_time_windows`` lateness is allowed, so windows rule nothing out.
    """
    out: dict[str, UnassignedJob] = {}
    for jid, nodes in _groups(cm).items():
        if any(n in locked for locked in cm.locked.values() for n in nodes):
            continue
        why = _verdict(problem, cm, nodes, soft_time_windows)
        if why is not None:
            out[jid] = UnassignedJob(jid, why, _DETAIL[why])  # type: ignore[arg-type]
    return out


def explain_unassigned(problem: Problem, cm: CompiledModel, node: int) -> UnassignedJob:
    """Reason for a job the solver left out although some vehicle fits it alone."""
    jid = cm.refs[node].item_id
    why = _verdict(problem, cm, _groups(cm)[jid]) or "no_vehicle_left"
    return UnassignedJob(jid, why, _DETAIL[why])  # type: ignore[arg-type]


_DETAIL = {
    "skills": "no vehicle has every required skill",
    "capacity": "demand exceeds the capacity of every suitable vehicle",
    "distance": "the round trip exceeds every suitable vehicle's max distance",
    "time_window": "no suitable vehicle can arrive within a time window and return",
    "duration": "the round trip exceeds every suitable vehicle's max duration",
    "no_vehicle_left": "fits a vehicle alone but not together with the other jobs",
}
