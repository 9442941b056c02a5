"""A throw-away PostgreSQL server for the portability tests, started by the tests themselves."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def settings(self) -> Any:
        """The platform's PostgreSQL settings for this server."""
        from orchestration.settings import PostgresSettings

        return PostgresSettings(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=self.dbname)


def postgres_bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_postgres(dbname: str = "cdp") -> Iterator[PostgresServer]:
    """initdb + pg_ctl start on 127.0.0.1 and a free port; everything removed afterwards.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries (pg_ctl, initdb) not found")
    root = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(root, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    password = "cdp-test"
    (root / "pwfile").write_text(password + "\n")
    if prefix:
        shutil.chown(root / "pwfile", "postgres")
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "md5", "-U", "postgres", "--pwfile", str(root / "pwfile"), "-E", "UTF8", "--no-sync")
        run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log"),
            "-o", f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            "start",
        )
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", dbname],
            check=True, capture_output=True, env={**os.environ, "PGPASSWORD": password},
        )
        yield PostgresServer("127.0.0.1", port, "postgres", password, dbname)
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
