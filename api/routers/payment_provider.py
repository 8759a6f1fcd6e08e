"""Inbound payment-provider webhooks: the tenant's signing secret and the
event endpoint the provider calls (signed, deduplicated by event id)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from api.auth import Principal, require
from api.deps import ProviderSettingsServiceDep, ProviderWebhookServiceDep
from api.jsonroute import StrictJSONRoute
from api.routers.commerce import no_card_data
from api.schemas import payment_provider as s

router = APIRouter(
    prefix="/v1",
    tags=["commerce"],
    dependencies=[Depends(no_card_data)],
    route_class=StrictJSONRoute,
)
Admin = Annotated[Principal, Depends(require("admin"))]


@router.put("/payment-provider/secret", status_code=204)
async def set_provider_secret(
    body: s.ProviderSecretIn, _: Admin, svc: ProviderSettingsServiceDep
) -> Response:
    """Set (rotate) the secret the provider signs webhooks with."""
    await svc.set_secret(body.secret)
    return Response(status_code=204)


@router.post("/payment-provider/{tenant_id}/events")
async def receive_provider_event(
    tenant_id: uuid.UUID,
    request: Request,
    svc: ProviderWebhookServiceDep,
    signature: Annotated[str | None, Header(alias="Webhook-Signature")] = None,
) -> dict[str, Any]:
    """A provider event (``payment_succeeded``, ``payment_failed``), signed
    ``t=..,v1=..`` with HMAC-SHA256; each event id is applied once."""
    outcome = await svc.receive(await request.body(), signature, int(time.time()))
    return s.outcome_document(outcome)
