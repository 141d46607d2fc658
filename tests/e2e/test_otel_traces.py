"""OpenTelemetry traces end to end: shale exports OTLP to a real receiver — a small OTLP/HTTP
server and an OTLP/gRPC server (`grpcio`), both decoding with the official `opentelemetry-proto`
messages. Checks the server span (HTTP semantic conventions, continuing the caller's W3C
`traceparent`), one Bedrock client span per attempt (a throttled attempt and its retry), the GenAI
attributes, the standard `OTEL_*` variables, and that a dead collector costs the client nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from shale_harness import (
    EMULATOR_BIN,
    GATEWAY_KEY,
    SHALE_BIN,
    EmulatorControl,
    deployment,
    start_process,
    stop_process,
)

CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Collected:
    """Spans received, flattened, with the resource attributes and request headers seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.spans: list = []
        self.resources: list[dict] = []
        self.headers: list[dict] = []

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest, headers: dict):
        with self.lock:
            self.headers.append(headers)
            for rs in request.resource_spans:
                self.resources.append({a.key: value_of(a.value) for a in rs.resource.attributes})
                for ss in rs.scope_spans:
                    self.spans.extend(ss.spans)

    def wait_for(self, predicate, timeout: float = 15.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.spans if predicate(s)]
            if found:
                return found
            time.sleep(0.1)
        return []


