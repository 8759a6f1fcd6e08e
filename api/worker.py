"""The routing solver worker: an rq worker on the ``routing`` queue.

rq is chosen over arq, Dramatiq and Celery because a solve is CPU-bound,
synchronous code (OR-Tools and numpy): rq runs each job in a forked work horse
with a hard timeout, needs nothing but Redis, and adding machines that run
``geocommerce worker`` adds solvers. Progress goes to Redis as the search improves;
the result goes to PostGIS.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from redis import Redis as SyncRedis

from api.settings import get_settings
from data.db import bind_tenant_lazily, make_async_owner_engine, make_sessionmaker
from routing.prepositioning_repository import PrepositioningRepository
from routing.prepositioning_service import PlanRunRequest
from routing.prepositioning_service import run_plan as run_prepositioning_plan
from routing.prepositioning_state import PrepositioningProgress
from routing.repository import RoutePlanRepository
from routing.service import PlanRequest, plan_documents, solve_request
from routing.state import ProgressWriter
from routing.workers import Progress


async def _store(
    tenant_id: uuid.UUID,
    plan_id: uuid.UUID,
    *,
    status: str | None = None,
    result: tuple[dict[str, Any], dict[str, Any]] | None = None,
    error: str | None = None,
) -> None:
    engine = make_async_owner_engine(get_settings().resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            repo = RoutePlanRepository(session, tenant_id)
            if result is not None:
                await repo.save_result(plan_id, *result)
            elif error is not None:
                await repo.save_failure(plan_id, error)
            elif status is not None:
                await repo.set_status(plan_id, status)
    finally:
        await engine.dispose()


def run_plan(
    tenant_id: str, plan_id: str, problem: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The rq job: solve, report progress to Redis, store the plan in PostGIS."""
    tid, pid = uuid.UUID(tenant_id), uuid.UUID(plan_id)
    redis = SyncRedis.from_url(get_settings().resolved_redis_url())
    writer = ProgressWriter(redis, tid, pid)
    started = time.time()
    writer.update("running", 0.0)
    asyncio.run(_store(tid, pid, status="running"))

    def progress(p: Progress) -> None:
        writer.update("running", time.time() - started, p.best_objective)

    try:
        plan = solve_request(PlanRequest(problem, params), progress)
    except Exception as exc:
        writer.update("failed", time.time() - started)
        asyncio.run(_store(tid, pid, error=f"{type(exc).__name__}: {exc}"))
        raise
    documents = plan_documents(plan)
    asyncio.run(_store(tid, pid, result=documents))
    writer.update("done", time.time() - started, plan.objective_value)
    return {"distance_m": plan.distance_m, "vehicles_used": plan.vehicles_used}


async def _prepositioning(
    tid: uuid.UUID,
    pid: uuid.UUID,
    request: PlanRunRequest,
    writer: PrepositioningProgress,
) -> dict[str, Any]:
    engine = make_async_owner_engine(get_settings().resolved_database_url())
    sessions = make_sessionmaker(engine)
    try:
        # the job is queued inside the submitting transaction: wait for its commit
        for _ in range(100):
            async with sessions() as session, session.begin():
                bind_tenant_lazily(session, tid)
                repo = PrepositioningRepository(session, tid)
                if await repo.get_plan(pid) is not None:
                    await repo.set_status(pid, "running")
                    break
            await asyncio.sleep(0.1)
        else:
            raise LookupError(f"plan {pid} was never committed")
        try:
            async with sessions() as session, session.begin():
                bind_tenant_lazily(session, tid)
                repo = PrepositioningRepository(session, tid)
                return await run_prepositioning_plan(
                    repo,
                    pid,
                    request,
                    lambda stage, fraction: writer.update("running", stage, fraction),
                )
        except Exception as exc:
            async with sessions() as session, session.begin():
                bind_tenant_lazily(session, tid)
                await PrepositioningRepository(session, tid).save_failure(
                    pid, f"{type(exc).__name__}: {exc}"
                )
            raise
    finally:
        await engine.dispose()


def run_prepositioning(
    tenant_id: str, plan_id: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The rq job of a pre-positioning run (same ``routing`` queue as route plans):
    forecast, place and evaluate, progress to Redis, results to PostGIS."""
    tid, pid = uuid.UUID(tenant_id), uuid.UUID(plan_id)
    redis = SyncRedis.from_url(get_settings().resolved_redis_url())
    writer = PrepositioningProgress(redis, tid, pid)
    writer.update("running", "loading", 0.0)
    try:
        doc = asyncio.run(_prepositioning(tid, pid, PlanRunRequest(**request), writer))
    except Exception:
        writer.update("failed")
        raise
    writer.update("done", "done", 1.0)
    return {"transfers": doc["transfers"], "evaluation": doc["evaluation"]}
