"""PostGIS storage of pre-positioning: warehouses, stock, plans, transfers; orders read
from the commerce tables (placed, paid or fulfilled orders with their ship-to point)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import (
    Order,
    OrderLine,
    PrepositioningPlan,
    PrepositioningTransfer,
    WarehouseStock,
)
from data.models import Warehouse as WarehouseRow
from routing.demand import OrderHistory
from routing.stock import Transfer, Warehouse
from routing.types import LatLng

#: a stored plan row (the service reads its columns)
PrepositioningPlanRow = PrepositioningPlan

#: orders that count as demand (drafts and cancellations do not)
DEMAND_STATUSES = ("placed", "paid", "fulfilled")


@dataclass(frozen=True, slots=True)
class StoredWarehouse:
    """A warehouse row as the domain sees it, with its database id and stock."""

    id: uuid.UUID
    warehouse: Warehouse
    name: str
    stock: dict[str, int]
    promise_travel_s: int | None = None


class PrepositioningRepository:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # ---- warehouses -------------------------------------------------------------
    async def upsert_warehouse(
        self,
        warehouse: Warehouse,
        name: str,
        stock: dict[str, int] | None,
        *,
        promise_travel_s: int | None = None,
    ) -> uuid.UUID:
        """Create or replace the warehouse with this code (``warehouse.id``)."""
        point = from_shape(
            Point(warehouse.location.lng, warehouse.location.lat), srid=4326
        )
        values = {
            "code": warehouse.id,
            "name": name,
            "location": point,
            "capacity_units": warehouse.capacity_units,
            "outbound_cost_per_km_minor": warehouse.outbound_cost_per_km_minor,
            "promise_radius_m": warehouse.promise_radius_m,
            "promise_travel_s": promise_travel_s,
        }
        stmt = (
            insert(WarehouseRow)
            .values(id=uuid.uuid4(), tenant_id=self.tenant_id, **values)
            .on_conflict_do_update(constraint="uq_warehouses_tenant_code", set_=values)
            .returning(WarehouseRow.id)
        )
        wid = (await self.session.execute(stmt)).scalar_one()
        if stock is not None:
            await self.session.execute(
                delete(WarehouseStock).where(WarehouseStock.warehouse_id == wid)
            )
            rows = [
                {
                    "warehouse_id": wid,
                    "tenant_id": self.tenant_id,
                    "sku": k,
                    "on_hand": v,
                }
                for k, v in stock.items()
            ]
            if rows:
                await self.session.execute(insert(WarehouseStock).values(rows))
        await self.session.flush()
        return wid

    async def delete_warehouse(self, code: str) -> bool:
        result = await self.session.execute(
            delete(WarehouseRow)
            .where(WarehouseRow.code == code)
            .returning(WarehouseRow.id)
        )
        return result.first() is not None

    async def warehouses(self, code: str | None = None) -> list[StoredWarehouse]:
        stmt = (
            select(
                WarehouseRow,
                func.ST_Y(func.ST_GeomFromWKB(func.ST_AsBinary(WarehouseRow.location))),
                func.ST_X(func.ST_GeomFromWKB(func.ST_AsBinary(WarehouseRow.location))),
            )
            .where(WarehouseRow.tenant_id == self.tenant_id)
            .order_by(WarehouseRow.code)
        )
        if code is not None:
            stmt = stmt.where(WarehouseRow.code == code)
        rows = (await self.session.execute(stmt)).all()
        stock: dict[uuid.UUID, dict[str, int]] = {r[0].id: {} for r in rows}
        if rows:
            for wid, sku, on_hand in (
                await self.session.execute(
                    select(
                        WarehouseStock.warehouse_id,
                        WarehouseStock.sku,
                        WarehouseStock.on_hand,
                    ).where(WarehouseStock.warehouse_id.in_(list(stock)))
                )
            ).all():
                stock[wid][sku] = int(on_hand)
        return [
            StoredWarehouse(
                row.id,
                Warehouse(
                    row.code,
                    LatLng(float(lat), float(lng)),
                    int(row.capacity_units),
                    float(row.promise_radius_m),
                    Decimal(row.outbound_cost_per_km_minor),
                ),
                row.name,
                stock[row.id],
                row.promise_travel_s,
            )
            for row, lat, lng in rows
        ]

    # ---- orders -----------------------------------------------------------------
    async def order_history(self, start: datetime, end: datetime) -> OrderHistory:
        """Order lines placed in ``[start, end)``; day 0 is ``start``'s day."""
        placed = func.coalesce(Order.placed_at, Order.created_at)
        geom = func.ST_GeomFromWKB(func.ST_AsBinary(Order.ship_to))
        stmt = (
            select(
                Order.id,
                func.floor(func.extract("epoch", placed - start) / 86400),
                func.ST_Y(geom),
                func.ST_X(geom),
                OrderLine.sku,
                OrderLine.quantity,
            )
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.tenant_id == self.tenant_id,
                Order.status.in_(DEMAND_STATUSES),
                placed >= start,
                placed < end,
                OrderLine.quantity > 0,
            )
            .order_by(placed, Order.id)
        )
        rows = (await self.session.execute(stmt)).all()
        order_index: dict[uuid.UUID, int] = {}
        day: list[int] = []
        lat: list[float] = []
        lng: list[float] = []
        line_order: list[int] = []
        line_sku: list[str] = []
        line_qty: list[int] = []
        for oid, d, y, x, sku, qty in rows:
            i = order_index.get(oid)
            if i is None:
                i = order_index[oid] = len(day)
                day.append(int(d))
                lat.append(float(y))
                lng.append(float(x))
            line_order.append(i)
            line_sku.append(sku)
            line_qty.append(int(qty))
        sku_ids = tuple(sorted(set(line_sku)))
        sku_pos = {s: k for k, s in enumerate(sku_ids)}
        return OrderHistory(
            sku_ids,
            np.array(day, dtype=np.int32),
            np.array(lat, dtype=np.float64),
            np.array(lng, dtype=np.float64),
            np.array(line_order, dtype=np.int32),
            np.array([sku_pos[s] for s in line_sku], dtype=np.int32),
            np.array(line_qty, dtype=np.int32),
            (end - start).days,
        )

    # ---- plans ------------------------------------------------------------------
    async def create_plan(self, plan_id: uuid.UUID, request: dict[str, Any]) -> None:
        self.session.add(
            PrepositioningPlan(
                id=plan_id, tenant_id=self.tenant_id, status="queued", request=request
            )
        )
        await self.session.flush()

    async def get_plan(self, plan_id: uuid.UUID) -> PrepositioningPlan | None:
        return (
            await self.session.scalars(
                select(PrepositioningPlan).where(
                    PrepositioningPlan.tenant_id == self.tenant_id,
                    PrepositioningPlan.id == plan_id,
                )
            )
        ).first()

    async def list_plans(self, limit: int) -> list[PrepositioningPlan]:
        return list(
            (
                await self.session.scalars(
                    select(PrepositioningPlan)
                    .where(PrepositioningPlan.tenant_id == self.tenant_id)
                    .order_by(
                        PrepositioningPlan.created_at.desc(), PrepositioningPlan.id
                    )
                    .limit(limit)
                )
            ).all()
        )

    async def set_status(self, plan_id: uuid.UUID, status: str) -> None:
        await self.session.execute(
            update(PrepositioningPlan)
            .where(
                PrepositioningPlan.tenant_id == self.tenant_id,
                PrepositioningPlan.id == plan_id,
            )
            .values(status=status)
        )

    async def save_result(
        self,
        plan_id: uuid.UUID,
        result: dict[str, Any],
        forecast_cells: dict[str, Any],
        transfers: Sequence[Transfer],
        warehouse_ids: dict[str, uuid.UUID],
    ) -> None:
        if transfers:
            await self.session.execute(
                insert(PrepositioningTransfer).values(
                    [
                        {
                            "tenant_id": self.tenant_id,
                            "plan_id": plan_id,
                            "from_warehouse_id": warehouse_ids[t.from_id],
                            "to_warehouse_id": warehouse_ids[t.to_id],
                            "sku": t.sku,
                            "units": t.units,
                            "distance_m": t.distance_m,
                            "cost_minor": t.cost_minor,
                        }
                        for t in transfers
                    ]
                )
            )
        await self.session.execute(
            update(PrepositioningPlan)
            .where(
                PrepositioningPlan.tenant_id == self.tenant_id,
                PrepositioningPlan.id == plan_id,
            )
            .values(
                status="done",
                result=result,
                forecast_cells=forecast_cells,
                transfer_cost_minor=sum(t.cost_minor for t in transfers),
                finished_at=datetime.now(UTC),
            )
        )

    async def count_orders(self, start: datetime, end: datetime) -> int:
        placed = func.coalesce(Order.placed_at, Order.created_at)
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Order)
                .where(
                    Order.tenant_id == self.tenant_id,
                    Order.status.in_(DEMAND_STATUSES),
                    placed >= start,
                    placed < end,
                )
            )
            or 0
        )

    async def save_failure(self, plan_id: uuid.UUID, error: str) -> None:
        await self.session.execute(
            update(PrepositioningPlan)
            .where(
                PrepositioningPlan.tenant_id == self.tenant_id,
                PrepositioningPlan.id == plan_id,
            )
            .values(status="failed", error=error[:2000], finished_at=datetime.now(UTC))
        )

    async def transfers(self, plan_id: uuid.UUID) -> list[Transfer]:
        src = WarehouseRow.__table__.alias("src")
        dst = WarehouseRow.__table__.alias("dst")
        t = PrepositioningTransfer
        rows = (
            await self.session.execute(
                select(
                    src.c.code, dst.c.code, t.sku, t.units, t.distance_m, t.cost_minor
                )
                .join(src, src.c.id == t.from_warehouse_id)
                .join(dst, dst.c.id == t.to_warehouse_id)
                .where(t.tenant_id == self.tenant_id, t.plan_id == plan_id)
                .order_by(t.sku, src.c.code, dst.c.code)
            )
        ).all()
        return [
            Transfer(a, b, s, int(u), float(d), int(c)) for a, b, s, u, d, c in rows
        ]
