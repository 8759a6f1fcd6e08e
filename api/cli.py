"""The ``geocommerce`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.settings import Settings, get_settings

app = typer.Typer(
    help="geocommerce: geofences, tax, routing, orders and billing.",
    no_args_is_help=True,
    add_completion=False,
)
services_app = typer.Typer(
    help="The project's own PostgreSQL+PostGIS and Redis.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
data_app = typer.Typer(help="Real datasets.", no_args_is_help=True)
tax_app = typer.Typer(help="Tax jurisdictions.", no_args_is_help=True)
routing_app = typer.Typer(help="Route planning.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(data_app, name="data")
app.add_typer(tax_app, name="tax")
app.add_typer(routing_app, name="routing")

console = Console()
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object for scripts.")
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


# ---- serve ------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    persister: Annotated[
        bool,
        typer.Option(
            help="Run the ping/event persister as its own (niced) process beside "
            "the API; --no-persister leaves it to `geocommerce persister` elsewhere."
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (uvicorn) until Ctrl-C."""
    import uvicorn

    from api.logging import configure_logging

    settings = get_settings()
    configure_logging(log_level, settings.log_json)
    if workers > 1:
        _prepare_multiprocess_metrics(settings)
    # The API workers never persist in-process when served this way.
    os.environ["GEOCOMMERCE_RUN_PERSISTER"] = "false"
    helper = (
        subprocess.Popen(
            [sys.executable, "-c", "from api.cli import app; app()", "persister"],
            preexec_fn=_die_with_parent,
        )
        if persister
        else None
    )
    try:
        uvicorn.run(
            "api.main:app",
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            log_config=None,
            proxy_headers=False,
            loop="uvloop",
            http="httptools",
        )
    finally:
        if helper is not None:
            helper.terminate()
            helper.wait(timeout=40)


