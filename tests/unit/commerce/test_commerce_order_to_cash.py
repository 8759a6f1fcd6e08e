"""Order to cash over the real tax engine, with no database: 200 orders in several
US states, invoices, payments (some partial, some over), credit notes and refunds.

The same invariants the API test of issue 7 checks, at the domain level: every
invoice total = lines + shipping + tax - discounts; the ledger balances per currency;
tax payable per jurisdiction = committed tax lines - credited tax lines; receivables
per invoice = what remains on it.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from commerce import ledger as L
from commerce.credit_notes import apply_credit_note, create_credit_note
from commerce.dunning import DunningItem, ageing
from commerce.invoices import (
    PaymentTerms,
    apply_payment,
    finalise_invoice,
    invoice_from_order,
    invoice_number,
)
from commerce.orders import (
    Discount,
    DiscountKind,
    Order,
    OrderLine,
    place_order,
    price_order,
    tax_lines_from_quote,
)
from commerce.payments import Payment, allocate_payment, receivable, refund
from tests.unit.commerce.billing_helpers import real_quote

PLACES = [
    ("06", "06037"),
    ("29", "29510"),
    ("05", "05091"),
    ("48", "48037"),
    ("20", "20209"),
    ("24", "24510"),
]


def test_two_hundred_orders() -> None:
    rng = random.Random(20261123)
    invoices = {}
    entries: list[L.JournalEntry] = []
    committed: dict[tuple[str, str], int] = {}
    credited: dict[tuple[str, str], int] = {}
    credit_balance: dict[tuple[str, str], int] = {}
    payments: list[tuple[Payment, int]] = []
    for k in range(200):
        currency = "JPY" if k % 10 == 0 else "USD"
        state, county = PLACES[k % len(PLACES)]
        lines = tuple(
            OrderLine(
                f"l{j}",
                f"SKU-{rng.randint(1, 50)}",
                rng.randint(1, 5),
                rng.randint(50, 50_000),
            )
            for j in range(rng.randint(1, 4))
        )
        discounts: tuple[Discount, ...] = ()
        if k % 3 == 0:
            discounts = (
                Discount(
                    "d",
                    DiscountKind.PERCENT,
                    percent=Decimal(rng.choice([5, 10, 15])),
                    code="SAVE",
                ),
            )
        elif k % 7 == 0:
            discounts = (
                Discount("d", DiscountKind.FIXED, amount_minor=300, line_id="l0"),
            )
        order = Order(
            f"o{k}",
            f"c{k % 25}",
            currency,
            lines,
            discounts,
            shipping_minor=rng.choice([0, 499, 999]),
        )
        quote = real_quote(order, state, county)
        placed = place_order(order, tax_lines_from_quote(quote), quote.currency)
        issued = date(2026, 1, 1) + timedelta(days=k % 60)
        inv = finalise_invoice(
            invoice_from_order(placed, f"i{k}"),
            invoice_number("INV", 2026, k + 1),
            issued,
            PaymentTerms(30),
        )
        assert (
            inv.total_minor
            == inv.gross_minor - inv.discount_minor + inv.shipping_minor + inv.tax_minor
        )
        assert inv.total_minor == price_order(placed).total_minor == quote.total_minor
        invoices[inv.invoice_id] = inv
        entries.append(L.invoice_finalised(inv, f"fin-{k}"))
        for t in inv.tax_lines:
            key = (currency, f"{t.level}:{t.code}")
            committed[key] = committed.get(key, 0) + t.tax_minor
    for k in range(0, 200, 2):  # half the customers' payments: partial, exact, over
        inv = invoices[f"i{k}"]
        amount = {0: inv.total_minor // 2 or 1, 1: inv.total_minor + 1234}.get(
            k % 6, inv.total_minor
        )
        p = Payment(f"p{k}", inv.customer_id, inv.currency, amount, date(2026, 3, 1))
        al = allocate_payment(
            amount,
            inv.currency,
            inv.customer_id,
            [receivable(i) for i in invoices.values()],
        )
        for a in al.applications:
            invoices[a.invoice_id] = apply_payment(
                invoices[a.invoice_id], a.amount_minor
            )
        key = (inv.currency, inv.customer_id)
        credit_balance[key] = credit_balance.get(key, 0) + al.credit_minor
        payments.append((p, 0))
        entries.append(L.payment_received(p, al, f"pay-{k}"))
    for k in range(1, 200, 9):  # credit notes, full and partial
        inv = invoices[f"i{k}"]
        amounts = None if k % 2 else {"l0": max(1, inv.lines[0].net_minor // 3)}
        if amounts and inv.lines[0].net_minor == 0:
            continue
        note = create_credit_note(inv, f"cn{k}", amounts)
        app = apply_credit_note(inv, note)
        invoices[inv.invoice_id] = app.invoice
        key = (inv.currency, inv.customer_id)
        credit_balance[key] = credit_balance.get(key, 0) + app.to_customer_credit_minor
        entries.append(L.credit_note_issued(note, app, f"cn-{k}"))
        for t in note.tax_lines:
            tk = (inv.currency, f"{t.level}:{t.code}")
            credited[tk] = credited.get(tk, 0) + t.tax_minor
    for n, (p, done) in enumerate(payments):  # refund what credit there is
        key = (p.currency, p.customer_id)
        amt = min(credit_balance.get(key, 0), p.amount_minor - done)
        if amt > 0:
            r = refund(f"r{n}", p, amt, done, credit_balance[key])
            credit_balance[key] -= amt
            entries.append(L.refund_paid(r, f"ref-{n}"))

    report = L.check_ledger(entries)
    assert report.balanced and set(report.totals) == {"USD", "JPY"}
    expected_tax = {k: v - credited.get(k, 0) for k, v in committed.items()}
    expected_tax = {
        k: v for k, v in expected_tax.items() if v
    }  # zero tax posts nothing
    payable = {k: v for k, v in L.tax_payable_by_jurisdiction(entries).items() if v}
    assert payable == expected_tax
    assert sum(v for (c, _), v in expected_tax.items() if c == "USD") > 0
    recv = L.subledger(entries, L.RECEIVABLES)
    for inv in invoices.values():
        assert recv.get((inv.currency, inv.invoice_id), 0) == inv.amount_remaining_minor
        assert 0 <= inv.amount_paid_minor <= inv.total_minor
    cred = L.subledger(entries, L.CUSTOMER_CREDIT)
    for (ccy, cust), bal in credit_balance.items():
        assert -cred.get((ccy, cust), 0) == bal == 0
    # receivables KPIs are not empty: some paid, some overdue
    items = [
        DunningItem(
            i.invoice_id, i.customer_id, i.currency, i.amount_remaining_minor, i.due_on
        )
        for i in invoices.values()
    ]
    aged = ageing(items, date(2026, 4, 15))
    assert aged.amounts["USD"]["1-30"] + aged.amounts["USD"]["31-60"] > 0
    assert sum(1 for i in invoices.values() if i.amount_remaining_minor == 0) >= 50
