"""The admin UI in a real browser (headless Chromium driven by Selenium) against the real gateway,
emulator and PostgreSQL: sign in with a wrong and the right master key; create a team and a key
through the forms; use the key (OpenAI SDK, through the emulator); see its spend on Keys and
Usage and its request on Logs; block it and see it refused; regenerate and delete it with
confirmation; see a deployment cooled down (scripted emulator faults) on Models; sign out; and
the pages without a database. Every page visit checks that the console has no error and that
every requested URL is the gateway's own origin; each page is saved as a screenshot under
`tests/artifacts/ui/` (and, with SHALE_UI_DOCS_SCREENSHOT=1, the Usage page as docs/ui-usage.png).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import uuid

import httpx
import openai
import psycopg
import pytest

from keys_harness import NOVA_LITE, PRICES, KeysGateway, model_list, wait_for
from router_harness import errors
from shale_harness import GATEWAY_KEY, REPO, EmulatorControl, deployment, start_emulator, stop_process
from ui_browser import Browser, require_browser, usd

PROMPT = "tell me a secret about plums"


class Stack:
    def __init__(self, pg_url: str):
        self.emu_proc, emu_url = start_emulator()
        self.emu_url = emu_url
        self.flaky_proc, flaky_url = start_emulator()
        self.flaky = EmulatorControl(flaky_url)
        flaky = deployment("flaky", NOVA_LITE, flaky_url, **PRICES)
        flaky["model_info"] = {"id": "flaky-east"}
        self.gw = KeysGateway(emu_url, pg_url, models=model_list(emu_url) + [flaky],
                              router={"allowed_fails": 0, "cooldown_time": 600, "num_retries": 0})
        self.pg_url = pg_url

    def stop(self):
        self.gw.stop()
        stop_process(self.emu_proc)
        stop_process(self.flaky_proc)

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=self.gw.url + "/v1", max_retries=0)


@pytest.fixture(scope="module")
def stack(pg_url):
    require_browser()
    s = Stack(pg_url)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def b(stack):
    browser = Browser(stack.gw.url)
    yield browser
    browser.quit()


def sign_in(b: Browser) -> None:
    b.open("/ui/login")
    b.field("Master key").send_keys(GATEWAY_KEY)
    b.button("Sign in").click()
    b.wait(lambda d: d.find_element("css selector", "h1").text == "Keys")
    b.ready()


def key_row(b: Browser, alias: str):
    return b.css(f'#keys-table tbody tr[data-alias="{alias}"]')


def test_sign_in_with_a_wrong_then_the_right_master_key(b):
    b.open("/ui")
    b.wait(lambda d: d.current_url.endswith("/ui/login"))
    b.field("Master key").send_keys("sk-not-the-key")
    b.button("Sign in").click()
    alert = b.wait(lambda d: d.find_element("css selector", "[role=alert]"))
    assert alert.text == "Sign-in failed: wrong master key."
    assert "sk-not-the-key" not in b.driver.page_source
    b.check_clean()
    b.screenshot("01-sign-in-wrong-key")

    b.field("Master key").send_keys(GATEWAY_KEY)
    b.button("Sign in").click()
    b.wait(lambda d: d.find_element("css selector", "h1").text == "Keys")
    b.ready()
    names = [a.text for a in b.all('nav[aria-label="Admin"] a')]
    assert names == ["Keys", "Teams", "Models", "Usage", "Logs"]
    assert b.css('nav a[aria-current="page"]').text == "Keys"
    cookie = b.driver.get_cookie("shale_ui_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert GATEWAY_KEY not in cookie["value"] and len(cookie["value"]) == 64
    assert "shale_ui_session" not in b.driver.execute_script("return document.cookie")
    b.check_clean()


def test_teams_are_created_and_edited_through_the_form(b, stack):
    from selenium.webdriver.support.ui import Select

    b.nav("Teams")
    b.button("Create team").click()
    dialog = b.css("#team-dialog")
    b.field("Team name", dialog).send_keys("Search")
    b.field("Team ID", dialog).send_keys("team-search")
    models = Select(b.field("Models", dialog))
    models.select_by_visible_text("cheap")
    models.select_by_visible_text("flaky")
    b.field("Max budget", dialog).send_keys("50")
    b.field("Budget period", dialog).send_keys("30d")
    b.button("Create", dialog).click()
    b.wait(lambda d: b.all('#teams-table tr[data-team="team-search"]'))
    info = stack.gw.admin("GET", "/team/info", params={"team_id": "team-search"}).json()["team_info"]
    assert (info["team_alias"], sorted(info["models"]), info["max_budget"], info["budget_duration"]) == (
        "Search", ["cheap", "flaky"], 50.0, "30d")

    b.button("Edit", b.css('#teams-table tr[data-team="team-search"]')).click()
    assert b.css("#team-dialog-title").text == "Edit team Search"
    budget = b.field("Max budget", dialog)
    budget.clear()
    budget.send_keys("75")
    b.field("RPM limit", dialog).send_keys("600")
    b.button("Save", dialog).click()
    b.wait(lambda d: "$75.00" in b.css('#teams-table tr[data-team="team-search"]').text)
    info = stack.gw.admin("GET", "/team/info", params={"team_id": "team-search"}).json()["team_info"]
    assert (info["max_budget"], info["rpm_limit"], info["budget_duration"]) == (75.0, 600, "30d")
    assert "600 / –" in b.css('#teams-table tr[data-team="team-search"]').text
    stack.gw.new_team(team_id="team-support", team_alias="Support", max_budget=20)
    b.driver.refresh()
    b.ready()
    assert len(b.rows("teams-table")) == 2
    b.check_clean()
    b.screenshot("02-teams")


def test_a_key_made_in_the_form_is_used_seen_blocked_regenerated_and_deleted(b, stack):
    from selenium.webdriver.support.ui import Select

    gw = stack.gw
    b.nav("Keys")
    b.button("Create key").click()
    dialog = b.css("#create-key")
    b.field("Key alias", dialog).send_keys("search-app")
    Select(b.field("Models", dialog)).select_by_visible_text("cheap")
    b.field("Max budget", dialog).send_keys("5")
    Select(b.field("Team", dialog)).select_by_visible_text("Search")
    b.field("Duration", dialog).send_keys("30d")
    b.button("Create", dialog).click()
    shown = b.wait(lambda d: b.css("#new-key").get_attribute("open") is not None and b.css("#new-key-value"))
    key = shown.text
    assert key.startswith("sk-") and len(key) > 30
    b.screenshot("03-new-key-shown-once")
    b.button("Copy").click()
    b.wait(lambda d: b.css("#new-key-copied").text)
    assert b.css("#new-key-copied").text == "Copied."
    clipboard = b.driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error: ' + e))")
    assert clipboard == key
    b.button("Done").click()
    assert b.css("#new-key-value").text == "", "the key is gone from the page once closed"

    row = b.wait(lambda d: key_row(b, "search-app"))
    cells = [td.text for td in b.all("td", row)]
    assert cells[0] == "search-app"
    assert cells[1] == f"sk-...{key[-4:]}"
    assert cells[2:6] == ["Search", "cheap", "$0.00 / $5.00", "– / –"]
    assert cells[6] != "never" and cells[7] == "Active"
    info = gw.key_info(key)["info"]
    assert (info["models"], info["max_budget"], info["team_id"]) == (["cheap"], 5.0, "team-search")
    expires = datetime.datetime.fromisoformat(info["expires"].replace("Z", "+00:00"))
    assert abs((expires - datetime.datetime.now(datetime.timezone.utc)).days - 30) <= 1

    # Use it: a chat call with the new key, through the emulator.
    raw = stack.client(key).chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": PROMPT}])
    request_id = raw.headers["x-request-id"]
    completion = raw.parse()
    assert completion.choices[0].message.content
    with pytest.raises(openai.APIStatusError):
        stack.client(key).chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    spend = wait_for(lambda: gw.key_info(key)["info"]["spend"], what="the key's spend")
    b.driver.refresh()
    b.ready()
    assert b.all("td", key_row(b, "search-app"))[4].text == f"{usd(spend)} / $5.00"
    b.check_clean()
    b.screenshot("04-keys")

    # Usage: the key's spend on the chart's data, in the tables.
    b.nav("Usage")
    chart = b.css("#usage-chart svg")
    assert chart.get_attribute("role") == "img"
    assert chart.accessible_name == "Spend per day by team"
    assert b.css("#usage-chart-desc").get_attribute("textContent").startswith(f"Total {usd(spend)}.")
    keys = {r[0]: r for r in b.rows("usage-keys")}
    assert keys["search-app"] == ["search-app", "Search", "1", str(completion.usage.total_tokens), usd(spend)]
    assert {r[0]: r[-1] for r in b.rows("usage-teams")}["Search"] == usd(spend)
    assert {r[0]: r[1] for r in b.rows("usage-models")}["cheap"] == "1"
    Select(b.field("Per")).select_by_value("hour")
    b.button("Show").click()
    b.wait(lambda d: b.css("#usage-chart svg").accessible_name == "Spend per hour by team")
    b.check_clean()
    b.screenshot("05-usage")

    # Logs: its request, filtered by alias, with every column; never the prompt.
    b.nav("Logs")
    b.field("Key alias").send_keys("search")
    Select(b.field("Status")).select_by_visible_text("Success")
    b.button("Filter").click()
    b.wait(lambda d: b.all(f'#logs-table tr[data-request="{request_id}"]'))
    rows = b.rows("logs-table")
    assert len(rows) == 1
    when, rid, alias, team, model, dep, tokens, cost, status, latency = rows[0]
    assert (rid, alias, team, model, status) == (request_id, "search-app", "Search", "cheap", "200")
    assert dep and tokens == f"{completion.usage.prompt_tokens} / {completion.usage.completion_tokens}"
    assert cost == usd(spend) and latency.endswith(" ms")
    assert when.startswith(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    assert PROMPT not in b.driver.page_source
    assert b.css("#logs-pager").text == "1 request"
    b.check_clean()
    b.screenshot("06-logs")

    # Find it by its alias.
    from selenium.webdriver.common.keys import Keys

    b.nav("Keys")
    find = b.field("Find alias")
    find.send_keys("nobody", Keys.ENTER)
    b.wait(lambda d: "No key has the alias “nobody”." in b.css("#keys-table tbody").text)
    find.send_keys(Keys.CONTROL, "a")
    find.send_keys("search-app", Keys.ENTER)
    b.wait(lambda d: key_row(b, "search-app"))
    assert len(b.rows("keys-table")) == 1

    # Block it: refused at once; unblock: served again.
    b.button("Block", key_row(b, "search-app")).click()
    b.wait(lambda d: b.all("td", key_row(b, "search-app"))[7].text == "Blocked")
    with pytest.raises(openai.AuthenticationError):
        stack.client(key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    b.screenshot("07-key-blocked")
    b.button("Unblock", key_row(b, "search-app")).click()
    b.wait(lambda d: b.all("td", key_row(b, "search-app"))[7].text == "Active")
    stack.client(key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])

    # Regenerate (confirmed): a new secret, the old one refused.
    b.button("Regenerate", key_row(b, "search-app")).click()
    confirm = b.css("#confirm")
    assert confirm.get_attribute("open") is not None
    assert "stops working" in b.css("#confirm-text").text
    b.button("Regenerate", confirm).click()
    new_key = b.wait(lambda d: b.css("#new-key").get_attribute("open") is not None and b.css("#new-key-value").text)
    assert new_key != key and new_key.startswith("sk-")
    b.button("Done").click()
    with pytest.raises(openai.AuthenticationError):
        stack.client(key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    stack.client(new_key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])

    # Delete: Cancel keeps it; confirmed, it is gone and refused.
    b.button("Delete", key_row(b, "search-app")).click()
    b.button("Cancel", b.css("#confirm")).click()
    assert key_row(b, "search-app")
    b.button("Delete", key_row(b, "search-app")).click()
    b.screenshot("08-delete-confirmation")
    b.button("Delete", b.css("#confirm")).click()
    b.wait(lambda d: not b.all('#keys-table tbody tr[data-alias="search-app"]'))
    with pytest.raises(openai.AuthenticationError):
        stack.client(new_key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    b.check_clean()


def test_models_shows_a_cooled_down_deployment(b, stack):
    stack.flaky.script(errors("ServiceUnavailableException", 1, "scripted outage"))
    master = stack.client(GATEWAY_KEY)
    with pytest.raises(openai.APIStatusError):
        master.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "hi"}])
    wait_for(lambda: any(d["model_id"] == "flaky-east" and d["state"] == "cooling_down"
                         for d in stack.gw.admin("GET", "/health").json()["deployments"]),
             what="flaky-east cooling down")
    b.nav("Models")
    row = b.css('#models-table tr[data-deployment="flaky-east"]')
    name, dep, model, state, in_flight, last_error, _ = [td.text for td in b.all("td", row)]
    assert (name, dep, in_flight) == ("flaky", "flaky-east", "0")
    assert state.startswith("Cooling down (") and state.endswith(" s left)")
    assert "scripted outage" in last_error
    assert [r[3] for r in b.rows("models-table") if r[0] == "cheap"] == ["Healthy"]
    assert "1 cooling down" in b.css("#status").text
    # Models come from the config here (no store_model_in_db): the page says so and offers no edit.
    assert b.css("#model-api-note").is_displayed()
    assert not b.css("#add-model-open").is_displayed()
    assert not [btn for btn in b.all("#models-table button") if btn.text in ("Edit", "Delete")]
    b.check_clean()
    b.screenshot("09-models-cooldown")


def test_models_are_added_edited_and_deleted_through_the_model_api(stack, pg_url, monkeypatch):
    """With `store_model_in_db`, Models adds a deployment through the form (`/model/new`), the
    gateway serves it at once, Edit changes its rpm (`/model/update`; the stored secret kept), and
    Delete (confirmed) removes it (`/model/delete`)."""
    monkeypatch.setenv("SHALE_SALT_KEY", "ui-test-salt-key")
    emu_url = stack.emu_url
    gw = KeysGateway(emu_url, pg_url, general={"store_model_in_db": True, "model_reconcile_interval_seconds": 1})
    browser = Browser(gw.url)
    try:
        sign_in(browser)
        browser.nav("Models")
        assert not browser.css("#model-api-note").is_displayed()
        browser.button("Add model").click()
        dialog = browser.css("#model-dialog")
        browser.field("Model name", dialog).send_keys("ui-nova")
        browser.field("Bedrock model", dialog).send_keys(NOVA_LITE)
        browser.field("AWS region", dialog).send_keys("us-east-1")
        params = deployment("ui-nova", NOVA_LITE, emu_url)["litellm_params"]
        extra = {k: params[k] for k in ("aws_bedrock_runtime_endpoint", "aws_access_key_id", "aws_secret_access_key")}
        browser.field("More litellm_params (JSON)", dialog).send_keys(json.dumps({**extra, "rpm": 100}))
        browser.button("Add", dialog).click()
        row = browser.wait(lambda d: [r for r in browser.rows("models-table") if r[0] == "ui-nova"])
        [(name, model_id, model, *_)] = row
        assert model == NOVA_LITE and model_id
        browser.screenshot("11-models-added")
        client = openai.OpenAI(api_key=GATEWAY_KEY, base_url=gw.url + "/v1", max_retries=0)
        answer = client.chat.completions.create(model="ui-nova", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content

        tr = browser.css(f'#models-table tr[data-deployment="{model_id}"]')
        browser.button("Edit", tr).click()
        assert browser.css("#model-dialog-title").text == f"Edit {model_id}"
        shown = browser.field("More litellm_params (JSON)", dialog).get_attribute("value")
        assert "ui-test" not in shown and params["aws_secret_access_key"] not in shown, "no secret on the page"
        box = browser.field("More litellm_params (JSON)", dialog)
        box.clear()
        box.send_keys('{"rpm": 600}')
        browser.button("Save", dialog).click()
        browser.wait(lambda d: dialog.get_attribute("open") is None)
        info = gw.admin("GET", "/model/info", params={"litellm_model_id": model_id}).json()["data"]
        assert info[0]["litellm_params"]["rpm"] == 600, info
        answer = client.chat.completions.create(model="ui-nova", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content, "the stored credentials were kept by the edit"

        browser.button("Delete", browser.css(f'#models-table tr[data-deployment="{model_id}"]')).click()
        assert model_id in browser.css("#confirm-text").text
        browser.button("Delete", browser.css("#confirm")).click()
        browser.wait(lambda d: not browser.all(f'#models-table tr[data-deployment="{model_id}"]'))
        assert gw.admin("GET", "/model/info", params={"litellm_model_id": model_id}).json()["data"] == []
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="ui-nova", messages=[{"role": "user", "content": "hi"}])
        browser.check_clean()
    finally:
        browser.quit()
        gw.stop()


def test_usage_over_a_week_by_team(b, stack):
    """Spend rows on the last seven days (written as the gateway writes them) draw one bar per day;
    this page is the README's screenshot."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    rows = []
    for day in range(7):
        for alias, team, model, spend in [("search-web", "team-search", "cheap", 0.9),
                                          ("support-bot", "team-support", "claude", 0.5),
                                          ("batch-job", None, "other", 0.3)]:
            for n in range(1 + (day * 3 + len(alias)) % 4):
                start = now - datetime.timedelta(days=day, hours=n)
                rows.append((str(uuid.uuid4()), hashlib.sha256(alias.encode()).hexdigest(), alias, team, model, f"{model}-1",
                             "chat_completions", 100, 40, spend * (1 + n) / 4, start, start, 200))
    with psycopg.connect(stack.pg_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO shale_spend_logs (request_id, api_key, key_alias, team_id, model, model_id, call_type, "
            "prompt_tokens, completion_tokens, spend, start_time, end_time, status_code) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    b.nav("Usage")
    bars = b.all("#usage-chart > svg rect")
    assert len({bar.get_attribute("x") for bar in bars}) == 7, "one bar per day"
    assert {r[0] for r in b.rows("usage-teams")} >= {"Search", "Support", "No team"}
    b.check_clean()
    path = b.screenshot("10-usage-week")
    if os.environ.get("SHALE_UI_DOCS_SCREENSHOT") == "1":
        assert os.environ.get("CI") not in ("true", "1"), "CI never rewrites docs/ui-usage.png"
        shutil.copy(path, REPO / "docs" / "ui-usage.png")


def test_sign_out_ends_the_session(b, stack):
    b.nav("Keys")
    old = b.driver.get_cookie("shale_ui_session")["value"]
    csrf = b.css('meta[name="csrf-token"]').get_attribute("content")
    b.button("Sign out").click()
    b.wait(lambda d: d.current_url.endswith("/ui/login"))
    assert b.driver.get_cookie("shale_ui_session") is None
    b.open("/ui/usage")
    b.wait(lambda d: d.current_url.endswith("/ui/login"))
    answer = httpx.get(stack.gw.url + "/key/list",
                       headers={"cookie": f"shale_ui_session={old}", "x-csrf-token": csrf})
    assert answer.status_code == 401
    b.check_clean()


def test_without_a_database_the_ui_says_what_needs_one(emulator_url):
    """No database: Keys, Teams and Logs say they need one, Models works, Usage shows the spend
    counters from /metrics."""
    require_browser()
    gw = KeysGateway(emulator_url, None, models=[deployment("cheap", NOVA_LITE, emulator_url, **PRICES)])
    browser = Browser(gw.url)
    try:
        openai.OpenAI(api_key=GATEWAY_KEY, base_url=gw.url + "/v1", max_retries=0).chat.completions.create(
            model="cheap", messages=[{"role": "user", "content": "hi"}])
        sign_in(browser)
        for page in ("Keys", "Teams", "Logs"):
            if page != "Keys":
                browser.nav(page)
            assert "needs a database" in browser.css("#no-database").text
            assert not browser.all("button.primary"), "nothing to create without a database"
            browser.check_clean()
        browser.screenshot("12-keys-without-database")
        browser.nav("Models")
        assert [r[0] for r in browser.rows("models-table")] == ["cheap"]
        assert browser.rows("models-table")[0][3] == "Healthy"
        browser.check_clean()
        browser.nav("Usage")
        spend = browser.rows("usage-metrics")
        assert len(spend) == 1 and spend[0][2] not in ("$0.00", "—"), spend
        browser.check_clean()
        browser.screenshot("13-usage-without-database")
        assert "/metrics" in {u.split(gw.url)[-1] for u in browser.requested}
    finally:
        browser.quit()
        gw.stop()
