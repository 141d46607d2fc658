"""Starting the real binaries for end-to-end tests: the Bedrock emulator and the shale gateway.

Both print one line to stdout once they listen (`... listening on http://HOST:PORT`), which is how
the harness learns the ephemeral port. Processes are stopped at the end of the session.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
SHALE_BIN = os.environ.get("SHALE_BIN", str(REPO / "target" / "debug" / "shale"))
EMULATOR_BIN = os.environ.get(
    "SHALE_EMULATOR_BIN", str(REPO / "target" / "debug" / "shale-emulator")
)

EXAMPLE_ACCESS_KEY = "AKIDEXAMPLE"
EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EXAMPLE_API_KEY = "bedrock-api-key-EXAMPLE"
GATEWAY_KEY = "sk-e2e-test-key"


def start_process(args: list[str], prefix: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a binary and returns (process, URL) from its ready line."""
    full_env = dict(os.environ)
    full_env.setdefault("RUST_LOG", "warn")
    if env:
        full_env.update(env)
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=full_env,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: first line {line!r}")
    return proc, line[len(prefix):]


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class EmulatorControl:
    """The emulator's scripting and inspection API (`/_emulator/*`)."""

    def __init__(self, url: str):
        self.url = url

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def script(self, responses: list) -> None:
        self._call("POST", "/_emulator/script", {"responses": responses})

    def requests(self) -> list:
        return self._call("GET", "/_emulator/requests")

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset")

    def last_body(self) -> dict:
        reqs = [r for r in self.requests() if not r["path"].startswith("/_emulator")]
        assert reqs, "no request reached the emulator"
        return reqs[-1]["body"]


def deployment(model_name: str, model: str, emulator_url: str, **params) -> dict:
    p = {
        "model": model,
        "aws_bedrock_runtime_endpoint": emulator_url,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY,
        "aws_secret_access_key": EXAMPLE_SECRET_KEY,
        "aws_region_name": "us-east-1",
    }
    p.update(params)
    # A None value means "leave this key out".
    return {"model_name": model_name, "litellm_params": {k: v for k, v in p.items() if v is not None}}


def start_gateway(config: dict, extra_args: list[str] | None = None) -> tuple[subprocess.Popen, str, str]:
    """Writes the config (YAML is a superset of JSON) and starts `shale` on an ephemeral port.
    Returns (process, base URL, config path)."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    json.dump(config, handle)
    handle.close()
    proc, url = start_process(
        [SHALE_BIN, "--config", handle.name, "--host", "127.0.0.1", "--port", "0", "--log-format", "json"]
        + (extra_args or []),
        "shale listening on ",
    )
    return proc, url, handle.name
