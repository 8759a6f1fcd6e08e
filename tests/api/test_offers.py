"""Proximity offers over the API: campaigns, issuing on pings, codes, redemption,
report; against the real PostGIS and Redis."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.api.test_commerce import order_body, setup_shop
from tests.api.test_geofences import circle

pytestmark = pytest.mark.asyncio

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
STORE = (39.7392, -104.9903)  # Denver


def ping(device: str, t: float, lat: float, lon: float, acc: float = 6.0, **extra):
    ts = (NOW + timedelta(seconds=t)).isoformat()
    return {
        "device_id": device,
        "timestamp": ts,
        "lat": lat,
        "lon": lon,
        "accuracy_m": acc,
    } | extra


def walk_in(device: str, t0: float = 0.0, acc: float = 6.0, **extra) -> list[dict]:
    """From 900 m north into the store's centre."""
    lats = [39.7473, 39.7430, 39.7400, 39.7393, 39.7392]
    return [
        ping(device, t0 + 30 * k, lat, STORE[1], acc, **extra)
        for k, lat in enumerate(lats)
    ]


CAMPAIGN = {
    "name": "Ten percent off",
    "trigger": "enter",
    "target": {"tag": "store"},
    "reward": {
        "kind": "percent",
        "percent": "10",
        "currency": "USD",
        "max_discount_minor": 2000,
        "min_basket_minor": 1000,
    },
    "limits": {"per_device_per_day": 1, "per_device_per_week": 3},
    "code_ttl_s": 3600,
}


async def _setup(
    client, make_tenant, devices=("d1",), marketing=True, campaign=None, **props
):
    t = await make_tenant()
    r = await client.post(
        "/v1/geofences",
        headers=t.headers(),
        json=circle(
            *STORE, 150, name="Store", tag="store", timezone="America/Denver", **props
        ),
    )
    assert r.status_code == 201, r.text
    fence_id = r.json()["id"]
    r = await client.post(
        "/v1/devices/consent/batch",
        headers=t.headers("device"),
        json={
            "items": [
                {"device_id": d, "location": True, "marketing": marketing}
                for d in devices
            ]
        },
    )
    assert r.status_code == 204
    r = await client.post(
        "/v1/campaigns", headers=t.headers(), json=campaign or CAMPAIGN
    )
    assert r.status_code == 201, r.text
    return t, fence_id, r.json()["id"]


async def _offers(client, t, pings: list[dict]) -> list[dict]:
    r = await client.post(
        "/v1/pings/batch", headers=t.headers("device"), json={"pings": pings}
    )
    assert r.status_code == 200, r.text
    return [o for res in r.json()["results"] for o in res["offers"]]


