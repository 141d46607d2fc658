#!/usr/bin/env python3
"""Hand-offs per request: which gateway threads a request touches, how often they sleep and are
woken, and which syscalls they make (started by `bench/handoffs.sh`).

Instruction counts (callgrind) do not show time lost between threads: a futex wake, the other
thread's wake-up (an IPI on a VM), an eventfd write to wake a runtime, an `epoll_wait` that
parks. Counts of those do not depend on how busy the machine is, so they are measured here
rather than timed. For each gateway config and scenario the gateway serves N requests, one
connection (shale-bench, after a warm-up), three times:

1. untraced: per thread, from /proc/<pid>/task/<tid>/{status,schedstat}: voluntary context
   switches (= times the thread slept and was woken again), involuntary ones, CPU time;
2. `perf trace` of the gateway: syscalls per request by thread and name, futex calls split into
   wakes and waits;
3. `perf record -e sched:sched_wakeup -a`: who woke the gateway's threads (another gateway
   thread = a hand-off inside the gateway; the client or the upstream = the socket being ready).

Writes bench/results/handoffs.{md,json}; bench/results/profile.md quotes the tables.

    python3 bench/handoffs.py --bin-dir target/release [--requests 2000] [--scenarios chat,chat-stream,passthrough]
                              [--configs default,lean] [--connections 1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import bench
import profile

RESULTS = bench.BENCH / "results"

# The gateway configs compared: `default` is what a user gets (access log on) plus Prometheus
# metrics (bench/shale.yaml); `lean` turns the access log off.
CONFIGS = {
    "default": {},
    "lean": {"access_log": False},
}


def config_file(tmp: Path, name: str) -> Path:
    """bench/shale.yaml, with the `lean` changes applied."""
    text = (bench.BENCH / "shale.yaml").read_text()
    if CONFIGS[name].get("access_log") is False:
        text = text.replace("general_settings:\n", "general_settings:\n  telemetry:\n    access_log: false\n", 1)
    path = tmp / f"shale-{name}.yaml"
    path.write_text(text)
    return path


def threads(pid: int) -> dict[int, dict]:
    """{tid: {comm, voluntary, involuntary, cpu_ns}} of the process's threads now."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
            sched = (task / "schedstat").read_text().split()
        except OSError:
            continue
        vol = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        invol = int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        out[int(task.name)] = {"comm": comm, "voluntary": vol, "involuntary": invol, "cpu_ns": int(sched[0])}
    return out


def group(comm: str) -> str:
    """Thread name without its index (shale-worker-0 → shale-worker)."""
    return re.sub(r"-\d+$", "", comm)


def untraced(pid: int, run) -> dict:
    before = threads(pid)
    run()
    after = threads(pid)
    rows = {}
    for tid, a in after.items():
        b = before.get(tid, {"voluntary": 0, "involuntary": 0, "cpu_ns": 0})
        rows[tid] = {"comm": a["comm"], "voluntary": a["voluntary"] - b["voluntary"],
                     "involuntary": a["involuntary"] - b["involuntary"],
                     "cpu_ns": a["cpu_ns"] - b["cpu_ns"]}
    return rows


TRACE_LINE = re.compile(r"^\s*[\d.]+ \(\s*[\d.]+ ms\): (?P<comm>.+?)/(?P<tid>\d+) (?P<call>\w+)\((?P<args>.*)")