def value_of(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(span) -> dict:
    return {a.key: value_of(a.value) for a in span.attributes}


def start_http_receiver(collected: Collected):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            req = trace_service_pb2.ExportTraceServiceRequest()
            req.ParseFromString(body)
            collected.add(req, {k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
            out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def start_grpc_receiver(collected: Collected):
    import grpc  # grpcio, tests/requirements.txt

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 (gRPC API)
            collected.add(request, dict(context.invocation_metadata()))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"http://127.0.0.1:{port}"


def start_gateway_with_env(config: dict, env: dict) -> tuple[subprocess.Popen, str]:
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    json.dump(config, cfg)
    cfg.close()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update({"RUST_LOG": "warn"}, **env)
    proc = subprocess.Popen(
        [SHALE_BIN, "--config", cfg.name, "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=full_env,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("shale listening on "), line
    return proc, line[len("shale listening on "):]


@pytest.fixture(scope="module")
def emulator():
    proc, url = start_process([EMULATOR_BIN, "--listen", "127.0.0.1:0"], "shale-emulator listening on ")
    yield url, EmulatorControl(url)
    stop_process(proc)


def gateway_config(emu_url: str, callbacks: list[str] | None = None) -> dict:
    config = {
        "model_list": [
            deployment("claude", CLAUDE, emu_url, num_retries=1),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
    }
    if callbacks:
        config["litellm_settings"] = {"callbacks": callbacks}
    return config


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def test_http_protobuf_server_and_bedrock_attempt_spans(emulator):
    emu_url, emu = emulator
    collected = Collected()
    receiver, receiver_url = start_http_receiver(collected)
    gw, url = start_gateway_with_env(gateway_config(emu_url, ["otel"]), {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-otlp-token=abc123",
        "OTEL_SERVICE_NAME": "shale-under-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    })
    try:
        emu.reset()
        emu.script([{"error": {"type": "ThrottlingException", "message": "slow down"}}])
        reply = client(url).chat.completions.with_raw_response.create(
            model="claude",
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=50,
            extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        usage = reply.parse().usage
        servers = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_SERVER)
        assert len(servers) == 1, servers
        server = servers[0]
        assert server.trace_id.hex() == TRACE_ID
        assert server.parent_span_id.hex() == PARENT_ID
        assert server.name == "POST /v1/chat/completions"
        a = attrs(server)
        assert a["http.request.method"] == "POST"
        assert a["http.response.status_code"] == 200
        assert a["gen_ai.system"] == "aws.bedrock"
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.request.model"] == "claude"
        assert a["gen_ai.response.model"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        assert a["gen_ai.usage.input_tokens"] == usage.prompt_tokens
        assert a["gen_ai.usage.output_tokens"] == usage.completion_tokens
        assert a["gen_ai.response.finish_reasons"] == ["stop"]
        assert a["shale.retries"] == 1
        assert a["gen_ai.usage.cost"] > 0

        attempts = collected.wait_for(
            lambda s: s.kind == s.SPAN_KIND_CLIENT and s.parent_span_id == server.span_id
        )
        deadline = time.monotonic() + 5
        while len(attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            attempts = collected.wait_for(
                lambda s: s.kind == s.SPAN_KIND_CLIENT and s.parent_span_id == server.span_id
            )
        attempts.sort(key=lambda s: s.start_time_unix_nano)
        assert len(attempts) == 2, attempts
        first, second = (attrs(s) for s in attempts)
        # GenAI semconv span name: "{gen_ai.operation.name} {gen_ai.request.model}".
        assert [s.name for s in attempts] == ["chat us.anthropic.claude-sonnet-4-5-20250929-v1:0"] * 2
        assert first["http.response.status_code"] == 429 and first["error.type"] == "429"
        assert attempts[0].status.code == attempts[0].status.STATUS_CODE_ERROR
        assert second["http.response.status_code"] == 200
        # The answer's usage, finish reasons and model are on the client span that got it (where
        # Langfuse, Phoenix and other GenAI consumers read them), not on the throttled one.
        assert second["gen_ai.usage.input_tokens"] == usage.prompt_tokens
        assert second["gen_ai.usage.output_tokens"] == usage.completion_tokens
        assert second["gen_ai.response.finish_reasons"] == ["stop"]
        assert second["gen_ai.response.model"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        assert "gen_ai.usage.input_tokens" not in first
        for a in (first, second):
            assert a["gen_ai.system"] == "aws.bedrock"
            assert a["gen_ai.operation.name"] == "chat"
            assert a["gen_ai.request.model"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
            assert a["server.address"] == "127.0.0.1"
        assert all(s.trace_id.hex() == TRACE_ID for s in attempts)
        assert attempts[0].end_time_unix_nano <= attempts[1].start_time_unix_nano

        resource = collected.resources[0]
        assert resource["service.name"] == "shale-under-test"
        assert resource["deployment.environment"] == "e2e"
        assert collected.headers[0]["x-otlp-token"] == "abc123"
        assert collected.headers[0]["path"] == "/v1/traces"
        assert collected.headers[0]["content-type"] == "application/x-protobuf"
        # Spans are trace data only: no log lines, no prompt text by default.
        assert not [s for s in collected.spans if s.kind not in (s.SPAN_KIND_SERVER, s.SPAN_KIND_CLIENT)]
        assert not any("Hello" in str(attrs(s)) for s in collected.spans)
    finally:
        stop_process(gw)
        receiver.shutdown()


def test_grpc_export_and_a_new_trace_without_traceparent(emulator):
    emu_url, emu = emulator
    collected = Collected()
    receiver, receiver_url = start_grpc_receiver(collected)
    gw, url = start_gateway_with_env(gateway_config(emu_url), {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    })
    try:
        emu.reset()
        stream = client(url).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "Count"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        servers = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_SERVER)
        assert len(servers) == 1
        server = servers[0]
        assert server.parent_span_id == b""  # a new trace
        a = attrs(server)
        assert a["shale.stream"] is True
        assert a["gen_ai.usage.output_tokens"] > 0
        assert collected.resources[0]["service.name"] == "shale"
        attempts = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_CLIENT)
        assert len(attempts) == 1 and attempts[0].name == "chat us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        assert attempts[0].trace_id == server.trace_id
        streamed = attrs(attempts[0])
        assert streamed["rpc.method"] == "ConverseStream"
        # A stream's usage arrives with its last event: the client span carries it too, and it
        # ends when the stream does (not when the response headers came).
        assert streamed["gen_ai.usage.output_tokens"] == a["gen_ai.usage.output_tokens"] > 0
        assert streamed["gen_ai.usage.input_tokens"] == a["gen_ai.usage.input_tokens"] > 0
        assert streamed["gen_ai.response.finish_reasons"] == a["gen_ai.response.finish_reasons"] == ["stop"]
        assert attempts[0].end_time_unix_nano >= server.end_time_unix_nano - 50_000_000
    finally:
        stop_process(gw)
        receiver.stop(0)


def test_dead_collector_costs_nothing(emulator):
    emu_url, emu = emulator
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    gw, url = start_gateway_with_env(gateway_config(emu_url, ["otel"]), {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    })
    try:
        emu.reset()
        c = client(url)
        started = time.monotonic()
        for _ in range(20):
            c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"20 requests took {elapsed:.1f}s with a dead collector"
        assert gw.poll() is None
    finally:
        stop_process(gw)


class SilentCollector:
    """A collector that accepts every connection and never answers: the TCP handshake succeeds,
    the request is read by nobody, no response (HTTP or gRPC) ever comes. The exporter's calls
    hang until its own timeout, unlike a closed port that refuses at once."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.listener.close()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_collector_that_never_answers_costs_nothing(emulator, protocol):
    """A collector that accepts and hangs: exports block until the exporter's timeout (set longer
    than the test, so they stay stuck throughout), and the gateway must keep answering with
    bounded latency, streams included, and still stop promptly on SIGTERM."""
    emu_url, emu = emulator
    collector = SilentCollector()
    gw, url = start_gateway_with_env(gateway_config(emu_url, ["otel"]), {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "60000",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": "64",
    })
    try:
        emu.reset()
        c = client(url)
        latencies = []
        started = time.monotonic()
        for i in range(60):
            t0 = time.monotonic()
            if i % 4 == 3:
                chunks = list(c.chat.completions.create(
                    model="claude", messages=[{"role": "user", "content": "hi"}], stream=True))
                assert any(ch.choices and ch.choices[0].finish_reason for ch in chunks), chunks
            else:
                reply = c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
                assert reply.choices[0].message.content
            latencies.append(time.monotonic() - t0)
            time.sleep(0.02)  # spread the requests over several export rounds
        elapsed = time.monotonic() - started
        latencies.sort()
        print(f"{protocol}: 60 requests with a silent collector in {elapsed:.2f}s; latency median "
              f"{1000 * latencies[30]:.1f} ms, max {1000 * latencies[-1]:.1f} ms; "
              f"{len(collector.held)} connection(s) held by the collector")
        assert collector.held, "the exporter reached the collector (its exports are the ones hanging)"
        assert latencies[-1] < 1.0, f"a request took {latencies[-1]:.2f}s with a silent collector"
        assert latencies[30] < 0.25, f"median {latencies[30]:.3f}s with a silent collector"
        t0 = time.monotonic()
        status, _ = http_get(url + "/health/liveliness")
        assert status == 200 and time.monotonic() - t0 < 1.0
        assert gw.poll() is None
        # Shutting down flushes the queue to the same silent collector: it must not wait out the
        # exporter's 60 s timeout (the SDK's shutdown gives up after 5 s).
        gw.terminate()
        t0 = time.monotonic()
        try:
            gw.wait(timeout=12)
        except subprocess.TimeoutExpired:
            pytest.fail("shale did not exit within 12 s of SIGTERM with a silent collector")
        print(f"{protocol}: exited {time.monotonic() - t0:.2f}s after SIGTERM")
    finally:
        stop_process(gw)
        collector.stop()


def http_get(url: str) -> tuple[int, str]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


@pytest.mark.parametrize("how", ["config", "env"])
def test_message_content_only_when_asked(emulator, how):
    emu_url, emu = emulator
    collected = Collected()
    receiver, receiver_url = start_http_receiver(collected)
    config = gateway_config(emu_url)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    if how == "config":
        config["general_settings"]["telemetry"] = {"otel_capture_message_content": True}
    else:
        env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    gw, url = start_gateway_with_env(config, env)
    try:
        emu.reset()
        reply = client(url).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "Tell me about otters"}],
            max_tokens=64, temperature=0.25, top_p=0.5,
        )
        server = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_SERVER)[0]
        a = attrs(server)
        assert "Tell me about otters" in a["gen_ai.input.messages"]
        assert reply.choices[0].message.content in a["gen_ai.output.messages"]
        assert a["gen_ai.request.max_tokens"] == 64
        assert a["gen_ai.request.temperature"] == 0.25
        assert a["gen_ai.request.top_p"] == 0.5
        assert a["gen_ai.request.stream"] is False
    finally:
        stop_process(gw)
        receiver.shutdown()