@app.command("persister")
def persister_cmd(
    niceness: Annotated[
        int, typer.Option("--nice", help="Lower the process's CPU priority by N.")
    ] = 19,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Move queued pings and events from Redis to PostGIS until Ctrl-C."""
    from api.logging import configure_logging
    from api.persister import main as run_persister_process

    settings = get_settings()
    configure_logging(log_level, settings.log_json)
    run_persister_process(settings, niceness)


def _prepare_multiprocess_metrics(settings: Settings) -> None:
    import shutil

    path = settings.local_dir / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


# ---- services ---------------------------------------------------------------
@services_app.command("up")
def services_up() -> None:
    """Start the local PostgreSQL+PostGIS and Redis (installing them if missing)."""
    from data.local_services import LocalServiceError

    settings = get_settings()
    if settings.database_url and settings.redis_url:
        console.print("DATABASE_URL and REDIS_URL are set: starting nothing.")
        return
    try:
        settings.local.up()
    except LocalServiceError as exc:
        raise _fail(str(exc)) from exc
    _print_status(settings)


@services_app.command("down")
def services_down() -> None:
    """Stop the local servers this project started (never any other)."""
    stopped = get_settings().local.down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@services_app.command("status")
def services_status() -> None:
    """Print PostgreSQL, PostGIS and Redis versions and ports."""
    _print_status(get_settings())


def _print_status(settings: Settings) -> None:
    from data.health import probe

    table = Table("service", "source", "version", "address", "state")
    for row in asyncio.run(
        probe(
            settings.resolved_database_url,
            settings.resolved_redis_url,
            local=settings.local,
            external_db=bool(settings.database_url),
            external_redis=bool(settings.redis_url),
        )
    ):
        table.add_row(*row)
    console.print(table)


# ---- db ---------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the Alembic migrations (creates PostGIS, roles, tables, policies)."""
    from data.migrate import upgrade

    settings = get_settings()
    upgrade(
        settings.resolved_database_url(),
        revision,
        app_password=settings.migration_app_password(),
    )
    console.print(f"database at revision {revision}")


@db_app.command("maintain")
def db_maintain() -> None:
    """Create upcoming time partitions and drop expired ones."""
    from data.maintenance import maintain

    settings = get_settings()
    retention = {
        "pings": settings.ping_retention_days,
        "geofence_events": settings.event_retention_days,
    }
    for line in maintain(settings.resolved_database_url(), retention):
        console.print(line)


# ---- tenants and keys -------------------------------------------------------
async def _admin(fn):
    from api.tenancy import TenancyService
    from data.db import make_async_owner_engine, make_sessionmaker

    engine = make_async_owner_engine(get_settings().resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await fn(TenancyService(session, actor="cli"))
    finally:
        await engine.dispose()


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="Tenant name.")], as_json: JsonOpt = False
) -> None:
    """Create a tenant and print its id."""
    tenant = asyncio.run(_admin(lambda svc: svc.create_tenant(name)))
    if as_json:
        print(json.dumps({"tenant_id": str(tenant.id), "name": tenant.name}))
        return
    table = Table("tenant_id", "name", "created_at")
    table.add_row(str(tenant.id), tenant.name, tenant.created_at.isoformat())
    console.print(table)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[uuid.UUID, typer.Option("--tenant", help="Tenant id.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope", help="device, checkout, dispatcher or admin; repeatable."
        ),
    ],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the secret is printed once and never stored."""
    from api.tenancy import UnknownScopeError

    try:
        new = asyncio.run(_admin(lambda svc: svc.create_key(tenant, scope, name)))
    except UnknownScopeError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        if "foreign key" in str(exc).lower():
            raise _fail(f"no tenant {tenant}") from exc
        raise
    if as_json:
        print(
            json.dumps(
                {
                    "api_key": new.api_key,
                    "key_id": new.record.key_id,
                    "tenant_id": str(tenant),
                    "scopes": list(new.record.scopes),
                }
            )
        )
        return
    table = Table("api_key", "scopes", "tenant_id")
    table.add_row(new.api_key, ",".join(new.record.scopes), str(tenant))
    console.print(table)


# ---- data -------------------------------------------------------------------
@data_app.command("fetch")
def data_fetch(
    only: Annotated[
        list[str] | None, typer.Option(help="Fetch only these datasets.")
    ] = None,
) -> None:
    """Download the real datasets into the data directory, recording sha256 sums."""
    from data.datasets import DatasetError, fetch_all

    try:
        fetch_all(get_settings().data_dir, only=only, console=console)
    except DatasetError as exc:
        raise _fail(str(exc)) from exc


@data_app.command("list")
def data_list() -> None:
    """List the datasets with source, vintage and licence."""
    from data.datasets import DATASETS, read_manifest

    manifest = read_manifest(get_settings().data_dir)
    table = Table("name", "source", "vintage", "licence", "fetched sha256")
    for ds in DATASETS:
        entry = manifest.get(ds.name, {})
        table.add_row(
            ds.name,
            ds.source,
            ds.vintage,
            ds.licence,
            (entry.get("sha256") or "-")[:16],
        )
    console.print(table)


# ---- tax --------------------------------------------------------------------
@tax_app.command("load")
def tax_load() -> None:
    """Load the Census 1:500k states and counties (and world-atlas countries if
    fetched) into PostGIS."""
    from data.datasets import dataset_path

    settings = get_settings()
    counts = asyncio.run(
        load_jurisdictions(
            settings.resolved_database_url(),
            dataset_path(settings.data_dir, "world-atlas", "countries-50m.json"),
        )
    )
    for source, n in counts.items():
        console.print(f"{source}: {n} jurisdictions")


async def load_jurisdictions(url: str, world_atlas=None) -> dict[str, int]:
    """Load boundaries as the schema owner, in one transaction."""
    from data.db import make_async_owner_engine, make_sessionmaker
    from tax_zones.repository import JurisdictionRepository
    from tax_zones.service import load_boundaries

    engine = make_async_owner_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await load_boundaries(JurisdictionRepository(session), world_atlas)
    finally:
        await engine.dispose()


# ---- routing ----------------------------------------------------------------
@routing_app.command("solve")
def routing_solve(
    file: Annotated[
        Path,
        typer.Argument(
            help="Solomon, VRPLIB/CVRPLIB or JSON file.", exists=True, dir_okay=False
        ),
    ],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel searches.")] = 2,
    out: Annotated[Path | None, typer.Option(help="Write the JSON plan here.")] = None,
) -> None:
    """Solve an instance file; the plan's routes list customer ids in visiting order."""
    from routing.read import solve_file

    plan = solve_file(file, time_limit, seed=seed, num_workers=workers)
    text = json.dumps(plan, indent=2)
    if out is not None:
        out.write_text(text)
        console.print(
            f"{plan['instance']}: {plan['vehicles']} vehicles, distance "
            f"{plan['distance']:.2f}; plan written to {out}"
        )
    else:
        print(text)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
) -> None:
    """Run a route-solver worker (rq) on the ``routing`` queue."""
    from redis import Redis as SyncRedis
    from rq import Queue, Worker

    from routing.state import QUEUE_NAME

    connection = SyncRedis.from_url(get_settings().resolved_redis_url())
    Worker([Queue(QUEUE_NAME, connection=connection)], connection=connection).work(
        burst=burst
    )


# ---- demo -------------------------------------------------------------------
@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    fetch: Annotated[bool, typer.Option(help="Fetch the real datasets.")] = True,
) -> None:
    """Set everything up, create a demo tenant with one key per scope, and serve."""
    from api.demo import prepare_demo

    settings = get_settings()
    if not (settings.database_url and settings.redis_url):
        settings.local.up()
    prepare_demo(settings, console=console, fetch=fetch, host=host, port=port)
    # One route-solver worker beside the API, stopped with it (also when the demo is
    # killed: the kernel sends it SIGTERM when its parent dies).
    solver = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import app; app()", "worker"],
        preexec_fn=_die_with_parent,
    )
    try:
        serve(host=host, port=port, workers=1, log_level="info")
    finally:
        solver.terminate()
        solver.wait(timeout=30)


def _die_with_parent() -> None:
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def main() -> None:  # pragma: no cover
    app()
