from __future__ import annotations

from datetime import date

import pytest

from commerce.errors import (
    InvalidAmountError,
    StatementFormatError,
    UnknownCurrencyError,
    UnsafeXmlError,
)
from commerce.reconciliation import (
    OpenInvoice,
    ReconciliationParams,
    match_statement,
    name_similarity,
)
from commerce.statements import StatementLine, parse_camt053, parse_statement_csv

CSV = """\ufeffDate,Amount,Currency,Reference,Description,Counterparty
2026-02-01,"1,250.00",USD,INV-2026-0001,,Acme Widgets Ltd
2026-02-02,-99.99,USD,,Bank fee,
2026-02-03,80.125,KWD,,payment,Gulf Trading

2026-02-04,500,JPY,,"inv 2026 0003, thanks",Tanaka
"""

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt><Stmt><Id>S1</Id>
  <Ntry>
   <Amt Ccy="USD">1250.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
   <BookgDt><Dt>2026-02-01</Dt></BookgDt><AcctSvcrRef>BANK-1</AcctSvcrRef>
   <NtryDtls><TxDtls>
     <RltdPties><Dbtr><Nm>ACME WIDGETS</Nm></Dbtr></RltdPties>
     <RmtInf><Ustrd>Payment INV-2026-0001</Ustrd></RmtInf>
   </TxDtls></NtryDtls>
  </Ntry>
  <Ntry>
   <Amt Ccy="EUR">30.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>
   <BookgDt><DtTm>2026-02-02T10:00:00</DtTm></BookgDt>
   <NtryDtls><TxDtls><RltdPties><Cdtr><Pty><Nm>Landlord</Nm></Pty></Cdtr></RltdPties></TxDtls></NtryDtls>
  </Ntry>
  <Ntry>
   <Amt Ccy="USD">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><ValDt><Dt>2026-02-03</Dt></ValDt>
   <AddtlNtryInf>BATCH</AddtlNtryInf>
   <NtryDtls>
    <TxDtls><AmtDtls><TxAmt><Amt Ccy="USD">100.00</Amt></TxAmt></AmtDtls>
      <RmtInf><Strd><CdtrRefInf><Ref>INV-2026-0002</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
    <TxDtls><AmtDtls><TxAmt><Amt Ccy="USD">200.00</Amt></TxAmt></AmtDtls>
      <RltdPties><Dbtr><Pty><Nm>Zed</Nm></Pty></Dbtr></RltdPties></TxDtls>
   </NtryDtls>
  </Ntry>
 </Stmt></BkToCstmrStmt>
