from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.errors import (
    CurrencyMismatchError,
    IllegalTransitionError,
    InvalidAmountError,
    InvalidDocumentError,
    UnknownCurrencyError,
)
from commerce.orders import (
    Discount,
    DiscountKind,
    Order,
    OrderLine,
    OrderStatus,
    place_order,
    price_order,
    tax_basis,
    transition_order,
)
from tests.unit.commerce.billing_helpers import sample_order, tax_for

D = Decimal


class TestPriceOrder:
    def test_line_then_basket_discounts(self) -> None:
        t = price_order(sample_order())
        # l1: 3998 - 10% (400) = 3598; l2: 5000; basket 500 split 3598:5000
        assert [lp.gross_minor for lp in t.lines] == [3998, 5000]
        assert t.discount_minor == 900
        assert [lp.net_minor for lp in t.lines] == [3598 - 209, 5000 - 291]
        assert t.net_minor == 8098
        assert t.total_minor == 8098 + 799
        assert t.discounts[1].code == "SPRING"
        assert sum(p for _, p in t.discounts[1].per_line) == 500

    def test_fixed_discount_capped_at_line(self) -> None:
        o = Order(
            "o",
            "c",
            "USD",
            (OrderLine("a", "s", 1, 300),),
            (Discount("d", DiscountKind.FIXED, amount_minor=1000, line_id="a"),),
        )
        t = price_order(o)
        assert t.discount_minor == 300 and t.total_minor == 0

    def test_three_decimal_currency(self) -> None:
        o = Order(
            "o",
            "c",
            "KWD",
            (OrderLine("a", "s", 3, 1333),),
            (Discount("d", DiscountKind.PERCENT, percent=D("12.5")),),
            shipping_minor=250,
        )
        t = price_order(o)
        assert t.discount_minor == 500  # 3999 * 12.5% = 499.875 -> 500
        assert t.total_minor == 3999 - 500 + 250

    def test_tax_lines_add_to_total(self) -> None:
        o = sample_order()
        placed = place_order(o, tax_for("l2", 4709) + tax_for("shipping", 799), "USD")
        t = price_order(placed)
        assert t.tax_minor == sum(x.tax_minor for x in placed.tax_lines)
        assert (
            t.total_minor
            == t.gross_minor - t.discount_minor + t.shipping_minor + t.tax_minor
        )

    def test_tax_basis_is_net_per_line(self) -> None:
        basis = tax_basis(sample_order())
        assert [(q.line_id, q.amount_minor, q.quantity) for q in basis] == [
            ("l1", 3389, 1),
            ("l2", 4709, 1),
        ]


@st.composite
def orders(draw: st.DrawFn) -> Order:
    n = draw(st.integers(1, 6))
    lines = tuple(
        OrderLine(f"l{i}", "s", draw(st.integers(1, 50)), draw(st.integers(0, 10**7)))
        for i in range(n)
    )
    discounts = []
    for k in range(draw(st.integers(0, 4))):
        target = draw(
            st.one_of(st.none(), st.sampled_from([ln.line_id for ln in lines]))
        )
        if draw(st.booleans()):
            pct = D(draw(st.integers(0, 10000))) / 100
            discounts.append(
                Discount(f"d{k}", DiscountKind.PERCENT, percent=pct, line_id=target)
            )
        else:
            discounts.append(
                Discount(
                    f"d{k}",
                    DiscountKind.FIXED,
                    amount_minor=draw(st.integers(0, 10**8)),
                    line_id=target,
                )
            )
    return Order(
        "o",
        "c",
        draw(st.sampled_from(["USD", "JPY", "KWD"])),
        lines,
        tuple(discounts),
        shipping_minor=draw(st.integers(0, 10**5)),
    )


@settings(deadline=None)
@given(orders())
def test_totals_identity_and_no_negative_lines(order: Order) -> None:
    t = price_order(order)
    assert all(lp.net_minor >= 0 for lp in t.lines)
    assert sum(lp.discount_minor for lp in t.lines) == t.discount_minor
    assert sum(d.amount_minor for d in t.discounts) == t.discount_minor
    assert (
        t.total_minor
        == t.gross_minor - t.discount_minor + t.shipping_minor + t.tax_minor
    )
    assert all(
        isinstance(v, int) for v in (t.total_minor, t.discount_minor, t.net_minor)
    )


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"lines": ()}, "lines"),
            ({"lines": (OrderLine("a", "s", 0, 100),)}, r"lines\[0\]\.quantity"),
            ({"lines": (OrderLine("a", "s", 1, -5),)}, r"lines\[0\]\.unit_price_minor"),
            (
                {"lines": (OrderLine("a", "s", 1, 1.5),)},
                r"lines\[0\]\.unit_price_minor",
            ),
            ({"lines": (OrderLine("shipping", "s", 1, 1),)}, r"lines\[0\]\.line_id"),
            ({"shipping_minor": -1}, "shipping_minor"),
            (
                {"discounts": (Discount("d", DiscountKind.PERCENT, percent=D(101)),)},
                r"discounts\[0\]\.percent",
            ),
            (
                {
                    "discounts": (
                        Discount("d", DiscountKind.FIXED, amount_minor=1, line_id="zz"),
                    )
                },
                r"discounts\[0\]\.line_id",
            ),
        ],
    )
    def test_bad_fields_are_named(self, kwargs: dict, field: str) -> None:
        base = {"lines": (OrderLine("a", "s", 1, 100),)}
        base.update(kwargs)
        with pytest.raises(
            (InvalidDocumentError, InvalidAmountError), match=f"^{field}:"
        ):
            Order("o", "c", "USD", **base)

    def test_unknown_currency(self) -> None:
        with pytest.raises(UnknownCurrencyError, match=r"^currency:"):
            Order("o", "c", "ABC", (OrderLine("a", "s", 1, 100),))


class TestLifecycle:
    def test_happy_path(self) -> None:
        o = place_order(sample_order(), (), "USD")
        o = transition_order(o, OrderStatus.PAID)
        o = transition_order(o, OrderStatus.FULFILLED)
        assert o.status == OrderStatus.FULFILLED

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            (OrderStatus.DRAFT, OrderStatus.PAID),
            (OrderStatus.DRAFT, OrderStatus.FULFILLED),
            (OrderStatus.PLACED, OrderStatus.FULFILLED),
            (OrderStatus.FULFILLED, OrderStatus.CANCELLED),
            (OrderStatus.CANCELLED, OrderStatus.PLACED),
            (OrderStatus.PAID, OrderStatus.PLACED),
        ],
    )
    def test_illegal(self, start: OrderStatus, target: OrderStatus) -> None:
        from dataclasses import replace

        o = replace(sample_order(), status=start)
        with pytest.raises(
            IllegalTransitionError,
            match=f"order: cannot go from '{start}' to '{target}'",
        ):
            transition_order(o, target)

    def test_place_twice_and_currency(self) -> None:
        o = place_order(sample_order(), (), "USD")
        with pytest.raises(IllegalTransitionError):
            place_order(o, (), "USD")
        with pytest.raises(CurrencyMismatchError):
            place_order(sample_order(), (), "EUR")
