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
