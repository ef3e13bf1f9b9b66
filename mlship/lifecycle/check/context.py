"""What every check reads about a project, each file read and parsed at most once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlship.contracts import DecisionRecord
from mlship.knowledge.patterns import Pattern, load_named_pattern
from mlship.lifecycle.check import globs
from mlship.lifecycle.check.yaml_lines import line_of, load_documents
from mlship.lifecycle.repo import Repo
from mlship.provenance import ProjectAnswers
from mlship.record import DEFAULT_NAME
from mlship.yaml_io import yaml_error


class Unreadable(Exception):
    """A file a check needs is not valid YAML/JSON: the check reports it as its finding."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Context:
    root: Path
    record: DecisionRecord
    answers: ProjectAnswers
    kind: str
    gpu: bool
    repo: Repo | None
    rule_ids: list[str] = field(default_factory=list)
    patterns_dir: Path | None = None
    _knowledge: Pattern | None = None
    _texts: dict[str, str | None] = field(default_factory=dict)
    _documents: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        return self.answers.pattern

    @property
    def knowledge(self) -> Pattern:
        """The pattern's knowledge base entry (its budget's criteria), loaded when asked."""
        if self._knowledge is None:
            self._knowledge = load_named_pattern(self.pattern, self.patterns_dir)
        return self._knowledge

    def files(self, patterns: list[str] | str) -> list[str]:
        return globs.find(self.root, [patterns] if isinstance(patterns, str) else patterns)

    def text(self, rel: str) -> str | None:
        """The file's text; None where it does not exist or cannot be read."""
        if rel not in self._texts:
            try:
                self._texts[rel] = (self.root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[rel] = None
        return self._texts[rel]

    def documents(self, rel: str) -> list[Any]:
        """The YAML documents of ``rel`` (mappings remember their lines)."""
        if rel not in self._documents:
            text = self.text(rel)
            if text is None:
                raise Unreadable(f"{rel} cannot be read")
            try:
                self._documents[rel] = load_documents(text)
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                raise Unreadable(yaml_error(rel, error), mark.line + 1 if mark else None) from None
        return self._documents[rel]

    def json(self, rel: str) -> Any:
        text = self.text(rel)
        if text is None:
            raise Unreadable(f"{rel} cannot be read")
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise Unreadable(f"{rel}: not valid JSON ({error.msg})", error.lineno) from None

    def record_line(self, *keys: str) -> int | None:
        """The line of a key path in mlship.yaml (the deepest one found)."""
        try:
            node: Any = self.documents(DEFAULT_NAME)[0]
        except (Unreadable, IndexError):
            return None
        line = 1
        for key in keys:
            found = line_of(node, key)
            if found is None or not isinstance(node, dict) or key not in node:
                break
            line, node = found, node[key]
        return line

    def line_containing(self, rel: str, needle: str, start: int = 1) -> int | None:
        """The first line at or after ``start`` whose text contains ``needle``."""
        text = self.text(rel) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            if number >= start and needle in line:
                return number
        return None
