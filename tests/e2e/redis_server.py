"""A real `redis-server` for the end-to-end tests, started on a free port (no persistence) and
stopped by the test; restartable on the same port (how tests bring Redis back after killing it).
When redis-server is missing the test fails under CI (`CI=true`) and is skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_redis() -> None:
    """Fails (CI) or skips (elsewhere) when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def start_redis(port: int) -> subprocess.Popen:
    """Starts redis-server on 127.0.0.1:`port` and waits until it accepts connections."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def stop_redis(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def running_redis():
    """A test module's redis-server: yields (port, process), stopped afterwards (woken first, in
    case a test left it frozen with SIGSTOP). Wrap it: `redis = pytest.fixture(scope="module")(
    running_redis)`."""
    require_redis()
    port = free_port()
    proc = start_redis(port)
    try:
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
        stop_redis(proc)
