"""PostgreSQL crashes in the middle of a payment batch (``pg_ctl stop -m
immediate``, then start): no acknowledged payment is lost, none is applied twice,
and the outbox still delivers every event to a real HTTP receiver.

The test stops a server, so it never touches the shared test cluster: it runs
its own throwaway PostgreSQL (the same binaries and OS user as
``data/local_services.py``, on a free port, under a temporary directory) and
removes it afterwards. Other xdist workers are not disturbed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text

from data.db import app_url, make_owner_engine, normalise_url
from data.local_services import LocalServices, pg_bin_dir
from data.migrate import upgrade

pytestmark = pytest.mark.asyncio

SECRET = "whsec_fault_0123456789"
JURISDICTION_COLUMNS = (
    "source, code, level, name, parent_code, geometry, vintage, boundary_error_m, "
    "credit, valid_from, valid_to"
)
ST_LOUIS = {"lat": 38.627, "lon": -90.1994, "accuracy_m": 10}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dsn(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def _copy_missouri(src_url: str, dst_url: str) -> None:
    """Missouri and its counties from the worker's database (loaded from the
    Census files once per run) into the throwaway cluster."""
    query = (
        f"COPY (SELECT {JURISDICTION_COLUMNS} FROM jurisdictions "
        "WHERE code = '29' OR parent_code = '29') TO STDOUT"
    )
    with psycopg.connect(_dsn(src_url)) as src, psycopg.connect(_dsn(dst_url)) as dst:
        with (
            src.cursor().copy(query) as out,
            dst.cursor().copy(
                f"COPY jurisdictions ({JURISDICTION_COLUMNS}) FROM STDIN"
            ) as into,
        ):
            for chunk in out:
                into.write(chunk)
        n = dst.execute("SELECT count(*) FROM jurisdictions").fetchone()
    assert n is not None and n[0] > 100


@pytest.fixture
def own_cluster(test_env) -> Iterator[tuple[LocalServices, str]]:
    """A PostgreSQL+PostGIS of this test's own, migrated, with Missouri loaded."""
    if pg_bin_dir() is None:
        pytest.skip("needs the PostgreSQL server binaries on this machine")
    root = Path(tempfile.mkdtemp(prefix="geocommerce-fault-", dir="/tmp"))
    root.chmod(0o755)  # the postgres OS user must reach the data directory
    services = LocalServices(
        root=root, explicit_pg_port=_free_port(), explicit_redis_port=_free_port()
    )
    try:
        services.up(echo=False)
        url = services.database_url()
        upgrade(url, app_password=test_env.settings.app_db_password())
        _copy_missouri(test_env.database_url, url)
        yield services, url
    finally:
        services.down()
        shutil.rmtree(root, ignore_errors=True)


