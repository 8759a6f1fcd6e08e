import time

import numpy as np
import pytest

from routing.feasibility import check_plan
from routing.matrix import TravelMatrix
from routing.params import SolverParams
from routing.problem import Break, ProblemBuilder, ShipmentStep
from routing.solver import solve
from routing.types import LatLng

FAST = SolverParams(time_limit_s=1.0, seed=7, num_workers=1)
FAST2 = SolverParams(time_limit_s=1.5, seed=7, num_workers=2)


def line_matrix(xs: list[float]) -> TravelMatrix:
    """Points on a line; distance |a-b| metres, 1 m/s."""
    a = np.asarray(xs, dtype=float)
    d = np.abs(a[:, None] - a[None, :])
    return TravelMatrix(d, d.copy())


def grid_matrix(points: list[tuple[float, float]]) -> TravelMatrix:
    a = np.asarray(points, dtype=float)
    d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))
    return TravelMatrix(d, d.copy())


class TestKnownOptimum:
    def test_line_single_vehicle(self):
        # depot at 0, jobs at -30, -10, 20, 50: optimum is 2 * (50 + 30) = 160
        b = ProblemBuilder(matrix=line_matrix([0, -30, -10, 20, 50]))
        b.add_vehicle("v", start=0)
        for i in range(1, 5):
            b.add_job(f"j{i}", i)
        plan = solve(b.build(), FAST)
        assert plan.distance_m == pytest.approx(160.0)
        assert not plan.unassigned
        assert set(plan.routes[0].job_ids()) == {"j1", "j2", "j3", "j4"}

    def test_square_two_vehicles_capacity(self):
        # 4 corners of a 10x10 square around the depot, capacity 2 each:
        # best is two routes over adjacent corners: 2 * (7.07 + 10 + 7.07)
        pts = [(0, 0), (5, 5), (5, -5), (-5, 5), (-5, -5)]
        b = ProblemBuilder(dimensions=("items",), matrix=grid_matrix(pts))
        b.add_vehicle("a", start=0, capacity=(2,))
        b.add_vehicle("b", start=0, capacity=(2,))
        for i in range(1, 5):
            b.add_job(f"c{i}", i, demand=(1,))
        plan = solve(b.build(), FAST)
        expect = 2 * (2 * 50**0.5 + 10)
        assert plan.distance_m == pytest.approx(expect, rel=1e-6)
        assert plan.vehicles_used == 2
        assert all(r.stops[-2].load_after == (0,) for r in plan.routes)
        assert all(r.stops[0].load_after == (2,) for r in plan.routes)

    def test_two_workers_give_same_optimum(self):
        b = ProblemBuilder(matrix=line_matrix([0, -30, -10, 20, 50]))
        b.add_vehicle("v", start=0)
        for i in range(1, 5):
            b.add_job(f"j{i}", i)
        plan = solve(b.build(), FAST2)
        assert plan.distance_m == pytest.approx(160.0)
        assert plan.stats["workers"] == 2


