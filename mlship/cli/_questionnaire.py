"""The interactive questionnaire of ``mlship recommend`` (terminal only).

It asks, in the order of ``mlship/data/questions.yaml``, every question that the file and
the flags left open, shows the default and a line of help, and asks again until the
answer is valid. Choices that would contradict earlier answers are not offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from mlship.errors import InputError
from mlship.knowledge.conditions import dict_lookup
from mlship.knowledge.fields import FieldSpec, answer_fields, format_value
from mlship.knowledge.questions import Question, load_questions
from mlship.recommend.answers import merge_answers

if TYPE_CHECKING:
    from rich.console import Console

_TRUE = {"y", "yes", "true", "1"}
_FALSE = {"n", "no", "false", "0"}
_UNSET = {"none", "null", "-"}


class Invalid(ValueError):
    """An answer that does not parse; its message says what is allowed."""


def _choices(spec: FieldSpec, data: Mapping[str, Any]) -> tuple[tuple[str, ...], Any]:
    """Choices and default for a question, leaving out what contradicts earlier answers."""
    choices, default = spec.choices, spec.default
    if spec.path == "hardware.target":
        lookup = dict_lookup(data)
        if lookup("traffic.arrival") == "on-device" or lookup("data.must_stay_on_device"):
            choices = tuple(c for c in choices if c != "server")
            default = "mobile"
    return choices, default


def parse_answer(spec: FieldSpec, text: str, choices: tuple[str, ...], default: Any) -> Any:
    """Turn typed text into an answer value, or raise Invalid saying what is allowed."""
    text = text.strip()
    if text == "":
        if default is None and spec.required:
            raise Invalid(f"an answer is required (allowed: {', '.join(choices)})")
        return default
    if spec.optional and text.lower() in _UNSET:
        return None
    if spec.kind == "choice":
        if text.lower() not in choices:
            raise Invalid(f"{text!r} is not allowed (allowed: {', '.join(choices)})")
        return text.lower()
    if spec.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise Invalid(f"{text!r} is not yes or no")
    try:
        value: float | int = int(text) if spec.kind == "integer" else float(text)
    except ValueError:
        raise Invalid(f"{text!r} is not {spec.allowed()}") from None
    if not spec.check(value):
        raise Invalid(f"{text!r} is not {spec.allowed()}")
    return value


def _prompt(question: Question, spec: FieldSpec, choices: tuple[str, ...], default: Any) -> str:
    if spec.kind == "choice":
        options = "/".join(choices)
    elif spec.kind == "bool":
        options = "y/n"
    else:
        options = "number"
    if spec.kind == "bool":
        shown = "y" if default else "n"
    elif default is not None:
        shown = format_value(default)
    else:
        shown = "none" if spec.optional else ""
    suffix = f" ({escape(shown)})" if shown else ""
    return f"[bold]{escape(question.question)}[/] [cyan]\\[{escape(options)}][/]{suffix}: "


def ask(data: Mapping[str, Any], answered: set[str], *, console: Console) -> dict[str, Any]:
    """Ask every open question; return the new answers by dotted path."""
    fields = answer_fields()
    asked: dict[str, Any] = {}
    console.print("[bold]mlship recommend[/]: a few questions (Enter keeps the default).")
    for question in load_questions():
        current = merge_answers(data, asked)
        if question.field in answered:
            continue
        if question.ask_when is not None and not question.ask_when.holds(dict_lookup(current)):
            continue
        spec = fields[question.field]
        choices, default = _choices(spec, current)
        console.print(f"\n[dim]{escape(question.field)}: {escape(question.help)}[/]")
        while True:
            try:
                text = console.input(_prompt(question, spec, choices, default))
            except EOFError:
                raise InputError("the questionnaire was ended before every answer") from None
            try:
                asked[question.field] = parse_answer(spec, text, choices, default)
                break
            except Invalid as problem:
                console.print(f"[red]{escape(str(problem))}; try again[/]")
    return asked
