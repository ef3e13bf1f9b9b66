"""Whether this process is draining: readiness fails and every response closes its connection.

Set by the server when SIGTERM (or SIGINT) arrives, read by the guard and the readiness
routes; one flag per process, since a process drains as a whole.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Drain:
    def __init__(self) -> None:
        self.active = False

    def begin(self) -> None:
        if not self.active:
            self.active = True
            log.info("draining: readiness fails, responses close their connections")


DRAIN = Drain()
