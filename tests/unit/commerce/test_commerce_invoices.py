from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.credit_notes import apply_credit_note, create_credit_note
from commerce.errors import (
    IllegalTransitionError,
    InvalidAmountError,
    InvalidDocumentError,
    MoneyRuleError,
    OvercreditError,
    OverpaymentError,
)
from commerce.invoices import (
    InvoiceStatus,
    PaymentTerms,
    apply_payment,
    due_date,
    finalise_invoice,
    invoice_from_order,
    transition_invoice,
)
from commerce.orders import place_order, price_order, tax_lines_from_quote
from commerce.render import render_invoice_html, tax_by_jurisdiction
from tax_zones import reverse
from tests.unit.commerce.billing_helpers import placed_invoice, real_quote, sample_order


class TestFromOrderAndTotals:
    def test_total_identity(self) -> None:
        inv = placed_invoice()
        assert inv.status == InvoiceStatus.OPEN and inv.number == "INV-0001"
        assert (
            inv.total_minor
            == inv.gross_minor - inv.discount_minor + inv.shipping_minor + inv.tax_minor
        )
        assert inv.amount_remaining_minor == inv.total_minor
        assert inv.due_on == date(2026, 1, 31)
        assert inv.sample_data

    def test_with_real_tax_engine(self) -> None:
        order = sample_order()
        quote = real_quote(order)
        placed = place_order(order, tax_lines_from_quote(quote), quote.currency)
        inv = invoice_from_order(placed, "i")
        assert inv.tax_minor == quote.tax_minor > 0
        assert inv.total_minor == quote.total_minor == price_order(placed).total_minor
        # a full credit note gives back exactly what the tax engine's reversal does
        note = create_credit_note(
            finalise_invoice(inv, "N1", date(2025, 6, 1), PaymentTerms()), "cn"
        )
        rev = reverse(quote)
        assert -rev.tax_minor == note.tax_minor
        ours = sorted((t.line_id, t.code, t.tax_minor) for t in note.tax_lines)
        theirs = sorted(
            (ln.line_id, j.code, -j.tax_minor)
            for ln in rev.lines
            for j in ln.jurisdictions
        )
        assert ours == theirs

    def test_draft_and_cancelled_orders_are_not_invoiced(self) -> None:
        with pytest.raises(InvalidDocumentError, match=r"^order\.status:"):
            invoice_from_order(sample_order(), "i")

    def test_zero_total_is_paid_on_finalisation(self) -> None:
        from commerce.orders import Order, OrderLine

        o = place_order(Order("o", "c", "JPY", (OrderLine("a", "s", 1, 0),)), (), "JPY")
        inv = finalise_invoice(
            invoice_from_order(o, "i"), "N", date(2026, 1, 1), PaymentTerms(0)
        )
        assert inv.status == InvoiceStatus.PAID and inv.due_on == date(2026, 1, 1)


class TestTerms:
    @pytest.mark.parametrize(
        ("net", "due"),
        [(0, date(2026, 2, 27)), (14, date(2026, 3, 13)), (30, date(2026, 3, 29))],
    )
    def test_due_date(self, net: int, due: date) -> None:
        assert due_date(date(2026, 2, 27), PaymentTerms(net)) == due

    def test_negative_terms(self) -> None:
        with pytest.raises(InvalidAmountError, match=r"payment_terms\.net_days"):
            PaymentTerms(-1)


