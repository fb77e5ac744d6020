"""The local stand-ins' common part: an HTTP server on 127.0.0.1, in a daemon thread, that a test or
the local runner starts and stops (or uses as a context manager)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    """Request threads never keep the process alive, and a client hanging up is not an error worth a
    traceback on the terminal (Slack's and Google's clients close early on timeouts and retries)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class LoopbackServer:
    """Subclasses set `handler` (a BaseHTTPRequestHandler subclass that reads `self.owner`)."""

    handler: type[BaseHTTPRequestHandler]
    name = "loopback-server"

    def __init__(self, port: int = 0):
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        # A handler class of its own per server, so each request handler can reach its server's owner.
        handler = type("Handler", (self.handler,), {"owner": self})
        self._server = QuietServer(("127.0.0.1", self._port), handler)
        # A short poll interval so stop() returns at once instead of after serve_forever's 0.5 s tick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT, without a trailing slash."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"
