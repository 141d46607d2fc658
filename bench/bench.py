#!/usr/bin/env python3
"""shale benchmark driver (standard library only; started by `bench/run.sh`).

Starts the upstream - the Bedrock emulator, or with `--upstream static` an nginx serving canned
Bedrock answers recorded from the emulator (bench/static/: Converse JSON, a ConverseStream
event stream, a Titan embedding), so the upstream costs almost nothing, or any URL given with
--upstream - then an nginx reverse proxy in front of it and the shale gateway, then for every scenario (non-streaming chat, streaming chat, embeddings, Bedrock
pass-through, chat with an API-key deployment) drives the same request shape with `wrk` against:

* direct  - straight to the upstream's Bedrock endpoint (Bedrock API key, no gateway);
* nginx   - nginx proxying to the upstream (the issue's comparison point);
* shale   - the gateway (OpenAI shape in, SigV4-signed Bedrock call out, OpenAI shape back).

in three load modes: one connection (latency), 64 connections flat out (throughput), and 64
paced connections (each waits ~N ms between requests: latency under a realistic, unsaturated load).
`shale-bench` measures time to first token on streams and collects `x-shale-overhead-ms`.
CPU per request comes from /proc/<pid>/stat, peak RSS from VmHWM. Results go to
bench/results/latest.{md,json,svg}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BODIES = BENCH / "bodies"
STATIC = BENCH / "static"
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
TITAN = "amazon.titan-embed-text-v2%3A0"
BEDROCK_KEY = "bedrock-api-key-EXAMPLE"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """One way of sending a scenario's request: where, what body, which headers."""

    path: str
    body: str
    headers: dict[str, str]
    first: str  # what the first streamed event looks like: sse | frame


@dataclass
class Scenario:
    name: str
    title: str
    stream: bool
    shale: Target
    direct: Target
    overhead_header: bool = True


def scenarios(key: str) -> list[Scenario]:
    bearer = {"Authorization": f"Bearer {key}"}
    upstream = {"Authorization": f"Bearer {BEDROCK_KEY}"}
    converse = Target(f"/model/{CLAUDE}/converse", "converse.json", upstream, "frame")
    return [
        Scenario("chat", "chat, non-streaming", False,
                 Target("/v1/chat/completions", "chat.json", bearer, "sse"), converse),
        Scenario("chat-stream", "chat, streaming", True,
                 Target("/v1/chat/completions", "chat-stream.json", bearer, "sse"),
                 Target(f"/model/{CLAUDE}/converse-stream", "converse.json", upstream, "frame")),
        Scenario("embeddings", "embeddings (Titan v2)", False,
                 Target("/v1/embeddings", "embeddings.json", bearer, "sse"),
                 Target(f"/model/{TITAN}/invoke", "titan-embed.json", upstream, "frame")),
        Scenario("passthrough", "pass-through /bedrock (converse)", False,
                 Target("/bedrock/model/bench-chat/converse", "converse.json", {"x-api-key": key}, "frame"),
                 converse, overhead_header=False),
        Scenario("chat-key", "chat, API-key deployment (no SigV4)", False,
                 Target("/v1/chat/completions", "chat-key.json", bearer, "sse"), converse),
        # bedrock-mantle (issue #28): chat relayed as chat, SigV4 service bedrock-mantle.
        Scenario("mantle-chat", "chat relayed to bedrock-mantle", False,
                 Target("/v1/chat/completions", "mantle-chat.json", bearer, "sse"),
                 Target("/v1/chat/completions", "mantle-direct.json", upstream, "sse")),
        Scenario("mantle-chat-stream", "chat relayed to bedrock-mantle, streaming", True,
                 Target("/v1/chat/completions", "mantle-chat-stream.json", bearer, "sse"),
                 Target("/v1/chat/completions", "mantle-direct-stream.json", upstream, "sse")),
    ]


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout}s")


