"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, on a free loopback port, as a non-root
user (the server refuses root), with a password login; one fresh database per test."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "sts"
_databases = itertools.count()


@dataclass
class Server:
    host: str
    port: int
    password: str

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        return f"postgresql://{USER}:{self.password if password is None else password}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"test_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def throwaway_server() -> Iterator[Server]:
    """A PostgreSQL server in a temp dir for the duration of the block (binaries on PATH: initdb, pg_ctl)."""
    root = Path(tempfile.mkdtemp(prefix="sts_lab-pg-"))
    # The server refuses to run as root: run it as the postgres user, which owns its directory.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    password = "pw-" + secrets.token_hex(8)
    password_file = root / "password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if as_user:
        shutil.chown(password_file, "postgres")
    data, port = root / "data", free_port()
    run = dict(check=True, capture_output=True, text=True)
    try:
        subprocess.run([*as_user, "initdb", "-D", str(data), "-U", USER, "--pwfile", str(password_file),
                        "--auth=scram-sha-256", "--no-sync"], **run)
        password_file.unlink()
        subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                        "start"], **run)
        yield Server("127.0.0.1", port, password)
    finally:
        subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH: install PostgreSQL 15 to run this test")
    pytest.importorskip("psycopg", reason="the postgres extra is not installed: pip install -e '.[postgres]'")
    with throwaway_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Server) -> str:
    """A fresh database on the session's server."""
    return postgres_server.create_database()
