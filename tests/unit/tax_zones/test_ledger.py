"""Reversals, liability report and economic-nexus monitoring."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from tax_helpers import resolved, us_stack

from tax_zones.errors import InvalidQuoteError
from tax_zones.ledger import (
    NexusStatus,
    Sale,
    check_economic_nexus,
    liability_report,
    reverse,
)
from tax_zones.quotes import QuoteLine, QuoteRequest, Registration, compute_quote
from tax_zones.rates import RateTable, TaxRules

RATES = RateTable.from_csv()
RULES = TaxRules.from_csv()
ST_LOUIS = us_stack("29", "Missouri", "29510", "St. Louis city")


def _quote(day: date = date(2025, 6, 1)):
    req = QuoteRequest(
        "USD",
        (QuoteLine("a", 1999, 3), QuoteLine("b", 12_345)),
        resolved(ST_LOUIS),
        day,
        shipping_minor=799,
        registrations=(Registration("29", "MO-1"),),
    )
    return compute_quote(
        req, RATES, RULES, quote_id="q-7", expires_at=datetime(2025, 6, 1, 1)
    )


class TestReverse:
    def test_full_reversal_negates_every_amount(self) -> None:
        q = _quote()
        r = reverse(q)
        assert r.tax_minor == -q.tax_minor
        assert r.tax_date == q.tax_date
        for orig, back in zip(q.lines, r.lines, strict=True):
            assert back.amount_minor == -orig.amount_minor
            assert [t.tax_minor for t in back.jurisdictions] == [
                -t.tax_minor for t in orig.jurisdictions
            ]

    def test_partial_line_refund_is_proportional_and_exact(self) -> None:
        q = _quote()
        line = q.lines[1]
        r = reverse(q, {"b": line.amount_minor // 3})
        back = r.lines[0]
        exact = Decimal(line.tax_minor) * (line.amount_minor // 3) / line.amount_minor
        expected = -int(exact.to_integral_value(rounding=ROUND_HALF_UP))
        assert back.tax_minor == expected
        assert sum(t.tax_minor for t in back.jurisdictions) == back.tax_minor

    @pytest.mark.parametrize("refunds", [{"zz": 1}, {"a": 10**9}])
    def test_bad_refund_names_the_line(self, refunds: dict[str, int]) -> None:
        with pytest.raises(InvalidQuoteError, match="refunds"):
            reverse(_quote(), refunds)


class TestLiability:
    def test_quote_and_its_full_reversal_cancel_out(self) -> None:
        q = _quote()
        rows = liability_report([q, reverse(q)])
        assert {r.code for r in rows} == {"US", "29", "29510"}
        assert all(r.tax_minor == 0 and r.period == "2025-06" for r in rows)

    def test_per_period_totals(self) -> None:
        june, july = _quote(date(2025, 6, 3)), _quote(date(2025, 7, 9))
        rows = {(r.period, r.code): r for r in liability_report([june, july, june])}
        state_june = rows[("2025-06", "29")]
        per_quote = sum(
            t.tax_minor for ln in june.lines for t in ln.jurisdictions if t.code == "29"
        )
        assert state_june.tax_minor == 2 * per_quote
        assert state_june.documents == 2
        assert rows[("2025-07", "29")].documents == 1


class TestEconomicNexus:
    AS_OF = date(2025, 6, 30)

    def _sales(self, state: str, n: int, cents: int, start_days_ago: int = 0):
        return [
            Sale(state, self.AS_OF - timedelta(days=start_days_ago + i % 300), cents)
            for i in range(n)
        ]

    def test_approaching_and_exceeded(self) -> None:
        sales = self._sales("12", 85, 100_000)  # FL: $85,000 of $100,000
        sales += self._sales("53", 110, 100_000)  # WA: $110,000 of $100,000
        alerts = {
            a.state: a
            for a in check_economic_nexus(
                sales, self.AS_OF, RULES.thresholds, [Registration("53", "WA-1")]
            )
        }
        assert alerts["12"].status is NexusStatus.APPROACHING
        assert alerts["12"].sales_pct == Decimal(85)
        assert not alerts["12"].registered
        assert alerts["53"].status is NexusStatus.EXCEEDED
        assert alerts["53"].registered

    def test_transaction_count_triggers_where_either_measure_counts(self) -> None:
        sales = self._sales("17", 200, 100)  # IL: 200 transactions, $200
        (alert,) = check_economic_nexus(sales, self.AS_OF, RULES.thresholds)
        assert alert.status is NexusStatus.EXCEEDED

    def test_new_york_needs_both_measures(self) -> None:
        sales = self._sales("36", 150, 100)  # 150 transactions but only $150
        assert check_economic_nexus(sales, self.AS_OF, RULES.thresholds) == []

    def test_sales_older_than_12_months_do_not_count(self) -> None:
        sales = self._sales("12", 120, 100_000, start_days_ago=366)
        assert check_economic_nexus(sales, self.AS_OF, RULES.thresholds) == []
