"""Shared pytest fixtures and helpers for the end-to-end tests.

The Bedrock emulator (`shale-emulator`) is started once per session on a free port; the
`emulator` fixture gives each test a small client for its script/inspection API and resets it
before and after the test.
"""

from __future__ import annotations

import json
import os
import pathlib
import select
import subprocess
import time
import urllib.request
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

EXAMPLE_ACCESS_KEY_ID = "AKIDEXAMPLE"
EXAMPLE_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EXAMPLE_API_KEY = "bedrock-api-key-EXAMPLE"
REGION = "us-east-1"


# --- helpers -------------------------------------------------------------------------------


def emulator_binary() -> str:
    """Path of the emulator binary (env SHALE_EMULATOR_BIN, else target/debug)."""
    return os.environ.get("SHALE_EMULATOR_BIN") or str(REPO / "target" / "debug" / "shale-emulator")


def read_ready_line(proc: subprocess.Popen, prefix: str, timeout: float = 30.0) -> str:
    """Waits for the process's `<prefix> http://HOST:PORT` stdout line and returns the URL."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{prefix!r} process exited early with code {proc.returncode}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline().decode().strip()
            if line.startswith(prefix):
                return line[len(prefix):].strip()
    raise RuntimeError(f"no ready line starting with {prefix!r} within {timeout}s")


def start_emulator(*extra_args: str) -> tuple[subprocess.Popen, str]:
    """Starts `shale-emulator --listen 127.0.0.1:0 [extra_args]`; returns (process, url)."""
    proc = subprocess.Popen(
        [emulator_binary(), "--listen", "127.0.0.1:0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=None,
    )
    try:
        url = read_ready_line(proc, "shale-emulator listening on")
    except Exception:
        stop_process(proc)
        raise
    return proc, url


def stop_process(proc: subprocess.Popen) -> None:
    """Terminates a child process (SIGTERM, then SIGKILL after 5 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_json(method: str, url: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
    """A small JSON-over-HTTP call with urllib (no SDK); returns (status, parsed body or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class EmulatorClient:
    """The emulator's script and inspection API (`/_emulator/*`, no auth)."""

    def __init__(self, url: str):
        self.url = url

    def script(self, responses: list[dict]) -> dict:
        """Queues scripted answers (see docs/emulator.md)."""
        status, body = http_json("POST", f"{self.url}/_emulator/script", {"responses": responses})
        assert status == 200, body
        return body

    def requests(self) -> list[dict]:
        """The recorded requests, oldest first."""
        status, body = http_json("GET", f"{self.url}/_emulator/requests")
        assert status == 200, body
        return body

    def last_request(self) -> dict:
        """The most recent recorded request."""
        recorded = self.requests()
        assert recorded, "no request was recorded"
        return recorded[-1]

    def clear(self) -> None:
        """Clears recorded requests and the script queue."""
        status, body = http_json("POST", f"{self.url}/_emulator/reset")
        assert status == 200, body


def aws_client(service: str, url: str, **kwargs: Any):
    """A boto3 client for `service` pointed at the emulator (example credentials, no retries)."""
    import boto3
    from botocore.config import Config

    config = kwargs.pop("config", None) or Config(retries={"total_max_attempts": 1}, read_timeout=30)
    params = {
        "region_name": REGION,
        "endpoint_url": url,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY,
        "config": config,
    }
    params.update(kwargs)
    return boto3.client(service, **params)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator_url():
    """URL of a session-wide emulator process."""
    proc, url = start_emulator()
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def emulator(emulator_url) -> EmulatorClient:
    """A reset emulator client for one test."""
    client = EmulatorClient(emulator_url)
    client.clear()
    yield client
    client.clear()


# --- PostgreSQL (virtual keys, issue #15) --------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():
    """A session-wide real PostgreSQL (see pg_server.py). Missing binaries: fail under CI=true,
    skip elsewhere."""
    import os

    from pg_server import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL (initdb/pg_ctl) is not installed: tests/run-all.sh installs `postgresql`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def pg_url(postgres_server, request) -> str:
    """URL of a fresh database for one test module."""
    return postgres_server.create_database(request.module.__name__.rsplit(".", 1)[-1][:40])
