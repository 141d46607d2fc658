"""Reading the gateway's `/metrics` in tests: one scrape, parsed with the official
`prometheus_client` text parser, with lookups by sample name and labels.

`Scrape.value` is strict: a series that is not in the scrape raises `MissingSeries` rather than
reading as 0 — otherwise `value(...) == 0` would pass for a metric that was renamed, relabelled or
never registered. Where a series may legitimately not exist yet (a baseline before the traffic
that creates it) use `value_or_zero`; where its absence is the behaviour under test, assert
`absent(...)`."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, headers: dict | None = None) -> tuple[int, str]:
    """GET `url`/metrics; returns (status, text)."""
    req = urllib.request.Request(url + "/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class MissingSeries(AssertionError):
    """A series the test reads is not in the scrape (an assertion failure, with what there is)."""

    def __init__(self, name: str, labels: dict, scrape: "Scrape"):
        same_name = [f"{s.name}{s.labels}" for s in scrape.samples if s.name == name][:20]
        super().__init__(
            f"no series {name}{labels or ''} in the scrape; samples called {name}: {same_name or 'none'}"
        )


class Scrape:
    """A parsed scrape: families by name, and a sample lookup by name and labels."""

    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    @classmethod
    def of(cls, url: str) -> "Scrape":
        status, text = scrape(url)
        assert status == 200, text
        return cls(text)

    @classmethod
    def when(cls, url: str, ready, timeout: float = 5.0) -> "Scrape":
        """The first scrape for which `ready(scrape)` holds, or the last one after `timeout`: a
        request's metrics are recorded just after its answer went out (on the same worker), so a
        scrape taken right after the answer may not hold them yet."""
        deadline = time.monotonic() + timeout
        while True:
            s = cls.of(url)
            if ready(s) or time.monotonic() > deadline:
                return s
            time.sleep(0.05)

    def has_family(self, base: str) -> bool:
        return any(name == base or name == base + "_total" for name in self.families)

    def value(self, name: str, **labels) -> float:
        """Sum of the samples called `name` whose labels include `labels`; raises `MissingSeries`
        when there is none."""
        found = self.matching(name, **labels)
        if not found:
            raise MissingSeries(name, labels, self)
        return sum(s.value for s in found)

    def value_or_zero(self, name: str, **labels) -> float:
        """Like `value`, but 0 when no series matches: for a baseline taken before the traffic
        that creates the series (compare the later reading with the strict `value`)."""
        return sum(s.value for s in self.matching(name, **labels))

    def absent(self, name: str, **labels) -> bool:
        """Whether no sample called `name` has labels including `labels` (absence as the behaviour:
        e.g. no failure series for a deployment that never failed)."""
        return not self.matching(name, **labels)

    def matching(self, name: str, **labels) -> list:
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