class TestConstraints:
    def test_time_windows_force_order(self):
        # nearest-first would visit 1 then 2, windows force 2 first
        b = ProblemBuilder(matrix=line_matrix([0, 10, 20]))
        b.add_vehicle("v", start=0, shift=(0, 1000))
        b.add_job("near", 1, time_windows=[(100, 200)])
        b.add_job("far", 2, time_windows=[(0, 30)])
        problem = b.build()
        plan = solve(problem, FAST)
        assert plan.routes[0].job_ids() == ["far", "near"]
        far, near = plan.routes[0].stops[1:3]
        assert far.arrival_s == pytest.approx(20.0)
        assert near.arrival_s == pytest.approx(30.0)
        assert near.waiting_s == pytest.approx(70.0)
        assert near.departure_s == pytest.approx(100.0)
        assert check_plan(problem, plan).ok

    def test_multiple_windows_use_the_second(self):
        b = ProblemBuilder(matrix=line_matrix([0, 50]))
        b.add_vehicle("v", start=0)
        b.add_job("j", 1, service_s=5, time_windows=[(0, 10), (200, 300)])
        plan = solve(b.build(), FAST)
        stop = plan.routes[0].stops[1]
        assert stop.service_start_s == pytest.approx(200.0)

    def test_pickup_before_delivery_same_vehicle(self):
        # delivery point is nearer the depot than the pickup
        b = ProblemBuilder(dimensions=("kg",), matrix=line_matrix([0, 10, 40, 30]))
        b.add_vehicle("v1", start=0, capacity=(5,))
        b.add_vehicle("v2", start=0, capacity=(5,))
        b.add_shipment(
            "s", pickup=ShipmentStep(2), delivery=ShipmentStep(1), demand=(5,)
        )
        b.add_job("d", 3, demand=(0,))
        problem = b.build()
        plan = solve(problem, FAST)
        route = next(r for r in plan.routes if "s" in r.job_ids())
        kinds = [(s.job_id, s.kind) for s in route.stops if s.job_id == "s"]
        assert kinds == [("s", "pickup"), ("s", "delivery")]
        loads = {s.kind: s.load_after for s in route.stops if s.job_id == "s"}
        assert loads == {"pickup": (5,), "delivery": (0,)}
        assert check_plan(problem, plan).ok

    def test_skills_pick_the_right_vehicle(self):
        b = ProblemBuilder(matrix=line_matrix([0, 10, 20]))
        b.add_vehicle("plain", start=0)
        b.add_vehicle("fridge", start=0, skills={"cold"}, fixed_cost=0)
        b.add_job("ice", 1, skills={"cold"})
        b.add_job("box", 2)
        plan = solve(b.build(), FAST)
        assert "ice" in plan.route_of("fridge").job_ids()

    def test_capacity_in_two_dimensions(self):
        b = ProblemBuilder(dimensions=("kg", "l"), matrix=line_matrix([0, 1, 2, 3]))
        b.add_vehicle("a", start=0, capacity=(10, 2))
        b.add_vehicle("b", start=0, capacity=(10, 2))
        for i in range(1, 4):
            b.add_job(f"j{i}", i, demand=(1, 1))
        problem = b.build()
        plan = solve(problem, FAST)
        assert plan.vehicles_used == 2
        assert check_plan(problem, plan).ok

    def test_open_route_ends_at_last_stop(self):
        b = ProblemBuilder(matrix=line_matrix([0, 10, 20]))
        b.add_vehicle("v", start=0, return_to_start=False)
        b.add_job("a", 1)
        b.add_job("b", 2)
        plan = solve(b.build(), FAST)
        assert plan.distance_m == pytest.approx(20.0)
        assert plan.routes[0].job_ids() == ["a", "b"]

    def test_max_stops_splits_routes(self):
        b = ProblemBuilder(matrix=line_matrix([0, 1, 2, 3, 4]))
        b.add_vehicle("a", start=0, max_stops=2)
        b.add_vehicle("b", start=0, max_stops=2)
        for i in range(1, 5):
            b.add_job(f"j{i}", i)
        plan = solve(b.build(), FAST)
        assert sorted(len(r.job_ids()) for r in plan.routes) == [2, 2]

    def test_break_is_scheduled_in_its_window(self):
        b = ProblemBuilder(matrix=line_matrix([0, 100, 200]))
        b.add_vehicle("v", start=0, shift=(0, 2000), break_=Break(300, ((50, 400),)))
        b.add_job("a", 1, service_s=10)
        b.add_job("b", 2, service_s=10)
        plan = solve(b.build(), FAST)
        r = plan.routes[0]
        assert r.break_start_s is not None
        assert 50 <= r.break_start_s <= 400
        assert r.stops[-1].arrival_s >= 200 + 200 + 20 + 300 - 1e-6

    def test_priority_job_wins_scarce_capacity(self):
        b = ProblemBuilder(dimensions=("kg",), matrix=line_matrix([0, 10, 10]))
        b.add_vehicle("v", start=0, capacity=(1,))
        b.add_job("low", 1, demand=(1,))
        b.add_job("high", 2, demand=(1,), priority=50)
        plan = solve(b.build(), FAST)
        assert plan.routes[0].job_ids() == ["high"]
        assert [(u.job_id, u.reason) for u in plan.unassigned] == [
            ("low", "no_vehicle_left")
        ]


class TestUnassigned:
    def test_reasons(self):
        b = ProblemBuilder(
            dimensions=("kg",), matrix=line_matrix([0, 10, 20, 5000, 30])
        )
        b.add_vehicle(
            "v", start=0, capacity=(10,), shift=(0, 10_000), max_distance_m=5_000
        )
        b.add_job("ok", 1, demand=(1,))
        b.add_job("heavy", 2, demand=(11,))
        b.add_job("remote", 3)
        b.add_job("cold", 4, skills={"cold"})
        b.add_job("past", 1, time_windows=[(0, 5)])
        plan = solve(b.build(), FAST)
        reasons = {u.job_id: u.reason for u in plan.unassigned}
        assert reasons == {
            "heavy": "capacity",
            "remote": "distance",
            "cold": "skills",
            "past": "time_window",
        }
        assert plan.routes[0].job_ids() == ["ok"]

    def test_nothing_servable_gives_empty_plan(self):
        b = ProblemBuilder(matrix=line_matrix([0, 10]))
        b.add_vehicle("v", start=0)
        b.add_job("cold", 1, skills={"cold"})
        plan = solve(b.build(), FAST)
        assert plan.routes == ()
        assert plan.unassigned[0].reason == "skills"


