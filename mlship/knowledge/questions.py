"""The questionnaire as data (``mlship/data/questions.yaml``): one question per answer.

The CLI asks them; the docs list them. Keeping the wording in data means both say the
same thing, and a test can check that every answer field is asked exactly once.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mlship.errors import KnowledgeBaseError
from mlship.knowledge.conditions import When
from mlship.knowledge.fields import answer_fields
from mlship.resources import data_file
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    question: str
    help: str
    changes: str
    ask_when: When | None = None


@cache
def load_questions() -> tuple[Question, ...]:
    """Every question in asking order, checked against the Answers model."""
    source = data_file("questions.yaml")
    try:
        raw = load_yaml(source.read_text(encoding="utf-8"))
        questions = TypeAdapter(list[Question]).validate_python(raw)
    except ValidationError as error:
        problems = "".join(f"\n  {line}" for line in describe_validation_error(error))
        raise KnowledgeBaseError(f"invalid data file {source}:{problems}") from None
    asked = [q.field for q in questions]
    expected = list(answer_fields())
    if sorted(asked) != sorted(expected):
        missing = sorted(set(expected) - set(asked))
        extra = sorted({f for f in asked if asked.count(f) > 1 or f not in expected})
        raise KnowledgeBaseError(
            f"{source}: every answer must be asked exactly once "
            f"(missing: {', '.join(missing) or 'none'}; unknown or repeated: "
            f"{', '.join(extra) or 'none'})"
        )
    return tuple(questions)