class TestStates:
    def test_payments_partial_then_full(self) -> None:
        inv = placed_invoice()
        inv = apply_payment(inv, 1000)
        assert (
            inv.status == InvoiceStatus.OPEN
            and inv.amount_remaining_minor == inv.total_minor - 1000
        )
        inv = apply_payment(inv, inv.amount_remaining_minor)
        assert inv.status == InvoiceStatus.PAID and inv.amount_remaining_minor == 0
        with pytest.raises(MoneyRuleError):
            apply_payment(inv, 1)

    def test_never_overpaid(self) -> None:
        inv = placed_invoice()
        with pytest.raises(OverpaymentError):
            apply_payment(inv, inv.total_minor + 1)
        with pytest.raises(InvalidAmountError):
            apply_payment(inv, -5)

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            ("draft", "paid"),
            ("paid", "open"),
            ("void", "open"),
            ("paid", "void"),
            ("open", "draft"),
            ("uncollectible", "open"),
        ],
    )
    def test_illegal_transitions(self, start: str, target: str) -> None:
        inv = replace(placed_invoice(), status=InvoiceStatus(start))
        with pytest.raises(IllegalTransitionError, match=r"^invoice: cannot go from"):
            transition_invoice(inv, InvoiceStatus(target))

    def test_void_and_uncollectible(self) -> None:
        inv = placed_invoice()
        assert transition_invoice(inv, InvoiceStatus.VOID).status == InvoiceStatus.VOID
        bad = transition_invoice(inv, InvoiceStatus.UNCOLLECTIBLE)
        assert apply_payment(bad, bad.total_minor).status == InvoiceStatus.PAID
        with pytest.raises(MoneyRuleError, match="void"):
            transition_invoice(apply_payment(inv, 1), InvoiceStatus.VOID)
        with pytest.raises(MoneyRuleError, match="remains"):
            transition_invoice(inv, InvoiceStatus.PAID)

    def test_finalise_only_drafts(self) -> None:
        with pytest.raises(IllegalTransitionError):
            finalise_invoice(placed_invoice(), "X", date(2026, 1, 1), PaymentTerms())


class TestCreditNotes:
    def test_partial_notes_add_up_to_full_tax(self) -> None:
        inv = placed_invoice()
        notes = []
        for i, amt in enumerate([1, 333, 1000]):
            notes.append(create_credit_note(inv, f"cn{i}", {"l1": amt}, notes))
        rest = create_credit_note(inv, "rest", None, notes)
        notes.append(rest)
        assert sum(n.total_minor for n in notes) == inv.total_minor
        per_jur: dict[tuple[str, str], int] = {}
        for n in notes:
            for t in n.tax_lines:
                per_jur[t.line_id, t.code] = (
                    per_jur.get((t.line_id, t.code), 0) + t.tax_minor
                )
        assert per_jur == {(t.line_id, t.code): t.tax_minor for t in inv.tax_lines}

    def test_over_credit_refused(self) -> None:
        inv = placed_invoice()
        first = create_credit_note(inv, "a", {"l2": 4000})
        with pytest.raises(OvercreditError, match=r"amounts\['l2'\]"):
            create_credit_note(inv, "b", {"l2": 800}, [first])
        with pytest.raises(InvalidDocumentError, match="no such line"):
            create_credit_note(inv, "c", {"nope": 1})
        with pytest.raises(InvalidDocumentError, match="credit something"):
            create_credit_note(inv, "d", {"l2": 0})

    def test_credit_reduces_remaining_then_becomes_customer_credit(self) -> None:
        inv = apply_payment(placed_invoice(), 5000)
        remaining = inv.amount_remaining_minor
        note = create_credit_note(inv, "cn", None)
        app = apply_credit_note(inv, note)
        assert app.to_receivable_minor == remaining
        assert app.to_customer_credit_minor == 5000
        assert (
            app.invoice.status == InvoiceStatus.PAID
            and app.invoice.amount_remaining_minor == 0
        )

    def test_void_invoice_cannot_be_credited(self) -> None:
        inv = transition_invoice(placed_invoice(), InvoiceStatus.VOID)
        with pytest.raises(MoneyRuleError):
            create_credit_note(inv, "cn")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["l1", "l2", "shipping"]), st.integers(1, 3000)),
        max_size=8,
    )
)
def test_credit_notes_never_exceed_and_full_credit_is_exact(
    parts: list[tuple[str, int]],
) -> None:
    inv = placed_invoice()
    notes = []
    for k, (line, amt) in enumerate(parts):
        with contextlib.suppress(OvercreditError):
            notes.append(create_credit_note(inv, f"n{k}", {line: amt}, notes))
    if sum(n.amount_minor for n in notes) < inv.subtotal_minor + inv.shipping_minor:
        notes.append(create_credit_note(inv, "final", None, notes))
    assert all(t.tax_minor >= 0 for n in notes for t in n.tax_lines)
    assert sum(n.total_minor for n in notes) == inv.total_minor


