"""YAML documents whose mappings remember the line of every key, for findings at file:line."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode

# libyaml's parser where PyYAML has it (as mlship.yaml_io), Python constructors either way
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineMap(dict[Any, Any]):
    """A mapping with ``line`` (where it starts) and ``lines[key]`` (where each key is)."""

    line: int = 1
    lines: dict[Any, int]


class _Loader(_Base):  # type: ignore[misc]
    pass


def _mapping(loader: Any, node: MappingNode) -> LineMap:
    result = LineMap()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream; raises ``yaml.YAMLError`` like ``yaml.safe_load``."""
    return list(yaml.load_all(text, Loader=_Loader))


def line_of(mapping: Any, key: str) -> int | None:
    """The line of ``key`` in a ``LineMap`` (or of the mapping itself)."""
    if isinstance(mapping, LineMap):
        return mapping.lines.get(key, mapping.line)
    return None
