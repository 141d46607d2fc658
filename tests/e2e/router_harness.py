"""Helpers for the router's end-to-end tests: several emulators (one per deployment), gateways
started with a router config, raw chat calls that return status, headers and body, and counting
what reached each emulator."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from shale_harness import (
    GATEWAY_KEY,
    EmulatorControl,
    deployment,
    start_emulator,
    start_gateway,
    stop_process,
)

MODEL = "bedrock/us.amazon.nova-lite-v1:0"


class Emulators:
    """N emulator processes; `ctl[i]` scripts and inspects emulator i."""

    def __init__(self, n: int, extra_args: list[list[str]] | None = None):
        self.procs = []
        self.urls = []
        for i in range(n):
            args = extra_args[i] if extra_args and i < len(extra_args) else []
            proc, url = start_emulator(*args)
            self.procs.append(proc)
            self.urls.append(url)
        self.ctl = [EmulatorControl(u) for u in self.urls]

    def reset(self):
        for c in self.ctl:
            c.reset()

    def calls(self, i: int) -> int:
        """Bedrock calls emulator i received."""
        return len([r for r in self.ctl[i].requests() if r["path"].startswith("/model/")])

    def stop(self):
        for p in self.procs:
            stop_process(p)


def dep(name: str, emu_url: str, model_id: str, **params) -> dict:
    d = deployment(name, MODEL, emu_url, **params)
    d["model_info"] = {"id": model_id}
    return d


class Gateway:
    """A running shale with the given model_list and router settings."""

    def __init__(self, model_list: list, router_settings: dict | None = None,
                 litellm_settings: dict | None = None, general_settings: dict | None = None):
        config = {
            "model_list": model_list,
            "general_settings": {"master_key": GATEWAY_KEY, **(general_settings or {})},
        }
        if router_settings:
            config["router_settings"] = router_settings
        if litellm_settings:
            config["litellm_settings"] = litellm_settings
        self.proc, self.url, self.config_path = start_gateway(config)

    def chat(self, model: str, content: str = "hello", **extra) -> tuple[int, dict, dict]:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return call(self.url + "/v1/chat/completions", body)

    def health(self) -> dict:
        status, _, body = call(self.url + "/health", None)
        assert status == 200, body
        return body

    def stop(self):
        stop_process(self.proc)


def call(url: str, body) -> tuple[int, dict, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"authorization": f"Bearer {GATEWAY_KEY}",
                                          "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read() or b"{}")


def errors(kind: str, n: int, message: str = "scripted outage") -> list:
    return [{"error": {"type": kind, "message": message}} for _ in range(n)]


def wait_for_fresh_minute(margin_s: float = 15.0) -> None:
    """Sleeps into the next minute when fewer than `margin_s` seconds are left in this one, so a
    test's requests share one rate window."""
    left = 60 - (time.time() % 60)
    if left < margin_s:
        time.sleep(left + 0.2)