def traced(pid: int, tmp: Path, tag: str, run) -> dict:
    """Syscalls of every gateway thread while `run()` runs, from `perf trace`."""
    out = tmp / f"trace-{tag}.txt"
    proc = subprocess.Popen(["perf", "trace", "-p", str(pid), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # perf trace attaches
    try:
        run()
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    calls: dict[tuple[str, str], int] = collections.Counter()
    for line in out.read_text(errors="replace").splitlines():
        m = TRACE_LINE.match(line)
        if not m:
            continue
        call = m.group("call")
        if call == "futex":
            op = re.search(r"op: (\w+)", m.group("args"))
            call = f"futex {op.group(1).lower() if op else '?'}"
        calls[(group(m.group("comm")), call)] += 1
    return dict(calls)


# `comm tid sched:sched_wakeup: comm=<woken> pid=<woken tid> …` (older kernels: `<woken>:<tid> …`).
WAKE_LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<tid>\d+)\s.*sched_wakeup: (?:comm=(?P<target>.+?) pid=|(?P<target2>.+?):)(?P<pid>\d+) ")


def wakers(pid: int, tmp: Path, tag: str, run) -> dict:
    """Who woke the gateway's threads while `run()` runs: {(woken thread group, waker): n}."""
    data = tmp / f"sched-{tag}.data"
    proc = subprocess.Popen(["perf", "record", "-e", "sched:sched_wakeup", "-a", "-o", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        run()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    tids = {tid: group(t["comm"]) for tid, t in threads(pid).items()}
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,tid,event,trace"],
                            capture_output=True, text=True, timeout=600).stdout
    counts: dict[tuple[str, str], int] = collections.Counter()
    for line in script.splitlines():
        m = WAKE_LINE.match(line)
        if not m or int(m.group("pid")) not in tids:
            continue
        waker_tid = int(m.group("tid"))
        if waker_tid in tids:
            waker = f"gateway: {tids[waker_tid]}"
        elif waker_tid == 0:
            waker = "interrupt (softirq/timer)"
        else:
            waker = group(m.group("comm").strip())
        counts[(tids[int(m.group("pid"))], waker)] += 1
    return dict(counts)


def measure(bins: Path, upstream: str, key: str, tmp: Path, config: str, scenarios: list[bench.Scenario],
            requests: int, conns: int) -> list[dict]:
    env = dict(os.environ, SHALE_BENCH_UPSTREAM=upstream, SHALE_BENCH_KEY=key, RUST_LOG="info")
    proc, url = bench.start_announcing(
        [str(bins / "shale"), "--config", str(config_file(tmp, config)), "--host", "127.0.0.1",
         "--port", "0", "--log-format", "json"], "shale listening on", tmp / f"shale-{config}.log", env)
    rows = []
    try:
        for s in scenarios:
            t = s.shale
            go = lambda: profile.sequential_load(bins, url, t, requests, conns)  # noqa: E731
            profile.sequential_load(bins, url, t, 200, conns)  # warm-up: pooled upstream connections, first allocations
            per_thread = untraced(proc.pid, go)
            calls = traced(proc.pid, tmp, f"{config}-{s.name}", go)
            wakes = wakers(proc.pid, tmp, f"{config}-{s.name}", go) if shutil.which("perf") else {}
            rows.append({"config": config, "scenario": s.name, "requests": requests, "connections": conns,
                         "threads": per_thread, "syscalls": calls, "wakeups": wakes})
            print(f"  {config:8} {s.name:12} " + summary_line(rows[-1]), flush=True)
    finally:
        bench.stop(proc)
    return rows


def summary(row: dict) -> dict:
    """Per-request figures of one measured row."""
    n = row["requests"]
    by_group: dict[str, dict] = {}
    for t in row["threads"].values():
        g = by_group.setdefault(group(t["comm"]), {"voluntary": 0, "involuntary": 0, "cpu_ns": 0})
        for k in ("voluntary", "involuntary", "cpu_ns"):
            g[k] += t[k]
    syscalls = sum(v for (_, _), v in row["syscalls"].items())
    futex_wake = sum(v for (_, c), v in row["syscalls"].items() if c.startswith("futex wake"))
    epoll = sum(v for (_, c), v in row["syscalls"].items() if c.startswith("epoll_wait") or c == "epoll_pwait")
    internal = sum(v for (_, w), v in row["wakeups"].items() if w.startswith("gateway: "))
    return {
        "syscalls": syscalls / n, "futex_wake": futex_wake / n, "epoll_wait": epoll / n,
        "switches": sum(g["voluntary"] + g["involuntary"] for g in by_group.values()) / n,
        "internal_wakeups": internal / n,
        "threads_touched": sorted(k for k, g in by_group.items() if g["voluntary"] + g["involuntary"] >= n / 100),
        "groups": {k: {"sleeps": g["voluntary"] / n, "preempted": g["involuntary"] / n,
                       "cpu_us": g["cpu_ns"] / 1000 / n} for k, g in by_group.items()},
    }


def summary_line(row: dict) -> str:
    s = summary(row)
    return (f"syscalls/req {s['syscalls']:.2f}  futex wakes {s['futex_wake']:.3f}  epoll_wait {s['epoll_wait']:.2f}  "
            f"switches {s['switches']:.2f}  gateway-internal wake-ups {s['internal_wakeups']:.3f}  "
            f"threads {','.join(s['threads_touched'])}")


def markdown(rows: list[dict], meta: str) -> str:
    md = ["# Hand-offs per request (generated by bench/handoffs.sh)", "", meta, "",
          "Per request. `switches` = context switches of all gateway threads (voluntary + involuntary: a "
          "thread that blocks in `epoll_wait` and is woken before it is switched out counts as involuntary, "
          "so on a busy machine sleeps show up in both columns; the sum is about one per blocking wait); "
          "`internal wake-ups` = wake-ups of a gateway thread by another gateway thread (futex, eventfd; "
          "from `sched_wakeup`, which misses wake-ups that race with the sleep); `threads` = thread groups "
          "that switched at least once per 100 requests. Syscall and futex counts do not depend on the "
          "machine's load; switches do (a busy machine turns sleeps into preemptions).",
          "", "| config | scenario | syscalls | futex wakes | epoll_wait | switches | internal wake-ups | threads |",
          "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        s = summary(r)
        md.append(f"| {r['config']} | {r['scenario']} | {s['syscalls']:.2f} | {s['futex_wake']:.3f} | "
                  f"{s['epoll_wait']:.2f} | {s['switches']:.2f} | {s['internal_wakeups']:.3f} | "
                  f"{', '.join(s['threads_touched'])} |")
    md += ["", "## Syscalls per request by thread", ""]
    for r in rows:
        n = r["requests"]
        md += [f"### {r['config']}, {r['scenario']}", "", "| thread | syscall | per request |", "|---|---|---:|"]
        for (g, c), v in sorted(r["syscalls"].items(), key=lambda kv: -kv[1]):
            if v / n >= 0.001:
                md.append(f"| {g} | {c} | {v / n:.3f} |")
        md += ["", "| thread | voluntary switches | involuntary | CPU µs |", "|---|---:|---:|---:|"]
        for g, x in sorted(summary(r)["groups"].items()):
            if x["sleeps"] or x["cpu_us"]:
                md.append(f"| {g} | {x['sleeps']:.3f} | {x['preempted']:.3f} | {x['cpu_us']:.1f} |")
        if r["wakeups"]:
            md += ["", "| woken thread | woken by | per request |", "|---|---|---:|"]
            for (g, w), v in sorted(r["wakeups"].items(), key=lambda kv: -kv[1]):
                if v / n >= 0.001:
                    md.append(f"| {g} | {w} | {v / n:.3f} |")
        md.append("")
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="chat,chat-stream,passthrough")
    ap.add_argument("--configs", default="default,lean")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--bin-dir", default=str(bench.ROOT / "target" / "release"))
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if not shutil.which("perf"):
        raise SystemExit("perf not found (apt-get install linux-perf)")
    bins = Path(args.bin_dir)
    key = "sk-bench-handoffs"
    all_s = {s.name: s for s in bench.scenarios(key)}
    chosen = [all_s[n] for n in args.scenarios.split(",") if n]
    tmp = Path(tempfile.mkdtemp(prefix="shale-handoffs-"))
    static, upstream = bench.start_static_upstream(tmp)
    rows = []
    try:
        for config in args.configs.split(","):
            rows += measure(bins, upstream, key, tmp, config, chosen, args.requests, args.connections)
    finally:
        bench.stop(static)
    m = bench.machine()
    meta = (f"{m['date']}, commit `{m['commit']}`{' (with uncommitted changes)' if m['dirty'] else ''}, "
            f"binaries `{bins}`, static upstream, {args.requests} requests per row over "
            f"{args.connections} connection(s); load average {' '.join(m['loadavg'])}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "handoffs.md").write_text(markdown(rows, meta) + "\n")
    (out / "handoffs.json").write_text(json.dumps(
        [{**r, "syscalls": {f"{g}\t{c}": v for (g, c), v in r["syscalls"].items()},
          "wakeups": {f"{g}\t{w}": v for (g, w), v in r["wakeups"].items()}} for r in rows], indent=1) + "\n")
    print(f"wrote {out / 'handoffs.md'} (logs in {tmp})")


if __name__ == "__main__":
    main()
