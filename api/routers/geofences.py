"""Geofences: CRUD in GeoJSON, bulk import, point-in-fence and nearby queries."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from shapely.geometry import mapping

from api.auth import Principal, require
from api.deps import GeofenceServiceDep
from api.errors import ApiError
from api.jsonroute import StrictJSONRoute
from api.schemas.geo import (
    ContainsOut,
    FeatureCollectionIn,
    FeatureIn,
    FeatureOut,
    ImportResult,
    NearbyFence,
    NearbyIn,
    NearbyOut,
    PointsIn,
)
from geoengine.import_state import ImportProgress, read_import_progress
from geoengine.repository import StoredFence
from geoengine.service import FenceInput, SavedFence
from geoengine.types import LatLng

router = APIRouter(
    prefix="/v1/geofences", tags=["geofences"], route_class=StrictJSONRoute
)
Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("device"))]
Repair = Annotated[bool, Query(description="Repair invalid polygons with make_valid.")]


def _input(feature: FeatureIn) -> FenceInput:
    p = feature.properties
    return FenceInput(
        geometry=feature.geometry,
        name=p.name,
        tag=p.tag,
        external_id=p.external_id,
        properties=p.merged_metadata(),
        opening_hours=p.opening_hours,
        dwell_s=p.dwell_s,
        active=p.active,
        radius_m=p.radius_m,
    )


def _feature(stored: StoredFence, saved: SavedFence | None = None) -> FeatureOut:
    f = stored.fence
    props: dict[str, Any] = {
        "name": f.name,
        "tag": f.tag,
        "external_id": f.external_id,
        "metadata": dict(f.metadata),
        "opening_hours": f.opening_hours,
        "dwell_s": f.dwell_s,
        "active": f.active,
        "kind": stored.kind,
        "area_m2": round(stored.area_m2, 2),
        "radius_m": f.radius_m,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
    }
    if f.center is not None:
        props["center"] = {"lat": f.center.lat, "lon": f.center.lng}
    if saved is not None:
        props["repaired"] = saved.repaired
        if saved.repair_note:
            props["repair_note"] = saved.repair_note
        props["antimeridian_split"] = saved.antimeridian_split
    return FeatureOut(id=f.id, geometry=mapping(f.geometry), properties=props)


@router.post("", response_model=FeatureOut, status_code=201)
async def create_fence(
    feature: FeatureIn, _: Admin, svc: GeofenceServiceDep, repair: Repair = False
) -> FeatureOut:
    saved = await svc.create(_input(feature), repair=repair)
    return _feature(saved.stored, saved)


ImportId = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Your id for this import: poll GET /v1/geofences/imports/{id} "
        "for its progress while it runs.",
    ),
]


@router.post("/import", response_model=ImportResult, status_code=201)
async def import_fences(
    collection: FeatureCollectionIn,
    principal: Admin,
    svc: GeofenceServiceDep,
    request: Request,
    repair: Repair = False,
    import_id: ImportId = None,
) -> ImportResult:
    progress = (
        ImportProgress(request.app.state.redis, principal.tenant_id, import_id)
        if import_id
        else None
    )
    created = await svc.import_many(
        [_input(f) for f in collection.features], repair=repair, progress=progress
    )
    return ImportResult(
        created=len(created), ids=[{"id": i, "external_id": e} for i, e in created]
    )


@router.get("/imports/{import_id}", response_model=dict[str, Any])
async def import_progress(
    import_id: str, principal: Reader, request: Request
) -> dict[str, Any]:
    found = await read_import_progress(
        request.app.state.redis, principal.tenant_id, import_id
    )
    if found is None:
        raise ApiError(404, "Not found", f"no import {import_id}", field="import_id")
    return found


@router.get("", response_model=list[FeatureOut])
async def list_fences(
    _: Reader,
    svc: GeofenceServiceDep,
    tag: str | None = None,
    active: bool | None = None,
    after_id: int = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FeatureOut]:
    fences = await svc.list(tag=tag, active=active, after_id=after_id, limit=limit)
    return [_feature(s) for s in fences]


@router.get("/{fence_id}", response_model=FeatureOut)
async def get_fence(fence_id: int, _: Reader, svc: GeofenceServiceDep) -> FeatureOut:
    return _feature(await svc.get(fence_id))


@router.put("/{fence_id}", response_model=FeatureOut)
async def replace_fence(
    fence_id: int,
    feature: FeatureIn,
    _: Admin,
    svc: GeofenceServiceDep,
    repair: Repair = False,
) -> FeatureOut:
    saved = await svc.replace(fence_id, _input(feature), repair=repair)
    return _feature(saved.stored, saved)


@router.delete("/{fence_id}", status_code=204)
async def delete_fence(fence_id: int, _: Admin, svc: GeofenceServiceDep) -> Response:
    await svc.delete(fence_id)
    return Response(status_code=204)


@router.post("/contains", response_model=ContainsOut)
async def contains(body: PointsIn, _: Reader, svc: GeofenceServiceDep) -> ContainsOut:
    pts = np.asarray(body.points, dtype=np.float64).reshape(-1, 2)
    result = await svc.contains(pts[:, 0], pts[:, 1])
    return ContainsOut(results=result.to_lists())


@router.post("/nearby", response_model=NearbyOut)
async def nearby(body: NearbyIn, _: Reader, svc: GeofenceServiceDep) -> NearbyOut:
    hits = await svc.nearby(LatLng(body.lat, body.lon), body.radius_m, body.limit)
    return NearbyOut(
        fences=[
            NearbyFence(
                id=s.fence.id,
                name=s.fence.name,
                tag=s.fence.tag,
                external_id=s.fence.external_id,
                distance_m=round(d, 2),
            )
            for s, d in hits
        ]
    )
