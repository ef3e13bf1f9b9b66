"""Parse YAML with libyaml's C loader where PyYAML was built with it; say where it broke.

The knowledge base, the data tables and answers files are read on every ``mlship``
call; the C loader reads them about four times faster than the pure-Python one, which
is a good part of the CLI's start-up budget. Both raise the same ``yaml.YAMLError``s,
which ``yaml_error`` turns into ``file:line: not valid YAML: problem`` for a person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlship.errors import MlshipError

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` semantics (no Python objects), the fast loader when present."""
    return yaml.load(text, Loader=_SafeLoader)


def yaml_error(path: Path | str, error: yaml.YAMLError) -> str:
    """``path:line: not valid YAML: problem`` (the line where the parser stopped)."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(error, "problem", None) or "malformed"
    return f"{where}: not valid YAML: {problem}"


def read_text_file(path: Path, error: type[MlshipError], what: str, hint: str | None = None) -> str:
    """The text of ``path``; a missing or unreadable file raises ``error`` naming ``what``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist", hint) from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file", hint) from None
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"cannot read {what} {path}: {problem}", hint) from None


def read_yaml_file(path: Path, error: type[MlshipError], what: str, hint: str | None = None) -> Any:
    """Read and parse ``path``; any problem raises ``error`` naming ``what``, file and line."""
    text = read_text_file(path, error, what, hint)
    try:
        return load_yaml(text)
    except yaml.YAMLError as problem:
        raise error(yaml_error(path, problem), hint) from None
