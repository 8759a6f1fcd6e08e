"""The ``geocommerce`` command line: help everywhere, admin commands for scripts."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from api import settings as settings_module
from api.cli import app

runner = CliRunner()


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    root = get_command(app)

    def walk(cmd, prefix: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


def test_every_command_has_help() -> None:
    commands = _all_commands()
    for expected in (
        ["serve"],
        ["services", "up"],
        ["services", "status"],
        ["db", "upgrade"],
        ["tenants", "create"],
        ["keys", "create"],
        ["data", "fetch"],
        ["demo"],
        ["persister"],
    ):
        assert expected in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_serve_accepts_host_port_workers() -> None:
    out = runner.invoke(app, ["serve", "--help"]).output
    for option in ("--host", "--port", "--workers", "--no-persister"):
        assert option in out


@pytest.fixture
def cli_env(test_env, clean_state, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", test_env.database_url)
    monkeypatch.setenv("REDIS_URL", test_env.redis_url)
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


def test_tenant_and_key_creation_for_scripts_and_people(cli_env) -> None:
    result = runner.invoke(app, ["tenants", "create", "Corner Shop", "--json"])
    assert result.exit_code == 0, result.output
    tenant_id = json.loads(result.output)["tenant_id"]
    uuid.UUID(tenant_id)

    result = runner.invoke(
        app, ["keys", "create", "--tenant", tenant_id, "--scope", "checkout", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["api_key"].startswith("gck_")
    assert created["scopes"] == ["checkout"]

    result = runner.invoke(
        app, ["keys", "create", "--tenant", tenant_id, "--scope", "admin"]
    )
    assert result.exit_code == 0
    assert "gck_" in result.output and "admin" in result.output  # a table for people


def test_key_creation_refuses_unknown_scope_and_tenant(cli_env) -> None:
    tenant_id = json.loads(
        runner.invoke(app, ["tenants", "create", "X", "--json"]).output
    )["tenant_id"]
    result = runner.invoke(
        app, ["keys", "create", "--tenant", tenant_id, "--scope", "root"]
    )
    assert result.exit_code == 1
    assert "scope must be one or more of" in result.output
    result = runner.invoke(
        app, ["keys", "create", "--tenant", str(uuid.uuid4()), "--scope", "admin"]
    )
    assert result.exit_code == 1
    assert "no tenant" in result.output


def test_status_prints_versions_and_ports(cli_env) -> None:
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 0, result.output
    for word in ("PostgreSQL", "PostGIS", "Redis", "up"):
        assert word in result.output
