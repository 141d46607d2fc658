"""The router end to end, one emulator per deployment: retries route around a dead deployment,
cooldown takes it out and lets it back, each kind of fallback, per-request fallbacks, aliases, the
`x-litellm-*` headers and `/health`."""

from __future__ import annotations

import time

import openai
import pytest

from router_harness import Emulators, Gateway, dep, errors
from shale_harness import GATEWAY_KEY


@pytest.fixture(scope="module")
def emus():
    e = Emulators(3)
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def clean(emus):
    emus.reset()
    yield
    emus.reset()


def test_retries_route_around_a_dead_deployment(emus):
    gw = Gateway(
        [dep("m", emus.urls[0], "east"), dep("m", emus.urls[1], "west")],
        router_settings={"num_retries": 2, "disable_cooldowns": True},
    )
    try:
        emus.ctl[0].script(errors("ServiceUnavailableException", 200))
        retried = 0
        for _ in range(30):
            status, headers, body = gw.chat("m")
            assert status == 200, body
            assert headers["x-litellm-model-id"] == "west"
            assert headers["x-litellm-model-group"] == "m"
            retried += int(headers["x-litellm-attempted-retries"])
        assert emus.calls(0) >= 3, "the dead deployment was tried"
        assert retried == emus.calls(0), "each failed try was retried on the live one"
        assert emus.calls(1) == 30
    finally:
        gw.stop()


def test_cooldown_takes_a_deployment_out_and_lets_it_back(emus):
    gw = Gateway(
        [dep("m", emus.urls[0], "flaky"), dep("m", emus.urls[1], "steady")],
        router_settings={"allowed_fails": 1, "cooldown_time": 2},
    )
    try:
        emus.ctl[0].script(errors("ThrottlingException", 2, "Too many requests"))
        while emus.calls(0) < 2:
            status, _, body = gw.chat("m")
            assert status == 200, body
        health = {d["model_id"]: d for d in gw.health()["deployments"]}
        assert health["flaky"]["state"] == "cooling_down"
        assert health["flaky"]["last_error"]["class"] == "rate_limit"
        assert health["steady"]["state"] == "healthy"
        before = emus.calls(0)
        for _ in range(20):
            assert gw.chat("m")[0] == 200
        assert emus.calls(0) == before, "nothing reaches a cooling deployment"
        time.sleep(2.2)
        for _ in range(20):
            assert gw.chat("m")[0] == 200
        assert emus.calls(0) > before, "back after cooldown_time"
        assert {d["model_id"]: d for d in gw.health()["deployments"]}["flaky"]["state"] == "healthy"
    finally:
        gw.stop()


def test_a_group_whose_deployments_all_cool_still_answers(emus):
    gw = Gateway(
        [dep("m", emus.urls[0], "only")],
        router_settings={"allowed_fails": 0, "cooldown_time": 60, "num_retries": 0},
    )
    try:
        emus.ctl[0].script(errors("ServiceUnavailableException", 1))
        assert gw.chat("m")[0] == 503
        assert gw.health()["deployments"][0]["state"] == "cooling_down"
        status, headers, _ = gw.chat("m")
        assert status == 200 and headers["x-litellm-model-id"] == "only"
    finally:
        gw.stop()


def test_callers_own_errors_are_not_retried_and_do_not_cool(emus):
    gw = Gateway(
        [dep("m", emus.urls[0], "a"), dep("m", emus.urls[1], "b")],
        router_settings={"allowed_fails": 0, "num_retries": 3},
    )
    try:
        emus.ctl[0].script(errors("ValidationException", 1, "messages: bad thing"))
        emus.ctl[1].script(errors("ValidationException", 1, "messages: bad thing"))
        status, _, body = gw.chat("m")
        assert status == 400, body
        assert emus.calls(0) + emus.calls(1) == 1
        assert all(d["state"] == "healthy" for d in gw.health()["deployments"])
    finally:
        gw.stop()


@pytest.fixture
def fallback_gw(emus):
    gw = Gateway(
        [
            dep("a", emus.urls[0], "a-1"),
            dep("b", emus.urls[1], "b-1"),
            dep("long", emus.urls[2], "long-1"),
            dep("lenient", emus.urls[2], "lenient-1"),
            dep("solo", emus.urls[0], "solo-1"),
        ],
        router_settings={
            "num_retries": 1,
            "fallbacks": [{"a": ["b"]}],
            "model_group_alias": {"gpt-4o": "a"},
        },
        litellm_settings={
            "context_window_fallbacks": [{"a": ["long"]}],
            "content_policy_fallbacks": [{"a": ["lenient"]}],
            "default_fallbacks": ["b"],
        },
    )
    yield gw
    gw.stop()


