"""Shared builders for commerce tests (plain data, no I/O)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from commerce.invoices import (
    Invoice,
    PaymentTerms,
    finalise_invoice,
    invoice_from_order,
)
from commerce.orders import (
    Discount,
    DiscountKind,
    Order,
    OrderLine,
    TaxLine,
    place_order,
)

D = Decimal


def tax_for(line_id: str, taxable: int, *, sample: bool = False) -> tuple[TaxLine, ...]:
    """California-like stack: state 6%, county 1.25% (sample), rounded half-up."""
    state = int((D(taxable) * D("0.06")).quantize(D(1), rounding="ROUND_HALF_UP"))
    county = int((D(taxable) * D("0.0125")).quantize(D(1), rounding="ROUND_HALF_UP"))
    return (
        TaxLine(line_id, "state", "06", "California", D("0.06"), taxable, state),
        TaxLine(
            line_id,
            "county",
            "06037",
            "Los Angeles <County>",
            D("0.0125"),
            taxable,
            county,
            sample,
        ),
    )


def sample_order(order_id: str = "o1", customer_id: str = "c1") -> Order:
    return Order(
        order_id,
        customer_id,
        "USD",
        (
            OrderLine("l1", "SKU-1", 2, 1999, description="Widget & <b>bold</b>"),
            OrderLine("l2", "SKU-2", 1, 5000),
        ),
        (
            Discount("d1", DiscountKind.PERCENT, percent=D(10), line_id="l1"),
            Discount(
                "d2",
                DiscountKind.FIXED,
                amount_minor=500,
                code="SPRING",
                label="Spring offer",
            ),
        ),
        shipping_minor=799,
    )


def placed_invoice(
    invoice_id: str = "i1",
    customer_id: str = "c1",
    issued_on: date = date(2026, 1, 1),
    terms: int = 30,
    number: str = "INV-0001",
) -> Invoice:
    from commerce.orders import price_order

    order = sample_order(f"o-{invoice_id}", customer_id)
    totals = price_order(order)
    taxes: tuple[TaxLine, ...] = ()
    for lp in totals.lines:
        taxes += tax_for(lp.line_id, lp.net_minor, sample=True)
    taxes += tax_for("shipping", order.shipping_minor)
    placed = place_order(order, taxes, "USD")
    inv = invoice_from_order(placed, invoice_id, customer_name="Ada <Lovelace>")
    return finalise_invoice(inv, number, issued_on, PaymentTerms(terms))


def real_quote(order: Order, state: str = "06", county: str = "06037"):  # type: ignore[no-untyped-def]
    """A quote from the real tax engine for ``order`` (seed rates, no boundaries)."""
    from datetime import datetime

    from commerce.orders import tax_basis
    from tax_zones import (
        Candidate,
        JurisdictionRef,
        Level,
        Policy,
        Quality,
        QuoteRequest,
        RateTable,
        Registration,
        Resolution,
        Status,
        TaxRules,
        compute_quote,
    )

    stack = (
        JurisdictionRef(Level.COUNTRY, "US", "United States"),
        JurisdictionRef(Level.STATE, state, state),
        JurisdictionRef(Level.COUNTY, county, county),
    )
    res = Resolution(
        status=Status.RESOLVED,
        jurisdictions=stack,
        quality=Quality.ROOFTOP,
        border_distance_m=1000.0,
        ambiguous=False,
        candidates=(Candidate(1.0, stack),),
        policy=Policy.MOST_LIKELY,
        accuracy_m=10.0,
        boundary_error_m=50.0,
        outside_share=0.0,
        sources=("test",),
    )
    req = QuoteRequest(
        order.currency,
        tax_basis(order),
        res,
        date(2025, 6, 1),
        shipping_minor=order.shipping_minor,
        registrations=(Registration(state, "r"),),
    )
    return compute_quote(
        req,
        RateTable.from_csv(),
        TaxRules.from_csv(),
        quote_id="q",
        expires_at=datetime(2025, 6, 1, 1),
    )