</Document>
"""


class TestCsv:
    def test_parses_and_names_columns(self) -> None:
        lines = parse_statement_csv(CSV)
        assert [(ln.line_no, ln.amount_minor, ln.currency) for ln in lines] == [
            (2, 125000, "USD"),
            (3, -9999, "USD"),
            (4, 80125, "KWD"),
            (6, 500, "JPY"),
        ]
        assert (
            lines[0].text == "INV-2026-0001"
            and lines[0].counterparty == "Acme Widgets Ltd"
        )
        assert lines[3].booked_on == date(2026, 2, 4)

    @pytest.mark.parametrize(
        ("text", "error", "field"),
        [
            ("", StatementFormatError, "header"),
            ("date,amount\n2026-01-01,1\n", StatementFormatError, "header"),
            (
                "date,amount,currency\n2026-01-01,1.234,USD\n",
                StatementFormatError,
                r"line 2\.amount",
            ),
            (
                "date,amount,currency\n2026-01-01,5.5,JPY\n",
                StatementFormatError,
                r"line 2\.amount",
            ),
            (
                "date,amount,currency\n2026-01-01,abc,USD\n",
                StatementFormatError,
                r"line 2\.amount",
            ),
            (
                "date,amount,currency\n01/02/2026,1,USD\n",
                StatementFormatError,
                r"line 2\.date",
            ),
            (
                "date,amount,currency\n2026-01-01,1,XXX\n",
                UnknownCurrencyError,
                r"line 2\.currency",
            ),
        ],
    )
    def test_errors(self, text: str, error: type, field: str) -> None:
        with pytest.raises(error, match=f"^{field}:"):
            parse_statement_csv(text)
        assert issubclass(error, ValueError) and not issubclass(
            error, InvalidAmountError
        )

    def test_line_limit(self) -> None:
        body = "date,amount,currency\n" + "2026-01-01,1,USD\n" * 3
        with pytest.raises(StatementFormatError, match="more than 2"):
            parse_statement_csv(body, max_lines=2)


class TestCamt:
    def test_entries_and_batches(self) -> None:
        lines = parse_camt053(CAMT.encode())
        assert [(ln.line_no, ln.amount_minor, ln.currency) for ln in lines] == [
            (1, 125000, "USD"),
            (2, -3000, "EUR"),
            (3, 10000, "USD"),
            (3, 20000, "USD"),
        ]
        assert (
            lines[0].text == "Payment INV-2026-0001"
            and lines[0].counterparty == "ACME WIDGETS"
        )
        assert lines[0].bank_ref == "BANK-1"
        assert lines[1].counterparty == "Landlord" and lines[1].booked_on == date(
            2026, 2, 2
        )
        assert lines[2].text == "INV-2026-0002 BATCH" and lines[3].counterparty == "Zed"

    @pytest.mark.parametrize(
        "doc",
        [
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
            "<!doctype d><d/>",
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l2 "&lol;&lol;">]><l>&l2;</l>',
            "<d><! ENTITY x 'y'></d>",
        ],
    )
    def test_xxe_refused(self, doc: str) -> None:
        with pytest.raises(UnsafeXmlError, match=r"^document:"):
            parse_camt053(doc.encode())
        with pytest.raises(UnsafeXmlError):
            parse_camt053(doc.encode("utf-16"))

    @pytest.mark.parametrize(
        ("doc", "field"),
        [
            ("<Document><Ntry></Document>", "document"),
            (
                "<D><Ntry><Amt Ccy='USD'>1.001</Amt><BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry></D>",
                r"entry 1\.Amt",
            ),
            (
                "<D><Ntry><Amt Ccy='QQQ'>1</Amt><BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry></D>",
                r"entry 1\.Amt\.Ccy",
            ),
            ("<D><Ntry><Amt Ccy='USD'>1</Amt></Ntry></D>", r"entry 1\.BookgDt"),
            (
                "<D><Ntry><BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry></D>",
                r"entry 1\.Amt",
            ),
        ],
    )
    def test_malformed(self, doc: str, field: str) -> None:
        with pytest.raises(ValueError, match=f"^{field}:"):
            parse_camt053(doc)

    def test_non_utf8(self) -> None:
        with pytest.raises(StatementFormatError, match="UTF-8"):
            parse_camt053(b"<d>\xff\xfe\xfa</d>"[0:3] + b"\xc3\x28</d>")


def inv(
    iid: str,
    number: str,
    cust: str,
    name: str,
    remaining: int,
    due: int = 1,
    ccy: str = "USD",
) -> OpenInvoice:
    return OpenInvoice(iid, number, cust, name, ccy, remaining, date(2026, 1, due))


INVOICES = [
    inv("i1", "INV-2026-0001", "c1", "Acme Widgets Ltd", 125000, 5),
    inv("i2", "INV-2026-0002", "c2", "Zed Corp", 10000, 6),
    inv("i3", "INV-2026-0010", "c3", "Tanaka Shoji", 4200, 7),
    inv("i4", "INV-2026-0011", "c3", "Tanaka Shoji", 5800, 8),
    inv("i5", "INV-2026-0012", "c4", "Lonely Ltd", 777, 9),
]


def line(
    n: int, amount: int, text: str = "", who: str = "", ccy: str = "USD"
) -> StatementLine:
    return StatementLine(n, date(2026, 2, 1), amount, ccy, text, who)


class TestMatching:
    def test_reference_amount_customer(self) -> None:
        r = match_statement(
            [line(1, 125000, "Payment inv 2026 0001", "ACME WIDGETS")], INVOICES
        )
        (m,) = r.matches
        assert m.confidence == 1.0 and m.auto and m.customer_id == "c1"
        assert [(a.invoice_id, a.amount_minor) for a in m.applications] == [
            ("i1", 125000)
        ]
        assert any("reference names" in x for x in m.reasons)

    def test_prefix_number_is_not_confused(self) -> None:
        r = match_statement(
            [line(1, 4201, "INV-2026-00101"), line(2, 4201, "INV-2026-001")], INVOICES
        )
        assert r.matches == () and len(r.unmatched) == 2
        (m,) = match_statement([line(1, 4201, "inv-2026-0010.")], INVOICES).matches
        assert m.applications[0].invoice_id == "i3" and m.reasons[0].startswith(
            "reference"
        )

    def test_partial_and_overpayment(self) -> None:
        r = match_statement(
            [line(1, 5000, "INV-2026-0002"), line(2, 9000, "INV-2026-0002")], INVOICES
        )
        first, second = r.matches
        assert (
            first.applications[0].amount_minor == 5000 and "partial" in first.reasons[1]
        )
        assert (
            second.applications[0].amount_minor == 5000 and second.credit_minor == 4000
        )
        assert "overpayment" in second.reasons[1]

    def test_several_invoices_in_one_reference(self) -> None:
        r = match_statement(
            [line(1, 10000, "INV-2026-0010 + INV-2026-0011", "Tanaka Shoji")], INVOICES
        )
        (m,) = r.matches
        assert {(a.invoice_id, a.amount_minor) for a in m.applications} == {
            ("i3", 4200),
            ("i4", 5800),
        }
        assert m.confidence == 1.0

    def test_amount_and_name_without_reference(self) -> None:
        r = match_statement([line(1, 777, "thanks", "LONELY LTD.")], INVOICES)
        assert (
            r.matches[0].confidence == 0.8
            and r.matches[0].applications[0].invoice_id == "i5"
        )
        r = match_statement([line(1, 777, "thanks", "someone")], INVOICES)
        assert r.matches[0].confidence == 0.5 and not r.matches[0].auto

    def test_customer_balance_and_name_only(self) -> None:
        r = match_statement([line(1, 10000, "", "tanaka shoji")], INVOICES)
        assert r.matches[0].confidence == 0.6 and len(r.matches[0].applications) == 2
        r = match_statement([line(1, 5000, "", "Tanaka Shoji")], INVOICES)
        m = r.matches[0]
        assert m.confidence == 0.35 and [
            (a.invoice_id, a.amount_minor) for a in m.applications
        ] == [("i3", 4200), ("i4", 800)]

    def test_unmatched_debits_and_currency(self) -> None:
        r = match_statement(
            [
                line(1, 123, "nothing"),
                line(2, -500, "fee"),
                line(3, 125000, "INV-2026-0001", ccy="EUR"),
            ],
            INVOICES,
        )
        assert [ln.line_no for ln in r.unmatched] == [1, 3]
        assert [ln.line_no for ln in r.debits] == [2]

    def test_references_settle_before_guesses(self) -> None:
        # line 1 guesses by amount; line 2 names the invoice: line 2 must win it
        r = match_statement(
            [line(1, 777, "?"), line(2, 777, "INV-2026-0012")], INVOICES
        )
        by_line = {m.line.line_no: m for m in r.matches}
        assert by_line[2].applications[0].invoice_id == "i5"
        assert 1 not in by_line and [ln.line_no for ln in r.unmatched] == [1]

    def test_never_over_applies_across_lines(self) -> None:
        lines = [line(k, 60000, "INV-2026-0001") for k in range(4)]
        r = match_statement(lines, INVOICES)
        applied = sum(a.amount_minor for m in r.matches for a in m.applications)
        assert applied == 125000
        assert sum(m.credit_minor for m in r.matches) == 3 * 60000 - 125000
        assert [ln.line_no for ln in r.unmatched] == [3]  # names a settled invoice

    def test_threshold_param(self) -> None:
        r = match_statement(
            [line(1, 777, "x", "Lonely")],
            INVOICES,
            ReconciliationParams(auto_confidence=0.9),
        )
        assert not r.matches[0].auto

    def test_end_to_end_with_camt(self) -> None:
        r = match_statement(parse_camt053(CAMT), INVOICES)
        ids = {
            m.line.amount_minor: [a.invoice_id for a in m.applications]
            for m in r.matches
        }
        assert ids[125000] == ["i1"] and ids[10000] == ["i2"]
        assert [ln.amount_minor for ln in r.unmatched] == [20000]


@pytest.mark.parametrize(
    ("a", "b", "hi"),
    [
        ("Müller GmbH", "mueller", False),
        ("Müller GmbH", "MULLER", True),
        ("The Acme Co.", "acme", True),
        ("", "x", False),
    ],
)
def test_name_similarity(a: str, b: str, hi: bool) -> None:
    assert (name_similarity(a, b) >= 0.5) is hi


def test_common_name_tokens_do_not_hide_the_customer() -> None:
    crowd = [
        inv(f"x{k}", f"X-{k}", f"cx{k}", f"Firm{k} Trading", 1000 + k)
        for k in range(300)
    ]
    target = inv("a1", "A-1", "ca", "Acme Trading", 5000)
    r = match_statement([line(1, 4000, "", "ACME TRADING LTD")], [*crowd, target])
    (m,) = r.matches
    assert m.customer_id == "ca" and m.confidence == 0.35
    # a counterparty made only of the common word matches too many customers to pick one
    r = match_statement([line(1, 4000, "", "Trading")], [*crowd, target])
    assert r.unmatched and not r.matches


def test_unreadable_csv_is_a_format_error() -> None:
    text = 'date,amount,currency\n2026-01-01,"' + "x" * 200_000 + '",USD\n'
    with pytest.raises(StatementFormatError, match=r"^line \d+"):
        parse_statement_csv(text)
