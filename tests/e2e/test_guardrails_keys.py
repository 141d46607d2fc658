"""Guardrails that are not opted into per request (issue #29): a virtual key's and a team's
`guardrails` (set with `/key/generate|update`, `/team/new|update`, against a real PostgreSQL),
and `default_on` ones; the key is admitted (budget, limits) before any guardrail is paid for;
spend logs record which guardrails ran and what they did (never the text)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import anthropic
import httpx
import openai
import pytest

from guardrails_harness import CLAUDE, NOVA, guardrail, guardrail_calls, model_calls
from keys_harness import KeysGateway, wait_for
from shale_harness import (
    GATEWAY_KEY,
    EmulatorControl,
    deployment,
    running_stack,
    start_emulator,
    stop_process,
)

EMAIL = "jane@example.com"


@pytest.fixture(scope="module")
def stack(pg_url):
    """A gateway with virtual keys and two guardrails; `emulator` (conftest) resets its emulator."""
    proc, url = start_emulator()
    models = [deployment("claude", CLAUDE, url), deployment("nova", NOVA, url)]
    gw = KeysGateway(url, pg_url, models=models, extra={"guardrails": [
        guardrail("pii", "pre_call", url),
        guardrail("topic", "during_call", url),
    ]})
    yield SimpleNamespace(gw=gw, emulator=EmulatorControl(url))
    gw.stop()
    stop_process(proc)


def test_key_guardrails_run_without_opting_in(stack, emulator):
    gw = stack.gw
    key = gw.generate(guardrails=["pii"])["key"]
    assert gw.key_info(key)["info"]["guardrails"] == ["pii"]
    r = gw.chat(key, model="claude", content=f"mail {EMAIL}")
    assert r.status_code == 200, r.text
    assert r.headers["x-litellm-applied-guardrails"] == "pii"
    assert "{EMAIL}" in r.json()["choices"][0]["message"]["content"]
    assert EMAIL not in json.dumps(model_calls(emulator)[-1]["body"])
    # The master key has no guardrails: the text goes as written.
    r = gw.chat(GATEWAY_KEY, model="claude", content=f"mail {EMAIL}")
    assert "x-litellm-applied-guardrails" not in r.headers
    assert EMAIL in json.dumps(model_calls(emulator)[-1]["body"])
    # /v1/messages too (Anthropic SDK with the virtual key).
    m = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0).messages.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": f"mail {EMAIL}"}])
    assert "{EMAIL}" in m.content[0].text
    # /key/update replaces the list; [] clears it, at once.
    r = gw.admin("POST", "/key/update", json={"key": key, "guardrails": []})
    assert r.status_code == 200 and r.json()["info"]["guardrails"] == []
    emulator.reset()
    gw.chat(key, model="claude", content=f"mail {EMAIL}")
    assert guardrail_calls(emulator) == []


def test_team_guardrails_reach_every_key_of_the_team(stack, emulator):
    gw = stack.gw
    gw.new_team(team_id="careful", guardrails=["topic"])
    key = gw.generate(team_id="careful")["key"]
    r = gw.chat(key, model="claude", content="which crypto should I buy?")
    assert r.status_code == 400, r.text
    fields = r.json()["error"]["provider_specific_fields"]
    assert (fields["guardrail_name"], fields["guardrail_mode"]) == ("topic", "during_call")
    r = gw.chat(key, model="claude", content="what is the capital of France?")
    assert r.status_code == 200
    # The request can add guardrails on top of the team's, never remove them.
    r = gw.chat(key, model="claude", content=f"mail {EMAIL}", guardrails=["pii"])
    assert r.headers["x-litellm-applied-guardrails"] == "pii,topic"
    assert "{EMAIL}" in r.json()["choices"][0]["message"]["content"]
    r = gw.admin("POST", "/team/update", json={"team_id": "careful", "guardrails": []})
    assert r.status_code == 200 and r.json()["guardrails"] == []
    assert gw.chat(key, model="claude", content="crypto").status_code == 200


def test_unknown_guardrail_names_are_refused_by_the_admin_api(stack):
    gw = stack.gw
    for path, body in [
        ("/key/generate", {"guardrails": ["nope"]}),
        ("/team/new", {"team_id": "t-nope", "guardrails": ["nope"]}),
    ]:
        r = gw.admin("POST", path, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "guardrail_not_found"
        assert "`pii`" in r.json()["error"]["message"]


def test_the_key_is_admitted_before_any_guardrail_runs(stack, emulator):
    gw = stack.gw
    key = gw.generate(guardrails=["pii"], max_budget=0)["key"]
    r = gw.chat(key, model="claude", content=f"mail {EMAIL}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "budget_exceeded", r.text
    assert guardrail_calls(emulator) == [], "no guardrail is paid for a request that is not admitted"
    # A virtual key cannot use the guardrail admin API.
    key2 = gw.generate()["key"]
    assert gw.admin("GET", "/guardrails/list", key=key2).status_code == 403
    assert gw.admin("POST", "/guardrails/apply_guardrail", key=key2,
                    json={"guardrail_name": "pii", "text": "x"}).status_code == 403


def test_spend_logs_record_guardrails_and_their_outcome(stack, emulator):
    gw = stack.gw
    key = gw.generate(key_alias="guarded-spend", guardrails=["pii", "topic"])["key"]
    ok = gw.chat(key, model="claude", content=f"mail {EMAIL}")
    blocked = gw.chat(key, model="claude", content="crypto tips")
    assert (ok.status_code, blocked.status_code) == (200, 400)

    def rows():
        r = gw.admin("GET", "/spend/logs", params={"api_key": key})
        return r.json() if r.status_code == 200 and len(r.json()) >= 2 else None

    logs = {row["request_id"]: row for row in wait_for(rows, what="two spend-log rows")}
    good = logs[ok.headers["x-request-id"]]["guardrail_information"]
    assert [(g["guardrail_name"], g["guardrail_mode"], g["guardrail_status"]) for g in good] == [
        ("pii", "pre_call", "masked"), ("topic", "during_call", "passed")]
    assert all(g["duration_ms"] > 0 for g in good)
    bad = logs[blocked.headers["x-request-id"]]
    assert bad["status"] == "failure"
    # The pre_call guardrail (the same policy) blocks first: during_call never starts.
    assert [(g["guardrail_name"], g["guardrail_mode"], g["guardrail_status"])
            for g in bad["guardrail_information"]] == [("pii", "pre_call", "blocked")]
    assert EMAIL not in json.dumps(list(logs.values()))


def default_on_config(emu_url: str) -> dict:
    return {
        "model_list": [deployment("claude", CLAUDE, emu_url)],
        "guardrails": [guardrail("everyone", ["pre_call", "post_call"], emu_url, default_on=True),
                       guardrail("optional", "pre_call", emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


def test_default_on_guardrails_run_on_every_request():
    with running_stack(default_on_config) as stack:
        oai = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        raw = oai.chat.completions.with_raw_response.create(
            model="claude", messages=[{"role": "user", "content": f"mail {EMAIL}"}])
        assert raw.headers["x-litellm-applied-guardrails"] == "everyone"
        assert "{EMAIL}" in raw.parse().choices[0].message.content
        calls = guardrail_calls(stack.emulator)
        assert [c["body"]["source"] for c in calls] == ["INPUT", "OUTPUT"]
        with pytest.raises(openai.BadRequestError):
            oai.responses.create(model="claude", input="crypto tips")
        m = anthropic.Anthropic(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0).messages.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": f"mail {EMAIL}"}])
        assert "{EMAIL}" in m.content[0].text
        # `shale check` shows it (credentials masked).
        import subprocess

        from shale_harness import SHALE_BIN

        out = subprocess.run([SHALE_BIN, "check", stack.config_path], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "guardrails: 2" in out.stdout
        assert "guardrail everyone → bedrock shaledemo version DRAFT, mode [pre_call, post_call], default_on" in out.stdout
        assert "aws_secret_access_key: ***" in out.stdout
        assert "EXAMPLEKEY" not in out.stdout
        assert httpx.get(stack.url + "/health/liveliness").status_code == 200
