import json

import numpy as np
import pytest

from routing.feasibility import check_routes
from routing.matrix import TravelMatrix
from routing.params import SolverParams
from routing.problem import ProblemBuilder, ShipmentStep
from routing.solver import solve
from routing.types import LatLng


def problem():
    xs = np.array([0, 10, 20, 30], dtype=float)
    d = np.abs(xs[:, None] - xs[None, :])
    b = ProblemBuilder(dimensions=("kg",), matrix=TravelMatrix(d, d.copy()))
    b.add_vehicle("v", start=0, capacity=(5,), shift=(0, 200))
    b.add_vehicle("w", start=0, capacity=(5,), shift=(0, 200), skills={"cold"})
    b.add_job("a", 1, demand=(3,), time_windows=[(0, 15)])
    b.add_job("b", 2, demand=(3,))
    b.add_job("ice", 3, skills={"cold"})
    b.add_shipment("s", pickup=ShipmentStep(3), delivery=ShipmentStep(1), demand=(2,))
    return b.build()


class TestCheckRoutes:
    def test_accepts_a_good_plan(self):
        rep = check_routes(problem(), {"v": ["a"], "w": ["ice", "s", "b", "s"]})
        assert rep.ok, rep.violations
        assert rep.distance_m == pytest.approx(20 + 60)

    @pytest.mark.parametrize(
        ("routes", "unassigned", "needle"),
        [
            ({"v": ["a", "b"], "w": ["ice", "s", "s"]}, (), "load 6"),
            ({"v": ["b", "a"], "w": ["ice", "s", "s"]}, (), "after its last window"),
            ({"v": ["a", "b", "ice"], "w": ["s", "s"]}, (), "lacks skills"),
            ({"v": ["a"], "w": ["ice", "s", "s"]}, (), "b visited 0 times"),
            ({"v": ["a", "a"], "w": ["b", "ice", "s", "s"]}, (), "a visited 2 times"),
            ({"v": ["a"], "w": ["ice", "s", "b"]}, (), "not picked and delivered"),
            ({"v": ["a"], "w": ["ice", "b"]}, ("s",), None),
            ({"v": ["a", "b"], "w": ["ice"]}, ("b", "s"), "declared unassigned"),
            ({"x": ["a"]}, (), "unknown vehicle"),
        ],
    )
    def test_finds_each_violation(self, routes, unassigned, needle):
        rep = check_routes(problem(), routes, unassigned=unassigned)
        if needle is None:
            assert rep.ok, rep.violations
        else:
            assert any(needle in v for v in rep.violations), rep.violations

    def test_shift_end(self):
        p = problem()
        rep = check_routes(p, {"v": ["a", "b"], "w": ["ice", "s", "s"]})
        assert not any("shift end" in v for v in rep.violations)
        xs = np.array([0, 150], dtype=float)
        d = np.abs(xs[:, None] - xs[None, :])
        b = ProblemBuilder(matrix=TravelMatrix(d, d.copy()))
        b.add_vehicle("v", start=0, shift=(0, 200))
        b.add_job("far", 1)
        rep = check_routes(b.build(), {"v": ["far"]})
        assert any("shift end" in v for v in rep.violations)


class TestPlanOutput:
    def test_json_and_geojson(self):
        depot = LatLng(48.85, 2.35)
        b = ProblemBuilder(dimensions=("kg",))
        b.add_vehicle("van", start=depot, capacity=(10,), shift=(0, 86_400))
        b.add_job("a", LatLng(48.86, 2.36), demand=(2,), service_s=60)
        b.add_job("b", LatLng(48.84, 2.37), demand=(3,), service_s=60)
        plan = solve(b.build(), SolverParams(time_limit_s=1, num_workers=1))
        doc = json.loads(json.dumps(plan.to_json()))
        route = doc["routes"][0]
        assert doc["vehicles_used"] == 1
        assert [s["kind"] for s in route["stops"]] == ["start", "job", "job", "end"]
        assert route["stops"][0]["load_after"] == [5]
        assert route["stops"][-1]["load_after"] == [0]
        dists = [s["distance_m"] for s in route["stops"]]
        assert dists == sorted(dists)
        assert doc["distance_m"] == pytest.approx(dists[-1], abs=0.01)
        for s in route["stops"][1:]:
            assert s["departure_s"] >= s["arrival_s"] + s["waiting_s"]
        gj = plan.to_geojson()
        lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
        points = [f for f in gj["features"] if f["geometry"]["type"] == "Point"]
        assert len(lines) == 1
        assert lines[0]["geometry"]["coordinates"][0] == [2.35, 48.85]  # lng, lat
        assert lines[0]["geometry"]["coordinates"][-1] == [2.35, 48.85]
        assert len(lines[0]["geometry"]["coordinates"]) == 4
        assert {p["properties"]["job_id"] for p in points} == {"a", "b"}

    def test_geojson_with_matrix_rows_needs_coordinates(self):
        xs = np.array([0, 10], dtype=float)
        d = np.abs(xs[:, None] - xs[None, :])
        b = ProblemBuilder(matrix=TravelMatrix(d, d.copy()))
        b.add_vehicle("v", start=0)
        b.add_job("a", 1)
        plan = solve(b.build(), SolverParams(time_limit_s=1, num_workers=1))
        assert plan.to_geojson()["features"] == []
        coords = [LatLng(0, 0), LatLng(0, 0.001)]
        feats = plan.to_geojson(coords)["features"]
        assert feats[0]["geometry"]["coordinates"] == [[0, 0], [0.001, 0], [0, 0]]