class TestCampaigns:
    async def test_crud_validation_and_tenant_isolation(self, client, make_tenant):
        t, _, cid = await _setup(client, make_tenant)
        r = await client.get(f"/v1/campaigns/{cid}", headers=t.headers())
        assert r.status_code == 200
        assert r.json()["reward_summary"]["percent"] == "10"
        changed = {**CAMPAIGN, "name": "Renamed", "holdout_share": 0.2}
        r = await client.put(f"/v1/campaigns/{cid}", headers=t.headers(), json=changed)
        assert r.json()["name"] == "Renamed" and r.json()["holdout_share"] == 0.2
        r = await client.get("/v1/campaigns", headers=t.headers())
        assert [c["id"] for c in r.json()["campaigns"]] == [cid]
        # a device key may not manage campaigns; another tenant sees nothing
        r = await client.get("/v1/campaigns", headers=t.headers("device"))
        assert r.status_code == 403
        other = await make_tenant("other")
        r = await client.get(f"/v1/campaigns/{cid}", headers=other.headers())
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.delete(f"/v1/campaigns/{cid}", headers=t.headers())
        assert r.json()["active"] is False

    @pytest.mark.parametrize(
        ("patch", "field"),
        [
            ({"target": {"tag": "a", "fence_ids": [1]}}, "target"),
            ({"reward": {**CAMPAIGN["reward"], "percent": "120"}}, "reward.percent"),
            ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
            (
                {
                    "reward": {"kind": "percent", "percent": "5", "currency": "USD"},
                    "limits": {"budget_minor": 100},
                },
                "reward.max_discount_minor",
            ),
            ({"holdout_share": 0.9}, "holdout_share"),
        ],
    )
    async def test_bad_campaign_is_422_naming_the_field(
        self, client, make_tenant, patch, field
    ):
        t = await make_tenant()
        r = await client.post(
            "/v1/campaigns", headers=t.headers(), json={**CAMPAIGN, **patch}
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"].startswith(field)


class TestIssuing:
    async def test_enter_gives_a_code_in_the_response_and_the_outbox(
        self, client, make_tenant, owner_engine
    ):
        t, fid, cid = await _setup(client, make_tenant)
        offers = await _offers(client, t, walk_in("d1"))
        assert len(offers) == 1
        o = offers[0]
        assert o["campaign_id"] == cid and o["fence_id"] == fid
        assert o["code"].startswith("GO1.")
        r = await client.get("/v1/outbox", headers=t.headers())
        events = [e for e in r.json()["events"] if e["event"] == "offer.issued"]
        assert [e["subject_id"] for e in events] == [o["offer_id"]]
        with owner_engine.connect() as conn:
            payload = conn.execute(
                text(
                    "SELECT payload FROM commerce_outbox WHERE tenant_id = :t "
                    "AND event = 'offer.issued'"
                ),
                {"t": t.tenant_id},
            ).scalar_one()
        assert payload == {
            "event": "offer.issued",
            "offer_id": o["offer_id"],
            "code": o["code"],
            "campaign_id": cid,
            "device_id": "d1",
            "fence_id": fid,
            "store_fence_id": o["store_fence_id"],
            "expires_at": o["expires_at"],
        }
        assert o["expires_at"].endswith("Z")
        # the daily cap: walking out and in again the same day gives nothing
        out = [
            ping("d1", 200 + 30 * k, 39.7392 + 0.002 * k, STORE[1]) for k in range(5)
        ]
        assert await _offers(client, t, out + walk_in("d1", 400)) == []
        r = await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        assert r.json()["issued"] == 1
        assert r.json()["suppressed"] == {"device_cap_day": 1}

    async def test_single_ping_endpoint_returns_the_offer(self, client, make_tenant):
        t, _, _ = await _setup(client, make_tenant)
        got = []
        for p in walk_in("d1"):
            r = await client.post("/v1/pings", headers=t.headers("device"), json=p)
            assert r.status_code == 200, r.text
            got += r.json()["offers"]
        assert len(got) == 1

    async def test_untrusted_or_unconsented_positions_get_nothing(
        self, client, make_tenant
    ):
        # the store says it resolves 60 m: offers need a fused accuracy <= 30 m
        t, _, cid = await _setup(
            client, make_tenant, devices=("acc", "mock"), resolvable_m=60
        )
        await client.put(
            "/v1/devices/nomkt/consent",
            headers=t.headers("device"),
            json={"location": True, "marketing": False},
        )
        # fused accuracy about 35 m; mocked; no marketing consent
        pings = (
            walk_in("acc", acc=45.0) + walk_in("mock", mocked=True) + walk_in("nomkt")
        )
        assert await _offers(client, t, pings) == []
        r = await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        assert r.json()["suppressed"] == {
            "inaccurate": 1,
            "untrusted_position": 1,
            "no_marketing_consent": 1,
        }
        assert r.json()["issued"] == 0

    async def test_schedule_uses_the_store_time_zone(self, client, make_tenant):
        local = NOW.astimezone(__import__("zoneinfo").ZoneInfo("America/Denver"))
        start = (local + timedelta(hours=2)).strftime("%H:%M")
        end = (local + timedelta(hours=3)).strftime("%H:%M")
        closed = {**CAMPAIGN, "schedule": {"hours": {"start": start, "end": end}}}
        t, _, cid = await _setup(client, make_tenant, campaign=closed)
        assert await _offers(client, t, walk_in("d1")) == []
        r = await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        assert r.json()["suppressed"] == {"schedule": 1}

    async def test_near_store_target(self, client, make_tenant):
        t, fid, _ = await _setup(
            client,
            make_tenant,
            campaign={
                **CAMPAIGN,
                "target": {"near_store": {"tag": "store", "within_m": 400}},
            },
        )
        # a big "downtown" zone: entering it near the store triggers the offer
        r = await client.post(
            "/v1/geofences",
            headers=t.headers(),
            json=circle(39.7440, -104.9903, 600, name="Downtown", tag="zone"),
        )
        zone = r.json()["id"]
        offers = await _offers(
            client,
            t,
            [ping("d1", 0, 39.7600, STORE[1]), ping("d1", 30, 39.7400, STORE[1])],
        )
        # entering the zone and the store both qualify; one offer per campaign a day
        assert len(offers) == 1 and offers[0]["store_fence_id"] == fid
        assert offers[0]["fence_id"] in (zone, fid)


class TestCodes:
    async def test_tampered_foreign_expired_and_reused(
        self, client, make_tenant, owner_engine
    ):
        t, _, _ = await _setup(client, make_tenant, devices=("d1", "d2"))
        (cust,) = await setup_shop(client, t)
        r = await client.put(
            "/v1/devices/d1/customer",
            headers=t.headers("checkout"),
            json={"customer_id": cust},
        )
        assert r.status_code == 204
        code = (await _offers(client, t, walk_in("d1")))[0]["code"]
        code2 = (await _offers(client, t, walk_in("d2")))[0]["code"]

        head, payload, mac = code.split(".")
        raw = bytearray(base64.urlsafe_b64decode(payload + "=="))
        raw[-1] ^= 1  # another device digest
        forged = (
            f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}.{mac}"
        )
        r = await client.post(
            "/v1/offers/verify", headers=t.headers("checkout"), json={"code": forged}
        )
        assert r.status_code == 422
        assert r.json()["reason"] == "invalid_signature"
        assert r.json()["field"] == "offer_code"
        r = await client.post(
            "/v1/offers/verify", headers=t.headers("checkout"), json={"code": code}
        )
        assert r.status_code == 200 and r.json()["valid"] is True

        async def order(c: str, tenant=t, customer=cust):
            return await client.post(
                "/v1/orders",
                headers=tenant.headers("checkout"),
                json=order_body(customer, 1, offer_code=c),
            )

        r = await order(forged)
        assert (r.status_code, r.json()["reason"]) == (422, "invalid_signature")
        other = await make_tenant("other")
        (other_cust,) = await setup_shop(client, other)
        r = await order(code, other, other_cust)
        assert (r.status_code, r.json()["reason"]) == (422, "foreign_tenant")
        assert r.headers["content-type"].startswith("application/problem+json")

        # redeemed in the same transaction as the order
        r = await order(code)
        assert r.status_code == 201, r.text
        doc = r.json()
        offer_lines = [d for d in doc["discounts"] if d["code"] == code]
        # 2 shoes at 49.99 and a lamp at 25.50 = 12548; 10 % = 1255 (cap 2000)
        assert sum(d["amount_minor"] for d in offer_lines) == 1255
        r = await order(code)
        assert (r.status_code, r.json()["reason"]) == (409, "already_redeemed")
        with owner_engine.begin() as conn:
            row = conn.execute(
                text(
                    "SELECT order_id::text, discount_minor FROM offers WHERE redeemed_at IS NOT NULL"
                )
            ).one()
        assert row == (doc["id"], 1255)

        # expired: the server's record is the authority
        with owner_engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE offers SET expires_at = now() - interval '1 s' WHERE redeemed_at IS NULL"
                )
            )
        r = await order(code2)
        assert (r.status_code, r.json()["reason"]) == (422, "expired")
        r = await client.post(
            "/v1/orders",
            headers=t.headers("checkout"),
            json=order_body(cust, 1, offer_code="GO1.nonsense"),
        )
        assert (r.status_code, r.json()["reason"]) == (422, "malformed")

    async def test_basket_rules(self, client, make_tenant):
        camp = {
            **CAMPAIGN,
            "reward": {
                "kind": "fixed",
                "amount_minor": 500,
                "currency": "USD",
                "min_basket_minor": 2000,
                "eligible_skus": ["LAMP"],
            },
        }
        t, _, _ = await _setup(client, make_tenant, campaign=camp)
        (cust,) = await setup_shop(client, t)
        code = (await _offers(client, t, walk_in("d1")))[0]["code"]
        body = order_body(cust, 1, offer_code=code)  # shoes and one lamp (2550)
        r = await client.post("/v1/orders", headers=t.headers("checkout"), json=body)
        assert r.status_code == 201, r.text
        got = r.json()["discounts"]
        assert {d["discount_id"]: d["amount_minor"] for d in got if d["code"]} == {
            "offer-b": 500
        }
        t2, _, _ = await _setup(client, make_tenant, campaign=camp)
        (cust2,) = await setup_shop(client, t2)
        code = (await _offers(client, t2, walk_in("d1")))[0]["code"]
        body = order_body(cust2, 0, offer_code=code)  # shoes only
        r = await client.post("/v1/orders", headers=t2.headers("checkout"), json=body)
        assert (r.status_code, r.json()["reason"]) == (422, "no_eligible_items")


