#!/usr/bin/env python3
"""Where shale's time goes (started by `bench/profile.sh`).

1. callgrind (deterministic): runs the gateway under `valgrind --tool=callgrind` twice - once
   idle, once serving N requests of a scenario - and reports instructions per request
   ((Ir_N - Ir_0) / N) and the functions with the highest inclusive and self cost.
2. perf (sampling, when available): records the gateway with `perf record -e cpu-clock -g` while
   wrk drives 64 connections, and reports the top symbols by self time.

Writes bench/results/profile.md (+ the raw annotate output next to it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import bench

RESULTS = bench.BENCH / "results"
# profile.md keeps everything above this line (hand-written step-by-step notes) when regenerated.
MARKER = "<!-- generated below by bench/profile.sh -->"

# Frames worth showing in the inclusive table (the rest are generic future/poll wrappers).
INTERESTING = re.compile(
    r"shale_|aws_sigv4|sign_request|serde_json::(de|ser)::(from|to)_|reqwest::async_impl::client::Client::execute|"
    r"hyper::proto::h1::role|hyper::proto::h1::io|hyper_util::client::legacy::client::Client<C,B>::send_request|"
    r"tower_http::trace|tower_http::request_id|uuid|tracing_subscriber|tokio::runtime::time|"
    r"tokio::runtime::scheduler::multi_thread::worker::Context::park|^malloc$|^free$|^realloc$|__memcpy|__memmove|"
    r"aws_smithy_eventstream|sha2::sha256::compress|subtle")


# The gateway config profiled: bench/shale.yaml (the defaults: access log on, plus Prometheus), or
# with --lean the same with the access log off.
CONFIG = bench.BENCH / "shale.yaml"


def callgrind_run(bins: Path, upstream: str, key: str, tmp: Path, scenario: bench.Scenario,
                  requests: int, tag: str) -> Path:
    out = tmp / f"callgrind.{tag}.out"
    env = dict(os.environ, SHALE_BENCH_UPSTREAM=upstream, SHALE_BENCH_KEY=key, RUST_LOG="info")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           str(bins / "shale"), "--config", str(CONFIG),
           "--host", "127.0.0.1", "--port", "0", "--log-format", "json"]
    proc, url = bench.start_announcing(cmd, "shale listening on", tmp / f"shale.{tag}.log", env)
    try:
        sequential_load(bins, url, scenario.shale, requests)
    finally:
        bench.stop(proc)
    return out


def sequential_load(bins: Path, url: str, t: bench.Target, requests: int, conns: int = 1) -> None:
    """`requests` requests of `t` over `conns` connections, one at a time on each (shale-bench),
    no warm-up; any error stops the run."""
    if not requests:
        return
    tool = [str(bins / "shale-bench"), "--url", url + t.path, "--body", str(bench.BODIES / t.body),
            "--requests", str(requests), "--warmup", "0", "--concurrency", str(conns), "--timeout", "120"]
    for k, v in t.headers.items():
        tool += ["-H", f"{k}: {v}"]
    done = subprocess.run(tool, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or '"errors":0' not in done.stdout:
        raise SystemExit(f"load failed: {done.stdout[-500:]} {done.stderr[-500:]}")


def total_ir(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def annotate(path: Path, inclusive: bool) -> str:
    cmd = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=99.5",
           "--auto=no", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def function_costs(text: str, inclusive: bool) -> dict[str, int]:
    """{function: Ir} from the `file:function` summary of callgrind_annotate. A function inlined
    into several files appears once per file: self costs are summed, inclusive ones take the max."""
    costs: dict[str, int] = {}
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip().endswith("file:function")) + 2
    except StopIteration:
        return costs
    for line in lines[start:]:
        if line.startswith("-----"):
            break
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)$", line)
        if not m:
            continue
        name = m.group(2).split(" [")[0]
        name = shorten(name.split(":", 1)[1] if ":" in name else name)
        ir = int(m.group(1).replace(",", ""))
        costs[name] = max(costs.get(name, 0), ir) if inclusive else costs.get(name, 0) + ir
    return costs


def top_functions(run: str, idle: str, inclusive: bool, limit: int, requests: int,
                  total: float) -> list[tuple[float, float, str]]:
    """(share of the per-request cost, Ir per request, function), start-up and idle cost removed."""
    base = function_costs(idle, inclusive)
    rows = []
    for name, ir in function_costs(run, inclusive).items():
        per = (ir - base.get(name, 0)) / requests
        if per > 0:
            rows.append((100 * per / total, per, name))
    rows.sort(key=lambda r: -r[1])
    return rows[:limit]


def shorten(name: str) -> str:
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return name if len(name) <= 140 else name[:137] + "..."


PERF_FRAMES = re.compile(
    r"shale_server::routes::chat::run_chat|shale_bedrock::client::BedrockClient::call::|sign_request|"
    r"aws_sigv4::http_request::sign::sign$|CanonicalRequest::from|generate_signing_key|"
    r"shale_translate::.*(chat_to_converse|converse_to_chat)|shale_server::body::|serde_json::ser::to_vec|"
    r"reqwest::async_impl::client::PendingRequest as core::future::future::Future>::poll|"
    r"hyper_util::client::legacy::client::Client<C,B>::send_request::|"
    r"__GI___libc_malloc|__GI___libc_free|\[k\] do_syscall_64|\[k\] tcp_sendmsg$|\[k\] __x64_sys_futex|"
    r"\[k\] __x64_sys_epoll_wait|\[k\] tcp_recvmsg$")


# Monomorphised wrappers (`poll<…>`, `call<…>`) whose names merely mention the frames above.
GENERIC_FRAME = re.compile(r"\[\.\] (poll|call|clone|clone_box|try_poll|\{async_block#\d+\})<")


def perf_report(data: Path, *args: str) -> list[str]:
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none", *args],
                         capture_output=True, text=True, timeout=900).stdout
    return [re.sub(r"\s+$", "", ln) for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]


def perf_profile(bins: Path, upstream: str, key: str, tmp: Path, scenario: bench.Scenario,
                 seconds: float) -> str:
    env = dict(os.environ, SHALE_BENCH_UPSTREAM=upstream, SHALE_BENCH_KEY=key, RUST_LOG="info")
    proc, url = bench.start_announcing(
        [str(bins / "shale"), "--config", str(CONFIG), "--host", "127.0.0.1",
         "--port", "0", "--log-format", "json"], "shale listening on", tmp / "shale.perf.log", env)
    data = tmp / "perf.data"
    try:
        t = scenario.shale
        bench.wrk(url + t.path, t, 64, 1)
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "1000", "--call-graph", "dwarf,16384",
                                "-o", str(data), "-p", str(proc.pid), "--", "sleep", str(seconds)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = bench.wrk(url + t.path, t, 64, seconds)
        rec.wait(timeout=seconds + 120)
    finally:
        bench.stop(proc)
    dso = perf_report(data, "--no-children", "--sort", "dso")
    top = perf_report(data, "--no-children", "--sort", "symbol", "--percent-limit", "0.7")
    inclusive = [ln for ln in perf_report(data, "--children", "--sort", "symbol", "--percent-limit", "0.3")
                 if PERF_FRAMES.search(ln) and not GENERIC_FRAME.search(ln)]
    clip = lambda lines: [ln[:170].rstrip() for ln in lines]  # noqa: E731
    return "\n".join([f"wrk: {result['requests']} requests in {seconds:.0f} s, "
                      f"{result['requests'] / seconds:.0f} req/s (perf running)", "",
                      "Share of the gateway's CPU by binary:"] + clip(dso[:6]) +
                     ["", "Inclusive (children) share of selected frames:"] + clip(inclusive[:40]) +
                     ["", "Top self time:"] + clip(top[:30]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="chat,chat-stream,embeddings")
    ap.add_argument("--requests", type=int, default=1000, help="requests per callgrind run")
    ap.add_argument("--perf-seconds", type=float, default=5)
    ap.add_argument("--bin-dir", default=str(bench.ROOT / "target" / "release"))
    ap.add_argument("--upstream", default="static", choices=("static", "emulator"),
                    help="static (nginx with canned answers, default) or emulator")
    ap.add_argument("--out", default=str(RESULTS), help="directory for profile.md (default bench/results)")
    ap.add_argument("--lean", action="store_true", help="profile the gateway with the access log off")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bins = Path(args.bin_dir)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    key = "sk-bench-profile"
    all_s = {s.name: s for s in bench.scenarios(key)}
    tmp = Path(tempfile.mkdtemp(prefix="shale-profile-"))
    global CONFIG
    CONFIG = bench.gateway_config(tmp, lean=args.lean)
    if args.upstream == "static":
        emulator, upstream = bench.start_static_upstream(tmp)
    else:
        emulator, upstream = bench.start_announcing(
            [str(bins / "shale-emulator"), "--listen", "127.0.0.1:0"], "shale-emulator listening on",
            tmp / "emu.log")
    previous = (out / "profile.md").read_text() if (out / "profile.md").exists() else ""
    kept = previous.split(MARKER, 1)[0] + MARKER + "\n" if MARKER in previous else ""
    md = [kept + "# Where shale's time goes (generated by bench/profile.sh)", "",
          f"{bench.machine()['date']}, commit `{bench.machine()['commit']}`, binaries `{bins}`, "
          f"upstream: {bench.UPSTREAMS[args.upstream]}, gateway config bench/shale.yaml"
          f"{' with the access log off (--lean)' if args.lean else ' (access log on, Prometheus on)'}. "
          "Instructions per request measured "
          "with callgrind as (Ir of a run serving N requests − Ir of an idle start/stop) / N, one connection; "
          "the function tables subtract the idle run too (inclusive = the function and all it calls). "
          "Under valgrind SHA-256 runs its portable code (no SHA-NI), so signing looks costlier than on the CPU; "
          "the perf section samples the real CPU.", ""]
    try:
        idle = callgrind_run(bins, upstream, key, tmp, all_s["chat"], 0, "idle")
        idle_ir = total_ir(idle)
        idle_inc, idle_self = annotate(idle, True), annotate(idle, False)
        for name in args.scenarios.split(","):
            s = all_s[name]
            run = callgrind_run(bins, upstream, key, tmp, s, args.requests, name)
            per = (total_ir(run) - idle_ir) / args.requests
            print(f"{name}: {per:,.0f} instructions per request", flush=True)
            inc = annotate(run, True)
            slf = annotate(run, False)
            (out / f"callgrind-{name}.txt").write_text("\n".join(slf.splitlines()[:250]) + "\n")
            md += [f"## {s.title}: {per:,.0f} instructions per request", "",
                   "Inclusive cost per request of the gateway's own frames and the main libraries:", "",
                   "| % of request | Ir/request | function |", "|---:|---:|---|"]
            rows = top_functions(inc, idle_inc, True, 400, args.requests, per)
            md += [f"| {p:.1f} | {ir:,.0f} | `{f}` |" for p, ir, f in rows if INTERESTING.search(f)][:45]
            md += ["", "Top self cost per request:", "", "| % of request | Ir/request | function |", "|---:|---:|---|"]
            md += [f"| {p:.1f} | {ir:,.0f} | `{f}` |" for p, ir, f in top_functions(slf, idle_self, False, 30, args.requests, per)]
            md.append("")
        if shutil.which("perf") and args.perf_seconds > 0:
            text = perf_profile(bins, upstream, key, tmp, all_s["chat"], args.perf_seconds)
            md += ["## perf, chat at 64 connections (cpu-clock samples, self time)", "", "```", text, "```", ""]
    finally:
        bench.stop(emulator)
    (out / "profile.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'profile.md'} (logs in {tmp})")


if __name__ == "__main__":
    main()
