"""A Dockerfile as instructions with their line numbers, split into build stages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, USER, COPY, ...
    args: str
    line: int


@dataclass
class Stage:
    start: Instruction  # the FROM line
    image: str
    name: str | None
    body: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.body if i.keyword == keyword]
        return found[-1] if found else None


def instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and parser directives dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = " ".join(p.strip() for p in pending if p.strip())
        pending = []
        keyword, _, args = joined.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    return result


def _flags_and_rest(args: str) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    rest: list[str] = []
    for word in args.split():
        if word.startswith("--") and not rest:
            name, _, value = word[2:].partition("=")
            flags[name] = value
        else:
            rest.append(word)
    return flags, rest


def stages(text: str) -> tuple[list[Stage], dict[str, str]]:
    """The build stages and the global ARG defaults (declared before the first FROM)."""
    found: list[Stage] = []
    global_args: dict[str, str] = {}
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            _, words = _flags_and_rest(instruction.args)
            image = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append(Stage(instruction, image, name))
        elif found:
            found[-1].body.append(instruction)
        elif instruction.keyword == "ARG":
            key, _, value = instruction.args.partition("=")
            global_args[key.strip()] = value.strip().strip("\"'")
    return found, global_args


def expand(value: str, variables: dict[str, str]) -> str | None:
    """``$VAR``/``${VAR}`` replaced; None where a variable has no value."""
    missing = False

    def sub(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1) or match.group(2)
        if not variables.get(name):
            missing = True
            return ""
        return variables[name]

    expanded = re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[-+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value
    )
    return None if missing else expanded


def copy_sources(instruction: Instruction) -> list[str]:
    """The source paths of a COPY or ADD (JSON or shell form), without the destination."""
    _, words = _flags_and_rest(instruction.args)
    if words and words[0].startswith("["):
        words = re.findall(r'"([^"]*)"', " ".join(words))
    return words[:-1] if len(words) > 1 else []


def copy_from_stage(instruction: Instruction) -> bool:
    return "from" in _flags_and_rest(instruction.args)[0]
