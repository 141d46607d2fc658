#!/usr/bin/env python3
"""The response cache's benchmark (issue #30; started by `bench/cache.sh`; standard library only,
reusing bench.py's helpers).

Starts the upstream (the emulator, or `--upstream static`), the nginx reverse proxy in front of
it, a redis-server, and three gateways with bench/shale.yaml's SigV4 `bench-chat` deployment
(Prometheus on, access log off): cache off, `type: local`, `type: redis`. Then:

1. **Hit throughput** (wrk, 64 connections): the same chat request again and again — every
   request after the first is a hit — on the local and the Redis cache, plain and streaming,
   against the nginx reverse proxy of the same run forwarding the equivalent Bedrock call; and
   the miss body (below) at 64 connections with the cache off, local and Redis: a miss's real CPU.
2. **Miss cost** (callgrind, deterministic, one connection): instructions per request of a chat
   call that goes to Bedrock with the cache off, and with each cache on where every request is a
   miss (`cache: {"s-maxage": 0}`: the lookup finds the previous answer too old, the call goes to
   Bedrock, the answer is stored again) — plus the instructions of a hit. Instruction counts do not
   depend on the machine's load; the wrk numbers do (the `other CPU %` column says how much).

Writes bench/results/cache.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench
import profile

MISS_BODY = "chat-miss.json"


def gateway_config(upstream: str, key: str, cache: dict | None, router_redis: int | None = None) -> dict:
    """bench/shale.yaml's chat deployment, with `cache` as litellm_settings.cache_params (a Redis
    cache also holds the router's shared state, as in LiteLLM; `router_redis` puts the router's
    state in Redis without a cache, the baseline of a Redis cache's miss)."""
    litellm = {"callbacks": ["prometheus"]}
    if cache is not None:
        litellm.update(cache=True, cache_params=cache)
    if router_redis:
        litellm.update(redis_host="127.0.0.1", redis_port=router_redis)
    return {
        "model_list": [{"model_name": "bench-chat", "litellm_params": {
            "model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws_bedrock_runtime_endpoint": upstream,
            "aws_access_key_id": "AKIDEXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "aws_region_name": "us-east-1"}}],
        "general_settings": {"master_key": key, "telemetry": {"access_log": False}},
        "litellm_settings": litellm,
    }


def start_gateway(bins: Path, tmp: Path, name: str, cfg: dict, valgrind_out: Path | None = None):
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(cfg))
    cmd = [str(bins / "shale"), "--config", str(path), "--host", "127.0.0.1", "--port", "0", "--log-format", "json"]
    if valgrind_out:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={valgrind_out}"] + cmd
    env = dict(os.environ, RUST_LOG="info")
    return bench.start_announcing(cmd, "shale listening on", tmp / f"{name}.log", env)


def start_redis(tmp: Path) -> tuple[subprocess.Popen, int]:
    port = bench.free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=open(tmp / "redis.log", "wb"), stderr=subprocess.STDOUT)
    bench.wait_port(port, proc, "redis-server")
    return proc, port


def post(url: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()


def expect_cache(url: str, t: bench.Target, wanted: list[str]) -> None:
    """Sends the target's request len(wanted) times; the `x-shale-cache` headers must match."""
    seen = []
    for _ in wanted:
        status, headers, _ = post(url + t.path, (bench.BODIES / t.body).read_bytes(), t.headers)
        assert status == 200, status
        seen.append(headers.get("x-shale-cache", "-"))
        time.sleep(0.1)
    if seen != wanted:
        raise SystemExit(f"{url}: expected x-shale-cache {wanted}, got {seen}")


def measured(name: str, url: str, t: bench.Target, pids: dict[str, list[int]], conns: int, seconds: float) -> dict:
    before = {k: bench.cpu_ticks(v) for k, v in pids.items()}
    busy0, wrk0, t0 = bench.machine_busy_ticks(), bench.children_ticks(), time.monotonic()
    result = bench.wrk(url + t.path, t, conns, seconds)
    busy1, wrk1, t1 = bench.machine_busy_ticks(), bench.children_ticks(), time.monotonic()
    after = {k: bench.cpu_ticks(v) for k, v in pids.items()}
    ours = sum(after[k] - before[k] for k in pids) + (wrk1 - wrk0)
    other = max(0.0, (busy1 - busy0) - ours) * 100 / (bench.CLK_TCK * (t1 - t0) * (os.cpu_count() or 1))
    n = max(result["requests"], 1)
    run = {
        "name": name, "connections": conns, "rps": result["requests"] / (result["duration_us"] / 1e6),
        "errors": sum(result["errors"].values()), "latency_us": result["latency_us"],
        "cpu_us_per_request": {k: round((after[k] - before[k]) * 1e6 / bench.CLK_TCK / n, 1) for k in pids},
        "other_cpu_pct": round(other, 1),
    }
    lat = run["latency_us"]
    print(f"  {name:34} {run['rps']:9.0f} req/s  p50 {lat['p50']:6d} µs  p99 {lat['p99']:6d} µs"
          f"  errors {run['errors']}  other CPU {other:.0f} %", flush=True)
    return run


def callgrind(bins: Path, tmp: Path, name: str, cfg: dict, t: bench.Target, requests: int, warm: int) -> float:
    """Instructions per request: (Ir after `warm` + `requests` requests − Ir after `warm`) / requests."""
    totals = []
    for n in (0, requests):
        out = tmp / f"callgrind.{name}.{n}.out"
        proc, url = start_gateway(bins, tmp, f"cg-{name}-{n}", cfg, valgrind_out=out)
        try:
            for count in (warm, n):
                profile.sequential_load(bins, url, t, count)
        finally:
            bench.stop(proc)
        totals.append(profile.total_ir(out))
    per = (totals[1] - totals[0]) / requests
    print(f"  callgrind {name:26} {per:12,.0f} instructions per request", flush=True)
    return per


def markdown(res: dict) -> str:
    m, cfg = res["machine"], res["config"]
    runs = {r["name"]: r for r in res["runs"]}
    lines = [
        "# Response cache benchmark (`bash bench/cache.sh`)",
        "",
        f"Run {m['date']} on commit `{m['commit']}`{' (uncommitted changes)' if m['dirty'] else ''}, binaries in "
        f"`{cfg['bin_dir']}`; upstream: {bench.UPSTREAMS.get(cfg['upstream'], cfg['upstream'])}. "
        f"Machine: {m['cpu']}, {m['cores']} cores; load average before {' '.join(res['load_before'])}, "
        f"after {' '.join(m['loadavg'])}. wrk {cfg['duration']} s per row after a {cfg['warmup']} s warm-up; "
        "the gateway, nginx, the upstream, redis-server and wrk share the machine. `other CPU %` is the machine's "
        "CPU used by processes outside the benchmark during the row: high values mean a disturbed row.",
        "",
        "## Hits at 64 connections vs the nginx reverse proxy of the same run",
        "",
        "| row | req/s | × nginx | p50 µs | p99 µs | errors | gateway CPU µs/req | nginx | upstream | redis | other CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["runs"]:
        ref = runs.get("nginx → upstream, streaming" if "streaming" in r["name"] else "nginx → upstream")
        ratio = f"{r['rps'] / ref['rps']:.2f}" if ref else ""
        c = r["cpu_us_per_request"]
        lines.append(
            f"| {r['name']} | {r['rps']:.0f} | {ratio} | {r['latency_us']['p50']} | {r['latency_us']['p99']} | "
            f"{r['errors']} | {c.get('gateway', 0)} | {c.get('nginx', 0)} | {c.get('upstream', 0)} | "
            f"{c.get('redis', 0)} | {r['other_cpu_pct']} |")
    cg = res.get("callgrind") or {}
    if cg:
        off = cg.get("miss, cache off")
        lines += [
            "",
            f"## Instructions per request (callgrind, one connection, {cfg['callgrind_requests']} requests)",
            "",
            "| request | instructions | compared with |",
            "|---|---:|---:|",
        ]
        off_redis = cg.get("miss, cache off, router state in Redis")
        for name, ir in cg.items():
            base = off_redis if "Redis cache" in name and off_redis else off
            base_name = "cache off, router in Redis" if base is off_redis else "cache off"
            rel = f"{(ir - base) / base * 100:+.1f} % vs {base_name}" if base and ir is not base else ""
            lines.append(f"| {name} | {ir:,.0f} | {rel} |")
        lines += [
            "",
            "Callgrind counts of the whole gateway vary by about ±2 % between runs (bench/results/profile.md). "
            "A miss with the cache on does the work of a call plus the lookup (one Redis round trip, or the "
            "in-memory map), the key (one pass over the body and one SHA-256) and the store (in the "
            "background, after the answer went out: the check that it is complete and has output, and the write).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--upstream", default="emulator", choices=("emulator", "static"))
    ap.add_argument("--callgrind-requests", type=int, default=300, help="0: no callgrind")
    ap.add_argument("--bin-dir", default=str(bench.ROOT / "target" / "release"))
    ap.add_argument("--out", default=str(bench.BENCH / "results"))
    args = ap.parse_args()
    bins = Path(args.bin_dir)
    for tool in ("wrk", "nginx", "redis-server") + (("valgrind",) if args.callgrind_requests else ()):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found")
    key = "sk-bench-" + secrets.token_hex(12)
    bearer = {"Authorization": f"Bearer {key}"}
    upstream_auth = {"Authorization": f"Bearer {bench.BEDROCK_KEY}"}
    chat = bench.Target("/v1/chat/completions", "chat.json", bearer, "sse")
    stream = bench.Target("/v1/chat/completions", "chat-stream.json", bearer, "sse")
    miss = bench.Target("/v1/chat/completions", MISS_BODY, bearer, "sse")
    converse = bench.Target(f"/model/{bench.CLAUDE}/converse", "converse.json", upstream_auth, "frame")
    converse_stream = bench.Target(f"/model/{bench.CLAUDE}/converse-stream", "converse.json", upstream_auth, "frame")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="shale-cache-bench-"))
    procs: list = []
    try:
        if args.upstream == "emulator":
            upstream, upstream_url = bench.start_announcing(
                [str(bins / "shale-emulator"), "--listen", "127.0.0.1:0"], "shale-emulator listening on",
                tmp / "emulator.log")
            upstream_pids = [upstream.pid]
        else:
            upstream, upstream_url = bench.start_static_upstream(tmp)
            upstream_pids = bench.family(upstream.pid)
        procs.append(upstream)
        nginx, nginx_port = bench.start_nginx(tmp, upstream_url.split("://", 1)[1])
        procs.append(nginx)
        redis, redis_port = start_redis(tmp)
        procs.append(redis)
        configs = {
            "off": gateway_config(upstream_url, key, None),
            "off-redis": gateway_config(upstream_url, key, None, router_redis=redis_port),
            "local": gateway_config(upstream_url, key, {"type": "local"}),
            "redis": gateway_config(upstream_url, key, {"type": "redis", "host": "127.0.0.1", "port": redis_port}),
        }
        gateways = {}
        for name, cfg in configs.items():
            if name == "off-redis":
                continue
            proc, url = start_gateway(bins, tmp, name, cfg)
            procs.append(proc)
            gateways[name] = (proc, url)
        nginx_url = f"http://127.0.0.1:{nginx_port}"
        print(f"upstream {upstream_url}  nginx {nginx_url}  redis :{redis_port}  logs {tmp}", flush=True)
        for name in ("local", "redis"):
            expect_cache(gateways[name][1], chat, ["miss", "hit"])
            expect_cache(gateways[name][1], stream, ["miss", "hit"])
            expect_cache(gateways[name][1], miss, ["miss", "miss"])

        def pids(gateway: str | None) -> dict[str, list[int]]:
            out = {"nginx": bench.family(nginx.pid), "upstream": upstream_pids, "redis": [redis.pid]}
            if gateway:
                out["gateway"] = [gateways[gateway][0].pid]
            return out

        rows = [
            ("nginx → upstream", nginx_url, converse, None),
            ("shale, cache off (every call to Bedrock)", gateways["off"][1], chat, "off"),
            ("shale, local cache, hits", gateways["local"][1], chat, "local"),
            ("shale, Redis cache, hits", gateways["redis"][1], chat, "redis"),
            ("shale, cache off, the miss body", gateways["off"][1], miss, "off"),
            ("shale, local cache, misses", gateways["local"][1], miss, "local"),
            ("shale, Redis cache, misses", gateways["redis"][1], miss, "redis"),
            ("nginx → upstream, streaming", nginx_url, converse_stream, None),
            ("shale, local cache, streaming hits", gateways["local"][1], stream, "local"),
            ("shale, Redis cache, streaming hits", gateways["redis"][1], stream, "redis"),
        ]
        runs = []
        for name, url, t, gw in rows:
            if args.warmup:
                bench.wrk(url + t.path, t, args.connections, args.warmup)
            runs.append(measured(name, url, t, pids(gw), args.connections, args.duration))
        for name, _ in gateways.items():
            bench.stop(gateways[name][0])
        cg = {}
        if args.callgrind_requests:
            n = args.callgrind_requests
            cg["miss, cache off"] = callgrind(bins, tmp, "off", configs["off"], miss, n, 0)
            cg["miss, local cache"] = callgrind(bins, tmp, "local-miss", configs["local"], miss, n, 0)
            cg["miss, cache off, router state in Redis"] = callgrind(
                bins, tmp, "off-redis", configs["off-redis"], miss, n, 0)
            cg["miss, Redis cache (router state in Redis too)"] = callgrind(
                bins, tmp, "redis-miss", configs["redis"], miss, n, 0)
            cg["hit, local cache"] = callgrind(bins, tmp, "local-hit", configs["local"], chat, n, 1)
            cg["hit, Redis cache"] = callgrind(bins, tmp, "redis-hit", configs["redis"], chat, n, 1)
        res = {"machine": bench.machine(), "load_before": load_before,
               "config": {"duration": args.duration, "warmup": args.warmup, "connections": args.connections,
                          "upstream": args.upstream, "bin_dir": str(bins), "callgrind_requests": args.callgrind_requests},
               "runs": runs, "callgrind": cg}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cache.json").write_text(json.dumps(res, indent=1) + "\n")
        (out / "cache.md").write_text(markdown(res))
        print(f"\nwrote {out / 'cache.md'}")
    finally:
        for p in procs:
            bench.stop(p)
        if not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
