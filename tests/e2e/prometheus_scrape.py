"""Reading the gateway's `/metrics` in tests: one scrape, parsed with the official
`prometheus_client` text parser, with lookups by sample name and labels. Nothing here asserts."""

from __future__ import annotations

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

    def has_family(self, base: str) -> bool:
        return any(name == base or name == base + "_total" for name in self.families)

    def value(self, name: str, **labels) -> float:
        """Sum of the samples called `name` whose labels include `labels`."""
        return sum(s.value for s in self.matching(name, **labels))

    def matching(self, name: str, **labels) -> list:
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
