"""Commerce benchmarks: reconciliation, card scanning, ledger check, audit chain.

Each figure is paired with a baseline measured in the same run (the machine is
shared and noisy, so ratios matter more than absolute rates):

* reconciliation: ``match_statement`` (token index over invoice numbers) vs a
  naive matcher that regex-searches every invoice number in every line; both
  must find the same referenced invoices;
* card scanning: ``scan_json`` over payment-like bodies vs ``json.loads`` of
  the same bodies (the parse the API does anyway);
* ledger: ``check_ledger`` vs a bare loop summing the same postings;
* audit: ``append_record`` + ``verify_chain`` vs raw SHA-256 over the same
  canonical bytes.

Run: ``python bench/commerce.py [--invoices 20000] [--lines 2000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commerce.audit import append_record, canonical_json, verify_chain
from commerce.ledger import check_ledger, invoice_finalised, payment_received
from commerce.payments import Payment, allocate_payment, receivable
from commerce.reconciliation import OpenInvoice, match_statement
from commerce.sensitive import scan_json
from commerce.statements import StatementLine
from tests.unit.commerce.billing_helpers import placed_invoice


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def bench_reconciliation(n_inv: int, n_lines: int, rng: random.Random) -> None:
    invoices = [
        OpenInvoice(
            f"i{k}",
            f"INV-2026-{k:06d}",
            f"c{k % 3000}",
            f"Customer {k % 3000} Ltd",
            "USD",
            rng.randint(100, 10**6),
            date(2026, 1, 1) + timedelta(days=k % 90),
        )
        for k in range(n_inv)
    ]
    lines = []
    for n in range(n_lines):
        inv = rng.choice(invoices)
        kind = n % 4
        text = {
            0: f"Payment {inv.number} thanks",
            1: f"inv {inv.number[4:].replace('-', ' ')}",
            2: "transfer",
            3: f"ref {rng.randint(10**5, 10**6)}",
        }[kind]
        amount = inv.remaining_minor if kind != 3 else rng.randint(100, 10**6)
        lines.append(
            StatementLine(n, date(2026, 2, 1), amount, "USD", text, inv.customer_name)
        )
    res, t_ours = timed(match_statement, lines, invoices)
    sample = lines[: max(1, n_lines // 10)]
    pats = [
        (
            inv,
            re.compile(
                r"(?<![A-Z0-9])"
                + r"[^A-Z0-9]*".join(re.findall("[A-Z0-9]+", inv.number))
                + r"(?![A-Z0-9])",
                re.I,
            ),
        )
        for inv in invoices
    ]

    def naive(ls):  # type: ignore[no-untyped-def]
        return [[inv.invoice_id for inv, p in pats if p.search(ln.text)] for ln in ls]

    hits, t_naive = timed(naive, sample)
    ours = {
        m.line.line_no: sorted(a.invoice_id for a in m.applications)
        for m in res.matches
        if m.reasons[0].startswith("reference")
    }
    agree = all(
        sorted(h) == ours.get(ln.line_no, [])
        for ln, h in zip(sample, hits, strict=True)
        if h
    )
    ours_rate = n_lines / t_ours
    naive_rate = len(sample) / t_naive
    print(
        f"reconciliation: {n_lines} lines x {n_inv} invoices in {t_ours:.2f} s = {ours_rate:,.0f} lines/s; "
        f"naive regex {naive_rate:,.1f} lines/s; ratio {ours_rate / naive_rate:,.0f}x; "
        f"matched {len(res.matches)}, unmatched {len(res.unmatched)}; reference hits agree: {agree}"
    )


def bench_cards(rng: random.Random) -> None:
    bodies = []
    for k in range(20000):
        body = {
            "amount_minor": rng.randint(1, 10**6),
            "currency": "USD",
            "customer_id": f"c{k}",
            "allocations": {f"i{j}": rng.randint(1, 1000) for j in range(3)},
            "memo": " ".join(
                rng.choice(
                    [
                        "invoice",
                        "thanks",
                        "ref",
                        str(rng.randint(1, 10**9)),
                        "2026-02-01",
                    ]
                )
                for _ in range(12)
            ),
            "metadata": {
                "order": f"o-{k}",
                "note": "see attached",
                "phone": "+1 555 123 4567",
            },
        }
        if k % 100 == 0:
            body["metadata"]["note"] = "card 4111 1111 1111 1111 exp 12/28"
        bodies.append(json.dumps(body).encode())
    parsed, t_parse = timed(lambda: [json.loads(b) for b in bodies])
    found, t_scan = timed(lambda: [scan_json(p) for p in parsed])
    n_found = sum(1 for f in found if f)
    mb = sum(len(b) for b in bodies) / 1e6
    print(
        f"card scan: {len(bodies)} bodies ({mb:.1f} MB) scan {len(bodies) / t_scan:,.0f} bodies/s "
        f"({mb / t_scan:.1f} MB/s); json.loads {len(bodies) / t_parse:,.0f} bodies/s; scan/parse time "
        f"{t_scan / t_parse:.1f}x; flagged {n_found} (planted {len(bodies) // 100})"
    )


def bench_ledger() -> None:
    base = placed_invoice()
    entries = []
    for k in range(10000):
        inv = base.__class__(**{**base.__dict__, "invoice_id": f"i{k}"})
        entries.append(invoice_finalised(inv, f"f{k}"))
        p = Payment(f"p{k}", "c1", "USD", inv.total_minor + 7, date(2026, 2, 1))
        entries.append(
            payment_received(
                p,
                allocate_payment(p.amount_minor, "USD", "c1", [receivable(inv)]),
                f"p{k}",
            )
        )
    report, t_check = timed(check_ledger, entries)

    def bare(es):  # type: ignore[no-untyped-def]
        d = c = 0
        for e in es:
            for p in e.postings:
                d += p.debit_minor
                c += p.credit_minor
        return d == c

    _, t_bare = timed(bare, entries)
    n_post = sum(len(e.postings) for e in entries)
    print(
        f"ledger: {len(entries)} entries / {n_post} postings checked in {t_check * 1000:.0f} ms "
        f"({n_post / t_check:,.0f} postings/s), bare sum loop {t_bare * 1000:.0f} ms, ratio "
        f"{t_check / t_bare:.1f}x; balanced {report.balanced}"
    )


def bench_audit(n: int) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    recs = []

    def build():  # type: ignore[no-untyped-def]
        prev = None
        for k in range(n):
            prev = append_record(
                prev,
                "t1",
                "payment_received",
                {"payment_id": f"p{k}", "amount_minor": k, "invoice_ids": [f"i{k}"]},
                t0 + timedelta(seconds=k),
            )
            recs.append(prev)

    _, t_build = timed(build)
    v, t_verify = timed(verify_chain, recs, "t1")
    import hashlib

    blobs = [canonical_json(r.body()) for r in recs]
    _, t_raw = timed(
        lambda: [
            hashlib.sha256(r.prev_hash.encode() + b).hexdigest()
            for r, b in zip(recs, blobs, strict=True)
        ]
    )
    print(
        f"audit: append {n / t_build:,.0f} records/s, verify {n / t_verify:,.0f} records/s "
        f"(ok={v.ok}); raw sha256 over the canonical bytes {n / t_raw:,.0f}/s; verify/raw time {t_verify / t_raw:.0f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--invoices", type=int, default=20000)
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--audit", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    bench_reconciliation(a.invoices, a.lines, rng)
    bench_cards(rng)
    bench_ledger()
    bench_audit(a.audit)


if __name__ == "__main__":
    main()
