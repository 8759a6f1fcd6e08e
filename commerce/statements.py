"""Bank statement parsing: CSV and ISO 20022 camt.053 XML, to statement lines.

CSV needs columns for the date (ISO ``YYYY-MM-DD``), the amount (major units,
signed, with the currency's decimals at most), the currency, and optionally a
reference and/or description and a counterparty; header names are matched
case-insensitively against a few common aliases.

camt.053 is parsed with :mod:`xml.etree.ElementTree` after refusing any
``<!DOCTYPE`` or ``<!ENTITY`` (no external entities, no entity expansion
bombs). Namespaces are ignored so versions 02 to 08 read alike. Only booked
entries count; ``CdtDbtInd`` ``CRDT`` is money in (positive), ``DBIT`` money
out (negative). Amounts are read as ``Decimal`` and must fit the currency's
minor unit exactly. An entry with several transaction details that carry their
own amounts becomes one line per transaction. The reference is the remittance
information: ``RmtInf/Ustrd`` or ``RmtInf/Strd/CdtrRefInf/Ref``.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from typing import Any

from commerce.errors import (
    CommerceInputError,
    StatementFormatError,
    UnsafeXmlError,
)
from commerce.money import currency_exponent, parse_major

MAX_LINES = 100_000
_ALIASES = {
    "date": (
        "date",
        "booking date",
        "booking_date",
        "booked_on",
        "value date",
        "value_date",
    ),
    "amount": ("amount", "amt"),
    "currency": ("currency", "ccy"),
    "reference": ("reference", "ref", "remittance", "remittance information"),
    "description": ("description", "details", "memo", "narrative", "text"),
    "counterparty": ("counterparty", "payer", "name", "debtor", "counterparty name"),
}
_THOUSANDS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")


@dataclass(frozen=True)
class StatementLine:
    """One bank movement; ``amount_minor`` > 0 is a credit (money in)."""

    line_no: int
    booked_on: date
    amount_minor: int
    currency: str
    text: str
    counterparty: str = ""
    bank_ref: str = ""


def _columns(header: list[str]) -> dict[str, int]:
    norm = [h.strip().lower() for h in header]
    cols: dict[str, int] = {}
    for key, names in _ALIASES.items():
        for n in names:
            if n in norm:
                cols[key] = norm.index(n)
                break
    missing = [k for k in ("date", "amount", "currency") if k not in cols]
    if missing:
        raise StatementFormatError("header", f"missing column(s): {', '.join(missing)}")
    return cols


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise StatementFormatError(field, "must be an ISO date YYYY-MM-DD") from None


def parse_statement_csv(text: str, max_lines: int = MAX_LINES) -> list[StatementLine]:
    """Parse a CSV bank statement.

    Raises
    ------
    StatementFormatError
        Naming the line and column (``line 7.amount``) or the header.
    UnknownCurrencyError, InvalidAmountError
        Likewise named by line.

    Examples
    --------
    >>> parse_statement_csv("date,amount,currency,reference\\n2026-01-05,12.50,USD,INV-1\\n")[0].amount_minor
    1250
    """
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        return _read_rows(rows, max_lines)
    except csv.Error as exc:
        raise StatementFormatError(
            f"line {rows.line_num}", f"unreadable CSV ({exc})"
        ) from None


def _read_rows(rows: Any, max_lines: int) -> list[StatementLine]:
    try:
        header = next(rows)
    except StopIteration:
        raise StatementFormatError("header", "the file is empty") from None
    cols = _columns(header)
    out: list[StatementLine] = []
    for row in rows:
        n = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(out) >= max_lines:
            raise StatementFormatError("lines", f"more than {max_lines} lines")

        def cell(key: str, row: list[str] = row) -> str:
            i = cols.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        currency = cell("currency").upper()
        currency_exponent(currency, f"line {n}.currency")
        raw = cell("amount")
        if _THOUSANDS.fullmatch(raw):
            raw = raw.replace(",", "")
        try:
            amount = parse_major(raw, currency, f"line {n}.amount")
        except CommerceInputError as exc:
            raise StatementFormatError(f"line {n}.amount", exc.problem) from None
        text_parts = [cell("reference"), cell("description")]
        out.append(
            StatementLine(
                n,
                _date(cell("date"), f"line {n}.date"),
                amount,
                currency,
                " ".join(p for p in text_parts if p),
                cell("counterparty"),
            )
        )
    return out


_UNSAFE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(enc)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StatementFormatError(
            "document", "must be UTF-8 (or UTF-16 with a BOM)"
        ) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: ET.Element, *path: str) -> ET.Element | None:
    """First descendant following ``path`` of local names (any depth per step)."""
    cur: ET.Element | None = el
    for name in path:
        if cur is None:
            return None
        cur = next(
            (c for c in cur.iter() if c is not cur and _local(c.tag) == name), None
        )
    return cur


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _remittance(el: ET.Element) -> str:
    """The payer's reference: ``RmtInf/Ustrd`` lines and structured creditor
    references (``RmtInf/Strd/CdtrRefInf/Ref``), then the additional info."""
    parts: list[str] = []
    for rmt in _children(el, "RmtInf"):
        parts += [_text(u) for u in _children(rmt, "Ustrd")]
        for ref in _children(rmt, "CdtrRefInf"):
            parts += [_text(r) for r in ref if _local(r.tag) == "Ref"]
    parts += [_text(a) for a in _children(el, "AddtlTxInf")]
    parts += [_text(a) for a in _children(el, "AddtlNtryInf")]
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return " ".join(seen)


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _tx_amount(tx: ET.Element) -> ET.Element | None:
    """A transaction's booked amount: ``TxDtls/Amt`` (camt.053.001.04+), else
    ``AmtDtls/TxAmt/Amt``; never the instructed amount, which may be in the
    payer's currency."""
    direct = _child(tx, "Amt")
    if direct is not None:
        return direct
    return _find(tx, "AmtDtls", "TxAmt", "Amt")


