"""docker/compose.yaml (demo against the emulator) and docker/compose.aws.yaml
(real AWS credentials): valid Compose files after interpolation, and wired so
the demo works without AWS and the AWS variant carries no secrets."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from compose_spec import PyCompose

from pkg_common import (
    CONTAINER_PORT,
    DOCKER_DIR,
    MASTER_KEY_ENV,
    REPO,
    MissingVariable,
    interpolate,
    shale_check,
)

DEMO = DOCKER_DIR / "compose.yaml"
AWS = DOCKER_DIR / "compose.aws.yaml"
EXAMPLE_KEY_ID = "AKIDEXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
HOST_ENV = {"HOME": "/home/dev", MASTER_KEY_ENV: "sk-test"}
NONROOT_HOME = "/home/nonroot"


def compose(path: Path, env: dict[str, str] | None = None) -> dict:
    """Interpolated, spec-validated (unknown keys rejected) compose model."""
    text = interpolate(path.read_text(), HOST_ENV if env is None else env)
    model = PyCompose.from_yaml(text)
    model.validate()
    return yaml.safe_load(text)


def command_arg(service: dict, flag: str, default: str | None = None) -> str | None:
    cmd = service.get("command") or []
    return cmd[cmd.index(flag) + 1] if flag in cmd else default


def mounts(service: dict, base: Path) -> dict[str, tuple[str, str]]:
    """container path -> (host path, mode) for bind mounts in short syntax."""
    out = {}
    for volume in service.get("volumes", []):
        host, container, *mode = volume.split(":")
        if host.startswith("."):
            host = str((base / host).resolve())
        out[container] = (host, mode[0] if mode else "rw")
    return out


def mounted_config(service: dict) -> Path:
    cfg = command_arg(service, "--config", "/app/config.yaml")
    host, mode = mounts(service, DOCKER_DIR)[cfg]
    assert mode == "ro", "config must be mounted read-only"
    return Path(host)


@pytest.mark.parametrize("path", [DEMO, AWS], ids=lambda p: p.name)
def test_compose_file_is_valid(path):
    model = compose(path)
    assert "shale" in model["services"]


def test_spec_validation_rejects_typos():
    text = interpolate(DEMO.read_text(), HOST_ENV).replace("read_only:", "readonly:", 1)
    with pytest.raises(ValueError):
        PyCompose.from_yaml(text)


@pytest.mark.parametrize("path", [DEMO, AWS], ids=lambda p: p.name)
def test_services_build_this_repo_and_run_hardened(path):
    for name, service in compose(path)["services"].items():
        build = service["build"]
        context = (path.parent / build["context"]).resolve()
        assert context == REPO, f"{name} builds from {context}"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()
        assert service.get("read_only") is True, f"{name}: root filesystem writable"
        assert service.get("cap_drop") == ["ALL"], f"{name}: capabilities not dropped"
        assert "no-new-privileges:true" in service.get("security_opt", [])
        # the image's HEALTHCHECK (`shale healthcheck`) or none: a compose `CMD` check runs
        # through /bin/sh under podman-compose 1.0, and the distroless image has no shell
        assert service.get("healthcheck", {"test": ["NONE"]}) == {"test": ["NONE"]}, name


def test_demo_gateway_talks_to_the_emulator():
    services = compose(DEMO)["services"]
    emulator, gateway = services["emulator"], services["shale"]
    assert Path(emulator["entrypoint"][0]).name == "shale-emulator"
    listen = command_arg(emulator, "--listen")
    assert listen, "emulator has no --listen address"
    host, port = listen.rsplit(":", 1)
    assert host == "0.0.0.0", "emulator must listen on all interfaces to be reachable from shale"
    # the image HEALTHCHECK probes :4000, which the emulator does not serve
    assert emulator["healthcheck"] in ({"disable": True}, {"test": ["NONE"]}) or port == str(CONTAINER_PORT)
    assert "emulator" in gateway["depends_on"]

    config = yaml.safe_load(mounted_config(gateway).read_text())
    assert config["model_list"], "demo config has no models"
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        assert params["model"].startswith("bedrock/")
        endpoint = urlparse(params.get("api_base") or params["aws_bedrock_runtime_endpoint"])
        assert (endpoint.scheme, endpoint.hostname, str(endpoint.port)) == ("http", "emulator", port), endpoint
        assert params["aws_access_key_id"] == EXAMPLE_KEY_ID
        assert params["aws_secret_access_key"] == EXAMPLE_SECRET
        assert params["aws_region_name"]
    assert config["general_settings"]["master_key"] == f"os.environ/{MASTER_KEY_ENV}"


def test_demo_gateway_port_key_and_health():
    gateway = compose(DEMO, env={})["services"]["shale"]
    # works with nothing set on the host: the demo key has a default
    assert gateway["environment"][MASTER_KEY_ENV]
    published = [p.split(":")[-1] for p in gateway["ports"]]
    assert str(CONTAINER_PORT) in published
    assert "healthcheck" not in gateway, "the gateway keeps the image's HEALTHCHECK"


def _env_list(service: dict) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        return env
    return {e.split("=", 1)[0]: (e.split("=", 1)[1] if "=" in e else None) for e in env}


def test_aws_variant_needs_a_master_key():
    with pytest.raises(MissingVariable, match=MASTER_KEY_ENV):
        compose(AWS, env={"HOME": "/home/dev"})


def test_aws_variant_passes_credentials_through_without_holding_any():
    gateway = compose(AWS)["services"]["shale"]
    env = _env_list(gateway)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert name in env, f"{name} not passed through"
        assert env[name] is None, f"{name} must come from the host, not the file"
    assert env["AWS_REGION"]
    host, mode = mounts(gateway, DOCKER_DIR)[f"{NONROOT_HOME}/.aws"]
    assert host == "/home/dev/.aws" and mode == "ro"
    # the gateway is published on loopback only: it holds real credentials
    assert all(p.startswith("127.0.0.1:") for p in gateway["ports"])

    config_path = mounted_config(gateway)
    config = yaml.safe_load(config_path.read_text())
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        assert params["model"].startswith("bedrock/")
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "api_key"):
            assert key not in params, f"{key} hard-coded in {config_path.name}"
    for path in (AWS, config_path):
        assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", path.read_text()), f"access key id in {path.name}"


@pytest.mark.parametrize("config", ["demo.config.yaml", "aws.config.yaml"])
def test_configs_pass_shale_check(config):
    shale_check(DOCKER_DIR / config)
