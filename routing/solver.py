"""Solve a :class:`~routing.problem.Problem` into a :class:`~routing.plan.RoutePlan`.

This is the only module that imports ``ortools``. :class:`RoutingSearch` builds
one OR-Tools model from a compiled problem: transit costs are registered as
matrices and vectors evaluated on the C++ side (``RegisterTransitMatrix``,
``RegisterUnaryTransitVector``), never as Python callbacks; time windows live
on a time dimension, capacities on one dimension each; the first solution
comes from an insertion heuristic suited to time windows and is improved by
guided local search, then by our own step (:mod:`routing.improve`), which gets
most of the time when it is SISR.

:func:`solve` is the entry point: matrix, set aside unservable jobs, compile,
run differently seeded and configured searches in parallel processes
(:mod:`routing.workers`), keep the best and time it exactly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing import improve
from routing.diagnose import unservable_jobs
from routing.errors import SolverError
from routing.matrix import GreatCircleProvider, MatrixProvider, TravelMatrix
from routing.model import CompiledModel, compile_problem, point_list, subset
from routing.params import SolverParams
from routing.plan import RoutePlan
from routing.problem import Problem
from routing.schedule import assemble_plan
from routing.types import LatLng
from routing.workers import ProgressCallback, run_searches

INF_WINDOW = 10**12

_SLOW_OPERATORS = (
    "use_relocate_expensive_chain",
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_shortest_path_swap_active",
    "use_swap_active_chain",
    "use_shortest_path_two_opt",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_make_chain_inactive",
    "use_exchange_subtrip",
    "use_relocate_subtrip",
)
_PAIR_OPERATORS = ("use_light_relocate_pair", "use_exchange_pair", "use_relocate_pair")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """What one worker does."""

    objective: str
    first_solution: str
    seed: int
    soft_time_windows: bool
    lateness_penalty_per_s: float
    minimise_vehicles: bool
    improve: bool
    worker: int = 0


@dataclass
class SearchResult:
    """Routes (job nodes per vehicle) and objective in solver units."""

    routes: list[list[int]]
    objective: int
    worker: int
    iterations: int = 0
    improvements: int = 0


class RoutingSearch:
    """One OR-Tools model over ``cm``, ready to be searched several times."""

    def __init__(self, cm: CompiledModel, cfg: SearchConfig) -> None:
        self.cm, self.cfg = cm, cfg
        n, nv = cm.num_nodes, len(cm.vehicles)
        self.manager = pywrapcp.RoutingIndexManager(n, nv, cm.starts, cm.ends)
        self.model = pywrapcp.RoutingModel(self.manager)
        self.rng = random.Random(cfg.seed)
        #: Progress callback (solver objective units), set by :meth:`run`.
        self.report: Callable[[int], None] | None = None
        self._build()
        # close now so assignments can be filled before the first search
        self.model.CloseModelWithParameters(self.params(cfg.first_solution, 1.0))

    # ------------------------------------------------------------------ model
    def _build(self) -> None:
        cm, cfg, m, mgr = self.cm, self.cfg, self.model, self.manager
        s = cm.scale
        nv = len(cm.vehicles)
        dist_i = np.rint(cm.dist * s).astype(np.int64)
        self.dist_int = dist_i
        svc = (cm.service_s * s).astype(np.int64)
        speeds = sorted({v.speed_factor for v in cm.vehicles})
        time_cb: dict[float, int] = {}
        time_mats: dict[float, np.ndarray] = {}
        for f in speeds:
            travel = np.ceil(cm.dur * s / f - 1e-6).astype(np.int64)
            tm = travel + svc[:, None]
            np.fill_diagonal(tm, 0)
            time_mats[f] = tm
            time_cb[f] = m.RegisterTransitMatrix(tm.tolist())
        dist_cb = m.RegisterTransitMatrix(dist_i.tolist())
        # -- arc costs
        cost_per_vehicle = cfg.objective == "cost" and any(
            v.cost_per_km or v.cost_per_hour for v in cm.vehicles
        )
        self.arc_max = int(dist_i.max()) if dist_i.size else 1
        #: Arc costs and transit times (one speed class) for routing.sisr.
        self.arc_cost = dist_i
        self.transit = time_mats[speeds[0]]
        if cfg.objective == "time":
            self.arc_cost = time_mats[speeds[0]]
            for k, v in enumerate(cm.vehicles):
                m.SetArcCostEvaluatorOfVehicle(time_cb[v.speed_factor], k)
            self.arc_max = max(int(t.max()) for t in time_mats.values())
        elif cost_per_vehicle:
            classes: dict[tuple[int, int, float], int] = {}
            for k, v in enumerate(cm.vehicles):
                key = (v.cost_per_km, v.cost_per_hour, v.speed_factor)
                if key not in classes:
                    # milli-minor units: per-km x metres + per-hour x seconds / 3.6
                    c = np.rint(
                        v.cost_per_km * cm.dist
                        + v.cost_per_hour * time_mats[v.speed_factor] / s / 3.6
                    ).astype(np.int64)
                    self.arc_max = max(self.arc_max, int(c.max()))
                    classes[key] = m.RegisterTransitMatrix(c.tolist())
                m.SetArcCostEvaluatorOfVehicle(classes[key], k)
        else:
            m.SetArcCostEvaluatorOfAllVehicles(dist_cb)
        self.arc_max = max(self.arc_max, 1)
        # -- fixed costs / fleet minimisation
        big_vehicle = self.arc_max * (cm.num_nodes + 1) if cfg.minimise_vehicles else 0
        for k, v in enumerate(cm.vehicles):
            fixed = v.fixed_cost * 1000 if cfg.objective == "cost" else 0
            if fixed or big_vehicle:
                m.SetFixedCostOfVehicle(int(fixed + big_vehicle), k)
        # -- time
        horizon = (
            max(
                [v.shift.end_s for v in cm.vehicles]
                + [w.end_s for ws in cm.windows for w in ws]
            )
            * s
        )
        if cfg.soft_time_windows:
            horizon *= 2
        m.AddDimensionWithVehicleTransits(
            [time_cb[v.speed_factor] for v in cm.vehicles],
            horizon,
            horizon,
            False,
            "time",
        )
        td = m.GetDimensionOrDie("time")
        self.time_dim = td
        for k, v in enumerate(cm.vehicles):
            begin = (cm.start_time_s[k] if cm.start_time_s else v.shift.start_s) * s
            td.CumulVar(m.Start(k)).SetRange(begin, v.shift.end_s * s)
            end_cap = v.shift.end_s * s
            if cfg.soft_time_windows:
                td.SetCumulVarSoftUpperBound(m.End(k), end_cap, self._late_penalty())
            else:
                td.CumulVar(m.End(k)).SetMax(end_cap)
            if v.max_duration_s is not None:
                td.SetSpanUpperBoundForVehicle(v.max_duration_s * s, k)
        if cfg.objective == "time":
            td.SetSlackCostCoefficientForAllVehicles(1)
        for node in cm.job_nodes():
            idx = mgr.NodeToIndex(node)
            ws = cm.windows[node]
            if not ws:
                continue
            cv = td.CumulVar(idx)
            if cfg.soft_time_windows:
                cv.SetMin(ws[0].start_s * s)
                td.SetCumulVarSoftUpperBound(
                    idx, ws[-1].end_s * s, self._late_penalty()
                )
            else:
                cv.SetRange(ws[0].start_s * s, ws[-1].end_s * s)
                for a, b in pairwise(ws):
                    if b.start_s - a.end_s > 1:
                        cv.RemoveInterval(a.end_s * s + 1, b.start_s * s - 1)
        self._add_breaks(svc)
        # -- capacities
        for d in range(cm.demand.shape[1]):
            cb = m.RegisterUnaryTransitVector([int(q) for q in cm.demand[:, d]])
            caps = [int(v.capacity[d]) for v in cm.vehicles]
            m.AddDimensionWithVehicleCapacity(
                cb, 0, caps, not cm.signed_load, f"cap{d}"
            )
            if cm.signed_load:
                cd = m.GetDimensionOrDie(f"cap{d}")
                for k in range(nv):
                    cd.CumulVar(m.Start(k)).SetRange(0, caps[k])
        if any(v.max_distance_m is not None for v in cm.vehicles):
            caps = [
                int(v.max_distance_m * s)
                if v.max_distance_m is not None
                else INF_WINDOW
                for v in cm.vehicles
            ]
            m.AddDimensionWithVehicleCapacity(dist_cb, 0, caps, True, "distance")
        if any(v.max_stops is not None for v in cm.vehicles):
            ones = [0 if r.role == "depot" else 1 for r in cm.refs]
            cb = m.RegisterUnaryTransitVector(ones)
            caps = [v.max_stops or cm.num_nodes for v in cm.vehicles]
            m.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "stops")
        # -- jobs: skills, pairs, optional with a penalty above any saving
        solver = m.solver()
        self.penalty = self.arc_max * 4 * (cm.num_nodes + 2) + big_vehicle * 2 + 10**6
        paired = {n for p in cm.pairs for n in p}
        for node in cm.job_nodes():
            idx = mgr.NodeToIndex(node)
            allowed = cm.allowed[node]
            if node in cm.forced_vehicle:
                allowed = [cm.forced_vehicle[node]]
            if allowed is not None:
                # -1 keeps the job droppable (it still pays its penalty)
                m.VehicleVar(idx).SetValues([-1, *allowed])
            pen = int(self.penalty * (1 + cm.priority[node]))
            m.AddDisjunction([idx], pen if node not in paired else pen // 2)
        for p, d in cm.pairs:
            pi, di = mgr.NodeToIndex(p), mgr.NodeToIndex(d)
            m.AddPickupAndDelivery(pi, di)
            solver.Add(m.VehicleVar(pi) == m.VehicleVar(di))
            solver.Add(m.ActiveVar(pi) == m.ActiveVar(di))
            solver.Add(td.CumulVar(pi) <= td.CumulVar(di))
        for k, chain in cm.locked.items():
            prev = m.Start(k)
            for node in chain:
                idx = mgr.NodeToIndex(node)
                solver.Add(m.NextVar(prev) == idx)
                prev = idx

    def _late_penalty(self) -> int:
        return max(1, round(self.cfg.lateness_penalty_per_s))

    def _add_breaks(self, svc: np.ndarray) -> None:
        cm, m, s = self.cm, self.model, self.cm.scale
        if not any(v.break_ is not None for v in cm.vehicles):
            return
        solver = m.solver()
        visits = [int(svc[self.manager.IndexToNode(i)]) for i in range(m.Size())]
        visits += [0] * (m.Size() + len(cm.vehicles) * 2 - len(visits))
        for k, v in enumerate(cm.vehicles):
            if v.break_ is None:
                continue
            ws = v.break_.time_windows
            iv = solver.FixedDurationIntervalVar(
                ws[0].start_s * s,
                ws[-1].end_s * s,
                v.break_.duration_s * s,
                False,
                f"break-{v.id}",
            )
            self.time_dim.SetBreakIntervalsOfVehicle([iv], k, visits)

    # ----------------------------------------------------------------- search
    def params(
        self, first_solution: str, time_limit_s: float, gls: bool = True
    ) -> pywrapcp.RoutingSearchParameters:
        """Search parameters: given first solution, guided local search.

        With ``gls=False`` (the repair step after a ruin) the search is a
        greedy descent over a trimmed operator set: the operators for
        pickup-delivery pairs, subtrips and path LNS cost most of the time of
        proving a local optimum and are skipped when the model has no pairs.
        """
        p = pywrapcp.DefaultRoutingSearchParameters()
        p.first_solution_strategy = getattr(
            routing_enums_pb2.FirstSolutionStrategy, first_solution
        )
        p.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
            if gls
            else routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        )
        if not gls:
            ops = p.local_search_operators
            off = list(_SLOW_OPERATORS)
            if not self.cm.pairs:
                off += _PAIR_OPERATORS
            for name in off:
                setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
        p.time_limit.FromMilliseconds(max(10, int(time_limit_s * 1000)))
        return p

    def routes_of(self, assignment: pywrapcp.Assignment) -> list[list[int]]:
        """Job nodes per vehicle in the assignment."""
        m, mgr = self.model, self.manager
        out = []
        for k in range(len(self.cm.vehicles)):
            idx = assignment.Value(m.NextVar(m.Start(k)))
            route = []
            while not m.IsEnd(idx):
                route.append(mgr.IndexToNode(idx))
                idx = assignment.Value(m.NextVar(idx))
            out.append(route)
        return out

    def run(
        self, deadline: float, on_solution: Callable[[int], None] | None = None
    ) -> SearchResult | None:
        """Search until ``deadline`` (``time.time()`` seconds)."""
        m = self.model
        self.report = on_solution
        if on_solution is not None:
            m.AddAtSolutionCallback(lambda: on_solution(int(m.CostVar().Max())))
        remaining = deadline - time.time()
        share = improve.first_phase_share(self) if self.cfg.improve else 1.0
        sol = m.SolveWithParameters(
            self.params(self.cfg.first_solution, max(0.05, remaining * share))
        )
        left = deadline - time.time()
        if sol is None and share < 1.0 and left > 0.05:
            # no first solution within the short first phase: give it all
            sol = m.SolveWithParameters(self.params(self.cfg.first_solution, left))
        if sol is None:
            return None
        best = SearchResult(
            self.routes_of(sol), int(sol.ObjectiveValue()), self.cfg.worker
        )
        if self.cfg.improve:
            best = improve.improve(self, best, deadline)
        return best

    # ------------------------------------------- primitives for routing.improve
    def _assignment(self, routes: list[list[int]]) -> pywrapcp.Assignment | None:
        """An assignment of the next variables for ``routes`` (no search).

        ``RoutesToAssignment`` only fills variables; ``ReadAssignmentFromRoutes``
        would run a restore search under the model's search limit, which fails
        once an earlier solve has used up its time limit.
        """
        idx = [[self.manager.NodeToIndex(n) for n in r] for r in routes]
        a = self.model.solver().Assignment()
        if not self.model.RoutesToAssignment(idx, True, True, a):
            return None
        return a

    def solve_from(
        self, routes: list[list[int]], time_limit_s: float, *, gls: bool
    ) -> SearchResult | None:
        """Complete and improve partial ``routes`` (unlisted visits inactive)."""
        a = self._assignment(routes)
        if a is None:
            return None
        sol = self.model.SolveFromAssignmentWithParameters(
            a, self.params(self.cfg.first_solution, time_limit_s, gls=gls)
        )
        if sol is None:
            return None
        return SearchResult(
            self.routes_of(sol), int(sol.ObjectiveValue()), self.cfg.worker
        )

    def objective_of(self, routes: list[list[int]]) -> int:
        """Objective of complete ``routes`` in solver units (huge if infeasible)."""
        a = self._assignment(routes)
        if a is None:
            return 2**62
        p = self.params(self.cfg.first_solution, 1.0, gls=False)
        p.solution_limit = 1
        sol = self.model.SolveFromAssignmentWithParameters(a, p)
        return int(sol.ObjectiveValue()) if sol is not None else 2**62

    def sub_search(
        self, vehicles: list[int], routes: list[list[int]], time_limit_s: float
    ) -> list[list[int]] | None:
        """Re-solve the sub-problem of ``vehicles`` and their ``routes``.

        Returns new routes (original node numbers) serving the same visits, or
        ``None`` when the sub-search found nothing or would drop a visit.
        """
        nodes = [n for r in routes for n in r]
        sub_cm, nmap = subset(self.cm, vehicles, nodes)
        sub = RoutingSearch(sub_cm, replace(self.cfg, improve=False))
        back = {i: n for n, i in nmap.items()}
        res = sub.solve_from(
            [[nmap[n] for n in r] for r in routes], time_limit_s, gls=True
        )
        if res is None or sum(len(r) for r in res.routes) != len(nodes):
            return None
        return [[back[n] for n in r] for r in res.routes]


def solution_cost_scale(cm: CompiledModel, objective: str) -> float:
    """Divisor turning solver objective units into plan units."""
    return 1000.0 if objective == "cost" else float(cm.scale)


# ------------------------------------------------------------------ entry point
#: Seconds kept back from the time limit for process start-up and plan assembly,
#: plus a little per visit (timing the routes of 1,000 stops takes a moment).
RESERVE_S = 0.25
RESERVE_PER_VISIT_S = 0.0005


def travel_matrix(
    problem: Problem, provider: MatrixProvider | None = None
) -> tuple[TravelMatrix, list[LatLng] | None]:
    """The problem's own matrix, or one from ``provider`` over its coordinates."""
    if problem.matrix is not None:
        return problem.matrix, None
    points = point_list(problem)
    if not points:
        raise SolverError("problem has no locations")
    return (provider or GreatCircleProvider()).matrix(points), points


