from __future__ import annotations

from decimal import Decimal

import pytest

from commerce.errors import StatementFormatError
from commerce.statements import parse_camt053, parse_statement

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def entry(body: str, sts: str = "<Sts><Cd>BOOK</Cd></Sts>") -> str:
    return (
        f"<Document xmlns='{NS}'><BkToCstmrStmt><Stmt><Ntry>{sts}"
        f"<BookgDt><Dt>2026-03-01</Dt></BookgDt>{body}</Ntry></Stmt></BkToCstmrStmt>"
        "</Document>"
    )


class TestCamtCredits:
    def test_only_crdt_is_money_in(self) -> None:
        credit = parse_camt053(
            entry("<Amt Ccy='USD'>10.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>")
        )
        debit = parse_camt053(
            entry("<Amt Ccy='USD'>10.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>")
        )
        assert credit[0].amount_minor == 1050 and debit[0].amount_minor == -1050

    @pytest.mark.parametrize("indicator", ["", "<CdtDbtInd>CRED</CdtDbtInd>"])
    def test_missing_or_unknown_indicator_is_refused(self, indicator: str) -> None:
        with pytest.raises(StatementFormatError, match=r"^entry 1\.CdtDbtInd:"):
            parse_camt053(entry(f"<Amt Ccy='USD'>1</Amt>{indicator}"))

    @pytest.mark.parametrize("sts", ["<Sts><Cd>PDNG</Cd></Sts>", "<Sts>INFO</Sts>"])
    def test_pending_entries_are_not_money_yet(self, sts: str) -> None:
        doc = entry("<Amt Ccy='USD'>1</Amt><CdtDbtInd>CRDT</CdtDbtInd>", sts)
        assert parse_camt053(doc) == []

    def test_negative_amount_is_refused(self) -> None:
        with pytest.raises(StatementFormatError, match=r"^entry 1\.Amt:"):
            parse_camt053(entry("<Amt Ccy='USD'>-1</Amt><CdtDbtInd>CRDT</CdtDbtInd>"))

    def test_booked_amount_not_instructed_amount(self) -> None:
        tx = (
            "<TxDtls><AmtDtls><InstdAmt><Amt Ccy='EUR'>9.99</Amt></InstdAmt>"
            "<TxAmt><Amt Ccy='KWD'>1.234</Amt></TxAmt></AmtDtls>"
            "<RmtInf><Strd><CdtrRefInf><Ref>RF18 5390 0754 7034</Ref></CdtrRefInf>"
            "</Strd></RmtInf></TxDtls>"
        )
        doc = entry(
            "<Amt Ccy='KWD'>2.468</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            f"<NtryDtls>{tx}{tx}</NtryDtls>"
        )
        lines = parse_camt053(doc)
        assert [(ln.amount_minor, ln.currency) for ln in lines] == [(1234, "KWD")] * 2
        assert lines[0].text == "RF18 5390 0754 7034"
        assert Decimal(lines[0].amount_minor).scaleb(-3) == Decimal("1.234")

    def test_other_refs_are_not_the_remittance(self) -> None:
        doc = entry(
            "<Amt Ccy='USD'>1</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls>"
            "<Refs><EndToEndId>E2E</EndToEndId></Refs>"
            "<RmtInf><Ustrd>INV-2026-000007</Ustrd></RmtInf></TxDtls></NtryDtls>"
        )
        assert parse_camt053(doc)[0].text == "INV-2026-000007"


class TestParseStatement:
    CSV = b"date,amount,currency,reference\n2026-03-01,1.50,USD,INV-1\n"

    def test_csv(self) -> None:
        (line,) = parse_statement(self.CSV, "text/csv")
        assert line.amount_minor == 150

    @pytest.mark.parametrize(
        "ctype", [None, "application/xml", "text/xml; charset=utf-16"]
    )
    def test_xml_by_type_or_content(self, ctype: str | None) -> None:
        doc = entry("<Amt Ccy='USD'>1</Amt><CdtDbtInd>CRDT</CdtDbtInd>")
        for data in (
            doc.encode(),
            "\ufeff".encode("utf-16-le") + doc.encode("utf-16-le"),
        ):
            assert parse_statement(data, ctype)[0].amount_minor == 100

    def test_csv_must_be_utf8(self) -> None:
        with pytest.raises(StatementFormatError, match=r"^body:"):
            parse_statement(b"date,amount\n\xff\xfe\x00", "text/csv")