def test_generic_fallback_after_retries(emus, fallback_gw):
    emus.ctl[0].script(errors("InternalServerException", 10))
    status, headers, body = fallback_gw.chat("a")
    assert status == 200, body
    assert headers["x-litellm-model-group"] == "b"
    assert headers["x-litellm-model-id"] == "b-1"
    assert headers["x-litellm-attempted-fallbacks"] == "1"
    assert headers["x-litellm-attempted-retries"] == "1"
    assert body["model"] == "a", "the answer keeps the name the client asked for"
    assert emus.calls(0) == 2


def test_context_window_fallback_goes_straight_to_the_bigger_model(emus, fallback_gw):
    emus.ctl[0].script(errors("ValidationException", 1, "Input is too long for requested model."))
    status, headers, body = fallback_gw.chat("a")
    assert status == 200, body
    assert headers["x-litellm-model-group"] == "long"
    assert headers["x-litellm-attempted-retries"] == "0"
    assert emus.calls(0) == 1


def test_content_policy_fallback(emus, fallback_gw):
    emus.ctl[0].script(errors("ValidationException", 1, "The request was blocked by content filtering policy."))
    status, headers, body = fallback_gw.chat("a")
    assert status == 200, body
    assert headers["x-litellm-model-group"] == "lenient"


def test_default_fallbacks_for_groups_without_their_own(emus, fallback_gw):
    emus.ctl[0].script(errors("ServiceUnavailableException", 10))
    status, headers, _ = fallback_gw.chat("solo")
    assert status == 200
    assert headers["x-litellm-model-group"] == "b"


def test_per_request_fallbacks_and_disable_fallbacks(emus, fallback_gw):
    client = openai.OpenAI(base_url=fallback_gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    emus.ctl[0].script(errors("ServiceUnavailableException", 10))
    raw = client.chat.completions.with_raw_response.create(
        model="a", messages=[{"role": "user", "content": "hi"}], extra_body={"fallbacks": ["lenient"]}
    )
    assert raw.headers["x-litellm-model-group"] == "lenient"
    assert raw.parse().choices[0].message.content
    sent = emus.ctl[2].last_body()
    assert "fallbacks" not in json_dump(sent)
    emus.reset()
    emus.ctl[0].script(errors("ServiceUnavailableException", 10))
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(
            model="a", messages=[{"role": "user", "content": "hi"}], extra_body={"disable_fallbacks": True}
        )
    assert err.value.status_code == 503
    assert emus.calls(1) == 0 and emus.calls(2) == 0


def test_model_group_alias(emus, fallback_gw):
    status, headers, body = fallback_gw.chat("gpt-4o")
    assert status == 200, body
    assert headers["x-litellm-model-group"] == "a"


def json_dump(v) -> str:
    import json

    return json.dumps(v)


def test_embeddings_are_routed_too(emus):
    from shale_harness import deployment

    def emb(url, model_id):
        d = deployment("emb", "bedrock/amazon.titan-embed-text-v2:0", url)
        d["model_info"] = {"id": model_id, "mode": "embedding"}
        return d

    gw = Gateway([emb(emus.urls[0], "emb-east"), emb(emus.urls[1], "emb-west")],
                 router_settings={"disable_cooldowns": True})
    try:
        emus.ctl[0].script(errors("ServiceUnavailableException", 50))
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        for _ in range(10):
            raw = client.embeddings.with_raw_response.create(model="emb", input="route me")
            assert raw.headers["x-litellm-model-id"] == "emb-west"
            assert len(raw.parse().data[0].embedding) > 0
    finally:
        gw.stop()


def test_readme_routing_example_passes_check(tmp_path):
    """docs/routing.md's two-region, two-account example is a valid config whose router keys are
    all understood."""
    import os
    import pathlib
    import subprocess

    from shale_harness import SHALE_BIN

    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text()
    yaml_text = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "routing.yaml"
    path.write_text(yaml_text)
    env = dict(os.environ, REDIS_HOST="127.0.0.1", REDIS_PASSWORD="x", SHALE_MASTER_KEY="k")
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "OK — 6 deployment(s), 3 model name(s)" in out.stdout
    assert "understood: router_settings.routing_strategy" in out.stdout
    assert "ignored" not in out.stdout, out.stdout


def test_anthropic_messages_are_routed_too(emus):
    import anthropic

    from shale_harness import deployment

    def claude(url, model_id):
        d = deployment("claude", "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", url)
        d["model_info"] = {"id": model_id}
        return d

    gw = Gateway([claude(emus.urls[0], "c-east"), claude(emus.urls[1], "c-west")],
                 router_settings={"disable_cooldowns": True})
    try:
        emus.ctl[0].script(errors("ThrottlingException", 50, "Too many requests"))
        client = anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)
        for _ in range(6):
            raw = client.messages.with_raw_response.create(
                model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
            assert raw.headers["x-litellm-model-id"] == "c-west"
            assert raw.parse().content[0].text
    finally:
        gw.stop()
