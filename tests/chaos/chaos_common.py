"""Helpers for the chaos suite: the real `shale` and `shale-emulator` binaries on loopback, a raw
asyncio HTTP/1.1 client (thousands of concurrent streams from one Python process, byte-exact), and
process probes (/proc RSS high-water mark, open file descriptors).

Scale: the defaults are the issue's figures; `CHAOS_SCALE=0.2` (or any factor) shrinks the
concurrent-client counts for slow machines.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import resource
import sys
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

import shale_harness  # noqa: E402  (tests/e2e/shale_harness.py)

GATEWAY_KEY = shale_harness.GATEWAY_KEY
SCALE = float(os.environ.get("CHAOS_SCALE", "1"))


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


def raise_fd_limit(want: int = 16384) -> None:
    """Thousands of sockets need more than the common 1024 descriptors (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# A dedicated emulator (flags such as `--stream-delay-ms 20`); returns (process, url).
start_emulator = shale_harness.start_emulator


def gateway_config(emulator_url: str, general: dict | None = None, **params) -> dict:
    general_settings = {"master_key": GATEWAY_KEY}
    general_settings.update(general or {})
    return {
        "general_settings": general_settings,
        "model_list": [
            shale_harness.deployment(
                "chat", "bedrock/anthropic.claude-3-haiku-20240307-v1:0", emulator_url, **params
            ),
            shale_harness.deployment(
                "mistral", "bedrock/invoke/mistral.mistral-7b-instruct-v0:2", emulator_url, **params
            ),
            shale_harness.deployment("embed", "bedrock/amazon.titan-embed-text-v2:0", emulator_url),
        ],
    }


def control(emulator_url: str) -> shale_harness.EmulatorControl:
    return shale_harness.EmulatorControl(emulator_url)


def script(emulator_url: str, items: list[dict], batch: int = 100) -> None:
    """Queues script items in batches (the emulator caps one script request's size)."""
    ctl = control(emulator_url)
    for i in range(0, len(items), batch):
        ctl.script(items[i : i + batch])


def stream_stats(emulator_url: str) -> dict:
    with urllib.request.urlopen(emulator_url + "/_emulator/streams", timeout=10) as resp:
        return json.loads(resp.read())


def host_port(url: str) -> tuple[str, int]:
    hostport = url.split("//", 1)[1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a process, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def chat_body(stream: bool = True, text: str = "Hello", model: str = "chat", **extra) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    body.update(extra)
    return body


def request_bytes(path: str, host: str, port: int, body: bytes, headers: dict | None = None,
                  method: str = "POST") -> bytes:
    """The request's bytes; `headers` add to (or, same name, replace) the defaults."""
    fields = {
        "Host": f"{host}:{port}",
        "Authorization": f"Bearer {GATEWAY_KEY}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    for k, v in (headers or {}).items():
        for existing in [e for e in fields if e.lower() == k.lower()]:
            del fields[existing]
        fields[k] = v
    head = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Response:
    """A raw HTTP/1.1 response: status, lower-cased headers, de-chunked body bytes."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, complete: bool):
        self.status = status
        self.headers = headers
        self.body = body
        self.complete = complete

    def json(self):
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader, timeout: float = 60) -> Response:
    """Reads one response; `complete` is False when the connection ended before the body did."""

    async def inner() -> Response:
        status_line = await reader.readline()
        if not status_line:
            return Response(0, {}, b"", False)
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = bytearray()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await reader.readline()
                if not size_line:
                    return Response(status, headers, bytes(body), False)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    return Response(status, headers, bytes(body), True)
                try:
                    chunk = await reader.readexactly(size + 2)
                except asyncio.IncompleteReadError as err:
                    body += err.partial
                    return Response(status, headers, bytes(body), False)
                body += chunk[:-2]
        length = headers.get("content-length")
        if length is not None:
            try:
                body += await reader.readexactly(int(length))
            except asyncio.IncompleteReadError as err:
                return Response(status, headers, bytes(err.partial), False)
            return Response(status, headers, bytes(body), True)
        body += await reader.read()
        return Response(status, headers, bytes(body), True)

    return await asyncio.wait_for(inner(), timeout)


async def post(url: str, path: str, body: bytes, headers: dict | None = None, timeout: float = 60,
               method: str = "POST") -> Response:
    host, port = host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request_bytes(path, host, port, body, headers, method))
        await writer.drain()
        return await read_response(reader, timeout)
    finally:
        writer.close()


def post_sync(url: str, path: str, body: bytes, headers: dict | None = None, timeout: float = 60) -> Response:
    return asyncio.run(post(url, path, body, headers, timeout))


def sse_events(body: bytes) -> list[bytes]:
    """The `data:` payloads of an SSE body, in order (comments skipped)."""
    out = []
    for event in body.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: "):
                out.append(line[len(b"data: "):])
    return out


def assert_openai_error(resp: Response, context: str = "") -> dict:
    """A 4xx whose body is OpenAI's error JSON."""
    assert resp.complete, f"{context}: connection dropped (status {resp.status})"
    assert 400 <= resp.status < 500, f"{context}: status {resp.status}: {resp.body[:300]!r}"
    assert resp.headers.get("content-type", "").startswith("application/json"), context
    err = resp.json()["error"]
    assert isinstance(err["message"], str) and err["message"], context
    assert isinstance(err["type"], str) and err["type"], context
    assert "param" in err and "code" in err, context
    return err