class Receiver:
    """A webhook receiver on a free port: checks each signature, keeps each body."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.received: list[dict] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get("Webhook-Signature", "")
                parts = dict(p.split("=", 1) for p in header.split(","))
                mac = hmac.new(
                    receiver.secret, parts["t"].encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                if hmac.compare_digest(mac, parts.get("v1", "")):
                    receiver.received.append(json.loads(body))
                    self.send_response(200)
                else:
                    receiver.bad_signatures += 1
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _tenant(url: str) -> dict[str, str]:
    from api.tenancy import TenancyService
    from data.db import make_async_owner_engine, make_sessionmaker

    engine = make_async_owner_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            svc = TenancyService(session, actor="test")
            tenant = await svc.create_tenant("crash test")
            key = (await svc.create_key(tenant.id, ["admin"])).api_key
    finally:
        await engine.dispose()
    return {"Authorization": f"Bearer {key}"}


async def _post(
    c: httpx.AsyncClient, path: str, headers: dict[str, str], body: dict
) -> httpx.Response | None:
    """None when the request did not get an answer at all."""
    try:
        return await c.post(path, headers=headers, json=body)
    except (httpx.HTTPError, OSError):
        return None


async def test_postgres_crash_mid_payment_batch_loses_and_doubles_nothing(
    own_cluster, test_env
) -> None:
    from api.app import create_app

    services, url = own_cluster
    password = test_env.settings.app_db_password()
    settings = test_env.settings.model_copy(
        update={
            "database_url": url,
            "app_database_url": app_url(url, password),
            "run_persister": False,
        }
    )
    auth = await _tenant(url)
    app = create_app(settings)
    batch = 48
    with Receiver(SECRET) as receiver:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.put(
                    "/v1/tax/registrations",
                    headers=auth,
                    json={
                        "registrations": [
                            {"jurisdiction_code": "29", "registration_id": "MO-1"}
                        ]
                    },
                )
                assert r.status_code == 204, r.text
                r = await c.put(
                    "/v1/webhooks/endpoint",
                    headers=auth,
                    json={"url": receiver.url, "secret": SECRET},
                )
                assert r.status_code == 204, r.text
                r = await c.post(
                    "/v1/products",
                    headers=auth,
                    json={"sku": "LAMP", "price_minor": 2550, "currency": "USD"},
                )
                assert r.status_code == 201, r.text
                customers = []
                for i in range(3):
                    r = await c.post(
                        "/v1/customers", headers=auth, json={"name": f"C{i}"}
                    )
                    customers.append(r.json()["id"])
                for k in range(9):
                    r = await c.post(
                        "/v1/orders",
                        headers=auth,
                        json={
                            "customer_id": customers[k % 3],
                            "currency": "USD",
                            "lines": [{"line_id": "a", "sku": "LAMP", "quantity": 2}],
                            "ship_to": ST_LOUIS,
                        },
                    )
                    assert r.status_code == 201, r.text
                    r = await c.post(f"/v1/orders/{r.json()['id']}/place", headers=auth)
                    assert r.status_code == 200, r.text
                    assert r.json()["invoice"]["tax_minor"] > 0

                bodies = {
                    f"pay-{i}": {
                        "customer_id": customers[i % 3],
                        "currency": "USD",
                        "amount_minor": 700 + i,
                        "token": "tok_visa",
                        "last4": "4242",
                    }
                    for i in range(batch)
                }
                first: dict[str, httpx.Response | None] = {}

                async def send(key: str) -> None:
                    first[key] = await _post(
                        c, "/v1/payments", {**auth, "Idempotency-Key": key}, bodies[key]
                    )

                async def crash() -> None:
                    await asyncio.sleep(0.05)
                    await asyncio.to_thread(
                        services.pg_ctl, "-m", "immediate", "-w", "stop"
                    )

                keys = list(bodies)
                for start in range(0, 24, 6):  # the first half, all acknowledged
                    await asyncio.gather(*(send(k) for k in keys[start : start + 6]))
                # the next group is in flight when PostgreSQL dies; the rest is
                # sent while it is down
                await asyncio.gather(*(send(k) for k in keys[24:36]), crash())
                assert not services.pg_running()
                await asyncio.gather(*(send(k) for k in keys[36:]))
                await asyncio.to_thread(services.up, False)

                acked = {
                    k: r.json()["id"]
                    for k, r in first.items()
                    if r is not None and r.status_code == 201
                }
                failed = [k for k in keys if k not in acked]
                assert len(acked) >= 24 and len(failed) >= 12, {
                    k: None if r is None else r.status_code for k, r in first.items()
                }
                for k in failed:  # a retryable problem, never a bare 500
                    r = first[k]
                    assert r is None or (
                        r.status_code == 503 and r.headers["Retry-After"] == "1"
                    ), r.text
                    if r is not None:
                        assert r.json()["title"] == "Service unavailable"
                # clients retry what was not acknowledged, with the same key;
                # acknowledged ones are replayed too: the same payment comes back
                final: dict[str, str] = {}
                deadline = time.monotonic() + 60
                while len(final) < batch:
                    assert time.monotonic() < deadline, "no recovery within 60 s"
                    for k in keys:
                        if k in final:
                            continue
                        r = await _post(
                            c, "/v1/payments", {**auth, "Idempotency-Key": k}, bodies[k]
                        )
                        if r is not None and r.status_code == 201:
                            final[k] = r.json()["id"]
                    if len(final) < batch:
                        await asyncio.sleep(0.5)
                assert all(final[k] == acked[k] for k in acked)  # none twice

                book = (await c.get("/v1/ledger/balance", headers=auth)).json()
                assert book["balanced"] and book["tax_matches_lines"]
                audit = (await c.get("/v1/audit/verify", headers=auth)).json()
                assert audit["ok"] and audit["checked"] > batch

                # the outbox delivers every event, even across a second crash
                delivered: list[dict] = []
                r = await c.post("/v1/outbox/deliver", headers=auth, json={"limit": 20})
                assert r.status_code == 200, r.text
                delivered += r.json()["deliveries"]
                r, _ = await asyncio.gather(
                    _post(c, "/v1/outbox/deliver", auth, {"limit": 50}), crash()
                )
                if r is not None and r.status_code == 200:
                    delivered += r.json()["deliveries"]
                down = await _post(c, "/v1/outbox/deliver", auth, {"limit": 50})
                assert down is None or down.status_code == 503
                await asyncio.to_thread(services.up, False)
                deadline = time.monotonic() + 60
                while True:
                    assert time.monotonic() < deadline, "outbox not drained in 60 s"
                    r = await c.post(
                        "/v1/outbox/deliver", headers=auth, json={"limit": 50}
                    )
                    if r.status_code == 200 and not r.json()["deliveries"]:
                        break
                    if r.status_code == 200:
                        delivered += r.json()["deliveries"]
                    else:
                        await asyncio.sleep(0.5)
    engine = make_owner_engine(url)
    try:
        with engine.connect() as conn:
            payments = dict(
                conn.execute(
                    text(
                        "SELECT id::text, amount_minor FROM commerce_payments "
                        "WHERE status = 'succeeded'"
                    )
                ).all()
            )
            applied, credit = conn.execute(
                text(
                    "SELECT (SELECT coalesce(sum(amount_minor), 0) FROM "
                    "commerce_payment_allocations), (SELECT coalesce(sum("
                    "balance_minor), 0) FROM commerce_customer_credit)"
                )
            ).one()
            outbox = dict(
                conn.execute(text("SELECT id::text, status FROM commerce_outbox")).all()
            )
            paid_events = conn.execute(
                text(
                    "SELECT count(*) FROM commerce_outbox "
                    "WHERE event = 'payment.received'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    # every acknowledged payment is there, each exactly once, nothing else
    assert set(payments) == set(final.values())
    assert len(payments) == batch
    assert sum(payments.values()) == sum(b["amount_minor"] for b in bodies.values())
    assert applied + credit == sum(payments.values())
    # every event reached the receiver, signed; a receiver dedupes by id
    assert receiver.bad_signatures == 0
    assert paid_events == batch
    assert set(outbox.values()) == {"delivered"}
    got = {str(e["id"]) for e in receiver.received}
    assert got == set(outbox), (sorted(set(outbox) - got), sorted(got - set(outbox)))
    assert {d["status"] for d in delivered} == {"delivered"}
    announced = {
        e["data"]["payment_id"]
        for e in receiver.received
        if e["event"] == "payment.received"
    }
    assert announced == set(payments)
