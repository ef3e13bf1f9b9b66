"""Processes a spike starts: each in a process group of its own, always stopped as a whole.

A project's command (``make run``, ``make serve``) forks its own children; stopping the
group stops them all. Signals are unblocked in the child, so a broker or job started from
a process that blocks SIGINT/SIGTERM still stops on SIGTERM.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from mlship.errors import ToolError

LOG_TAIL_LINES = 30
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def start(
    command: list[str], cwd: Path | None, env: dict[str, str], log_path: Path | None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session (its own process group), output to ``log_path``."""
    try:
        if log_path is None:
            return subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_unblock_signals,
            )
        with log_path.open("ab") as log:
            return subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_unblock_signals,
            )
    except OSError as error:
        where = f" in {cwd}" if cwd else ""
        raise ToolError(f"cannot run {shlex.join(command)!r}{where}: {error}") from None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(process: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM to the whole process group, then SIGKILL if it lingers."""
    if process is None or (process.poll() is not None and not group_alive(process.pid)):
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(process.pid):
            process.poll()
            time.sleep(0.05)
        if not group_alive(process.pid):
            break
    process.poll()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(the log is empty)"


def failure(message: str, log_path: Path, command: list[str], cwd: Path | None) -> ToolError:
    """An environment error that shows the last lines of the process's log."""
    where = f" in {cwd}" if cwd else ""
    return ToolError(
        f"{message}\nlog ({log_path}, last lines):\n{log_tail(log_path)}",
        hint=f"run `{shlex.join(command)}`{where} to see it fail yourself",
    )
