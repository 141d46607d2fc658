"""Serving workers (`--workers`, `SHALE_WORKERS`, alias `--num_workers`), through the real binary:
the gateway serves on that many threads, each with its own runtime and accept loop; concurrent
connections are spread over them and every request is answered; a bad count is refused at start;
SIGTERM still drains in-flight requests and exits 0 with several workers."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import os
import subprocess
import time
import urllib.parse

import pytest

from shale_harness import GATEWAY_KEY, SHALE_BIN, deployment, start_gateway, stop_process


def config(emulator_url: str) -> dict:
    return {
        "general_settings": {"master_key": GATEWAY_KEY},
        "model_list": [deployment("nova", "bedrock/amazon.nova-lite-v1:0", emulator_url)],
    }


def worker_threads(pid: int, expected: int | None = None) -> dict[str, int]:
    """Thread name → CPU ticks (user + system) of the process's `shale-worker-N` threads (the
    workers start right after the ready line: waits up to 5 s for `expected` of them)."""
    deadline = time.monotonic() + 5
    while True:
        found = read_worker_threads(pid)
        if expected is None or len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def read_worker_threads(pid: int) -> dict[str, int]:
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        if name.startswith("shale-worker-"):
            found[name] = int(fields[11]) + int(fields[12])
    return found


def chat_on_own_connection(url: str, requests: int) -> list[int]:
    """`requests` chat calls on one keep-alive connection; returns their statuses."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"model": "nova", "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    statuses = []
    try:
        for _ in range(requests):
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert payload["choices"][0]["message"]["content"], payload
            statuses.append(response.status)
    finally:
        conn.close()
    return statuses


def test_concurrent_connections_are_spread_over_the_workers(emulator_url):
    proc, url, _ = start_gateway(config(emulator_url), ["--workers", "3"])
    try:
        assert sorted(worker_threads(proc.pid, 3)) == ["shale-worker-0", "shale-worker-1", "shale-worker-2"]
        before = worker_threads(proc.pid)
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            results = list(pool.map(lambda _: chat_on_own_connection(url, 10), range(48)))
        assert all(status == 200 for statuses in results for status in statuses)
        assert sum(len(s) for s in results) == 480
        after = worker_threads(proc.pid)
        busy = [name for name in after if after[name] > before.get(name, 0)]
        assert len(busy) >= 2, f"only {busy} did any work: {after}"
    finally:
        stop_process(proc)


def test_environment_and_litellm_alias_set_the_count(emulator_url):
    proc, _, _ = start_gateway(config(emulator_url), env={"SHALE_WORKERS": "2"})
    try:
        assert len(worker_threads(proc.pid, 2)) == 2
    finally:
        stop_process(proc)
    proc, _, _ = start_gateway(config(emulator_url), ["--num_workers", "1"])
    try:
        assert list(worker_threads(proc.pid, 1)) == ["shale-worker-0"]
    finally:
        stop_process(proc)


def test_default_is_one_worker_per_core(emulator_url):
    proc, _, _ = start_gateway(config(emulator_url))
    try:
        cores = len(os.sched_getaffinity(0))
        assert len(worker_threads(proc.pid, cores)) == cores
    finally:
        stop_process(proc)


@pytest.mark.parametrize("count", ["0", "-1", "many"])
def test_a_bad_count_is_refused_at_start(tmp_path, count):
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"general_settings": {"master_key": GATEWAY_KEY}, "model_list": []}))
    done = subprocess.run(
        [SHALE_BIN, "--config", str(path), "--port", "0", f"--workers={count}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "--workers" in done.stderr


def test_sigterm_drains_every_worker(emulator_url, emulator):
    """Requests in flight on both workers when SIGTERM arrives are answered, then it exits 0."""
    proc, url, _ = start_gateway(config(emulator_url), ["--workers", "2"])
    emulator.script([{"delay_ms": 800} for _ in range(8)])
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        pending = [pool.submit(chat_on_own_connection, url, 1) for _ in range(8)]
        deadline = time.monotonic() + 10
        while len(emulator.requests()) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(emulator.requests()) == 8, "all eight requests reached Bedrock before SIGTERM"
        proc.terminate()
        results = [f.result(timeout=60) for f in pending]
    assert results == [[200]] * 8
    assert proc.wait(timeout=30) == 0


def test_a_port_another_program_holds_is_refused(tmp_path):
    """Each worker binds the port with SO_REUSEPORT, which must not let shale share a port that
    a program without that option holds."""

    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"general_settings": {"master_key": GATEWAY_KEY}, "model_list": []}))
    try:
        done = subprocess.run(
            [SHALE_BIN, "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        holder.close()
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
