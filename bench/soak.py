"""Soak test (not in CI): mixed traffic through the real gateway for a long time while its RSS is
sampled; passes when memory is flat at the end (no leak), i.e. the mean RSS of the last fifth of
the run is within 10% (and 8 MB) of the mean of the second fifth (after warm-up).

    python bench/soak.py --minutes 30 --concurrency 50 --csv soak-rss.csv

Traffic: streamed and non-streamed chat (some hung up mid-stream, some hitting scripted upstream
faults), embeddings, hostile bodies. Uses the binaries in SHALE_BIN / SHALE_EMULATOR_BIN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import random
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "chaos"))

import chaos_common as cc  # noqa: E402


async def one(url: str, rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        body = json.dumps(cc.chat_body(stream=True, text=f"soak {rng.random()}")).encode()
        host, port = cc.host_port(url)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(cc.request_bytes("/v1/chat/completions", host, port, body))
        await writer.drain()
        if rng.random() < 0.2:  # hang up mid-stream
            await reader.read(512)
            writer.transport.abort()
            return "hangup"
        resp = await cc.read_response(reader, 120)
        writer.close()
        return f"stream {resp.status}"
    if kind < 0.75:
        resp = await cc.post(url, "/v1/chat/completions", json.dumps(cc.chat_body(stream=False)).encode())
        return f"chat {resp.status}"
    if kind < 0.9:
        resp = await cc.post(url, "/v1/embeddings", json.dumps({"model": "embed", "input": ["a", "b"]}).encode())
        return f"embed {resp.status}"
    resp = await cc.post(url, "/v1/chat/completions", bytes(rng.randrange(256) for _ in range(64)))
    return f"hostile {resp.status}"


async def traffic(url: str, emulator_url: str, deadline: float, concurrency: int, stats: dict) -> None:
    rng = random.Random(7)
    ctl = cc.control(emulator_url)

    async def worker(i: int):
        local = random.Random(i)
        while time.monotonic() < deadline:
            try:
                outcome = await one(url, local)
            except Exception as err:  # noqa: BLE001 — counted, the soak goes on
                outcome = f"client error {type(err).__name__}"
            stats[outcome] = stats.get(outcome, 0) + 1

    async def faults():
        while time.monotonic() < deadline:
            ctl.script([rng.choice([{"cut_after": 2}, {"bad_crc_at": 1}, {"exception_after": 1},
                                    {"error": {"type": "ThrottlingException"}}])])
            await asyncio.sleep(0.5)

    await asyncio.gather(faults(), *(worker(i) for i in range(concurrency)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--csv", default="soak-rss.csv")
    args = ap.parse_args()
    cc.raise_fd_limit()
    emu, emulator_url = cc.start_emulator("--stream-delay-ms", "5")
    gw, url, _ = cc.shale_harness.start_gateway(cc.gateway_config(emulator_url))
    samples: list[tuple[float, int]] = []
    stats: dict[str, int] = {}
    start = time.monotonic()
    deadline = start + args.minutes * 60

    async def sampler():
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - start, cc.proc_status(gw.pid)["VmRSS"]))
            await asyncio.sleep(5)

    async def run():
        await asyncio.gather(sampler(), traffic(url, emulator_url, deadline, args.concurrency, stats))

    try:
        asyncio.run(run())
    finally:
        peak = cc.proc_status(gw.pid)["VmHWM"]
        cc.shale_harness.stop_process(gw)
        cc.shale_harness.stop_process(emu)
    with open(args.csv, "w") as fh:
        fh.write("seconds,rss_kb\n")
        fh.writelines(f"{t:.0f},{kb}\n" for t, kb in samples)
    fifth = max(1, len(samples) // 5)
    warm = statistics.mean(kb for _, kb in samples[fifth : 2 * fifth])
    end = statistics.mean(kb for _, kb in samples[-fifth:])
    flat = end <= warm * 1.10 or end - warm <= 8 * 1024
    print(json.dumps({"minutes": args.minutes, "requests": stats, "rss_warm_mb": round(warm / 1024, 1),
                      "rss_end_mb": round(end / 1024, 1), "peak_mb": round(peak / 1024, 1), "flat": flat}, indent=1))
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
