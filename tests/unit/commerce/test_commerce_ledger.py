from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce import ledger as L
from commerce.credit_notes import apply_credit_note, create_credit_note
from commerce.errors import MoneyRuleError, OvercreditError, UnbalancedEntryError
from commerce.invoices import (
    Invoice,
    InvoiceStatus,
    apply_payment,
    transition_invoice,
)
from commerce.payments import (
    Payment,
    allocate_credit,
    allocate_payment,
    receivable,
    refund,
)
from tests.unit.commerce.billing_helpers import placed_invoice


def test_finalisation_entry_shape() -> None:
    inv = placed_invoice()
    e = L.invoice_finalised(inv, "e1")
    assert e.debit_minor == e.credit_minor == inv.total_minor + inv.discount_minor
    r = L.check_ledger([e])
    assert r.balanced
    assert r.balances["USD", L.RECEIVABLES] == inv.total_minor
    assert -r.balances["USD", L.REVENUE] == inv.gross_minor
    taxes = L.tax_payable_by_jurisdiction([e])
    assert set(taxes) == {("USD", "state:06"), ("USD", "county:06037")}
    assert sum(taxes.values()) == inv.tax_minor


def test_void_mirrors_finalisation() -> None:
    inv = placed_invoice()
    r = L.check_ledger([L.invoice_finalised(inv, "a"), L.invoice_voided(inv, "b")])
    assert r.balanced and all(v == 0 for v in r.balances.values())
    with pytest.raises(MoneyRuleError):
        L.invoice_voided(apply_payment(inv, 1), "c")


def test_write_off() -> None:
    inv = transition_invoice(
        apply_payment(placed_invoice(), 100), InvoiceStatus.UNCOLLECTIBLE
    )
    e = L.invoice_written_off(inv, "w")
    assert e.debit_minor == inv.amount_remaining_minor


def test_check_ledger_reports_tampering() -> None:
    e = L.invoice_finalised(placed_invoice(), "e1")
    bad = replace(
        e,
        postings=(
            replace(e.postings[0], debit_minor=e.postings[0].debit_minor + 1),
            *e.postings[1:],
        ),
    )
    neg = replace(e, entry_id="e2", postings=(*e.postings, L.Posting("cash", -5, -5)))
    r = L.check_ledger([bad, neg])
    assert not r.balanced
    assert r.unbalanced_entries == ("e1",)
    assert r.invalid_postings == (f"e2.postings[{len(e.postings)}]",)


def test_payment_entry_rejects_mismatched_allocation() -> None:
    p = Payment("p", "c1", "USD", 100, date(2026, 1, 1))
    al = allocate_payment(50, "USD", "c1", [])
    with pytest.raises(UnbalancedEntryError):
        L.payment_received(p, al, "e")


class Books:
    """Applies events to invoices and the ledger the way the service will."""

    def __init__(self, invoices: list[Invoice]) -> None:
        self.inv = {i.invoice_id: i for i in invoices}
        self.notes: dict[str, list] = {i: [] for i in self.inv}
        self.entries = [L.invoice_finalised(i, f"fin-{i.invoice_id}") for i in invoices]
        self.credit = 0
        self.payments: list[tuple[Payment, int]] = []
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"e{self.n}"

    def pay(self, amount: int) -> None:
        p = Payment(self._id(), "c1", "USD", amount, date(2026, 2, 1))
        al = allocate_payment(
            amount, "USD", "c1", [receivable(i) for i in self.inv.values()]
        )
        for a in al.applications:
            self.inv[a.invoice_id] = apply_payment(
                self.inv[a.invoice_id], a.amount_minor
            )
        self.credit += al.credit_minor
        self.payments.append((p, 0))
        self.entries.append(L.payment_received(p, al, self._id()))

    def credit_note(self, inv_id: str, line: str, amount: int) -> None:
        inv = self.inv[inv_id]
        try:
            note = create_credit_note(
                inv, self._id(), {line: amount}, self.notes[inv_id]
            )
        except OvercreditError:
            return
        app = apply_credit_note(inv, note)
        self.inv[inv_id] = app.invoice
        self.notes[inv_id].append(note)
        self.credit += app.to_customer_credit_minor
        self.entries.append(L.credit_note_issued(note, app, self._id()))

    def use_credit(self) -> None:
        al = allocate_credit(
            self.credit, "USD", "c1", [receivable(i) for i in self.inv.values()]
        )
        if not al.applications:
            return
        for a in al.applications:
            self.inv[a.invoice_id] = apply_payment(
                self.inv[a.invoice_id], a.amount_minor
            )
        self.credit -= al.applied_minor
        self.entries.append(L.credit_applied("c1", al, self._id()))

    def refund(self, amount: int) -> None:
        for k, (p, done) in enumerate(self.payments):
            amt = min(amount, p.amount_minor - done, self.credit)
            if amt > 0:
                r = refund(self._id(), p, amt, done, self.credit)
                self.payments[k] = (p, done + amt)
                self.credit -= amt
                self.entries.append(L.refund_paid(r, self._id()))
                return


events = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 20000)),
        st.tuples(
            st.just("note"),
            st.integers(0, 2),
            st.sampled_from(["l1", "l2", "shipping"]),
            st.integers(1, 4000),
        ),
        st.tuples(st.just("use_credit")),
        st.tuples(st.just("refund"), st.integers(1, 20000)),
    ),
    max_size=15,
)


@settings(max_examples=80, deadline=None)
@given(events)
def test_ledger_always_balances_and_matches_documents(evs: list[tuple]) -> None:
    books = Books(
        [
            placed_invoice(f"i{k}", number=f"N{k}", issued_on=date(2026, 1, k + 1))
            for k in range(3)
        ]
    )
    for ev in evs:
        if ev[0] == "pay":
            books.pay(ev[1])
        elif ev[0] == "note":
            books.credit_note(f"i{ev[1]}", ev[2], ev[3])
        elif ev[0] == "use_credit":
            books.use_credit()
        else:
            books.refund(ev[1])
    report = L.check_ledger(books.entries)
    assert report.balanced
    recv = L.subledger(books.entries, L.RECEIVABLES)
    for inv in books.inv.values():
        assert recv.get(("USD", inv.invoice_id), 0) == inv.amount_remaining_minor
        assert inv.amount_paid_minor <= inv.total_minor
    assert (
        -L.subledger(books.entries, L.CUSTOMER_CREDIT).get(("USD", "c1"), 0)
        == books.credit
    )
    # tax payable per jurisdiction = invoice tax lines - credited tax lines
    expect: dict[tuple[str, str], int] = {}
    for inv in books.inv.values():
        for t in inv.tax_lines:
            expect["USD", f"{t.level}:{t.code}"] = (
                expect.get(("USD", f"{t.level}:{t.code}"), 0) + t.tax_minor
            )
        for n in books.notes[inv.invoice_id]:
            for t in n.tax_lines:
                expect["USD", f"{t.level}:{t.code}"] -= t.tax_minor
    assert L.tax_payable_by_jurisdiction(books.entries) == expect
    cash = report.balances.get(("USD", L.CASH), 0)
    paid_in = sum(p.amount_minor for p, _ in books.payments)
    assert cash == paid_in - sum(done for _, done in books.payments)


def test_write_off_then_late_payment_keeps_subledger_consistent() -> None:
    inv = apply_payment(placed_invoice(), 1000)
    entries = [L.invoice_finalised(inv, "f")]
    entries.append(
        L.payment_received(
            Payment("p0", "c1", "USD", 1000, date(2026, 1, 5)),
            allocate_payment(1000, "USD", "c1", [receivable(placed_invoice())]),
            "p0",
        )
    )
    bad = transition_invoice(inv, InvoiceStatus.UNCOLLECTIBLE)
    entries.append(L.invoice_written_off(bad, "w"))
    assert L.subledger(entries, L.RECEIVABLES)["USD", "i1"] == 0
    late = bad.amount_remaining_minor
    entries.append(L.write_off_reversed(bad, late, "r"))
    al = allocate_payment(late, "USD", "c1", [receivable(bad)])
    entries.append(
        L.payment_received(Payment("p1", "c1", "USD", late, date(2026, 6, 1)), al, "p1")
    )
    paid = apply_payment(bad, late)
    report = L.check_ledger(entries)
    assert report.balanced and paid.status == InvoiceStatus.PAID
    assert L.subledger(entries, L.RECEIVABLES)["USD", "i1"] == 0
    assert report.balances.get(("USD", L.BAD_DEBT), 0) == 0
    with pytest.raises(MoneyRuleError):
        L.write_off_reversed(bad, 0, "z")
