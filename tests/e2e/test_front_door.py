"""The front door and the model routes' one middleware through the real binary (issue #16): every
answer — success, stream, 404/405 fallback, refused key, admin refusal — echoes the caller's
`x-request-id` or a minted UUID v4, which is also the id in the access log; refused keys keep their
shape (OpenAI's, Anthropic's on the Messages API, `Connection: close`) and are still observed
(metrics and access log)."""

from __future__ import annotations

import json
import tempfile
import time
import uuid

import pytest
import requests

from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY, deployment, start_emulator, start_gateway, stop_process

CHAT = {"model": "nova", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
MESSAGES = {"model": "nova", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


class Gateway:
    def __init__(self, url: str, log_path: str):
        self.url = url
        self.log_path = log_path

    def access_lines(self) -> list[dict]:
        """The access log so far (lines go through a non-blocking writer: read after a wait)."""
        time.sleep(0.3)
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if '"message":"access"' in line]

    def counter(self, name: str, baseline: bool = False, **labels) -> float:
        """A counter's value (strict: a missing series fails); a `baseline` may not exist yet."""
        scrape = Scrape(requests.get(self.url + "/metrics", timeout=10).text)
        return scrape.value_or_zero(name, **labels) if baseline else scrape.value(name, **labels)


@pytest.fixture(scope="module")
def gw():
    emu, emu_url = start_emulator()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    try:
        proc, url, _ = start_gateway(
            {
                "model_list": [deployment("nova", "bedrock/amazon.nova-lite-v1:0", emu_url)],
                "general_settings": {"master_key": GATEWAY_KEY},
                "litellm_settings": {"callbacks": ["prometheus"]},
            },
            env={"RUST_LOG": "info"},
            stderr=log,
        )
        try:
            yield Gateway(url, log.name)
        finally:
            stop_process(proc)
    finally:
        stop_process(emu)


def auth(key: str = GATEWAY_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


def is_uuid4(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text
    except ValueError:
        return False


def test_the_callers_id_is_kept_on_answers_and_streams(gw):
    r = requests.post(gw.url + "/v1/chat/completions", json=CHAT,
                      headers={**auth(), "x-request-id": "caller-id-1"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "caller-id-1"

    with requests.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                       headers={**auth(), "x-request-id": "caller-id-2"}, stream=True, timeout=30) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["x-request-id"] == "caller-id-2"
        body = b"".join(s.iter_content(None))
    assert b"data: [DONE]" in body

    logged = {line["request_id"]: line for line in gw.access_lines()}
    assert logged["caller-id-1"]["status"] == 200 and logged["caller-id-1"]["model"] == "nova"
    assert logged["caller-id-2"]["stream"] is True


def test_an_id_is_minted_per_request_and_logged(gw):
    ids = []
    for _ in range(3):
        r = requests.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth(), timeout=30)
        assert r.status_code == 200, r.text
        ids.append(r.headers["x-request-id"])
    assert all(is_uuid4(i) for i in ids), ids
    assert len(set(ids)) == 3
    logged = {line["request_id"] for line in gw.access_lines()}
    assert set(ids) <= logged, "the access log names the id the client got"


@pytest.mark.parametrize("given", [None, "fallback-id"])
def test_fallbacks_carry_the_id(gw, given):
    headers = {"x-request-id": given} if given else {}
    not_found = requests.get(gw.url + "/nowhere", headers=headers, timeout=10)
    wrong_method = requests.get(gw.url + "/v1/chat/completions", headers=headers, timeout=10)
    assert not_found.status_code == 404 and not_found.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    for r in (not_found, wrong_method):
        assert r.headers["x-request-id"] == given if given else is_uuid4(r.headers["x-request-id"])


def test_refused_keys_keep_their_shape_and_the_id(gw):
    r = requests.post(gw.url + "/v1/chat/completions", json=CHAT,
                      headers={**auth("sk-wrong"), "x-request-id": "refused-1"}, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers["connection"] == "close" and r.headers["x-request-id"] == "refused-1"

    missing = requests.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert missing.status_code == 401 and "Missing API key" in missing.json()["error"]["message"]
    assert is_uuid4(missing.headers["x-request-id"])

    for path in ("/v1/messages", "/anthropic/v1/messages"):
        m = requests.post(gw.url + path, json=MESSAGES,
                          headers={"x-api-key": "sk-wrong", "x-request-id": "refused-m"}, timeout=10)
        assert m.status_code == 401, path
        assert m.json() == {"type": "error",
                            "error": {"type": "authentication_error", "message": "Invalid API key."}}
        assert m.headers["connection"] == "close" and m.headers["x-request-id"] == "refused-m"

    admin = requests.get(gw.url + "/key/list", headers={**auth("sk-wrong"), "x-request-id": "admin-1"},
                         timeout=10)
    assert admin.status_code == 403 and admin.json()["error"]["type"] == "permission_error"
    assert admin.headers["connection"] == "close" and admin.headers["x-request-id"] == "admin-1"


def test_refused_keys_are_observed(gw):
    total = "litellm_proxy_total_requests_metric_total"
    failed = "litellm_proxy_failed_requests_metric_total"
    before_total = gw.counter(total, baseline=True, status_code="401")
    before_failed = gw.counter(failed, baseline=True, exception_status="401", exception_class="AuthenticationError")
    for i in range(2):
        r = requests.post(gw.url + "/v1/chat/completions", json=CHAT,
                          headers={**auth("sk-nope"), "x-request-id": f"observed-{i}"}, timeout=10)
        assert r.status_code == 401
    assert gw.counter(total, status_code="401") == before_total + 2
    assert gw.counter(failed, exception_status="401", exception_class="AuthenticationError") == before_failed + 2
    logged = {line["request_id"]: line for line in gw.access_lines()}
    for i in range(2):
        line = logged[f"observed-{i}"]
        assert line["status"] == 401 and line["error"] == "AuthenticationError"
        assert line["path"] == "/v1/chat/completions" and line["method"] == "POST"
    with open(gw.log_path) as f:
        assert "sk-nope" not in f.read(), "a presented key is never logged"
