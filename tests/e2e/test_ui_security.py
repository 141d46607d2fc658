"""The admin UI's security over plain HTTP (httpx) against the real gateway and PostgreSQL: without
a session every admin API answers 401; a session cookie without its CSRF token (or with another
session's) is refused on every call; with both, the admin API and the router's health answer; a
signed-out session is dead; a virtual key cannot sign in; every /ui answer carries the CSP
(no inline script), X-Frame-Options and Referrer-Policy; the UI is off without a master key or
with DISABLE_ADMIN_UI. The README's and docs' session examples run as written."""

from __future__ import annotations

import os
import re
import subprocess

import httpx
import pytest

from keys_harness import KeysGateway
from shale_harness import GATEWAY_KEY, REPO, deployment, start_gateway, stop_process

# Every admin API route (method, path, body): the master-key-only surface the UI uses.
ADMIN_API = [
    ("POST", "/key/generate", {}),
    ("POST", "/key/update", {"key": "sk-x"}),
    ("GET", "/key/info?key=sk-x", None),
    ("GET", "/key/list", None),
    ("POST", "/key/delete", {"keys": ["sk-x"]}),
    ("POST", "/key/regenerate", {"key": "sk-x"}),
    ("POST", "/key/sk-x/regenerate", {}),
    ("POST", "/key/block", {"key": "sk-x"}),
    ("POST", "/key/unblock", {"key": "sk-x"}),
    ("POST", "/team/new", {}),
    ("POST", "/team/update", {"team_id": "t"}),
    ("GET", "/team/info?team_id=t", None),
    ("GET", "/team/list", None),
    ("POST", "/team/delete", {"team_ids": ["t"]}),
    ("GET", "/spend/logs", None),
    ("GET", "/spend/logs/ui", None),
    ("GET", "/global/spend/report?start_date=2026-01-01&end_date=2026-01-02", None),
]
# The model API (another build's): checked where it exists.
MODEL_API = [
    ("GET", "/model/info", None),
    ("POST", "/model/new", {"model_name": "x", "litellm_params": {"model": "bedrock/x"}}),
    ("POST", "/model/update", {"model_info": {"id": "x"}}),
    ("POST", "/model/delete", {"id": "x"}),
]
UI_PAGES = ["/ui/login", "/ui/keys", "/ui/teams", "/ui/models", "/ui/usage", "/ui/logs", "/ui/nope",
            "/ui/assets/app.js", "/ui/assets/app.css", "/ui/assets/favicon.svg"]


@pytest.fixture(scope="module")
def gw(pg_url, emulator_url):
    g = KeysGateway(emulator_url, pg_url, models=[deployment("cheap", "bedrock/us.amazon.nova-lite-v1:0", emulator_url)])
    yield g
    g.stop()


def admin_routes(gw) -> list[tuple]:
    """The admin API plus the model API routes this build serves."""
    served = [r for r in MODEL_API if gw.admin(r[0], r[1], json=r[2]).status_code != 404]
    return ADMIN_API + served


def sign_in(url: str, key: str = GATEWAY_KEY) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the session's CSRF token (read from a page)."""
    client = httpx.Client(base_url=url, timeout=30)
    r = client.post("/ui/login", data={"master_key": key})
    assert r.status_code == 303, r.text
    page = client.get("/ui/keys")
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([0-9a-f]{64})"', page.text).group(1)
    return client, token


def call(client: httpx.Client, route: tuple, headers: dict | None = None) -> httpx.Response:
    method, path, body = route
    return client.request(method, path, json=body, headers=headers or {})


def test_no_session_every_admin_api_is_401(gw):
    routes = admin_routes(gw)
    anonymous = httpx.Client(base_url=gw.url, timeout=30)
    bogus = httpx.Client(base_url=gw.url, timeout=30, cookies={"shale_ui_session": "0" * 64})
    for route in routes:
        for client in (anonymous, bogus):
            r = call(client, route, {"x-csrf-token": "0" * 64})
            assert r.status_code == 401, (route, r.status_code, r.text)
            assert r.json()["error"]["type"]
        assert call(anonymous, route).status_code == 401, route


def test_csrf_token_required_on_every_call(gw):
    client, token = sign_in(gw.url)
    _, other_token = sign_in(gw.url)
    for route in admin_routes(gw):
        for headers in ({}, {"x-csrf-token": ""}, {"x-csrf-token": "f" * 64}, {"x-csrf-token": other_token}):
            r = call(client, route, headers)
            assert r.status_code == 403, (route, headers, r.status_code, r.text)
            assert "CSRF" in r.json()["error"]["message"]
    # With its token the session stands for the master key.
    ok = client.get("/key/list", headers={"x-csrf-token": token})
    assert ok.status_code == 200, ok.text
    made = client.post("/key/generate", json={"key_alias": "via-ui-session"}, headers={"x-csrf-token": token})
    assert made.status_code == 200 and made.json()["key"].startswith("sk-")
    assert client.get("/health", headers={"x-csrf-token": token}).json()["deployments"]
    assert client.get("/health").status_code == 403
    assert httpx.get(gw.url + "/health").status_code == 401
    # The master key still works without any session.
    assert gw.admin("GET", "/key/list").status_code == 200


