"""A client that keeps one connection alive under load and says what became of each request.

Used by the drain tests of the online service, as a process and as a container image.
"""

from __future__ import annotations

import socket
import threading
import time


class KeepAliveClient(threading.Thread):
    """Sends predictions back to back on one keep-alive connection, reconnecting when told to
    close; records each request as answered, refused (never sent) or lost (sent, no answer)."""

    def __init__(self, port: int, body: bytes, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.request = (
            f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.answered = self.told_to_close = self.refused = self.lost = 0
        self.errors: list[str] = []

    def run(self) -> None:
        sock: socket.socket | None = None
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            if sock is None:
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                except ConnectionRefusedError:
                    self.refused += 1
                    return  # the server stopped listening: it is draining
            try:
                sock.sendall(self.request)
                status, close = self._read(sock)
            except (OSError, ValueError) as error:
                self.lost += 1
                self.errors.append(repr(error))
                sock.close()
                return
            self.answered += status == 200
            if close:
                self.told_to_close += 1
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    @staticmethod
    def _read(sock: socket.socket) -> tuple[int, bool]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed before a response")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed inside a response")
            rest += chunk
        return int(lines[0].split()[1]), headers.get("connection") == "close"