class TestObjectivesAndLimits:
    def test_soft_time_windows_serve_late(self):
        b = ProblemBuilder(matrix=line_matrix([0, 100]))
        b.add_vehicle("v", start=0)
        b.add_job("j", 1, time_windows=[(0, 50)])
        hard = solve(b.build(), FAST)
        soft = solve(
            b.build(),
            SolverParams(
                time_limit_s=1,
                num_workers=1,
                soft_time_windows=True,
                lateness_penalty_per_s=1,
            ),
        )
        assert hard.unassigned[0].reason == "time_window"
        assert soft.routes[0].stops[1].late_s == pytest.approx(50.0)

    def test_cost_objective_prefers_cheap_vehicle(self):
        b = ProblemBuilder(matrix=line_matrix([0, 1000, 2000]))
        b.add_vehicle("dear", start=0, cost_per_km=500, fixed_cost=1000)
        b.add_vehicle("cheap", start=0, cost_per_km=100, fixed_cost=1000)
        b.add_job("a", 1)
        b.add_job("b", 2)
        plan = solve(
            b.build(), SolverParams(time_limit_s=1, num_workers=1, objective="cost")
        )
        assert [r.vehicle_id for r in plan.routes] == ["cheap"]
        assert plan.cost == 1000 + 100 * 4
        assert plan.objective_value == pytest.approx(1400)

    def test_minimise_vehicles(self):
        pts = [(0, 0), (10, 0), (-10, 0)]
        b = ProblemBuilder(matrix=grid_matrix(pts))
        b.add_vehicle("a", start=0)
        b.add_vehicle("b", start=0)
        b.add_job("e", 1)
        b.add_job("w", 2)
        plan = solve(
            b.build(),
            SolverParams(time_limit_s=1, num_workers=1, minimise_vehicles=True),
        )
        assert plan.vehicles_used == 1

    def test_time_objective_reports_duration(self):
        b = ProblemBuilder(matrix=line_matrix([0, 10]))
        b.add_vehicle("v", start=0)
        b.add_job("j", 1, service_s=5)
        plan = solve(
            b.build(), SolverParams(time_limit_s=1, num_workers=1, objective="time")
        )
        assert plan.objective_value == pytest.approx(25.0)

    @pytest.mark.parametrize("workers", [1, 2])
    def test_time_limit_is_honoured(self, workers):
        rng = np.random.default_rng(3)
        pts = rng.uniform(0, 1000, size=(121, 2))
        b = ProblemBuilder(
            dimensions=("q",), matrix=grid_matrix([tuple(p) for p in pts])
        )
        for k in range(12):
            b.add_vehicle(f"v{k}", start=0, capacity=(80,))
        for i in range(1, 121):
            b.add_job(str(i), i, demand=(int(rng.integers(1, 10)),))
        problem = b.build()
        t = time.time()
        plan = solve(problem, SolverParams(time_limit_s=1.5, num_workers=workers))
        assert time.time() - t < 1.5 + 0.5
        assert check_plan(problem, plan).ok
        assert not plan.unassigned

    def test_progress_reports_improving_costs(self):
        rng = np.random.default_rng(5)
        pts = rng.uniform(0, 100, size=(30, 2))
        b = ProblemBuilder(matrix=grid_matrix([tuple(p) for p in pts]))
        for k in range(3):
            b.add_vehicle(f"v{k}", start=0)
        for i in range(1, 30):
            b.add_job(str(i), i)
        seen = []
        for workers in (1, 2):
            seen.clear()
            solve(
                b.build(),
                SolverParams(time_limit_s=1, num_workers=workers),
                progress=seen.append,
            )
            assert seen, workers
            costs = [p.best_objective for p in seen]
            if workers == 2:
                assert costs == sorted(costs, reverse=True)
            assert all(p.elapsed_s >= 0 for p in seen)


class TestCoordinates:
    def test_latlng_problem_uses_great_circle(self):
        depot = LatLng(48.8566, 2.3522)
        b = ProblemBuilder()
        b.add_vehicle("v", start=depot, shift=(8 * 3600, 18 * 3600))
        b.add_job("n", LatLng(48.8666, 2.3522), service_s=120)
        b.add_job("s", LatLng(48.8466, 2.3522), service_s=120)
        plan = solve(b.build(), FAST)
        # 4 legs of ~1.11 km times the 1.3 detour factor
        assert plan.distance_m == pytest.approx(4 * 1112 * 1.3, rel=0.01)
        assert plan.routes[0].stops[0].departure_s >= 8 * 3600
