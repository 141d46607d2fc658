"""SIGTERM with 100 streams in flight: every stream finishes, new connections are refused at once,
and the process exits 0. And a silent upstream makes the gateway send SSE keep-alive comments."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time

import chaos_common as cc
from test_streams import full_stream, long_stream


def test_sigterm_with_100_streams_in_flight(emulator_url):
    n = cc.scaled(100)
    ctl = cc.control(emulator_url)
    ctl.reset()
    cc.script(emulator_url, [long_stream(60) for _ in range(n)])  # ~1.2 s each
    proc, url, _ = cc.shale_harness.start_gateway(
        cc.gateway_config(emulator_url, {"shutdown_grace_seconds": 20})
    )
    host, port = cc.host_port(url)
    try:

        async def run():
            tasks = [asyncio.create_task(full_stream(url)) for _ in range(n)]
            # Wait until every stream has started upstream, then ask the gateway to stop.
            while cc.stream_stats(emulator_url)["started"] < n:
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            refused = False
            try:
                socket.create_connection((host, port), timeout=1).close()
            except ConnectionRefusedError:
                refused = True
            return refused, await asyncio.gather(*tasks)

        refused, results = asyncio.run(run())
        code = proc.wait(timeout=30)
        done = [r for r in results if r.status == 200 and r.body.endswith(b"data: [DONE]\n\n")]
        assert len(done) == n, f"{n - len(done)} streams were cut by the shutdown"
        assert refused, "a new connection was accepted after SIGTERM"
        assert code == 0
        assert cc.stream_stats(emulator_url)["completed"] == n
    finally:
        if proc.poll() is None:
            proc.kill()
        ctl.reset()


def test_keep_alive_comment_during_a_silent_upstream(emulator_url):
    """The gateway sends `: keep-alive` after 15 s without an upstream event (slow test: ~17 s)."""
    ctl = cc.control(emulator_url)
    ctl.reset()
    item = long_stream(2, pause_after=1, pause_ms=16_000)
    ctl.script([item])
    proc, url, _ = cc.shale_harness.start_gateway(cc.gateway_config(emulator_url, stream_timeout=60))
    try:
        started = time.monotonic()
        resp = cc.post_sync(url, "/v1/chat/completions", json.dumps(cc.chat_body()).encode(), timeout=40)
        assert resp.status == 200 and resp.complete
        assert time.monotonic() - started >= 15
        assert b"\n\n: keep-alive\n\n" in resp.body or resp.body.startswith(b": keep-alive\n\n")
        assert resp.body.endswith(b"data: [DONE]\n\n")
    finally:
        cc.shale_harness.stop_process(proc)
        ctl.reset()
