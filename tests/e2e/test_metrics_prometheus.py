"""`GET /metrics` end to end: scripted traffic (successes, a stream, Bedrock throttling, an unknown
model) through the real gateway and the emulator, then the scrape is parsed with the official
`prometheus_client` text parser and every LiteLLM metric is checked for its labels and counts.
Also: the cost and overhead answer headers, `require_auth_for_metrics_endpoint`, `/metrics` off
by default, and the access log line.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time

import openai
import pytest
from prometheus_scrape import Scrape, scrape
from shale_harness import (
    EMULATOR_BIN,
    GATEWAY_KEY,
    SHALE_BIN,
    EmulatorControl,
    deployment,
    start_gateway,
    start_process,
    stop_process,
)

CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
# Geo (us.) tier of Claude Sonnet 4.5 in crates/shale-telemetry/data/bedrock_prices.json, per token.
CLAUDE_IN, CLAUDE_OUT = 3.3e-6, 16.5e-6

LITELLM_METRICS = [
    "litellm_proxy_total_requests_metric",
    "litellm_proxy_failed_requests_metric",
    "litellm_request_total_latency_metric",
    "litellm_llm_api_latency_metric",
    "litellm_llm_api_time_to_first_token_metric",
    "litellm_overhead_latency_metric",
    "litellm_input_tokens_metric",
    "litellm_output_tokens_metric",
    "litellm_total_tokens_metric",
    "litellm_spend_metric",
    "litellm_deployment_state",
    "litellm_deployment_success_responses",
    "litellm_deployment_failure_responses",
    "litellm_deployment_total_requests",
    "litellm_deployment_cooled_down",
    "litellm_deployment_successful_fallbacks",
    "litellm_deployment_failed_fallbacks",
    "litellm_remaining_requests_metric",
    "litellm_remaining_tokens_metric",
]


@pytest.fixture(scope="module")
def stack():
    emu_proc, emu_url = start_process(
        [EMULATOR_BIN, "--listen", "127.0.0.1:0"], "shale-emulator listening on "
    )
    config = {
        "model_list": [
            deployment("claude", CLAUDE, emu_url, rpm=100, tpm=100000),
            deployment("claude-throttled", CLAUDE, emu_url, num_retries=0),
            deployment("priced", "bedrock/amazon.nova-lite-v1:0", emu_url,
                       input_cost_per_token=0.001, output_cost_per_token=0.002),
            deployment("embed", "bedrock/amazon.titan-embed-text-v2:0", emu_url),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }
    config["model_list"][0]["model_info"] = {"id": "claude-deployment-1"}
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    json.dump(config, cfg)
    cfg.close()
    gw = subprocess.Popen(
        [SHALE_BIN, "--config", cfg.name, "--host", "127.0.0.1", "--port", "0", "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**__import__("os").environ, "RUST_LOG": "warn,shale::access=info"},
    )
    line = gw.stdout.readline().strip()
    assert line.startswith("shale listening on "), line
    url = line[len("shale listening on "):]
    yield {"emulator": EmulatorControl(emu_url), "url": url, "log": log.name}
    stop_process(gw)
    stop_process(emu_proc)


@pytest.fixture(scope="module")
def traffic(stack):
    """The scripted traffic, once; returns what the clients saw."""
    emu = stack["emulator"]
    emu.reset()
    client = openai.OpenAI(base_url=stack["url"] + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    seen = {"usage": [], "costs": [], "raw": []}
    for text in ["Hello there", "What is the capital of France, please?"]:
        raw = client.chat.completions.with_raw_response.create(
            model="claude", messages=[{"role": "user", "content": text}]
        )
        seen["raw"].append(raw)
        seen["usage"].append(raw.parse().usage)
        seen["costs"].append(float(raw.headers["x-litellm-response-cost"]))
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Count to three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    seen["stream_usage"] = chunks[-1].usage
    emu.script([{"error": {"type": "ThrottlingException", "message": "Too many requests"}}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="claude-throttled", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    raw = client.chat.completions.with_raw_response.create(
        model="priced", messages=[{"role": "user", "content": "price me"}]
    )
    seen["priced"] = (raw.parse().usage, float(raw.headers["x-litellm-response-cost"]))
    time.sleep(0.2)  # the stream's record is finished when its body ends
    status, text = scrape(stack["url"])
    assert status == 200, text
    seen["scrape"] = Scrape(text)
    seen["text"] = text
    return seen


def test_every_litellm_metric_is_exposed(traffic):
    scrape = traffic["scrape"]
    missing = [m for m in LITELLM_METRICS if not scrape.has_family(m)]
    assert not missing, f"missing families: {missing}\n{sorted(scrape.families)}"
    for own in ["shale_in_flight_requests", "shale_in_flight_streams", "process_resident_memory_bytes"]:
        assert scrape.has_family(own), own
    assert scrape.value("process_resident_memory_bytes") > 0


def test_request_counts_and_labels(traffic):
    s = traffic["scrape"]
    key_hash = hashlib.sha256(GATEWAY_KEY.encode()).hexdigest()
    total = "litellm_proxy_total_requests_metric_total"
    assert s.value(total, requested_model="claude", status_code="200") == 3
    ok = s.matching(total, requested_model="claude", status_code="200")[0]
    assert ok.labels["hashed_api_key"] == key_hash
    assert ok.labels["model_id"] == "claude-deployment-1"
    assert s.value(total, requested_model="claude-throttled", status_code="429") == 1
    assert s.value(total, requested_model="nope", status_code="400") == 1
    failed = "litellm_proxy_failed_requests_metric_total"
    assert s.value(failed, requested_model="claude-throttled", exception_status="429",
                   exception_class="Bedrock.RateLimitError") == 1
    assert s.value(failed, requested_model="nope", exception_status="400",
                   exception_class="BadRequestError") == 1
    assert s.absent(failed, requested_model="claude"), "no failure series for a model that never failed"


def test_deployment_metrics(traffic):
    s = traffic["scrape"]
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    ok = s.matching("litellm_deployment_success_responses_total", requested_model="claude")
    assert sum(x.value for x in ok) == 3
    assert ok[0].labels["litellm_model_name"] == model
    assert ok[0].labels["api_provider"] == "bedrock"
    assert ok[0].labels["api_base"].startswith("http://127.0.0.1")
    assert s.value("litellm_deployment_total_requests_total", requested_model="claude") == 3
    assert s.value("litellm_deployment_total_requests_total", requested_model="claude-throttled") == 1
    assert s.value("litellm_deployment_failure_responses_total", requested_model="claude-throttled",
                   exception_status="429", exception_class="Bedrock.RateLimitError") == 1
    assert s.value("litellm_deployment_state", model_id="claude-deployment-1") == 0
    throttled_state = [x for x in s.matching("litellm_deployment_state", litellm_model_name=model)
                       if x.labels["model_id"] != "claude-deployment-1"]
    assert [x.value for x in throttled_state] == [1]


def test_latency_histograms_use_litellm_buckets(traffic):
    s = traffic["scrape"]
    for name in ["litellm_request_total_latency_metric", "litellm_llm_api_latency_metric",
                 "litellm_overhead_latency_metric"]:
        assert s.value(name + "_count", model_id="claude-deployment-1") == 3, name
        buckets = {float(x.labels["le"]) for x in s.matching(name + "_bucket", model_id="claude-deployment-1")}
        # LiteLLM's LATENCY_BUCKETS (litellm/types/integrations/prometheus.py), seconds.
        assert buckets == {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
                           120.0, 300.0, 420.0, 600.0, float("inf")}, buckets
    assert s.value("litellm_llm_api_time_to_first_token_metric_count", model_id="claude-deployment-1") == 1
    assert s.value("litellm_request_total_latency_metric_sum", model_id="claude-deployment-1") > 0


def test_tokens_and_spend_match_usage(traffic):
    s = traffic["scrape"]
    usages = traffic["usage"] + [traffic["stream_usage"]]
    prompt = sum(u.prompt_tokens for u in usages)
    completion = sum(u.completion_tokens for u in usages)
    assert s.value("litellm_input_tokens_metric_total", requested_model="claude") == prompt
    assert s.value("litellm_output_tokens_metric_total", requested_model="claude") == completion
    assert s.value("litellm_total_tokens_metric_total", requested_model="claude") == prompt + completion
    for usage, cost in zip(traffic["usage"], traffic["costs"]):
        assert cost == pytest.approx(usage.prompt_tokens * CLAUDE_IN + usage.completion_tokens * CLAUDE_OUT)
    expected_spend = sum(u.prompt_tokens * CLAUDE_IN + u.completion_tokens * CLAUDE_OUT for u in usages)
    assert s.value("litellm_spend_metric_total", model_id="claude-deployment-1") == pytest.approx(expected_spend)
    usage, cost = traffic["priced"]
    assert cost == pytest.approx(usage.prompt_tokens * 0.001 + usage.completion_tokens * 0.002)


def test_remaining_requests_and_tokens_from_rpm_tpm(traffic):
    s = traffic["scrape"]
    usages = traffic["usage"] + [traffic["stream_usage"]]
    assert s.value("litellm_remaining_requests_metric", model_id="claude-deployment-1") == 97
    assert s.value("litellm_remaining_tokens_metric", model_id="claude-deployment-1") == 100000 - sum(
        u.total_tokens for u in usages
    )


def test_overhead_headers(traffic):
    headers = traffic["raw"][0].headers
    assert headers["x-litellm-overhead-duration-ms"] == headers["x-shale-overhead-ms"]
    assert float(headers["x-litellm-overhead-duration-ms"]) >= 0


def test_in_flight_gauges_return_to_zero(traffic):
    s = traffic["scrape"]
    # The scrape itself is not a model request.
    assert s.value("shale_in_flight_requests") == 0
    assert s.value("shale_in_flight_streams") == 0


def test_access_log_has_one_line_per_request(stack, traffic):
    lines = [json.loads(line) for line in open(stack["log"]) if '"access"' in line]
    by_model = {}
    for entry in lines:
        by_model.setdefault(entry["model"], []).append(entry)
    assert len(by_model["claude"]) == 3
    throttled = by_model["claude-throttled"][0]
    assert throttled["status"] == 429 and throttled["error"] == "Bedrock.RateLimitError"
    first = by_model["claude"][0]
    assert first["deployment"] == "claude-deployment-1"
    assert first["prompt_tokens"] == traffic["usage"][0].prompt_tokens
    assert first["cost_usd"] == pytest.approx(traffic["costs"][0])
    assert first["request_id"]
    assert GATEWAY_KEY not in open(stack["log"]).read()
    streamed = [e for e in by_model["claude"] if e["stream"]]
    assert len(streamed) == 1 and streamed[0]["ttft_ms"] > 0


def test_embeddings_are_counted_and_priced(stack, traffic):
    client = openai.OpenAI(base_url=stack["url"] + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="embed", input=["otters hold hands", "x"])
    usage = raw.parse().usage
    # Titan Text Embeddings v2: USD 0.02 per million input tokens.
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(usage.prompt_tokens * 0.02e-6)
    status, text = scrape(stack["url"])
    s = Scrape(text)
    assert s.value("litellm_input_tokens_metric_total", requested_model="embed") == usage.prompt_tokens
    assert s.value("litellm_output_tokens_metric_total", requested_model="embed") == 0
    assert s.value("litellm_proxy_total_requests_metric_total", requested_model="embed",
                   status_code="200") == 1


def test_metrics_auth_and_default_off():
    emu_proc, emu_url = start_process(
        [EMULATOR_BIN, "--listen", "127.0.0.1:0"], "shale-emulator listening on "
    )
    secured, secured_url, _ = start_gateway({
        "model_list": [deployment("claude", CLAUDE, emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"success_callback": ["prometheus"], "require_auth_for_metrics_endpoint": True},
    })
    off, off_url, _ = start_gateway({
        "model_list": [deployment("claude", CLAUDE, emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
    })
    try:
        status, _ = scrape(secured_url)
        assert status == 401
        status, text = scrape(secured_url, {"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert status == 200 and "litellm_deployment_state" in text
        status, _ = scrape(off_url, {"Authorization": f"Bearer {GATEWAY_KEY}"})
        assert status == 404
    finally:
        stop_process(secured)
        stop_process(off)
        stop_process(emu_proc)


def test_fallback_is_counted():
    emu_proc, emu_url = start_process(
        [EMULATOR_BIN, "--listen", "127.0.0.1:0"], "shale-emulator listening on "
    )
    gw, url, _ = start_gateway({
        "model_list": [
            deployment("primary", CLAUDE, emu_url, num_retries=0),
            deployment("backup", "bedrock/amazon.nova-lite-v1:0", emu_url, num_retries=0),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"], "fallbacks": [{"primary": ["backup"]}],
                             "num_retries": 0},
    })
    try:
        EmulatorControl(emu_url).script([{"error": {"type": "ThrottlingException", "message": "busy"}}])
        client = openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="primary", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
        status, text = scrape(url)
        s = Scrape(text)
        assert s.value("litellm_deployment_successful_fallbacks_total", requested_model="primary",
                       fallback_model="backup") == 1
        assert s.absent("litellm_deployment_failed_fallbacks_total"), "no fallback failed"
        # Series are pre-resolved per deployment, so the answer counts under the group that served
        # it (LiteLLM would label it with the group asked for).
        assert s.value("litellm_proxy_total_requests_metric_total", requested_model="backup",
                       status_code="200") == 1
    finally:
        stop_process(gw)
        stop_process(emu_proc)