def solve(
    problem: Problem,
    params: SolverParams | None = None,
    *,
    provider: MatrixProvider | None = None,
    progress: ProgressCallback | None = None,
    _prepare: Callable[[CompiledModel], None] | None = None,
) -> RoutePlan:
    """Plan routes for ``problem``.

    Parameters
    ----------
    problem
        A validated problem from :class:`~routing.problem.ProblemBuilder`.
    params
        Time limit, seed, strategies, objective, workers.
    provider
        Travel matrix source for coordinate problems (great-circle by default).
    progress
        Called (from a helper thread when ``num_workers > 1``) with a
        :class:`~routing.workers.Progress` whenever the best objective improves.

    Returns
    -------
    RoutePlan
        Routes of used vehicles, unassigned jobs with reasons, totals.

    Raises
    ------
    SolverError
        When every worker failed.
    """
    params = params or SolverParams()
    t0 = time.time()
    matrix, points = travel_matrix(problem, provider)
    cm = compile_problem(problem, matrix, points)
    if _prepare is not None:
        _prepare(cm)
    set_aside = unservable_jobs(problem, cm, soft_time_windows=params.soft_time_windows)
    if set_aside:
        cm = compile_problem(problem, matrix, points, skip=frozenset(set_aside))
        if _prepare is not None:
            _prepare(cm)
    visits = len(cm.job_nodes())
    deadline = t0 + params.time_limit_s - RESERVE_S - RESERVE_PER_VISIT_S * visits
    results: list[SearchResult] = []
    if visits:
        configs = _configs(params)
        divisor = solution_cost_scale(cm, params.objective)
        results, errors = run_searches(
            _search, cm, configs, deadline, t0, progress, divisor
        )
        if not results and errors:
            raise SolverError("; ".join(errors))
    best = min(results, key=lambda r: r.objective) if results else None
    stats = {
        "workers": len(results),
        "iterations": sum(r.iterations for r in results),
        "best_worker": best.worker if best else None,
    }
    return assemble_plan(
        problem,
        cm,
        best.routes if best else None,
        set_aside,
        params.objective,
        t0,
        stats,
    )


def _configs(params: SolverParams) -> list[SearchConfig]:
    fs = params.first_solution_strategies
    return [
        SearchConfig(
            objective=params.objective,
            first_solution=fs[k % len(fs)],
            seed=params.seed * 1009 + k,
            soft_time_windows=params.soft_time_windows,
            lateness_penalty_per_s=params.lateness_penalty_per_s,
            minimise_vehicles=params.minimise_vehicles,
            improve=params.improve,
            worker=k,
        )
        for k in range(params.num_workers)
    ]


def _search(
    cm: CompiledModel,
    cfg: SearchConfig,
    deadline: float,
    report: Callable[[int], None] | None,
) -> SearchResult | None:
    return RoutingSearch(cm, cfg).run(deadline, report)
