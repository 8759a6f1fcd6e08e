"""Pre-positioning for one tenant: warehouses, plan runs (queued), results, maps."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from geoengine.cells import cell_to_boundary_xy, cell_to_str, str_to_cell
from routing.demand import OrderHistory
from routing.errors import (
    EmptyHistoryError,
    InfeasiblePlacementError,
    InvalidWarehouseError,
    RoutingError,
)
from routing.prepositioning_repository import (
    PrepositioningPlanRow,
    PrepositioningRepository,
    StoredWarehouse,
)
from routing.prepositioning_run import PrepositioningParams, plan_prepositioning
from routing.stock import (
    PlacementParams,
    ProgressFn,
    Transfer,
    Warehouse,
    promise_radius_for_travel_m,
)
from routing.types import LatLng


class PrepositioningPlanNotFoundError(RoutingError, LookupError):
    """No such pre-positioning plan (or warehouse) for this tenant."""


class PlanNotReadyError(RoutingError):
    """The plan has no result yet (queued, running or failed)."""


@dataclass(frozen=True)
class WarehouseInput:
    """A warehouse as the API receives it (``code`` is the tenant's own id)."""

    code: str
    name: str
    lat: float
    lng: float
    capacity_units: int
    promise_radius_m: float | None
    outbound_cost_per_km_minor: Decimal
    stock: dict[str, int] | None = None
    promise_travel_s: int | None = None


@dataclass(frozen=True)
class PlanRunRequest:
    """What a run reads (``weeks`` of orders before ``as_of``) and its parameters."""

    weeks: int = 52
    as_of: str | None = None
    h3_res: int = 7
    evaluate: bool = True
    placement: dict[str, Any] = field(default_factory=dict)

    def window(self) -> tuple[datetime, datetime]:
        end = datetime.fromisoformat(self.as_of) if self.as_of else datetime.now(UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        end = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return end - timedelta(days=7 * self.weeks), end

    def params(self) -> PrepositioningParams:
        placement = dict(self.placement)
        if "transfer_cost_per_unit_km_minor" in placement:
            placement["transfer_cost_per_unit_km_minor"] = Decimal(
                str(placement["transfer_cost_per_unit_km_minor"])
            )
        return PrepositioningParams(
            h3_res=self.h3_res,
            placement=PlacementParams(**placement),
            evaluate=self.evaluate,
        )


def _warehouse_json(w: StoredWarehouse) -> dict[str, Any]:
    return {
        "code": w.warehouse.id,
        "name": w.name,
        "lat": w.warehouse.location.lat,
        "lng": w.warehouse.location.lng,
        "capacity_units": w.warehouse.capacity_units,
        "promise_radius_m": round(w.warehouse.promise_radius_m, 1),
        "promise_travel_s": w.promise_travel_s,
        "outbound_cost_per_km_minor": str(w.warehouse.outbound_cost_per_km_minor),
        "stock": dict(sorted(w.stock.items())),
        "on_hand_units": sum(w.stock.values()),
    }


class PrepositioningService:
    """Warehouses and pre-positioning plans of one tenant."""

    def __init__(
        self,
        repo: PrepositioningRepository,
        enqueue: Callable[[uuid.UUID, uuid.UUID, PlanRunRequest], Awaitable[None]],
        default_h3_res: int = 7,
    ) -> None:
        self.repo = repo
        self.enqueue = enqueue
        self.default_h3_res = default_h3_res

    async def put_warehouse(self, body: WarehouseInput) -> dict[str, Any]:
        if (body.promise_radius_m is None) == (body.promise_travel_s is None):
            raise InvalidWarehouseError(
                "promise_radius_m: give exactly one of promise_radius_m and "
                "promise_travel_s"
            )
        radius_m = (
            promise_radius_for_travel_m(body.promise_travel_s)
            if body.promise_travel_s is not None
            else float(body.promise_radius_m or 0.0)
        )
        wh = Warehouse(
            body.code,
            LatLng(body.lat, body.lng),
            body.capacity_units,
            radius_m,
            body.outbound_cost_per_km_minor,
        )
        await self.repo.upsert_warehouse(
            wh, body.name, body.stock, promise_travel_s=body.promise_travel_s
        )
        return _warehouse_json((await self.repo.warehouses(body.code))[0])

    async def list_warehouses(self) -> list[dict[str, Any]]:
        return [_warehouse_json(w) for w in await self.repo.warehouses()]

    async def delete_warehouse(self, code: str) -> None:
        if not await self.repo.delete_warehouse(code):
            raise PrepositioningPlanNotFoundError(f"code: no warehouse {code!r}")

    async def submit(self, request: PlanRunRequest) -> uuid.UUID:
        """Validate (warehouses, capacity, a non-empty history) and queue a run."""
        try:
            request.params()
            start, end = request.window()
        except (TypeError, ValueError) as exc:
            raise InfeasiblePlacementError(f"params: {exc}") from exc
        stored = await self.repo.warehouses()
        if not stored:
            raise InfeasiblePlacementError("warehouses: add at least one warehouse")
        on_hand = sum(sum(w.stock.values()) for w in stored)
        capacity = sum(w.warehouse.capacity_units for w in stored)
        if on_hand > capacity:
            raise InfeasiblePlacementError(
                f"warehouses: total capacity {capacity} units is below the "
                f"{on_hand} units on hand"
            )
        if await self.repo.count_orders(start, end) == 0:
            raise EmptyHistoryError(
                f"history: no placed orders between {start.date()} and {end.date()}"
            )
        # pin the window: the worker may start after midnight
        request = replace(request, as_of=end.isoformat())
        plan_id = uuid.uuid4()
        await self.repo.create_plan(plan_id, asdict(request))
        await self.enqueue(self.repo.tenant_id, plan_id, request)
        return plan_id

    async def _plan(self, plan_id: uuid.UUID) -> PrepositioningPlanRow:
        row = await self.repo.get_plan(plan_id)
        if row is None:
            raise PrepositioningPlanNotFoundError(f"plan_id: no plan {plan_id}")
        return row

    async def list_plans(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first, without their results."""
        out = []
        for row in await self.repo.list_plans(limit):
            ev = (row.result or {}).get("evaluation") or {}
            out.append(
                {
                    "id": str(row.id),
                    "status": row.status,
                    "created_at": row.created_at.isoformat(),
                    "finished_at": (
                        row.finished_at.isoformat() if row.finished_at else None
                    ),
                    "transfer_cost_minor": row.transfer_cost_minor,
                    "gap_closed": ev.get("gap_closed"),
                }
            )
        return out

    async def get(self, plan_id: uuid.UUID) -> dict[str, Any]:
        row = await self._plan(plan_id)
        return {
            "id": str(row.id),
            "status": row.status,
            "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "error": row.error,
            "request": row.request,
            "result": row.result,
        }

    async def transfers(self, plan_id: uuid.UUID) -> dict[str, Any]:
        row = await self._ready(plan_id)
        moves = await self.repo.transfers(plan_id)
        return {
            "plan_id": str(plan_id),
            "transfers": [t.to_json() for t in moves],
            "units": sum(t.units for t in moves),
            "cost_minor": int(row.transfer_cost_minor or 0),
        }

    async def forecast_geojson(self, plan_id: uuid.UUID) -> dict[str, Any]:
        """Forecast units per H3 cell as polygons (RFC 7946, lng/lat)."""
        row = await self._ready(plan_id)
        cells = (row.forecast_cells or {}).get("cells", {})
        features = []
        for key, props in cells.items():
            ring = [[x, y] for x, y in cell_to_boundary_xy(str_to_cell(key))]
            ring.append(ring[0])
            features.append(
                {
                    "type": "Feature",
                    "id": key,
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {"h3": key, **props},
                }
            )
        return {
            "type": "FeatureCollection",
            "features": features,
            "properties": {"plan_id": str(plan_id), "unit": "units/week"},
        }

    async def _ready(self, plan_id: uuid.UUID) -> PrepositioningPlanRow:
        row = await self._plan(plan_id)
        if row.status != "done":
            raise PlanNotReadyError(f"plan_id: plan {plan_id} is {row.status}")
        return row


async def run_plan(
    repo: PrepositioningRepository,
    plan_id: uuid.UUID,
    request: PlanRunRequest,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Load orders and warehouses, forecast, place, evaluate, store (the worker job)."""
    start, end = request.window()
    history = await repo.order_history(start, end)
    stored = await repo.warehouses()
    if not stored:
        raise InfeasiblePlacementError("warehouses: add at least one warehouse")
    # SKUs: those ordered plus those stocked
    skus = tuple(sorted(set(history.sku_ids) | {s for w in stored for s in w.stock}))
    history = _with_skus(history, skus)
    on_hand = np.array(
        [[w.stock.get(s, 0) for s in skus] for w in stored], dtype=np.int64
    )
    warehouses = tuple(w.warehouse for w in stored)
    result = plan_prepositioning(
        history, warehouses, on_hand, request.params(), progress
    )
    placement, fc = result.placement, result.forecast
    totals = fc.demand.sum(axis=1)
    top = np.argsort(-fc.demand, axis=1)[:, :5]
    cells = {
        cell_to_str(int(c)): {
            "units": round(float(totals[i]), 3),
            "top_skus": {
                skus[k]: round(float(fc.demand[i, k]), 3)
                for k in top[i]
                if fc.demand[i, k] > 0
            },
        }
        for i, c in enumerate(fc.cells)
        if totals[i] > 0
    }
    doc = {
        "history": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "orders": history.n_orders,
            "weeks": fc.weeks,
        },
        "targets": [
            {
                "warehouse": w.id,
                "on_hand": {
                    s: int(on_hand[i, k]) for k, s in enumerate(skus) if on_hand[i, k]
                },
                "target": {
                    s: int(placement.target[i, k])
                    for k, s in enumerate(skus)
                    if placement.target[i, k]
                },
                "target_units": int(placement.target[i].sum()),
                "capacity_units": w.capacity_units,
            }
            for i, w in enumerate(warehouses)
        ],
        "transfers": {
            "count": len(placement.transfers),
            "units": sum(t.units for t in placement.transfers),
            "cost_minor": placement.transfer_cost_minor,
        },
        "forecast": {
            "h3_res": request.h3_res,
            "units_next_week": round(float(fc.demand.sum()), 3),
            "cells": int((totals > 0).sum()),
            "backtest_weekly": fc.weekly.to_json(),
            "backtest_daily": fc.daily.to_json(),
        },
        "placement": {
            "zones": placement.zones,
            "lp_columns": placement.lp_columns,
            "solve_time_s": round(placement.solve_time_s, 3),
        },
        "evaluation": result.evaluation.to_json() if result.evaluation else None,
        "solve_time_s": round(result.solve_time_s, 3),
    }
    await repo.save_result(
        plan_id,
        doc,
        {"h3_res": request.h3_res, "cells": cells},
        placement.transfers,
        {w.warehouse.id: w.id for w in stored},
    )
    return doc


def _with_skus(history: OrderHistory, skus: tuple[str, ...]) -> OrderHistory:
    """The same orders with SKUs indexed in ``skus`` (a superset of the history's)."""
    pos = {s: k for k, s in enumerate(skus)}
    remap = np.array([pos[s] for s in history.sku_ids], dtype=np.int32)
    return OrderHistory(
        skus,
        history.order_day,
        history.order_lat,
        history.order_lng,
        history.line_order,
        remap[history.line_sku] if remap.size else history.line_sku,
        history.line_qty,
        history.span_days,
    )


__all__ = [
    "PlanNotReadyError",
    "PlanRunRequest",
    "PrepositioningPlanNotFoundError",
    "PrepositioningService",
    "Transfer",
    "WarehouseInput",
    "run_plan",
]
