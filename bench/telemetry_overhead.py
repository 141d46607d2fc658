#!/usr/bin/env python3
"""Hot-path cost of observability: the same gateway and emulator driven by wrk with telemetry off,
with Prometheus metrics on, and with metrics + access log on (runs interleaved, several rounds,
medians reported). Loopback only; bounded in time.

    python3 bench/telemetry_overhead.py [--bin-dir target/release] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import secrets
import statistics
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]

MODES = {
    "off": {"general_settings": {"telemetry": {"access_log": False}}},
    "metrics": {"general_settings": {"telemetry": {"access_log": False, "prometheus": True}}},
    "metrics+access_log": {"general_settings": {"telemetry": {"access_log": True, "prometheus": True}}},
}


def start(args: list[str], prefix: str, env: dict | None = None, stderr=subprocess.DEVNULL):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, **(env or {})})
    line = proc.stdout.readline().strip()
    if not line.startswith(prefix):
        proc.kill()
        raise SystemExit(f"{args[0]} did not start: {line!r}")
    return proc, line[len(prefix):]


def config(upstream: str, key: str, mode: str) -> dict:
    base = {
        "model_list": [{
            "model_name": "bench-chat",
            "litellm_params": {
                "model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "aws_bedrock_runtime_endpoint": upstream,
                "aws_access_key_id": "AKIDEXAMPLE",
                "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "aws_region_name": "us-east-1",
            },
        }],
        "general_settings": {"master_key": key},
    }
    base["general_settings"].update(MODES[mode]["general_settings"])
    return base


def wrk(url: str, key: str, duration: int, connections: int) -> dict:
    env = {
        **os.environ,
        "BENCH_BODY": str(REPO / "bench/bodies/chat.json"),
        "BENCH_HEADERS": f"Authorization: Bearer {key}",
    }
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
         str(REPO / "bench/wrk/post.lua"), url + "/v1/chat/completions"],
        capture_output=True, text=True, env=env, timeout=duration + 30, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    result = json.loads(line[len("BENCH "):])
    errors = sum(result["errors"].values())
    if errors:
        raise SystemExit(f"wrk saw {errors} errors: {result['errors']}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=str(REPO / "target/debug"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    a = ap.parse_args()
    key = "sk-bench-" + secrets.token_hex(8)
    emu, upstream = start([f"{a.bin_dir}/shale-emulator", "--listen", "127.0.0.1:0"],
                          "shale-emulator listening on ")
    gateways = {}
    try:
        for mode in MODES:
            f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
            json.dump(config(upstream, key, mode), f)
            f.close()
            gateways[mode] = start(
                [f"{a.bin_dir}/shale", "--config", f.name, "--host", "127.0.0.1", "--port", "0",
                 "--log-format", "json"],
                "shale listening on ", env={"RUST_LOG": "info", "SHALE_WORKERS": "1"},
            )
        for mode, (_, url) in gateways.items():  # warm-up
            wrk(url, key, 1, a.connections)
        results: dict[str, list] = {m: [] for m in MODES}
        for _ in range(a.rounds):
            for mode, (_, url) in gateways.items():
                results[mode].append(wrk(url, key, a.duration, a.connections))
        print(f"| mode | req/s (median of {a.rounds}) | p50 µs | p99 µs |")
        print("|---|---|---|---|")
        base = statistics.median(r["rps"] for r in results["off"])
        for mode, rs in results.items():
            rps = statistics.median(r["rps"] for r in rs)
            p50 = statistics.median(r["latency_us"]["p50"] for r in rs)
            p99 = statistics.median(r["latency_us"]["p99"] for r in rs)
            print(f"| {mode} | {rps:.0f} ({(rps / base - 1) * 100:+.1f}%) | {p50:.0f} | {p99:.0f} |")
    finally:
        for proc, _ in gateways.values():
            proc.terminate()
            proc.wait(timeout=10)
        emu.terminate()
        emu.wait(timeout=10)


if __name__ == "__main__":
    main()
