"""Orders and billing: customers, products, orders, invoices, payments, books."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import httpx
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.auth import Principal, require
from api.deps import CommerceServiceDep
from api.jsonroute import StrictJSONRoute
from api.schemas import commerce as s
from commerce.dunning import CreditHoldParams
from commerce.errors import SensitiveDataError
from commerce.idempotency import fingerprint
from commerce.orders import Discount, DiscountKind
from commerce.repository import CustomerRecord, GeoPoint, ProductRecord
from commerce.sensitive import find_card_numbers, reject_card_numbers
from commerce.service import NewLine, PaymentRequest, Sender


async def no_card_data(request: Request) -> None:
    """Refuse any body holding a card-shaped number, naming the field (never echoed)."""
    body = await request.body()
    if not body:
        return
    try:
        reject_card_numbers(orjson.loads(body))
    except orjson.JSONDecodeError:
        if find_card_numbers(body.decode("utf-8", "replace")):
            raise SensitiveDataError(["body"]) from None


router = APIRouter(
    prefix="/v1",
    tags=["commerce"],
    route_class=StrictJSONRoute,
    dependencies=[Depends(no_card_data)],
)
Checkout = Annotated[Principal, Depends(require("checkout"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _geo(p: s.PointIn | None) -> GeoPoint | None:
    return None if p is None else GeoPoint(p.lat, p.lon, p.accuracy_m)


@router.post("/customers", response_model=s.Document, status_code=201)
async def create_customer(
    body: s.CustomerIn, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    fields = body.model_dump(exclude={"address_point"})
    c = CustomerRecord("", address_point=_geo(body.address_point), **fields)
    return s.customer_document(await svc.create_customer(c))


@router.get("/customers", response_model=s.Document)
async def list_customers(
    _: Checkout,
    svc: CommerceServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> s.Document:
    found = await svc.list_customers(limit, offset)
    return {"customers": [s.customer_document(c) for c in found]}


@router.get("/customers/{customer_id}", response_model=s.Document)
async def get_customer(
    customer_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    return s.customer_document(await svc.get_customer(customer_id))


@router.patch("/customers/{customer_id}", response_model=s.Document)
async def update_customer(
    customer_id: uuid.UUID, body: s.CustomerPatch, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    changes = body.model_dump(exclude_unset=True)
    return s.customer_document(await svc.update_customer(customer_id, changes))


@router.delete("/customers/{customer_id}", response_model=s.Document)
async def erase_customer(
    customer_id: uuid.UUID, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    return s.customer_document(await svc.erase_customer(customer_id))


@router.post("/products", response_model=s.Document, status_code=201)
async def create_product(
    body: s.ProductIn, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    p = ProductRecord("", **body.model_dump())
    return s.product_document(await svc.create_product(p))


@router.get("/products", response_model=s.Document)
async def list_products(_: Checkout, svc: CommerceServiceDep) -> s.Document:
    return {"products": [s.product_document(p) for p in await svc.list_products()]}


@router.post("/orders", response_model=s.Document, status_code=201)
async def create_order(
    body: s.OrderIn, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    stored, totals = await svc.create_order(
        body.customer_id,
        body.currency,
        [NewLine(ln.line_id, ln.sku, ln.quantity) for ln in body.lines],
        [
            Discount(
                d.discount_id,
                DiscountKind(d.kind),
                d.percent,
                d.amount_minor,
                d.line_id,
                d.code,
                d.label,
            )
            for d in body.discounts
        ],
        body.shipping_minor,
        GeoPoint(body.ship_to.lat, body.ship_to.lon, body.ship_to.accuracy_m),
        _geo(body.ship_from),
        body.ship_from.label if body.ship_from else None,
        offer_code=body.offer_code,
    )
    return s.order_document(stored, totals)


@router.post("/orders/search/within", response_model=s.Document)
async def orders_within(
    body: s.OrdersWithinIn, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    at = GeoPoint(body.lat, body.lon)
    return s.summaries_document(await svc.orders_within(at, body.radius_m, body.limit))


@router.post("/orders/search/polygon", response_model=s.Document)
async def orders_in_polygon(
    body: s.OrdersInPolygonIn, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    found = await svc.orders_in(body.polygon.coordinates, body.limit)
    return s.summaries_document(found)


@router.get("/orders/stats/h3", response_model=s.Document)
async def orders_by_h3(
    _: Admin,
    svc: CommerceServiceDep,
    resolution: Annotated[int, Query(ge=0, le=15)] = 7,
) -> s.Document:
    return s.cells_document(resolution, await svc.h3_stats(resolution))


@router.get("/orders/stats/jurisdictions", response_model=s.Document)
async def orders_by_jurisdiction(_: Admin, svc: CommerceServiceDep) -> s.Document:
    return s.jurisdictions_document(await svc.jurisdiction_stats())


@router.get("/orders/{order_id}", response_model=s.Document)
async def get_order(
    order_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    return s.order_document(*await svc.get_order(order_id))


@router.post("/orders/{order_id}/place", response_model=s.Document)
async def place_order(
    order_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    placed = await svc.place_order(order_id)
    doc = s.order_document(placed.stored, placed.totals)
    return {**doc, "invoice": s.invoice_document(placed.invoice)}


@router.post("/orders/{order_id}/cancel", response_model=s.Document)
async def cancel_order(
    order_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    return s.order_document(*await svc.cancel_order(order_id))


@router.get("/invoices/{invoice_id}", response_model=s.Document)
async def get_invoice(
    invoice_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> s.Document:
    return s.invoice_document(await svc.get_invoice(invoice_id))


@router.get("/invoices/{invoice_id}/html", response_class=HTMLResponse)
async def invoice_html(
    invoice_id: uuid.UUID, _: Checkout, svc: CommerceServiceDep
) -> HTMLResponse:
    return HTMLResponse(await svc.invoice_html(invoice_id))


@router.post(
    "/invoices/{invoice_id}/credit-notes", response_model=s.Document, status_code=201
)
async def issue_credit_note(
    invoice_id: uuid.UUID, body: s.CreditNoteIn, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    note, app = await svc.issue_credit_note(invoice_id, body.amounts, body.reason)
    return s.credit_note_document(note, app)


@router.post("/payments", status_code=201, response_model=s.Document)
async def record_payment(
    body: s.PaymentIn,
    request: Request,
    principal: Checkout,
    svc: CommerceServiceDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    fp = fingerprint(
        str(principal.tenant_id), "POST", request.url.path, await request.body()
    )
    req = PaymentRequest(
        body.customer_id,
        body.currency,
        body.amount_minor,
        body.method,
        body.token,
        body.last4,
        body.reference,
        {str(k): v for k, v in body.allocations.items()} if body.allocations else None,
        body.status,
    )
    stored = await svc.record_payment(idempotency_key, fp, req, s.payment_bytes)
    return Response(
        stored.response_body,
        status_code=stored.response_status or 201,
        media_type=stored.response_content_type,
    )


@router.get("/ledger/balance", response_model=s.Document)
async def ledger_balance(_: Admin, svc: CommerceServiceDep) -> s.Document:
    return s.balance_document(await svc.balance())


@router.get("/audit/verify", response_model=s.Document)
async def audit_verify(_: Admin, svc: CommerceServiceDep) -> s.Document:
    return s.verification_document(await svc.verify_audit())


@router.get("/receivables/kpis", response_model=s.Document)
async def receivables_kpis(
    _: Admin,
    svc: CommerceServiceDep,
    as_of: date | None = None,
    period_days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> s.Document:
    today = as_of or datetime.now(UTC).date()
    return s.kpis_document(await svc.kpis(today, period_days))


@router.post("/receivables/dunning/run", response_model=s.Document)
async def run_dunning(
    body: s.DunningIn, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    run = await svc.run_dunning(
        body.as_of or datetime.now(UTC).date(),
        body.schedules,
        CreditHoldParams(overdue_days=body.hold_after_days),
    )
    return s.dunning_document(run)


async def http_sender(
    url: str, headers: dict[str, str], body: bytes
) -> tuple[int | None, str | None]:
    """POST one webhook; any transport failure is an error string, never raised."""
    try:
        async with httpx.AsyncClient(timeout=10.0) as c:
            r = await c.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return r.status_code, None if r.is_success else f"HTTP {r.status_code}"


def get_sender(request: Request) -> Sender:
    return getattr(request.app.state, "webhook_sender", None) or http_sender


@router.put("/webhooks/endpoint", status_code=204)
async def set_webhook_endpoint(
    body: s.WebhookEndpointIn, _: Admin, svc: CommerceServiceDep
) -> Response:
    await svc.set_webhook_endpoint(body.url, body.secret)
    return Response(status_code=204)


@router.post("/outbox/deliver", response_model=s.Document)
async def deliver_outbox(
    body: s.DeliverIn,
    _: Admin,
    svc: CommerceServiceDep,
    sender: Annotated[Sender, Depends(get_sender)],
) -> s.Document:
    done = await svc.deliver_outbox(sender, datetime.now(UTC), body.limit)
    return {"deliveries": [s.delivery_document(d) for d in done]}


@router.get("/outbox", response_model=s.Document)
async def list_outbox(
    _: Admin,
    svc: CommerceServiceDep,
    status: Literal["pending", "retrying", "delivered", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.Document:
    rows = await svc.outbox(status, limit)
    return {"events": [s.delivery_document(d, e, sub) for d, e, sub in rows]}


@router.post("/reconciliation/statements", response_model=s.Document, status_code=201)
async def import_statement(
    request: Request, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    """Import a bank statement: CSV (``date,amount,currency,reference,...``) or
    ISO 20022 camt.053 XML (``Content-Type: application/xml``)."""
    imported = await svc.import_statement(
        await request.body(), content_type=request.headers.get("content-type")
    )
    return s.import_document(imported)


@router.get("/reconciliation/queue", response_model=s.Document)
async def reconciliation_queue(_: Admin, svc: CommerceServiceDep) -> s.Document:
    return {"lines": [s.queued_document(q) for q in await svc.reconciliation_queue()]}


@router.post("/reconciliation/queue/{line_id}/resolve", response_model=s.Document)
async def resolve_line(
    line_id: int, body: s.ResolveLineIn, _: Admin, svc: CommerceServiceDep
) -> s.Document:
    allocations = (
        {str(k): v for k, v in body.allocations.items()} if body.allocations else None
    )
    paid = await svc.resolve_statement_line(line_id, body.customer_id, allocations)
    return s.payment_document(paid)
