"""The API edge: authentication, scopes, problem+json, limits, health and metrics."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app

pytestmark = pytest.mark.asyncio


async def test_healthz_needs_no_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_reports_database_and_redis(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_is_503_when_redis_is_unreachable(test_env) -> None:
    settings = test_env.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0"}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["redis"].startswith("unavailable")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic abc",
        "Bearer nonsense",
        "Bearer gck_0123456789abcdef_" + "x" * 43,
    ],
)
async def test_missing_or_bad_key_is_401_problem(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert "Traceback" not in r.text


async def test_right_key_wrong_secret_is_401(client, make_tenant) -> None:
    t = await make_tenant()
    key = t.keys["admin"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_me_names_tenant_and_scopes(client, make_tenant) -> None:
    t = await make_tenant("Acme")
    r = await client.get("/v1/me", headers=t.headers("device"))
    assert r.status_code == 200
    assert r.json()["tenant_id"] == str(t.tenant_id)
    assert r.json()["tenant_name"] == "Acme"
    assert r.json()["scopes"] == ["device"]


@pytest.mark.parametrize("scope", ["device", "checkout", "dispatcher"])
async def test_wrong_scope_is_403(client, make_tenant, scope: str) -> None:
    t = await make_tenant()
    r = await client.get("/v1/api-keys", headers=t.headers(scope))
    assert r.status_code == 403
    assert r.json()["required_scopes"] == ["admin"]


async def test_revoked_key_is_refused_at_once(client, make_tenant) -> None:
    t = await make_tenant()
    keys = (await client.get("/v1/api-keys", headers=t.headers())).json()
    device = next(k for k in keys if k["scopes"] == ["device"])
    assert (await client.get("/v1/me", headers=t.headers("device"))).status_code == 200
    r = await client.delete(f"/v1/api-keys/{device['id']}", headers=t.headers())
    assert r.status_code == 200
    assert r.json()["revoked_at"]
    assert (await client.get("/v1/me", headers=t.headers("device"))).status_code == 401


async def test_tenant_a_gets_404_for_tenant_b_objects(client, make_tenant) -> None:
    a, b = await make_tenant("A"), await make_tenant("B")
    b_keys = (await client.get("/v1/api-keys", headers=b.headers())).json()
    assert len(b_keys) == 4
    for key in b_keys:
        r = await client.get(f"/v1/api-keys/{key['id']}", headers=a.headers())
        assert r.status_code == 404, r.text
        r = await client.delete(f"/v1/api-keys/{key['id']}", headers=a.headers())
        assert r.status_code == 404
    a_keys = (await client.get("/v1/api-keys", headers=a.headers())).json()
    assert {k["id"] for k in a_keys}.isdisjoint({k["id"] for k in b_keys})
    # B's keys still work: A's failed revocations changed nothing.
    assert (await client.get("/v1/me", headers=b.headers("device"))).status_code == 200


async def test_key_created_over_api_works_and_secret_is_not_stored(
    client, make_tenant, owner_engine
) -> None:
    from sqlalchemy import text

    t = await make_tenant()
    r = await client.post(
        "/v1/api-keys",
        headers=t.headers(),
        json={"scopes": ["checkout"], "name": "till 1"},
    )
    assert r.status_code == 201
    new_key = r.json()["api_key"]
    assert (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {new_key}"})
    ).json()["scopes"] == ["checkout"]
    secret = new_key.split("_", 2)[2]
    with owner_engine.connect() as conn:
        dump = conn.execute(text("SELECT api_keys::text FROM api_keys")).scalars().all()
    assert not any(secret in row for row in dump)


async def test_malformed_json_is_422_problem(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/api-keys",
        headers={**t.headers(), "content-type": "application/json"},
        content=b'{"scopes": [',
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "malformed JSON" in r.json()["detail"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_rejected(
    client, make_tenant, literal: bytes
) -> None:
    t = await make_tenant()
    body = b'{"scopes": ["device"], "name": "x", "weight": ' + literal + b"}"
    r = await client.post(
        "/v1/api-keys",
        headers={**t.headers(), "content-type": "application/json"},
        content=body,
    )
    assert r.status_code == 422
    # Refused by the strict JSON parser itself, before any schema sees a float.
    assert r.json()["errors"][0]["type"] == "json_invalid"


async def test_validation_error_names_the_field(client, make_tenant) -> None:
    t = await make_tenant()
    r = await client.post(
        "/v1/api-keys", headers=t.headers(), json={"scopes": ["root"]}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "scopes[0]"
    assert body["errors"][0]["field"] == "scopes[0]"
    r = await client.post(
        "/v1/api-keys",
        headers=t.headers(),
        json={"scopes": ["device"], "status": "paid"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "status"


async def test_oversized_body_is_413(client, make_tenant) -> None:
    t = await make_tenant()
    big = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    r = await client.post(
        "/v1/api-keys",
        headers={**t.headers(), "content-type": "application/json"},
        content=big,
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")

    async def chunks():  # no Content-Length: the streamed byte count decides
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    r = await client.post(
        "/v1/api-keys",
        headers={**t.headers(), "content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(r.headers["x-request-id"]) == 32
    r = await client.get("/v1/me")
    assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_metrics_has_latency_histogram_by_route_and_status(client) -> None:
    await client.get("/healthz")
    await client.get("/v1/me")
    text = (await client.get("/metrics")).text
    assert (
        'geocommerce_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",status="200"}'
        in text
    )
    assert 'route="/v1/me",status="401"' in text


async def test_rate_limit_is_429_with_retry_after(test_env, make_tenant) -> None:
    settings = test_env.settings.model_copy(
        update={"rate_limit_per_second": 1.0, "rate_limit_burst": 3}
    )
    app = create_app(settings)
    t = await make_tenant()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            codes = [
                (await c.get("/v1/me", headers=t.headers("device"))).status_code
                for _ in range(5)
            ]
            r = await c.get("/v1/me", headers=t.headers("device"))
            other = await c.get("/v1/me", headers=t.headers("checkout"))
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")
    assert other.status_code == 200  # limits are per key


async def test_every_route_with_a_session_ends_it() -> None:
    """Request sessions are committed by the route class; a route of another
    class that used one would never commit."""
    from fastapi.routing import APIRoute

    from api.app import create_app
    from api.deps import get_session, get_webhook_session
    from api.jsonroute import StrictJSONRoute

    def uses_session(dependant) -> bool:
        return any(
            d.call in (get_session, get_webhook_session) or uses_session(d)
            for d in dependant.dependencies
        )

    def api_routes(routes) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            inner = getattr(r, "original_router", None)  # an included router
            if inner is not None:
                out += api_routes(inner.routes)
        return out

    routes = api_routes(create_app().routes)
    assert any(uses_session(r.dependant) for r in routes)
    for route in routes:
        if uses_session(route.dependant):
            assert isinstance(route, StrictJSONRoute), route.path
