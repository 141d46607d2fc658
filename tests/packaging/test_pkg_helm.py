"""Helm chart deploy/helm/shale: linted and rendered with the real Helm SDK
(helm-python-sdk binds Helm's Go library), every rendered object validated
against the Kubernetes schemas, and the values switches checked for effect."""

from __future__ import annotations

import base64
import copy
import shutil
from typing import Any

import helm_python as helm
import pytest
import yaml

import pkg_k8s_checks as checks
from pkg_common import CHART_DIR, K8S_DIR, load_docs, shale_check, validate_k8s, workspace_version

RELEASE = "gw"
NAMESPACE = "llm"


def render(values: dict[str, Any] | None = None, name: str = RELEASE) -> dict[str, str]:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        return chart.render(values or {}, name=name, namespace=NAMESPACE)


def objects(values: dict[str, Any] | None = None, *, hooks: bool = False) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in render(values).items():
        if path.endswith("NOTES.txt"):
            continue
        if "/templates/tests/" in path and not hooks:
            continue
        docs += load_docs(text)
    return docs


def kinds(values: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    return checks.by_kind(objects(values))


def container(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return checks.gateway_container(checks.one(kinds(values), "Deployment"))


def master_key(values: dict[str, Any] | None = None) -> str:
    secret = checks.one(kinds(values), "Secret")
    return base64.b64decode(secret["data"]["SHALE_MASTER_KEY"]).decode()


def test_chart_lints_without_warnings():
    result = helm.lint(str(CHART_DIR))
    assert result["errors"] == []
    # severities: 1 info, 2 warning, 3 error
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


def test_lint_reports_a_broken_chart(tmp_path):
    broken = tmp_path / "shale"
    shutil.copytree(CHART_DIR, broken)
    (broken / "templates" / "service.yaml").write_text("{{ .Values.service.port \n")
    result = helm.lint(str(broken))
    assert result["errors"] or any(m["severity"] >= 3 for m in result["messages"])


def test_chart_versions_follow_the_workspace():
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == workspace_version()
    image = container()["image"]
    assert image.endswith(f":{workspace_version()}"), image


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"autoscaling": {"enabled": False}, "replicaCount": 3},
        {"ingress": {"enabled": True, "className": "alb", "tls": [{"hosts": ["a.example.com"], "secretName": "t"}]}},
        {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/r"}}},
        {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80}},
        {"podDisruptionBudget": {"enabled": True, "minAvailable": None, "maxUnavailable": "50%"}},
        {"env": [{"name": "AWS_BEARER_TOKEN_BEDROCK", "valueFrom": {"secretKeyRef": {"name": "b", "key": "k"}}}]},
        {"envFrom": [{"secretRef": {"name": "shale-aws"}}], "imagePullSecrets": [{"name": "regcred"}]},
        {
            "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
            "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "tolerations": [{"key": "llm", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "high",
            "podAnnotations": {"a": "b"},
        },
    ],
    ids=[
        "defaults",
        "fixed-replicas",
        "ingress",
        "irsa",
        "memory-hpa",
        "pdb-max-unavailable",
        "extra-env",
        "env-from",
        "scheduling-and-volumes",
    ],
)
def test_rendered_objects_validate_against_kubernetes_schema(values):
    docs = objects(values, hooks=True)
    assert docs
    for doc in docs:
        validate_k8s(doc)


def test_default_render_is_wired_together():
    checks.check_bundle(objects())


def test_defaults_match_the_plain_manifests():
    chart_c = container()
    plain_dep = checks.one(checks.by_kind(load_docs((K8S_DIR / "deployment.yaml").read_text())), "Deployment")
    plain_c = checks.gateway_container(plain_dep)
    for key in ("securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "ports"):
        assert chart_c[key] == plain_c[key], f"chart and deploy/kubernetes disagree on {key}"
    chart_pod = checks.one(kinds(), "Deployment")["spec"]["template"]["spec"]
    assert chart_pod["securityContext"] == plain_dep["spec"]["template"]["spec"]["securityContext"]
    plain_cm = yaml.safe_load((K8S_DIR / "configmap.yaml").read_text())
    chart_cm = checks.one(kinds(), "ConfigMap")
    assert yaml.safe_load(chart_cm["data"]["config.yaml"]) == yaml.safe_load(plain_cm["data"]["config.yaml"])


def test_config_value_becomes_the_mounted_config():
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "bedrock/amazon.nova-micro-v1:0"}}],
        "general_settings": {"master_key": "os.environ/SHALE_MASTER_KEY"},
        "router_settings": {"num_retries": 3},
    }
    result = checks.check_bundle(objects({"config": config}))
    assert result["config"] == config


