"""API-key authentication, scopes and per-key rate limiting."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.errors import ApiError
from api.tenancy import parse_api_key, secret_matches
from data.repository import KeyLookup, TenantRepository


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and its scopes."""

    key_pk: uuid.UUID
    key_id: str
    tenant_id: uuid.UUID
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"


class KeyCache:
    """Per-worker cache of key lookups (positive for ``ttl_s``, negative for 5 s).

    A revocation reaches this worker at once and other workers within ``ttl_s``.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, KeyLookup | None]] = {}

    def get(self, key_id: str) -> tuple[bool, KeyLookup | None]:
        entry = self._entries.get(key_id)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_id: str, value: KeyLookup | None) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()
        ttl = self.ttl_s if value is not None else min(self.ttl_s, 5.0)
        self._entries[key_id] = (time.monotonic() + ttl, value)

    def forget(self, key_id: str | None = None) -> None:
        if key_id is None:
            self._entries.clear()
        else:
            self._entries.pop(key_id, None)


def _unauthorized(detail: str) -> ApiError:
    return ApiError(
        401,
        "Unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="geocommerce"'},
    )


async def authenticate(request: Request) -> Principal:
    """Resolve ``Authorization: Bearer gck_...`` to a principal, or raise 401/429."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    parsed = parse_api_key(token.strip())
    if parsed is None:
        raise _unauthorized("the API key is malformed")
    key_id, secret = parsed
    state = request.app.state
    hit, lookup = state.key_cache.get(key_id)
    if not hit:
        async with state.sessionmaker() as session, session.begin():
            lookup = await TenantRepository(session).lookup_key(key_id)
        state.key_cache.put(key_id, lookup)
    if lookup is None or not secret_matches(secret, lookup.secret_sha256):
        raise _unauthorized("the API key is not valid")
    if lookup.revoked:
        raise _unauthorized("the API key has been revoked")
    decision = await state.rate_limiter.hit(key_id)
    if not decision.allowed:
        retry = max(1, int(decision.retry_after_s + 0.999))
        raise ApiError(
            429,
            "Too many requests",
            f"rate limit exceeded for this API key; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
    principal = Principal(lookup.id, key_id, lookup.tenant_id, frozenset(lookup.scopes))
    request.state.principal = principal
    return principal


def require(*scopes: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency: the caller must hold one of ``scopes`` (``admin`` holds all)."""
    allowed = frozenset(scopes) | {"admin"}

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.scopes & allowed:
            raise ApiError(
                403,
                "Forbidden",
                f"this endpoint needs one of the scopes: {', '.join(sorted(allowed))}",
                required_scopes=sorted(allowed),
            )
        return principal

    dependency.__name__ = f"require_{'_'.join(scopes) or 'any'}"
    return dependency
