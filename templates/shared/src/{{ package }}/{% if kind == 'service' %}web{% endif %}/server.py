"""Run an app with uvicorn and drain it on SIGTERM without cutting a request off.

uvicorn's own shutdown closes idle keep-alive connections at once; a client that sent
its next request on such a connection at that moment gets a reset and no answer. Here,
SIGTERM (or SIGINT) first stops the listening socket (for every worker process sharing
it), then makes readiness fail: from then on every response says ``Connection: close``,
and a client that reconnects is refused, never accepted and then reset. Requests in flight
and already received are answered; idle keep-alive connections are closed by their
keep-alive timeout or after their next response; the process exits when every connection
is gone, or after ``drain_timeout_s`` at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn

from .drain import DRAIN
from .refusal import RefusingHttpProtocol
from .settings import HttpSettings

log = logging.getLogger(__name__)
STARTUP_FAILURE = 3


class DrainingServer(uvicorn.Server):
    _loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._loop = asyncio.get_running_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None:
            DRAIN.begin()
        elif not self.should_exit:  # now, not at the next tick of uvicorn's main loop
            self._loop.call_soon_threadsafe(self._stop_listening)
        super().handle_exit(sig, frame)

    def _stop_listening(self) -> None:
        """Stop accepting, for every process that shares the socket, then start draining.

        In that order: a client told ``Connection: close`` must find nothing listening, or
        its new connection would wait in the accept queue and be reset when it closes.
        ``shutdown`` (on a duplicate: uvloop's sockets refuse it) stops the socket itself,
        which the supervisor and the other workers hold open too.
        """
        for server in getattr(self, "servers", []):
            duplicates = [socket.socket(fileno=os.dup(s.fileno())) for s in server.sockets]
            server.close()
            for duplicate in duplicates:
                with contextlib.suppress(OSError):
                    duplicate.shutdown(socket.SHUT_RD)
                duplicate.close()
        DRAIN.begin()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not DRAIN.active:
            self._stop_listening()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                connection.shutdown()  # busy: closes once its response is sent
        try:
            await asyncio.wait_for(
                self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown
            )
        except TimeoutError:
            log.error(
                "drain timeout: closing %d connection(s), cancelling %d request(s)",
                len(self.server_state.connections),
                len(self.server_state.tasks),
            )
            for task in self.server_state.tasks:
                task.cancel(msg="drain timeout")
            for connection in list(self.server_state.connections):
                connection.shutdown()
        if not self.force_exit:
            await self.lifespan.shutdown()


def serve(app: Any, settings: HttpSettings, workers: int = 1, factory: bool = False) -> int:
    """Serve ``app`` (an ASGI app, or an import string with ``factory``) until stopped."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        factory=factory,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.drain_timeout_s,
        http=RefusingHttpProtocol,
    )
    server = DrainingServer(config)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # each worker process runs a plain uvicorn Server; the app adopts it at start-up
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server.run()
    return 0 if server.started else STARTUP_FAILURE


def freeze_heap() -> None:
    """Keep everything loaded so far (libraries, the model) out of the garbage collector.

    A service holds millions of long-lived objects; each full collection walks them all and
    stalls the event loop for milliseconds, which shows up as a tail under load. Called once
    the model is loaded and warm, before the first request.
    """
    gc.collect()
    gc.freeze()


def adopt_running_server() -> None:
    """Make the uvicorn server running this process drain like :class:`DrainingServer`.

    uvicorn's supervisor starts a plain ``uvicorn.Server`` in each worker process; the app
    calls this at start-up, when the server's SIGTERM handler (its bound ``handle_exit``)
    is installed. A no-op under :func:`serve` with one process and in tests.
    """
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    if isinstance(server, uvicorn.Server) and not isinstance(server, DrainingServer):
        server.__class__ = DrainingServer  # same state, draining behaviour
        server._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, server.handle_exit)
