"""Runs an already-built `shale` binary the way the image does (config file,
port, `shale healthcheck` as the probe) with the compose demo config, and checks
the routes the Dockerfile HEALTHCHECK and the Kubernetes probes rely on.
Loopback only; no upstream call is made. Skipped when no binary is built."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from pkg_common import DOCKER_DIR, LIVENESS_PATH, MASTER_KEY_ENV, READINESS_PATH, shale_binary

KEY = "sk-packaging-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway():
    binary = shale_binary()
    if binary is None:
        pytest.skip("no built shale binary (cargo build -p shale)")
    port = free_port()
    env = {
        **os.environ,
        MASTER_KEY_ENV: KEY,
        # never let the AWS chain look for instance metadata off-box
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = subprocess.Popen(
        [binary, "--config", str(DOCKER_DIR / "demo.config.yaml"), "--host", "127.0.0.1", "--port", str(port),
         "--log-format", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"shale exited {proc.returncode}: {proc.stdout.read().decode(errors='replace')}")
            try:
                with urllib.request.urlopen(base + LIVENESS_PATH, timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            pytest.fail("shale did not answer its liveliness route within 15 s")
        yield binary, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def healthcheck(binary, url: str) -> int:
    return subprocess.run([binary, "healthcheck", "--url", url], capture_output=True, timeout=15).returncode


@pytest.mark.parametrize("path", [LIVENESS_PATH, READINESS_PATH])
def test_probe_routes_answer_the_healthcheck(gateway, path):
    binary, base = gateway
    assert healthcheck(binary, base + path) == 0


def test_healthcheck_fails_on_a_wrong_route(gateway):
    binary, base = gateway
    assert healthcheck(binary, base + "/health/does-not-exist") != 0


def test_master_key_from_the_environment_is_enforced(gateway):
    _, base = gateway
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/v1/models", timeout=5)
    assert err.value.code == 401
    request = urllib.request.Request(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        listed = {m["id"] for m in json.load(response)["data"]}
    configured = {m["model_name"] for m in yaml.safe_load((DOCKER_DIR / "demo.config.yaml").read_text())["model_list"]}
    assert configured <= listed
