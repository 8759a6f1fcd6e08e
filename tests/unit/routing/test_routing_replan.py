import numpy as np
import pytest

from routing.errors import InvalidProblemError
from routing.feasibility import check_plan
from routing.matrix import TravelMatrix
from routing.params import SolverParams
from routing.problem import ProblemBuilder, ShipmentStep
from routing.replan import RouteInProgress, replan

FAST = SolverParams(time_limit_s=1.0, seed=3, num_workers=1)


def line_problem():
    """Depot at 0, stops along a line at 10..60 (rows 1..6)."""
    xs = np.array([0, 10, 20, 30, 40, 50, 60], dtype=float)
    d = np.abs(xs[:, None] - xs[None, :])
    b = ProblemBuilder(dimensions=("kg",), matrix=TravelMatrix(d, d.copy()))
    b.add_vehicle("a", start=0, capacity=(100,), shift=(0, 10_000))
    b.add_vehicle("b", start=0, capacity=(100,), shift=(0, 10_000))
    for i in range(1, 5):
        b.add_job(f"j{i}", i, demand=(1,))
    b.add_job("new", 5, demand=(1,))
    b.add_shipment("s", pickup=ShipmentStep(6), delivery=ShipmentStep(2), demand=(7,))
    return b.build()


class TestReplan:
    def test_done_stops_disappear_and_locked_stay_first(self):
        p = line_problem()
        # "a" is at row 2 (20 m) at t=100, did j1 and j2, committed to j4 then j3
        state = RouteInProgress("a", 2, 100, done=("j1", "j2"), locked=("j4", "j3"))
        plan = replan(p, [state], FAST)
        ids = [j for r in plan.routes for j in r.job_ids()]
        assert "j1" not in ids
        assert "j2" not in ids
        route_a = plan.route_of("a")
        assert route_a.job_ids()[:2] == ["j4", "j3"]
        assert route_a.stops[0].departure_s >= 100
        assert route_a.stops[0].location == 2
        assert sorted(ids) == sorted(["j3", "j4", "new", "s", "s"])
        assert not plan.unassigned

    def test_onboard_shipment_is_delivered_by_its_vehicle(self):
        p = line_problem()
        state_b = RouteInProgress("b", 6, 50, picked_up=("s",))
        plan = replan(p, [state_b], FAST)
        route_b = plan.route_of("b")
        assert "s" in route_b.job_ids()
        stop = next(s for s in route_b.stops if s.job_id == "s")
        assert stop.kind == "job"  # the delivery only, the pickup is done
        assert route_b.stops[0].load_after[0] >= 7

    def test_locked_stop_kept_even_when_late(self):
        xs = np.array([0, 100], dtype=float)
        d = np.abs(xs[:, None] - xs[None, :])
        b = ProblemBuilder(matrix=TravelMatrix(d, d.copy()))
        b.add_vehicle("a", start=0)
        b.add_job("late", 1, time_windows=[(0, 50)])
        state = RouteInProgress("a", 0, 40, locked=("late",))
        plan = replan(b.build(), [state], FAST)
        assert plan.route_of("a").job_ids() == ["late"]

    def test_unknown_ids_are_named(self):
        p = line_problem()
        with pytest.raises(InvalidProblemError) as err:
            replan(p, [RouteInProgress("zz", 0, 0, done=("nope",))], FAST)
        got = {(i.item_id, i.field) for i in err.value.issues}
        assert got == {("zz", "vehicle_id"), ("nope", "done")}

    def test_plan_without_states_equals_a_fresh_solve(self):
        p = line_problem()
        plan = replan(p, [], FAST)
        assert check_plan(p, plan).ok
        assert not plan.unassigned
