"""The project's own servers: idempotent start, and hands off servers it did not start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data.local_services import LocalServiceError, LocalServices, _free_port


@pytest.fixture
def running(test_env) -> LocalServices:
    if test_env.settings.database_url and os.environ.get("DATABASE_URL"):
        pytest.skip("DATABASE_URL is set: the project starts no local servers")
    return test_env.settings.local


def test_up_twice_is_harmless(running: LocalServices) -> None:
    pg_pid = (running.pg_data / "postmaster.pid").read_text().split()[0]
    redis_pid = (running.redis_dir / "redis.pid").read_text().split()[0]
    running.up(echo=False)
    assert (running.pg_data / "postmaster.pid").read_text().split()[0] == pg_pid
    assert (running.redis_dir / "redis.pid").read_text().split()[0] == redis_pid


def test_never_touches_servers_it_did_not_start(
    running: LocalServices, tmp_path: Path
) -> None:
    # Another checkout whose ports collide with ours: it must refuse, not adopt.
    stranger = LocalServices(
        root=tmp_path,
        explicit_pg_port=running.pg_port,
        explicit_redis_port=running.redis_port,
    )
    assert stranger.down() == []
    with pytest.raises(LocalServiceError, match="did not start"):
        stranger.up(echo=False)
    assert running.pg_running()
    assert running.redis_running()


def test_servers_listen_on_loopback_only(running: LocalServices) -> None:
    conf = (running.pg_data / "postmaster.opts").read_text()
    assert "listen_addresses=127.0.0.1" in conf
    assert f"port={running.pg_port}" in conf
    assert running.pg_port != 5432
    assert running.redis_port != 6379


def test_second_checkout_gets_its_own_ports(
    running: LocalServices, tmp_path: Path
) -> None:
    other = LocalServices(root=tmp_path)
    ports = other._ports(choose=True)
    assert ports["pg"] != running.pg_port
    assert ports["redis"] != running.redis_port
    assert LocalServices(root=tmp_path).pg_port == ports["pg"]  # recorded


def test_checkout_under_a_private_directory_still_works(
    running: LocalServices, tmp_path: Path
) -> None:
    """As root, a clone under a mode-700 directory (like /root) is not reachable by
    the ``postgres`` user: the cluster goes to /var/lib/geocommerce, linked from
    .local/pg, and the servers start and stop as usual."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    # Free ports of its own: another checkout's test run may hold the defaults.
    svc = LocalServices(
        root=private / ".local",
        explicit_pg_port=_free_port(),
        explicit_redis_port=_free_port(),
    )
    try:
        svc.up(echo=False)
        assert (private / ".local" / "pg").is_symlink()
        assert str(svc.pg_data).startswith("/var/lib/geocommerce/")
        assert svc.pg_running()
        out = subprocess.run(
            ["psql", svc.database_url().replace("+psycopg", ""), "-tAc", "SELECT 1"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.stdout.strip() == "1", out.stderr
    finally:
        assert set(svc.down()) == {"postgresql", "redis"}
        import shutil

        shutil.rmtree(svc.pg_dir, ignore_errors=True)
