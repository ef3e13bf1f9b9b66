"""Project and package names: what is accepted, what is derived, what is refused and why."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlship.errors import InputError
from mlship.new.naming import (
    name_from_folder,
    package_for,
    resolve_names,
    validate_package_name,
    validate_project_name,
)


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("fraud-scorer", "fraud-scorer"),
        ("Fraud_Scorer", "fraud-scorer"),
        ("a", "a"),
        ("churn.model2", "churn-model2"),
        ("x__y--z", "x-y-z"),
    ],
)
def test_valid_project_names_are_normalised_to_kebab_case(given_name: str, expected: str) -> None:
    assert validate_project_name(given_name) == expected


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("../x", "is a path"),
        ("a/b", "is a path"),
        ("..", "is a path"),
        ("", "must not be empty"),
        ("-x", "not a valid project name"),
        ("x-", "not a valid project name"),
        ("has space", "not a valid project name"),
        ("naïve", "not a valid project name"),
    ],
)
def test_invalid_project_names_are_refused_naming_the_field(bad: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        validate_project_name(bad)
    assert caught.value.message.startswith("name:")
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("test", "shadow a module the generated project imports"),
        ("numpy", "shadow a module the generated project imports"),
        ("json", "standard library"),
        ("logging", "standard library"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("3d_model", "not a valid Python package name"),
        ("my-pkg", "not a valid Python package name"),
        ("Fraud", "lower case"),
    ],
)
def test_unsafe_package_names_are_refused(bad: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        validate_package_name(bad)
    assert says in caught.value.message
    assert caught.value.message.startswith("package:")


def test_names_are_derived_from_the_destination_folder() -> None:
    assert name_from_folder("My Service") == "my-service"
    assert resolve_names(None, None, "Fraud Scorer v2") == ("fraud-scorer-v2", "fraud_scorer_v2")


def test_a_folder_without_usable_characters_asks_for_a_name() -> None:
    with pytest.raises(InputError) as caught:
        name_from_folder("...")
    assert caught.value.hint == "pass --name"


def test_a_name_whose_package_would_start_with_a_digit_needs_package() -> None:
    with pytest.raises(InputError) as caught:
        resolve_names("3d-scorer", None, "ignored")
    assert "--package" in (caught.value.hint or "")
    assert resolve_names("3d-scorer", "scorer3d", "ignored") == ("3d-scorer", "scorer3d")


def test_a_name_that_derives_a_shadowing_package_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        resolve_names("Tests", None, "ignored")
    assert "derived from the name" in caught.value.message


PEP508 = re.compile(r"^([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$")


@given(st.text(max_size=24))
def test_any_text_gives_safe_names_or_a_clear_input_error(text: str) -> None:
    try:
        project, package = resolve_names(text, None, "unused")
    except InputError as error:
        assert error.message.split(":")[0] in ("name", "package (derived from the name)")
        return
    assert PEP508.match(project)
    assert package == package_for(project)
    assert package.isidentifier()
    assert "/" not in project and ".." not in project
