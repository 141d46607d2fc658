"""docs/deploy.md: explains Docker, compose, Kubernetes, Helm and the AWS
credential paths, every repository file it links to exists, and its docker, kubectl and helm
commands fit the image, the manifests and the chart (the helm ones are rendered)."""

from __future__ import annotations

import re
import shlex

from pkg_common import DEPLOY_DOC, REPO


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


# --- the commands of docs/deploy.md, checked against what they operate on -----------------------


def commands(prefix: str, page=DEPLOY_DOC) -> list[list[str]]:
    """The shell commands of the page's sh blocks (continuation lines joined, comments dropped,
    indented blocks of list items included) that start with `prefix`, split like a shell."""
    text = page.read_text()
    out = []
    for indent, body in re.findall(r"^([ \t]*)```sh\n(.*?)^\1```", text, flags=re.S | re.M):
        body = "\n".join(line[len(indent):] for line in body.splitlines())
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith(prefix):
                out.append(shlex.split(line, comments=True))
    return out


def options(argv: list[str], name: str) -> list[str]:
    """The values of option `name`, written `name value` or `name=value`."""
    spaced = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    return spaced + [a.split("=", 1)[1] for a in argv if a.startswith(name + "=")]


def test_docker_run_examples_match_the_image():
    """docs/deploy.md's and the README's `docker run`: the config is mounted where the image's CMD
    (or the `--config` given) reads it, and the port is the one the image exposes."""
    from test_pkg_dockerfile import final

    cmd = final().last("CMD").exec_form()
    config_path = cmd[cmd.index("--config") + 1]
    exposed = {p.split("/")[0] for i in final().all("EXPOSE") for p in i.args.split()}
    runs = commands("docker run ")
    assert len(runs) >= 3, runs
    readme = commands("docker run ", REPO / "README.md")
    assert readme, "the README's docker run"
    runs += readme
    default_cmd = [r for r in runs if r[-1] == "shale" and "-v" in r]
    assert default_cmd, "an example relies on the image's default CMD"
    for argv in default_cmd:
        assert any(v.split(":")[1] == config_path for v in options(argv, "-v")), (argv, config_path)
    for argv in runs:
        if "--config" in argv:
            assert any(v.split(":")[1] == argv[argv.index("--config") + 1] for v in options(argv, "-v")), argv
        for publish in options(argv, "-p"):
            assert publish.split(":")[-1] in exposed, (publish, exposed)


def test_kubectl_commands_match_the_manifests():
    """The Secret the example creates is the one the Deployment reads, `apply -k` names the
    kustomization, `rollout status` the Deployment."""
    import pkg_k8s_checks as checks

    from pkg_common import K8S_DIR, load_docs

    (create,) = [c for c in commands("kubectl -n llm create secret generic shale-secrets")]
    deployment = load_docs((K8S_DIR / "deployment.yaml").read_text())[0]
    env = {e["name"]: e for e in checks.gateway_container(deployment)["env"]}
    ref = env["SHALE_MASTER_KEY"]["valueFrom"]["secretKeyRef"]
    literal = options(create, "--from-literal")[0].split("=", 1)[0]
    assert (create[create.index("generic") + 1], literal) == (ref["name"], ref["key"])
    (apply,) = commands("kubectl -n llm apply -k ")
    assert (REPO / apply[-1] / "kustomization.yaml").is_file(), apply
    assert (REPO / apply[-1]).resolve() == K8S_DIR.resolve()
    (rollout,) = commands("kubectl -n llm rollout status ")
    assert rollout[-1] == f"deploy/{deployment['metadata']['name']}", rollout
    assert ["kubectl", "create", "namespace", "llm"] in commands("kubectl create namespace ")


def helm_set(values: dict, assignment: str, as_string: bool) -> None:
    """Helm's `--set` / `--set-string` for dotted paths with `\\.` escapes and `name[i]` items."""
    import yaml

    key, _, raw = assignment.partition("=")
    value = raw if as_string else yaml.safe_load(raw)
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", key)]
    node = values
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        m = re.fullmatch(r"(.+)\[(\d+)\]", part)
        if m:
            items = node.setdefault(m.group(1), [])
            index = int(m.group(2))
            items.extend({} for _ in range(index + 1 - len(items)))
            if last:
                items[index] = value
            node = items[index]
        elif last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def test_helm_commands_render():
    """Every `helm install` / `helm upgrade` of the page renders the chart into objects valid for
    Kubernetes, with the effect its values promise."""
    from pkg_common import validate_k8s
    from test_pkg_helm import objects

    import pkg_k8s_checks as checks

    runs = commands("helm install ") + commands("helm upgrade ")
    assert len(runs) >= 2, runs
    for argv in runs:
        assert "deploy/helm/shale" in argv, argv
        values: dict = {}
        for name in ("--set", "--set-string"):
            for assignment in options(argv, name):
                helm_set(values, assignment, name == "--set-string")
        assert values, argv
        docs = objects(values, hooks=True)
        for doc in docs:
            validate_k8s(doc)
        kinds = checks.by_kind(docs)
        pod = checks.one(kinds, "Deployment")["spec"]["template"]["spec"]
        container = checks.gateway_container(checks.one(kinds, "Deployment"))
        if "image" in values:
            assert container["image"].startswith(values["image"]["repository"] + ":"), container["image"]
        if "aws" in values:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["AWS_REGION"] == values["aws"]["region"], env
        if "serviceAccount" in values:
            sa = checks.one(kinds, "ServiceAccount")
            assert values["serviceAccount"]["annotations"].items() <= sa["metadata"]["annotations"].items()
            assert pod["serviceAccountName"] == sa["metadata"]["name"]
        if "envFrom" in values:
            assert container["envFrom"] == values["envFrom"], container.get("envFrom")
