"""Reading the examples of a markdown page (README sections, docs/*.md) so tests can run them as
written: a README section by its title, the fenced blocks of one language, and the command-line
tools the examples need (missing: fail under CI, skip elsewhere)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from shale_harness import REPO


def readme_section(title: str) -> str:
    """The README's `## title` or `### title` section, up to the next heading."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"\n###? {re.escape(title)}\n", text)
    assert match, f"the README has no section {title!r}"
    ends = [i for i in (text.find("\n## ", match.end()), text.find("\n### ", match.end())) if i != -1]
    return text[match.start():min(ends) if ends else None]


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang fenced blocks, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def require_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            message = f"`{tool}` is not installed (tests/run-all.sh installs it)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
