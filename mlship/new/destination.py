"""Where ``mlship new`` may create a project: refused up front, named by the destination.

Under ``/proc``, ``/sys`` or ``/dev`` (the kernel's own file systems), on a read-only mount
or below a folder the user cannot write, nothing can be created; the error says so and
names the destination the user gave, never the staging folder mlship builds beside it.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from mlship.errors import InputError, ToolError

MOUNTS = Path("/proc/self/mountinfo")
# The kernel's own file systems: they look like folders but hold no regular files.
PSEUDO_FILE_SYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "configfs",
        "pstore",
        "bpf",
        "mqueue",
        "fusectl",
        "efivarfs",
        "binfmt_misc",
        "autofs",
    }
)
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR}
_DEST_HINT = "choose a folder you can write to, e.g. one under your home directory"


def _mount_of(path: Path) -> tuple[str, str, list[str]] | None:
    """(mount point, file-system type, mount options) of ``path``; None where unknown."""
    try:
        lines = MOUNTS.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    best: tuple[str, str, list[str]] | None = None
    target = str(path)
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or not tail:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, tail[0], fields[5].split(","))
    return best


def nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_writable(dest: Path, what: str = "dest") -> None:
    """Refuse a destination where nothing can be written, before anything is tried.

    Under ``/proc``, ``/sys`` or ``/dev`` (the kernel's file systems), on a read-only mount
    or below a folder the user cannot write, the error names the destination itself.
    """
    existing = Path(os.path.realpath(nearest_existing(dest)))
    mount = _mount_of(existing)
    if mount is not None:
        point, kind, options = mount
        if kind in PSEUDO_FILE_SYSTEMS:
            raise InputError(
                f"{what}: {dest} is under {point}, a {kind} file system of the kernel, "
                "where no files can be created",
                hint=_DEST_HINT,
            )
        if "ro" in options:
            raise InputError(
                f"{what}: {dest} is on a read-only file system ({point})", hint=_DEST_HINT
            )
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{what}: cannot create {dest}: {existing} is not writable", hint=_DEST_HINT
        )


def creation_error(dest: Path, error: OSError) -> Exception:
    """An ``OSError`` while creating ``dest``, named by ``dest`` (never a staging path)."""
    reason = error.strerror or str(error)
    if error.errno in _NOT_WRITABLE:
        return InputError(f"dest: cannot create {dest}: {reason}", hint=_DEST_HINT)
    return ToolError(f"dest: could not write the project to {dest}: {reason}")
