"""camt.053 bank statements through the API: the same matching pipeline as CSV."""

from __future__ import annotations

import pytest

from tests.api.test_commerce import place, setup_shop

pytestmark = pytest.mark.asyncio


def major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def camt(a: dict, b: dict) -> str:
    """A camt.053.001.08 statement as a bank sends it (namespaced, with group
    header, balances, structured and unstructured remittance information)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-20261120-001</MsgId><CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-1</Id><ElctrncSeqNb>42</ElctrncSeqNb>
      <CreDtTm>2026-11-20T18:00:00</CreDtTm>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="USD">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-20</Dt></Dt></Bal>
      <Ntry>
        <NtryRef>1</NtryRef>
        <Amt Ccy="USD">{major(a["total_minor"])}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <ValDt><Dt>2026-11-20</Dt></ValDt>
        <AcctSvcrRef>BANKREF-0001</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-77</EndToEndId></Refs>
          <Amt Ccy="USD">{major(a["total_minor"])}</Amt>
          <CdtDbtInd>CRDT</CdtDbtInd>
          <RltdPties><Dbtr><Pty><Nm>Customer 0</Nm></Pty></Dbtr>
            <DbtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN></Id></DbtrAcct></RltdPties>
          <RmtInf><Ustrd>Invoice {a["number"]} thank you</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="USD">{major(b["total_minor"])}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <AcctSvcrRef>BANKREF-0002</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <AmtDtls>
            <InstdAmt><Amt Ccy="EUR">9999.99</Amt></InstdAmt>
            <TxAmt><Amt Ccy="USD">{major(b["total_minor"])}</Amt></TxAmt>
          </AmtDtls>
          <RltdPties><Dbtr><Pty><Nm>Customer 1</Nm></Pty></Dbtr></RltdPties>
          <RmtInf><Strd><CdtrRefInf>
            <Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>
            <Ref>{b["number"]}</Ref>
          </CdtrRefInf></Strd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="USD">15.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <AddtlNtryInf>Account fee {a["number"]}</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="USD">{major(b["total_minor"])}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>PDNG</Cd></Sts><BookgDt><Dt>2026-11-21</Dt></BookgDt>
        <NtryDtls><TxDtls><RmtInf><Ustrd>{b["number"]}</Ustrd></RmtInf></TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="USD">12.34</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <NtryDtls><TxDtls>
          <RltdPties><Dbtr><Pty><Nm>Somebody Else</Nm></Pty></Dbtr></RltdPties>
          <RmtInf><Ustrd>misc transfer</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""


async def test_camt053_statement_matches_like_csv(client, make_tenant) -> None:
    t = await make_tenant()
    c0, c1 = await setup_shop(client, t, customers=2)
    a = (await place(client, t, c0, 0))["invoice"]
    b = (await place(client, t, c1, 1))["invoice"]
    r = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "application/xml"},
        content=camt(a, b).encode(),
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["debits_ignored"] == 1  # the fee; the pending credit is not booked
    applied = {x["payment"]["applications"][0]["invoice_id"]: x for x in doc["applied"]}
    assert set(applied) == {a["id"], b["id"]}
    assert applied[b["id"]]["payment"]["amount_minor"] == b["total_minor"]
    assert (
        applied[b["id"]]["payment"]["applications"][0]["amount_minor"]
        == (b["total_minor"])
    )
    (queued,) = doc["queued"]
    assert queued["status"] == "unmatched" and queued["amount_minor"] == 1234
    assert queued["text"] == "misc transfer"
    assert queued["counterparty"] == "Somebody Else"
    for inv in (a, b):
        got = (
            await client.get(f"/v1/invoices/{inv['id']}", headers=t.headers())
        ).json()
        assert got["status"] == "paid"
    # the same document without a content type is recognised as XML too
    r = await client.post(
        "/v1/reconciliation/statements",
        headers=t.headers(),
        content=camt(a, b).encode(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["applied"] == []  # both invoices are paid now: all queued
    book = (await client.get("/v1/ledger/balance", headers=t.headers())).json()
    assert book["balanced"]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b"<Document><Ntry></Document>", "document"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<d>&x;</d>",
            "document",
        ),
        (
            b"<D><Ntry><Amt Ccy='USD'>1.00</Amt><BookgDt><Dt>2026-01-01</Dt></BookgDt>"
            b"</Ntry></D>",
            "entry 1.CdtDbtInd",
        ),
        (
            b"<D><Ntry><Amt Ccy='KWD'>1.0005</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            b"<BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry></D>",
            "entry 1.Amt",
        ),
    ],
)
async def test_bad_camt053_is_422_naming_the_part(
    client, make_tenant, doc: bytes, field: str
) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/reconciliation/statements",
        headers={**t.headers(), "Content-Type": "application/xml"},
        content=doc,
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
