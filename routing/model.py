"""Compile a :class:`~routing.problem.Problem` into plain arrays for the solver.

The compiled model is what worker processes receive: numpy arrays and lists,
no OR-Tools objects, so it pickles and the solver module stays the only
importer of ``ortools``. Node numbering: one node per vehicle start and end
(open ends get a zero-cost dummy node), then one node per job, then pickup and
delivery nodes per shipment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routing.matrix import TravelMatrix
from routing.problem import Job, Problem, Shipment, Vehicle
from routing.types import LatLng, Location, TimeWindow

#: Integer scale for fractional matrices (1/1000 of a metre or second).
FRACTIONAL_SCALE = 1000


@dataclass(frozen=True, slots=True)
class NodeRef:
    """What a node is: a vehicle end (``start``/``end``) or a job stop."""

    role: str  # "depot" (a vehicle start or end) | "job" | "pickup" | "delivery"
    item_id: str
    item_index: int


@dataclass(eq=False)
class CompiledModel:
    """Plain arrays describing the routing model in solver units.

    Distances are in metres and times in seconds, multiplied by ``scale``.
    """

    scale: int
    refs: list[NodeRef]
    row: np.ndarray  # matrix row of each node, -1 for open-route dummies
    dist: np.ndarray  # float metres between nodes (unscaled)
    dur: np.ndarray  # float seconds between nodes (unscaled, speed factor 1)
    service_s: np.ndarray
    windows: list[tuple[TimeWindow, ...]]
    demand: np.ndarray  # signed, (nodes, dims)
    allowed: list[list[int] | None]  # allowed vehicle indices per node
    priority: np.ndarray
    starts: list[int]
    ends: list[int]
    pairs: list[tuple[int, int]]
    vehicles: tuple[Vehicle, ...]
    signed_load: bool
    start_time_s: list[int] = field(default_factory=list)
    locked: dict[int, list[int]] = field(default_factory=dict)
    start_load: dict[int, list[int]] = field(default_factory=dict)
    forced_vehicle: dict[int, int] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return len(self.refs)

    def job_nodes(self) -> list[int]:
        """Nodes that are job stops."""
        return [i for i, r in enumerate(self.refs) if r.role != "depot"]


def point_list(problem: Problem) -> list[LatLng]:
    """Distinct coordinates of a coordinate-based problem, in first-seen order."""
    seen: dict[LatLng, None] = {}
    for loc in _locations(problem):
        if isinstance(loc, LatLng):
            seen.setdefault(loc, None)
    return list(seen)


def _locations(problem: Problem) -> list[Location | None]:
    out: list[Location | None] = []
    for v in problem.vehicles:
        out += [v.start, v.end]
    out += [j.location for j in problem.jobs]
    for s in problem.shipments:
        out += [s.pickup.location, s.delivery.location]
    return out


def _is_integral(a: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - np.rint(a)) < 1e-9))


def compile_problem(
    problem: Problem,
    matrix: TravelMatrix,
    points: list[LatLng] | None = None,
    *,
    skip: frozenset[str] = frozenset(),
) -> CompiledModel:
    """Lay out nodes and arrays for ``problem`` over ``matrix``.

    Parameters
    ----------
    problem
        The validated problem.
    matrix
        Travel matrix over ``points`` (coordinate problems) or the caller's rows.
    points
        Row order of ``matrix`` for coordinate problems; ``None`` when locations
        are row indices.
    skip
        Job or shipment ids left out of the model (already known unservable).
    """
    index = {p: i for i, p in enumerate(points or [])}

    def row_of(loc: Location | None) -> int:
        if loc is None:
            return -1
        return loc if isinstance(loc, int) else index[loc]

    dims = problem.num_dimensions
    refs: list[NodeRef] = []
    rows: list[int] = []
    service: list[int] = []
    windows: list[tuple[TimeWindow, ...]] = []
    demand: list[list[int]] = []
    allowed: list[list[int] | None] = []
    priority: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    pairs: list[tuple[int, int]] = []
    signed = any(j.kind == "pickup" for j in problem.jobs) or bool(problem.shipments)

    def add(
        ref: NodeRef,
        loc: Location | None,
        svc: int,
        tws: tuple[TimeWindow, ...],
        dem: list[int],
        ok: list[int] | None,
        prio: int,
    ) -> int:
        refs.append(ref)
        rows.append(row_of(loc))
        service.append(int(svc))
        windows.append(tws)
        demand.append(dem)
        allowed.append(ok)
        priority.append(prio)
        return len(refs) - 1

    zero = [0] * dims
    depots: dict[object, int] = {}

    def endpoint(loc: Location | None, k: int, vid: str) -> int:
        # vehicles sharing a start or end location share one node, as OR-Tools
        # expects of a depot: per-vehicle copies slow its search down a lot
        key = ("open",) if loc is None else ("at", loc)
        if key not in depots:
            depots[key] = add(NodeRef("depot", vid, k), loc, 0, (), zero, None, 0)
        return depots[key]

    for k, v in enumerate(problem.vehicles):
        starts.append(endpoint(v.start, k, v.id))
        ends.append(endpoint(v.end, k, v.id))

    def vehicles_for(skills: frozenset[str]) -> list[int] | None:
        if not skills:
            return None
        return [k for k, v in enumerate(problem.vehicles) if skills <= v.skills]

    for i, j in enumerate(problem.jobs):
        if j.id in skip:
            continue
        sign = -1 if (j.kind == "delivery" and signed) else 1
        add(
            NodeRef("job", j.id, i),
            j.location,
            j.service_s,
            j.time_windows,
            [sign * q for q in j.demand],
            vehicles_for(j.skills),
            j.priority,
        )
    for i, s in enumerate(problem.shipments):
        if s.id in skip:
            continue
        ok = vehicles_for(s.skills)
        p = add(
            NodeRef("pickup", s.id, i),
            s.pickup.location,
            s.pickup.service_s,
            s.pickup.time_windows,
            list(s.demand),
            ok,
            s.priority,
        )
        d = add(
            NodeRef("delivery", s.id, i),
            s.delivery.location,
            s.delivery.service_s,
            s.delivery.time_windows,
            [-q for q in s.demand],
            ok,
            s.priority,
        )
        pairs.append((p, d))

    row = np.asarray(rows, dtype=np.intp)
    safe = np.where(row < 0, 0, row)
    dist = matrix.distance_m[np.ix_(safe, safe)].copy()
    dur = matrix.duration_s[np.ix_(safe, safe)].copy()
    open_nodes = row < 0
    dist[open_nodes, :] = 0.0
    dist[:, open_nodes] = 0.0
    dur[open_nodes, :] = 0.0
    dur[:, open_nodes] = 0.0
    scale = 1 if (_is_integral(dist) and _is_integral(dur)) else FRACTIONAL_SCALE
    return CompiledModel(
        scale=scale,
        refs=refs,
        row=row,
        dist=dist,
        dur=dur,
        service_s=np.asarray(service, dtype=np.int64),
        windows=windows,
        demand=np.asarray(demand, dtype=np.int64).reshape(len(refs), dims),
        allowed=allowed,
        priority=np.asarray(priority, dtype=np.int64),
        starts=starts,
        ends=ends,
        pairs=pairs,
        vehicles=problem.vehicles,
        signed_load=signed,
        start_time_s=[v.shift.start_s for v in problem.vehicles],
    )


def job_of(problem: Problem, ref: NodeRef) -> Job | Shipment:
    """The job or shipment a node belongs to."""
    if ref.role == "job":
        return problem.jobs[ref.item_index]
    return problem.shipments[ref.item_index]


def subset(
    cm: CompiledModel, vehicles: list[int], nodes: list[int]
) -> tuple[CompiledModel, dict[int, int]]:
    """The model restricted to ``vehicles`` and the job ``nodes``.

    Returns the sub-model and the map from original to sub-model node numbers.
    The depot nodes of the chosen vehicles come first, then ``nodes`` in order.
    Vehicle indices in ``allowed``, ``forced_vehicle`` and ``locked`` are
    renumbered.
    """
    vmap = {k: i for i, k in enumerate(vehicles)}
    order: list[int] = []
    for k in vehicles:
        for n in (cm.starts[k], cm.ends[k]):
            if n not in order:
                order.append(n)
    order += list(nodes)
    nmap = {n: i for i, n in enumerate(order)}
    idx = np.asarray(order, dtype=np.intp)
    allowed: list[list[int] | None] = []
    for n in order:
        a = cm.allowed[n]
        allowed.append(None if a is None else [vmap[k] for k in a if k in vmap])
    sub = CompiledModel(
        scale=cm.scale,
        refs=[cm.refs[n] for n in order],
        row=cm.row[idx],
        dist=cm.dist[np.ix_(idx, idx)],
        dur=cm.dur[np.ix_(idx, idx)],
        service_s=cm.service_s[idx],
        windows=[cm.windows[n] for n in order],
        demand=cm.demand[idx],
        allowed=allowed,
        priority=cm.priority[idx],
        starts=[nmap[cm.starts[k]] for k in vehicles],
        ends=[nmap[cm.ends[k]] for k in vehicles],
        pairs=[(nmap[p], nmap[d]) for p, d in cm.pairs if p in nmap and d in nmap],
        vehicles=tuple(cm.vehicles[k] for k in vehicles),
        signed_load=cm.signed_load,
        start_time_s=[cm.start_time_s[k] for k in vehicles] if cm.start_time_s else [],
        locked={
            vmap[k]: [nmap[n] for n in c] for k, c in cm.locked.items() if k in vmap
        },
        forced_vehicle={
            nmap[n]: vmap[k]
            for n, k in cm.forced_vehicle.items()
            if n in nmap and k in vmap
        },
    )
    return sub, nmap
