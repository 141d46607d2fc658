"""Helpers for the response-cache end-to-end tests (issue #30): a gateway with
`litellm_settings.cache` on in front of the emulator, the official OpenAI and Anthropic SDK
clients pointed at it, raw calls that return status, headers and body, and counting what reached
Bedrock. Nothing here asserts on gateway behaviour."""

from __future__ import annotations

import json
import tempfile
import time
import uuid

import httpx

from shale_harness import GATEWAY_KEY, EmulatorControl, deployment, start_gateway, stop_process

NOVA = "bedrock/us.amazon.nova-lite-v1:0"
CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TITAN_EMBED = "bedrock/amazon.titan-embed-text-v2:0"


def models(emu_url: str) -> list[dict]:
    """`chat` (Converse), `claude` (native Messages on InvokeModel), `embed` (Titan v2, one
    Bedrock call per input item), `limited` (chat with a deployment rpm of 1)."""
    return [
        deployment("chat", NOVA, emu_url, input_cost_per_token=0.001, output_cost_per_token=0.002),
        deployment("claude", CLAUDE, emu_url),
        deployment("embed", TITAN_EMBED, emu_url),
        deployment("limited", NOVA, emu_url, rpm=1),
    ]


def config(emu_url: str, cache_params: dict | None, **sections) -> dict:
    """A gateway config with the cache on (`cache_params` None: `cache: true` alone)."""
    litellm = {"callbacks": ["prometheus"], "cache": True}
    if cache_params is not None:
        litellm["cache_params"] = cache_params
    litellm.update(sections.pop("litellm_settings", {}))
    cfg = {
        "model_list": sections.pop("model_list", None) or models(emu_url),
        "general_settings": {"master_key": GATEWAY_KEY, **sections.pop("general_settings", {})},
        "litellm_settings": litellm,
        # A scripted failure must reach the client, not be retried into a success.
        "router_settings": {"num_retries": 0, **sections.pop("router_settings", {})},
    }
    cfg.update(sections)
    return cfg


class CacheGateway:
    """A running shale; its log (stderr) goes to a file the test can read."""

    def __init__(self, cfg: dict, env: dict | None = None):
        self.log = tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False)
        self.proc, self.url, self.config_path = start_gateway(cfg, env=env, stderr=self.log)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)

    def log_text(self) -> str:
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def openai(self, key: str = GATEWAY_KEY):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)

    def anthropic(self, key: str = GATEWAY_KEY):
        import anthropic

        return anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0)

    def post(self, path: str, body, key: str = GATEWAY_KEY, headers: dict | None = None) -> httpx.Response:
        h = {"authorization": f"Bearer {key}", **(headers or {})}
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.http.post(path, content=content, headers={"content-type": "application/json", **h})

    def chat(self, content: str, model: str = "chat", key: str = GATEWAY_KEY, headers: dict | None = None, **extra) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return self.post("/v1/chat/completions", body, key=key, headers=headers)

    def admin(self, method: str, path: str, json_body=None, key: str = GATEWAY_KEY) -> httpx.Response:
        return self.http.request(method, path, json=json_body, headers={"authorization": f"Bearer {key}"})


def bedrock_calls(emu: EmulatorControl) -> int:
    """Model calls the emulator received."""
    return len([r for r in emu.requests() if r["path"].startswith("/model/")])


def prompt(tag: str = "") -> str:
    """A prompt no other test sends (entries never leak between tests)."""
    return f"{tag} question {uuid.uuid4().hex[:12]}".strip()


def sse_events(raw: bytes) -> list[str]:
    """The events of a server-sent-events body, keep-alive comments removed."""
    return [e for e in raw.decode().split("\n\n") if e and not e.startswith(":")]


def read_to_the_end(raw) -> list[dict]:
    """The events of a streamed answer (an SDK raw response), read to the last one. A stream is
    stored once it completes — after its last byte went out, in the background — so the short
    pause lets the store land before the next request looks it up on either gateway worker (a
    second request sent while the first stream is unread can find nothing yet)."""
    events = [e.model_dump() for e in raw.parse()]
    time.sleep(0.2)
    return events
