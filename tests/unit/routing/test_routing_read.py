import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import vrplib

from routing.errors import InstanceFormatError, InvalidProblemError
from routing.feasibility import check_plan
from routing.params import SolverParams
from routing.read import (
    problem_from_dict,
    read_problem,
    read_solomon,
    read_vrplib,
    solve_file,
)
from routing.solver import solve
from routing.types import LatLng, TimeWindow

DATA = Path(__file__).parent / "data"
R101_25 = DATA / "R101_25.txt"  # first 25 customers of Solomon's R101
TINY = DATA / "tiny.vrp"


@cache
def r101_25():
    return read_solomon(R101_25)


class TestSolomon:
    def test_reads_vehicles_and_customers(self):
        p = r101_25()
        assert len(p.vehicles) == 25
        assert p.vehicles[0].capacity == (200,)
        assert p.vehicles[0].shift == TimeWindow(0, 230)
        assert len(p.jobs) == 25
        j1 = p.jobs[0]
        assert (j1.id, j1.location, j1.demand, j1.service_s) == ("1", 1, (10,), 10)
        assert j1.time_windows == (TimeWindow(161, 171),)
        # depot (35, 35) to customer 1 (41, 49), Euclidean unrounded
        assert p.matrix.distance_m[0, 1] == pytest.approx((36 + 196) ** 0.5)

    def test_agrees_with_vrplib(self):
        ref = vrplib.read_instance(str(R101_25), instance_format="solomon")
        p = r101_25()
        assert np.allclose(p.matrix.distance_m, ref["edge_weight"])
        assert [j.demand[0] for j in p.jobs] == list(ref["demand"][1:])

    def test_solves_feasibly(self):
        p = r101_25()
        plan = solve(p, SolverParams(time_limit_s=2, num_workers=2, seed=1))
        assert not plan.unassigned
        rep = check_plan(p, plan)
        assert rep.ok, rep.violations
        # best known for R101 with 25 customers is 617.1; allow a small margin
        assert rep.distance_m == pytest.approx(plan.distance_m)
        assert plan.distance_m < 617.1 * 1.03

    def test_bad_file(self, tmp_path):
        bad = tmp_path / "bad.txt"
        bad.write_text("R1\n\nVEHICLE\nNUMBER CAPACITY\n x y\n")
        with pytest.raises(InstanceFormatError, match="VEHICLE"):
            read_solomon(bad)


class TestVrplib:
    def test_reads_cvrp(self):
        p = read_vrplib(TINY)
        assert len(p.jobs) == 6
        assert p.vehicles[0].capacity == (10,)
        assert p.jobs[0].id == "1"
        assert p.matrix.distance_m[0, 2] == 20.0

    def test_solve_file_lists_customer_ids(self):
        out = solve_file(TINY, 1.0, num_workers=1)
        visited = sorted(c for r in out["routes"] for c in r)
        assert visited == [1, 2, 3, 4, 5, 6]
        # pairs on each axis: 2 * (20 + 20 + 20) = 120 is optimal with capacity 10
        assert out["distance"] == pytest.approx(120.0)
        assert json.dumps(out)  # JSON-able


class TestProjectJson:
    DOC = {  # noqa: RUF012
        "dimensions": ["kg"],
        "vehicles": [
            {
                "id": "van",
                "start": {"lat": 48.85, "lng": 2.35},
                "shift": [28800, 64800],
                "capacity": [100],
                "break": {"duration_s": 1800, "time_windows": [[43200, 46800]]},
            }
        ],
        "jobs": [
            {
                "id": "a",
                "location": {"lat": 48.86, "lng": 2.36},
                "demand": [5],
                "time_windows": [[30000, 40000]],
                "service_s": 300,
            }
        ],
        "shipments": [
            {
                "id": "s",
                "pickup": {"location": {"lat": 48.84, "lng": 2.34}},
                "delivery": {"location": {"lat": 48.87, "lng": 2.33}},
                "demand": [10],
            }
        ],
    }

    def test_round_trip_and_solve(self, tmp_path):
        p = problem_from_dict(self.DOC)
        assert p.vehicles[0].start == LatLng(48.85, 2.35)
        assert p.vehicles[0].break_.duration_s == 1800
        assert p.shipments[0].demand == (10,)
        f = tmp_path / "p.json"
        f.write_text(json.dumps(self.DOC))
        out = solve_file(f, 1.0, num_workers=1)
        assert sorted(out["routes"][0]) == ["a", "s", "s"]

    def test_invalid_json_problem_names_items(self):
        doc = json.loads(json.dumps(self.DOC))
        doc["jobs"][0]["demand"] = [-1]
        del doc["shipments"][0]["delivery"]
        with pytest.raises(InvalidProblemError) as err:
            problem_from_dict(doc)
        got = {(i.item_id, i.field) for i in err.value.issues}
        assert got == {("a", "demand"), ("s", "delivery")}

    def test_missing_key(self):
        with pytest.raises(InstanceFormatError, match="location"):
            problem_from_dict({"vehicles": [{"id": "v"}], "jobs": [{"id": "x"}]})

    def test_read_problem_dispatches(self):
        assert len(read_problem(R101_25).jobs) == 25
        assert len(read_problem(TINY).jobs) == 6
