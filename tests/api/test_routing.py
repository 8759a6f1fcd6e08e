"""Route planning over the API: solved at once, or queued to an rq worker."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

pytestmark = pytest.mark.asyncio

DEPOT = {"lat": 39.7392, "lng": -104.9903}


def problem(n_jobs: int = 6) -> dict:
    jobs = [
        {
            "id": f"j{i}",
            "location": {"lat": 39.70 + 0.01 * i, "lng": -104.95 - 0.01 * i},
            "service_s": 300,
            "demand": [1],
            "time_windows": [[0, 8 * 3600]],
        }
        for i in range(n_jobs)
    ]
    return {
        "dimensions": ["items"],
        "vehicles": [
            {
                "id": "v1",
                "start": DEPOT,
                "end": DEPOT,
                "capacity": [4],
                "shift": [0, 8 * 3600],
            },
            {
                "id": "v2",
                "start": DEPOT,
                "end": DEPOT,
                "capacity": [4],
                "shift": [0, 8 * 3600],
            },
        ],
        "jobs": jobs,
    }


async def test_small_plan_solved_within_the_request(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/routing/plans?wait=true",
        headers=t.headers("dispatcher"),
        json={"problem": problem(), "params": {"time_limit_s": 2}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    plan = body["plan"]
    visited = sorted(
        s["job_id"]
        for route in plan["routes"]
        for s in route["stops"]
        if s.get("job_id")
    )
    assert visited == [f"j{i}" for i in range(6)]
    assert plan["unassigned"] == []
    assert {f["geometry"]["type"] for f in body["geojson"]["features"]} >= {
        "LineString"
    }
    stored = await client.get(
        f"/v1/routing/plans/{body['id']}", headers=t.headers("dispatcher")
    )
    assert stored.json()["status"] == "done"
    other = await make_tenant("other")
    assert (
        await client.get(
            f"/v1/routing/plans/{body['id']}", headers=other.headers("dispatcher")
        )
    ).status_code == 404


async def test_queued_plan_is_solved_by_a_worker(client, make_tenant, test_env) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/routing/plans",
        headers=t.headers("dispatcher"),
        json={"problem": problem(), "params": {"time_limit_s": 2, "num_workers": 1}},
    )
    assert r.status_code == 202, r.text
    plan_id = r.json()["id"]
    assert (
        await client.get(
            f"/v1/routing/plans/{plan_id}", headers=t.headers("dispatcher")
        )
    ).json()["status"] == "queued"
    # A real worker process, as `geocommerce worker` runs in production.
    env = {
        **os.environ,
        "DATABASE_URL": test_env.database_url,
        "REDIS_URL": test_env.redis_url,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from api.cli import app; app()",
        "worker",
        "--burst",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, out.decode()[-2000:]
    r = await client.get(
        f"/v1/routing/plans/{plan_id}", headers=t.headers("dispatcher")
    )
    body = r.json()
    assert body["status"] == "done", body
    assert body["progress"]["status"] == "done"
    assert body["progress"]["elapsed_s"] > 0
    assert body["plan"]["vehicles_used"] >= 2
    g = await client.get(
        f"/v1/routing/plans/{plan_id}/geojson", headers=t.headers("dispatcher")
    )
    assert g.json()["type"] == "FeatureCollection"


async def test_bad_problems_are_422_naming_items(client, make_tenant) -> None:
    t = await make_tenant()
    bad = problem(2)
    bad["jobs"][1]["time_windows"] = [[5000, 100]]
    bad["jobs"][0]["demand"] = [-1]
    r = await client.post(
        "/v1/routing/plans?wait=true",
        headers=t.headers("dispatcher"),
        json={"problem": bad},
    )
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["errors"]}
    assert any(f.startswith("j0.") for f in fields)
    assert any(f.startswith("j1.") for f in fields)
    r = await client.post(
        "/v1/routing/plans?wait=true",
        headers=t.headers("dispatcher"),
        json={"problem": problem(), "params": {"time_limit_s": 120}},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "wait"


async def test_routing_needs_the_dispatcher_scope(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/routing/plans", headers=t.headers("checkout"), json={"problem": problem()}
    )
    assert r.status_code == 403