class TestReport:
    async def test_lift_against_the_holdout_with_an_interval(self, client, make_tenant):
        devices = [f"dev{i}" for i in range(40)]
        camp = {**CAMPAIGN, "holdout_share": 0.5}
        t, _, cid = await _setup(client, make_tenant, devices=devices, campaign=camp)
        customers = await setup_shop(client, t, customers=len(devices))
        for d, c in zip(devices, customers, strict=True):
            r = await client.put(
                f"/v1/devices/{d}/customer",
                headers=t.headers("checkout"),
                json={"customer_id": c},
            )
            assert r.status_code == 204
        pings = [p for d in devices for p in walk_in(d)]
        offers = await _offers(client, t, pings)
        report = (
            await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        ).json()
        held = report["suppressed"].get("holdout", 0)
        assert held > 0 and report["issued"] == len(offers) == len(devices) - held
        # every offered customer buys with the code; nobody in the holdout buys
        for o in offers[: len(offers) // 2]:
            r = await client.post(
                "/v1/orders",
                headers=t.headers("checkout"),
                json=order_body(customers[0], 1, offer_code=o["code"])
                | {"customer_id": customers[devices.index(_device_of(pings, o))]},
            )
            assert r.status_code == 201, r.text
            r = await client.post(
                f"/v1/orders/{r.json()['id']}/place", headers=t.headers("checkout")
            )
            assert r.status_code == 200, r.text
        report = (
            await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        ).json()
        n = len(offers) // 2
        assert report["redeemed"] == n
        assert report["treatment"] == {
            "devices": len(offers),
            "converted": n,
            "rate": n / len(offers),
        }
        assert report["holdout"]["devices"] == held
        assert report["holdout"]["converted"] == 0
        assert report["lift"] == pytest.approx(n / len(offers))
        ci = report["lift_ci95"]
        assert ci["low"] < report["lift"] < ci["high"]
        assert report["discount_minor"] == 1255 * n
        assert report["revenue_minor"] > 0


_OFFER_DEVICE: dict[str, str] = {}


def _device_of(pings: list[dict], offer: dict) -> str:
    from geoengine.offer_codes import device_digest, read_claims

    digest = read_claims(offer["code"]).device_digest
    for p in pings:
        if device_digest(p["device_id"]) == digest:
            return p["device_id"]
    raise AssertionError("no device for the offer")


class TestDwellAndErasure:
    async def test_dwell_trigger(self, client, make_tenant):
        t, _, cid = await _setup(
            client, make_tenant, campaign={**CAMPAIGN, "trigger": "dwell"}, dwell_s=300
        )
        stay = [ping("d1", 150 + 30 * k, *STORE) for k in range(12)]
        offers = await _offers(client, t, walk_in("d1"))
        assert offers == []  # enter only
        offers = await _offers(client, t, stay)
        assert len(offers) == 1 and offers[0]["campaign_id"] == cid

    async def test_erasing_a_device_forgets_its_offers(
        self, client, make_tenant, owner_engine
    ):
        t, _, _ = await _setup(client, make_tenant, devices=("d1", "d2"))
        (cust,) = await setup_shop(client, t)
        redeemed = (await _offers(client, t, walk_in("d1")))[0]["code"]
        await _offers(client, t, walk_in("d1", 86_400))  # next day: a second code
        r = await client.post(
            "/v1/orders",
            headers=t.headers("checkout"),
            json=order_body(cust, 1, offer_code=redeemed),
        )
        assert r.status_code == 201, r.text
        r = await client.delete("/v1/devices/d1", headers=t.headers("device"))
        assert r.status_code == 200, r.text
        assert r.json()["offers"] == 1 and r.json()["offers_anonymised"] == 1
        with owner_engine.begin() as conn:
            rows = conn.execute(
                text("SELECT device_id, redeemed_at IS NOT NULL FROM offers")
            ).all()
            decisions = conn.execute(
                text("SELECT count(*) FROM offer_decisions WHERE device_id = 'd1'")
            ).scalar()
        assert rows == [("erased", True)] and decisions == 0


class TestBudgets:
    async def test_expired_codes_give_their_budget_back(
        self, client, make_tenant, owner_engine
    ):
        one = {**CAMPAIGN, "limits": {"budget_redemptions": 1}}
        t, _, cid = await _setup(
            client, make_tenant, devices=("d1", "d2", "d3"), campaign=one
        )
        assert len(await _offers(client, t, walk_in("d1"))) == 1
        assert await _offers(client, t, walk_in("d2")) == []  # budget reserved
        with owner_engine.begin() as conn:
            conn.execute(text("UPDATE offers SET expires_at = now() - interval '1 s'"))
        # the refusal asked for a reconciliation: the next issuer releases it
        assert len(await _offers(client, t, walk_in("d3"))) == 1
        r = await client.post("/v1/offers/reconcile", headers=t.headers())
        assert r.json()["budgets"][cid] == {"reserved_minor": 2000, "reserved_codes": 1}
        r = await client.get(f"/v1/campaigns/{cid}/report", headers=t.headers())
        assert r.json()["issued"] == 2
        assert r.json()["suppressed"] == {"budget_redemptions": 1}
