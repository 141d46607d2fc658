"""The response cache and gateway guardrails together (issues #29 × #30): a request a guardrail
may check is neither served from nor stored in the cache — a stored answer must never skip a
guardrail. Requests without guardrails are still cached; with a `default_on` guardrail nothing is."""

from __future__ import annotations

import pytest

from cache_harness import CacheGateway, bedrock_calls, config, prompt
from guardrails_harness import guardrail
from shale_harness import EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield EmulatorControl(url), url
    stop_process(proc)


def gateway(emu_url: str, **extra) -> CacheGateway:
    cfg = config(emu_url, {"type": "local"})
    cfg["guardrails"] = [guardrail("pii-post", "post_call", emu_url, **extra)]
    return CacheGateway(cfg)


def ask(client, text: str, **kw):
    return client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": text}], **kw
    )


def test_a_request_naming_a_guardrail_bypasses_the_cache(emu):
    ctl, url = emu
    gw = gateway(url)
    try:
        client = gw.openai()
        q = prompt("guarded")
        for _ in range(2):
            r = ask(client, q, extra_body={"guardrails": ["pii-post"]})
            assert r.headers["x-litellm-applied-guardrails"] == "pii-post"
            assert "x-shale-cache" not in r.headers and "x-litellm-cache-key" not in r.headers
        assert bedrock_calls(ctl) == 2, "both guarded requests reached the model"
        # The same prompt without a guardrail was never stored by the guarded ones: a miss, then a hit.
        assert ask(client, q).headers["x-shale-cache"] == "miss"
        assert ask(client, q).headers["x-shale-cache"] == "hit"
        assert bedrock_calls(ctl) == 3
    finally:
        gw.stop()


def test_a_default_on_guardrail_keeps_every_request_out_of_the_cache(emu):
    ctl, url = emu
    ctl.reset()
    gw = gateway(url, default_on=True)
    try:
        client = gw.openai()
        q = prompt("default-on")
        for _ in range(2):
            r = ask(client, q)
            assert r.headers["x-litellm-applied-guardrails"] == "pii-post"
            assert "x-shale-cache" not in r.headers
        assert bedrock_calls(ctl) == 2
    finally:
        gw.stop()
