"""Test fixtures: the project's real PostGIS and Redis, one database per xdist worker.

The template database is migrated once per test run (``alembic upgrade head``); each
worker copies it (``CREATE DATABASE ... TEMPLATE``) and each test starts from empty
tenant tables (TRUNCATE) and an empty Redis DB index of its own (FLUSHDB). Tests
commit for real, so concurrency and fault tests see real transactions.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio
from redis import Redis as SyncRedis
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from api.settings import PROJECT_ROOT, Settings
from data.db import make_owner_engine
from data.models import Base

# Global reference data survives between tests (loaded once per worker database).
REFERENCE_TABLES: set[str] = {"jurisdictions"}

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw")
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
TEMPLATE_DB = "geocommerce_test_template"


def _base_settings() -> Settings:
    settings = Settings(_env_file=None)
    if not (settings.database_url and settings.redis_url):
        settings.local.up(echo=False)
    return settings


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _worker_index() -> int:
    digits = "".join(c for c in WORKER if c.isdigit())
    return int(digits) if digits else 0


@dataclass(frozen=True)
class TestEnv:
    settings: Settings
    database_url: str
    redis_url: str


def _load_reference_data(url: str) -> None:
    """Census 1:500k states and counties (a PyPI dependency: no download)."""
    import asyncio

    from api.cli import load_jurisdictions

    asyncio.run(load_jurisdictions(url))


def _prepare_databases(base_url: str, app_password: str | None) -> str:
    """Migrate the template once per run; copy it for this worker."""
    from data.migrate import upgrade

    lock_path = PROJECT_ROOT / ".local" / "test-db.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    admin = make_owner_engine(
        _with_database(base_url, "postgres"), isolation_level="AUTOCOMMIT"
    )
    worker_db = f"geocommerce_test_{WORKER}"
    try:
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            marker = PROJECT_ROOT / ".local" / "test-template.run"
            if not marker.exists() or marker.read_text() != RUN_ID:
                with admin.connect() as conn:
                    conn.execute(
                        text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
                    )
                    conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
                template_url = _with_database(base_url, TEMPLATE_DB)
                upgrade(template_url, app_password=app_password)
                _load_reference_data(template_url)
                marker.write_text(RUN_ID)
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {worker_db} WITH (FORCE)"))
                conn.execute(
                    text(f"CREATE DATABASE {worker_db} TEMPLATE {TEMPLATE_DB}")
                )
    finally:
        admin.dispose()
    return _with_database(base_url, worker_db)


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> TestEnv:
    from tests.fixtures.mmdb import build_fixtures

    base = _base_settings()
    mmdbs = build_fixtures(tmp_path_factory.mktemp("mmdb"))
    db_url = _prepare_databases(
        base.resolved_database_url(), base.migration_app_password()
    )
    redis_db = 1 + _worker_index()
    redis_url = urlunsplit(
        urlsplit(base.resolved_redis_url())._replace(path=f"/{redis_db}")
    )
    settings = base.model_copy(
        update={
            "database_url": db_url,
            "redis_url": redis_url,
            "app_database_url": (
                _with_database(base.app_database_url, make_url(db_url).database)
                if base.app_database_url
                else None
            ),
            "rate_limit_per_second": 10_000.0,
            "rate_limit_burst": 10_000,
            "log_json": False,
            "warm_tax_resolver": False,
            "ip_databases": list(mmdbs),
        }
    )
    return TestEnv(settings, db_url, redis_url)


@pytest.fixture(scope="session")
def owner_engine(test_env: TestEnv) -> Iterator[Engine]:
    engine = make_owner_engine(test_env.database_url)
    yield engine
    engine.dispose()


def truncate_all(engine: Engine) -> None:
    """Empty every table but the append-only audit log (its rows carry random
    tenant ids that no later test uses). DELETE, not TRUNCATE: TRUNCATE of the
    many time partitions costs most of a second per test."""
    tables = [
        t.name
        for t in reversed(Base.metadata.sorted_tables)
        if t.name not in REFERENCE_TABLES and t.name != "audit_log"
    ]
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def clean_state(test_env: TestEnv, owner_engine: Engine) -> None:
    """Empty tenant tables and this worker's Redis DB before the test."""
    truncate_all(owner_engine)
    client = SyncRedis.from_url(test_env.redis_url)
    client.flushdb()
    client.close()


@pytest_asyncio.fixture(scope="session")
async def app(test_env: TestEnv):
    from api.app import create_app

    application = create_app(test_env.settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture
async def client(app, clean_state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@dataclass(frozen=True)
class TenantKeys:
    tenant_id: uuid.UUID
    keys: dict[str, str]

    def headers(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


@pytest_asyncio.fixture
async def make_tenant(test_env: TestEnv, clean_state):
    """Factory: a tenant with one key per scope, created as the administration CLI does."""
    from api.tenancy import TenancyService
    from data.db import make_async_owner_engine, make_sessionmaker
    from data.models import SCOPES

    engine = make_async_owner_engine(test_env.database_url)

    async def factory(name: str = "tenant") -> TenantKeys:
        async with make_sessionmaker(engine)() as session, session.begin():
            svc = TenancyService(session, actor="test")
            tenant = await svc.create_tenant(name)
            keys = {s: (await svc.create_key(tenant.id, [s])).api_key for s in SCOPES}
        return TenantKeys(tenant.id, keys)

    yield factory
    await engine.dispose()


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if "integration" in path.parts or "api" in path.parts:
            item.add_marker(pytest.mark.integration)
