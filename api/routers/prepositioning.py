"""Warehouse pre-positioning: warehouses with stock, plan runs queued to the solver
workers (progress in Redis), transfers, metrics and a GeoJSON of forecast demand."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import Principal, require
from api.deps import PrepositioningServiceDep
from api.jsonroute import StrictJSONRoute
from api.schemas.prepositioning import PrepositioningPlanIn, WarehouseIn
from routing.prepositioning_service import PlanRunRequest, WarehouseInput
from routing.prepositioning_state import read_progress

router = APIRouter(
    prefix="/v1/prepositioning", tags=["prepositioning"], route_class=StrictJSONRoute
)
Dispatcher = Annotated[Principal, Depends(require("dispatcher"))]
Code = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]


@router.put("/warehouses/{code}", response_model=dict[str, Any])
async def put_warehouse(
    code: Code, body: WarehouseIn, _: Dispatcher, svc: PrepositioningServiceDep
) -> dict[str, Any]:
    return await svc.put_warehouse(WarehouseInput(code=code, **body.model_dump()))


@router.get("/warehouses", response_model=dict[str, Any])
async def list_warehouses(
    _: Dispatcher, svc: PrepositioningServiceDep
) -> dict[str, Any]:
    return {"warehouses": await svc.list_warehouses()}


@router.delete("/warehouses/{code}", status_code=204)
async def delete_warehouse(
    code: Code, _: Dispatcher, svc: PrepositioningServiceDep
) -> Response:
    await svc.delete_warehouse(code)
    return Response(status_code=204)


@router.post("/plans", status_code=202, response_model=dict[str, Any])
async def submit(
    body: PrepositioningPlanIn, _: Dispatcher, svc: PrepositioningServiceDep
) -> dict[str, Any]:
    req = PlanRunRequest(
        weeks=body.weeks,
        as_of=body.as_of.isoformat() if body.as_of else None,
        h3_res=body.h3_res or svc.default_h3_res,
        evaluate=body.evaluate,
        placement=body.placement.model_dump(mode="json"),
    )
    plan_id = await svc.submit(req)
    return {
        "id": str(plan_id),
        "status": "queued",
        "progress_url": f"/v1/prepositioning/plans/{plan_id}",
    }


@router.get("/plans", response_model=dict[str, Any])
async def list_plans(
    _: Dispatcher,
    svc: PrepositioningServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return {"plans": await svc.list_plans(limit)}


@router.get("/plans/{plan_id}", response_model=dict[str, Any])
async def get_plan(
    plan_id: uuid.UUID,
    principal: Dispatcher,
    svc: PrepositioningServiceDep,
    request: Request,
) -> dict[str, Any]:
    plan = await svc.get(plan_id)
    plan["progress"] = await read_progress(
        request.app.state.redis, principal.tenant_id, plan_id
    )
    return plan


@router.get("/plans/{plan_id}/transfers", response_model=dict[str, Any])
async def get_transfers(
    plan_id: uuid.UUID, _: Dispatcher, svc: PrepositioningServiceDep
) -> dict[str, Any]:
    return await svc.transfers(plan_id)


@router.get("/plans/{plan_id}/forecast.geojson", response_model=dict[str, Any])
async def get_forecast_geojson(
    plan_id: uuid.UUID, _: Dispatcher, svc: PrepositioningServiceDep
) -> dict[str, Any]:
    return await svc.forecast_geojson(plan_id)
