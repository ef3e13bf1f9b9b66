"""An organisation's template source: a folder, or a git repository at a tag, branch or commit.

``SOURCE`` is a path or a git URL with an optional ``@REF``; a git source is read from the
commit the ref resolves to (never from a work tree's uncommitted files), so the commit
recorded in the project names exactly the files it was rendered from and ``mlship
update`` can render them again. Each source is materialised once per process into a
temporary folder laid out like mlship's ``templates/`` (``<pattern>/...``, ``shared/...``).
"""

from __future__ import annotations

import atexit
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlship.contracts import TemplateOverlay
from mlship.errors import InputError, ToolError

# What git forbids in a ref name (git check-ref-format): a tail with one of these is not a ref.
_NOT_A_REF = re.compile(r"[:\s~^?*\[\\]|\.\.|@\{|^[-/.]|[/.]$|\.lock$")
_HINT = "give a folder or a git repository laid out like mlship's templates/, optionally @REF"


@dataclass(frozen=True)
class SourceSpec:
    """``SOURCE[@REF]`` split in two."""

    location: str
    ref: str | None


@dataclass(frozen=True)
class ResolvedSource:
    """A source on disk, and how the project records it."""

    path: Path
    record: TemplateOverlay


def _looks_remote(location: str) -> bool:
    return "://" in location or bool(re.match(r"^[\w.-]+@[\w.-]+:", location))


def parse_source(text: str) -> SourceSpec:
    """Split ``SOURCE@REF``; an ``@`` inside a URL's user part or an existing path stays."""
    text = text.strip()
    if not text:
        raise InputError("templates: empty source", hint=_HINT)
    if "@" not in text or Path(text).expanduser().exists():
        return SourceSpec(text, None)
    head, ref = text.rsplit("@", 1)
    url_without_path = "://" in head and "/" not in head.split("://", 1)[1]
    if not head or not ref or _NOT_A_REF.search(ref) or url_without_path:
        return SourceSpec(text, None)
    return SourceSpec(head, ref)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
        )
    except FileNotFoundError:
        raise ToolError("git is not installed: it is needed for a git template source") from None


def _is_repository_root(path: Path) -> bool:
    """A work tree's top folder, or a bare repository."""
    if (path / ".git").exists():
        return True
    bare = _git("rev-parse", "--is-bare-repository", cwd=path)
    return bare.returncode == 0 and bare.stdout.strip() == "true"


def _refs(repo: Path) -> str:
    listed = _git("for-each-ref", "--format=%(refname:short)", "refs/tags", "refs/heads", cwd=repo)
    names = [n for n in listed.stdout.split() if n]
    return ", ".join(names[:20]) or "none"


def _resolve_commit(repo: Path, ref: str | None, location: str) -> str:
    wanted = ref or "HEAD"
    found = _git("rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}", cwd=repo)
    if found.returncode != 0:
        raise InputError(
            f"templates: {location} has no tag, branch or commit {wanted!r}",
            hint=f"refs there: {_refs(repo)}",
        )
    return found.stdout.strip()


def _extract(repo: Path, commit: str, into: Path) -> None:
    """The files of ``commit`` (not a work tree's) into ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True, check=False
    )
    if archive.returncode != 0:
        detail = archive.stderr.decode(errors="replace").strip()
        raise ToolError(f"templates: git archive {commit} failed: {detail}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


class _Materialised:
    """Commits already extracted (and remote repositories already cloned) in this process,
    removed when it exits. Keyed by commit, so a branch that moves is extracted again."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], Path] = {}
        self.clones: dict[str, Path] = {}
        self.folders: list[Path] = []
        atexit.register(self.clear)

    def folder(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="mlship-source-"))
        self.folders.append(path)
        return path

    def clear(self) -> None:
        for path in self.folders:
            shutil.rmtree(path, ignore_errors=True)
        self.folders.clear()
        self.found.clear()
        self.clones.clear()


_CACHE = _Materialised()


def _from_git(location: str, repo: Path, ref: str | None) -> ResolvedSource:
    commit = _resolve_commit(repo, ref, location)
    folder = _CACHE.found.get((location, commit))
    if folder is None:
        folder = _CACHE.folder()
        _extract(repo, commit, folder)
        _CACHE.found[(location, commit)] = folder
    return ResolvedSource(folder, TemplateOverlay(source=location, ref=ref, commit=commit))


def _clone(location: str) -> Path:
    """A bare clone of a remote source, made once per process."""
    if location in _CACHE.clones:
        return _CACHE.clones[location]
    into = _CACHE.folder() / "repo.git"
    cloned = _git("clone", "--quiet", "--bare", location, str(into))
    if cloned.returncode != 0:
        raise InputError(f"templates: cannot clone {location}: {cloned.stderr.strip()}", hint=_HINT)
    _CACHE.clones[location] = into
    return into


def resolve_source(text: str | Path, ref: str | None = None) -> ResolvedSource:
    """Materialise ``SOURCE[@REF]`` (``ref`` replaces the one in the text) and record it."""
    spec = parse_source(str(text))
    spec = SourceSpec(spec.location, ref if ref is not None else spec.ref)
    local = Path(spec.location).expanduser()
    if local.is_dir():
        local = local.resolve()
        if _is_repository_root(local):
            return _from_git(str(local), local, spec.ref)
        if spec.ref is not None:
            raise InputError(
                f"templates: {local} is a folder, not a git repository, so @{spec.ref} "
                "means nothing there",
                hint="drop @REF, or point at the root of a git repository",
            )
        return ResolvedSource(local, TemplateOverlay(source=str(local)))
    if local.exists():
        raise InputError(f"templates: {local} is a file, not a folder", hint=_HINT)
    if _looks_remote(spec.location):
        return _from_git(spec.location, _clone(spec.location), spec.ref)
    raise InputError(
        f"templates: {spec.location} is neither a folder nor a git repository", hint=_HINT
    )


def source_text(overlay: TemplateOverlay) -> str:
    """The ``SOURCE@REF`` a recorded overlay was asked for."""
    return overlay.source if overlay.ref is None else f"{overlay.source}@{overlay.ref}"