class TestRender:
    def test_escapes_and_shows_tax_and_sample_label(self) -> None:
        inv = placed_invoice()
        html = render_invoice_html(inv, seller="Shop <script>alert(1)</script>")
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "Widget &amp; &lt;b&gt;bold&lt;/b&gt;" in html
        assert "Ada &lt;Lovelace&gt;" in html
        assert (
            "Los Angeles &lt;County&gt;" in html and "1.25% *" in html and "6%" in html
        )
        assert "SAMPLE DATA" in html
        assert "INV-0001" in html and "Spring offer" in html and "SPRING" in html

    def test_erased_customer_and_no_sample(self) -> None:
        inv = replace(placed_invoice(), customer_name=None, tax_lines=())
        html = render_invoice_html(inv)
        assert "customer c1" in html and "SAMPLE DATA" not in html and "No tax" in html

    def test_tax_by_jurisdiction_sums_lines(self) -> None:
        inv = placed_invoice()
        rows = tax_by_jurisdiction(inv.tax_lines)
        assert {r.code for r in rows} == {"06", "06037"}
        assert sum(r.tax_minor for r in rows) == inv.tax_minor


class TestNumbersAndErasure:
    def test_invoice_number(self) -> None:
        from commerce.invoices import invoice_number

        assert invoice_number("INV", 2026, 7) == "INV-2026-000007"
        assert (
            invoice_number("ACME-EU", 2026, 1234567, width=4) == "ACME-EU-2026-1234567"
        )
        with pytest.raises(InvalidDocumentError, match=r"^seq"):
            invoice_number("INV", 2026, 0)
        with pytest.raises(InvalidDocumentError, match=r"^prefix"):
            invoice_number("<b>", 2026, 1)

    def test_erasure_keeps_the_books(self) -> None:
        from commerce.invoices import erase_customer

        inv = placed_invoice()
        erased = erase_customer(inv)
        assert erased.customer_name is None
        assert (erased.total_minor, erased.tax_lines) == (
            inv.total_minor,
            inv.tax_lines,
        )
        assert "Ada" not in render_invoice_html(erased)


@st.composite
def invoices_st(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from commerce.orders import Discount, DiscountKind, Order, OrderLine, TaxLine

    n = draw(st.integers(1, 5))
    lines = tuple(
        OrderLine(f"l{i}", "s", draw(st.integers(1, 20)), draw(st.integers(0, 10**6)))
        for i in range(n)
    )
    discounts = tuple(
        Discount(
            f"d{k}",
            DiscountKind.PERCENT,
            percent=Decimal(draw(st.integers(0, 100))),
            line_id=draw(
                st.one_of(st.none(), st.sampled_from([ln.line_id for ln in lines]))
            ),
        )
        for k in range(draw(st.integers(0, 3)))
    )
    order = Order(
        "o",
        "c",
        draw(st.sampled_from(["USD", "JPY", "BHD"])),
        lines,
        discounts,
        shipping_minor=draw(st.integers(0, 5000)),
    )
    taxes = []
    bases = [(lp.line_id, lp.net_minor) for lp in price_order(order).lines]
    for line_id, base in [*bases, ("shipping", order.shipping_minor)]:
        for code, rate in (("s", Decimal("0.0625")), ("c", Decimal("0.0175"))):
            tax = int((base * rate).to_integral_value())
            taxes.append(TaxLine(line_id, "state", code, code, rate, base, tax))
    return place_order(order, tuple(taxes), order.currency)


@settings(max_examples=80, deadline=None)
@given(invoices_st())
def test_invoice_total_is_lines_plus_tax_minus_discounts(order) -> None:  # type: ignore[no-untyped-def]
    inv = invoice_from_order(order, "i")
    totals = price_order(order)
    assert inv.gross_minor == sum(
        ln.quantity * ln.unit_price_minor for ln in order.lines
    )
    assert inv.discount_minor == totals.discount_minor
    assert inv.tax_minor == sum(t.tax_minor for t in order.tax_lines)
    assert (
        inv.total_minor
        == inv.gross_minor - inv.discount_minor + inv.shipping_minor + inv.tax_minor
    )
    assert inv.total_minor == totals.total_minor
