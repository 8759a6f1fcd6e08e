"""Effective-dated rates, category taxability, sourcing rules and nexus thresholds.

Loaded from the small CSVs in ``tax_zones/seed/`` (see its README) or any CSV
with the same columns. Every rate carries its ``source``; rates the project made
up carry ``sample=True`` and a source starting with "SAMPLE DATA", and every
quote line using one says so.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from pathlib import Path

from tax_zones.errors import RateDataError

SEED_DIR = Path(__file__).parent / "seed"


class TaxCategory(StrEnum):
    """Product tax categories."""

    GENERAL = "general"
    CLOTHING = "clothing"
    FOOD = "food"
    DIGITAL_GOODS = "digital_goods"
    SHIPPING = "shipping"


class Treatment(StrEnum):
    """How a state treats a category."""

    TAXABLE = "taxable"
    EXEMPT = "exempt"
    REDUCED = "reduced"


class Sourcing(StrEnum):
    """Which location's jurisdictions tax an in-state sale."""

    ORIGIN = "origin"
    DESTINATION = "destination"
    MIXED = "mixed"


@dataclass(frozen=True)
class Rate:
    """One effective-dated rate row (``valid_to`` exclusive, None = open)."""

    level: str
    code: str
    category: TaxCategory
    rate: Decimal
    valid_from: date
    valid_to: date | None
    source: str
    sample: bool

    def covers(self, day: date) -> bool:
        """Whether the row applies on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class Taxability:
    """A state's treatment of a category, with its source."""

    state: str
    category: TaxCategory
    treatment: Treatment
    source: str


@dataclass(frozen=True)
class NexusThreshold:
    """Economic-nexus threshold of a state over the trailing 12 months."""

    state: str
    sales_usd: Decimal
    transactions: int | None
    combine: str  # "any": either measure triggers; "all": both must
    source: str


def _date(text: str, field: str, line: int) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise RateDataError(
            f"line {line}: {field} is not an ISO date: {text!r}"
        ) from exc


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [(i + 2, row) for i, row in enumerate(csv.DictReader(fh))]


class RateTable:
    """Rates by jurisdiction and category, looked up by date.

    Raises
    ------
    RateDataError
        On a malformed row (names the line and field), a row without source,
        or two rows of one jurisdiction and category overlapping in time.
    """

    def __init__(self, rates: Iterable[Rate]) -> None:
        self._by_key: dict[tuple[str, TaxCategory], list[Rate]] = defaultdict(list)
        for r in rates:
            if not r.source.strip():
                raise RateDataError(f"source: rate {r.code}/{r.category} has none")
            self._by_key[(r.code, r.category)].append(r)
        for (code, cat), rows in self._by_key.items():
            rows.sort(key=lambda r: r.valid_from)
            for a, b in pairwise(rows):
                if a.valid_to is None or a.valid_to > b.valid_from:
                    raise RateDataError(
                        f"valid_from: rates of {code}/{cat} overlap at {b.valid_from}"
                    )

    @classmethod
    def from_csv(cls, path: Path | None = None) -> RateTable:
        """Read ``rates.csv`` (default: the committed seed)."""
        path = path or SEED_DIR / "rates.csv"
        rows: list[Rate] = []
        for line, row in _read(path):
            try:
                rate = Decimal(row["rate"])
                category = TaxCategory(row["category"])
            except (InvalidOperation, ValueError) as exc:
                raise RateDataError(
                    f"line {line}: bad rate or category: {row}"
                ) from exc
            if not Decimal(0) <= rate < Decimal(1):
                raise RateDataError(f"line {line}: rate must be in [0, 1): {rate}")
            start = _date(row["valid_from"], "valid_from", line)
            if start is None:
                raise RateDataError(f"line {line}: valid_from is required")
            rows.append(
                Rate(
                    level=row["level"],
                    code=row["code"],
                    category=category,
                    rate=rate,
                    valid_from=start,
                    valid_to=_date(row["valid_to"], "valid_to", line),
                    source=row["source"],
                    sample=row["sample"].strip().lower() == "true",
                )
            )
        return cls(rows)

    def lookup(self, code: str, category: TaxCategory, day: date) -> Rate | None:
        """The row for a jurisdiction and category on ``day`` (None if none)."""
        for r in self._by_key.get((code, category), ()):
            if r.covers(day):
                return r
        return None

    def general(self, code: str, day: date) -> Rate | None:
        """The general rate of a jurisdiction on ``day``."""
        return self.lookup(code, TaxCategory.GENERAL, day)

    def stack_rate(self, codes: Iterable[str], day: date) -> Decimal:
        """Combined general rate of a jurisdiction stack on ``day``.

        Jurisdictions without a rate count as zero here; use it to rank
        candidate stacks (policy ``highest_rate``), not to charge tax.
        """
        total = Decimal(0)
        for code in codes:
            r = self.general(code, day)
            total += r.rate if r is not None else Decimal(0)
        return total


@dataclass(frozen=True)
class TaxRules:
    """Category taxability, sourcing rules and nexus thresholds per state."""

    taxability: dict[tuple[str, TaxCategory], Taxability]
    sourcing: dict[str, tuple[Sourcing, str]]
    thresholds: dict[str, NexusThreshold]

    @classmethod
    def from_csv(cls, directory: Path | None = None) -> TaxRules:
        """Read ``taxability.csv``, ``sourcing.csv`` and ``nexus_thresholds.csv``."""
        d = directory or SEED_DIR
        tax: dict[tuple[str, TaxCategory], Taxability] = {}
        for line, row in _read(d / "taxability.csv"):
            try:
                t = Taxability(
                    row["state"],
                    TaxCategory(row["category"]),
                    Treatment(row["treatment"]),
                    row["source"],
                )
            except ValueError as exc:
                raise RateDataError(f"line {line}: taxability: {exc}") from exc
            tax[(t.state, t.category)] = t
        src: dict[str, tuple[Sourcing, str]] = {}
        for line, row in _read(d / "sourcing.csv"):
            try:
                src[row["state"]] = (Sourcing(row["rule"]), row["source"])
            except ValueError as exc:
                raise RateDataError(f"line {line}: sourcing: {exc}") from exc
        thr: dict[str, NexusThreshold] = {}
        for _line, row in _read(d / "nexus_thresholds.csv"):
            tx = row["transactions"].strip()
            thr[row["state"]] = NexusThreshold(
                row["state"],
                Decimal(row["sales_usd"]),
                int(tx) if tx else None,
                row["combine"].strip() or "any",
                row["source"],
            )
        return cls(tax, src, thr)

    def treatment(self, state: str, category: TaxCategory) -> Taxability | None:
        """A state's rule for a category (None: no rule, taxable by default)."""
        if category is TaxCategory.GENERAL:
            return None
        return self.taxability.get((state, category))

    def sourcing_rule(self, state: str) -> tuple[Sourcing, str]:
        """Sourcing for in-state sales (destination when the state is unlisted)."""
        return self.sourcing.get(
            state, (Sourcing.DESTINATION, "destination-based (no origin rule on file)")
        )
