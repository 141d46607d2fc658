"""Streaming under stress, through the real gateway and emulator: the raw SSE bytes of
/chat/completions, error events, clients hanging up (the Bedrock stream is cancelled and every
connection released), 1000 concurrent streams within the memory budget, slow-header clients that
cannot hold connections or delay others, and upstream failures that end in a clean error event."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

import chaos_common as cc

PEAK_RSS_LIMIT_KB = 150 * 1024


def long_stream(deltas: int, **extra) -> dict:
    """A scripted ConverseStream answer with `deltas` text deltas (frames 20 ms apart)."""
    events = [{"type": "messageStart", "payload": {"role": "assistant"}}]
    events += [
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": f"w{i} "}}}
        for i in range(deltas)
    ]
    events += [
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
        {"type": "messageStop", "payload": {"stopReason": "end_turn"}},
        {"type": "metadata", "payload": {"usage": {"inputTokens": 3, "outputTokens": deltas,
                                                    "totalTokens": deltas + 3}, "metrics": {"latencyMs": 5}}},
    ]
    item = {"operation": "converse-stream", "events": events}
    item.update(extra)
    return item


def chat(stream: bool = True, **extra) -> bytes:
    return json.dumps(cc.chat_body(stream=stream, **extra)).encode()


# --- the bytes production sends -------------------------------------------------------------


def test_raw_sse_bytes_of_chat_completions(gateway, emulator):
    _, url = gateway
    emulator.script([long_stream(3)])
    resp = cc.post_sync(url, "/v1/chat/completions", chat(stream_options={"include_usage": True}))
    assert resp.status == 200 and resp.complete
    assert resp.headers["content-type"] == "text/event-stream"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in resp.headers
    assert resp.body.endswith(b"data: [DONE]\n\n")
    # Every event is exactly one `data: <payload>` line followed by a blank line.
    events = resp.body.split(b"\n\n")
    assert events[-1] == b""
    for event in events[:-1]:
        assert event.startswith(b"data: ") and b"\n" not in event, event
    datas = cc.sse_events(resp.body)
    assert datas[-1] == b"[DONE]" and datas.count(b"[DONE]") == 1
    chunks = [json.loads(d) for d in datas[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert {c["model"] for c in chunks} == {"chat"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "w0 w1 w2 "
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    # include_usage: the last chunk carries usage and no choices.
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_error_event_shape_mid_stream(gateway, emulator):
    _, url = gateway
    emulator.script([long_stream(5, exception_after=3, exception={
        "type": "throttlingException", "message": "Too many tokens, please wait."})])
    resp = cc.post_sync(url, "/v1/chat/completions", chat())
    assert resp.status == 200 and resp.complete, "the stream ends cleanly"
    datas = cc.sse_events(resp.body)
    assert b"[DONE]" not in datas
    error = json.loads(datas[-1])
    assert set(error) == {"error"}
    assert set(error["error"]) == {"message", "type", "param", "code"}
    assert "Too many tokens" in error["error"]["message"]
    assert error["error"]["type"] and isinstance(error["error"]["type"], str)
    for d in datas[:-1]:
        assert json.loads(d)["object"] == "chat.completion.chunk"


@pytest.mark.parametrize(
    "script, why",
    [
        ({"cut_after": 2}, "connection cut mid-frame"),
        ({"bad_crc_at": 1}, "corrupt frame"),
        ({"pause_after": 2, "pause_ms": 6000}, "silence beyond the 3 s stream timeout"),
        ({"exception_after": 1}, "exception frame"),
    ],
)
def test_upstream_failures_end_in_one_clean_error_event(gateway, emulator, script, why):
    _, url = gateway
    item = long_stream(6)
    item.update(script)
    emulator.script([item])
    started = time.monotonic()
    resp = cc.post_sync(url, "/v1/chat/completions", chat(), timeout=20)
    assert resp.status == 200 and resp.complete, why
    assert time.monotonic() - started < 10, f"{why}: took too long"
    datas = cc.sse_events(resp.body)
    errors = [json.loads(d) for d in datas if d.startswith(b'{"error"')]
    assert len(errors) == 1 and datas[-1].startswith(b'{"error"'), (why, datas[-3:])
    assert set(errors[0]["error"]) == {"message", "type", "param", "code"}


def test_upstream_reset_before_headers_is_an_openai_error(gateway, emulator):
    _, url = gateway
    emulator.script([{"operation": "converse-stream", "drop": True}])
    resp = cc.post_sync(url, "/v1/chat/completions", chat(), timeout=20)
    assert resp.complete and resp.status >= 500, resp.status
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}


# --- clients hanging up -------------------------------------------------------------------


async def hang_up_after_first_chunk(url: str) -> None:
    host, port = cc.host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(cc.request_bytes("/v1/chat/completions", host, port, chat()))
    await writer.drain()
    got = b""
    while b"data: " not in got:
        chunk = await asyncio.wait_for(reader.read(4096), 30)
        assert chunk, "the gateway closed before the first chunk"
        got += chunk
    writer.transport.abort()


def test_one_client_disconnect_cancels_the_bedrock_stream(gateway, emulator, emulator_url):
    _, url = gateway
    emulator.script([long_stream(200)])
    asyncio.run(hang_up_after_first_chunk(url))
    stats = cc.wait_until(lambda: (s := cc.stream_stats(emulator_url))["cancelled"] == 1 and s, 5)
    assert stats, cc.stream_stats(emulator_url)
    assert stats["open"] == 0 and stats["completed"] == 0


def test_300_clients_hanging_up_release_everything(gateway, emulator, emulator_url):
    proc, url = gateway
    n = cc.scaled(300)
    baseline_fds = cc.open_fds(proc.pid)
    cc.script(emulator_url, [long_stream(200) for _ in range(n)])

    async def all_hang_up():
        await asyncio.gather(*(hang_up_after_first_chunk(url) for _ in range(n)))

    asyncio.run(all_hang_up())
    stats = cc.wait_until(lambda: (s := cc.stream_stats(emulator_url))["cancelled"] == n and s, 15)
    assert stats, f"upstream streams not all cancelled: {cc.stream_stats(emulator_url)}"
    assert stats["open"] == 0 and stats["started"] == n
    # Client sockets and upstream connections are closed again (a few pooled ones may stay).
    assert cc.wait_until(lambda: cc.open_fds(proc.pid) <= baseline_fds + 10, 10), (
        baseline_fds, cc.open_fds(proc.pid))
    resp = cc.post_sync(url, "/v1/chat/completions", chat(stream=False))
    assert resp.status == 200


# --- load -------------------------------------------------------------------------------------


async def full_stream(url: str) -> cc.Response:
    host, port = cc.host_port(url)
    for attempt in range(3):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            break
        except OSError:
            await asyncio.sleep(0.1 * (attempt + 1))
    writer.write(cc.request_bytes("/v1/chat/completions", host, port, chat()))
    await writer.drain()
    try:
        return await cc.read_response(reader, timeout=120)
    finally:
        writer.close()


def test_1000_concurrent_streams_finish_within_the_memory_budget(emulator_url):
    """A fresh gateway, so its peak RSS (VmHWM) is this test's. Every stream pauses 8 s upstream
    after its first events, so all of them are in flight at the same time."""
    n = cc.scaled(1000)
    ctl = cc.control(emulator_url)
    ctl.reset()
    cc.script(emulator_url, [long_stream(20, pause_after=3, pause_ms=8000) for _ in range(n)])
    proc, url, _ = cc.shale_harness.start_gateway(cc.gateway_config(emulator_url))
    try:
        idle = cc.proc_status(proc.pid)
        most_open = 0

        async def watch(done: asyncio.Event):
            nonlocal most_open
            while not done.is_set():
                stats = await asyncio.to_thread(cc.stream_stats, emulator_url)
                most_open = max(most_open, stats["open"])
                await asyncio.sleep(0.2)

        async def run():
            done = asyncio.Event()
            watcher = asyncio.create_task(watch(done))
            results = await asyncio.gather(*(full_stream(url) for _ in range(n)))
            done.set()
            await watcher
            return results

        started = time.monotonic()
        results = asyncio.run(run())
        elapsed = time.monotonic() - started
        ok = [r for r in results if r.status == 200 and r.complete and r.body.endswith(b"data: [DONE]\n\n")]
        stats = cc.stream_stats(emulator_url)
        peak = cc.proc_status(proc.pid)["VmHWM"]
        print(f"\n{n} streams in {elapsed:.1f}s, at most {most_open} at once; gateway RSS idle "
              f"{idle['VmRSS'] // 1024} MB, peak {peak // 1024} MB; emulator {stats}")
        assert len(ok) == n, f"{n - len(ok)} streams did not finish"
        assert most_open >= 0.95 * n, f"only {most_open} streams were in flight at once"
        assert stats["completed"] == n and stats["open"] == 0
        assert stats["started"] == n
        assert peak < PEAK_RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB >= 150 MB"
    finally:
        cc.shale_harness.stop_process(proc)
        ctl.reset()


# --- slow clients -----------------------------------------------------------------------------


def test_slow_header_clients_neither_delay_others_nor_hold_connections(gateway, emulator):
    proc, url = gateway
    n = cc.scaled(300)
    host, port = cc.host_port(url)
    slow = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
        slow.append(s)
    try:
        # Others are served at once while the slow ones hang.
        for _ in range(5):
            started = time.monotonic()
            resp = cc.post_sync(url, "/v1/chat/completions", chat(stream=False))
            assert resp.status == 200
            assert time.monotonic() - started < 1.0
        # After the 2 s header read timeout every slow connection is closed by the gateway.
        deadline = time.monotonic() + 8
        closed = 0
        for s in slow:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = s.recv(4096)
                closed += 1 if data == b"" or data.startswith(b"HTTP/1.1 408") else 0
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except socket.timeout:
                pass
        assert closed == n, f"only {closed}/{n} slow connections were closed"
    finally:
        for s in slow:
            s.close()
