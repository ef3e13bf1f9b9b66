"""Project and package names: validate what the user gave, derive what they did not.

A generated project has two names: the distribution name (PEP 508, written kebab-case in
``pyproject.toml``) and the import package under ``src/``. A bad package name is not a
style issue: ``test``, ``json`` or ``numpy`` would shadow a module the project imports,
and a name such as ``../x`` would write outside the destination.
"""

from __future__ import annotations

import keyword
import re
import sys

from mlship.errors import InputError

# PEP 508 names: letters, digits, ".", "_" and "-", starting and ending alphanumeric.
_PEP508 = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_.]+")
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")

# Import names a generated project (or its tooling) relies on: a package with one of
# these names would shadow it.
SHADOWED = frozenset(
    {
        "test",
        "tests",
        "src",
        "setup",
        "conftest",
        "models",
        "mlship",
        "app",
        "fastapi",
        "uvicorn",
        "starlette",
        "pydantic",
        "pydantic_settings",
        "prometheus_client",
        "onnx",
        "onnxruntime",
        "numpy",
        "sklearn",
        "scikit_learn",
        "skl2onnx",
        "skops",
        "torch",
        "locust",
        "pytest",
        "yaml",
        "httpx",
    }
)


def normalize_project_name(name: str) -> str:
    """The PEP 503 normal form, which is also the kebab-case the templates expect."""
    return _SEPARATORS.sub("-", name).lower()


def validate_project_name(name: str, field: str = "name") -> str:
    """Return the normalised project name or raise ``InputError`` naming ``field``."""
    if not name:
        raise InputError(f"{field}: must not be empty")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(
            f"{field}: {name!r} is a path, not a project name",
            hint="give the destination folder as DEST and a plain name such as fraud-scorer",
        )
    if not _PEP508.match(name):
        raise InputError(
            f"{field}: {name!r} is not a valid project name",
            hint="use letters, digits, '-', '_' or '.', starting and ending with a letter "
            "or digit (PEP 508), e.g. fraud-scorer",
        )
    return normalize_project_name(name)


def validate_package_name(package: str, field: str = "package") -> str:
    """Return ``package`` if it is a safe import name, else raise ``InputError``."""
    if not package.isidentifier() or not package.isascii():
        raise InputError(
            f"{field}: {package!r} is not a valid Python package name",
            hint="use lower-case letters, digits and '_', not starting with a digit",
        )
    if package != package.lower():
        raise InputError(f"{field}: {package!r} must be lower case (PEP 8 package names)")
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise InputError(f"{field}: {package!r} is a Python keyword")
    if package in sys.stdlib_module_names:
        raise InputError(
            f"{field}: {package!r} would shadow the standard library module of that name",
            hint="choose a more specific name, e.g. add your team or model name",
        )
    if package in SHADOWED:
        raise InputError(
            f"{field}: {package!r} would shadow a module the generated project imports",
            hint="choose a more specific name, e.g. add your team or model name",
        )
    return package


def package_for(project_name: str) -> str:
    """The import package derived from a (normalised) project name."""
    return project_name.replace("-", "_").replace(".", "_")


def name_from_folder(folder: str) -> str:
    """A project name derived from the destination folder's name (spaces become '-')."""
    slug = _NOT_NAME.sub("-", folder.strip()).strip("-_.")
    if not slug:
        raise InputError(
            f"name: cannot derive a project name from the folder {folder!r}",
            hint="pass --name",
        )
    return validate_project_name(slug, field="name (from the destination folder)")


def resolve_names(name: str | None, package: str | None, folder: str) -> tuple[str, str]:
    """The (project name, package) pair: given values validated, missing ones derived."""
    project = validate_project_name(name) if name is not None else name_from_folder(folder)
    if package is not None:
        return project, validate_package_name(package)
    derived = package_for(project)
    field = "package (derived from the name)"
    if derived[:1].isdigit():
        raise InputError(
            f"{field}: {derived!r} starts with a digit",
            hint="pass --package with a name that starts with a letter",
        )
    return project, validate_package_name(derived, field=field)
