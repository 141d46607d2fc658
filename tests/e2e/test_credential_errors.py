"""The gateway's own AWS credentials failing — a missing profile, a `credential_process` that exits
non-zero, STS refusing the role — answers 503 `aws_credentials_error` (not a 500), counts
`shale_aws_credential_failures_total{source}` and logs one line naming the source (never a secret),
while the other deployments keep working. Official OpenAI SDK → shale → the Bedrock emulator (whose
STS is scripted to refuse).
"""

from __future__ import annotations

import json

import openai
import pytest

from prometheus_scrape import Scrape
from shale_harness import EXAMPLE_SECRET_ACCESS_KEY, GATEWAY_KEY, deployment, logged_stack

MODEL = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
ROLE = "arn:aws:iam::123456789012:role/shale-refused"
HELPER_STDERR = "helper-stderr-9c1e"
SOURCE_FAILING = "could not get AWS credentials: requests to this deployment answer 503"


def gateway_config(emu_url: str) -> dict:
    # Credentials chosen per deployment (docs/credentials.md): a profile wins over the default keys,
    # so those deployments drop the example keys `deployment()` adds.
    no_keys = {"aws_access_key_id": None, "aws_secret_access_key": None}
    return {
        "model_list": [
            deployment("missing-profile", MODEL, emu_url, aws_profile_name="nope", num_retries=0, **no_keys),
            deployment("broken-process", MODEL, emu_url, aws_profile_name="broken", num_retries=0, **no_keys),
            deployment("sts-refused", MODEL, emu_url, aws_role_name=ROLE, aws_sts_endpoint=emu_url, num_retries=0),
            deployment("ok", MODEL, emu_url),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("aws")
    helper = home / "failing-helper.sh"
    helper.write_text(f"#!/bin/sh\necho {HELPER_STDERR} >&2\nexit 3\n")
    helper.chmod(0o755)
    (home / "config").write_text(f"[profile broken]\ncredential_process = {helper}\nregion = us-east-1\n")
    (home / "credentials").write_text("")
    env = {
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        # Nothing from the machine running the tests.
        "AWS_PROFILE": "",
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
    }
    with logged_stack(gateway_config, env=env) as running:
        yield running


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def ask(url: str, model: str):
    return client(url).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def failures(url: str, source: str, baseline: bool = False) -> float:
    """Credential failures counted for `source`; a `baseline` (before the requests) may not exist."""
    scrape = Scrape.of(url)
    assert scrape.has_family("shale_aws_credential_failures"), scrape.text[:2000]
    if baseline:
        return scrape.value_or_zero("shale_aws_credential_failures_total", source=source)
    return scrape.value("shale_aws_credential_failures_total", source=source)


def assert_credentials_503(err: openai.APIStatusError, deployment_name: str, source: str) -> None:
    assert err.status_code == 503, err
    body = err.body
    assert body["code"] == "aws_credentials_error", body
    assert body["type"] == "service_unavailable", body
    assert deployment_name in body["message"] and f"credential source: {source}" in body["message"], body


@pytest.mark.parametrize(
    "model, source, in_log",
    [
        ("missing-profile", "profile", 'profile \\"nope\\"'),
        ("broken-process", "profile", 'profile \\"broken\\"'),
    ],
)
def test_profile_failures_answer_503(stack, model, source, in_log):
    url, emulator = stack.url, stack.emulator
    emulator.reset()
    before = failures(url, source, baseline=True)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as err:
            ask(url, model)
        assert_credentials_503(err.value, f"({model})", source)
        assert HELPER_STDERR not in json.dumps(err.value.body), "the helper's diagnostics are the operator's"
    assert failures(url, source) == before + 2
    assert [q for q in emulator.requests() if q["path"].startswith("/model/")] == [], "Bedrock was not called"
    warned = [l for l in stack.log_lines(SOURCE_FAILING) if l.get("deployment", "").endswith(f"({model})")]
    assert len(warned) == 1, "one warning when the source starts failing, not one per request"
    assert warned[0]["level"] == "WARN" and in_log in json.dumps(warned[0]), warned


def test_sts_refusal_answers_503(stack):
    url, emulator = stack.url, stack.emulator
    emulator.reset()
    emulator.script([{
        "operation": "sts",
        "error": {"type": "AccessDenied", "status": 403,
                  "message": f"User is not authorized to perform: sts:AssumeRole on resource: {ROLE}"},
    }])
    before = failures(url, "assume_role", baseline=True)
    with pytest.raises(openai.InternalServerError) as err:
        ask(url, "sts-refused")
    assert_credentials_503(err.value, "(sts-refused)", "assume_role")
    assert ROLE not in err.value.body["message"], "the role is the operator's business, not the caller's"
    assert failures(url, "assume_role") == before + 1
    assert [q["operation"] for q in emulator.requests() if q["path"] == "/"][:1] == ["sts"]
    warned = [l for l in stack.log_lines(SOURCE_FAILING) if l.get("deployment", "").endswith("(sts-refused)")]
    assert len(warned) == 1 and warned[0]["source_kind"] == "assume_role", warned
    assert ROLE in warned[0]["source"] and "AccessDenied" in warned[0]["error"], warned


def test_other_deployments_work_and_nothing_secret_is_logged(stack):
    url = stack.url
    with pytest.raises(openai.InternalServerError):
        ask(url, "broken-process")
    assert ask(url, "ok").choices[0].message.content
    # The static secret key signed the STS call: it never reaches the log.
    assert EXAMPLE_SECRET_ACCESS_KEY not in stack.log.read_text()
    # The failing credential_process's stderr (AWS's diagnostic channel, e.g. "SSO session
    # expired") is in the operator's warning, with the profile it belongs to.
    warned = [l for l in stack.log_lines(SOURCE_FAILING) if l.get("deployment", "").endswith("(broken-process)")]
    assert len(warned) == 1 and HELPER_STDERR in warned[0]["error"], warned
