"""The access log through the real binary: one line per request in the JSON log shape, the text
form with `--log-format text`, turned off by `RUST_LOG=…,shale::access=off` or the config, and
never a key. Lines are written through the non-blocking log writer, so they are read after a
short wait."""

from __future__ import annotations

import json
import tempfile
import time

import openai
import pytest

from shale_harness import (
    GATEWAY_KEY,
    EmulatorControl,
    deployment,
    start_emulator,
    start_gateway,
    stop_process,
)

MODEL = "bedrock/amazon.nova-lite-v1:0"


def run_and_read_log(
    env: dict, log_format: str = "json", telemetry: dict | None = None, throttle_first: bool = False
) -> str:
    """Starts a gateway with `env`, sends two chat requests, stops it and returns its stderr.
    `throttle_first`: the emulator throttles the first Bedrock call once (the gateway retries it)."""
    emu_proc, emu_url = start_emulator()
    if throttle_first:
        EmulatorControl(emu_url).script([{"error": {"type": "ThrottlingException", "message": "slow down"}}])
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    general = {"master_key": GATEWAY_KEY}
    if telemetry is not None:
        general["telemetry"] = telemetry
    try:
        gw, url, _ = start_gateway(
            {
                "model_list": [deployment("nova", MODEL, emu_url, num_retries=1 if throttle_first else None)],
                "general_settings": general,
            },
            log_format=log_format,
            env=env,
            stderr=log,
        )
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
            for _ in range(2):
                client.chat.completions.create(model="nova", messages=[{"role": "user", "content": "hi"}])
            time.sleep(0.3)
        finally:
            stop_process(gw)
    finally:
        stop_process(emu_proc)
    return open(log.name).read()


def test_json_lines_have_the_log_shape():
    text = run_and_read_log({"RUST_LOG": "info"})
    access = [json.loads(line) for line in text.splitlines() if '"message":"access"' in line]
    assert len(access) == 2, text[-2000:]
    for entry in access:
        assert entry["level"] == "INFO" and entry["target"] == "shale::access"
        assert entry["timestamp"].endswith("Z")
        assert entry["model"] == "nova" and entry["status"] == 200
        assert entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
        assert entry["key_hash"] == "" and entry["key_alias"] == ""  # the master key has no virtual-key labels
        assert entry["retries"] == 0
    assert GATEWAY_KEY not in text


def test_retries_are_counted_without_a_trace_exporter():
    text = run_and_read_log({"RUST_LOG": "info"}, throttle_first=True)
    access = [json.loads(line) for line in text.splitlines() if '"message":"access"' in line]
    assert [(e["status"], e["retries"]) for e in access] == [(200, 1), (200, 0)], text[-2000:]


def test_text_lines_on_request():
    text = run_and_read_log({"RUST_LOG": "info"}, log_format="text")
    access = [line for line in text.splitlines() if " INFO access request_id=" in line]
    assert len(access) == 2, text[-2000:]
    assert all(" model=nova " in line and " status=200 " in line for line in access)


@pytest.mark.parametrize(
    "env, telemetry",
    [({"RUST_LOG": "info,shale::access=off"}, None), ({"RUST_LOG": "info"}, {"access_log": False})],
    ids=["rust-log-off", "config-off"],
)
def test_access_log_can_be_turned_off(env, telemetry):
    text = run_and_read_log(env, telemetry=telemetry)
    assert '"message":"access"' not in text and "access request_id=" not in text
    # The rest of the log still flows through the same writer.
    assert "\"message\":\"ready\"" in text and "\"message\":\"stopped\"" in text, text[-2000:]
