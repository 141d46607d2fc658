"""The container image, built and run for real: the README's `docker build -t shale .` and `docker run`
lines run as written through the Docker CLI (on podman's API socket, with stand-in base images:
pkg_podman.py), docker/compose.yaml runs under a compose tool, and the Helm chart's rendered
container spec runs the same image. Checked: the demo answers a chat completion, the config mount and
SHALE_MASTER_KEY work, the image's HEALTHCHECK passes, `docker stop` ends the process cleanly within
the grace period, the process runs as uid 65532 (on a read-only root filesystem where the layout asks
for one), and the image stays small.

Skipped where podman cannot work, failed instead under CI=true. The build itself is the README's
line; a warm rebuild reuses the cache mounts (SHALE_PODMAN_DIR keeps them between runs)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import helm_python as helm
import pytest
import yaml

import pkg_k8s_checks as checks
from pkg_common import CHART_DIR, DOCKER_DIR, K8S_DIR, LIVENESS_PATH, NONROOT_UID, REPO, load_docs, workspace_version
from pkg_podman import (
    IMAGE,
    Engine,
    Lines,
    process_status,
    readme_build_line,
    readme_command,
    readme_docker_commands,
    root_mount_options,
    start_engine,
    stop_engine,
    unavailable,
)

PORT = 4000  # the README's -p 4000:4000 and compose's "4000:4000"
MAX_IMAGE_BYTES = 60 * 1000 * 1000
STOP_GRACE_SECONDS = 10  # docker stop's default
EXAMPLE_KEY_ID = "AKIDEXAMPLE"  # the emulator's default credentials (AWS's documentation examples)
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def engine():
    eng = start_engine()
    try:
        yield eng
    finally:
        stop_engine(eng)


@pytest.fixture(scope="module")
def image(engine: Engine) -> dict:
    """The README's build line, run as written; the built image's `docker inspect`."""
    line = readme_build_line()
    assert line == f"docker build -t {IMAGE} .", line
    started = time.monotonic()
    done = engine.shell(line, timeout=3600)
    engine.timings["docker build"] = time.monotonic() - started
    print(f"\n`{line}`: {engine.timings['docker build']:.0f} s (base images {engine.timings['base images']:.0f} s)")
    assert done.returncode == 0, f"{line}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return json.loads(engine.podman("image", "inspect", IMAGE).stdout)[0]


@pytest.fixture
def port_free():
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", PORT))
        except OSError as err:
            pytest.fail(f"port {PORT} (the README's -p {PORT}:{PORT}) is taken on this machine: {err}")


def http(url: str, *, key: str | None = None, body: dict | None = None, timeout: float = 10) -> tuple[int, dict | str]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            status, _ = http(url, timeout=2)
            if status == 200:
                return
            last = status
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            last = err
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s (last: {last})")


def chat(base: str, key: str, model: str) -> str:
    status, answer = http(f"{base}/v1/chat/completions", key=key,
                          body={"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
    assert status == 200, answer
    content = answer["choices"][0]["message"]["content"]
    assert isinstance(content, str) and content.strip(), answer
    return content


def container_id(engine: Engine, contains: str) -> str:
    """The running container whose command line contains `contains`."""
    matches = [c for c in engine.containers()
               if c.get("State") == "running" and contains in " ".join(c.get("Command") or [])]
    assert len(matches) == 1, f"expected one running container with {contains!r}: {engine.containers()}"
    return matches[0]["Id"]


def assert_healthy(engine: Engine, name: str) -> None:
    """The container's own HEALTHCHECK, run now (periodic runs need systemd timers under podman)."""
    done = engine.podman("healthcheck", "run", name, check=False, timeout=30)
    assert done.returncode == 0, f"healthcheck of {name}: {done.returncode} {done.stdout}{done.stderr}"


def assert_non_root(engine: Engine, name: str, *, read_only: bool) -> None:
    pid = engine.inspect(name)["State"]["Pid"]
    assert pid > 0
    uids = process_status(pid)["Uid"].split()
    gids = process_status(pid)["Gid"].split()
    assert uids == [str(NONROOT_UID)] * 4, f"{name} runs as uid {uids}"
    assert gids == [str(NONROOT_UID)] * 4, f"{name} runs as gid {gids}"
    options = root_mount_options(pid)
    assert ("ro" in options) is read_only, f"{name}: / mounted {options}"


