"""Shared pytest fixtures for the end-to-end tests (the helpers they use live in `shale_harness`).

The Bedrock emulator (`shale-emulator`) is started once per session on a free port. The `emulator`
fixture gives each test a reset client for the emulator it talks to: the one of its module's own
`stack` fixture (a `shale_harness.Stack`, usually from `running_stack`) when the module defines one,
else the session-wide emulator.
"""

from __future__ import annotations

import pytest

from shale_harness import EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="session")
def emulator_url():
    """URL of a session-wide emulator process."""
    proc, url = start_emulator()
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def emulator(request) -> EmulatorControl:
    """A reset emulator client for one test (the module's stack's, else the session's)."""
    if hasattr(request.module, "stack"):
        client = request.getfixturevalue("stack").emulator
    else:
        client = EmulatorControl(request.getfixturevalue("emulator_url"))
    client.reset()
    yield client
    client.reset()


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
