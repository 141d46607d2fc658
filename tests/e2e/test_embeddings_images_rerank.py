"""End-to-end tests of /embeddings, /images/generations and /rerank: the real `shale` binary in
front of the Bedrock emulator, driven with the official OpenAI Python SDK (and plain HTTP for the
Cohere-format rerank).

Vectors are checked against the emulator's own answer to the same Bedrock body (fetched directly
with boto3), so "the same floats the model produced" is what is asserted, whatever the encoding.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess

import openai
import pytest

from shale_harness import (
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_API_KEY,
    EXAMPLE_SECRET_ACCESS_KEY,
    REGION,
    REPO,
    aws_client,
    http_json,
    read_ready_line,
    stop_process,
)

KEY = "sk-e2e-embeddings"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A 1x1 PNG as a data URL (what clients send to multimodal embedding models).
TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_DATA_URL = "data:image/png;base64," + TINY_PNG

MODELS = {
    "titan-v1": "bedrock/amazon.titan-embed-text-v1",
    "titan-v2": "bedrock/amazon.titan-embed-text-v2:0",
    "titan-image-embed": "bedrock/amazon.titan-embed-image-v1",
    "cohere-v3": "bedrock/cohere.embed-english-v3",
    "cohere-v4": "bedrock/cohere.embed-v4:0",
    "nova-embed": "bedrock/amazon.nova-2-multimodal-embeddings-v1:0",
    "nova-canvas": "bedrock/amazon.nova-canvas-v1:0",
    "titan-image-v2": "bedrock/amazon.titan-image-generator-v2:0",
    "sd35": "bedrock/stability.sd3-5-large-v1:0",
    "ultra": "bedrock/stability.stable-image-ultra-v1:1",
    "sdxl": "bedrock/stability.stable-diffusion-xl-v1",
    "rerank": "bedrock/cohere.rerank-v3-5:0",
    "rerank-invoke": "bedrock/invoke/cohere.rerank-v3-5:0",
    "claude": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
}


# --- gateway fixture (a shale process configured for the session emulator) -----------------


def shale_binary() -> str:
    return os.environ.get("SHALE_BIN") or str(REPO / "target" / "debug" / "shale")


def isolated_env(directory) -> dict:
    """The process environment without AWS credentials or keys, so only the config counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for k in ("SHALE_MASTER_KEY", "LITELLM_MASTER_KEY", "SHALE_CONFIG"):
        env.pop(k, None)
    for name in ("aws-config", "aws-credentials"):
        (directory / name).write_text("")
    env.update(
        AWS_CONFIG_FILE=str(directory / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(directory / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def start_gateway(config: dict, path) -> tuple[subprocess.Popen, str]:
    """Starts `shale --config <path>` on a free port (JSON is valid YAML); returns (process, url)."""
    path.write_text(json.dumps(config, indent=2))
    proc = subprocess.Popen(
        [shale_binary(), "--config", str(path), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=None,
        env=isolated_env(path.parent),
    )
    try:
        url = read_ready_line(proc, "shale listening on")
    except Exception:
        stop_process(proc)
        raise
    return proc, url


def deployment(name: str, model: str, emulator_url: str, **params) -> dict:
    litellm_params = {
        "model": model,
        "aws_bedrock_runtime_endpoint": emulator_url,
        "aws_region_name": REGION,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY,
    }
    litellm_params.update(params)
    return {"model_name": name, "litellm_params": {k: v for k, v in litellm_params.items() if v is not None}}


@pytest.fixture(scope="module")
def gateway_url(emulator_url, tmp_path_factory):
    model_list = [deployment(name, model, emulator_url) for name, model in MODELS.items()]
    # Only a Bedrock API key: fine for InvokeModel, refused for agent-runtime rerank (SigV4 only).
    model_list.append(
        deployment(
            "rerank-bearer",
            "bedrock/cohere.rerank-v3-5:0",
            emulator_url,
            aws_access_key_id=None,
            aws_secret_access_key=None,
            api_key=EXAMPLE_API_KEY,
        )
    )
    # Deployment defaults apply to embeddings like any request parameter.
    model_list.append(deployment("titan-v2-256", MODELS["titan-v2"], emulator_url, dimensions=256))
    config = {"model_list": model_list, "general_settings": {"master_key": KEY}}
    proc, url = start_gateway(config, tmp_path_factory.mktemp("gw") / "config.yaml")
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def client(gateway_url, emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway_url + "/v1", api_key=KEY, max_retries=0, timeout=30)


@pytest.fixture
def runtime(emulator):
    """boto3 straight to the emulator: the reference answers."""
    return aws_client("bedrock-runtime", emulator.url)


def invocations(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["operation"] == "invoke"]


def sorted_bodies(calls: list[dict]) -> list[dict]:
    return sorted((c["body"] for c in calls), key=lambda b: json.dumps(b, sort_keys=True))


def direct_invoke(runtime, model_id: str, body: dict) -> dict:
    out = runtime.invoke_model(modelId=model_id, body=json.dumps(body))
    return json.loads(out["body"].read())


def as_f32(values) -> list[float]:
    """The float32 values a list of floats denotes. JSON floats of f32 vectors may be written
    shortest-f32 (`0.34275106`, shale) or with every f64 digit (the emulator): both denote the
    same f32, which is what must be equal."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


# --- embeddings ----------------------------------------------------------------------------


def test_titan_v2_default_sdk_settings_return_the_emulator_floats(client, emulator, runtime):
    # The SDK asks for base64 by default; shale must return base64 of little-endian f32, which
    # the SDK decodes back to exactly the floats Bedrock produced.
    out = client.embeddings.create(model="titan-v2", input=["hello world", "second input"])
    assert out.object == "list" and out.model == "titan-v2"
    assert [d.index for d in out.data] == [0, 1]
    calls = invocations(emulator)
    # Issued concurrently: they may reach Bedrock in any order.
    assert sorted_bodies(calls) == [{"inputText": "hello world"}, {"inputText": "second input"}]
    assert all(c["model_id"] == "amazon.titan-embed-text-v2:0" for c in calls)
    tokens = 0
    for item, text in zip(out.data, ["hello world", "second input"]):
        reference = direct_invoke(runtime, "amazon.titan-embed-text-v2:0", {"inputText": text})
        assert len(item.embedding) == 1024
        assert item.embedding == as_f32(reference["embedding"])
        tokens += reference["inputTextTokenCount"]
    assert out.usage.prompt_tokens == tokens and out.usage.total_tokens == tokens


def test_base64_is_little_endian_f32_on_the_wire(gateway_url, emulator, runtime):
    status, body = http_json(
        "POST",
        gateway_url + "/v1/embeddings",
        {"model": "titan-v2", "input": "wire check", "encoding_format": "base64"},
        {"Authorization": f"Bearer {KEY}"},
    )
    assert status == 200, body
    raw = base64.b64decode(body["data"][0]["embedding"])
    floats = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    reference = direct_invoke(runtime, "amazon.titan-embed-text-v2:0", {"inputText": "wire check"})
    assert floats == as_f32(reference["embedding"])


def test_float_encoding_dimensions_and_normalize(client, emulator, runtime):
    out = client.embeddings.create(
        model="titan-v2",
        input="short",
        encoding_format="float",
        dimensions=256,
        extra_body={"normalize": False},
    )
    sent = invocations(emulator)[-1]["body"]
    assert sent == {"inputText": "short", "dimensions": 256, "normalize": False}
    reference = direct_invoke(runtime, "amazon.titan-embed-text-v2:0", sent)
    assert len(out.data[0].embedding) == 256
    assert as_f32(out.data[0].embedding) == as_f32(reference["embedding"])


def test_deployment_default_dimensions(client, emulator):
    out = client.embeddings.create(model="titan-v2-256", input="defaults", encoding_format="float")
    assert len(out.data[0].embedding) == 256
    assert invocations(emulator)[-1]["body"]["dimensions"] == 256


def test_many_inputs_fan_out_and_keep_their_order(client, emulator, runtime):
    texts = [f"input number {i} " + "x" * (i % 7) for i in range(20)]
    out = client.embeddings.create(model="titan-v2", input=texts, encoding_format="float")
    assert [d.index for d in out.data] == list(range(20))
    assert len(invocations(emulator)) == 20
    for i in (0, 7, 13, 19):
        reference = direct_invoke(runtime, "amazon.titan-embed-text-v2:0", {"inputText": texts[i]})
        assert as_f32(out.data[i].embedding) == as_f32(reference["embedding"]), i


def test_titan_v1_has_fixed_dimensions(client, emulator):
    out = client.embeddings.create(model="titan-v1", input="v1", encoding_format="float")
    assert len(out.data[0].embedding) == 1536
    assert invocations(emulator)[-1]["body"] == {"inputText": "v1"}
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="titan-v1", input="v1", dimensions=512)
    assert err.value.body["param"] == "dimensions"


def test_titan_image_embeds_data_url_images(client, emulator, runtime):
    out = client.embeddings.create(
        model="titan-image-embed", input=[PNG_DATA_URL, "a caption"], dimensions=384, encoding_format="float"
    )
    bodies = sorted_bodies(invocations(emulator))
    assert bodies == [
        {"inputImage": TINY_PNG, "embeddingConfig": {"outputEmbeddingLength": 384}},
        {"inputText": "a caption", "embeddingConfig": {"outputEmbeddingLength": 384}},
    ]
    reference = direct_invoke(runtime, "amazon.titan-embed-image-v1", bodies[0])
    assert as_f32(out.data[0].embedding) == as_f32(reference["embedding"])
    assert len(out.data[1].embedding) == 384


def test_cohere_v3_splits_batches_above_96(client, emulator, runtime):
    texts = [f"document {i}" for i in range(200)]
    out = client.embeddings.create(model="cohere-v3", input=texts)
    calls = invocations(emulator)
    assert sorted(len(c["body"]["texts"]) for c in calls) == [8, 96, 96]
    assert all(c["body"]["input_type"] == "search_document" for c in calls)
    assert len(out.data) == 200 and [d.index for d in out.data] == list(range(200))
    # The last batch answers the last 8 inputs, in order.
    last = next(c["body"] for c in calls if len(c["body"]["texts"]) == 8)
    assert last["texts"] == texts[192:]
    reference = direct_invoke(runtime, "cohere.embed-english-v3", last)
    for k in range(8):
        assert as_f32(out.data[192 + k].embedding) == as_f32(reference["embeddings"][k])


def test_cohere_v4_output_dimension_and_input_type(client, emulator):
    out = client.embeddings.create(
        model="cohere-v4",
        input=["q1", "q2"],
        dimensions=512,
        encoding_format="float",
        extra_body={"input_type": "search_query"},
    )
    sent = invocations(emulator)[-1]["body"]
    assert sent["texts"] == ["q1", "q2"]
    assert sent["output_dimension"] == 512 and sent["input_type"] == "search_query"
    assert [len(d.embedding) for d in out.data] == [512, 512]
    assert out.usage.prompt_tokens > 0


def test_nova_multimodal_embeddings(client, emulator, runtime):
    out = client.embeddings.create(model="nova-embed", input="nova text", dimensions=1024, encoding_format="float")
    sent = invocations(emulator)[-1]["body"]
    assert sent == {
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {
            "embeddingPurpose": "GENERIC_INDEX",
            "embeddingDimension": 1024,
            "text": {"truncationMode": "END", "value": "nova text"},
        },
    }
    reference = direct_invoke(runtime, "amazon.nova-2-multimodal-embeddings-v1:0", sent)
    assert as_f32(out.data[0].embedding) == as_f32(reference["embeddings"][0]["embedding"])
    # Nova's body has no token count: usage comes from X-Amzn-Bedrock-Input-Token-Count.
    assert "inputTextTokenCount" not in reference
    assert out.usage.prompt_tokens > 0


def test_token_array_input_is_a_400(client, emulator):
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="titan-v2", input=[[1, 2, 3]])
    assert err.value.body["param"] == "input"
    assert invocations(emulator) == []


def test_embeddings_on_a_chat_model_or_unknown_model_is_a_400(client, emulator):
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="claude", input="x")
    assert err.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="no-such-model", input="x")
    assert err.value.body["code"] == "model_not_found"
    assert emulator.requests() == []


def test_bedrock_errors_keep_their_status(client, emulator):
    emulator.script([{"operation": "invoke", "error": {"type": "ValidationException", "message": "Input is too long."}}])
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="titan-v2", input="x")
    assert "Input is too long." in err.value.body["message"]


def test_embeddings_need_the_gateway_key(gateway_url, emulator):
    status, body = http_json("POST", gateway_url + "/v1/embeddings", {"model": "titan-v2", "input": "x"})
    assert status == 401, body
    assert emulator.requests() == []


# --- images --------------------------------------------------------------------------------


def test_nova_canvas_generates_n_images(client, emulator):
    out = client.images.generate(model="nova-canvas", prompt="a red fox", n=2, size="512x512", quality="hd")
    assert len(out.data) == 2
    for image in out.data:
        assert base64.b64decode(image.b64_json).startswith(PNG_MAGIC)
    call = invocations(emulator)[-1]
    assert call["model_id"] == "amazon.nova-canvas-v1:0"
    assert call["body"] == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a red fox"},
        "imageGenerationConfig": {"numberOfImages": 2, "quality": "premium", "width": 512, "height": 512},
    }


def test_titan_image_v2_extra_params_and_url_format(client, emulator):
    out = client.images.generate(
        model="titan-image-v2",
        prompt="a lighthouse",
        response_format="url",
        extra_body={"negativeText": "fog", "cfgScale": 7.5, "seed": 42},
    )
    assert out.data[0].url.startswith("data:image/png;base64,")
    assert base64.b64decode(out.data[0].url.split(",", 1)[1]).startswith(PNG_MAGIC)
    body = invocations(emulator)[-1]["body"]
    assert body["textToImageParams"] == {"text": "a lighthouse", "negativeText": "fog"}
    assert body["imageGenerationConfig"]["cfgScale"] == 7.5
    assert body["imageGenerationConfig"]["seed"] == 42


@pytest.mark.parametrize(
    "model,model_id", [("sd35", "stability.sd3-5-large-v1:0"), ("ultra", "stability.stable-image-ultra-v1:1")]
)
def test_stability_sd3_family(client, emulator, model, model_id):
    out = client.images.generate(model=model, prompt="a castle", size="1792x1024")
    assert base64.b64decode(out.data[0].b64_json).startswith(PNG_MAGIC)
    call = invocations(emulator)[-1]
    assert call["model_id"] == model_id
    assert call["body"] == {"prompt": "a castle", "aspect_ratio": "16:9"}


def test_sdxl(client, emulator):
    out = client.images.generate(model="sdxl", prompt="a boat", size="1024x1024", extra_body={"steps": 30})
    assert base64.b64decode(out.data[0].b64_json).startswith(PNG_MAGIC)
    body = invocations(emulator)[-1]["body"]
    assert body == {"text_prompts": [{"text": "a boat", "weight": 1}], "width": 1024, "height": 1024, "steps": 30}


def test_content_filtered_image_is_a_400(client, emulator):
    emulator.script(
        [{"operation": "invoke", "body": {"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": [None]}}]
    )
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="sd35", prompt="something filtered")
    assert err.value.body["code"] == "content_policy_violation"
    assert "Filter reason: prompt" in err.value.body["message"]


def test_image_request_without_model_or_with_embedding_model_is_a_400(gateway_url, emulator):
    auth = {"Authorization": f"Bearer {KEY}"}
    status, body = http_json("POST", gateway_url + "/v1/images/generations", {"prompt": "x"}, auth)
    assert status == 400 and body["error"]["param"] == "model"
    status, body = http_json("POST", gateway_url + "/images/generations", {"model": "titan-v2", "prompt": "x"}, auth)
    assert status == 400 and body["error"]["param"] == "model"
    assert emulator.requests() == []


# --- rerank --------------------------------------------------------------------------------

DOCS = ["Paris is the capital of France", {"text": "Berlin is in Germany"}, "the capital of France is large"]


def rerank(gateway_url: str, path: str, body: dict, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http_json("POST", gateway_url + path, body, headers)


def test_rerank_over_agent_runtime(gateway_url, emulator):
    status, body = rerank(
        gateway_url, "/v1/rerank", {"model": "rerank", "query": "capital of France", "documents": DOCS, "top_n": 2}
    )
    assert status == 200, body
    assert body["id"] and body["meta"] == {"billed_units": {"search_units": 1}}
    results = body["results"]
    assert [r["index"] for r in results] == [0, 2]
    assert results[0]["relevance_score"] >= results[1]["relevance_score"]
    assert results[0]["document"] == {"text": DOCS[0]}
    call = emulator.last_request()
    assert call["operation"] == "rerank" and call["path"] == "/rerank" and call["auth"] == "sigv4"
    config = call["body"]["rerankingConfiguration"]["bedrockRerankingConfiguration"]
    assert config["numberOfResults"] == 2
    assert config["modelConfiguration"]["modelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0"
    assert call["body"]["queries"] == [{"type": "TEXT", "textQuery": {"text": "capital of France"}}]
    assert call["body"]["sources"][1] == {
        "type": "INLINE",
        "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Berlin is in Germany"}},
    }


def test_rerank_without_documents_in_the_answer(gateway_url, emulator):
    status, body = rerank(
        gateway_url,
        "/rerank",
        {"model": "rerank", "query": "Germany", "documents": DOCS, "return_documents": False},
    )
    assert status == 200, body
    assert len(body["results"]) == 3 and body["results"][0]["index"] == 1
    assert all("document" not in r for r in body["results"])


def test_rerank_over_invoke_when_routed_with_invoke_prefix(gateway_url, emulator):
    status, body = rerank(
        gateway_url, "/v1/rerank", {"model": "rerank-invoke", "query": "capital of France", "documents": DOCS, "top_n": 1}
    )
    assert status == 200, body
    assert [r["index"] for r in body["results"]] == [0]
    call = emulator.last_request()
    assert call["operation"] == "invoke" and call["model_id"] == "cohere.rerank-v3-5:0"
    assert call["body"]["api_version"] == 2 and call["body"]["top_n"] == 1
    assert call["body"]["documents"][1] == "Berlin is in Germany"


def test_rerank_with_only_a_bearer_key_is_a_clear_400(gateway_url, emulator):
    status, body = rerank(gateway_url, "/v1/rerank", {"model": "rerank-bearer", "query": "q", "documents": ["d"]})
    assert status == 400, body
    assert "SigV4" in body["error"]["message"] and "rerank" in body["error"]["message"]
    assert emulator.requests() == []


def test_rerank_validation_and_auth(gateway_url, emulator):
    status, body = rerank(gateway_url, "/v1/rerank", {"model": "rerank", "query": "q", "documents": []})
    assert status == 400 and body["error"]["param"] == "documents"
    status, body = rerank(gateway_url, "/v1/rerank", {"model": "rerank", "query": "q", "documents": ["d"]}, key=None)
    assert status == 401
    status, body = rerank(gateway_url, "/v1/rerank", {"model": "rerank", "query": "q", "documents": ["d"]}, key="wrong")
    assert status == 401
    assert emulator.requests() == []