def stop_cleanly(engine: Engine, name: str) -> float:
    """`docker stop` (SIGTERM, then SIGKILL after the grace period): the process must exit 0 well
    within the grace period, not be killed."""
    started = time.monotonic()
    engine.cli("stop", "-t", str(STOP_GRACE_SECONDS), name, timeout=STOP_GRACE_SECONDS + 30)
    took = time.monotonic() - started
    assert took < STOP_GRACE_SECONDS - 2, f"docker stop {name} took {took:.1f} s (SIGKILL at {STOP_GRACE_SECONDS} s)"
    return took


DEMO_RUN = (lambda c: c.startswith("docker run") and " demo" in c, "`docker run ... demo`")
CONFIG_RUN = (lambda c: c.startswith("docker run") and "--config" in c, "`docker run ... --config`")


def test_every_readme_docker_line_is_run_here():
    """The README's docker lines are exactly the build line and the two run lines the tests below run."""
    run_here = {readme_build_line(), readme_command(*DEMO_RUN), readme_command(*CONFIG_RUN)}
    assert set(readme_docker_commands()) == run_here
    assert readme_build_line() == f"docker build -t {IMAGE} ."


# --- the image ----------------------------------------------------------------------------------


def test_image_is_small_non_root_and_health_checked(image):
    size = image["Size"]
    print(f"\nimage {IMAGE}: {size / 1e6:.1f} MB")
    assert size <= MAX_IMAGE_BYTES, f"image is {size / 1e6:.1f} MB (limit {MAX_IMAGE_BYTES / 1e6:.0f} MB)"
    config = image["Config"]
    assert config["User"] in (f"{NONROOT_UID}:{NONROOT_UID}", str(NONROOT_UID)), config["User"]
    assert config["Entrypoint"] == ["/usr/local/bin/shale"]
    assert config["Cmd"] == ["--config", "/app/config.yaml"]
    health = image.get("Healthcheck") or {}
    assert health.get("Test", [])[:3] == ["CMD", "/usr/local/bin/shale", "healthcheck"], health
    assert f"http://127.0.0.1:{PORT}{LIVENESS_PATH}" in health["Test"]


def test_image_has_no_shell_and_stripped_binaries(engine, image):
    """Distroless: no /bin/sh; the binaries carry no symbols (strip) and start."""
    no_shell = engine.cli("run", "--rm", "--entrypoint", "/bin/sh", IMAGE, "-c", "true", check=False, timeout=60)
    assert no_shell.returncode != 0, "the runtime image has a shell"
    version = engine.cli("run", "--rm", IMAGE, "--version", timeout=60).stdout
    assert workspace_version() in version, version
    created = engine.cli("create", IMAGE).stdout.strip()
    try:
        exported = engine.dir / "export.tar"
        engine.cli("export", "-o", str(exported), created, timeout=120)
        listing = subprocess.run(["tar", "-tvf", str(exported)], capture_output=True, text=True, check=True).stdout
        sizes = {line.split()[-1]: int(line.split()[2]) for line in listing.splitlines() if line.startswith("-")}
        extract = engine.dir / "bins"
        extract.mkdir(exist_ok=True)
        subprocess.run(["tar", "-xf", str(exported), "-C", str(extract), "usr/local/bin"], check=True)
        exported.unlink()
    finally:
        engine.cli("rm", created, check=False)
    for binary in ("shale", "shale-emulator"):
        path = extract / "usr/local/bin" / binary
        assert sizes[f"usr/local/bin/{binary}"] < 40_000_000, f"{binary}: {sizes[f'usr/local/bin/{binary}']} bytes"
        sections = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True).stdout
        assert ".symtab" not in sections and ".debug_info" not in sections, f"{binary} is not stripped"
    shutil.rmtree(extract)


# --- README: the demo ---------------------------------------------------------------------------


