"""Guardrail latency and traces (issue #29), with an emulator that takes a fixed time per call
(`--latency-ms`): a pre_call guardrail adds about one ApplyGuardrail round trip, a during_call one
adds nothing to a passing request (it runs next to the model call), and every ApplyGuardrail call
is one `guardrail.apply` span with its Bedrock client span under the request's server span."""

from __future__ import annotations

import statistics
import time

import openai

from guardrails_harness import CLAUDE, guardrail
from shale_harness import GATEWAY_KEY, deployment, running_stack, start_emulator, stop_process
from test_otel_traces import Collected, attrs, start_gateway_with_env, start_http_receiver

LATENCY_MS = 400


def config(emu_url: str) -> dict:
    return {
        "model_list": [deployment("claude", CLAUDE, emu_url)],
        "guardrails": [guardrail("pre", "pre_call", emu_url), guardrail("during", "during_call", emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


def median_seconds(oai, guardrails, n=3) -> float:
    times = []
    for _ in range(n):
        started = time.monotonic()
        oai.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hello there"}],
            extra_body={"guardrails": guardrails} if guardrails else None,
        )
        times.append(time.monotonic() - started)
    return statistics.median(times)


def test_pre_call_adds_one_round_trip_and_during_call_adds_none():
    with running_stack(config, emulator_args=("--latency-ms", str(LATENCY_MS))) as stack:
        oai = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        median_seconds(oai, [], n=1)  # warm the connections
        base = median_seconds(oai, [])
        pre = median_seconds(oai, ["pre"])
        during = median_seconds(oai, ["during"])
        rt = LATENCY_MS / 1000
        assert base >= rt
        assert pre - base >= rt * 0.8, (base, pre)
        assert pre - base < rt * 1.6, (base, pre)
        assert during - base < rt * 0.5, (base, during)


def test_one_span_per_apply_guardrail_call():
    collected = Collected()
    receiver, receiver_url = start_http_receiver(collected)

    def make(emu_url):
        return config(emu_url) | {"litellm_settings": {"callbacks": ["otel"]}}

    emu_proc, emu_url = start_emulator()
    try:
        gw, url = start_gateway_with_env(make(emu_url), {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        })
        try:
            oai = openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
            oai.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "mail jane@example.com"}],
                extra_body={"guardrails": ["pre"]},
            )
            server = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_SERVER)[0]
            guards = collected.wait_for(lambda s: s.name == "ApplyGuardrail pre")
            assert len(guards) == 1
            g = guards[0]
            assert g.parent_span_id == server.span_id
            a = attrs(g)
            assert a["shale.guardrail.name"] == "pre"
            assert a["shale.guardrail.mode"] == "pre_call"
            assert a["shale.guardrail.outcome"] == "masked"
            calls = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_CLIENT and s.parent_span_id == g.span_id)
            assert len(calls) == 1
            c = attrs(calls[0])
            assert calls[0].name == "apply_guardrail shaledemo"
            assert c["rpc.method"] == "ApplyGuardrail"
            assert c["http.response.status_code"] == 200
            assert "jane@example.com" not in str([attrs(s) for s in collected.spans])
        finally:
            stop_process(gw)
            receiver.shutdown()
    finally:
        stop_process(emu_proc)
