"""Ctrl-C during a spike: stop the load, keep what was measured, and do not stop half-way.

The first Ctrl-C ends the load; while the spike then stops what it started and saves
the partial result, further Ctrl-C presses are ignored so that nothing is left running.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C inside the block (only the main thread can change signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
