"""A container engine for the image tests: podman's Docker-compatible API socket in a directory of its
own, the stand-in base images (docker/local-base-images.sh) and the Docker CLI pointed at it, so the
README's `docker build` / `docker run` lines run as written.

Where podman cannot work the tests are skipped — except under CI=true, where they fail: CI must
build and run the image, never pass by skipping it.

SHALE_PODMAN_DIR=/some/dir keeps images and build caches there between runs (a warm rebuild);
otherwise everything lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pkg_common import DOCKER_DIR, REPO

README = REPO / "README.md"
IMAGE = "shale"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str):
    """Skip locally; fail under CI (the image must really be built and run there)."""
    if in_ci():
        pytest.fail(f"CI=true and the container tests cannot run: {reason}")
    pytest.skip(reason)


# --- README commands ----------------------------------------------------------------------------


def readme_docker_commands() -> list[str]:
    """Every `docker ...` command of the README's sh blocks, as written (continuation lines kept)."""
    commands: list[str] = []
    for lang, text in re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(), flags=re.S | re.M):
        if lang != "sh":
            continue
        current = ""
        for line in text.splitlines(keepends=True):
            current += line
            if line.rstrip("\n").endswith("\\"):
                continue
            if current.lstrip().startswith("docker "):
                commands.append(current.strip())
            current = ""
    return commands


def readme_command(predicate, what: str) -> str:
    found = sorted({c for c in readme_docker_commands() if predicate(c)})
    assert len(found) == 1, f"expected one README {what} line, found {found}"
    return found[0]


def readme_build_line() -> str:
    return readme_command(lambda c: c.startswith("docker build"), "`docker build`")


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class Engine:
    dir: Path
    env: dict[str, str]
    docker: str
    service: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def podman(self, *args: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        done = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw)
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def cli(self, *args: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        """The Docker CLI, on podman's socket."""
        done = subprocess.run([self.docker, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw)
        if check:
            assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def shell(self, line: str, *, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 60,
              ) -> subprocess.CompletedProcess:
        """A README line, run as written by bash."""
        return subprocess.run(["bash", "-c", line], cwd=cwd, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)

    def inspect(self, name: str) -> dict:
        """podman's view of a container or image (not the Docker API's, which drops fields such as
        an image's health check)."""
        return json.loads(self.podman("inspect", name).stdout)[0]

    def containers(self) -> list[dict]:
        """All containers: {"Id", "Names": [...], "Command": [...], "State", "Image", ...}."""
        return json.loads(self.podman("ps", "--all", "--format", "json").stdout or "[]")

    def remove_all(self) -> None:
        self.podman("rm", "--all", "--force", "--time", "2", check=False, timeout=120)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        unavailable(f"`{name}` is not installed (tests/run-all.sh installs it)")
    return found


def start_engine() -> Engine:
    for tool in ("podman", "mmdebstrap", "rustc", "runc"):
        _tool(tool)
    docker = _tool("docker")
    if os.geteuid() != 0:
        unavailable("the container tests run podman as root (mmdebstrap, rootful networking)")

    keep = os.environ.get("SHALE_PODMAN_DIR")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="shale-podman-"))
    exports = subprocess.run(["bash", str(DOCKER_DIR / "podman-env.sh"), str(base)],
                             capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for name, value in re.findall(r"^export (\w+)='?([^'\n]*)'?$", exports, flags=re.M):
        env[name] = value
    env.pop("DOCKER_CONTEXT", None)
    engine = Engine(dir=base, env=env, docker=docker)

    info = engine.podman("info", "--format", "json", check=False, timeout=60)
    if info.returncode != 0:
        unavailable(f"podman does not work here: {info.stderr.strip()[-2000:]}")

    socket_path = Path(env["DOCKER_HOST"].removeprefix("unix://"))
    socket_path.unlink(missing_ok=True)
    log = open(base / "service.log", "ab")
    engine.service = subprocess.Popen(["podman", "system", "service", "--time=0", env["DOCKER_HOST"]],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not _pings(socket_path):
        if engine.service.poll() is not None or time.monotonic() > deadline:
            stop_engine(engine)
            unavailable("podman's API socket did not come up: "
                        f"{(base / 'service.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)

    started = time.monotonic()
    images = subprocess.run(["bash", str(DOCKER_DIR / "local-base-images.sh")], env=env, capture_output=True,
                            text=True, timeout=900)
    engine.timings["base images"] = time.monotonic() - started
    if images.returncode != 0:
        stop_engine(engine)
        pytest.fail(f"docker/local-base-images.sh failed:\n{images.stdout}\n{images.stderr}")
    return engine


def _pings(path: Path) -> bool:
    """GET /_ping on the Docker API socket answers OK."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            answer = s.recv(4096)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0] + b" "


def stop_engine(engine: Engine) -> None:
    engine.remove_all()
    if engine.service is not None and engine.service.poll() is None:
        engine.service.terminate()
        try:
            engine.service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.service.kill()
            engine.service.wait()
    if os.environ.get("SHALE_PODMAN_DIR"):
        return
    engine.podman("system", "reset", "--force", check=False, timeout=300)
    # overlay keeps its graph root bind-mounted; unmount whatever is left below the directory
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(engine.dir))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    shutil.rmtree(engine.dir, ignore_errors=True)


# --- processes ----------------------------------------------------------------------------------


class Lines:
    """The output lines of a running process, read on a thread so waits can time out."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                m = re.search(pattern, line)
                if m:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.seen))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended ({self.proc.wait()}) before {pattern!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)

    def rest(self, timeout: float = 5) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
        return "\n".join(self.seen)


def process_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict (host view of a container's process)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def root_mount_options(pid: int) -> set[str]:
    """Mount options of `/` as the process sees it (its own mount namespace; the last `/` mount is the
    one in effect)."""
    roots = [line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
             if line.split()[4] == "/"]
    assert roots, f"no / in /proc/{pid}/mountinfo"
    return set(roots[-1][5].split(","))
