"""Plain Kubernetes manifests in deploy/kubernetes: schema-valid for every
supported Kubernetes version and wired together correctly."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

import pkg_k8s_checks as checks
from pkg_common import DEPLOY_DOC, K8S_DIR, K8S_VERSIONS, MASTER_KEY_ENV, load_docs, shale_check, validate_k8s

MANIFESTS = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
SECRET_REF = ("shale-secrets", MASTER_KEY_ENV)


def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


def bundle() -> list[dict]:
    docs: list[dict] = []
    for name in kustomization()["resources"]:
        docs += load_docs((K8S_DIR / name).read_text())
    return docs


def test_manifest_set_is_complete():
    kinds = {d["kind"] for p in MANIFESTS for d in load_docs(p.read_text())}
    for kind in (
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ):
        assert kind in kinds, f"deploy/kubernetes has no {kind}"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifest_validates_against_kubernetes_schema(path, version):
    docs = load_docs(path.read_text())
    assert docs, f"{path.name} is empty"
    for doc in docs:
        validate_k8s(doc, [version])


def test_kustomization_lists_every_manifest_but_the_example_secret():
    resources = kustomization()["resources"]
    for name in resources:
        assert (K8S_DIR / name).is_file(), f"kustomization lists missing {name}"
    expected = {p.name for p in MANIFESTS} - {"secret.example.yaml"}
    assert set(resources) == expected
    assert "secret.example.yaml" not in resources, "a placeholder master key must never be applied"


def test_bundle_is_wired_together():
    result = checks.check_bundle(bundle(), secret_ref=SECRET_REF)
    assert result["config"]["model_list"]


def test_configmap_config_passes_shale_check(tmp_path):
    cm = checks.one(checks.by_kind(bundle()), "ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    shale_check(path)


def test_example_secret_matches_the_reference():
    (secret,) = load_docs((K8S_DIR / "secret.example.yaml").read_text())
    assert secret["metadata"]["name"] == SECRET_REF[0]
    assert SECRET_REF[1] in secret["stringData"]


def test_deployment_runs_the_image_entrypoint_with_args_only():
    dep = checks.one(checks.by_kind(bundle()), "Deployment")
    container = checks.gateway_container(dep)
    # ENTRYPOINT is shale; overriding `command` would bypass it
    assert "command" not in container
    assert checks.config_path(container) == "/etc/shale/config.yaml"


def test_irsa_and_pod_identity_are_documented_on_the_service_account():
    text = (K8S_DIR / "serviceaccount.yaml").read_text()
    assert "eks.amazonaws.com/role-arn" in text
    assert "pod-identity-association" in text
    doc = DEPLOY_DOC.read_text()
    for needle in ("eks.amazonaws.com/role-arn", "Pod Identity", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        assert needle in doc, f"docs/deploy.md does not explain {needle}"


# --- the checks above can fail: mutated manifests must be rejected -----------------------------


def _deployment() -> dict:
    return copy.deepcopy(checks.one(checks.by_kind(bundle()), "Deployment"))


def _replace(docs: list[dict], new: dict) -> list[dict]:
    return [new if d["kind"] == new["kind"] else d for d in docs]


def test_schema_validation_rejects_unknown_fields():
    dep = _deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(dep)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c, p: c["securityContext"].pop("readOnlyRootFilesystem"), "readOnlyRootFilesystem"),
        (lambda c, p: c["securityContext"].__setitem__("allowPrivilegeEscalation", True), "allowPrivilegeEscalation"),
        (lambda c, p: p["securityContext"].__setitem__("runAsUser", 0), "runAsUser"),
        (lambda c, p: c["readinessProbe"]["httpGet"].__setitem__("path", "/health"), "readinessProbe"),
        (lambda c, p: c.pop("livenessProbe"), "livenessProbe"),
        (lambda c, p: c["resources"].pop("limits"), "limits"),
        (lambda c, p: c.__setitem__("env", [{"name": MASTER_KEY_ENV, "value": "sk-1"}]), MASTER_KEY_ENV),
        (lambda c, p: c.__setitem__("image", "ghcr.io/shale-gateway/shale:latest"), "pinned"),
        (lambda c, p: p["volumes"][0]["configMap"].__setitem__("name", "other"), "ConfigMap"),
    ],
)
def test_property_checks_fail_on_broken_deployment(mutate, message):
    dep = _deployment()
    mutate(dep["spec"]["template"]["spec"]["containers"][0], dep["spec"]["template"]["spec"])
    with pytest.raises((AssertionError, KeyError), match=message):
        checks.check_bundle(_replace(bundle(), dep), secret_ref=SECRET_REF)


def test_property_checks_fail_on_mismatched_selectors():
    docs = bundle()
    svc = copy.deepcopy(checks.one(checks.by_kind(docs), "Service"))
    svc["spec"]["selector"] = {"app.kubernetes.io/name": "other"}
    with pytest.raises(AssertionError, match="Service selector"):
        checks.check_bundle(_replace(docs, svc), secret_ref=SECRET_REF)
    hpa = copy.deepcopy(checks.one(checks.by_kind(docs), "HorizontalPodAutoscaler"))
    hpa["spec"]["scaleTargetRef"]["name"] = "other"
    with pytest.raises(AssertionError):
        checks.check_bundle(_replace(docs, hpa), secret_ref=SECRET_REF)
