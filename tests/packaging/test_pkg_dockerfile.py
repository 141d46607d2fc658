"""Dockerfile and .dockerignore: hadolint-clean, multi-stage, non-root,
health-checked, and building exactly the binaries the workspace produces."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import pkg_dockerfile as dockerfile
from pkg_common import (
    CONTAINER_PORT,
    DOCKERFILE,
    DOCKERIGNORE,
    LIVENESS_PATH,
    NONROOT_UID,
    REPO,
    workspace_rust_version,
)

BINARIES = ("shale", "shale-emulator")


def hadolint_bin() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint not installed: pip install -r tests/packaging/requirements.txt"
    return found


def hadolint(path: Path) -> list[dict]:
    proc = subprocess.run(
        [hadolint_bin(), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # exit 1 just means "findings"; anything else (or no JSON) is a broken run
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)
    assert isinstance(findings, list)
    return findings


def stages():
    return dockerfile.read(DOCKERFILE)[1]


def final():
    return stages()[-1]


def builder():
    return stages()[0]


# --- linter ----------------------------------------------------------------------------------


def test_hadolint_reports_nothing():
    findings = hadolint(DOCKERFILE)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_catches_bad_dockerfiles(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\nUSER root\nCMD curl x\n")
    codes = {f["code"] for f in hadolint(bad)}
    assert {"DL3007", "DL3002"} <= codes


# --- structure -------------------------------------------------------------------------------


def test_multi_stage_with_minimal_non_root_runtime():
    all_stages = stages()
    assert len(all_stages) >= 2, "not a multi-stage build"
    assert all_stages[0].image.startswith("rust:"), "builder is not a Rust toolchain image"
    runtime = all_stages[-1].image
    assert re.match(r"(gcr\.io/distroless/cc-debian\d+:nonroot|debian:[a-z]+-slim)", runtime), runtime
    # nothing from the builder image leaks: the runtime does not build FROM it
    assert runtime not in {s.name for s in all_stages}


def test_base_images_pinned_by_tag():
    for stage in stages():
        image = stage.image
        assert "$" not in image, f"unresolved ARG in FROM {image}"
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in ("", "latest"), f"{image} is not pinned by tag"


DEBIAN_RELEASES = {"bullseye": "11", "bookworm": "12", "trixie": "13"}


def test_builder_and_runtime_share_a_debian_release():
    """A binary linked against a newer glibc than the runtime's does not start."""
    builder_release = builder().image.split(":", 1)[1].rsplit("-", 1)[-1]
    assert builder_release in DEBIAN_RELEASES, f"builder tag names no Debian release: {builder().image}"
    runtime = final().image
    distroless = re.search(r"-debian(\d+)", runtime)
    runtime_version = distroless.group(1) if distroless else DEBIAN_RELEASES.get(runtime.split(":")[1].split("-")[0])
    assert runtime_version == DEBIAN_RELEASES[builder_release], f"{builder().image} vs {runtime}"


def test_builder_toolchain_meets_workspace_msrv():
    image_tag = builder().image.split(":", 1)[1]
    version = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", image_tag).groups())
    msrv = tuple(int(x) for x in workspace_rust_version().split(".")[:2])
    assert version >= msrv, f"rust:{image_tag} is older than rust-version {workspace_rust_version()}"


def test_release_build_of_both_binaries_with_locked_deps():
    runs = " ".join(i.args for i in builder().all("RUN"))
    assert "cargo build" in runs
    for flag in ("--release", "--locked"):
        assert flag in runs, f"cargo build without {flag}"
    for binary in BINARIES:
        assert re.search(rf"-p {re.escape(binary)}(\s|$)", runs), f"cargo build does not build {binary}"
    assert "--mount=type=cache" in runs, "no dependency caching for cargo"


def test_workspace_produces_the_binaries_the_image_copies():
    for binary in BINARIES:
        crate = REPO / "crates" / binary
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        assert manifest["package"]["name"] == binary
        declared = [b for b in manifest.get("bin", []) if b.get("name") == binary]
        if declared:
            source = crate / declared[0].get("path", f"src/bin/{binary}.rs")
        else:
            source = crate / "src" / "main.rs"
        assert source.is_file(), f"crate {binary} has no `{binary}` binary source ({source.relative_to(REPO)})"


def test_runtime_contains_both_binaries_from_the_builder():
    copies = {}
    builder_name = builder().name
    for ins in final().all("COPY"):
        flags, rest = ins.flags_and_rest()
        src, dst = rest.split()
        copies[dst] = (flags.get("from"), src)
    for binary in BINARIES:
        dst = f"/usr/local/bin/{binary}"
        assert dst in copies, f"runtime image lacks {dst}"
        assert copies[dst][0] == builder_name, f"{dst} is not copied from the builder stage"
        assert copies[dst][1].endswith(f"/{binary}")


