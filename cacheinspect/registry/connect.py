"""Connections of :class:`~cacheinspect.registry.client.RegistryClient`: the fast HEAD path (a bare
keep-alive HTTP/1.1 connection per host, see the client's module docstring), TLS contexts (``--ca-file``,
``certs.d``, ``--insecure``) and the httpx client each scheme and host gets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from cacheinspect import _log
from cacheinspect._version import __version__
from cacheinspect.errors import (
    UsageError,
)
from cacheinspect.registry.answers import (
    _auth_scheme,
    _Host,
    _redact,
    is_loopback,
)
from cacheinspect.registry.auth import scopes_for_path
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import Reference

log = _log.get("cacheinspect.registry")


#: Header block cap for the fast HEAD path (a bigger answer goes through httpx).
_FAST_HEADER_CAP = 64 * 1024


async def _log_response(response: httpx.Response) -> None:
    """``-v``: method, URL (query cut), status and the auth scheme the request carried."""
    if log.isEnabledFor(logging.DEBUG):
        req = response.request
        log.debug(
            "%s %s -> %s (auth: %s)",
            req.method,
            _redact(str(req.url)),
            response.status_code,
            _auth_scheme(req.headers),
        )


@functools.cache
def _trusts_nothing() -> ssl.SSLContext:
    """A verifying TLS context with no CA: any handshake with it fails (for clients that never use TLS)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def _unverified() -> ssl.SSLContext:
    """One context that checks nothing, for the scheme probe's first look and ``--insecure`` fast HEADs
    (building one per connection loaded the CA bundle each time, for nothing)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _parse_head(head: bytes) -> tuple[int, bool]:
    """(status, keep the connection) from an HTTP/1.x header block; status 0 when it does not parse."""
    if not head.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) or len(head) < 12 or not head[9:12].isdigit():
        return 0, False
    status = int(head[9:12])
    # A HEAD answer has no body whatever its headers say (RFC 9110 §9.3.2): the connection is reusable
    # unless the server closes it. Only the answers this path consumes keep it, to stay conservative.
    reuse = (
        head.startswith(b"HTTP/1.1")
        and b"\nconnection: close" not in head.lower()
        and (status == 404 or 200 <= status < 300)
    )
    return status, reuse


def _proxied(netloc: str) -> bool:
    """Would httpx (trust_env) send requests to *netloc* through a proxy from the environment?"""
    import urllib.request

    proxies = urllib.request.getproxies()
    if not proxies:
        return False
    host = urllib.parse.urlsplit(f"//{netloc}").hostname or netloc
    return not urllib.request.proxy_bypass(host)


def _load_ca(ctx: ssl.SSLContext, path: Path, what: str) -> None:
    try:
        ctx.load_verify_locations(cafile=str(path))
    except ssl.SSLError:
        raise UsageError(
            f"{what} {path} holds no usable PEM certificate", hint="pass a PEM-encoded CA certificate"
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or type(e).__name__}") from None


class _Connections:
    """The connections of :class:`~cacheinspect.registry.client.RegistryClient`: the fast HEAD path over
    bare keep-alive connections, the TLS contexts and the httpx client per scheme and host."""

    options: RegistryOptions
    _transport: httpx.AsyncBaseTransport | None
    _clients: dict[str, httpx.AsyncClient]
    _ssl_contexts: dict[tuple[str, ...], ssl.SSLContext]

    if TYPE_CHECKING:

        async def _scheme(self, host: _Host) -> str: ...

    async def _fast_head(self, host: _Host, ref: Reference, path: str) -> int | None:
        """HEAD over a bare keep-alive connection: 2xx or 404 as answered, else None (use the full path).

        Holds a host slot like every request. The Authorization header is the one the auth flow would
        attach up front (:meth:`RegistryAuth.async_auth_flow` step 1); without a known challenge the
        request goes anonymous, and a 401 sends it through the full flow, which learns the challenge.
        """
        scheme = await self._scheme(host)
        auth = host.auth
        headers = f"HEAD {path} HTTP/1.1\r\nHost: {host.dial}\r\nUser-Agent: cacheinspect/{__version__}\r\n"
        if auth is not None and auth._challenge is not None:
            scopes = frozenset(scopes_for_path(path))
            if scopes or auth._challenge.scheme == "basic":
                repository = next(iter(scopes)).split(":")[1] if scopes else ""
                value = await auth._header(auth._challenge, scopes, repository, stale=None)
                if value is not None:
                    if "\r" in value or "\n" in value:
                        return None
                    headers += f"Authorization: {value}\r\n"
        request = (headers + "\r\n").encode("latin-1", "replace")
        async with host.semaphore:
            idle = host.fast
            if idle is None:
                return None
            conn = idle.pop() if idle else None
            try:
                async with asyncio.timeout(self.options.timeout):
                    if conn is None:
                        conn = await self._fast_connect(host, scheme)
                        if conn is None:
                            return None
                    reader, writer = conn
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
            except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                if conn is not None:
                    conn[1].close()
                return None
            except BaseException:  # cancelled (a sibling check failed, the run ends): never leak the socket
                if conn is not None:
                    conn[1].close()
                raise
            status, reuse = _parse_head(head)
            if reuse and host.fast is not None:
                host.fast.append(conn)
            else:
                writer.close()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "HEAD %s://%s%s -> %s (auth: %s, keep-alive)",
                scheme,
                host.dial,
                path,
                status or "?",
                _auth_scheme({"authorization": headers.partition("Authorization: ")[2]}),
            )
        if status == 404 or 200 <= status < 300:
            return status
        return None

    async def _fast_connect(
        self, host: _Host, scheme: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A new connection for the fast path, or None (and the path off) where it cannot go."""
        if self._transport is not None or (not is_loopback(host.dial) and _proxied(host.dial)):
            host.fast = None
            return None
        parts = urllib.parse.urlsplit(f"//{host.dial}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            host.fast = None
            return None
        name = parts.hostname or host.dial
        if scheme == "https":
            ctx = self._ssl(host.dial)
            if ctx is False:  # --insecure
                ctx = _unverified()
            assert isinstance(ctx, ssl.SSLContext)
            return await asyncio.open_connection(name, port, ssl=ctx, limit=_FAST_HEADER_CAP)
        return await asyncio.open_connection(name, port, limit=_FAST_HEADER_CAP)

    def _ssl(self, netloc: str) -> ssl.SSLContext | bool:
        if self.options.insecure:
            return False
        certs = self.options.certs_dir / netloc
        try:
            extra = sorted(certs.glob("*.crt")) if certs.is_dir() else []
        except OSError:
            extra = []
        key = (str(self.options.ca_file or ""), *map(str, extra))
        ctx = self._ssl_contexts.get(key)
        if ctx is None:
            ctx = httpx.create_ssl_context()
            if self.options.ca_file is not None:
                _load_ca(ctx, self.options.ca_file, "--ca-file")
            for crt in extra:  # docker: every *.crt in certs.d/HOST is a CA to trust for HOST
                _load_ca(ctx, crt, "CA certificate")
            self._ssl_contexts[key] = ctx
        return ctx

    def _client(self, scheme: str, netloc: str) -> httpx.AsyncClient:
        key = f"{scheme}://{netloc}"
        client = self._clients.get(key)
        if client is None:
            o = self.options
            # One connection per slot plus one: a token fetch from a same-origin realm shares this pool
            # while the requests waiting for it hold their slots (the auth flow reads and releases its
            # 401 first, the spare keeps that from being the only guarantee). The semaphore, not the
            # pool, bounds requests in flight; every idle connection costs httpcore a readability poll.
            limits = httpx.Limits(max_connections=o.concurrency + 1, max_keepalive_connections=o.concurrency)
            client = httpx.AsyncClient(
                # A plain-HTTP client never handshakes: give it a context that trusts nothing (fails
                # closed) instead of httpx's default, which loads the CA bundle for nothing (~20 ms).
                verify=self._ssl(netloc) if scheme == "https" else _trusts_nothing(),
                timeout=httpx.Timeout(o.timeout),
                limits=limits,
                # No proxy from the environment for loopback: a corporate HTTPS_PROXY would swallow it.
                trust_env=not is_loopback(netloc),
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": f"cacheinspect/{__version__}"},
                # Every answer as it arrives, the auth flow's own 401 included (before its token fetch).
                event_hooks={"response": [_log_response]},
            )
            self._clients[key] = client
        return client
