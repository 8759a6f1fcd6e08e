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
