"""Shared helpers for the packaging tests: repo paths, YAML loading, Kubernetes
schema validation and Compose-style variable interpolation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Iterable

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DOCKER_DIR = REPO / "docker"
K8S_DIR = REPO / "deploy" / "kubernetes"
CHART_DIR = REPO / "deploy" / "helm" / "shale"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

# Oldest version the chart declares support for, and the newest schemas shipped.
K8S_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

CONTAINER_PORT = 4000
LIVENESS_PATH = "/health/liveliness"
READINESS_PATH = "/health/readiness"
MASTER_KEY_ENV = "SHALE_MASTER_KEY"
NONROOT_UID = 65532


def workspace_version() -> str:
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    return cargo["workspace"]["package"]["version"]


def workspace_rust_version() -> str:
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    return cargo["workspace"]["package"]["rust-version"]


def load_docs(text: str) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


def validate_k8s(doc: dict[str, Any], versions: Iterable[str] = K8S_VERSIONS) -> None:
    """Strict schema validation (unknown fields rejected) against each version."""
    for version in versions:
        kubernetes_validate.validate(doc, version, strict=True)


def by_kind(docs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(docs: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    items = docs.get(kind, [])
    assert len(items) == 1, f"expected exactly one {kind}, found {len(items)}"
    return items[0]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\$")


class MissingVariable(Exception):
    """A `${VAR:?message}` reference whose variable is unset."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-file interpolation: ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?err}, ${VAR?err} and $$ escapes (enough for our files)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name)
        empty_counts = op is not None and op.startswith(":")
        missing = value is None or (empty_counts and value == "")
        if op and op.endswith("-"):
            return arg if missing else value  # type: ignore[return-value]
        if op and op.endswith("?"):
            if missing:
                raise MissingVariable(f"{name}: {arg}")
            return value  # type: ignore[return-value]
        return value or ""

    return _VAR.sub(sub, text)


def shale_binary() -> Path | None:
    """The binary under test: `SHALE_BIN` when set (as in tests/run-all.sh; it must exist), else
    the most recently built of target/debug and target/release — never a stale build just
    because it is a release one. Tests never build one."""
    from_env = os.environ.get("SHALE_BIN")
    if from_env:
        path = Path(from_env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"SHALE_BIN={from_env} is not an executable file")
        return path
    built = [
        REPO / "target" / profile / "shale"
        for profile in ("debug", "release")
        if (REPO / "target" / profile / "shale").is_file()
    ]
    if built:
        return max(built, key=lambda p: p.stat().st_mtime)
    found = shutil.which("shale")
    return Path(found) if found else None


def shale_check(config: Path) -> None:
    """Runs `shale check CONFIG` (the gateway's own config loader); skips the
    calling test when no binary with that subcommand has been built."""
    import pytest

    binary = shale_binary()
    if binary is None:
        pytest.skip("no built shale binary (cargo build -p shale) to run `shale check`")
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    if not re.search(r"^\s+check\b", help_text, re.M):
        pytest.skip("this shale build has no `check` subcommand")
    env = {**os.environ, MASTER_KEY_ENV: "sk-test"}
    proc = subprocess.run([binary, "check", str(config)], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 0, f"shale check {config.name}:\n{proc.stdout}{proc.stderr}"
