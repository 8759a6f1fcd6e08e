import random
import time
from pathlib import Path

import numpy as np

from routing import improve, sisr
from routing.feasibility import check_routes
from routing.model import compile_problem
from routing.problem import ProblemBuilder, ShipmentStep
from routing.read import read_solomon
from routing.solver import RoutingSearch, SearchConfig, SearchResult, travel_matrix

R101_25 = Path(__file__).parent / "data" / "R101_25.txt"


def _search(problem, worker=0):
    m, pts = travel_matrix(problem)
    cm = compile_problem(problem, m, pts)
    cfg = SearchConfig(
        "distance", "PARALLEL_CHEAPEST_INSERTION", 1, False, 100.0, False, True, worker
    )
    return RoutingSearch(cm, cfg)


def _by_id(problem, search, routes):
    cm = search.cm
    return {
        problem.vehicles[k].id: [cm.refs[n].item_id for n in r]
        for k, r in enumerate(routes)
    }


def _one_route_per_job(search):
    """A poor but feasible start: every customer on its own vehicle."""
    jobs = search.cm.job_nodes()
    routes = [[] for _ in search.cm.vehicles]
    for k, n in enumerate(jobs):
        routes[k].append(n)
    return routes


class TestSisr:
    def test_improves_and_stays_feasible(self):
        problem = read_solomon(R101_25)
        s = _search(problem)
        start = _one_route_per_job(s)
        start_cost = s.objective_of(start)
        routes, cost, rounds = sisr.improve_sisr(
            s.cm, s.arc_cost, s.transit, start, time.time() + 1.0, random.Random(3)
        )
        assert rounds > 50
        assert cost < 0.8 * start_cost
        assert cost == s.objective_of(routes)  # same units as OR-Tools
        rep = check_routes(problem, _by_id(problem, s, routes))
        assert rep.ok, rep.violations

    def test_incremental_updates_match_a_full_recompute(self):
        problem = read_solomon(R101_25)
        s = _search(problem)
        cm = s.cm
        d = sisr._data(cm, s.arc_cost, s.transit)
        cur = [sisr._Route(d, k, list(r)) for k, r in enumerate(_one_route_per_job(s))]
        route_of = [-1] * cm.num_nodes
        for r in cur:
            for n in r.nodes:
                route_of[n] = r.k
        jobs = cm.job_nodes()
        rng = random.Random(7)

        def check():
            for r in cur:
                ref = sisr._Route(d, r.k, r.nodes)
                assert (r.seq, r.arc, r.cost, r.load) == (
                    ref.seq,
                    ref.arc,
                    ref.cost,
                    ref.load,
                )
                assert r.start_t == ref.start_t
                assert r.latest[1:] == ref.latest[1:]
                assert all(route_of[n] == r.k for n in r.nodes)

        for step in range(400):
            saved: dict[int, tuple] = {}
            removed = sisr._ruin(d, cur, route_of, jobs, rng, saved)
            assert removed is not None
            check()
            ok = sisr._recreate(d, cur, route_of, removed, rng, saved)
            if ok and step % 3:
                check()
                continue
            for k, state in saved.items():  # undo, as a rejected iteration
                cur[k].restore(state)
                for n in state[0][1:-1]:
                    route_of[n] = k
            check()
        routes = [r.nodes for r in cur]
        assert sorted(n for r in routes for n in r) == sorted(jobs)
        assert check_routes(problem, _by_id(problem, s, routes)).ok

    def test_eligibility(self):
        problem = read_solomon(R101_25)
        assert sisr.eligible(_search(problem).cm, "distance")
        assert not sisr.eligible(_search(problem).cm, "cost")
        d = np.abs(np.subtract.outer([0.0, 1, 2], [0.0, 1, 2]))
        from routing.matrix import TravelMatrix

        b = ProblemBuilder(matrix=TravelMatrix(d, d.copy()))
        b.add_vehicle("v", start=0)
        b.add_shipment("s", pickup=ShipmentStep(1), delivery=ShipmentStep(2))
        assert not sisr.eligible(_search(b.build()).cm, "distance")


class TestOrToolsSteps:
    def test_ruin_recreate_never_worsens(self):
        problem = read_solomon(R101_25)
        s = _search(problem, worker=1)
        start = _one_route_per_job(s)
        best = SearchResult(start, s.objective_of(start), 1)
        out = improve.ruin_recreate(s, best, time.time() + 1.0)
        assert out.objective < best.objective
        assert out.iterations > 0
        assert check_routes(problem, _by_id(problem, s, out.routes)).ok

    def test_decompose_never_worsens(self):
        problem = read_solomon(R101_25)
        s = _search(problem)
        start = _one_route_per_job(s)
        best = SearchResult(start, s.objective_of(start), 0)
        out = improve.decompose(s, best, time.time() + 1.0)
        assert out.objective < best.objective
        assert check_routes(problem, _by_id(problem, s, out.routes)).ok
        assert sorted(n for r in out.routes for n in r) == sorted(s.cm.job_nodes())


class TestTimeSplit:
    def test_sisr_gets_most_of_the_time_on_small_plain_models(self):
        s = _search(read_solomon(R101_25))
        assert improve.uses_sisr(s)
        assert improve.first_phase_share(s) == improve.SISR_FIRST_PHASE_SHARE
        assert improve.first_phase_share(s) < improve.FIRST_PHASE_SHARE

    def test_other_models_keep_the_longer_first_phase(self):
        d = np.abs(np.subtract.outer([0.0, 1, 2], [0.0, 1, 2]))
        from routing.matrix import TravelMatrix

        b = ProblemBuilder(matrix=TravelMatrix(d, d.copy()))
        b.add_vehicle("v", start=0)
        b.add_shipment("s", pickup=ShipmentStep(1), delivery=ShipmentStep(2))
        s = _search(b.build())
        assert not improve.uses_sisr(s)
        assert improve.first_phase_share(s) == improve.FIRST_PHASE_SHARE

    def test_a_first_phase_too_short_for_a_first_solution_still_plans(
        self, monkeypatch
    ):
        from routing.params import SolverParams
        from routing.solver import solve

        monkeypatch.setattr(improve, "SISR_FIRST_PHASE_SHARE", 1e-9)
        problem = read_solomon(R101_25)
        plan = solve(problem, SolverParams(time_limit_s=1.0, num_workers=1))
        assert not plan.unassigned
        assert sum(len(r.job_ids()) for r in plan.routes) == len(problem.jobs)
