"""Fixtures of the chaos suite: a dedicated emulator (frames 20 ms apart, so streams are in flight
long enough to be interrupted) and a gateway in front of it, both real binaries on loopback."""

from __future__ import annotations

import pytest

import chaos_common as cc


@pytest.fixture(scope="session", autouse=True)
def _fd_limit():
    cc.raise_fd_limit()


@pytest.fixture(scope="module")
def emulator_url():
    proc, url = cc.start_emulator("--stream-delay-ms", "20")
    try:
        yield url
    finally:
        cc.shale_harness.stop_process(proc)


@pytest.fixture(scope="module")
def gateway(emulator_url):
    """(process, url) of a gateway with a 2 s header read timeout and a 3 s stream timeout."""
    config = cc.gateway_config(
        emulator_url, {"header_read_timeout_seconds": 2}, stream_timeout=3, num_retries=0
    )
    proc, url, _ = cc.shale_harness.start_gateway(config)
    try:
        yield proc, url
    finally:
        cc.shale_harness.stop_process(proc)


@pytest.fixture
def emulator(emulator_url):
    ctl = cc.control(emulator_url)
    ctl.reset()
    yield ctl
    ctl.reset()