def start_announcing(cmd: list[str], prefix: str, log: Path, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a server that prints `<prefix> http://…` first on stdout; drains the rest to `log`."""
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=out, env=env)
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"{cmd[0]} exited before announcing itself; see {log}")
        if line.decode(errors="replace").startswith(prefix):
            break
    url = line.decode().strip().split()[-1]

    def drain() -> None:
        for chunk in iter(lambda: proc.stdout.read(65536), b""):
            out.write(chunk)
        out.close()

    threading.Thread(target=drain, daemon=True).start()
    return proc, url


def gateway_config(tmp: Path, lean: bool = False, metrics: bool = True) -> Path:
    """bench/shale.yaml: the gateway as a user gets it (access log on) with Prometheus metrics.
    `lean` turns the access log off (`telemetry: {access_log: false}`), `metrics=False` drops
    the Prometheus callback."""
    text = (BENCH / "shale.yaml").read_text()
    if not metrics:
        text = text.split("\nlitellm_settings:", 1)[0] + "\n"
    if lean:
        text = text.replace("general_settings:\n", "general_settings:\n  telemetry:\n    access_log: false\n", 1)
    if not lean and metrics:
        return BENCH / "shale.yaml"
    path = tmp / f"shale{'-lean' if lean else ''}{'' if metrics else '-no-metrics'}.yaml"
    path.write_text(text)
    return path


def start_gateway(bins: Path, config: Path, tmp: Path, tag: str, env: dict) -> tuple[subprocess.Popen, str]:
    return start_announcing(
        [str(bins / "shale"), "--config", str(config), "--host", "127.0.0.1",
         "--port", "0", "--log-format", "json"], "shale listening on", tmp / f"{tag}.log", env)


def start_nginx(tmp: Path, upstream_hostport: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes auto;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    client_max_body_size 64m;
    keepalive_requests 1000000;
    upstream bedrock {{ server {upstream_hostport}; keepalive 256; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            proxy_pass http://bedrock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "nginx-stderr.log", "wb"))
    wait_port(port, proc, "nginx")
    return proc, port


def start_static_upstream(tmp: Path) -> tuple[subprocess.Popen, str]:
    """nginx answering Bedrock's runtime paths with the canned answers in bench/static/: Converse
    (`return 200` with the JSON), ConverseStream (the recorded event-stream frames) and InvokeModel
    (a Titan v2 embedding with its token-count headers). nginx refuses POST to a static file, so
    the file answers go through `error_page 405 =200` to an internal location."""
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    converse = (STATIC / "converse.json").read_text().strip().replace("\\", "\\\\").replace("'", "\\'")
    (tmp / "static").mkdir(exist_ok=True)
    conf = tmp / "static" / "nginx.conf"
    conf.write_text(f"""{user}worker_processes auto;
daemon off;
pid {tmp}/static/nginx.pid;
error_log {tmp}/static/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/static/body;
    proxy_temp_path {tmp}/static/proxy;
    fastcgi_temp_path {tmp}/static/fastcgi;
    uwsgi_temp_path {tmp}/static/uwsgi;
    scgi_temp_path {tmp}/static/scgi;
    client_max_body_size 64m;
    keepalive_requests 1000000;
    open_file_cache max=16 inactive=600s;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        add_header x-amzn-RequestId 00000000-0000-4000-8000-000000000000 always;
        location ~ ^/model/[^/]+/converse$ {{
            default_type application/json;
            return 200 '{converse}';
        }}
        location ~ ^/model/[^/]+/converse-stream$ {{
            error_page 405 =200 /_static/converse-stream.bin;
            return 405;
        }}
        location ~ ^/model/[^/]+/invoke$ {{
            error_page 405 =200 /_static/titan-embed.json;
            return 405;
        }}
        location = /_static/converse-stream.bin {{
            internal;
            root {BENCH};
            rewrite ^ /static/converse-stream.bin break;
            types {{ }}
            default_type application/vnd.amazon.eventstream;
        }}
        location = /_static/titan-embed.json {{
            internal;
            root {BENCH};
            rewrite ^ /static/titan-embed.json break;
            types {{ }}
            default_type application/json;
            add_header x-amzn-bedrock-input-token-count 20;
            add_header x-amzn-bedrock-output-token-count 0;
        }}
        location / {{ return 404 '{{"message":"no canned answer for this path"}}'; }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp / "static")],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "static" / "stderr.log", "wb"))
    wait_port(port, proc, "static upstream (nginx)")
    return proc, f"http://127.0.0.1:{port}"


LITELLM_SCENARIOS = ("chat", "chat-stream")
LITELLM_VENV = BENCH / ".venv-litellm"


