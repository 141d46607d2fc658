"""Config reload (issue #31): `SIGHUP` re-reads the config file. A file that does not load is
refused with the errors start-up and `shale check` give, logged, and the running configuration
kept; a valid one is swapped in (a stream that started before finishes on its deployment, even
one the new file removes); restart-only settings are kept and named in the log. With
`config_reload_interval_seconds` a Kubernetes-style ConfigMap update (a `..data` symlink swap) is
picked up without a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

from keys_harness import wait_for
from shale_harness import GATEWAY_KEY, SHALE_BIN, EmulatorControl, deployment, start_gateway, stop_process

NOVA_LITE = "bedrock/us.amazon.nova-lite-v1:0"
AUTH = {"authorization": f"Bearer {GATEWAY_KEY}"}


@pytest.fixture(scope="module")
def emu(emulator_url):
    return emulator_url, EmulatorControl(emulator_url)


def config(emu_url: str, *names: str, **general) -> dict:
    return {
        "model_list": [deployment(name, NOVA_LITE, emu_url) for name in names],
        "general_settings": {"master_key": GATEWAY_KEY, **general},
    }


def chat(url: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30).status_code


def log_lines(path: str) -> list[dict]:
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def logged(path: str, message: str) -> list[dict]:
    return [line for line in log_lines(path) if message in json.dumps(line)]


def check_error(text: str) -> str:
    """What `shale check` says about a config file with this text (its error, without the path)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    out = subprocess.run([SHALE_BIN, "check", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    assert out.returncode == 1, out
    return out.stderr.strip().split(": ", 1)[1]


def test_sighup_refuses_a_broken_file_then_applies_a_valid_one(emu):
    emu_url, control = emu
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    proc, url, path = start_gateway(
        config(emu_url, "before", header_read_timeout_seconds=10),
        env={"RUST_LOG": "info"},
        stderr=log,
    )
    try:
        assert chat(url, "before") == 200

        # 1. Not YAML at all.
        broken = "model_list:\n  - model_name: [unclosed\n"
        with open(path, "w") as f:
            f.write(broken)
        proc.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: logged(log.name, "config reload refused"), timeout=10)
        assert check_error(broken) in refused[-1]["error"], refused[-1]
        assert chat(url, "before") == 200, "the running configuration is kept"
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(log.name, "config reload refused")) == 2, timeout=10,
                 what="the same broken file refused again, not taken as unchanged")

        # 2. YAML, but not a deployment shale can serve: the same error as at start-up.
        invalid = json.dumps({"model_list": [{"model_name": "x", "litellm_params": {"model": "azure/gpt-4"}}]})
        with open(path, "w") as f:
            f.write(invalid)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(log.name, "config reload refused")) == 3, timeout=10)
        error = logged(log.name, "config reload refused")[-1]["error"]
        assert error == check_error(invalid), error
        start = subprocess.run([SHALE_BIN, "--config", path, "--port", "0"], capture_output=True, text=True,
                               env={**os.environ, "SHALE_MASTER_KEY": "x"}, timeout=30)
        assert start.returncode != 0 and error in start.stderr, start.stderr
        assert chat(url, "before") == 200

        # 3. Valid: swapped in, while a stream on the removed model is running.
        control.script([{"operation": "converse-stream", "pause_after": 1, "pause_ms": 2000}])
        result = {}

        def stream():
            body = {"model": "before", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30) as r:
                result["status"] = r.status_code
                result["text"] = "".join(r.iter_text())

        streaming = threading.Thread(target=stream)
        streaming.start()
        time.sleep(0.5)
        with open(path, "w") as f:
            json.dump(config(emu_url, "after", header_read_timeout_seconds=3), f)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: chat(url, "after") == 200, timeout=10, what="the new model")
        assert chat(url, "before") == 400, "the new file removed it"
        assert streaming.is_alive(), "the stream was still running during the swap"
        streaming.join(timeout=30)
        assert result["status"] == 200 and "data: [DONE]" in result["text"], result
        restart = wait_for(lambda: logged(log.name, "needs a restart"), timeout=5)
        assert "header_read_timeout_seconds" in json.dumps(restart[-1])

        # 4. The same bytes again: nothing to do.
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logged(log.name, "the file is unchanged"), timeout=10)
        assert chat(url, "after") == 200
    finally:
        stop_process(proc)
        log.close()
        os.unlink(log.name)


def test_a_configmap_update_is_picked_up_without_a_signal(emu):
    """Kubernetes mounts a ConfigMap as `config.yaml -> ..data/config.yaml`, `..data -> ..2026_x`,
    and updates it by pointing `..data` at a new directory."""
    emu_url, _ = emu
    mount = tempfile.mkdtemp()

    def publish(version: str, body: dict) -> None:
        os.mkdir(os.path.join(mount, version))
        with open(os.path.join(mount, version, "config.yaml"), "w") as f:
            json.dump(body, f)
        tmp = os.path.join(mount, "..data_tmp")
        os.symlink(version, tmp)
        os.replace(tmp, os.path.join(mount, "..data"))

    publish("..v1", config(emu_url, "first", config_reload_interval_seconds=0.5))
    link = os.path.join(mount, "config.yaml")
    os.symlink("..data/config.yaml", link)
    proc, url, _ = start_gateway_at(link)
    try:
        assert chat(url, "first") == 200
        publish("..v2", config(emu_url, "second", config_reload_interval_seconds=0.5))
        took = time.monotonic()
        wait_for(lambda: chat(url, "second") == 200, timeout=10, what="the ConfigMap update")
        took = time.monotonic() - took
        assert chat(url, "first") == 400
        print(f"\nConfigMap update served after {took:.2f} s (checked every 0.5 s)")
    finally:
        stop_process(proc)


def start_gateway_at(path: str):
    """A gateway reading `path` itself (the harness writes its own file otherwise)."""
    from shale_harness import GATEWAY_READY, start_process

    proc, url = start_process(
        [SHALE_BIN, "--config", path, "--host", "127.0.0.1", "--port", "0", "--log-format", "json"],
        GATEWAY_READY,
    )
    return proc, url, path
