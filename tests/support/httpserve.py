"""A loopback ``ThreadingHTTPServer`` that shuts down cleanly, for the issuer and the fault proxy.

Why not the plain stdlib server: pytest runs with ``filterwarnings=error``, so a handler thread that
outlives the test or a socket left to the garbage collector fails the run. This server tracks every
accepted connection and force-closes them on :meth:`LoopbackServer.close` (keep-alive connections a
client never closed would otherwise keep ``server_close`` waiting), does the TLS handshake in the handler
thread (a client that connects and never handshakes must not block ``accept``), and swallows the
connection errors that fault injection provokes on purpose.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackServer", "QuietHandler"]


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive) handler that does not log to stderr."""

    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_one_request(self) -> None:
        """On a plain listener, answer a TLS ClientHello the way Go's net/http server does (``400`` "Client
        sent an HTTP request to an HTTPS server."): Go clients (docker, BuildKit) then see "server gave HTTP
        response to HTTPS client" and fall back to plain HTTP for an insecure (loopback) registry, instead of
        hanging while this server waits for a request line that never comes."""
        server_tls = getattr(self.server, "tls", None)
        peek = getattr(self.rfile, "peek", None)
        if server_tls is None and peek is not None:
            try:
                first = peek(1)[:1]
            except OSError:
                first = b""
            if first == b"\x16":
                with contextlib.suppress(OSError):
                    self.wfile.write(
                        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
                    )
                self.close_connection = True
                return
        super().handle_one_request()

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked); empty when there is none."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete response with Content-Length (no body for HEAD)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LoopbackServer(ThreadingHTTPServer):
    """Threaded HTTP(S) server on a loopback address; :meth:`start` / :meth:`close` manage its thread."""

    daemon_threads = False  # so server_close() joins them (after close() cut their connections)
    block_on_close = True
    allow_reuse_address = True

    def __init__(
        self,
        handler: type[QuietHandler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__((host, port), handler)
        self.tls = tls
        self.closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def host(self) -> str:
        address = self.server_address[0]
        assert isinstance(address, str)  # AF_INET: always a str
        return f"{address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-{self.host}"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut every open connection, join the handler threads, close the listener."""
        self.closing.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection tracking and TLS in the handler thread ------------------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request.settimeout(10)
            tls_sock = self.tls.wrap_socket(request, server_side=True)
            tls_sock.settimeout(None)
            with self._conns_lock:
                self._conns.add(tls_sock)
            try:
                super().finish_request(tls_sock, client_address)
            finally:
                with self._conns_lock:
                    self._conns.discard(tls_sock)
                with contextlib.suppress(OSError):
                    tls_sock.close()
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets, broken pipes and failed handshakes are what fault tests provoke; stay quiet.
        return