def test_signed_out_sessions_and_virtual_keys(gw):
    client, token = sign_in(gw.url)
    out = client.post("/ui/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert "Max-Age=0" in out.headers["set-cookie"]
    dead = httpx.Client(base_url=gw.url, timeout=30, cookies={"shale_ui_session": client.cookies.get("shale_ui_session") or "x"})
    assert dead.get("/key/list", headers={"x-csrf-token": token}).status_code == 401
    virtual = gw.generate(key_alias="not-an-admin")["key"]
    refused = httpx.post(gw.url + "/ui/login", data={"master_key": virtual})
    assert refused.status_code == 200 and "Sign-in failed" in refused.text
    assert "set-cookie" not in refused.headers
    cross_site = httpx.post(gw.url + "/ui/login", data={"master_key": GATEWAY_KEY},
                            headers={"origin": "https://evil.example"})
    assert cross_site.status_code == 403 and "set-cookie" not in cross_site.headers


def test_every_ui_answer_has_the_security_headers(gw):
    client, _ = sign_in(gw.url)
    for path in UI_PAGES + ["/ui"]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
        assert "unsafe" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-content-type-options"] == "nosniff"
        if r.headers.get("content-type", "").startswith("text/html"):
            assert r.headers["cache-control"] == "no-store"
            for script in re.findall(r"<script[^>]*>", r.text):
                assert 'src="/ui/assets/app.js"' in script, script
            assert " style=" not in r.text and "<style" not in r.text


@pytest.mark.parametrize("how", ["no master key", "DISABLE_ADMIN_UI"])
def test_the_ui_is_off_without_a_master_key_or_when_disabled(how, emulator_url):
    config = {"model_list": [deployment("cheap", "bedrock/us.amazon.nova-lite-v1:0", emulator_url)]}
    env = {"SHALE_MASTER_KEY": "", "LITELLM_MASTER_KEY": ""}
    args = []
    if how == "no master key":
        args = ["--allow-unauthenticated"]
    else:
        config["general_settings"] = {"master_key": GATEWAY_KEY}
        env["DISABLE_ADMIN_UI"] = "true"
    proc, url, _ = start_gateway(config, extra_args=args, env=env)
    try:
        r = httpx.get(url + "/ui/login")
        assert r.status_code == 404
        assert ("needs a master key" if how == "no master key" else "DISABLE_ADMIN_UI") in r.text
        assert r.headers["x-frame-options"] == "DENY"
        assert httpx.post(url + "/ui/login", data={"master_key": GATEWAY_KEY}).status_code in (404, 405)
    finally:
        stop_process(proc)


def readme_section(title: str) -> str:
    """A `### title` section of the README's Features."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start:end if end != -1 else None]


@pytest.mark.parametrize("where", ["README.md#Admin UI", "docs/ui.md"])
def test_session_examples_run_as_written(gw, where):
    """The sh examples of README's "Admin UI" section and of docs/ui.md: sign in with curl, read
    the CSRF token from a page, call the admin API with the session (what the UI's pages do)."""
    text = readme_section("Admin UI") if where.startswith("README") else (REPO / where).read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    assert blocks, f"{where} has sh examples"
    script = "\n".join(blocks).replace("http://localhost:4000", gw.url)
    preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\ncd "$(mktemp -d)"\n'
    done = subprocess.run(["bash", "-c", preamble + script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY})
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"total_count"' in done.stdout, done.stdout


def test_shale_check_says_whether_the_ui_is_on(tmp_path):
    from shale_harness import SHALE_BIN

    def check(config: str, **env) -> str:
        path = tmp_path / "ui.yaml"
        path.write_text("model_list: []\n" + config)
        base = {k: v for k, v in os.environ.items()
                if k not in ("SHALE_MASTER_KEY", "LITELLM_MASTER_KEY", "DISABLE_ADMIN_UI", "UI_USERNAME", "UI_PASSWORD")}
        out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env={**base, **env})
        assert out.returncode == 0, out.stdout + out.stderr
        return [line for line in out.stdout.splitlines() if line.strip().startswith("admin UI:")][0].strip()

    keyed = "general_settings:\n  master_key: sk-x\n"
    assert check(keyed) == "admin UI: on at /ui (sign in with the master key; sessions in memory, 12 h)"
    assert "or UI_USERNAME / UI_PASSWORD" in check(keyed, UI_USERNAME="admin", UI_PASSWORD="pw")
    assert check(keyed, DISABLE_ADMIN_UI="true") == "admin UI: off (DISABLE_ADMIN_UI is set)"
    assert check("") == "admin UI: off (it needs a master key)"
    assert check("", SHALE_MASTER_KEY="sk-env").startswith("admin UI: on at /ui")
