"""Match bank credits to open invoices by reference, amount and customer.

Scoring (confidence in 0..1, every point explained in ``reasons``):

* the text names one or more open invoice numbers: 0.6; the amount then
  equals what remains on them: +0.3, is less (partial payment): +0.1, is more
  (overpayment, kept as credit): +0.05; the counterparty is the invoices'
  customer: +0.1; the named invoices belong to several customers: -0.2;
* no number; the amount equals the remaining of an invoice of the
  counterparty: 0.8 (several such invoices: 0.6, oldest picked);
* no number; the counterparty is a customer whose whole open balance equals
  the amount: 0.6;
* no number; the amount equals one open invoice's remaining (any customer):
  0.5 (several such invoices: 0.3, oldest picked);
* only the counterparty matches: 0.35, allocated oldest first.

Invoice numbers are found token-wise and ignore separators and case
(``inv 2026 0001`` names ``INV-2026-0001``; ``INV-10`` never names ``INV-1``).
Lines with strong reference matches are settled first, and each match takes
what it pays off the remaining amounts seen by later lines. Debits are
ignored; credits with no candidate are returned as unmatched.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from commerce.payments import Application
from commerce.statements import StatementLine

_TOKEN = re.compile(r"[A-Z0-9]+")
COMMON_TOKEN_SHARE = 0.01
_SUFFIXES = frozenset(
    {
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "sa",
        "sas",
        "bv",
        "ag",
        "plc",
        "co",
        "corp",
        "limited",
        "the",
    }
)


@dataclass(frozen=True)
class OpenInvoice:
    """What matching needs of an open invoice."""

    invoice_id: str
    number: str
    customer_id: str
    customer_name: str
    currency: str
    remaining_minor: int
    due_on: date | None = None


@dataclass(frozen=True)
class ReconciliationParams:
    """``auto_confidence``: at or above it a match may be applied unattended."""

    auto_confidence: float = 0.8
    name_similarity: float = 0.5


@dataclass(frozen=True)
class Match:
    """A credit line with proposed applications, confidence and reasons."""

    line: StatementLine
    customer_id: str
    applications: tuple[Application, ...]
    credit_minor: int
    confidence: float
    reasons: tuple[str, ...]
    auto: bool


@dataclass(frozen=True)
class ReconciliationResult:
    """Matches, credit lines with no candidate, and ignored debit lines."""

    matches: tuple[Match, ...]
    unmatched: tuple[StatementLine, ...]
    debits: tuple[StatementLine, ...]


def _key(number: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(number.upper()))


def _name_tokens(name: str) -> set[str]:
    plain = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    )
    return {t for t in re.findall(r"[a-z0-9]+", plain) if t not in _SUFFIXES}


def name_similarity(a: str, b: str) -> float:
    """Token Jaccard similarity of two names, ignoring case, accents, suffixes.

    Examples
    --------
    >>> name_similarity("ACME Widgets Ltd.", "Acme widgets"), name_similarity("Bob", "Alice")
    (1.0, 0.0)
    """
    ta, tb = _name_tokens(a), _name_tokens(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


class _Index:
    """Invoice numbers, customer names and amounts, indexed once per run."""

    def __init__(self, invoices: Sequence[OpenInvoice]) -> None:
        self.left = {inv.invoice_id: inv.remaining_minor for inv in invoices}
        self.by_key: dict[tuple[str, ...], list[OpenInvoice]] = defaultdict(list)
        self.by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
        self.names: dict[str, set[str]] = {}
        self.by_token: dict[str, set[str]] = defaultdict(set)
        self.by_amount: dict[tuple[str, int], dict[str, OpenInvoice]] = defaultdict(
            dict
        )
        for inv in invoices:
            k = _key(inv.number)
            if k:
                self.by_key[k].append(inv)
            self.by_customer[inv.customer_id].append(inv)
            if inv.customer_id not in self.names:
                toks = _name_tokens(inv.customer_name)
                self.names[inv.customer_id] = toks
                for t in toks:
                    self.by_token[t].add(inv.customer_id)
            self.by_amount[inv.currency, inv.remaining_minor][inv.invoice_id] = inv
        self.max_tokens = max((len(k) for k in self.by_key), default=0)
        self._cache: dict[str, set[str]] = {}

    def named(self, text: str) -> list[OpenInvoice]:
        tokens = _TOKEN.findall(text.upper())
        hits: dict[str, OpenInvoice] = {}
        for i in range(len(tokens)):
            for n in range(1, self.max_tokens + 1):
                for inv in self.by_key.get(tuple(tokens[i : i + n]), ()):
                    hits.setdefault(inv.invoice_id, inv)
        return list(hits.values())

    def customers(self, counterparty: str, threshold: float) -> set[str]:
        """Customers whose name is similar enough to ``counterparty``.

        Candidates come from the counterparty's distinctive tokens (held by
        at most ``COMMON_TOKEN_SHARE`` of the customers, at least 50), so a
        word every second customer has ("trading") does not make each line
        compare against every customer; when all tokens are common, all are used.
        """
        hit = self._cache.get(counterparty)
        if hit is not None:
            return hit
        toks = _name_tokens(counterparty)
        limit = max(50, int(COMMON_TOKEN_SHARE * len(self.names)))
        probes = [t for t in toks if len(self.by_token.get(t, ())) <= limit] or list(
            toks
        )
        cands: set[str] = set()
        for t in probes:
            cands |= self.by_token.get(t, set())
        out = {
            c
            for c in cands
            if len(toks & self.names[c]) / len(toks | self.names[c]) >= threshold
        }
        self._cache[counterparty] = out
        return out

    def with_amount(self, currency: str, amount: int) -> list[OpenInvoice]:
        return list(self.by_amount.get((currency, amount), {}).values())

    def take(self, inv: OpenInvoice, amount: int) -> None:
        old = self.left[inv.invoice_id]
        del self.by_amount[inv.currency, old][inv.invoice_id]
        self.left[inv.invoice_id] = old - amount
        self.by_amount[inv.currency, old - amount][inv.invoice_id] = inv


def _oldest(inv: OpenInvoice) -> tuple[date, str]:
    return (inv.due_on or date.max, inv.number)


def _allocate(
    amount: int, invoices: Sequence[OpenInvoice], left: dict[str, int]
) -> tuple[list[Application], int]:
    apps: list[Application] = []
    for inv in sorted(invoices, key=_oldest):
        part = min(amount, left[inv.invoice_id])
        if part > 0:
            apps.append(Application(inv.invoice_id, part))
            amount -= part
    return apps, amount


def match_statement(
    lines: Sequence[StatementLine],
    invoices: Sequence[OpenInvoice],
    params: ReconciliationParams | None = None,
) -> ReconciliationResult:
    """Propose, for each credit line, which open invoices it pays.

    Parameters
    ----------
    lines : statement lines (credits positive)
    invoices : the tenant's open invoices, with what remains on each
    params : thresholds

    Returns
    -------
    ReconciliationResult
        Matches keep the statement order; applications never exceed the
        remaining amounts, also across lines.
    """
    params = params or ReconciliationParams()
    index = _Index(invoices)
    by_id = {inv.invoice_id: inv for inv in invoices}
    credits = [ln for ln in lines if ln.amount_minor > 0]
    debits = tuple(ln for ln in lines if ln.amount_minor <= 0)
    named = {
        id(ln): [i for i in index.named(ln.text) if i.currency == ln.currency]
        for ln in credits
    }
    order = sorted(credits, key=lambda ln: not named[id(ln)])  # references first
    found: dict[int, Match] = {}
    for ln in order:
        m = _match_line(ln, named[id(ln)], index, params)
        if m is not None:
            for a in m.applications:
                index.take(by_id[a.invoice_id], a.amount_minor)
            found[id(ln)] = m
    return ReconciliationResult(
        tuple(found[id(ln)] for ln in credits if id(ln) in found),
        tuple(ln for ln in credits if id(ln) not in found),
        debits,
    )


def _match_line(
    ln: StatementLine,
    named: list[OpenInvoice],
    index: _Index,
    params: ReconciliationParams,
) -> Match | None:
    left = index.left
    customers = (
        index.customers(ln.counterparty, params.name_similarity)
        if ln.counterparty
        else set()
    )

    def done(cands: Sequence[OpenInvoice], score: float, reasons: list[str]) -> Match:
        apps, rest = _allocate(ln.amount_minor, cands, left)
        if rest:
            reasons.append(f"{rest} minor units left over as customer credit")
        score = round(max(0.0, min(1.0, score)), 2)
        auto = score >= params.auto_confidence
        return Match(
            ln, cands[0].customer_id, tuple(apps), rest, score, tuple(reasons), auto
        )

    if named:
        open_named = [i for i in named if left[i.invoice_id] > 0]
        if not open_named:  # names only settled invoices: a person decides
            return None
        numbers = ", ".join(sorted(i.number for i in named))
        reasons = [f"reference names invoice(s) {numbers}"]
        score = 0.6
        owed = sum(left[i.invoice_id] for i in open_named)
        if ln.amount_minor == owed:
            score += 0.3
            reasons.append("amount equals what remains on them")
        elif ln.amount_minor < owed:
            score += 0.1
            reasons.append("amount is less than what remains (partial payment)")
        else:
            score += 0.05
            reasons.append("amount exceeds what remains (overpayment)")
        if len({i.customer_id for i in open_named}) > 1:
            score -= 0.2
            reasons.append("the invoices belong to several customers")
        elif open_named[0].customer_id in customers:
            score += 0.1
            reasons.append("counterparty matches the customer's name")
        return done(open_named, score, reasons)
    exact = index.with_amount(ln.currency, ln.amount_minor)
    by_name = [i for i in exact if i.customer_id in customers]
    if by_name:
        return done(
            sorted(by_name, key=_oldest)[:1],
            0.8 if len(by_name) == 1 else 0.6,
            [
                "amount equals an open invoice's remaining",
                "counterparty matches the customer's name",
            ],
        )
    customer_invs = [
        i
        for c in customers
        for i in index.by_customer[c]
        if i.currency == ln.currency and left[i.invoice_id] > 0
    ]
    one_customer = len({i.customer_id for i in customer_invs}) == 1
    owed = sum(left[i.invoice_id] for i in customer_invs)
    if one_customer and ln.amount_minor == owed:
        return done(
            customer_invs,
            0.6,
            [
                "counterparty matches the customer's name",
                "amount equals the customer's open balance",
            ],
        )
    if len(exact) == 1:
        return done(exact, 0.5, ["amount equals one open invoice's remaining"])
    if len(exact) > 1:
        return done(
            sorted(exact, key=_oldest)[:1],
            0.3,
            [f"{len(exact)} open invoices have this amount; oldest picked"],
        )
    if one_customer:
        return done(
            customer_invs,
            0.35,
            [
                "counterparty matches the customer's name",
                "amount matches no invoice; oldest first",
            ],
        )
    return None
