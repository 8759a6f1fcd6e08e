"""Checkout tax quotes: per line and per jurisdiction, exact in minor units.

Rounding (stated in every quote): each line's tax is the exact Decimal sum of
``taxable x rate`` over its jurisdictions, rounded **half-up to the currency's
minor unit**; the line tax is split over its jurisdictions by largest
remainder, so per-jurisdiction amounts sum to the line tax, and line taxes sum
to the quote's tax total exactly.

A quote never hides a zero: a jurisdiction the tenant is not registered in, a
category exemption, a customer exemption or a missing local rate each carry a
reason code, and sample rates are flagged on the line and the quote.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from tax_zones.errors import (
    AmbiguousJurisdictionError,
    InvalidQuoteError,
    NoJurisdictionError,
)
from tax_zones.money import allocate, currency_exponent, round_half_up
from tax_zones.rates import RateTable, Sourcing, TaxCategory, TaxRules, Treatment
from tax_zones.resolution import Policy, Resolution, Status
from tax_zones.types import JurisdictionRef, Level

ROUNDING = (
    "per line, half-up, to the currency's minor unit; jurisdiction amounts within "
    "a line allocated by largest remainder; line taxes sum to the total exactly"
)


class Reason:
    """Taxability reason codes."""

    TAXABLE = "taxable"
    REDUCED_RATE = "category_reduced_rate"
    CATEGORY_EXEMPT = "category_exempt"
    DEFAULT_TAXABLE = "default_taxable_no_rule"
    CUSTOMER_EXEMPT = "customer_exempt"
    NOT_REGISTERED = "not_registered"
    NO_RATE = "no_rate_on_file"


@dataclass(frozen=True)
class QuoteLine:
    """A basket line: unit amount in minor units, quantity, category."""

    line_id: str
    amount_minor: int
    quantity: int = 1
    category: TaxCategory = TaxCategory.GENERAL


@dataclass(frozen=True)
class Registration:
    """A tenant's registration to collect tax in a state (FIPS) or country (ISO)."""

    jurisdiction_code: str
    registration_id: str
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the registration is in force on ``day`` (``valid_to`` exclusive)."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to


@dataclass(frozen=True)
class CustomerExemption:
    """An exemption certificate, for some jurisdiction codes or (None) all."""

    certificate_id: str
    jurisdiction_codes: frozenset[str] | None = None
    reason: str = "exemption certificate"


@dataclass(frozen=True)
class QuoteRequest:
    """Everything a quote needs; locations come already resolved."""

    currency: str
    lines: tuple[QuoteLine, ...]
    ship_to: Resolution
    tax_date: date
    ship_from: Resolution | None = None
    shipping_minor: int = 0
    exemption: CustomerExemption | None = None
    registrations: tuple[Registration, ...] = ()


@dataclass(frozen=True)
class JurisdictionTax:
    """Tax of one line in one jurisdiction."""

    level: Level
    code: str
    name: str
    rate: Decimal
    taxable_minor: int
    tax_minor: int
    sourcing: Sourcing
    reason: str
    rate_source: str
    sample: bool


@dataclass(frozen=True)
class LineResult:
    """One quoted line (shipping is a line with id ``shipping``)."""

    line_id: str
    category: TaxCategory
    amount_minor: int
    tax_minor: int
    jurisdictions: tuple[JurisdictionTax, ...]


@dataclass(frozen=True)
class JurisdictionTotal:
    """Totals of one jurisdiction over the quote."""

    level: Level
    code: str
    name: str
    taxable_minor: int
    tax_minor: int


@dataclass(frozen=True)
class SplitShare:
    """Policy ``split``: the tax if the sale were in one candidate stack."""

    share: float
    codes: tuple[str, ...]
    tax_minor: int


