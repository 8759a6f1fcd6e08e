"""Engines, sessions and tenant binding.

Two kinds of engine:

* the **app engine** logs in as the role ``geocommerce_app``, which owns no table,
  is no superuser, cannot bypass RLS and is subject to the forced row-level
  security policies; each transaction states its tenant with
  ``set_config('app.tenant_id', ..., true)``. A transaction that names no tenant
  sees no tenant-owned row at all. Logging in as that role (rather than
  ``SET ROLE`` from the owner) means no SQL can switch back to the owner.
* the **owner engine** (``DATABASE_URL``: migrations, administration commands)
  keeps the owner role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

APP_ROLE = "geocommerce_app"

_BIND_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_app_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, **kwargs: Any
) -> AsyncEngine:
    """The async engine used for requests (``url`` logs in as ``geocommerce_app``)."""
    return create_async_engine(
        normalise_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        **kwargs,
    )


def app_url(owner_url: str, password: str) -> str:
    """The owner's URL with the app role's credentials."""
    return (
        make_url(normalise_url(owner_url))
        .set(username=APP_ROLE, password=password)
        .render_as_string(hide_password=False)
    )


async def check_app_role(engine: AsyncEngine) -> str:
    """Refuse an app login that would bypass row-level security; return its name."""
    async with engine.connect() as conn:
        name, bypass = (
            await conn.execute(
                text(
                    "SELECT rolname, rolsuper OR rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
    if bypass:
        raise RuntimeError(
            f"the application's database role {name!r} bypasses row-level security; "
            f"connect as {APP_ROLE} (see GEOCOMMERCE_APP_DATABASE_URL)"
        )
    return str(name)


def make_owner_engine(url: str, **kwargs: Any) -> Engine:
    """A synchronous engine as the schema owner (migrations and administration)."""
    return create_engine(normalise_url(url), pool_pre_ping=True, **kwargs)


def make_async_owner_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine as the schema owner (API key lookup, background consumers)."""
    return create_async_engine(normalise_url(url), pool_pre_ping=True, **kwargs)


class TenantBoundSession(Session):
    """A session whose transactions bind ``info["tenant_id"]`` when they begin.

    One class-level ``after_begin`` listener (rather than one registered per
    session: registering costs more than a whole cached request) reads the tenant
    from ``session.info``; sessions without one are left alone.
    """


@event.listens_for(TenantBoundSession, "after_begin")
def _bind_from_info(session: Session, _transaction: Any, connection: Any) -> None:
    tenant_id = session.info.get(TENANT_INFO_KEY)
    if tenant_id is not None:
        connection.execute(_BIND_TENANT, {"tenant_id": tenant_id})


TENANT_INFO_KEY = "tenant_id"


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=TenantBoundSession,
    )


async def bind_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bind the session's current transaction to ``tenant_id`` (RLS reads it)."""
    await session.execute(_BIND_TENANT, {"tenant_id": str(tenant_id)})


def bind_tenant_lazily(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bind every transaction of ``session`` to ``tenant_id`` when it really begins.

    SQLAlchemy takes a connection only on the first statement; binding in
    ``after_begin`` keeps requests that never touch PostgreSQL (a ping whose
    state and consent are in Redis) free of any database round trip. The
    session must come from :func:`make_sessionmaker` (its class does the binding).
    """
    if not isinstance(session.sync_session, TenantBoundSession):
        raise TypeError("bind_tenant_lazily needs a session from make_sessionmaker")
    session.info[TENANT_INFO_KEY] = str(tenant_id)


@asynccontextmanager
async def tenant_session(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    """One transaction bound to a tenant: commits on success, rolls back on error."""
    async with sessionmaker() as session, session.begin():
        await bind_tenant(session, tenant_id)
        yield session
