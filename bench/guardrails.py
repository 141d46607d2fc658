#!/usr/bin/env python3
"""Guardrail latency benchmark (issue #29): what a guardrail adds to a request, measured through
the real gateway against the Bedrock emulator with a fixed latency per Bedrock call
(`--latency-ms`, ApplyGuardrail included) and a fixed delay between stream frames
(`--stream-delay-ms`, a model generating at a steady pace).

Scenarios (sequential requests, one at a time, medians and p90):
- one ApplyGuardrail round trip, straight to the emulator (the reference);
- chat without a guardrail, with pre_call, during_call, post_call (complete answers);
- streamed chat of a ~1,200-byte answer: time to first text (TTFT) and total time, without a
  guardrail and with post_call at the default windows, small windows and `stream_window_bytes: 0`.

Usage: python3 bench/guardrails.py [--requests N] [--latency-ms L] [--stream-delay-ms D]
Binaries: $SHALE_BIN / $SHALE_EMULATOR_BIN (default target/debug/…). Writes
bench/results/guardrails.md and guardrails.json. Needs httpx (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

REPO = pathlib.Path(__file__).resolve().parents[1]
SHALE = os.environ.get("SHALE_BIN", str(REPO / "target/debug/shale"))
EMULATOR = os.environ.get("SHALE_EMULATOR_BIN", str(REPO / "target/debug/shale-emulator"))
KEY = "sk-bench-guardrails"
AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def start(args: list[str], ready: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "RUST_LOG": "warn"})
    line = proc.stdout.readline().strip()
    if not line.startswith(ready):
        proc.kill()
        sys.exit(f"{args[0]} did not start: {line!r}")
    return proc, line[len(ready):].strip()


def config(emu: str) -> dict:
    creds = {"aws_bedrock_runtime_endpoint": emu, "aws_access_key_id": AK,
             "aws_secret_access_key": SK, "aws_region_name": "us-east-1"}

    def g(name, mode, **extra):
        return {"guardrail_name": name, "litellm_params": {
            "guardrail": "bedrock", "mode": mode, "guardrailIdentifier": "shaledemo",
            "guardrailVersion": "DRAFT", **creds, **extra}}

    return {
        "model_list": [{"model_name": "claude", "litellm_params": {"model": f"bedrock/{CLAUDE}", **creds}}],
        "guardrails": [
            g("pre", "pre_call"), g("during", "during_call"), g("post", "post_call"),
            g("post-small", "post_call", stream_first_window_bytes=64, stream_window_bytes=256,
              stream_overlap_bytes=32),
            g("post-whole", "post_call", stream_window_bytes=0),
        ],
        "general_settings": {"master_key": KEY},
    }


def stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"p50_ms": round(statistics.median(s) * 1000, 1),
            "p90_ms": round(s[min(len(s) - 1, int(len(s) * 0.9))] * 1000, 1), "n": len(s)}


def long_stream_script(words: int) -> dict:
    deltas = [{"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": f"token-{i:05d} "}}}
              for i in range(words)]
    return {"operation": "converse-stream", "events": [
        {"type": "messageStart", "payload": {"role": "assistant"}}, *deltas,
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
        {"type": "messageStop", "payload": {"stopReason": "end_turn"}},
        {"type": "metadata", "payload": {"usage": {"inputTokens": 5, "outputTokens": words, "totalTokens": 5 + words},
                                         "metrics": {"latencyMs": 1}}}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--stream-delay-ms", type=int, default=10)
    ap.add_argument("--words", type=int, default=100, help="deltas of the streamed answer (12 bytes each)")
    a = ap.parse_args()

    emu_proc, emu = start([EMULATOR, "--listen", "127.0.0.1:0", "--latency-ms", str(a.latency_ms),
                           "--stream-delay-ms", str(a.stream_delay_ms)], "shale-emulator listening on ")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    json.dump(config(emu), cfg)
    cfg.close()
    gw_proc, gw = start([SHALE, "--config", cfg.name, "--host", "127.0.0.1", "--port", "0"], "shale listening on ")
    results: dict = {"settings": vars(a) | {"build": "debug" if "debug" in SHALE else "release"}}
    try:
        http = httpx.Client(timeout=60)
        auth = {"authorization": f"Bearer {KEY}"}

        def timed(fn, n=a.requests):
            fn()  # warm-up
            out = []
            for _ in range(n):
                t = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t)
            return out

        apply_url = f"{emu}/guardrail/shaledemo/version/DRAFT/apply"
        direct = timed(lambda: http.post(apply_url, headers={"authorization": "Bearer bedrock-api-key-EXAMPLE"},
                                         json={"source": "INPUT", "content": [{"text": {"text": "hello there"}}]}
                                         ).raise_for_status())
        results["apply_guardrail_direct"] = stats(direct)

        def chat(guardrails):
            body = {"model": "claude", "messages": [{"role": "user", "content": "hello there, how are you?"}]}
            if guardrails:
                body["guardrails"] = guardrails
            return lambda: http.post(gw + "/v1/chat/completions", headers=auth, json=body).raise_for_status()

        for name, guards in [("none", []), ("pre_call", ["pre"]), ("during_call", ["during"]),
                             ("post_call", ["post"])]:
            results[f"chat_{name}"] = stats(timed(chat(guards)))

        def stream(guardrails):
            ttft, total = [], []
            for i in range(a.requests + 1):
                httpx.post(emu + "/_emulator/script", json={"responses": [long_stream_script(a.words)]}).raise_for_status()
                body = {"model": "claude", "stream": True, "messages": [{"role": "user", "content": "go"}]}
                if guardrails:
                    body["guardrails"] = guardrails
                t = time.perf_counter()
                first = None
                text = []
                with http.stream("POST", gw + "/v1/chat/completions", headers=auth, json=body) as r:
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if line.startswith("data: {"):
                            chunk = json.loads(line[6:])
                            delta = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content")
                            if delta:
                                first = first or time.perf_counter() - t
                                text.append(delta)
                assert len("".join(text)) == 12 * a.words, "the whole answer arrived"
                if i:  # the first is a warm-up
                    ttft.append(first)
                    total.append(time.perf_counter() - t)
            return {"ttft": stats(ttft), "total": stats(total)}

        for name, guards in [("none", []), ("post_call_default", ["post"]), ("post_call_small", ["post-small"]),
                             ("post_call_whole_answer", ["post-whole"])]:
            results[f"stream_{name}"] = stream(guards)
    finally:
        gw_proc.terminate()
        emu_proc.terminate()

    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "guardrails.json").write_text(json.dumps(results, indent=2) + "\n")
    r = results
    base = r["chat_none"]["p50_ms"]
    rt = r["apply_guardrail_direct"]["p50_ms"]
    lines = [
        "# Guardrail latency (bench/guardrails.py)",
        "",
        f"Emulator latency {a.latency_ms} ms per Bedrock call (ApplyGuardrail included), stream frames every "
        f"{a.stream_delay_ms} ms, {a.requests} sequential requests per row, {r['settings']['build']} build, "
        f"streamed answer {a.words} deltas × 12 B = {12 * a.words} B. Medians (p90).",
        "",
        "| request | p50 ms | p90 ms | added to no guardrail (p50) |",
        "|---|---|---|---|",
        f"| one ApplyGuardrail call, direct to the emulator | {rt} | {r['apply_guardrail_direct']['p90_ms']} | (one round trip) |",
    ]
    for name in ["none", "pre_call", "during_call", "post_call"]:
        s = r[f"chat_{name}"]
        lines.append(f"| chat, {name.replace('none', 'no guardrail')} | {s['p50_ms']} | {s['p90_ms']} | "
                     f"{round(s['p50_ms'] - base, 1)} |")
    lines += ["", "| stream | TTFT p50 ms | TTFT p90 ms | total p50 ms |", "|---|---|---|---|"]
    for name, label in [("none", "no guardrail"), ("post_call_default", "post_call, windows 160 / 900 / 100 B (defaults)"),
                        ("post_call_small", "post_call, windows 64 / 256 / 32 B"),
                        ("post_call_whole_answer", "post_call, `stream_window_bytes: 0` (whole answer)")]:
        s = r[f"stream_{name}"]
        lines.append(f"| {label} | {s['ttft']['p50_ms']} | {s['ttft']['p90_ms']} | {s['total']['p50_ms']} |")
    (out / "guardrails.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