def start_litellm(tmp: Path, upstream_url: str, key: str) -> tuple[subprocess.Popen, str]:
    """The LiteLLM proxy (installed by bench/litellm.sh into bench/.venv-litellm) with the same
    SigV4 deployment as the gateway's `bench-chat`, one worker, logging off."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        raise SystemExit(f"--with-litellm: {exe} is missing; run: bash bench/litellm.sh")
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "bench-chat", "litellm_params": {
            "model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws_bedrock_runtime_endpoint": upstream_url, "aws_region_name": "us-east-1",
            "aws_access_key_id": "AKIDEXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}}],
        "general_settings": {"master_key": key},
        "litellm_settings": {"telemetry": False},
    }))
    env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", LITELLM_MODE="PRODUCTION",
               DISABLE_SCHEMA_UPDATE="true")
    proc = subprocess.Popen([str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], stdout=open(tmp / "litellm.log", "wb"),
                            stderr=subprocess.STDOUT, env=env)
    wait_port(port, proc, "litellm", timeout=180)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def family(pid: int) -> list[int]:
    """`pid` and its direct children (nginx master + workers)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(c) for c in children)
    except OSError:
        pass
    return sorted(set(pids))


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total


def machine_busy_ticks() -> int:
    """Busy (non-idle, non-iowait) CPU ticks of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def children_ticks() -> float:
    """CPU ticks used so far by waited-for children (wrk)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * CLK_TCK