def test_runs_as_non_root_user():
    user = final().last("USER")
    assert user is not None, "no USER in the runtime stage"
    name = user.args.split(":")[0]
    assert name not in ("root", "0"), "runtime stage runs as root"
    assert name in (str(NONROOT_UID), "nonroot"), f"unexpected user {name}"
    # USER must come before ENTRYPOINT takes effect: it is the last USER
    keywords = [i.keyword for i in final().instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_exposes_the_gateway_port():
    exposed = [p.split("/")[0] for i in final().all("EXPOSE") for p in i.args.split()]
    assert str(CONTAINER_PORT) in exposed


def test_healthcheck_uses_shale_itself():
    hc = final().last("HEALTHCHECK")
    assert hc is not None, "no HEALTHCHECK"
    flags, rest = hc.flags_and_rest()
    for flag in ("interval", "timeout", "retries"):
        assert flag in flags, f"HEALTHCHECK without --{flag}"
    assert rest.startswith("CMD "), "HEALTHCHECK must run a command"
    argv = json.loads(rest[4:])
    assert Path(argv[0]).name == "shale" and argv[1] == "healthcheck", argv
    if "--url" in argv:
        url = argv[argv.index("--url") + 1]
        assert url == f"http://127.0.0.1:{CONTAINER_PORT}{LIVENESS_PATH}", url


def test_entrypoint_and_default_command():
    entrypoint = final().last("ENTRYPOINT").exec_form()
    assert entrypoint and Path(entrypoint[0]).name == "shale" and len(entrypoint) == 1, entrypoint
    # `docker run IMAGE --config /config.yaml` replaces only CMD
    assert final().last("CMD").exec_form() == ["--config", "/app/config.yaml"]


# --- build context ---------------------------------------------------------------------------


def test_build_context_sources_exist_and_are_not_ignored():
    ignore = DOCKERIGNORE.read_text()
    for stage in stages():
        for ins in stage.all("COPY"):
            flags, rest = ins.flags_and_rest()
            if "from" in flags:
                continue
            *sources, _ = rest.split()
            for src in sources:
                path = REPO / src
                assert path.exists(), f"COPY {src}: not in the repository"
                assert not dockerignore_excludes_tree(ignore, path), f"COPY {src}: excluded by .dockerignore"


def test_files_the_crates_compile_in_are_in_the_build_context():
    """include_str!/include_bytes! paths (e.g. `shale demo`'s ../../../config/demo.yaml) resolve to
    files the builder stage copies and .dockerignore lets through: the image build compiles only
    what the context holds."""
    ignore = DOCKERIGNORE.read_text()
    copied = []
    for ins in builder().all("COPY"):
        flags, rest = ins.flags_and_rest()
        if "from" not in flags:
            copied += [(REPO / src).resolve() for src in rest.split()[:-1]]
    included = []
    for source in (REPO / "crates").rglob("*.rs"):
        if "target" in source.parts:
            continue
        for rel in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', source.read_text()):
            included.append((source, (source.parent / rel).resolve()))
    assert included, "no include_str!/include_bytes! found: the scan is broken"
    for source, path in included:
        where = f"{path.relative_to(REPO)} (from {source.relative_to(REPO)})"
        assert path.is_file(), f"{where} does not exist"
        assert any(path == c or c in path.parents for c in copied), f"{where} is not copied by the builder"
        assert not dockerfile.dockerignore_excludes(ignore, str(path.relative_to(REPO))), f"{where} is .dockerignored"


def dockerignore_excludes_tree(ignore: str, path: Path) -> bool:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "target" not in p.parts]
    rel = [str(f.relative_to(REPO)) for f in files]
    needed = [r for r in rel if r.endswith((".rs", ".toml", ".lock"))]
    return any(dockerfile.dockerignore_excludes(ignore, r) for r in needed)


@pytest.mark.parametrize(
    "path, excluded",
    [
        ("target/release/shale", True),
        (".git/HEAD", True),
        (".venv/bin/python", True),
        ("config.yaml", True),
        ("crates/shale/target/debug/shale", True),
        ("Cargo.toml", False),
        ("Cargo.lock", False),
        ("crates/shale/src/main.rs", False),
    ],
)
def test_dockerignore_keeps_local_state_out(path, excluded):
    assert dockerfile.dockerignore_excludes(DOCKERIGNORE.read_text(), path) is excluded


def test_parser_sees_a_removed_user(tmp_path):
    """The structural checks read the real file: a copy without USER is caught."""
    text = "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("USER"))
    _, parsed = dockerfile.parse(text)
    assert parsed[-1].last("USER") is None
