"""Quotes: breakdown, taxability, sourcing, registrations, rounding."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from tax_helpers import resolved, us_stack

from tax_zones.errors import (
    AmbiguousJurisdictionError,
    InvalidQuoteError,
    NoJurisdictionError,
)
from tax_zones.jurisdictions import Status
from tax_zones.quotes import (
    CustomerExemption,
    QuoteLine,
    QuoteRequest,
    Reason,
    Registration,
    compute_quote,
)
from tax_zones.rates import RateTable, Sourcing, TaxCategory, TaxRules

RATES = RateTable.from_csv()
RULES = TaxRules.from_csv()
DAY = date(2025, 6, 1)
EXPIRES = datetime(2025, 6, 1, 0, 30)
ST_LOUIS = us_stack("29", "Missouri", "29510", "St. Louis city")
LA = us_stack("06", "California", "06037", "Los Angeles")
PHILLY = us_stack("42", "Pennsylvania", "42101", "Philadelphia")
CHICAGO = us_stack("17", "Illinois", "17031", "Cook")
BOWIE = us_stack("48", "Texas", "48037", "Bowie")
DALLAS = us_stack("48", "Texas", "48113", "Dallas")
ALL_STATES = [
    Registration(s, f"reg-{s}")
    for s in ("29", "06", "42", "17", "48", "05", "34", "36")
]


def quote(ship_to=ST_LOUIS, lines=None, **kw):
    req = QuoteRequest(
        currency=kw.pop("currency", "USD"),
        lines=tuple(lines or [QuoteLine("a", 10_000)]),
        ship_to=kw.pop("resolution", None) or resolved(ship_to),
        tax_date=kw.pop("tax_date", DAY),
        registrations=tuple(kw.pop("registrations", ALL_STATES)),
        **kw,
    )
    return compute_quote(req, RATES, RULES, quote_id="q-1", expires_at=EXPIRES)


def by_code(line):
    return {t.code: t for t in line.jurisdictions}


class TestBreakdown:
    def test_per_line_per_jurisdiction_with_sample_label(self) -> None:
        q = quote(lines=[QuoteLine("a", 1999, 3)])
        j = by_code(q.lines[0])
        assert j["29"].rate == Decimal("0.04225")
        assert (
            j["29"].tax_minor + j["29510"].tax_minor + j["US"].tax_minor
            == q.lines[0].tax_minor
        )
        assert j["29510"].sample
        assert "SAMPLE DATA" in j["29510"].rate_source
        assert q.sample_data
        assert any("SAMPLE DATA" in n for n in q.notes)
        assert q.total_minor == q.subtotal_minor + q.tax_minor == 5997 + q.tax_minor
        assert q.rounding.startswith("per line, half-up")
        assert any("Census" in n or "test boundaries" in n for n in q.notes)

    def test_california_uses_statewide_base_not_sales_tax_package_value(self) -> None:
        j = by_code(quote(LA).lines[0])
        assert j["06"].rate == Decimal("0.0725")
        assert "8.25" in j["06"].rate_source or "0.0825" in j["06"].rate_source

    def test_effective_dates_pick_the_rate_in_force(self) -> None:
        old = by_code(quote(LA, tax_date=date(2016, 6, 1)).lines[0])["06"]
        new = by_code(quote(LA, tax_date=date(2017, 1, 1)).lines[0])["06"]
        assert (old.rate, new.rate) == (Decimal("0.075"), Decimal("0.0725"))

    def test_county_without_rate_is_flagged_not_silent(self) -> None:
        q = quote(DALLAS)
        j = by_code(q.lines[0])
        assert j["48113"].reason == Reason.NO_RATE
        assert not q.complete
        assert any("no_rate_on_file" in n for n in q.notes)


class TestTaxability:
    def test_clothing_exempt_in_pennsylvania(self) -> None:
        j = by_code(
            quote(PHILLY, [QuoteLine("c", 5000, 1, TaxCategory.CLOTHING)]).lines[0]
        )
        assert j["42"].reason == Reason.CATEGORY_EXEMPT
        assert j["42"].tax_minor == 0
        assert "Pennsylvania" in j["42"].rate_source

    def test_food_reduced_in_illinois(self) -> None:
        line = quote(CHICAGO, [QuoteLine("f", 10_000, 1, TaxCategory.FOOD)]).lines[0]
        j = by_code(line)
        assert j["17"].rate == Decimal("0.01")
        assert j["17"].reason == Reason.REDUCED_RATE
        assert line.tax_minor == 100

    def test_category_without_rule_says_default_taxable(self) -> None:
        j = by_code(
            quote(ST_LOUIS, [QuoteLine("d", 1000, 1, TaxCategory.DIGITAL_GOODS)]).lines[
                0
            ]
        )
        assert j["29"].reason == Reason.DEFAULT_TAXABLE

    def test_customer_exemption(self) -> None:
        q = quote(ST_LOUIS, exemption=CustomerExemption("cert-9", None, "resale"))
        assert q.tax_minor == 0
        assert {t.reason for t in q.lines[0].jurisdictions} == {Reason.CUSTOMER_EXEMPT}

    def test_shipping_is_a_line_with_its_own_rule(self) -> None:
        q = quote(LA, shipping_minor=1000)
        ship = next(ln for ln in q.lines if ln.line_id == "shipping")
        assert by_code(ship)["06"].reason == Reason.CATEGORY_EXEMPT


class TestRegistrationAndSourcing:
    def test_not_registered_says_so_with_reason(self) -> None:
        q = quote(ST_LOUIS, registrations=[Registration("06", "CA-1")])
        assert q.tax_minor == 0
        assert {t.reason for t in q.lines[0].jurisdictions} == {Reason.NOT_REGISTERED}
        assert any("not registered in 29" in n for n in q.notes)

    def test_registration_outside_its_dates_does_not_count(self) -> None:
        reg = Registration("29", "MO-1", valid_from=date(2026, 1, 1))
        q = quote(ST_LOUIS, registrations=[reg])
        assert q.lines[0].jurisdictions[1].reason == Reason.NOT_REGISTERED

    def test_in_state_texas_sale_is_origin_sourced(self) -> None:
        q = quote(DALLAS, ship_from=resolved(BOWIE))
        j = by_code(q.lines[0])
        assert "48037" in j
        assert "48113" not in j
        assert j["48"].sourcing is Sourcing.ORIGIN

    def test_interstate_sale_is_destination_sourced(self) -> None:
        q = quote(DALLAS, ship_from=resolved(ST_LOUIS))
        j = by_code(q.lines[0])
        assert "48113" in j
        assert j["48"].sourcing is Sourcing.DESTINATION


class TestBadInput:
    def test_no_jurisdiction_is_an_error_not_zero_tax(self) -> None:
        with pytest.raises(NoJurisdictionError, match="ship_to"):
            quote(resolution=resolved(status=Status.NO_JURISDICTION))

    def test_precise_location_required(self) -> None:
        res = resolved(
            BOWIE,
            us_stack("05", "Arkansas", "05091", "Miller"),
            status=Status.NEEDS_PRECISE_LOCATION,
        )
        with pytest.raises(AmbiguousJurisdictionError) as info:
            quote(resolution=res)
        assert len(info.value.candidates) == 2

    @pytest.mark.parametrize(
        ("line", "field"),
        [
            (QuoteLine("a", -1), "lines[0].amount_minor"),
            (QuoteLine("a", 100, 0), "lines[0].quantity"),
            (QuoteLine("a", 1.5), "lines[0].amount_minor"),
        ],  # type: ignore[arg-type]
    )
    def test_bad_line_names_the_field(self, line: QuoteLine, field: str) -> None:
        with pytest.raises(
            InvalidQuoteError, match=field.replace("[", r"\[").replace("]", r"\]")
        ):
            quote(lines=[line])

    def test_unknown_currency_names_the_field(self) -> None:
        with pytest.raises(InvalidQuoteError, match="currency"):
            quote(currency="XXX")


class TestRounding:
    STACKS = (ST_LOUIS, LA, PHILLY, CHICAGO, BOWIE)
    CURRENCIES = ("USD", "JPY", "BHD", "EUR")

    def test_line_taxes_sum_to_total_over_10000_random_baskets(self) -> None:
        rng = random.Random(20251123)
        for _ in range(10_000):
            lines = [
                QuoteLine(
                    f"l{i}",
                    rng.randint(0, 500_000),
                    rng.randint(1, 12),
                    rng.choice(list(TaxCategory)),
                )
                for i in range(rng.randint(1, 8))
            ]
            q = quote(
                rng.choice(self.STACKS),
                lines,
                currency=rng.choice(self.CURRENCIES),
                shipping_minor=rng.choice([0, rng.randint(1, 5000)]),
            )
            assert sum(ln.tax_minor for ln in q.lines) == q.tax_minor
            assert sum(j.tax_minor for j in q.jurisdictions) == q.tax_minor
            for ln in q.lines:
                assert sum(t.tax_minor for t in ln.jurisdictions) == ln.tax_minor
                exact = sum(
                    (Decimal(t.taxable_minor) * t.rate for t in ln.jurisdictions),
                    Decimal(0),
                )
                assert ln.tax_minor == int(
                    exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)
                )
            assert q.total_minor == q.subtotal_minor + q.tax_minor

    def test_half_up_at_exactly_half_a_cent(self) -> None:
        # 6.25% of 8 cents = 0.5 cent -> rounds up to 1 (Texas state, no county)
        q = quote(us_stack("48", "Texas"), [QuoteLine("h", 8)])
        assert q.tax_minor == 1


class TestSplitPolicy:
    def test_split_reports_tax_per_candidate_weighted_by_share(self) -> None:
        from tax_zones.jurisdictions import Policy

        miller = us_stack("05", "Arkansas", "05091", "Miller")
        res = resolved(BOWIE, miller, policy=Policy.SPLIT)
        q = quote(resolution=res)
        assert [s.codes[-1] for s in q.split] == ["48037", "05091"]
        taxes = [s.tax_minor for s in q.split]
        assert taxes[0] == quote(BOWIE).tax_minor
        assert taxes[1] == quote(miller).tax_minor
        assert q.split_weighted_tax_minor == round((taxes[0] + taxes[1]) / 2 + 1e-9)
        assert q.tax_minor == taxes[0]  # the charged tax is the chosen stack's

    def test_no_split_report_for_other_policies(self) -> None:
        q = quote(ST_LOUIS)
        assert q.split == ()
        assert q.split_weighted_tax_minor is None


class TestEncoding:
    """The fast encoder gives the bytes of the two-step form and decodes back."""

    @pytest.mark.parametrize(
        "kw",
        [
            {},
            {"ship_to": LA, "currency": "USD"},
            {"ship_to": PHILLY, "registrations": ()},
            {"ship_to": DALLAS, "shipping_minor": 599},
            {
                "ship_to": CHICAGO,
                "exemption": CustomerExemption("cert-1", frozenset({"17", "17031"})),
            },
        ],
    )
    def test_dumps_equals_to_jsonable_and_round_trips(self, kw) -> None:
        import orjson

        from tax_zones.codec import decode, dumps, to_jsonable
        from tax_zones.quotes import Quote

        lines = [
            QuoteLine("a", 12_345, 2),
            QuoteLine("b", 1999, 1, TaxCategory.CLOTHING),
            QuoteLine("c", 899, 3, TaxCategory.FOOD),
        ]
        q = quote(lines=lines, **kw)
        fast = dumps(q)
        assert fast == orjson.dumps(to_jsonable(q))
        assert decode(Quote, orjson.loads(fast)) == q
