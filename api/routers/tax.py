"""Tax: jurisdiction resolution, quotes, commit and reversal, liability and nexus."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.auth import Principal, require
from api.deps import TaxServiceDep
from api.errors import problem_body
from api.jsonroute import StrictJSONRoute
from api.schemas.tax import (
    CommitIn,
    Document,
    QuoteIn,
    RegistrationsIn,
    ResolveBatchIn,
    ResolveIn,
    ReverseIn,
)
from tax_zones.codec import to_jsonable
from tax_zones.quotes import CustomerExemption, QuoteLine, Registration
from tax_zones.rates import TaxCategory
from tax_zones.resolution import Policy
from tax_zones.service import Location

router = APIRouter(prefix="/v1/tax", tags=["tax"], route_class=StrictJSONRoute)
Checkout = Annotated[Principal, Depends(require("checkout"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _where(item: Any) -> Location:
    return Location(item.lat, item.lon, item.accuracy_m, item.ip, item.zip)


def _policy(value: str | None) -> Policy | None:
    return Policy(value) if value else None


@router.post("/resolve", response_model=Document)
async def resolve(body: ResolveIn, _: Checkout, svc: TaxServiceDep) -> Document:
    return to_jsonable(svc.resolve(_where(body), body.date, _policy(body.policy)))


@router.post("/resolve/batch", response_model=Document)
async def resolve_batch(
    body: ResolveBatchIn, _: Checkout, svc: TaxServiceDep
) -> Document:
    results = svc.resolve_batch(
        [(_where(i), i.date, _policy(i.policy)) for i in body.items]
    )
    return {
        "results": [
            to_jsonable(r)
            if not isinstance(r, Exception)
            else {"error": problem_body(r, f"items[{k}]")}
            for k, r in enumerate(results)
        ]
    }


@router.post("/quote", response_model=Document, status_code=201)
async def quote(body: QuoteIn, _: Checkout, svc: TaxServiceDep) -> Response:
    exemption = (
        CustomerExemption(
            body.exemption.certificate_id,
            frozenset(body.exemption.jurisdiction_codes)
            if body.exemption.jurisdiction_codes
            else None,
            body.exemption.reason,
        )
        if body.exemption
        else None
    )
    _, document = await svc.quote(
        currency=body.currency.upper(),
        lines=[
            QuoteLine(
                ln.line_id, ln.amount_minor, ln.quantity, TaxCategory(ln.category)
            )
            for ln in body.lines
        ],
        ship_to=_where(body.ship_to),
        ship_from=_where(body.ship_from) if body.ship_from else None,
        shipping_minor=body.shipping_minor,
        exemption=exemption,
        tax_date=body.tax_date,
        policy=_policy(body.policy),
    )
    return Response(document, status_code=201, media_type="application/json")


@router.get("/quotes/{quote_id}", response_model=Document)
async def get_quote(quote_id: uuid.UUID, _: Checkout, svc: TaxServiceDep) -> Document:
    found, order_id = await svc.get_quote(quote_id)
    return {**to_jsonable(found), "order_id": order_id}


@router.post("/quotes/{quote_id}/commit", response_model=Document)
async def commit(
    quote_id: uuid.UUID, body: CommitIn, _: Checkout, svc: TaxServiceDep
) -> Document:
    return {
        **to_jsonable(await svc.commit(quote_id, body.order_id)),
        "order_id": body.order_id,
    }


@router.post("/quotes/{quote_id}/reverse", response_model=Document, status_code=201)
async def reverse(
    quote_id: uuid.UUID, body: ReverseIn, _: Checkout, svc: TaxServiceDep
) -> Document:
    return to_jsonable(await svc.reverse(quote_id, body.refunds))


@router.get("/liability", response_model=Document)
async def liability(start: date, end: date, _: Admin, svc: TaxServiceDep) -> Document:
    return {"rows": to_jsonable(await svc.liability(start, end))}


@router.get("/nexus", response_model=Document)
async def nexus(_: Admin, svc: TaxServiceDep, as_of: date | None = None) -> Document:
    return {"states": to_jsonable(await svc.nexus(as_of))}


@router.put("/registrations", status_code=204)
async def set_registrations(
    body: RegistrationsIn, _: Admin, svc: TaxServiceDep
) -> Response:
    await svc.set_registrations(
        [
            Registration(
                r.jurisdiction_code, r.registration_id, r.valid_from, r.valid_to
            )
            for r in body.registrations
        ]
    )
    return Response(status_code=204)
