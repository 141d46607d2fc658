"""docs/deploy.md: explains Docker, compose, Kubernetes, Helm and the AWS
credential paths, and every repository file it links to exists."""

from __future__ import annotations

import re

from pkg_common import DEPLOY_DOC


def test_deploy_doc_covers_the_topics():
    text = DEPLOY_DOC.read_text()
    for needle in (
        "docker build",
        "docker run",
        "docker compose -f docker/compose.yaml",
        "docker compose -f docker/compose.aws.yaml",
        "kubectl -n llm apply -k deploy/kubernetes",
        "helm install",
        "eks.amazonaws.com/role-arn",
        "create-pod-identity-association",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "bedrock:InvokeModelWithResponseStream",
        "/health/readiness",
        "/health/liveliness",
    ):
        assert needle in text, f"docs/deploy.md does not mention {needle}"


def test_relative_links_resolve():
    text = DEPLOY_DOC.read_text()
    links = re.findall(r"\]\((\.\./[^)#]+)\)", text)
    assert links
    for link in links:
        assert (DEPLOY_DOC.parent / link).resolve().exists(), f"broken link {link}"
