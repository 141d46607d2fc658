"""The one home of the end-to-end tests' helpers: starting the real binaries (the Bedrock emulator
and the shale gateway), scripting the emulator, small HTTP and boto3 clients, and `running_stack`
(an emulator plus a gateway configured for it). `conftest.py` holds only fixtures.

Both binaries print one line to stdout once they listen (`... listening on http://HOST:PORT`), which
is how the harness learns the ephemeral port. Nothing here asserts on gateway behaviour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SHALE_BIN = os.environ.get("SHALE_BIN", str(REPO / "target" / "debug" / "shale"))
EMULATOR_BIN = os.environ.get(
    "SHALE_EMULATOR_BIN", str(REPO / "target" / "debug" / "shale-emulator")
)

EXAMPLE_ACCESS_KEY_ID = "AKIDEXAMPLE"
EXAMPLE_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# Shorter names used by older tests.
EXAMPLE_ACCESS_KEY = EXAMPLE_ACCESS_KEY_ID
EXAMPLE_SECRET_KEY = EXAMPLE_SECRET_ACCESS_KEY
EXAMPLE_API_KEY = "bedrock-api-key-EXAMPLE"
REGION = "us-east-1"
GATEWAY_KEY = "sk-e2e-test-key"
EMULATOR_READY = "shale-emulator listening on "
GATEWAY_READY = "shale listening on "


def read_ready_line(proc: subprocess.Popen, prefix: str, timeout: float = 30.0) -> str:
    """Waits for the process's `<prefix>http://HOST:PORT` stdout line and returns the URL."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{prefix!r} process exited early with code {proc.returncode}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            line = (line.decode() if isinstance(line, bytes) else line).strip()
            if line.startswith(prefix.strip()):
                return line[len(prefix.strip()):].strip()
    raise RuntimeError(f"no ready line starting with {prefix!r} within {timeout}s")


def require_commands(*names: str) -> None:
    """Fails (under CI=true) or skips the test when a command it runs is not installed."""
    import shutil

    for name in names:
        if shutil.which(name) is None:
            message = f"`{name}` is not installed (tests/run-all.sh installs it)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)


def start_process(
    args: list[str], prefix: str, env: dict | None = None, stderr=subprocess.DEVNULL
) -> tuple[subprocess.Popen, str]:
    """Starts a binary and returns (process, URL) from its ready line. `stderr`: where its log goes."""
    full_env = dict(os.environ)
    full_env.setdefault("RUST_LOG", "warn")
    if env:
        full_env.update(env)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, env=full_env)
    try:
        return proc, read_ready_line(proc, prefix)
    except Exception:
        stop_process(proc)
        raise


