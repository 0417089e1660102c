"""A fault-injecting HTTP(S) reverse proxy in front of a real registry, scriptable from a test.

Why: a registry client must survive what real registries and CDNs do (429 with Retry-After, 503 bursts,
redirects to object storage on another host, https→http downgrades, truncated or corrupted bodies,
servers that never answer, endless 401s). Those are hard to get from a healthy ``docker-registry``, so
this proxy sits in front of one (normally the ``plain`` flavour) and misbehaves on request:

    with start_fault_proxy(registry_plain) as proxy:
        rule = proxy.throttle(r"/blobs/sha256:", times=2)      # 429 + Retry-After: 1, twice
        ...client pulls through proxy.url...
        assert rule.hits == 2 and proxy.seen(r"/blobs/")

Rules match ``re.search(pattern, path)`` (path without query) and optionally the method; the first rule
that matches and still has ``times`` left fires, anything else passes through unchanged (the ``Host``
header is forwarded as is, so the registry's upload ``Location`` URLs point back at the proxy).

Two extra plain-HTTP listeners stand in for "somewhere else": ``other_url`` (``127.0.0.2``, another
host) and ``downgrade_url`` (``127.0.0.1``, another port, plain HTTP — with ``tls=True`` a redirect there
is an https→http downgrade). Both record what reached them (notably whether ``Authorization`` leaked)
and serve the registry's content anonymously, like a presigned object-store URL would.

Every request any listener saw is in ``proxy.requests`` (:class:`SeenRequest`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .httpserve import LoopbackServer, QuietHandler
from .pki import PKIFiles, server_context, write_pki
from .registry import RunningRegistry

__all__ = ["FAULT_TOKEN_PATH", "FaultProxy", "Rule", "SeenRequest", "start_fault_proxy"]

Action = Literal["corrupt", "truncate", "respond", "redirect", "hang", "unauthorized"]
Listener = Literal["proxy", "other", "downgrade"]
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_REPO_IN_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:blobs/|manifests/|tags/list)")
FAULT_TOKEN_PATH = "/_fault/token"


@dataclass
class SeenRequest:
    """One request as a listener received it."""

    listener: Listener
    method: str
    path: str
    query: str
    headers: dict[str, str]
    rule: Action | None = None
    time: float = field(default_factory=time.time)

    @property
    def authorization(self) -> str | None:
        """The Authorization header, if the client sent one (header names are stored lowercase)."""
        return self.headers.get("authorization")


@dataclass
class Rule:
    """A scripted fault. ``times=None`` fires forever; ``hits`` counts how often it fired."""

    action: Action
    pattern: str
    method: str | None = None
    times: int | None = None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    location: str | None = None
    offset: int | None = None
    keep: int | None = None
    after_headers: bool = False
    #: Extra condition on the request's (lowercased) headers and body, for rules that depend on content
    #: (an emulated registry refusing one manifest shape).
    when: Callable[[dict[str, str], bytes], bool] | None = None
    hits: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def matches(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        if re.search(self.pattern, path) is None:
            return False
        return self.when is None or self.when(headers or {}, body)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


class _ProxyHandler(QuietHandler):
    proxy: FaultProxy
    listener: Listener

    # Every method goes through one path.
    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _handle(self) -> None:
        body = self.read_body()
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        rule = self.proxy._match(self.command, path, headers, body) if self.listener == "proxy" else None
        self.proxy._record(
            SeenRequest(
                self.listener, self.command, path, split.query, headers, rule.action if rule else None
            )
        )
        if self.listener == "proxy" and path == FAULT_TOKEN_PATH:
            payload = {"token": "fault-proxy-token", "access_token": "fault-proxy-token", "expires_in": 60}
            self.send_bytes(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})
            return
        if rule is None or rule.action in ("corrupt", "truncate"):
            self._forward(body, rule)
        elif rule.action == "respond":
            self.send_bytes(rule.status, rule.body, {"Content-Type": "application/json", **rule.headers})
        elif rule.action == "unauthorized":
            self._unauthorized(path, rule)
        elif rule.action == "redirect":
            assert rule.location is not None
            target = rule.location.rstrip("/") + self.path
            self.send_bytes(rule.status, b"", {"Location": target, **rule.headers})
        elif rule.action == "hang":
            if rule.after_headers:
                self._forward(body, rule)
            else:
                self._hang(rule)

    def _unauthorized(self, path: str, rule: Rule) -> None:
        m = _REPO_IN_PATH.match(path)
        challenge = f'Bearer realm="{self.proxy.url}{FAULT_TOKEN_PATH}",service="fault-proxy"'
        if m:
            action = "pull" if self.command in ("GET", "HEAD") else "pull,push"
            challenge += f',scope="repository:{m["name"]}:{action}"'
        self.send_bytes(
            401,
            _error_body("UNAUTHORIZED", "authentication required"),
            {"Content-Type": "application/json", "WWW-Authenticate": challenge, **rule.headers},
        )

    def _hang(self, rule: Rule) -> None:
        """Say nothing until the proxy closes (or ``rule.release`` is set), then drop the connection."""
        while not (self.server.closing.is_set() or rule.release.is_set()):
            rule.release.wait(0.05)
        self.close_connection = True

    def _forward(self, body: bytes, rule: Rule | None) -> None:
        proxy = self.proxy
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.listener != "proxy":
            # The "object store" serves anonymously, like a presigned URL; it never forwards credentials.
            fwd = {k: v for k, v in fwd.items() if k.lower() != "authorization"}
            fwd["Host"] = proxy.upstream_host
        if proxy.tls and self.listener == "proxy":
            fwd["X-Forwarded-Proto"] = "https"
        if body or self.command in ("POST", "PUT", "PATCH"):
            fwd["Content-Length"] = str(len(body))
        conn: http.client.HTTPConnection
        if proxy.upstream_scheme == "https":
            conn = http.client.HTTPSConnection(proxy.upstream_host, timeout=30, context=proxy.upstream_ssl)
        else:
            conn = http.client.HTTPConnection(proxy.upstream_host, timeout=30)
        try:
            conn.request(self.command, self.path, body=body or None, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
        except OSError as e:
            self.send_bytes(
                502, _error_body("BAD_GATEWAY", f"upstream: {e}"), {"Content-Type": "application/json"}
            )
            return
        finally:
            conn.close()
        length = len(data)
        if rule is not None and rule.action == "corrupt" and data:
            at = (rule.offset if rule.offset is not None else len(data) // 2) % len(data)
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        self.send_response(status, reason)
        for name, value in resp_headers:
            if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            upstream_length = next((v for k, v in resp_headers if k.lower() == "content-length"), "0")
            self.send_header("Content-Length", upstream_length)
            self.end_headers()
            return
        self.send_header("Content-Length", str(length))
        if rule is not None and rule.action in ("truncate", "hang"):
            self.send_header("Connection", "close")
        self.end_headers()
        if rule is not None and rule.action == "truncate":
            # Promise the full length, send part of it, then close: the client sees a short body.
            keep = rule.keep if rule.keep is not None else length // 2
            self.wfile.write(data[: max(0, min(keep, length - 1))])
            self.wfile.flush()
            self.close_connection = True
            return
        if rule is not None and rule.action == "hang":
            self.wfile.flush()
            self._hang(rule)
            return
        self.wfile.write(data)


class FaultProxy:
    """The proxy and its two side listeners; see the module docstring. Use :func:`start_fault_proxy`."""

    def __init__(
        self,
        upstream: str,
        *,
        tls_files: PKIFiles | None = None,
        upstream_ssl: ssl.SSLContext | None = None,
        other_host: str = "127.0.0.2",
    ) -> None:
        split = urllib.parse.urlsplit(upstream)
        self.upstream_scheme = split.scheme
        self.upstream_host = split.netloc
        self.upstream_ssl = upstream_ssl
        self.tls = tls_files is not None
        self.ca_file: Path | None = tls_files.ca_cert if tls_files else None
        self.requests: list[SeenRequest] = []
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        self._servers: list[LoopbackServer] = []
        try:
            self._proxy = self._listen("proxy", "127.0.0.1", server_context(tls_files) if tls_files else None)
            try:
                self._other = self._listen("other", other_host, None)
            except OSError:  # no 127.0.0.2 on this machine: another port still is another origin
                self._other = self._listen("other", "127.0.0.1", None)
            self._downgrade = self._listen("downgrade", "127.0.0.1", None)
        except BaseException:
            self.close()
            raise

    def _listen(self, role: Listener, host: str, tls: ssl.SSLContext | None) -> LoopbackServer:
        owner = self

        class Handler(_ProxyHandler):
            proxy = owner
            listener = role

        server = LoopbackServer(Handler, host=host, tls=tls).start()
        self._servers.append(server)
        return server

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where clients should point (``http(s)://127.0.0.1:PORT``)."""
        return self._proxy.url

    @property
    def host(self) -> str:
        return self._proxy.host

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def other_url(self) -> str:
        """The "other host" (``http://127.0.0.2:PORT``) that :meth:`redirect` sends clients to by default."""
        return self._other.url

    @property
    def downgrade_url(self) -> str:
        """A plain-HTTP listener on ``127.0.0.1`` (same host name as the proxy, different port)."""
        return self._downgrade.url

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Release hung requests, stop all listeners and join their threads."""
        with self._lock:
            for rule in self.rules:
                rule.release.set()
        for server in self._servers:
            server.close()
        self._servers.clear()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rules ---------------------------------------------------------------------------------------
    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _match(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, headers, body):
                    rule.hits += 1
                    return rule
        return None

    def clear(self) -> None:
        """Drop all rules (releasing hung requests) and forget recorded requests."""
        with self._lock:
            for rule in self.rules:
                rule.release.set()
            self.rules.clear()
            self.requests.clear()

    def corrupt(
        self, path: str, *, method: str | None = "GET", times: int | None = None, offset: int | None = None
    ) -> Rule:
        """Pass through but flip one byte of the body (at ``offset``, default the middle); same length."""
        return self.add(Rule("corrupt", path, method, times, offset=offset))

    def truncate(
        self, path: str, *, method: str | None = "GET", times: int | None = None, keep: int | None = None
    ) -> Rule:
        """Pass through, announce the full Content-Length, send only ``keep`` bytes (default half), close."""
        return self.add(Rule("truncate", path, method, times, keep=keep))

    def respond(
        self,
        path: str,
        status: int,
        *,
        method: str | None = None,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Rule:
        """Answer ``status`` with ``headers``/``body`` instead of forwarding."""
        if body is None:
            body = _error_body("FAULT", f"injected {status}")
        return self.add(
            Rule("respond", path, method, times, status=status, headers=dict(headers or {}), body=body)
        )

    def throttle(
        self, path: str, *, times: int | None = 1, retry_after: str = "1", method: str | None = None
    ) -> Rule:
        """429 Too Many Requests with ``Retry-After`` (and Docker Hub style rate-limit headers)."""
        headers = {
            "Retry-After": retry_after,
            "RateLimit-Limit": "100;w=21600",
            "RateLimit-Remaining": "0;w=21600",
        }
        return self.respond(
            path,
            429,
            method=method,
            times=times,
            headers=headers,
            body=_error_body("TOOMANYREQUESTS", "rate limit exceeded"),
        )

    def unavailable(
        self, path: str, *, times: int | None = 1, method: str | None = None, retry_after: str | None = None
    ) -> Rule:
        """503 Service Unavailable ``times`` times, then pass through."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        return self.respond(
            path,
            503,
            method=method,
            times=times,
            headers=headers,
            body=_error_body("UNAVAILABLE", "service unavailable"),
        )

    def redirect(
        self,
        path: str,
        *,
        to: Literal["other", "downgrade"] | str = "other",
        status: int = 307,
        method: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Redirect to ``other_url`` / ``downgrade_url`` / an explicit base URL, keeping path and query."""
        base = {"other": self.other_url, "downgrade": self.downgrade_url}.get(to, to)
        return self.add(Rule("redirect", path, method, times, status=status, location=base))

    def hang(
        self, path: str, *, method: str | None = None, times: int | None = None, after_headers: bool = False
    ) -> Rule:
        """Read the request and never answer (``after_headers``: send the headers, never the body).

        The connection is held until ``rule.release.set()``, :meth:`clear` or :meth:`close`.
        """
        return self.add(Rule("hang", path, method, times, after_headers=after_headers))

    def unauthorized(self, path: str, *, method: str | None = None, times: int | None = None) -> Rule:
        """401 with ``WWW-Authenticate: Bearer realm="<proxy>/_fault/token",service="fault-proxy",scope=…"``.

        The realm answers every token request with a (useless) token, so a client that loops on 401 is
        visible as many ``/_fault/token`` requests in :attr:`requests`.
        """
        return self.add(Rule("unauthorized", path, method, times))

    # -- what was seen ---------------------------------------------------------------------------------
    def _record(self, req: SeenRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def seen(
        self, path: str | None = None, *, method: str | None = None, listener: Listener | None = None
    ) -> list[SeenRequest]:
        """Recorded requests, filtered by path regex (``re.search``), method and listener."""
        with self._lock:
            reqs = list(self.requests)
        return [
            r
            for r in reqs
            if (path is None or re.search(path, r.path))
            and (method is None or r.method == method.upper())
            and (listener is None or r.listener == listener)
        ]


@contextlib.contextmanager
def start_fault_proxy(
    upstream: RunningRegistry | str, *, tls: bool = False, workdir: Path | None = None
) -> Iterator[FaultProxy]:
    """Start a :class:`FaultProxy` in front of ``upstream`` (a registry or a base URL) on loopback.

    ``tls=True`` serves HTTPS with the test CA (``proxy.ca_file``; written to ``workdir`` or a
    temporary directory removed on exit), which is what makes ``redirect(to="downgrade")`` an
    https→http redirect.
    """
    if isinstance(upstream, RunningRegistry):
        upstream_url, upstream_ssl = upstream.url, (upstream.verify() if upstream.ca_file else None)
    else:
        upstream_url, upstream_ssl = upstream, None
    with contextlib.ExitStack() as stack:
        files: PKIFiles | None = None
        if tls:
            directory = workdir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="faultproxy-"))
            )
            files = write_pki(directory / "proxy-pki")
        proxy = FaultProxy(
            upstream_url,
            tls_files=files,
            upstream_ssl=upstream_ssl if isinstance(upstream_ssl, ssl.SSLContext) else None,
        )
        stack.callback(proxy.close)
        yield proxy
