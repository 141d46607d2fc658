"""A small Dockerfile reader for the packaging tests: instructions with line
continuations joined, stages split at FROM, ARG defaults substituted into
FROM, exec-form (JSON) arguments decoded, and .dockerignore matching."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array form of CMD/ENTRYPOINT/RUN/HEALTHCHECK CMD, if used."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """Leading `--flag=value` options (COPY --from=, HEALTHCHECK --interval=...)."""
        flags: dict[str, str] = {}
        rest = self.args
        while True:
            m = re.match(r"--([a-z-]+)(?:=(\S+))?\s+", rest)
            if not m:
                return flags, rest
            flags[m.group(1)] = m.group(2) or ""
            rest = rest[m.end():]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the stages."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continuation are dropped by Docker
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        lines.append(pending)

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            image_expr, *rest = args.split()
            image = re.sub(
                r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: global_args.get(m.group(1), m.group(0)), image_expr
            )
            name = rest[1] if len(rest) >= 2 and rest[0].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        elif not stages:
            if keyword == "ARG" and "=" in args:
                k, v = args.split("=", 1)
                global_args[k.strip()] = shlex.split(v)[0] if v else ""
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return global_args, stages


def dockerignore_excludes(patterns_text: str, path: str) -> bool:
    """True when the build context leaves `path` out (last matching rule wins;
    a pattern also excludes everything below a matching directory)."""
    rules: list[tuple[bool, str]] = []
    for raw in patterns_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        rules.append((negate, pattern))

    def matches(pattern: str, candidate: str) -> bool:
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        return re.fullmatch(regex, candidate) is not None

    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negate, pattern in rules:
        if any(matches(pattern, p) for p in prefixes):
            excluded = not negate
    return excluded


def read(path: Path) -> tuple[dict[str, str], list[Stage]]:
    return parse(path.read_text())
