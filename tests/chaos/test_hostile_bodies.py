"""Hostile request bodies — malformed JSON, deep nesting, wrong types for every field, invalid
UTF-8, random mutations — always get an OpenAI-shaped 4xx (or a normal answer when the mutation
happens to be valid), never a 5xx and never a dropped connection. After all of it the gateway
still answers normally."""

from __future__ import annotations

import asyncio
import json
import random

import chaos_common as cc

VALID = {
    "model": "chat",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]},
    ],
    "max_tokens": 20,
    "temperature": 0.5,
    "top_p": 0.9,
    "stop": ["x"],
    "stream": False,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "response_format": {"type": "text"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "reasoning_effort": "low",
    "n": 1,
    "user": "u",
}

WRONG = [None, True, -1, 0, 1.5, 2**64, -(2**63) - 1, 1e308, "", "abcdé", "\u0000", [], [None], {}, {"a": []}]

ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/images/generations", "/v1/rerank"]


def paths(doc, prefix=()):
    """Every (path) into a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


def replaced(doc, path, value):
    doc = json.loads(json.dumps(doc))
    if not path:
        return value
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def check(resp: cc.Response, context: str) -> None:
    assert resp.complete, f"{context}: connection dropped"
    assert resp.status < 500, f"{context}: {resp.status} {resp.body[:300]!r}"
    if resp.status >= 400:
        cc.assert_openai_error(resp, context)


async def send_all(url: str, bodies: list[tuple[str, bytes, str]], parallel: int = 16) -> None:
    sem = asyncio.Semaphore(parallel)

    async def one(path, body, context):
        async with sem:
            check(await cc.post(url, path, body), context)

    await asyncio.gather(*(one(p, b, c) for p, b, c in bodies))


def test_malformed_json_invalid_utf8_and_deep_nesting(gateway, emulator):
    _, url = gateway
    depth = 100_000
    bodies = [
        b"", b"{", b"}", b"[]", b"null", b"1", b"\"x\"", b"{\"model\":", b"{\"model\":\"chat\",}",
        b"\xff\xfe\xfd", b"{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}",
        b"{\"model\":\"\xed\xa0\x80\"}", b"\x00" * 64, b"{" * depth, b"[" * depth,
        ("{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":" + "[" * depth + "]" * depth + "}]}").encode(),
        ("{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"metadata\":" + "{\"a\":" * depth + "1" + "}" * depth + "}").encode(),
        b"{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1e400}",
        b"{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
    ]
    cases = [(route, b, f"{route} body {b[:40]!r}") for route in ROUTES for b in bodies]
    asyncio.run(send_all(url, cases))


def test_wrong_types_for_every_field(gateway, emulator):
    _, url = gateway
    cases = []
    for path in paths(VALID):
        for value in WRONG:
            body = json.dumps(replaced(VALID, path, value)).encode()
            cases.append(("/v1/chat/completions", body, f"{path} = {value!r}"))
    assert len(cases) > 400
    asyncio.run(send_all(url, cases))


def test_known_crashers_from_the_issue(gateway, emulator):
    _, url = gateway
    for image in ["abcdé", "data:é", "s3:/é"]:
        body = replaced(VALID, ("messages", 1, "content", 1, "image_url", "url"), image)
        resp = cc.post_sync(url, "/v1/chat/completions", json.dumps(body).encode())
        err = cc.assert_openai_error(resp, image)
        assert err["type"] == "invalid_request_error"
    body = replaced(VALID, ("thinking", "budget_tokens"), 2**64 - 1)
    body.pop("max_tokens")
    resp = cc.post_sync(url, "/v1/chat/completions", json.dumps(body).encode())
    check(resp, "budget_tokens u64::MAX")


def test_random_mutations(gateway, emulator):
    _, url = gateway
    rng = random.Random(17)
    base = json.dumps(VALID).encode()
    cases = []
    for i in range(600):
        b = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            at = rng.randrange(len(b))
            if op < 0.4:
                b[at] = rng.randrange(256)
            elif op < 0.7:
                del b[at : at + rng.randint(1, 8)]
            else:
                b[at:at] = bytes(rng.choice(b"{}[]\",:0123456789eE.-\\u\xc3\xa9 ") for _ in range(rng.randint(1, 4)))
        cases.append((rng.choice(ROUTES[:3]), bytes(b), f"mutation {i}"))
    asyncio.run(send_all(url, cases))


def test_still_healthy_afterwards(gateway, emulator):
    _, url = gateway
    resp = cc.post_sync(url, "/v1/chat/completions", json.dumps(cc.chat_body(stream=False)).encode())
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"]
