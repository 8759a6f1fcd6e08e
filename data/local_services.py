"""The project's own PostgreSQL+PostGIS and Redis, started from the OS packages.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. Everything lives under
``.local/`` (git-ignored): ``pg/data`` (the cluster), ``pg/run`` (socket, pid),
``pg/password``, ``redis/`` (dump, log, pid). The servers listen on loopback only,
on non-standard ports, and this module only ever stops servers whose pid files it
wrote: it never touches another PostgreSQL or Redis on the machine.

PostgreSQL refuses to run as root; when invoked as root the cluster is owned and
run by the unprivileged OS user ``postgres`` (created by Debian's packages).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PG_OS_USER = "postgres"
PG_SUPERUSER = "geocommerce"
PG_DATABASE = "geocommerce"


class LocalServiceError(RuntimeError):
    """A local service could not be installed, started or reached."""


def _run(
    cmd: list[str],
    *,
    user: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    if user is not None and os.geteuid() == 0 and user != "root":
        cmd = ["runuser", "-u", user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise LocalServiceError(
            f"{' '.join(cmd)} failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return proc


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def pg_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server whose PostGIS extension is present."""
    for bindir in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True
    ):
        version = Path(bindir).parent.name
        if (Path(bindir) / "initdb").exists() and Path(
            f"/usr/share/postgresql/{version}/extension/postgis.control"
        ).exists():
            return Path(bindir)
    return None


def _version_key(path: str) -> int:
    match = re.search(r"/(\d+)/bin$", path)
    return int(match.group(1)) if match else 0


def ensure_os_packages(echo: bool = True) -> None:
    """Install PostgreSQL with PostGIS 3 and redis-server with apt-get when missing."""
    need_pg = pg_bin_dir() is None
    need_redis = shutil.which("redis-server") is None
    if not (need_pg or need_redis):
        return
    if shutil.which("apt-get") is None:
        raise LocalServiceError(
            "PostgreSQL+PostGIS or redis-server is missing and apt-get is not "
            "available: install them, or set DATABASE_URL and REDIS_URL."
        )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if echo:
        pass
    _run([*sudo, "apt-get", "update", "-qq"], env=env)
    packages = ["redis-server"] if need_redis else []
    if need_pg:
        installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)
        version = (
            Path(installed[-1]).parent.name if installed else _candidate_pg_version()
        )
        packages += [f"postgresql-{version}", f"postgresql-{version}-postgis-3"]
    _run(
        [
            *sudo,
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *packages,
        ],
        env=env,
    )
    if pg_bin_dir() is None or shutil.which("redis-server") is None:
        raise LocalServiceError(f"apt-get installed {packages} but they are not usable")


def _candidate_pg_version() -> str:
    out = _run(["apt-cache", "policy", "postgresql"]).stdout
    match = re.search(r"Candidate:\s*(?:\d+:)?(\d+)", out)
    if not match:
        raise LocalServiceError("apt-get knows no 'postgresql' package")
    return match.group(1)


DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LocalServices:
    """The project-owned PostgreSQL and Redis under ``root`` (``.local/``).

    Ports: explicit ones if given; else those recorded in ``.local/ports.json`` by
    the first ``up``; else 55432/56379, or free ports when another checkout's
    servers already hold those (so two clones on one machine never collide).
    """

    root: Path
    explicit_pg_port: int | None = None
    explicit_redis_port: int | None = None

    def _ports(self, choose: bool = False) -> dict[str, int]:
        path = self.root / "ports.json"
        recorded = json.loads(path.read_text()) if path.exists() else {}
        ports = {
            "pg": self.explicit_pg_port or recorded.get("pg") or DEFAULT_PG_PORT,
            "redis": self.explicit_redis_port
            or recorded.get("redis")
            or DEFAULT_REDIS_PORT,
        }
        if choose and not recorded:
            if not self.explicit_pg_port and _port_open(ports["pg"]):
                ports["pg"] = _free_port()
            if not self.explicit_redis_port and _port_open(ports["redis"]):
                ports["redis"] = _free_port()
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(ports))
        return ports

    @property
    def pg_port(self) -> int:
        return self._ports()["pg"]

    @property
    def redis_port(self) -> int:
        return self._ports()["redis"]

    # ---- paths -------------------------------------------------------------
    @property
    def pg_dir(self) -> Path:
        """``.local/pg``, resolved: it may be a link to a place ``postgres`` can reach."""
        return (self.root / "pg").resolve()

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_run(self) -> Path:
        return self.pg_dir / "run"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    # ---- URLs --------------------------------------------------------------
    def pg_password(self) -> str:
        path = self.pg_dir / "password"
        if not path.exists():
            raise LocalServiceError(
                "the local PostgreSQL is not set up: run `geocommerce services up` "
                "or set DATABASE_URL"
            )
        return path.read_text().strip()

    def database_url(self, database: str = PG_DATABASE) -> str:
        pw = quote(self.pg_password(), safe="")
        return (
            f"postgresql+psycopg://{PG_SUPERUSER}:{pw}@127.0.0.1:{self.pg_port}"
            f"/{database}"
        )

    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    # ---- lifecycle ---------------------------------------------------------
    def up(self, echo: bool = True) -> None:
        """Install if needed, initialise and start both servers. Idempotent."""
        ensure_os_packages(echo=echo)
        self.root.mkdir(parents=True, exist_ok=True)
        self._ports(choose=not (self.pg_running() or self.redis_running()))
        self._pg_up()
        self._redis_up()

    def down(self) -> list[str]:
        """Stop the servers this project started; returns what was stopped."""
        stopped = []
        bindir = pg_bin_dir()
        if bindir and _pid_alive(self.pg_data / "postmaster.pid"):
            _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.pg_data),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                user=self._pg_user(),
            )
            stopped.append("postgresql")
        pid = _pid_alive(self.redis_dir / "redis.pid")
        if pid:
            os.kill(pid, 15)
            for _ in range(100):
                if not _pid_alive(self.redis_dir / "redis.pid"):
                    break
                time.sleep(0.05)
            stopped.append("redis")
        return stopped

    def pg_running(self) -> bool:
        return _pid_alive(self.pg_data / "postmaster.pid") is not None

    def redis_running(self) -> bool:
        return _pid_alive(self.redis_dir / "redis.pid") is not None

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``pg_ctl`` on the project's cluster (used by fault-injection tests)."""
        bindir = pg_bin_dir()
        if bindir is None:
            raise LocalServiceError("PostgreSQL is not installed")
        return _run(
            [str(bindir / "pg_ctl"), "-D", str(self.pg_data), *args],
            user=self._pg_user(),
        )

    # ---- PostgreSQL --------------------------------------------------------
    def _pg_user(self) -> str | None:
        return PG_OS_USER if os.geteuid() == 0 else None

    def _pg_up(self) -> None:
        bindir = pg_bin_dir()
        assert bindir is not None
        if self.pg_running():
            return
        if _port_open(self.pg_port):
            raise LocalServiceError(
                f"port {self.pg_port} is taken by a server this project did not "
                "start; set GEOCOMMERCE_PG_PORT or DATABASE_URL"
            )
        if not (self.pg_data / "PG_VERSION").exists():
            self._pg_init(bindir)
        opts = (
            f"-c port={self.pg_port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.pg_run}"
        )
        log = self.pg_dir / "postgresql.log"
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.pg_data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                opts,
                "start",
            ],
            user=self._pg_user(),
        )
        self._pg_bootstrap_database(bindir)

    def _pg_init(self, bindir: Path) -> None:
        user = self._pg_user()
        if user:
            self._reachable_pg_dir(user)
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        self.pg_run.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pw_path = self.pg_dir / "password"
        pw_path.write_text(password + "\n")
        pw_path.chmod(0o600)
        pwfile = self.pg_run / "initdb.pw"
        pwfile.write_text(password + "\n")
        if user:
            info = pwd.getpwnam(user)
            for path in (self.pg_dir, self.pg_run, pwfile):
                os.chown(path, info.pw_uid, info.pw_gid)
            pwfile.chmod(0o600)
        try:
            _run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pg_data),
                    "-U",
                    PG_SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                user=user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = {
            "shared_buffers": "256MB",
            "max_connections": "300",
            "work_mem": "16MB",
            "maintenance_work_mem": "256MB",
            "max_wal_size": "2GB",
            "log_min_duration_statement": "-1",
        }
        with (self.pg_data / "postgresql.auto.conf").open("a") as fh:
            for key, value in settings.items():
                fh.write(f"{key} = '{value}'\n")

    def _reachable_pg_dir(self, user: str) -> None:
        """PostgreSQL runs as ``user``, who must traverse every parent of its data.

        A checkout under a private home (``/root/...``, mode 700) is not reachable:
        the cluster then lives in ``/var/lib/geocommerce/pg-<hash of the path>`` and
        ``.local/pg`` links to it, so it still belongs to this checkout alone.
        """
        link = self.root / "pg"
        if link.exists() or link.is_symlink():
            return
        probe = _run(["test", "-x", str(self.root)], user=user, check=False)
        if probe.returncode == 0:
            return
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        target = Path("/var/lib/geocommerce") / f"pg-{digest}"
        target.mkdir(parents=True, exist_ok=True)
        Path("/var/lib/geocommerce").chmod(0o755)
        link.symlink_to(target, target_is_directory=True)

    def _pg_bootstrap_database(self, bindir: Path) -> None:
        env = {**os.environ, "PGPASSWORD": self.pg_password()}
        base = [
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.pg_port),
            "-U",
            PG_SUPERUSER,
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = _run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname='{PG_DATABASE}'"], env=env
        ).stdout.strip()
        if not exists:
            _run([*base, f"CREATE DATABASE {PG_DATABASE}"], env=env)

    # ---- Redis ---------------------------------------------------------------
    def _redis_up(self) -> None:
        if self.redis_running():
            return
        if _port_open(self.redis_port):
            raise LocalServiceError(
                f"port {self.redis_port} is taken by a server this project did not "
                "start; set GEOCOMMERCE_REDIS_PORT or REDIS_URL"
            )
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        _run(
            [
                redis_server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--dir",
                str(self.redis_dir),
                "--pidfile",
                str(self.redis_dir / "redis.pid"),
                "--logfile",
                str(self.redis_dir / "redis.log"),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--databases",
                "64",
                "--protected-mode",
                "yes",
            ]
        )
        for _ in range(200):
            if _port_open(self.redis_port) and self.redis_running():
                return
            time.sleep(0.05)
        raise LocalServiceError(
            "redis-server did not start: see .local/redis/redis.log"
        )
