"""Built-in tools OpenAI hosts (web_search, file_search, code_interpreter, …) through shale: dropped by
default on `/v1/responses` and chat completions, named in `x-shale-dropped-tools`, logged once per
request (no request text) and counted in `shale_dropped_tools_total{tool}`; refused with today's 400
when `general_settings.drop_hosted_tools: false`. Official OpenAI SDK → shale → the Bedrock emulator.
"""

from __future__ import annotations

import subprocess

import openai
import pytest

from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY, SHALE_BIN, LoggedStack, deployment, logged_stack

MODEL_ID = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CHAT_WEATHER = {
    "type": "function",
    "function": {k: v for k, v in WEATHER.items() if k != "type"},
}
SECRET_PROMPT = "tell-nobody-7f3a what is the weather in Paris?"


def gateway_config(emu_url: str, strict: bool) -> dict:
    general = {"master_key": GATEWAY_KEY}
    if strict:
        general["drop_hosted_tools"] = False
    return {
        "model_list": [deployment("claude", f"bedrock/{MODEL_ID}", emu_url)],
        "general_settings": general,
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


def client(gw: LoggedStack) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def model_calls(gw: LoggedStack) -> list[dict]:
    return [q for q in gw.emulator.requests() if q["path"].startswith("/model/")]


@pytest.fixture(scope="module")
def lenient():
    with logged_stack(lambda emu_url: gateway_config(emu_url, strict=False)) as gw:
        yield gw


@pytest.fixture(scope="module")
def strict():
    with logged_stack(lambda emu_url: gateway_config(emu_url, strict=True)) as gw:
        yield gw


def dropped_count(gw: LoggedStack, tool: str, baseline: bool = False) -> float:
    """Drops counted for `tool`; a `baseline` (before the request) may not exist yet."""
    scrape = Scrape.of(gw.url)
    assert scrape.has_family("shale_dropped_tools"), scrape.text[:2000]
    if baseline:
        return scrape.value_or_zero("shale_dropped_tools_total", tool=tool)
    return scrape.value("shale_dropped_tools_total", tool=tool)


def sent_tool_names(body: dict) -> list[str]:
    return [t["toolSpec"]["name"] for t in body.get("toolConfig", {}).get("tools", []) if "toolSpec" in t]


def test_responses_drop_hosted_tools_and_say_so(lenient):
    gw = lenient
    gw.emulator.reset()
    before_ws = dropped_count(gw, "web_search", baseline=True)
    before_fs = dropped_count(gw, "file_search", baseline=True)
    raw = client(gw).responses.with_raw_response.create(
        model="claude",
        input=SECRET_PROMPT,
        tools=[{"type": "web_search"}, WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}],
    )
    assert raw.status_code == 200
    assert raw.headers["x-shale-dropped-tools"] == "web_search,file_search"
    response = raw.parse()
    assert response.status == "completed"
    calls = model_calls(gw)
    assert len(calls) == 1
    assert sent_tool_names(calls[0]["body"]) == ["get_weather"], "only the function tool reaches Bedrock"
    assert dropped_count(gw, "web_search") == before_ws + 1
    assert dropped_count(gw, "file_search") == before_fs + 1

    request_id = raw.headers["x-request-id"]
    mine = [l for l in gw.log_lines(request_id) if "dropped_tools" in l]
    assert len(mine) == 1, gw.log.read_text()[-3000:]
    assert mine[0]["level"] == "INFO" and mine[0]["dropped_tools"] == "web_search,file_search"
    assert "tell-nobody-7f3a" not in gw.log.read_text(), "no request text in the log"


def test_responses_stream_carries_the_header(lenient):
    gw = lenient
    with client(gw).responses.with_streaming_response.create(
        model="claude", input="hi", tools=[{"type": "web_search_preview"}, WEATHER], stream=True,
    ) as raw:
        assert raw.headers["x-shale-dropped-tools"] == "web_search_preview"
        events = [line for line in raw.iter_lines() if line.startswith("event: ")]
    assert events[-1] == "event: response.completed"


def test_chat_completions_drop_hosted_tools(lenient):
    gw = lenient
    gw.emulator.reset()
    raw = client(gw).chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[{"type": "web_search_preview"}, CHAT_WEATHER, {"type": "code_interpreter", "container": {"type": "auto"}}],
    )
    assert raw.status_code == 200
    assert raw.headers["x-shale-dropped-tools"] == "web_search_preview,code_interpreter"
    assert sent_tool_names(model_calls(gw)[0]["body"]) == ["get_weather"]
    # Nothing dropped: no header.
    plain = client(gw).chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "hi"}], tools=[CHAT_WEATHER],
    )
    assert "x-shale-dropped-tools" not in plain.headers


def test_strict_mode_answers_400(strict):
    gw = strict
    gw.emulator.reset()
    with pytest.raises(openai.BadRequestError) as err:
        client(gw).responses.create(model="claude", input="news?", tools=[WEATHER, {"type": "web_search"}])
    body = err.value.body
    assert err.value.status_code == 400
    assert body["code"] == "unsupported_tool" and body["param"] == "tools[1].type"
    assert "web_search" in body["message"] and "drop_hosted_tools" in body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client(gw).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hi"}], tools=[{"type": "web_search_preview"}],
        )
    assert err.value.body["param"] == "tools[0].type"
    assert "web_search_preview" in err.value.body["message"]
    assert model_calls(gw) == [], "nothing reached Bedrock"
    scrape = Scrape.of(gw.url)
    assert scrape.has_family("shale_dropped_tools"), scrape.text[:2000]
    assert scrape.absent("shale_dropped_tools_total", tool="web_search"), "a refused tool is not counted as dropped"


def test_shale_check_tells_which_mode(lenient, strict):
    def check(path: str) -> str:
        out = subprocess.run([SHALE_BIN, "check", path], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    line = "built-in tools OpenAI hosts (web_search, file_search, code_interpreter, …): "
    assert line + "dropped, named in the x-shale-dropped-tools answer header" in check(lenient.config_path)
    assert line + "refused with 400 unsupported_tool (general_settings.drop_hosted_tools: false)" in check(
        strict.config_path
    )
