"""Behavioural checks for a rendered set of shale Kubernetes objects, shared by
the plain manifests (deploy/kubernetes) and the Helm chart (deploy/helm/shale).

Every function raises AssertionError naming the broken property."""

from __future__ import annotations

import posixpath
import re
from typing import Any

import yaml

from pkg_common import (
    CONTAINER_PORT,
    LIVENESS_PATH,
    MASTER_KEY_ENV,
    READINESS_PATH,
    by_kind,
    one,
)

SECRETISH = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)", re.I)


def _subset(small: dict[str, str], big: dict[str, str]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


def gateway_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == "shale"]
    assert named, "Deployment has no container named 'shale'"
    return named[0]


def _resolve_port(port: Any, container: dict[str, Any]) -> int:
    for p in container.get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    raise AssertionError(f"port {port!r} does not name a containerPort of {container['name']}")


def config_path(container: dict[str, Any]) -> str:
    args = container.get("args", [])
    assert "--config" in args, f"container args {args} lack --config"
    return args[args.index("--config") + 1]


def check_probes(container: dict[str, Any]) -> None:
    for probe, path in (("livenessProbe", LIVENESS_PATH), ("readinessProbe", READINESS_PATH)):
        assert probe in container, f"{probe} missing"
        get = container[probe].get("httpGet")
        assert get, f"{probe} must be an httpGet probe"
        assert get["path"] == path, f"{probe} path {get['path']} != {path}"
        assert _resolve_port(get["port"], container) == CONTAINER_PORT
    if "startupProbe" in container:
        assert _resolve_port(container["startupProbe"]["httpGet"]["port"], container) == CONTAINER_PORT


def check_resources(container: dict[str, Any]) -> None:
    res = container.get("resources") or {}
    for section in ("requests", "limits"):
        assert section in res, f"resources.{section} missing"
        assert "memory" in res[section], f"resources.{section}.memory missing"
    assert "cpu" in res["requests"], "resources.requests.cpu missing (the HPA scales on CPU utilisation)"


