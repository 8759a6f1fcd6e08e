import math

import numpy as np
import pytest

from routing.errors import InvalidProblemError
from routing.matrix import TravelMatrix
from routing.params import SolverParams
from routing.problem import Break, ProblemBuilder, ShipmentStep
from routing.types import LatLng, TimeWindow

DEPOT = LatLng(48.85, 2.35)
NEAR = LatLng(48.86, 2.36)


def _issues(build) -> set[tuple[str, str]]:
    with pytest.raises(InvalidProblemError) as err:
        build()
    return {(i.item_id, i.field) for i in err.value.issues}


class TestBuild:
    def test_valid_problem_is_frozen_and_padded(self):
        b = ProblemBuilder(dimensions=("kg", "l"))
        b.add_vehicle("v", start=DEPOT, capacity=(10, 5))
        b.add_job("a", NEAR, demand=(3,), time_windows=[(100, 200), (0, 50)])
        p = b.build()
        assert p.jobs[0].demand == (3, 0)
        assert p.jobs[0].time_windows == (TimeWindow(0, 50), TimeWindow(100, 200))
        assert p.vehicles[0].end == DEPOT  # returns to start by default
        with pytest.raises(AttributeError):
            p.jobs[0].id = "b"  # type: ignore[misc]

    def test_data_is_an_alias_of_build(self):
        b = ProblemBuilder()
        b.add_vehicle("v", start=DEPOT)
        assert b.data().vehicles[0].id == "v"

    def test_open_route(self):
        b = ProblemBuilder()
        b.add_vehicle("v", start=DEPOT, return_to_start=False)
        assert b.build().vehicles[0].end is None

    def test_error_is_a_value_error_naming_items(self):
        b = ProblemBuilder()
        b.add_vehicle("v", start=DEPOT)
        b.add_job("late", NEAR, time_windows=[(500, 100)])
        with pytest.raises(ValueError, match=r"late\.time_windows"):
            b.build()


class TestValidation:
    def test_each_offending_item_is_named(self):
        b = ProblemBuilder(dimensions=("kg",))
        b.add_vehicle("v1", start=DEPOT, capacity=(0,))
        b.add_vehicle("v1", start=DEPOT, capacity=(5,))
        b.add_job("tw", NEAR, time_windows=[(500, 100)])
        b.add_job("neg", NEAR, demand=(-1,))
        b.add_job("nan", LatLng(math.nan, 2.0))
        b.add_job("far", LatLng(91.0, 2.0))
        b.add_job("lng", LatLng(45.0, 181.0))
        b.add_job("dup", NEAR)
        b.add_job("dup", NEAR)
        b.add_job("prio", NEAR, priority=101)
        b.add_job("svc", NEAR, service_s=-5)
        b.add_shipment("ship", pickup=ShipmentStep(NEAR), delivery=None)
        b.add_shipment("ship2", pickup=None, delivery=ShipmentStep(NEAR))
        got = _issues(b.build)
        assert got >= {
            ("v1", "capacity"),
            ("v1", "id"),
            ("tw", "time_windows"),
            ("neg", "demand"),
            ("nan", "location"),
            ("far", "location"),
            ("lng", "location"),
            ("dup", "id"),
            ("prio", "priority"),
            ("svc", "service_s"),
            ("ship", "delivery"),
            ("ship2", "pickup"),
        }

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"shift": (100, 50)}, "shift"),
            ({"speed_factor": 0.0}, "speed_factor"),
            ({"speed_factor": math.inf}, "speed_factor"),
            ({"max_distance_m": 0}, "max_distance_m"),
            ({"max_stops": -1}, "max_stops"),
            ({"cost_per_km": -3}, "cost_per_km"),
            ({"break_": Break(600, ())}, "break.time_windows"),
            ({"capacity": (1, 2)}, "capacity"),
        ],
    )
    def test_bad_vehicle_fields(self, kwargs, field):
        b = ProblemBuilder(dimensions=("kg",))
        kwargs.setdefault("capacity", (5,))
        b.add_vehicle("veh", start=DEPOT, **kwargs)
        assert ("veh", field) in _issues(b.build)

    def test_no_vehicle(self):
        assert ("problem", "vehicles") in _issues(ProblemBuilder().build)

    def test_overlapping_windows(self):
        b = ProblemBuilder()
        b.add_vehicle("v", start=DEPOT)
        b.add_job("j", NEAR, time_windows=[(0, 100), (50, 200)])
        assert ("j", "time_windows") in _issues(b.build)

    def test_matrix_rows_checked(self):
        m = TravelMatrix(np.zeros((2, 2)), np.zeros((2, 2)))
        b = ProblemBuilder(matrix=m)
        b.add_vehicle("v", start=0)
        b.add_job("in", 1)
        b.add_job("out", 2)
        assert _issues(b.build) == {("out", "location")}

    def test_row_without_matrix(self):
        b = ProblemBuilder()
        b.add_vehicle("v", start=DEPOT)
        b.add_job("j", 3)
        got = _issues(b.build)
        assert ("j", "location") in got
        assert ("problem", "locations") in got


class TestParams:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"time_limit_s": 0},
            {"time_limit_s": math.nan},
            {"objective": "speed"},
            {"num_workers": 0},
            {"first_solution_strategies": ()},
            {"first_solution_strategies": ("NOPE",)},
            {"lateness_penalty_per_s": -1.0},
        ],
    )
    def test_rejects_bad_values(self, kwargs):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            SolverParams(**kwargs)