@dataclass(frozen=True)
class Quote:
    """A computed quote; the lead stores it under ``quote_id`` until expiry."""

    quote_id: str
    expires_at: datetime
    currency: str
    exponent: int
    tax_date: date
    lines: tuple[LineResult, ...]
    jurisdictions: tuple[JurisdictionTotal, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    rounding: str
    location: Resolution
    complete: bool  # False when a rate is missing somewhere
    sample_data: bool  # True when any sample (made-up) rate was used
    notes: tuple[str, ...]
    split: tuple[SplitShare, ...] = ()  # policy split only; for reporting
    split_weighted_tax_minor: int | None = None


def _validate(req: QuoteRequest) -> int:
    exp = currency_exponent(req.currency)
    if not req.lines:
        raise InvalidQuoteError("lines: a quote needs at least one line")
    seen: set[str] = set()
    for i, ln in enumerate(req.lines):
        for field in ("amount_minor", "quantity"):
            v = getattr(ln, field)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidQuoteError(f"lines[{i}].{field} must be an integer")
        if ln.amount_minor < 0:
            raise InvalidQuoteError(f"lines[{i}].amount_minor must be >= 0")
        if ln.quantity < 1:
            raise InvalidQuoteError(f"lines[{i}].quantity must be >= 1")
        if ln.line_id in seen or ln.line_id == "shipping":
            raise InvalidQuoteError(f"lines[{i}].line_id duplicated or reserved")
        seen.add(ln.line_id)
        TaxCategory(ln.category)
    if isinstance(req.shipping_minor, bool) or not isinstance(req.shipping_minor, int):
        raise InvalidQuoteError("shipping_minor must be an integer")
    if req.shipping_minor < 0:
        raise InvalidQuoteError("shipping_minor must be >= 0")
    return exp


def _state_of(stack: tuple[JurisdictionRef, ...]) -> JurisdictionRef | None:
    return next((j for j in stack if j.level is Level.STATE), None)


def _taxing_stack(
    req: QuoteRequest, rules: TaxRules
) -> tuple[tuple[JurisdictionRef, ...], Sourcing, list[str]]:
    """Which stack taxes the sale: destination, or origin for in-state sellers."""
    dest = req.ship_to.jurisdictions
    state = _state_of(dest)
    notes: list[str] = []
    if state is None or req.ship_from is None:
        return dest, Sourcing.DESTINATION, notes
    if req.ship_from.status is not Status.RESOLVED:
        return dest, Sourcing.DESTINATION, notes
    origin_state = _state_of(req.ship_from.jurisdictions)
    rule, source = rules.sourcing_rule(state.code)
    if origin_state is None or origin_state.code != state.code:
        return dest, Sourcing.DESTINATION, notes
    if rule is Sourcing.DESTINATION:
        return dest, rule, notes
    if rule is Sourcing.MIXED:
        notes.append(
            f"sourcing mixed ({source}); special districts are not "
            "modelled, state and county taxes follow the origin"
        )
    return req.ship_from.jurisdictions, rule, notes


def compute_quote(
    req: QuoteRequest,
    rates: RateTable,
    rules: TaxRules,
    *,
    quote_id: str,
    expires_at: datetime,
) -> Quote:
    """Compute a tax quote.

    Parameters
    ----------
    req : QuoteRequest
        Lines (unit amount in minor units x quantity), shipping, resolved
        ship-to (and ship-from), exemption, registrations, currency, tax date.
    rates, rules : RateTable, TaxRules
        Effective-dated rates and the per-state rule tables.
    quote_id, expires_at
        Plain fields; the caller stores the quote.

    Raises
    ------
    NoJurisdictionError
        When the ship-to location has no jurisdiction (never a zero-tax quote).
    AmbiguousJurisdictionError
        When the ship-to resolution requires a precise location.
    InvalidQuoteError
        For a bad line, amount or currency (the message names the field).
    """
    exp = _validate(req)
    if req.ship_to.status is Status.NO_JURISDICTION:
        raise NoJurisdictionError(
            "ship_to: the location is outside every loaded "
            "jurisdiction; no tax can be computed"
        )
    if req.ship_to.status is Status.NEEDS_PRECISE_LOCATION:
        raise AmbiguousJurisdictionError(
            "ship_to: the location is ambiguous and the policy requires precision",
            req.ship_to.candidates,
        )
    stack, sourcing, notes = _taxing_stack(req, rules)
    state = _state_of(stack)
    reg_code = state.code if state is not None else stack[0].code
    registered = any(
        r.jurisdiction_code == reg_code and r.valid_on(req.tax_date)
        for r in req.registrations
    )
    if not registered:
        notes.append(
            f"not registered in {reg_code}: no tax collected (reason not_registered)"
        )
    if req.ship_to.ambiguous:
        notes.append(
            f"ship-to location is ambiguous; policy {req.ship_to.policy} "
            f"chose {stack[-1].code} among {len(req.ship_to.candidates)} "
            "candidates"
        )
    lines = list(req.lines)
    if req.shipping_minor:
        lines.append(QuoteLine("shipping", req.shipping_minor, 1, TaxCategory.SHIPPING))
    results: list[LineResult] = []
    complete, sample = True, False
    for ln in lines:
        amount = ln.amount_minor * ln.quantity
        taxes, exact = _line_jurisdictions(
            req, rates, rules, ln.category, amount, stack, state, sourcing, registered
        )
        line_tax = round_half_up(sum(exact, Decimal(0)))
        parts = allocate(line_tax, exact)
        taxes = [replace(t, tax_minor=p) for t, p in zip(taxes, parts, strict=True)]
        complete &= all(t.reason != Reason.NO_RATE for t in taxes)
        sample |= any(t.sample for t in taxes)
        results.append(
            LineResult(
                ln.line_id, TaxCategory(ln.category), amount, line_tax, tuple(taxes)
            )
        )
    if sample:
        notes.append("SAMPLE DATA: some local rates are made up for demos")
    if not complete:
        notes.append(
            "incomplete: no rate on file for some jurisdictions "
            "(reason no_rate_on_file); their tax is not included"
        )
    subtotal = sum(r.amount_minor for r in results)
    tax = sum(r.tax_minor for r in results)
    split, weighted = _split_report(req, rates, rules, quote_id, expires_at)
    return Quote(
        quote_id=quote_id,
        expires_at=expires_at,
        currency=req.currency,
        exponent=exp,
        tax_date=req.tax_date,
        lines=tuple(results),
        jurisdictions=_totals(results),
        subtotal_minor=subtotal,
        tax_minor=tax,
        total_minor=subtotal + tax,
        rounding=ROUNDING,
        location=req.ship_to,
        complete=complete,
        sample_data=sample,
        notes=tuple(notes) + req.ship_to.sources,
        split=split,
        split_weighted_tax_minor=weighted,
    )


def _split_report(
    req: QuoteRequest,
    rates: RateTable,
    rules: TaxRules,
    quote_id: str,
    expires_at: datetime,
) -> tuple[tuple[SplitShare, ...], int | None]:
    """Per-candidate tax and the share-weighted tax (policy ``split`` only).

    The charged tax stays the one of the chosen stack; this is for reporting.
    """
    loc = req.ship_to
    if loc.policy is not Policy.SPLIT or not loc.ambiguous:
        return (), None
    out: list[SplitShare] = []
    for cand in loc.candidates:
        one = replace(
            loc,
            jurisdictions=cand.jurisdictions,
            ambiguous=False,
            candidates=(cand,),
            policy=Policy.MOST_LIKELY,
        )
        q = compute_quote(
            replace(req, ship_to=one),
            rates,
            rules,
            quote_id=quote_id,
            expires_at=expires_at,
        )
        out.append(
            SplitShare(
                cand.share, tuple(j.code for j in cand.jurisdictions), q.tax_minor
            )
        )
    weighted = round_half_up(
        sum((Decimal(repr(s.share)) * s.tax_minor for s in out), Decimal(0))
    )
    return tuple(out), weighted


def _line_jurisdictions(
    req: QuoteRequest,
    rates: RateTable,
    rules: TaxRules,
    category: TaxCategory,
    amount: int,
    stack: tuple[JurisdictionRef, ...],
    state: JurisdictionRef | None,
    sourcing: Sourcing,
    registered: bool,
) -> tuple[list[JurisdictionTax], list[Decimal]]:
    taxes: list[JurisdictionTax] = []
    exact: list[Decimal] = []
    ex = req.exemption
    rule = rules.treatment(state.code, category) if state is not None else None
    for j in stack:
        under_state = state is not None and j.level is not Level.COUNTRY
        rate_row = rates.lookup(j.code, category, req.tax_date)
        if rate_row is None:
            rate_row = rates.general(j.code, req.tax_date)
        reason, taxable = Reason.TAXABLE, amount
        rate = rate_row.rate if rate_row else Decimal(0)
        src = rate_row.source if rate_row else "no rate on file"
        if not registered:
            reason, taxable, rate = Reason.NOT_REGISTERED, 0, Decimal(0)
        elif ex is not None and (
            ex.jurisdiction_codes is None
            or j.code in ex.jurisdiction_codes
            or (state is not None and state.code in ex.jurisdiction_codes)
        ):
            reason, taxable = Reason.CUSTOMER_EXEMPT, 0
            src = f"exemption {ex.certificate_id}: {ex.reason}"
        elif under_state and rule is not None and rule.treatment is Treatment.EXEMPT:
            reason, taxable, src = Reason.CATEGORY_EXEMPT, 0, rule.source
        elif rate_row is None:
            reason, taxable = Reason.NO_RATE, 0
        elif under_state and rule is not None and rule.treatment is Treatment.REDUCED:
            reason = Reason.REDUCED_RATE if rate_row.category is category else reason
        elif under_state and category is not TaxCategory.GENERAL and rule is None:
            reason = Reason.DEFAULT_TAXABLE
        taxes.append(
            JurisdictionTax(
                level=j.level,
                code=j.code,
                name=j.name,
                rate=rate,
                taxable_minor=taxable,
                tax_minor=0,
                sourcing=sourcing,
                reason=reason,
                rate_source=src,
                sample=bool(rate_row and rate_row.sample and taxable),
            )
        )
        exact.append(Decimal(taxable) * rate)
    return taxes, exact


def _totals(results: list[LineResult]) -> tuple[JurisdictionTotal, ...]:
    acc: dict[tuple[Level, str], list] = {}
    for r in results:
        for t in r.jurisdictions:
            row = acc.setdefault((t.level, t.code), [t.name, 0, 0])
            row[1] += t.taxable_minor
            row[2] += t.tax_minor
    return tuple(
        JurisdictionTotal(level, code, name, taxable, tax)
        for (level, code), (name, taxable, tax) in acc.items()
    )
