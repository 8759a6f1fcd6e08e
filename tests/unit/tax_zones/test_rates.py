"""Seed rate and rule tables."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tax_zones.errors import RateDataError
from tax_zones.rates import SEED_DIR, RateTable, TaxCategory, TaxRules

STATES = [
    "01",
    "02",
    "04",
    "05",
    "06",
    "08",
    "09",
    "10",
    "11",
    "12",
    "13",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "21",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",
    "28",
    "29",
    "30",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "38",
    "39",
    "40",
    "41",
    "42",
    "44",
    "45",
    "46",
    "47",
    "48",
    "49",
    "50",
    "51",
    "53",
    "54",
    "55",
    "56",
]


class TestSeedRates:
    def test_every_state_and_dc_has_a_general_rate_today(self) -> None:
        table = RateTable.from_csv()
        missing = [s for s in STATES if table.general(s, date(2025, 6, 1)) is None]
        assert missing == []

    def test_every_row_has_a_source_and_made_up_rows_say_sample(self) -> None:
        with (SEED_DIR / "rates.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        assert all(r["source"].strip() for r in rows)
        for r in rows:
            assert (r["sample"] == "true") == r["source"].startswith("SAMPLE DATA")
            assert (r["level"] == "county") <= (r["sample"] == "true")

    @pytest.mark.parametrize(
        ("state", "rate", "listed"),
        [
            ("06", "0.0725", "0.0825"),
            ("37", "0.0475", "0.0575"),
            ("34", "0.06625", "0.07"),
            ("04", "0.056", "0.066"),
        ],
    )
    def test_sales_tax_package_values_that_are_not_the_base_are_corrected(
        self, state: str, rate: str, listed: str
    ) -> None:
        r = RateTable.from_csv().general(state, date(2025, 6, 1))
        assert r is not None
        assert r.rate == Decimal(rate)
        assert listed in r.source

    def test_overlapping_rows_are_rejected(self, tmp_path: Path) -> None:
        p = tmp_path / "rates.csv"
        p.write_text(
            "level,code,category,rate,valid_from,valid_to,source,sample\n"
            "state,99,general,0.05,2024-01-01,,x,false\n"
            "state,99,general,0.06,2024-06-01,,x,false\n"
        )
        with pytest.raises(RateDataError, match="overlap"):
            RateTable.from_csv(p)

    def test_bad_date_names_line_and_field(self, tmp_path: Path) -> None:
        p = tmp_path / "rates.csv"
        p.write_text(
            "level,code,category,rate,valid_from,valid_to,source,sample\n"
            "state,99,general,0.05,2024-13-01,,x,false\n"
        )
        with pytest.raises(RateDataError, match="line 2: valid_from"):
            RateTable.from_csv(p)


class TestRules:
    def test_tables_load_with_sources(self) -> None:
        rules = TaxRules.from_csv()
        assert rules.treatment("42", TaxCategory.CLOTHING).treatment == "exempt"
        assert rules.treatment("29", TaxCategory.CLOTHING) is None
        assert rules.sourcing_rule("48")[0] == "origin"
        assert rules.sourcing_rule("53")[0] == "destination"
        assert rules.thresholds["36"].combine == "all"
        assert all(t.source for t in rules.taxability.values())
