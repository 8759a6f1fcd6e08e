"""Route planning for one tenant: submit (queued or at once), progress, results."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from routing.errors import InvalidProblemError, ProblemIssue, RoutingError
from routing.params import SolverParams
from routing.plan import RoutePlan
from routing.problem import Problem
from routing.read import problem_from_dict
from routing.repository import RoutePlanRepository
from routing.workers import Progress

MAX_SYNC_VISITS = 200
MAX_SYNC_TIME_S = 30.0
MAX_TIME_LIMIT_S = 3600.0


class PlanNotFoundError(RoutingError, LookupError):
    """No such plan for this tenant."""


class SyncTooLargeError(RoutingError, ValueError):
    """``wait=true`` asked for a problem too large to solve within the request."""


@dataclass(frozen=True)
class PlanRequest:
    """A problem in the project's JSON shape and the solver parameters."""

    problem: dict[str, Any]
    params: dict[str, Any]


def build(
    request: PlanRequest, *, force_workers: int | None = None
) -> tuple[Problem, SolverParams]:
    """Validate a request into a problem and parameters (errors name the items)."""
    problem = problem_from_dict(request.problem)
    p = dict(request.params)
    if force_workers is not None:
        p["num_workers"] = force_workers
    try:
        params = SolverParams(**p)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError([ProblemIssue("params", "params", str(exc))]) from exc
    if params.time_limit_s > MAX_TIME_LIMIT_S:
        raise InvalidProblemError(
            [ProblemIssue("params", "time_limit_s", f"at most {MAX_TIME_LIMIT_S:g} s")]
        )
    return problem, params


def solve_request(
    request: PlanRequest,
    progress: Callable[[Progress], None] | None = None,
    *,
    force_workers: int | None = None,
) -> RoutePlan:
    """Build and solve (blocking; runs in the worker process or a thread)."""
    from routing.solver import solve

    problem, params = build(request, force_workers=force_workers)
    return solve(problem, params, progress=progress)


def plan_documents(plan: RoutePlan) -> tuple[dict[str, Any], dict[str, Any]]:
    return plan.to_json(), plan.to_geojson()


class RoutingService:
    """Plans of one tenant."""

    def __init__(
        self,
        repo: RoutePlanRepository,
        enqueue: Callable[[uuid.UUID, uuid.UUID, PlanRequest], Awaitable[None]],
        run_sync: Callable[[PlanRequest], Awaitable[RoutePlan]],
    ) -> None:
        self.repo = repo
        self.enqueue = enqueue
        self.run_sync = run_sync

    async def submit(
        self, request: PlanRequest, *, wait: bool = False
    ) -> tuple[uuid.UUID, dict[str, Any] | None]:
        """Validate and queue a plan; with ``wait`` solve it within the request."""
        problem, params = build(request)
        plan_id = uuid.uuid4()
        if not wait:
            await self.repo.create(plan_id, _as_stored(request))
            await self.enqueue(self.repo.tenant_id, plan_id, request)
            return plan_id, None
        visits = len(problem.jobs) + 2 * len(problem.shipments)
        if visits > MAX_SYNC_VISITS or params.time_limit_s > MAX_SYNC_TIME_S:
            raise SyncTooLargeError(
                f"wait: synchronous solving takes at most {MAX_SYNC_VISITS} visits and "
                f"{MAX_SYNC_TIME_S:g} s; drop wait=true to queue it"
            )
        await self.repo.create(plan_id, _as_stored(request), status="running")
        started = time.time()
        plan = await self.run_sync(request)
        result, geojson = plan_documents(plan)
        await self.repo.save_result(plan_id, result, geojson)
        return plan_id, {
            "plan": result,
            "geojson": geojson,
            "elapsed_s": round(time.time() - started, 3),
        }

    async def get(self, plan_id: uuid.UUID) -> dict[str, Any]:
        row = await self.repo.get(plan_id)
        if row is None:
            raise PlanNotFoundError(f"plan_id: no plan {plan_id}")
        return {
            "id": str(row.id),
            "status": row.status,
            "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "error": row.error,
            "result": row.result,
        }


def _as_stored(request: PlanRequest) -> dict[str, Any]:
    return {"problem": request.problem, "params": request.params}
