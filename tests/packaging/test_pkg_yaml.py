"""Every packaging YAML file parses and passes yamllint (Helm templates are
checked after rendering, in test_pkg_helm.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pkg_common import CHART_DIR, DOCKER_DIR, K8S_DIR, REPO

YAMLLINT_CONFIG = Path(__file__).with_name("yamllint.yaml")
FILES = sorted(
    [
        *DOCKER_DIR.glob("*.yaml"),
        *K8S_DIR.glob("*.yaml"),
        CHART_DIR / "Chart.yaml",
        CHART_DIR / "values.yaml",
    ]
)


def test_expected_files_exist():
    names = {str(p.relative_to(REPO)) for p in FILES}
    for required in (
        "docker/compose.yaml",
        "docker/compose.aws.yaml",
        "docker/demo.config.yaml",
        "deploy/kubernetes/deployment.yaml",
        "deploy/helm/shale/Chart.yaml",
        "deploy/helm/shale/values.yaml",
    ):
        assert required in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} has no YAML document"


def yamllint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamllint", "-f", "parsable", "-c", str(YAMLLINT_CONFIG), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_yamllint_clean():
    proc = yamllint(FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_flags_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\nb:   [1,2]\n")
    proc = yamllint([bad])
    assert proc.returncode == 1 and "key-duplicates" in proc.stdout


def test_values_schema_is_json():
    import json

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["type"] == "object"
