"""Project-relative globs where ``**`` spans folders (``k8s/**``, ``models/**/*.pkl``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """``path`` (POSIX, relative) matches one of ``patterns``."""
    return any(_regex(p).match(path) for p in patterns)


def find(root: Path, patterns: Iterable[str]) -> list[str]:
    """Files under ``root`` matching ``patterns``, sorted, skipping .git and virtual envs."""
    wanted = list(patterns)
    found = set()
    for pattern in wanted:
        for path in root.glob(pattern):
            rel = path.relative_to(root)
            if path.is_file() and not {".git", ".venv", "venv", "node_modules"} & set(rel.parts):
                found.add(rel.as_posix())
    return sorted(found)
