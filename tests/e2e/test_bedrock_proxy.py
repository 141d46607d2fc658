"""Outbound proxy settings, through the real binary: the gateway reads `HTTP_PROXY` / `HTTPS_PROXY`
/ `ALL_PROXY` / `NO_PROXY` once at start. A Bedrock endpoint the settings send through a proxy is
reached through it (a plain-HTTP endpoint in absolute form, as HTTP proxies expect); one that
`NO_PROXY` names, or any endpoint when no proxy is set, is reached directly. Chat, streaming and
the pass-through all go the same way, and a proxy that is down is a 502 connection error."""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import urllib.parse

import pytest

from shale_harness import GATEWAY_KEY, deployment, start_gateway, stop_process

HEADERS = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
CHAT = {"model": "nova", "messages": [{"role": "user", "content": "hi"}]}


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """A minimal HTTP forward proxy: takes absolute-form requests, forwards them, records each
    request line and whether a `Proxy-Authorization` header came with it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.seen: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def forward(self) -> None:
        target = urllib.parse.urlsplit(self.path)
        self.server.seen.append(
            {
                "method": self.command,
                "target": self.path,
                "proxy_auth": self.headers.get("Proxy-Authorization"),
                "signed": "AWS4-HMAC-SHA256" in (self.headers.get("Authorization") or ""),
            }
        )
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("proxy-authorization", "proxy-connection", "connection", "keep-alive")
        }
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = forward
    do_POST = forward


@pytest.fixture
def proxy():
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def config(emulator_url: str) -> dict:
    return {
        "general_settings": {"master_key": GATEWAY_KEY},
        "model_list": [deployment("nova", "bedrock/amazon.nova-lite-v1:0", emulator_url)],
    }


def no_proxy_env() -> dict:
    """Clears any proxy setting the test runner has, so each test sets exactly its own."""
    names = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"]
    return {n: "" for n in names + [n.lower() for n in names]}


def post(url: str, path: str, body: dict) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body), headers=HEADERS)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_an_endpoint_the_proxy_settings_cover_is_reached_through_the_proxy(emulator_url, proxy):
    env = no_proxy_env() | {"HTTP_PROXY": proxy.url}
    proc, url, _ = start_gateway(config(emulator_url), env=env)
    try:
        status, body = post(url, "/v1/chat/completions", CHAT)
        assert status == 200, body
        assert json.loads(body)["object"] == "chat.completion"
        status, body = post(url, "/v1/chat/completions", CHAT | {"stream": True})
        assert status == 200, body
        assert b"data: [DONE]" in body
        status, body = post(
            url,
            "/bedrock/model/nova/converse",
            {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        )
        assert status == 200, body
    finally:
        stop_process(proc)
    emulator = urllib.parse.urlsplit(emulator_url)
    targets = [s["target"] for s in proxy.seen]
    assert len(targets) == 3, targets
    # Absolute form, to the emulator, signed by the gateway (the proxy only relays).
    for seen in proxy.seen:
        assert seen["method"] == "POST"
        assert seen["target"].startswith(f"http://{emulator.hostname}:{emulator.port}/model/"), seen
        assert seen["signed"], seen
    assert targets[0].endswith("/converse")
    assert targets[1].endswith("/converse-stream")


def one_chat(emulator_url: str, env: dict) -> tuple[int, bytes]:
    """Starts a gateway with `env`, sends one chat request, stops it; returns the answer."""
    proc, url, _ = start_gateway(config(emulator_url), env=env)
    try:
        return post(url, "/v1/chat/completions", CHAT)
    finally:
        stop_process(proc)


def test_proxy_credentials_from_the_url_are_sent_to_the_proxy(emulator_url, proxy):
    proxy_url = proxy.url.replace("http://", "http://user:pa%20ss@")
    status, body = one_chat(emulator_url, no_proxy_env() | {"ALL_PROXY": proxy_url})
    assert status == 200, body
    assert [s["proxy_auth"] for s in proxy.seen] == ["Basic dXNlcjpwYSBzcw=="]  # user:pa ss


def test_no_proxy_and_no_setting_mean_a_direct_connection(emulator_url, proxy):
    host = urllib.parse.urlsplit(emulator_url).hostname
    for env in (
        no_proxy_env() | {"HTTP_PROXY": proxy.url, "NO_PROXY": host},
        no_proxy_env(),
    ):
        status, body = one_chat(emulator_url, env)
        assert status == 200, body
    assert proxy.seen == []


def test_a_proxy_that_is_down_is_a_connection_error(emulator_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    status, body = one_chat(emulator_url, no_proxy_env() | {"HTTP_PROXY": dead})
    assert status == 502, body
    assert json.loads(body)["error"]["type"] == "api_connection_error"
