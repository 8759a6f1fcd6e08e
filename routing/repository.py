"""PostGIS storage of route plans (request, status, result, route lines)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, MultiLineString
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import RoutePlan


class RoutePlanRepository:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def create(
        self, plan_id: uuid.UUID, request: dict[str, Any], status: str = "queued"
    ) -> None:
        self.session.add(
            RoutePlan(
                id=plan_id, tenant_id=self.tenant_id, status=status, request=request
            )
        )
        await self.session.flush()

    async def get(self, plan_id: uuid.UUID) -> RoutePlan | None:
        return (
            await self.session.scalars(select(RoutePlan).where(RoutePlan.id == plan_id))
        ).first()

    async def set_status(self, plan_id: uuid.UUID, status: str) -> None:
        await self.session.execute(
            update(RoutePlan).where(RoutePlan.id == plan_id).values(status=status)
        )

    async def save_result(
        self, plan_id: uuid.UUID, result: dict[str, Any], geojson: dict[str, Any]
    ) -> None:
        lines = [
            LineString(f["geometry"]["coordinates"])
            for f in geojson.get("features", [])
            if f.get("geometry", {}).get("type") == "LineString"
            and len(f["geometry"]["coordinates"]) >= 2
        ]
        await self.session.execute(
            update(RoutePlan)
            .where(RoutePlan.id == plan_id)
            .values(
                status="done",
                result={"plan": result, "geojson": geojson},
                finished_at=datetime.now(UTC),
                distance_m=result.get("distance_m"),
                vehicles_used=result.get("vehicles_used"),
                routes=from_shape(MultiLineString(lines), srid=4326) if lines else None,
            )
        )

    async def save_failure(self, plan_id: uuid.UUID, error: str) -> None:
        await self.session.execute(
            update(RoutePlan)
            .where(RoutePlan.id == plan_id)
            .values(status="failed", error=error[:2000], finished_at=datetime.now(UTC))
        )
