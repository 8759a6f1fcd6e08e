"""The caller's identity, the tenant's API keys and its audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, require
from api.deps import PrincipalDep, SessionDep
from api.errors import ApiError
from api.jsonroute import StrictJSONRoute
from api.schemas.tenancy import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEntry,
    Me,
    TenantSettings,
    TenantSettingsIn,
)
from api.tenancy import TenancyService

router = APIRouter(prefix="/v1", tags=["tenancy"], route_class=StrictJSONRoute)
AdminDep = Annotated[Principal, Depends(require("admin"))]


def _not_found(id_: uuid.UUID) -> ApiError:
    return ApiError(404, "Not found", f"no API key {id_}", field="id")


@router.get("/me", response_model=Me, summary="Who am I")
async def me(principal: PrincipalDep, session: SessionDep) -> Me:
    tenant = await TenancyService(session, principal.actor).repo.get_tenant(
        principal.tenant_id
    )
    return Me(
        tenant_id=principal.tenant_id,
        tenant_name=tenant.name if tenant else "",
        key_id=principal.key_id,
        scopes=sorted(principal.scopes),
    )


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_keys(principal: AdminDep, session: SessionDep) -> list[ApiKeyOut]:
    keys = await TenancyService(session, principal.actor).list_keys()
    return [ApiKeyOut.model_validate(k) for k in keys]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(
    body: ApiKeyCreate, principal: AdminDep, session: SessionDep
) -> ApiKeyCreated:
    new = await TenancyService(session, principal.actor).create_key(
        principal.tenant_id, list(body.scopes), body.name
    )
    return ApiKeyCreated(
        **ApiKeyOut.model_validate(new.record).model_dump(), api_key=new.api_key
    )


@router.get("/api-keys/{id}", response_model=ApiKeyOut)
async def get_key(id: uuid.UUID, principal: AdminDep, session: SessionDep) -> ApiKeyOut:
    key = await TenancyService(session, principal.actor).get_key(id)
    if key is None:
        raise _not_found(id)
    return ApiKeyOut.model_validate(key)


@router.delete("/api-keys/{id}", response_model=ApiKeyOut)
async def revoke_key(
    id: uuid.UUID, principal: AdminDep, session: SessionDep, request: Request
) -> ApiKeyOut:
    key = await TenancyService(session, principal.actor).revoke_key(id)
    if key is None:
        raise _not_found(id)
    request.app.state.key_cache.forget(key.key_id)
    return ApiKeyOut.model_validate(key)


@router.get("/settings", response_model=TenantSettings)
async def get_settings(principal: AdminDep, session: SessionDep) -> TenantSettings:
    svc = TenancyService(session, principal.actor)
    return TenantSettings(**(await svc.settings(principal.tenant_id)))


@router.patch("/settings", response_model=TenantSettings)
async def patch_settings(
    body: TenantSettingsIn, principal: AdminDep, session: SessionDep, request: Request
) -> TenantSettings:
    changes = body.model_dump(exclude_unset=True)
    svc = TenancyService(session, principal.actor)
    updated = await svc.update_settings(principal.tenant_id, changes)
    request.app.state.tenant_settings_cache.forget(principal.tenant_id)
    return TenantSettings(**updated)


@router.get("/audit", response_model=list[AuditEntry])
async def audit(
    principal: AdminDep, session: SessionDep, limit: int = 100
) -> list[AuditEntry]:
    rows = await TenancyService(session, principal.actor).audit_log(limit)
    return [AuditEntry(**r) for r in rows]
