"""Route planning: submit a plan (queued to the solver workers, or solved at once
with ``?wait=true``), follow its progress, fetch routes as JSON and GeoJSON."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.auth import Principal, require
from api.deps import RoutingServiceDep
from api.errors import ApiError
from api.jsonroute import StrictJSONRoute
from api.schemas.routing import PlanIn
from routing.service import PlanRequest
from routing.state import read_progress

router = APIRouter(prefix="/v1/routing", tags=["routing"], route_class=StrictJSONRoute)
Dispatcher = Annotated[Principal, Depends(require("dispatcher"))]


@router.post("/plans", status_code=202, response_model=dict[str, Any])
async def submit(
    body: PlanIn,
    principal: Dispatcher,
    svc: RoutingServiceDep,
    wait: Annotated[
        bool, Query(description="Solve within the request (small problems only).")
    ] = False,
) -> Any:
    req = PlanRequest(body.problem, body.params.model_dump())
    plan_id, result = await svc.submit(req, wait=wait)
    if result is not None:
        return JSONResponse(
            {"id": str(plan_id), "status": "done", **result}, status_code=200
        )
    return {
        "id": str(plan_id),
        "status": "queued",
        "progress_url": f"/v1/routing/plans/{plan_id}",
    }


@router.get("/plans/{plan_id}", response_model=dict[str, Any])
async def get_plan(
    plan_id: uuid.UUID, principal: Dispatcher, svc: RoutingServiceDep, request: Request
) -> dict[str, Any]:
    plan = await svc.get(plan_id)
    plan["progress"] = await read_progress(
        request.app.state.redis, principal.tenant_id, plan_id
    )
    if plan["result"] is not None:
        plan["plan"] = plan["result"]["plan"]
    plan.pop("result")
    return plan


@router.get("/plans/{plan_id}/geojson", response_model=dict[str, Any])
async def get_geojson(
    plan_id: uuid.UUID, _: Dispatcher, svc: RoutingServiceDep
) -> dict[str, Any]:
    plan = await svc.get(plan_id)
    if plan["result"] is None:
        raise ApiError(
            409, "Not ready", f"plan {plan_id} is {plan['status']}", field="plan_id"
        )
    return plan["result"]["geojson"]
