"""Proximity offers: campaigns (admin), settings, device links, code checks, reports."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from api.auth import Principal, require
from api.deps import OfferServiceDep
from api.jsonroute import StrictJSONRoute
from api.schemas import offers as s

router = APIRouter(prefix="/v1", tags=["offers"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, Depends(require("admin"))]
Device = Annotated[Principal, Depends(require("device"))]
Checkout = Annotated[Principal, Depends(require("checkout"))]
DeviceIdPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")
]
Doc = dict[str, Any]


@router.post("/campaigns", status_code=201)
async def create_campaign(body: s.CampaignIn, _: Admin, svc: OfferServiceDep) -> Doc:
    return s.campaign_document(*await svc.create_campaign(body.spec()))


@router.get("/campaigns")
async def list_campaigns(_: Admin, svc: OfferServiceDep) -> Doc:
    found = await svc.list_campaigns()
    return {"campaigns": [s.campaign_document(st, c) for st, c in found]}


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: uuid.UUID, _: Admin, svc: OfferServiceDep) -> Doc:
    return s.campaign_document(*await svc.get_campaign(campaign_id))


@router.put("/campaigns/{campaign_id}")
async def replace_campaign(
    campaign_id: uuid.UUID, body: s.CampaignIn, _: Admin, svc: OfferServiceDep
) -> Doc:
    return s.campaign_document(*await svc.update_campaign(campaign_id, body.spec()))


@router.delete("/campaigns/{campaign_id}")
async def archive_campaign(
    campaign_id: uuid.UUID, _: Admin, svc: OfferServiceDep
) -> Doc:
    """Deactivates the campaign (its report and outstanding codes stay)."""
    return s.campaign_document(*await svc.archive_campaign(campaign_id))


@router.get("/campaigns/{campaign_id}/report")
async def campaign_report(
    campaign_id: uuid.UUID, _: Admin, svc: OfferServiceDep
) -> Doc:
    return s.report_document(await svc.report(campaign_id))


@router.get("/offers/settings")
async def get_offer_settings(_: Admin, svc: OfferServiceDep) -> Doc:
    params, key = await svc.settings()
    return {
        "device_cap_per_day": params.device_cap_per_day,
        "device_cap_per_week": params.device_cap_per_week,
        "key_version": key.key_version,
    }


@router.put("/offers/settings")
async def put_offer_settings(
    body: s.OfferSettingsIn, _: Admin, svc: OfferServiceDep
) -> Doc:
    p = await svc.set_caps(body.device_cap_per_day, body.device_cap_per_week)
    return {
        "device_cap_per_day": p.device_cap_per_day,
        "device_cap_per_week": p.device_cap_per_week,
    }


@router.get("/offers/signing-key")
async def signing_key(_: Admin, svc: OfferServiceDep) -> Doc:
    """The HMAC-SHA256 secret with which a checkout verifies codes offline."""
    _, key = await svc.settings()
    return {
        "algorithm": "HMAC-SHA256/128",
        "key_version": key.key_version,
        "secret": base64.urlsafe_b64encode(key.secret).decode(),
    }


@router.post("/offers/verify")
async def verify_code(body: s.VerifyIn, _: Checkout, svc: OfferServiceDep) -> Doc:
    """Signature and tenant check only (what a checkout can do offline)."""
    _, key = await svc.settings()
    c = svc.verify(key.secret, body.code)
    return {
        "valid": True,
        "offer_id": str(c.offer_id),
        "campaign_id": str(c.campaign_id),
        "expires_s": c.expires_s,
    }


@router.post("/offers/reconcile")
async def reconcile(_: Admin, svc: OfferServiceDep) -> Doc:
    """Rebuild the Redis caps and budgets from PostGIS (releases expired codes)."""
    counters = await svc.reconcile()
    return {
        "devices": len(counters.device),
        "budgets": {
            c: {"reserved_minor": m, "reserved_codes": n}
            for c, (m, n) in counters.budget.items()
        },
    }


@router.put("/devices/{device_id}/customer", status_code=204)
async def link_device(
    device_id: DeviceIdPath,
    body: s.DeviceCustomerIn,
    _: Checkout,
    svc: OfferServiceDep,
) -> Response:
    """Tie a device to a commerce customer (audience rules, code binding)."""
    await svc.link_device(device_id, body.customer_id)
    return Response(status_code=204)