def status_kb(pids: list[int], key: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- load


def check(base: str, t: Target, stream: bool) -> None:
    """One request before the load: it must succeed and look like what the scenario expects."""
    req = urllib.request.Request(base + t.path, data=(BODIES / t.body).read_bytes(), method="POST",
                                 headers={"Content-Type": "application/json", **t.headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"sanity check {base}{t.path} -> {e.code}: {e.read()[:500]!r}")
    if stream and t.first == "sse":
        ok = body.startswith(b"data: ") and body.rstrip().endswith(b"data: [DONE]")
    elif stream:
        ok = len(body) > 16
    else:
        ok = isinstance(json.loads(body), dict)
    if not ok:
        raise SystemExit(f"sanity check {base}{t.path}: unexpected answer {body[:300]!r}")


def wrk(url: str, t: Target, conns: int, seconds: float, delay_ms: int = 0) -> dict:
    env = dict(os.environ, BENCH_BODY=str(BODIES / t.body), BENCH_DELAY_MS=str(delay_ms),
               BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in t.headers.items()))
    threads = 1 if conns == 1 else 2
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(BENCH / "wrk" / "post.lua"), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def probe(tool: Path, url: str, t: Target, requests: int, conns: int, first: str | None,
          overhead: bool) -> dict:
    cmd = [str(tool), "--url", url, "--body", str(BODIES / t.body), "--requests", str(requests),
           "--warmup", str(max(50, requests // 10)), "--concurrency", str(conns)]
    for k, v in t.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if first:
        cmd += ["--first", first]
    if overhead:
        cmd += ["--overhead-header", "x-shale-overhead-ms"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"shale-bench failed: {out.stderr}")
    report = json.loads(out.stdout)
    if report["errors"]:
        raise SystemExit(f"shale-bench saw {report['errors']} errors on {url}: {report['first_error']}")
    return report


@dataclass
class Procs:
    shale: int
    nginx: list[int]
    upstream: list[int]
    litellm: list[int] = field(default_factory=list)
    shale_lean: list[int] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)


def measured_run(procs: Procs, scenario: Scenario, target: str, base: str, t: Target,
                 mode: str, conns: int, seconds: float, delay_ms: int) -> dict:
    watched = {"shale": [procs.shale], "shale-lean": procs.shale_lean, "nginx": procs.nginx,
               "upstream": procs.upstream, "litellm": procs.litellm}
    before = {k: cpu_ticks(v) for k, v in watched.items()}
    busy0, wrk0, t0 = machine_busy_ticks(), children_ticks(), time.monotonic()
    result = wrk(base + t.path, t, conns, seconds, delay_ms)
    busy1, wrk1, t1 = machine_busy_ticks(), children_ticks(), time.monotonic()
    after = {k: cpu_ticks(v) for k, v in watched.items()}
    ours = sum(after[k] - before[k] for k in watched) + (wrk1 - wrk0)
    other_pct = max(0.0, (busy1 - busy0) - ours) * 100 / (CLK_TCK * (t1 - t0) * (os.cpu_count() or 1))
    n = max(result["requests"], 1)
    cpu_us = {k: (after[k] - before[k]) * 1e6 / CLK_TCK / n for k in watched}
    errors = sum(result["errors"].values())
    run = {"scenario": scenario.name, "target": target, "mode": mode, "connections": conns,
           "delay_ms": delay_ms, "rps": result["requests"] / (result["duration_us"] / 1e6),
           "requests": result["requests"], "errors": errors, "latency_us": result["latency_us"],
           "cpu_us_per_request": cpu_us, "other_cpu_pct": round(other_pct, 1)}
    procs.runs.append(run)
    lat = result["latency_us"]
    print(f"  {scenario.name:12} {target:10} {mode:7} {run['rps']:9.0f} req/s  p50 {lat['p50']:6d} µs"
          f"  p99 {lat['p99']:6d} µs  errors {errors}  other CPU {other_pct:.0f} %", flush=True)
    return run


# ---------------------------------------------------------------- report


def machine() -> dict:
    def cmd(*c: str) -> str:
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1048576, 1),
        "kernel": platform.release(), "rustc": cmd("rustc", "--version"),
        "wrk": cmd("wrk", "-v").splitlines()[0] if shutil.which("wrk") else "?",
        "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        if shutil.which("nginx") else "absent",
        "commit": cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        # The results this harness writes do not make the code "uncommitted".
        "dirty": bool(cmd("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                          "--", ".", ":(exclude)bench/results")),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def find(runs: list[dict], scenario: str, target: str, mode: str) -> dict | None:
    for r in runs:
        if (r["scenario"], r["target"], r["mode"]) == (scenario, target, mode):
            return r
    return None


def verdicts(res: dict) -> list[tuple[str, str, str, bool | None]]:
    """The goals, as ratios to nginx measured in the same run (issue #33): the machine's speed
    drifts between runs, the ratio much less. `shale` is the default config (access log on),
    `shale-lean` the same with the access log off."""
    runs, out = res["runs"], []

    def add(metric, goal, value, ok):
        out.append((metric, goal, value, ok))

    def added_p50(scen: str, target: str) -> int | None:
        t, di = find(runs, scen, target, "c1"), find(runs, scen, "direct", "c1")
        return None if not (t and di) else t["latency_us"]["p50"] - di["latency_us"]["p50"]

    for gw, label in (("shale", "default config"), ("shale-lean", "access log off")):
        sh, ng = find(runs, "chat", gw, "c64"), find(runs, "chat", "nginx", "c64")
        if sh and ng:
            ratio = sh["rps"] / ng["rps"]
            goal = 0.55 if gw == "shale" else 0.6
            add(f"chat throughput, 64 connections, {label}", f"≥ {goal} × nginx",
                f"{sh['rps']:.0f} vs {ng['rps']:.0f} req/s = {ratio:.2f} ×", ratio >= goal)
    for gw, label in (("shale", "default config"), ("shale-lean", "access log off")):
        for scen in ("chat", "chat-stream", "embeddings", "passthrough"):
            a, n = added_p50(scen, gw), added_p50(scen, "nginx")
            if a is None or n is None:
                continue
            ratio = a / n if n > 0 else float("inf")
            add(f"{scen}: added p50 latency, 1 connection, {label}", "≤ 2 × nginx's added",
                f"{a} vs {n} µs = {ratio:.1f} ×", ratio <= 2)
    ttft = res.get("ttft", {})
    if "direct" in ttft and "nginx" in ttft:
        base = ttft["direct"]["ttft_us"]["p50"]
        n = ttft["nginx"]["ttft_us"]["p50"] - base
        for gw, label in (("shale", "default config"), ("shale-lean", "access log off")):
            if gw in ttft:
                a = ttft[gw]["ttft_us"]["p50"] - base
                ratio = a / n if n > 0 else float("inf")
                add(f"streaming: added time to first token (p50, 1 connection), {label}", "≤ 2 × nginx's added",
                    f"{a:.0f} vs {n:.0f} µs = {ratio:.1f} ×", ratio <= 2)
    for mode, label in (("paced", "64 paced connections"), ("c64", "64 connections flat out")):
        sh, di = find(runs, "chat", "shale", mode), find(runs, "chat", "direct", mode)
        if sh and di:
            added = sh["latency_us"]["p99"] - di["latency_us"]["p99"]
            add(f"chat: added p99 latency, {label}", "≤ 1 ms", f"{added / 1000:.2f} ms", added <= 1000)
    sh, ng = find(runs, "chat", "shale", "c64"), find(runs, "chat", "nginx", "c64")
    if sh and ng and ng["cpu_us_per_request"]["nginx"] > 0:
        a, b = sh["cpu_us_per_request"]["shale"], ng["cpu_us_per_request"]["nginx"]
        add("chat: gateway CPU per request vs nginx's, 64 connections", "≤ 1.5 × nginx",
            f"{a:.0f} vs {b:.0f} µs = {a / b:.2f} ×", a / b <= 1.5)
    rss = res["rss_kb"]["shale_peak"] / 1024
    add("shale peak RSS over the whole run", "< 50 MB", f"{rss:.1f} MB", rss < 50)
    return out


def markdown(res: dict) -> str:
    m, cfg = res["machine"], res["config"]
    lines = [
        "# shale benchmark results", "",
        f"Run {m['date']} on commit `{m['commit']}`{' (with uncommitted changes)' if m['dirty'] else ''}; "
        f"gateway binary built {res.get('binary_built', '?')} in `{cfg.get('bin_dir', '?')}`"
        f"{' (not a release build: numbers are only comparable within this run)' if 'release' not in cfg.get('bin_dir', 'release') else ''}; "
        f"Gateway config: bench/shale.yaml, the defaults (access log on) with Prometheus metrics "
        f"{'on' if cfg.get('metrics', True) else 'off (--no-metrics)'}"
        f"{'; `shale-lean` rows: the same with the access log off' if cfg.get('lean') else ''}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}; "
        f"{m['rustc']}; {m['wrk']}; {m['nginx']}.",
        f"Load generator, gateway, nginx and upstream ({UPSTREAMS.get(cfg['upstream'], cfg['upstream'])}) all share this machine; "
        f"load average before the run {' '.join(res['load_before'])}, after {' '.join(m['loadavg'])} "
        "(the benchmark itself raises it; see `other CPU %` for outside work).",
        f"wrk runs last {cfg['duration']} s each (after a {cfg['warmup']} s warm-up at 64 connections); "
        f"`paced` = 64 connections each waiting {cfg['paced_delay_ms']} ms ± 50 % between requests.",
        "Latencies are wrk's, in microseconds, full response (whole stream for streaming).",
        "Goals are ratios to nginx in this same run (added = target − direct at the same percentile): "
        "the machine's speed drifts between runs, the ratios much less.",
        "CPU µs/req is the gateway's (shale rows) or nginx's (nginx rows) user+system CPU per request; "
        "`upstream` is the upstream's. `other CPU %` = machine CPU used during the run by processes outside "
        "the benchmark (compilers of other users, …), as a share of all cores: rows with a high value were "
        "disturbed.", "",
        "## Targets", "",
        "| metric | goal | measured | |", "|---|---|---|---|",
    ]
    for metric, goal, value, ok in verdicts(res):
        lines.append(f"| {metric} | {goal} | {value} | {'✅' if ok else '❌'} |")
    lines += ["", "## Throughput and latency", "",
              "| scenario | target | load | req/s | p50 | p90 | p99 | p99.9 | max | errors | CPU µs/req | upstream CPU µs/req | other CPU % |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["runs"]:
        lat = r["latency_us"]
        own = r["cpu_us_per_request"].get(r["target"])
        lines.append(
            f"| {r['scenario']} | {r['target']} | {r['mode']} | {r['rps']:.0f} | {lat['p50']} | {lat['p90']} | "
            f"{lat['p99']} | {lat['p999']} | {lat['max']} | {r['errors']} | "
            f"{'' if own is None else f'{own:.1f}'} | {r['cpu_us_per_request']['upstream']:.1f} | "
            f"{r.get('other_cpu_pct', 0):.0f} |")
    ttft = res.get("ttft", {})
    if ttft:
        lines += ["", "## Time to first token (streaming chat, 1 connection, shale-bench)", "",
                  "First event = first complete event-stream frame (direct, nginx) or first SSE `data:` line (shale).", "",
                  "| target | requests | TTFT p50 | p90 | p99 | total p50 | total p99 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, rep in ttft.items():
            t, tot = rep["ttft_us"], rep["total_us"]
            lines.append(f"| {name} | {rep['requests']} | {t['p50']:.0f} | {t['p90']:.0f} | {t['p99']:.0f} | "
                         f"{tot['p50']:.0f} | {tot['p99']:.0f} |")
    oh = res.get("overhead", {})
    if oh:
        lines += ["", "## `x-shale-overhead-ms` (time in shale excluding the upstream call), shale-bench", "",
                  "| scenario | connections | requests | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | client p50 µs |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, rep in oh.items():
            o = rep["overhead_ms"]
            if not o:
                continue
            lines.append(f"| {name} | {rep['concurrency']} | {rep['requests']} | {o['p50'] * 1000:.0f} | "
                         f"{o['p90'] * 1000:.0f} | {o['p99'] * 1000:.0f} | {o['p999'] * 1000:.0f} | "
                         f"{o['max'] * 1000:.0f} | {rep['total_us']['p50']:.0f} |")
    r = res["rss_kb"]
    lines += ["", "## Memory", "",
              f"shale peak RSS (VmHWM) {r['shale_peak'] / 1024:.1f} MB, at the end {r['shale_end'] / 1024:.1f} MB"
              + (f" (shale-lean {r['shale_lean_peak'] / 1024:.1f} MB)" if r.get("shale_lean_peak") else "") + "; "
              f"nginx (master + workers) {r['nginx_peak'] / 1024:.1f} MB; upstream {r['upstream_peak'] / 1024:.1f} MB"
              + (f"; LiteLLM {r['litellm_peak'] / 1024:.1f} MB." if r.get("litellm_peak") else "."),
              "", "![throughput and latency](latest.svg)", ""]
    return "\n".join(lines)


UPSTREAMS = {"emulator": "the shale Bedrock emulator",
             "static": "nginx serving canned Bedrock answers from bench/static/"}

COLORS = {"direct": "#8c8c8c", "nginx": "#2b8a3e", "shale": "#1c5fd4", "shale-lean": "#7aa7f0",
          "litellm": "#c2410c"}


def svg(res: dict) -> str:
    """Two grouped bar charts: throughput at 64 connections, p50 latency at 1 connection."""
    runs = res["runs"]
    names = [s for s in res["config"]["scenarios"]]
    panels = [("Throughput, 64 connections (req/s, higher is better)", "c64", lambda r: r["rps"]),
              ("p50 latency, 1 connection (µs, lower is better)", "c1", lambda r: r["latency_us"]["p50"]),
              ("p99 latency, 64 paced connections (µs, lower is better)", "paced", lambda r: r["latency_us"]["p99"])]
    W, PH, left, top = 820, 230, 60, 40
    H = top + len(panels) * (PH + 40) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">shale benchmark — {res["machine"]["date"]}, '
           f'{res["machine"]["cores"]} cores shared by load generator, proxies and upstream</text>']
    shown = [t for t in COLORS if any(r["target"] == t for r in runs)]
    lx = W - 10 - 78 * len(shown)
    for i, (t, c) in enumerate((t, COLORS[t]) for t in shown):
        out.append(f'<rect x="{lx + i * 78}" y="28" width="10" height="10" fill="{c}"/>'
                   f'<text x="{lx + i * 78 + 14}" y="37">{t}</text>')
    for p, (title, mode, value) in enumerate(panels):
        y0 = top + 15 + p * (PH + 40)
        vals = {(n, t): value(r) for n in names for t in shown if (r := find(runs, n, t, mode))}
        vmax = max(vals.values(), default=1) * 1.15 or 1
        out.append(f'<text x="{left}" y="{y0}" font-size="12" font-weight="bold">{title}</text>')
        base = y0 + PH
        out.append(f'<line x1="{left}" y1="{base}" x2="{W - 10}" y2="{base}" stroke="#333"/>')
        gw = (W - left - 20) / max(len(names), 1)
        bw = gw / (1.2 * len(shown) + 1)
        for i, n in enumerate(names):
            gx = left + i * gw + bw / 2
            for j, t in enumerate(shown):
                v = vals.get((n, t))
                if v is None:
                    continue
                h = (PH - 25) * v / vmax
                x = gx + j * bw * 1.2
                out.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{COLORS[t]}"/>')
                out.append(f'<text x="{x + bw / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle" font-size="9">{v:.0f}</text>')
            out.append(f'<text x="{gx + bw * 0.6 * len(shown):.1f}" y="{base + 14}" text-anchor="middle">{n}</text>')
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up seconds before each 64-connection scenario")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--paced-delay-ms", type=int, default=20, help="think time of paced clients (default 20)")
    ap.add_argument("--scenarios", default="chat,chat-stream,embeddings,passthrough,chat-key")
    ap.add_argument("--modes", default="c1,c64,paced")
    ap.add_argument("--probe-requests", type=int, default=1000, help="requests per shale-bench probe (default 1000)")
    ap.add_argument("--upstream", default="emulator",
                    help="emulator (default: the shale Bedrock emulator), static (nginx serving canned answers "
                         "from bench/static/), or a Bedrock-compatible URL")
    ap.add_argument("--no-nginx", action="store_true", help="skip the nginx comparison")
    ap.add_argument("--with-litellm", action="store_true",
                    help="also run the LiteLLM proxy (bench/.venv-litellm, see bench/litellm.sh) for chat and "
                         "chat-stream, as a peer")
    ap.add_argument("--no-metrics", action="store_true",
                    help="run the gateway with Prometheus metrics off (bench/shale.yaml has them on)")
    ap.add_argument("--no-lean", action="store_true",
                    help="skip the second gateway (`shale-lean`: the same config with the access log off)")
    ap.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the gateway, e.g. SHALE_WORKERS=1 (repeatable)")
    ap.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    ap.add_argument("--out", default=str(BENCH / "results"))
    args = ap.parse_args()

    bins = Path(args.bin_dir)
    for b in ("shale", "shale-bench") + (("shale-emulator",) if args.upstream == "emulator" else ()):
        if not (bins / b).exists():
            raise SystemExit(f"missing {bins / b}; build with: cargo build --release -p shale -p shale-emulator -p shale-bench")
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found (apt-get install wrk)")
    use_nginx = not args.no_nginx and shutil.which("nginx") is not None
    if args.upstream == "static" and not shutil.which("nginx"):
        raise SystemExit("--upstream static needs nginx (apt-get install nginx-light)")
    if not args.no_nginx and not use_nginx:
        print("nginx not found: skipping the nginx comparison (apt-get install nginx)", file=sys.stderr)

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    key = "sk-bench-" + secrets.token_hex(12)
    all_scenarios = {s.name: s for s in scenarios(key)}
    chosen = [all_scenarios[n] for n in args.scenarios.split(",") if n]
    modes = [m for m in args.modes.split(",") if m]
    tmp = Path(tempfile.mkdtemp(prefix="shale-bench-"))
    emulator = nginx = gateway = lean = static = litellm = None
    finished = False
    try:
        if args.upstream == "emulator":
            emulator, upstream_url = start_announcing(
                [str(bins / "shale-emulator"), "--listen", "127.0.0.1:0"], "shale-emulator listening on",
                tmp / "emulator.log")
        elif args.upstream == "static":
            static, upstream_url = start_static_upstream(tmp)
        else:
            upstream_url = args.upstream.rstrip("/")
        hostport = upstream_url.split("://", 1)[1].split("/", 1)[0]
        if use_nginx:
            nginx, nginx_port = start_nginx(tmp, hostport)
        env = dict(os.environ, SHALE_BENCH_UPSTREAM=upstream_url, SHALE_BENCH_KEY=key)
        env.setdefault("RUST_LOG", "info")
        env.update(kv.split("=", 1) for kv in args.gateway_env)
        metrics = not args.no_metrics
        gateway, shale_url = start_gateway(bins, gateway_config(tmp, metrics=metrics), tmp, "shale", env)
        bases = {"direct": upstream_url, "shale": shale_url}
        if not args.no_lean:
            lean, bases["shale-lean"] = start_gateway(bins, gateway_config(tmp, lean=True, metrics=metrics), tmp,
                                                      "shale-lean", env)
        if nginx:
            bases["nginx"] = f"http://127.0.0.1:{nginx_port}"
        upstream_pids = [emulator.pid] if emulator else family(static.pid) if static else []
        procs = Procs(gateway.pid, family(nginx.pid) if nginx else [], upstream_pids)
        if lean:
            procs.shale_lean = [lean.pid]
        if args.with_litellm:
            litellm, bases["litellm"] = start_litellm(tmp, upstream_url, key)
            procs.litellm = family(litellm.pid)
        print(f"upstream {upstream_url}  gateway {shale_url}  nginx {bases.get('nginx', '-')}  logs {tmp}", flush=True)

        def targets(s: Scenario):
            for target, base in bases.items():
                if target == "litellm" and s.name not in LITELLM_SCENARIOS:
                    continue
                yield target, base, (s.shale if target in ("shale", "shale-lean", "litellm") else s.direct)

        for s in chosen:
            for target, base, t in targets(s):
                check(base, t, s.stream)
        delays = {"c1": (1, 0), "c64": (args.connections, 0), "paced": (args.connections, args.paced_delay_ms)}
        for s in chosen:
            for target, base, t in targets(s):
                if args.warmup > 0:
                    wrk(base + t.path, t, args.connections, args.warmup)
                for mode in modes:
                    conns, delay = delays[mode]
                    measured_run(procs, s, target, base, t, mode, conns, args.duration, delay)

        tool = bins / "shale-bench"
        ttft, overhead = {}, {}
        if "chat-stream" in all_scenarios and args.probe_requests > 0:
            s = all_scenarios["chat-stream"]
            for target, base, t in targets(s):
                ttft[target] = probe(tool, base + t.path, t, args.probe_requests, 1, t.first,
                                     target.startswith("shale"))
                print(f"  ttft {target:10} p50 {ttft[target]['ttft_us']['p50']:.0f} µs", flush=True)
            for s in chosen:
                if not s.overhead_header:
                    continue
                for conns in (1, args.connections):
                    rep = probe(tool, shale_url + s.shale.path, s.shale, args.probe_requests, conns,
                                None, True)
                    overhead[f"{s.name}, {conns} conn"] = rep
                    if rep["overhead_ms"]:
                        print(f"  overhead {s.name} c{conns} p50 {rep['overhead_ms']['p50'] * 1000:.0f} µs", flush=True)

        rss = {"shale_peak": status_kb([gateway.pid], "VmHWM"), "shale_end": status_kb([gateway.pid], "VmRSS"),
               "shale_lean_peak": status_kb(procs.shale_lean, "VmHWM"),
               "nginx_peak": status_kb(procs.nginx, "VmHWM"),
               "upstream_peak": status_kb(upstream_pids, "VmHWM"),
               "litellm_peak": status_kb(procs.litellm, "VmHWM")}
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime((bins / "shale").stat().st_mtime))
        res = {"machine": machine(), "load_before": load_before, "binary_built": built,
               "config": {"duration": args.duration, "warmup": args.warmup, "connections": args.connections,
                          "paced_delay_ms": args.paced_delay_ms, "scenarios": [s.name for s in chosen],
                          "modes": modes, "probe_requests": args.probe_requests, "upstream": args.upstream,
                          "gateway_env": args.gateway_env, "bin_dir": str(bins),
                          "metrics": metrics, "lean": not args.no_lean},
               "runs": procs.runs, "ttft": ttft, "overhead": overhead, "rss_kb": rss}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "latest.json").write_text(json.dumps(res, indent=1) + "\n")
        (out / "latest.md").write_text(markdown(res))
        (out / "latest.svg").write_text(svg(res))
        print(f"\nwrote {out / 'latest.md'}, latest.json, latest.svg\n")
        print("\n".join(f"{'PASS' if ok else 'MISS'}  {m}: {v} (goal {g})" for m, g, v, ok in verdicts(res)))
        finished = True
    finally:
        for p in (gateway, lean, nginx, emulator, static, litellm):
            stop(p)
        if finished and not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
