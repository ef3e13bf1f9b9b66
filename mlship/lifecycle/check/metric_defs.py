"""The metric series a project's source exports, read from its metric definitions.

Every ``Counter("name", ...)``, ``Gauge``, ``Histogram``, ``Summary``, ``Info`` or
``Enum`` call (any callee whose name ends so, such as a custom ``ArrayHistogram``) with a
literal name, or a module-level string constant, defines a family; the exposition adds
suffixes by type (``_total`` for counters, ``_bucket``/``_sum``/``_count`` for
histograms), so a query that names a series the code never exports is caught.
"""

from __future__ import annotations

import ast
import re

TYPES = ("Counter", "Gauge", "Histogram", "Summary", "Info", "Enum")
_VALID = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _text(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _series(name: str, kind: str) -> set[str]:
    if kind == "Counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "Histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "Summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "Info":
        return {f"{name}_info"}
    return {name}


def _full_name(call: ast.Call, constants: dict[str, str]) -> str | None:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    name = _text(call.args[0] if call.args else keywords.get("name"), constants)
    if name is None:
        return None
    parts = [_text(keywords.get(k), constants) or "" for k in ("namespace", "subsystem")]
    return "_".join([p for p in parts if p] + [name])


def exported_series(source: str) -> dict[str, int]:
    """Series name -> line of its definition, for one Python module."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        kind = next((t for t in TYPES if _callee(node).endswith(t)), None)
        name = _full_name(node, constants) if kind else None
        if kind and name and _VALID.match(name):
            for series in _series(name, kind):
                found.setdefault(series, node.lineno)
    return found


def mentions_metrics(source: str) -> bool:
    """A cheap test before parsing: does the module call a metric type at all?"""
    return any(f"{t}(" in source for t in TYPES)
