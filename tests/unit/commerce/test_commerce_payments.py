from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.errors import (
    CurrencyMismatchError,
    InsufficientCreditError,
    InvalidAmountError,
    InvalidDocumentError,
    OvercreditError,
    OverpaymentError,
)
from commerce.invoices import InvoiceStatus, apply_payment
from commerce.payments import (
    Payment,
    Receivable,
    allocate_credit,
    allocate_payment,
    receivable,
    refund,
)
from tests.unit.commerce.billing_helpers import placed_invoice

RS = [
    Receivable("new", "c", "USD", 300, date(2026, 3, 1), date(2026, 2, 1), "N3"),
    Receivable("old", "c", "USD", 500, date(2026, 1, 1), date(2025, 12, 1), "N1"),
    Receivable("mid", "c", "USD", 200, date(2026, 2, 1), date(2026, 1, 1), "N2"),
    Receivable("eur", "c", "EUR", 900, date(2025, 1, 1)),
    Receivable("other", "d", "USD", 900, date(2025, 1, 1)),
]


class TestAllocatePayment:
    def test_oldest_first_partial(self) -> None:
        al = allocate_payment(600, "USD", "c", RS)
        assert [(a.invoice_id, a.amount_minor) for a in al.applications] == [
            ("old", 500),
            ("mid", 100),
        ]
        assert al.credit_minor == 0

    def test_overpayment_becomes_credit(self) -> None:
        al = allocate_payment(1500, "USD", "c", RS)
        assert al.applied_minor == 1000 and al.credit_minor == 500

    def test_explicit(self) -> None:
        al = allocate_payment(400, "USD", "c", RS, {"new": 300, "mid": 50})
        assert [(a.invoice_id, a.amount_minor) for a in al.applications] == [
            ("new", 300),
            ("mid", 50),
        ]
        assert al.credit_minor == 50

    @pytest.mark.parametrize(
        ("explicit", "error", "match"),
        [
            ({"new": 301}, OverpaymentError, "exceeds remaining"),
            ({"old": 500, "new": 300}, OverpaymentError, "exceed the payment"),
            ({"eur": 10}, CurrencyMismatchError, r"allocations\['eur'\]"),
            ({"other": 10}, InvalidDocumentError, r"allocations\['other'\]"),
            ({"nope": 10}, InvalidDocumentError, "no such open invoice"),
            ({"new": -1}, InvalidAmountError, r"allocations\['new'\]"),
        ],
    )
    def test_explicit_errors(self, explicit: dict, error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            allocate_payment(600, "USD", "c", RS, explicit)

    @pytest.mark.parametrize("amount", [0, -5, 1.5, "12.5"])
    def test_bad_amounts(self, amount: object) -> None:
        with pytest.raises(InvalidAmountError, match=r"^amount_minor"):
            allocate_payment(amount, "USD", "c", RS)  # type: ignore[arg-type]

    def test_receivable_of_paid_invoice_is_zero(self) -> None:
        inv = placed_invoice()
        assert receivable(inv).remaining_minor == inv.total_minor
        paid = apply_payment(inv, inv.total_minor)
        assert (
            paid.status == InvoiceStatus.PAID and receivable(paid).remaining_minor == 0
        )


receivables_st = st.lists(
    st.builds(
        Receivable,
        st.uuids().map(str),
        st.sampled_from(["c", "d"]),
        st.sampled_from(["USD", "JPY"]),
        st.integers(0, 10**6),
        st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2027, 1, 1))),
    ),
    max_size=12,
    unique_by=lambda r: r.invoice_id,
)


@settings(deadline=None)
@given(st.integers(1, 3 * 10**6), receivables_st)
def test_allocation_never_overpays(amount: int, rs: list[Receivable]) -> None:
    al = allocate_payment(amount, "USD", "c", rs)
    by_id = {r.invoice_id: r for r in rs}
    assert al.applied_minor + al.credit_minor == amount
    assert al.credit_minor >= 0
    for a in al.applications:
        r = by_id[a.invoice_id]
        assert 0 < a.amount_minor <= r.remaining_minor
        assert r.customer_id == "c" and r.currency == "USD"
    owed = sum(
        r.remaining_minor for r in rs if r.customer_id == "c" and r.currency == "USD"
    )
    assert al.applied_minor == min(amount, owed)  # credit only when everything is paid


class TestCreditAndRefund:
    def test_credit_pays_invoices(self) -> None:
        al = allocate_credit(700, "USD", "c", RS, amount_minor=600)
        assert al.applied_minor == 600
        with pytest.raises(InsufficientCreditError):
            allocate_credit(100, "USD", "c", RS, amount_minor=101)
        assert allocate_credit(0, "USD", "c", RS).applications == ()

    def test_several_partial_refunds(self) -> None:
        p = Payment("p", "c", "USD", 1000, date(2026, 1, 1), last4="4242")
        r1 = refund("r1", p, 300, 0, 1000)
        r2 = refund("r2", p, 700, 300, 700)
        assert r1.amount_minor + r2.amount_minor == 1000
        with pytest.raises(OvercreditError):
            refund("r3", p, 1, 1000, 1000)
        with pytest.raises(InsufficientCreditError):
            refund("r4", p, 500, 0, 499)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"amount_minor": 0}, "amount_minor"),
            ({"currency": "XYZ"}, "currency"),
            ({"last4": "4111111111111111"}, "last4"),
        ],
    )
    def test_payment_validation(self, kwargs: dict, match: str) -> None:
        base = {
            "payment_id": "p",
            "customer_id": "c",
            "currency": "USD",
            "amount_minor": 5,
            "received_on": date(2026, 1, 1),
        }
        base.update(kwargs)
        with pytest.raises(ValueError, match=f"^{match}"):
            Payment(**base)
