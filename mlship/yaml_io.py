"""Parse YAML with libyaml's C loader where PyYAML was built with it.

The knowledge base, the data tables and answers files are read on every ``mlship``
call; the C loader reads them about four times faster than the pure-Python one, which
is a good part of the CLI's start-up budget. Both raise the same ``yaml.YAMLError``s.
"""

from __future__ import annotations

from typing import Any

import yaml

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` semantics (no Python objects), the fast loader when present."""
    return yaml.load(text, Loader=_SafeLoader)
