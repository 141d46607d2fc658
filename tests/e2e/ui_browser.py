"""Helpers for the admin UI's browser tests: a real headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium), pages visited with their console and network read back
(no console errors, every request to the gateway's own origin), screenshots saved as test
artefacts under `tests/artifacts/ui/` (git-ignored), and the form fields found by their labels.
Nothing here asserts on the gateway's behaviour except `Browser.visit`'s clean-page checks."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from urllib.parse import urlsplit

import pytest

from shale_harness import REPO

ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def require_browser():
    """Chromium, chromedriver and selenium are installed (tests/run-all.sh installs them): fail
    under CI=true, skip elsewhere."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.exists(p) or shutil.which(p))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = f"not installed: {', '.join(missing)} (tests/run-all.sh installs chromium, chromium-driver, selenium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def usd(v: float) -> str:
    """The UI's money format (`usd` in app.js)."""
    if v == 0:
        return "$0.00"
    if abs(v) >= 1:
        return f"${v:.2f}"
    if abs(v) < 0.000001:
        return "<$0.000001"
    s = f"{v:.6f}".rstrip("0")
    if len(s.split(".")[1]) < 2:
        s = f"{v:.2f}"
    return "$" + s


class Browser:
    """One headless Chromium session against the gateway at `origin`."""

    def __init__(self, origin: str):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,1000",
                    "--disable-gpu", "--no-first-run", "--disable-extensions", "--lang=en-US"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.origin = origin.rstrip("/")
        # The copy button writes to the clipboard: allow it for this origin.
        self.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": self.origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        self.allowed_errors: list[str] = []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def quit(self) -> None:
        self.driver.quit()

    # --- finding things -------------------------------------------------------------------

    def wait(self, condition, timeout: float = 20):
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(self.driver, timeout, ignored_exceptions=ignored).until(condition)

    def css(self, selector: str, root=None):
        from selenium.webdriver.common.by import By

        return (root or self.driver).find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str, root=None) -> list:
        from selenium.webdriver.common.by import By

        return (root or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def field(self, label: str, root=None):
        """The form control a `<label>` with this exact text is for."""
        from selenium.webdriver.common.by import By

        scope = root or self.driver
        labels = [lab for lab in scope.find_elements(By.TAG_NAME, "label") if lab.text.strip() == label]
        assert labels, f"no label {label!r}"
        target = labels[0].get_attribute("for")
        assert target, f"label {label!r} names no control"
        return self.driver.find_element(By.ID, target)

    def button(self, text: str, root=None):
        """A displayed button with this exact text."""
        from selenium.webdriver.common.by import By

        buttons = [b for b in (root or self.driver).find_elements(By.TAG_NAME, "button")
                   if b.text.strip() == text and b.is_displayed()]
        assert buttons, f"no visible button {text!r}"
        return buttons[0]

    def link(self, text: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.LINK_TEXT, text)

    def ready(self) -> None:
        """Waits until the page's script loaded its data (or showed why not)."""
        self.wait(lambda d: d.find_element("css selector", "body").get_attribute("data-ready") == "true"
                  or d.find_element("css selector", "#error").is_displayed())
        error = self.css("#error")
        assert not error.is_displayed(), f"the page shows an error: {error.text}"

    def rows(self, table_id: str) -> list[list[str]]:
        return [[td.text for td in self.all("td", tr)] for tr in self.all(f"#{table_id} tbody tr")]

    # --- visiting pages -------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.origin + path)

    def nav(self, name: str) -> None:
        """Follows a navigation link and waits for the page's data."""
        self.link(name).click()
        self.wait(lambda d: d.find_element("css selector", "h1").text == name)
        self.ready()

    def screenshot(self, name: str) -> pathlib.Path:
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def check_clean(self) -> None:
        """No console error since the last check (bar `allowed_errors`), and every request the page
        made went to the gateway's own origin (network log and resource timing)."""
        severe = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        unexpected = [e for e in severe if not any(a in e["message"] for a in self.allowed_errors)]
        assert not unexpected, f"console errors: {unexpected}"
        urls = set()
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.add(message["params"]["request"]["url"])
        urls.update(self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"))
        urls.add(self.driver.current_url)
        origin = urlsplit(self.origin)
        # `data:` URLs are no request to anyone: Chromium's own date-picker icon is one. A page's
        # own `data:` image would break the CSP (img-src 'self') and show as a console error.
        foreign = [u for u in urls if not u.startswith("data:")
                   and (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)]
        assert not foreign, f"requests to other origins: {foreign}"
        self.requested = urls
