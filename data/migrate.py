"""Run Alembic programmatically (``geocommerce db upgrade``) and check for drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from data.db import make_owner_engine
from data.models import Base
from data.schema_ops import set_app_password

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head", app_password: str | None = None) -> None:
    """Migrate the database at ``url`` to ``revision``.

    With ``app_password``, also (re)set the login password of the app role.
    """
    command.upgrade(alembic_config(url), revision)
    if app_password is not None:
        engine = make_owner_engine(url)
        try:
            with engine.begin() as conn:
                set_app_password(conn, app_password)
        finally:
            engine.dispose()


def pending_changes(url: str) -> list[Any]:
    """The autogenerate diff between the migrated database and the models."""
    from data.migrations.env_filters import include_object  # local: alembic only

    engine = make_owner_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()