def test_rendered_config_passes_shale_check(tmp_path):
    cm = checks.one(kinds(), "ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    shale_check(path)


def test_config_change_rolls_the_pods():
    def checksum(values):
        dep = checks.one(kinds(values), "Deployment")
        return dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    other = copy.deepcopy(yaml.safe_load((CHART_DIR / "values.yaml").read_text())["config"])
    other["model_list"] = other["model_list"][:1]
    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": other})


def test_existing_configmap_is_referenced_not_rendered():
    docs = objects({"existingConfigMap": "my-config"})
    checks.check_bundle(docs, configmap_name="my-config")
    dep = checks.one(checks.by_kind(docs), "Deployment")
    assert "checksum/config" not in (dep["spec"]["template"]["metadata"].get("annotations") or {})


def test_generated_master_key_is_random_not_a_default():
    first, second = master_key(), master_key()
    assert first.startswith("sk-") and len(first) >= 40
    assert first != second


def test_explicit_master_key_value():
    assert master_key({"masterKey": {"value": "sk-test-123"}}) == "sk-test-123"


def test_existing_secret_is_referenced_not_rendered():
    values = {"masterKey": {"existingSecret": "vault-shale", "existingSecretKey": "token"}}
    checks.check_bundle(objects(values), secret_ref=("vault-shale", "token"))


def test_irsa_annotation_lands_on_the_service_account():
    arn = "arn:aws:iam::111122223333:role/shale-bedrock"
    values = {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}}
    sa = checks.one(kinds(values), "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == arn
    dep = checks.one(kinds(values), "Deployment")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert arn in render(values)["shale/templates/NOTES.txt"]


def test_existing_service_account():
    values = {"serviceAccount": {"create": False, "name": "bedrock-caller"}}
    k = kinds(values)
    assert "ServiceAccount" not in k
    assert checks.one(k, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "bedrock-caller"


def test_autoscaling_owns_the_replica_count():
    dep = checks.one(kinds(), "Deployment")
    assert "replicas" not in dep["spec"], "replicas would fight the HPA on every upgrade"
    fixed = {"autoscaling": {"enabled": False}, "replicaCount": 3}
    docs = objects(fixed)
    checks.check_bundle(docs, expect_hpa=False)
    assert checks.one(checks.by_kind(docs), "Deployment")["spec"]["replicas"] == 3


def test_no_pdb_for_a_single_replica():
    docs = objects({"autoscaling": {"enabled": False}, "replicaCount": 1})
    checks.check_bundle(docs, expect_hpa=False, expect_pdb=False)
    docs = objects({"podDisruptionBudget": {"enabled": False}})
    checks.check_bundle(docs, expect_pdb=False)


def test_args_follow_values():
    args = container()["args"]
    assert args[args.index("--log-format") + 1] == "json"
    assert "--allow-unauthenticated" not in args
    args = container({"logFormat": "text", "allowUnauthenticated": True})["args"]
    assert args[args.index("--log-format") + 1] == "text"
    assert "--allow-unauthenticated" in args


def test_region_and_extra_env():
    env = {e["name"]: e for e in container({"aws": {"region": "eu-west-1"}})["env"]}
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    extra = {"name": "AWS_BEARER_TOKEN_BEDROCK", "valueFrom": {"secretKeyRef": {"name": "b", "key": "k"}}}
    env = {e["name"]: e for e in container({"env": [extra]})["env"]}
    assert env["AWS_BEARER_TOKEN_BEDROCK"] == extra


def test_ingress_routes_to_the_service():
    k = kinds({"ingress": {"enabled": True}})
    ing = checks.one(k, "Ingress")
    svc = checks.one(k, "Service")
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": svc["metadata"]["name"], "port": {"name": "http"}}
    assert "Ingress" not in kinds()


def test_topology_spread_selects_the_release_pods():
    dep = checks.one(kinds(), "Deployment")
    pod = dep["spec"]["template"]
    for constraint in pod["spec"]["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_names_fit_dns_labels():
    long_release = "a-very-long-release-name-that-goes-on-and-on-and-on-x"  # 53: Helm's limit
    assert len(long_release) == 53
    for path, text in render(name=long_release).items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in load_docs(text):
            assert len(doc["metadata"]["name"]) <= 63, path
            for value in doc["metadata"].get("labels", {}).values():
                assert len(value) <= 63, path
    k = kinds({"fullnameOverride": "bedrock-gw"})
    assert checks.one(k, "Deployment")["metadata"]["name"] == "bedrock-gw"


def test_helm_test_hook_probes_the_service():
    rendered = render()
    (pod,) = load_docs(rendered["shale/templates/tests/test-connection.yaml"])
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    svc = checks.one(kinds(), "Service")
    url = f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}/health/readiness"
    assert pod["spec"]["containers"][0]["args"] == ["healthcheck", "--url", url]


@pytest.mark.parametrize(
    "bad",
    [
        {"replicaCount": "two"},
        {"logFormat": "xml"},
        {"unknownTopLevel": 1},
        {"service": {"type": "ClusterIP", "port": 70000}},
        {"config": {"model_list": [{"model_name": "m", "litellm_params": {}}]}},
        {"autoscaling": {"enabled": "yes"}},
        {"image": {"repository": "r", "pullPolicy": "Sometimes"}},
    ],
)
def test_values_schema_rejects_bad_values(bad):
    with pytest.raises(helm.HelmError):
        render(bad)