def _status(ntry: ET.Element) -> str:
    sts = _child(ntry, "Sts")
    if sts is None:
        return "BOOK"
    return _text(sts) or _text(_child(sts, "Cd")) or "BOOK"


def _party(el: ET.Element, role: str) -> str:
    party = _find(el, "RltdPties", role)
    return _text(_find(party, "Nm")) if party is not None else ""


def _amount(el: ET.Element | None, field: str) -> tuple[int, str]:
    if el is None:
        raise StatementFormatError(field, "missing Amt")
    ccy = el.get("Ccy", "")
    currency_exponent(ccy, f"{field}.Ccy")
    try:
        amount = parse_major(_text(el), ccy, field)
    except CommerceInputError as exc:
        raise StatementFormatError(field, exc.problem) from None
    if amount < 0:
        raise StatementFormatError(field, "must not be negative (see CdtDbtInd)")
    return amount, ccy


def parse_camt053(data: bytes | str, max_lines: int = MAX_LINES) -> list[StatementLine]:
    """Parse a camt.053 statement; credits positive, debits negative.

    Raises
    ------
    UnsafeXmlError
        When the document declares a DOCTYPE or ENTITY.
    StatementFormatError
        Malformed XML or an entry without amount, currency or date.
    """
    text = _decode(data)
    if _UNSAFE.search(text):
        raise UnsafeXmlError("document", "DOCTYPE and ENTITY declarations are refused")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise StatementFormatError("document", f"not well-formed XML ({exc})") from None
    out: list[StatementLine] = []
    for k, ntry in enumerate(_children(root, "Ntry"), start=1):
        field = f"entry {k}"
        if _status(ntry) not in ("BOOK", "BOOKED"):
            continue  # pending or information-only: no money moved yet
        when = _text(_find(ntry, "BookgDt", "Dt")) or _text(
            _find(ntry, "BookgDt", "DtTm")
        )
        when = when or _text(_find(ntry, "ValDt", "Dt"))
        booked = _date(when, f"{field}.BookgDt")
        bank_ref = _text(_child(ntry, "AcctSvcrRef"))
        txs = _children(ntry, "TxDtls")
        tx_amounts = [_tx_amount(tx) for tx in txs]
        if len(txs) > 1 and all(a is not None for a in tx_amounts):
            parts = [
                (tx, _amount(a, f"{field}.TxDtls[{i}]"))
                for i, (tx, a) in enumerate(zip(txs, tx_amounts, strict=True))
            ]
        else:
            parts = [(ntry, _amount(_child(ntry, "Amt"), f"{field}.Amt"))]
        indicator = _text(_child(ntry, "CdtDbtInd"))
        if indicator not in ("CRDT", "DBIT"):
            raise StatementFormatError(f"{field}.CdtDbtInd", "must be CRDT or DBIT")
        sign = 1 if indicator == "CRDT" else -1  # only CRDT is money in
        role = "Dbtr" if sign > 0 else "Cdtr"
        extra = _text(_child(ntry, "AddtlNtryInf"))
        for el, (amount, ccy) in parts:
            if len(out) >= max_lines:
                raise StatementFormatError("entries", f"more than {max_lines} entries")
            remit = _remittance(el)
            if el is not ntry and extra and extra not in remit:
                remit = f"{remit} {extra}".strip()
            out.append(
                StatementLine(
                    k, booked, sign * amount, ccy, remit, _party(el, role), bank_ref
                )
            )
    return out


def parse_statement(
    data: bytes, content_type: str | None = None
) -> list[StatementLine]:
    """A bank statement in either format: camt.053 XML when the content type
    says XML or the document starts with ``<``, else CSV (UTF-8).

    Raises
    ------
    StatementFormatError
        As :func:`parse_camt053` or :func:`parse_statement_csv`.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    head = data[:64].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    if kind.endswith("xml") or head.startswith(b"<"):
        return parse_camt053(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StatementFormatError("body", "must be UTF-8 CSV text") from None
    return parse_statement_csv(text)