def stop_process(proc: subprocess.Popen) -> None:
    """Terminates a child process (SIGTERM, then SIGKILL after 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_emulator(*extra_args: str) -> tuple[subprocess.Popen, str]:
    """Starts `shale-emulator --listen 127.0.0.1:0 [extra_args]`; returns (process, url)."""
    return start_process([EMULATOR_BIN, "--listen", "127.0.0.1:0", *extra_args], EMULATOR_READY)


def http_json(method: str, url: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
    """A small JSON-over-HTTP call with urllib (no SDK); returns (status, parsed body or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def aws_client(service: str, url: str, **kwargs: Any):
    """A boto3 client for `service` pointed at `url` (example credentials, no retries)."""
    import boto3
    from botocore.config import Config

    config = kwargs.pop("config", None) or Config(retries={"total_max_attempts": 1}, read_timeout=30)
    params = {
        "region_name": REGION,
        "endpoint_url": url,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY,
        "config": config,
    }
    params.update(kwargs)
    return boto3.client(service, **params)


class EmulatorControl:
    """The emulator's scripting and inspection API (`/_emulator/*`, no auth; see docs/emulator.md)."""

    def __init__(self, url: str):
        self.url = url

    def _call(self, method: str, path: str, body=None):
        status, answer = http_json(method, self.url + path, body)
        assert status == 200, answer
        return answer

    def script(self, responses: list) -> dict:
        """Queues scripted answers."""
        return self._call("POST", "/_emulator/script", {"responses": responses})

    def requests(self) -> list:
        """The recorded requests, oldest first."""
        return self._call("GET", "/_emulator/requests")

    def reset(self) -> None:
        """Clears recorded requests and the script queue."""
        self._call("POST", "/_emulator/reset")

    def last_request(self) -> dict:
        """The most recent recorded request."""
        recorded = self.requests()
        assert recorded, "no request was recorded"
        return recorded[-1]

    def last_body(self) -> dict:
        """The body of the most recent model call (not an `/_emulator` call)."""
        reqs = [r for r in self.requests() if not r["path"].startswith("/_emulator")]
        assert reqs, "no request reached the emulator"
        return reqs[-1]["body"]


def deployment(model_name: str, model: str, emulator_url: str, **params) -> dict:
    p = {
        "model": model,
        "aws_bedrock_runtime_endpoint": emulator_url,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY,
        "aws_region_name": REGION,
    }
    p.update(params)
    # A None value means "leave this key out".
    return {"model_name": model_name, "litellm_params": {k: v for k, v in p.items() if v is not None}}


def start_gateway(
    config: dict,
    extra_args: list[str] | None = None,
    env: dict | None = None,
    stderr=subprocess.DEVNULL,
    log_format: str = "json",
) -> tuple[subprocess.Popen, str, str]:
    """Writes the config (YAML is a superset of JSON) and starts `shale` on an ephemeral port.
    Returns (process, base URL, config path). `env` adds variables; `stderr` receives the log."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    json.dump(config, handle)
    handle.close()
    proc, url = start_process(
        [SHALE_BIN, "--config", handle.name, "--host", "127.0.0.1", "--port", "0", "--log-format", log_format]
        + (extra_args or []),
        GATEWAY_READY,
        env=env,
        stderr=stderr,
    )
    return proc, url, handle.name


@dataclasses.dataclass
class Stack:
    """A running emulator and a gateway configured for it."""

    url: str
    emulator: EmulatorControl
    config_path: str

    @property
    def emulator_url(self) -> str:
        return self.emulator.url


@contextlib.contextmanager
def running_stack(
    make_config: Callable[[str], dict],
    emulator_args: tuple[str, ...] = (),
    gateway_args: list[str] | None = None,
) -> Iterator[Stack]:
    """Starts an emulator, then a gateway with `make_config(emulator_url)`; stops both on exit."""
    emu_proc, emu_url = start_emulator(*emulator_args)
    try:
        gw_proc, gw_url, path = start_gateway(make_config(emu_url), gateway_args)
        try:
            yield Stack(url=gw_url, emulator=EmulatorControl(emu_url), config_path=path)
        finally:
            stop_process(gw_proc)
    finally:
        stop_process(emu_proc)



def stack_fixture(make_config: Callable[[str], dict], **options):
    """A module-scoped `stack` fixture: `stack = stack_fixture(gateway_config)` in a test module."""

    @pytest.fixture(scope="module")
    def stack() -> Iterator[Stack]:
        with running_stack(make_config, **options) as running:
            yield running

    return stack


@dataclasses.dataclass
class LoggedStack(Stack):
    """A `Stack` whose gateway logs (JSON, `RUST_LOG=info`) into `log`."""

    log: pathlib.Path = pathlib.Path()

    def log_lines(self, needle: str, timeout: float = 5.0) -> list[dict]:
        """The JSON log lines containing `needle`; waits up to `timeout` for the first one (the log
        is written by a background thread)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(l) for l in self.log.read_text().splitlines() if l.startswith("{") and needle in l]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@contextlib.contextmanager
def logged_stack(make_config: Callable[[str], dict], env: dict | None = None) -> Iterator[LoggedStack]:
    """Like `running_stack`, with the gateway's log kept in a temporary file (removed on exit) and
    `env` added to the gateway's environment."""
    emu_proc, emu_url = start_emulator()
    home = pathlib.Path(tempfile.mkdtemp(prefix="shale-log-"))
    log = home / "gateway.log"
    try:
        with open(log, "w") as sink:
            gw_proc, gw_url, path = start_gateway(
                make_config(emu_url), stderr=sink, env={"RUST_LOG": "info", **(env or {})}
            )
            try:
                yield LoggedStack(url=gw_url, emulator=EmulatorControl(emu_url), config_path=path, log=log)
            finally:
                stop_process(gw_proc)
    finally:
        stop_process(emu_proc)
        shutil.rmtree(home, ignore_errors=True)
