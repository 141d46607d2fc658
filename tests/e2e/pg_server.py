"""A real PostgreSQL server for the end-to-end tests of virtual keys (issue #15).

`PostgresServer` runs `initdb` into a temporary directory and starts `postgres` on a free loopback
port with `pg_ctl`, as a non-root user when the tests run as root (PostgreSQL refuses to run as
root): `postgres` if that account exists, else `nobody`. Authentication is `trust` on loopback, the
superuser is `shale`. Each test module gets its own database (`create_database`). The server can
be stopped and started again on the same port and data directory (fault tests), and is stopped at
the end of the session (and at interpreter exit, should a test run be interrupted).

Binaries are found on PATH or under `/usr/lib/postgresql/*/bin` (Debian's layout). When they are
missing, the tests fail under CI=true (CI installs `postgresql`, see tests/run-all.sh) and are
skipped elsewhere.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

SUPERUSER = "shale"


def find_bin_dir() -> str | None:
    """The directory holding `initdb`, `pg_ctl` and `postgres`, or None."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(initdb))
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return os.path.dirname(candidates[-1]) if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The account the server runs as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a `postgres` nor a `nobody` account exists")


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1:`port`."""

    def __init__(self, bin_dir: str):
        self.bin_dir = bin_dir
        self.user = _run_as()
        self.root = tempfile.mkdtemp(prefix="shale-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self.port = free_port()
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o755)
        self._cmd(
            [
                "initdb",
                "-D",
                self.data,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        self.running = False
        atexit.register(self.destroy)

    def _cmd(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        program = os.path.join(self.bin_dir, args[0])
        full = [program, *args[1:]]
        if self.user:
            full = ["runuser", "-u", self.user, "--", *full]
        done = subprocess.run(full, capture_output=True, text=True, cwd=self.root, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}\n{self.log_tail()}")
        return done

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> None:
        """Starts (or restarts) the server on the same port and data directory; waits until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._cmd(["pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.log, "-o", options])
        self._wait_ready()
        self.running = True

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections:\n{self.log_tail()}")
                time.sleep(0.1)

    def stop(self) -> None:
        """Stops the server (fast shutdown: open connections are closed)."""
        if self.running:
            self._cmd(["pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data], check=False)
            self.running = False

    def destroy(self) -> None:
        """Stops the server and removes its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "shale") -> str:
        """Creates a fresh database and returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
