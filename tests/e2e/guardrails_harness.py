"""Helpers of the guardrail end-to-end tests (issue #29): guardrail entries for a gateway config
pointed at the emulator's built-in ApplyGuardrail policies (`shaledemo`: EMAIL/PHONE/employee ids
masked, SSNs/cards/`crypto`/`shalebadword`/prompt attacks blocked; `shalefail`: always a 500),
scripted model streams with long answers, and readers for what the emulator received."""

from __future__ import annotations

from typing import Any

from shale_harness import EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY, REGION

CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "bedrock/us.amazon.nova-lite-v1:0"

# The emulator's `shaledemo` messages (crates/shale-emulator/src/guardrail.rs).
BLOCKED_INPUT = "Sorry, I cannot help with that request: it goes against the usage policy."
BLOCKED_OUTPUT = "Sorry, the answer was withheld: it goes against the usage policy."


def guardrail(name: str, mode, emu_url: str, identifier: str = "shaledemo", **params: Any) -> dict:
    """One `guardrails:` entry on the emulator (SigV4 with the example keys); `guardrail_info`
    goes next to `litellm_params`."""
    info = params.pop("guardrail_info", None)
    p = {
        "guardrail": "bedrock",
        "mode": mode,
        "guardrailIdentifier": identifier,
        "guardrailVersion": "DRAFT",
        "aws_region_name": REGION,
        "aws_bedrock_runtime_endpoint": emu_url,
        "aws_access_key_id": EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY,
    }
    p.update(params)
    entry = {"guardrail_name": name, "litellm_params": p}
    if info is not None:
        entry["guardrail_info"] = info
    return entry


def guardrail_calls(emu) -> list[dict]:
    """The ApplyGuardrail calls the emulator received, oldest first."""
    return [r for r in emu.requests() if r["operation"] == "apply-guardrail"]


def model_calls(emu) -> list[dict]:
    """The model calls (Converse / InvokeModel, streaming or not) the emulator received."""
    return [
        r for r in emu.requests()
        if r["operation"] in ("converse", "converse-stream", "invoke", "invoke-with-response-stream")
    ]


def converse_stream(pieces: list[str], **script: Any) -> dict:
    """A scripted ConverseStream answer made of these text deltas (plus script options such as
    `pause_after` / `pause_ms`)."""
    events = [{"type": "messageStart", "payload": {"role": "assistant"}}]
    events += [
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": p}}}
        for p in pieces
    ]
    events += [
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
        {"type": "messageStop", "payload": {"stopReason": "end_turn"}},
        {"type": "metadata", "payload": {"usage": {"inputTokens": 5, "outputTokens": len(pieces),
                                                   "totalTokens": 5 + len(pieces)},
                                         "metrics": {"latencyMs": 10}}},
    ]
    return {"operation": "converse-stream", "events": events, **script}


def anthropic_stream(pieces: list[str], **script: Any) -> dict:
    """A scripted InvokeModelWithResponseStream answer of a Claude model (native Messages events)."""
    chunks = [
        {"type": "message_start", "message": {"id": "msg_bdrk_01", "type": "message", "role": "assistant",
                                               "model": "claude", "content": [], "stop_reason": None,
                                               "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    chunks += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces
    ]
    chunks += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": len(pieces)}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 5, "outputTokenCount": len(pieces), "invocationLatency": 10, "firstByteLatency": 5}},
    ]
    return {"operation": "invoke-with-response-stream", "chunks": chunks, **script}


def long_answer(secret: str, at: int, words: int = 40) -> list[str]:
    """`words` deltas of 12 bytes (`word-NN-xxx `), with `secret` split across deltas `at` and
    `at + 1`: a match no single delta holds."""
    pieces = [f"word-{i:02d}-xxx " for i in range(words)]
    half = len(secret) // 2
    pieces[at] = pieces[at] + secret[:half]
    pieces[at + 1] = secret[half:] + " " + pieces[at + 1]
    return pieces