def test_readme_demo_answers_a_chat_completion(engine, image, port_free):
    line = readme_command(*DEMO_RUN)
    proc = subprocess.Popen(["bash", "-c", line], cwd=REPO, env=engine.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = Lines(proc)
    try:
        key = out.wait_for(r"^key: (sk-demo-\w+)", 60).group(1)
        try_line = out.wait_for(r"^try: (curl .*)$", 10).group(1)
        out.wait_for(r"^shale listening on ", 30)
        # the printed curl line, pasted into another terminal as the README says
        pasted = subprocess.run(["bash", "-c", try_line], capture_output=True, text=True, timeout=30)
        assert pasted.returncode == 0, pasted.stderr
        answer = json.loads(pasted.stdout)
        assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"], answer
        status, _ = http(f"http://127.0.0.1:{PORT}/v1/models", key="sk-wrong")
        assert status == 401
        assert key in try_line

        name = container_id(engine, "demo")
        assert_healthy(engine, name)
        assert_non_root(engine, name, read_only=False)
        stop_cleanly(engine, name)
        assert proc.wait(timeout=30) == 0, out.rest()
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.remove_all()


# --- README: the gateway with a config and a key ---------------------------------------------------


def test_readme_run_line_with_config_mount_and_master_key(engine, image, port_free, tmp_path):
    line = readme_command(*CONFIG_RUN)
    # The upstream: the image's own Bedrock emulator, on podman's default network.
    engine.cli("run", "-d", "--name", "shale-pkg-emulator", "--entrypoint", "/usr/local/bin/shale-emulator",
               IMAGE, "--listen", "0.0.0.0:4001", timeout=60)
    try:
        networks = engine.inspect("shale-pkg-emulator")["NetworkSettings"]["Networks"]
        emulator_ip = next(iter(networks.values()))["IPAddress"]
        assert emulator_ip, "the emulator container has no address"
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({
            "model_list": [{
                "model_name": "claude-sonnet",
                "litellm_params": {"model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                   "aws_bedrock_runtime_endpoint": f"http://{emulator_ip}:4001"},
            }],
            "general_settings": {"master_key": "os.environ/SHALE_MASTER_KEY"},
        }))
        key = "sk-packaging-" + os.urandom(8).hex()
        env = {"SHALE_MASTER_KEY": key, "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": EXAMPLE_KEY_ID, "AWS_SECRET_ACCESS_KEY": EXAMPLE_SECRET}
        proc = subprocess.Popen(["bash", "-c", line], cwd=tmp_path, env={**engine.env, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = Lines(proc)
        try:
            base = f"http://127.0.0.1:{PORT}"
            try:
                wait_http(base + LIVENESS_PATH, 60)
            except AssertionError as err:
                raise AssertionError(f"{err}\n{out.rest()}") from None
            # the key from the environment is the one enforced
            assert http(base + "/v1/models")[0] == 401
            assert http(base + "/v1/models", key="sk-other")[0] == 401
            status, models = http(base + "/v1/models", key=key)
            assert status == 200 and [m["id"] for m in models["data"]] == ["claude-sonnet"], models
            # the mounted config's model answers, through the emulator, signed with the env credentials
            chat(base, key, "claude-sonnet")

            name = container_id(engine, "--config /config.yaml")
            assert_healthy(engine, name)
            assert_non_root(engine, name, read_only=False)
            stop_cleanly(engine, name)
            assert proc.wait(timeout=30) == 0, out.rest()
            assert engine.inspect(name)["State"]["ExitCode"] == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        engine.remove_all()


# --- compose --------------------------------------------------------------------------------------


def compose_command(engine: Engine) -> list[str]:
    if engine.cli("compose", "version", check=False).returncode == 0:
        return [engine.docker, "compose"]
    found = shutil.which("podman-compose")
    if not found:
        unavailable("no `docker compose` and no podman-compose (apt-get install podman-compose)")
    return [found]


def test_compose_demo_serves_healthy_read_only_and_stops_cleanly(engine, image, port_free):
    compose = compose_command(engine) + ["-p", "shale-pkg", "-f", str(DOCKER_DIR / "compose.yaml")]
    key = "sk-compose-" + os.urandom(8).hex()
    env = {**engine.env, "SHALE_MASTER_KEY": key}

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*compose, *args], env=env, capture_output=True, text=True, timeout=timeout)

    try:
        # builds shale:local from the same Dockerfile (every layer cached by the README build above)
        up = run("up", "-d")
        assert up.returncode == 0, f"compose up: {up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        base = f"http://127.0.0.1:{PORT}"
        wait_http(base + LIVENESS_PATH, 60)
        models = yaml.safe_load((DOCKER_DIR / "demo.config.yaml").read_text())["model_list"]
        # SHALE_MASTER_KEY from the host reaches the gateway; the emulator answers by its service name
        assert http(base + "/v1/models", key="sk-shale-demo")[0] == 401
        chat(base, key, models[0]["model_name"])

        names = [c["Names"][0] for c in engine.containers() if c.get("State") == "running"]
        gateway = next(n for n in names if "shale" in n.removeprefix("shale-pkg") and "emulator" not in n)
        emulator = next(n for n in names if "emulator" in n)
        assert engine.inspect(gateway)["ImageName"].endswith("shale:local")
        assert_healthy(engine, gateway)
        for name in (gateway, emulator):
            assert_non_root(engine, name, read_only=True)
        for name in (gateway, emulator):
            stop_cleanly(engine, name)
            assert engine.inspect(name)["State"]["ExitCode"] == 0, name
    finally:
        run("down", timeout=120)
        engine.remove_all()


# --- Helm and the plain manifests -------------------------------------------------------------------


def rendered_chart() -> list[dict]:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render({}, name="shale", namespace="llm")
    return [d for path, text in rendered.items() if path.endswith(".yaml") and "/tests/" not in path
            for d in load_docs(text)]


def test_chart_and_manifests_name_the_image_the_same_way():
    """One scheme: REPOSITORY:VERSION with the workspace version, the repository being the
    Dockerfile's source label's GitHub project on ghcr.io."""
    dockerfile = (REPO / "Dockerfile").read_text()
    source = dockerfile.split('org.opencontainers.image.source="', 1)[1].split('"', 1)[0]
    assert source.startswith("https://github.com/"), source
    repository = "ghcr.io/" + source.removeprefix("https://github.com/")
    expected = f"{repository}:{workspace_version()}"
    chart_image = checks.gateway_container(checks.one(checks.by_kind(rendered_chart()), "Deployment"))["image"]
    assert chart_image == expected
    manifests = [d for p in sorted(K8S_DIR.glob("*.yaml")) for d in load_docs(p.read_text())]
    plain_image = checks.gateway_container(checks.one(checks.by_kind(manifests), "Deployment"))["image"]
    assert plain_image == expected
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["image"]["repository"] == repository


def test_chart_container_spec_runs_the_image(engine, image, tmp_path):
    """The rendered Deployment's container, run the way the kubelet would: the README-built image under
    the chart's image name, its args, env (master key from the rendered Secret), config from the
    rendered ConfigMap at its mount path, its securityContext; its probes' routes answer."""
    docs = checks.by_kind(rendered_chart())
    deployment = checks.one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    spec = checks.gateway_container(deployment)
    engine.cli("tag", IMAGE, spec["image"])

    args = ["run", "-d", "--name", "shale-pkg-helm"]
    secrets = {s["metadata"]["name"]: s for s in docs.get("Secret", [])}
    for var in spec.get("env", []):
        if "value" in var:
            args += ["-e", f"{var['name']}={var['value']}"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            value = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
            args += ["-e", f"{var['name']}={value}"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    configmaps = {c["metadata"]["name"]: c for c in docs.get("ConfigMap", [])}
    for mount in spec.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            folder = tmp_path / mount["name"]
            folder.mkdir()
            for file, text in configmaps[volume["configMap"]["name"]]["data"].items():
                (folder / file).write_text(text)
            folder.chmod(0o755)
            for file in folder.iterdir():
                file.chmod(0o644)
            args += ["-v", f"{folder}:{mount['mountPath']}:ro"]
        elif "emptyDir" in volume:
            args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777"]
        elif "projected" in volume or "secret" in volume:
            continue  # service-account token: nothing in the gateway reads it without IRSA
        else:
            pytest.fail(f"volume kind not handled by this test: {volume}")
    context = {**pod.get("securityContext", {}), **spec.get("securityContext", {})}
    args += ["--user", f"{context['runAsUser']}:{context.get('runAsGroup', context['runAsUser'])}"]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    for cap in context.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", cap]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    memory = spec.get("resources", {}).get("limits", {}).get("memory")
    if memory:
        assert memory.endswith("Mi"), memory
        args += ["--memory", f"{int(memory[:-2])}m"]
    container_port = spec["ports"][0]["containerPort"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host_port = s.getsockname()[1]
    args += ["-p", f"127.0.0.1:{host_port}:{container_port}"]
    args += ["--env", "AWS_EC2_METADATA_DISABLED=true", spec["image"], *spec.get("args", [])]
    assert "command" not in spec, "the chart must keep the image's ENTRYPOINT"

    try:
        engine.cli(*args, timeout=60)
        base = f"http://127.0.0.1:{host_port}"
        try:
            wait_http(base + LIVENESS_PATH, 60)
        except AssertionError as err:
            logs = engine.cli("logs", "shale-pkg-helm", check=False)
            raise AssertionError(f"{err}\n{logs.stdout}{logs.stderr}") from None
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in spec:
                path = spec[probe]["httpGet"]["path"]
                assert http(base + path)[0] == 200, f"{probe} {path}"
        assert_healthy(engine, "shale-pkg-helm")
        assert_non_root(engine, "shale-pkg-helm", read_only=bool(context.get("readOnlyRootFilesystem")))
        stop_cleanly(engine, "shale-pkg-helm")
        assert engine.inspect("shale-pkg-helm")["State"]["ExitCode"] == 0
    finally:
        engine.remove_all()