def check_security(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    csc = container.get("securityContext") or {}
    assert psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, "runAsNonRoot not set"
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    assert uid not in (None, 0), f"runAsUser must be a non-root uid, got {uid}"
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    assert seccomp == "RuntimeDefault", f"seccompProfile {seccomp}"
    assert csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false"
    assert csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true"
    assert csc.get("privileged") in (None, False), "privileged container"
    assert "ALL" in ((csc.get("capabilities") or {}).get("drop") or []), "capabilities must drop ALL"
    # a read-only root still needs a writable /tmp
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, "no writable /tmp volume with a read-only root filesystem"
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    assert "emptyDir" in vols[mounts["/tmp"]], "/tmp must be an emptyDir"
    image = container["image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"image {image} not pinned"


def check_no_literal_secrets(container: dict[str, Any]) -> None:
    for env in container.get("env", []):
        if SECRETISH.search(env["name"]) and "value" in env:
            raise AssertionError(f"env {env['name']} holds a literal value; use a Secret")


def check_bundle(
    docs: list[dict[str, Any]],
    *,
    secret_ref: tuple[str, str] | None = None,
    configmap_name: str | None = None,
    expect_hpa: bool = True,
    expect_pdb: bool = True,
) -> dict[str, Any]:
    """Checks the whole object set and how its parts refer to each other.

    secret_ref / configmap_name name objects expected to exist outside the
    bundle; otherwise the bundle must contain them. Returns the parsed config."""
    kinds = by_kind(docs)
    dep = one(kinds, "Deployment")
    name = dep["metadata"]["name"]
    pod_spec = dep["spec"]["template"]["spec"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert _subset(selector, pod_labels), "Deployment selector does not match its pod labels"

    container = gateway_container(dep)
    check_probes(container)
    check_resources(container)
    check_security(dep, container)
    check_no_literal_secrets(container)

    # Service -> pods and container port
    svc = one(kinds, "Service")
    assert _subset(svc["spec"]["selector"], pod_labels), "Service selector does not select the pods"
    assert svc["spec"]["selector"], "Service selector is empty"
    (svc_port,) = svc["spec"]["ports"]
    assert _resolve_port(svc_port["targetPort"], container) == CONTAINER_PORT

    # ServiceAccount
    sa_name = pod_spec.get("serviceAccountName")
    assert sa_name, "pod has no serviceAccountName (IRSA / Pod Identity bind to it)"
    sas = kinds.get("ServiceAccount", [])
    if sas:
        assert [s["metadata"]["name"] for s in sas] == [sa_name], "ServiceAccount name != serviceAccountName"
        assert sas[0].get("automountServiceAccountToken") is False
    assert pod_spec.get("automountServiceAccountToken") is False

    # config from a ConfigMap, mounted where --config points
    cfg_path = config_path(container)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    cfg_dir = posixpath.dirname(cfg_path)
    assert cfg_dir in mounts, f"nothing mounted at {cfg_dir} for --config {cfg_path}"
    assert mounts[cfg_dir].get("readOnly") is True, "config mount must be read-only"
    vols = {v["name"]: v for v in pod_spec["volumes"]}
    cm_vol = vols[mounts[cfg_dir]["name"]].get("configMap")
    assert cm_vol, "config volume is not a ConfigMap"
    item_paths = {i["path"]: i["key"] for i in cm_vol.get("items", [])}
    cfg_key = item_paths.get(posixpath.basename(cfg_path), posixpath.basename(cfg_path))
    config: dict[str, Any] | None = None
    if configmap_name is not None:
        assert cm_vol["name"] == configmap_name
        assert "ConfigMap" not in kinds, "a ConfigMap is rendered although an existing one is used"
    else:
        cm = one(kinds, "ConfigMap")
        assert cm["metadata"]["name"] == cm_vol["name"], "config volume names another ConfigMap"
        assert cfg_key in cm["data"], f"ConfigMap lacks key {cfg_key}"
        config = yaml.safe_load(cm["data"][cfg_key])
        models = config["model_list"]
        assert models, "config has an empty model_list"
        for m in models:
            assert m["model_name"] and m["litellm_params"]["model"].startswith("bedrock/")
            params = m["litellm_params"]
            for k in ("aws_secret_access_key", "aws_session_token", "api_key"):
                assert k not in params, f"{k} in a ConfigMap: secrets belong in a Secret"
        assert config["general_settings"]["master_key"] == f"os.environ/{MASTER_KEY_ENV}"

    # master key from a Secret
    env = {e["name"]: e for e in container.get("env", [])}
    assert MASTER_KEY_ENV in env, f"{MASTER_KEY_ENV} not in the container env"
    ref = env[MASTER_KEY_ENV]["valueFrom"]["secretKeyRef"]
    if secret_ref is not None:
        assert (ref["name"], ref["key"]) == secret_ref
        assert "Secret" not in kinds, "a Secret is rendered although an existing one is used"
    else:
        secret = one(kinds, "Secret")
        assert secret["metadata"]["name"] == ref["name"], "secretKeyRef names another Secret"
        data = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert ref["key"] in data, f"Secret lacks key {ref['key']}"

    # HPA and PDB
    hpas = kinds.get("HorizontalPodAutoscaler", [])
    if expect_hpa:
        assert len(hpas) == 1, "expected one HorizontalPodAutoscaler"
        target = hpas[0]["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", name)
        assert 1 <= hpas[0]["spec"]["minReplicas"] <= hpas[0]["spec"]["maxReplicas"]
        min_replicas = hpas[0]["spec"]["minReplicas"]
    else:
        assert not hpas, "unexpected HorizontalPodAutoscaler"
        min_replicas = dep["spec"].get("replicas", 1)
    pdbs = kinds.get("PodDisruptionBudget", [])
    if expect_pdb:
        assert len(pdbs) == 1, "expected one PodDisruptionBudget"
        pdb = pdbs[0]["spec"]
        assert _subset(pdb["selector"]["matchLabels"], pod_labels), "PDB selector does not select the pods"
        assert pdb["selector"]["matchLabels"], "PDB selector is empty"
        if isinstance(pdb.get("minAvailable"), int):
            assert pdb["minAvailable"] < min_replicas, "PDB minAvailable would block every eviction"
    else:
        assert not pdbs, "unexpected PodDisruptionBudget"
    return {"deployment": dep, "container": container, "config": config, "kinds": kinds}
