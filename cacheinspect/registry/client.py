"""The async registry client: verified manifest/blob fetches and blob-existence checks over httpx.

What it does and why (distribution-spec ``spec.md`` "Pull", REGISTRY-CLIENT.md):

* **Scheme.** HTTPS with verification by default, plus ``--ca-file`` and docker's
  ``/etc/docker/certs.d/HOST/*.crt``. ``--insecure`` skips verification, ``--plain-http`` speaks HTTP.
  Loopback registries (127.0.0.0/8, ::1, localhost) are probed like docker's implicit insecure-registry
  rule: HTTPS first, plain HTTP when the TLS handshake cannot happen. Unlike docker we do *not* skip
  certificate verification on loopback: a TLS registry with an unknown CA is an error with a hint.
* **Retries.** Connect errors, timeouts, 429 and 5xx (500/502/503/504) are retried with exponential
  back-off and jitter, honouring ``Retry-After`` (seconds or HTTP-date), at most ``retries`` times and
  never past ``retry_budget`` seconds in total (each attempt is cut off when the budget runs out, so a
  body trickling in under the read timeout stops too). A 429 that outlives them becomes
  :class:`RateLimitedError` quoting Docker Hub's ``ratelimit-limit`` / ``ratelimit-remaining``.
* **Redirects** (307 to object storage) are followed by hand: ``Authorization`` only ever goes to the
  registry host itself (our auth flow is only attached there; explicit headers are dropped on a host
  change) and an https→http hop is refused (go-containerregistry ``transport`` does the same). A request
  with a body (the OAuth2 refresh-token POST) is never redirected to another host, and only http(s)
  locations with a valid port are followed.
* **Bodies.** Streamed with a cap: a ``Content-Length`` over the cap is refused before reading, and the
  count is checked while streaming. A body shorter than announced is an :class:`IntegrityError`.
  Everything fetched by digest is verified with :func:`cacheinspect.digest.verify` (sha256, sha512);
  a tag fetch is hashed and ``Docker-Content-Digest`` is informative only (a proxy may rewrite it).
* **Concurrency.** One ``asyncio.Semaphore(concurrency)`` per registry host bounds requests in flight;
  connections are kept alive. Token fetches do not take a slot (requests holding slots wait for them).
* **Blob existence at the registry's speed.** ``blob_exists`` first sends its ``HEAD`` over a bare
  keep-alive HTTP/1.1 connection of its own (asyncio streams, one idle list per host: no pool scan,
  no request/response objects), with the ``Authorization`` header the auth flow would attach. Only a
  2xx or 404 answered directly is taken from it; anything else (401, a redirect, 403/405, 429, 5xx,
  a dropped or slow connection, an odd answer) is sent again through the full path above, with its
  auth flow, redirect rules, retries and budget. It is off for custom transports and when a proxy
  applies to the host. httpx spent 1.4-1.9 ms of client CPU per HEAD; this path ~0.1 ms.
* **Log.** ``-v`` shows every request (method, URL without its query, status, auth scheme, retries and
  back-off) on the ``cacheinspect.registry`` logger; a request still unanswered after
  ``SLOW_REQUEST`` seconds logs "still waiting for HOST (attempt 2/5, 10 s)" at warning level.
* **Errors.** 401/403 → :class:`AuthError`; 404 and ``NAME_UNKNOWN``/``MANIFEST_UNKNOWN``/
  ``BLOB_UNKNOWN`` → :class:`NotFoundError`; anything else → :class:`RegistryError` carrying the
  registry's own error message (spec.md "Error Codes").
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import hashlib
import ipaddress
import json
import logging
import random
import ssl
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx

from cacheinspect import digest as digestmod
from cacheinspect._version import __version__
from cacheinspect.errors import (
    AuthError,
    IntegrityError,
    NotFoundError,
    RateLimitedError,
    RegistryError,
    SizeLimitError,
    UsageError,
)
from cacheinspect.oci import ACCEPT_MANIFESTS, INDEX_TYPES, MANIFEST_TYPES, sniff_media_type
from cacheinspect.registry.auth import RegistryAuth, scopes_for_path
from cacheinspect.registry.credentials import Credential, CredentialStore
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import Reference
from cacheinspect.sources.base import Fetched, ProgressCallback

__all__ = ["RETRY_STATUSES", "RegistryClient", "is_loopback"]

log = logging.getLogger("cacheinspect.registry")

#: Seconds before an unanswered request logs "still waiting for HOST ...", and between repeats.
SLOW_REQUEST = 10.0
#: Header block cap for the fast HEAD path (a bigger answer goes through httpx).
_FAST_HEADER_CAP = 64 * 1024

#: Statuses worth another attempt (429 and the transient 5xx; 501/505 will not change).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 10.0
_ERROR_BODY_CAP = 64 * 1024
_RETRY_AFTER_CAP = 365 * 24 * 3600.0
_TOKEN_BODY_CAP = 1024 * 1024
_NOT_FOUND_CODES = frozenset({"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"})
_AUTH_CODES = frozenset({"UNAUTHORIZED", "DENIED"})
_RETRYABLE_EXC = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: A malformed answer (bad Content-Encoding, unusable URL, header value, port out of range): not retried.
_MALFORMED_EXC = (
    httpx.DecodingError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
    ValueError,
    OverflowError,
)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost, with or without a port (docker treats these as insecure-OK)."""
    name = urllib.parse.urlsplit(f"//{host}").hostname or host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


@dataclass(slots=True)
class _Host:
    """Per-registry state: where to dial, which scheme works, its slots and its auth."""

    registry: str
    dial: str
    semaphore: asyncio.Semaphore
    auth: RegistryAuth | None = None
    scheme: str | None = None
    scheme_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Idle keep-alive connections of the fast HEAD path (LIFO; None: the path is off for this host).
    fast: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = field(default_factory=list)
    #: The registry has answered a full-path request: its auth state is known (first contact, with its
    #: 401 and token fetch, always goes through the auth flow).
    warm: bool = False


def _redact(url: str) -> str:
    """A URL for the log: the query (presigned storage URLs carry signatures there) and any userinfo cut."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _auth_scheme(headers: Mapping[str, str] | httpx.Headers) -> str:
    """The scheme word of an Authorization header ("Bearer", "Basic") or "anonymous": never the secret."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    return value.split(" ", 1)[0] or "anonymous"


def _cert_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after(headers: httpx.Headers) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _RETRY_AFTER_CAP)  # "9" * 400 is inf: say a number, not "infs"
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _registry_message(body: bytes) -> tuple[str, set[str]]:
    """spec.md "Error Codes": ``{"errors":[{"code","message","detail"}]}`` -> ("CODE: message", codes)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge ints, deep nesting
        text = body[:200].decode(errors="replace").strip()
        return (text.splitlines()[0] if text else ""), set()
    codes: set[str] = set()
    parts: list[str] = []
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list):
        for e in errors[:3]:
            if isinstance(e, dict):
                code = str(e.get("code", ""))
                codes.add(code)
                msg = str(e.get("message", ""))
                parts.append(f"{code}: {msg}" if msg else code)
    return "; ".join(parts), codes


def _redirect_target(current: str, location: str, what: str) -> tuple[str, urllib.parse.SplitResult]:
    """Resolve a ``Location`` against *current*; only http(s) URLs with a host and a valid port qualify."""
    try:
        nxt = urllib.parse.urljoin(current, location)
        nparts = urllib.parse.urlsplit(nxt)
        port = nparts.port  # ValueError when out of range or not a number
    except ValueError:
        nxt, nparts, port = "", urllib.parse.urlsplit(""), None
    if nparts.scheme not in ("http", "https") or not nparts.hostname or port == 0:
        shown = location[:200].encode("ascii", "backslashreplace").decode()
        raise RegistryError(f"{what}: the registry redirected to an unusable location {shown!r}")
    if "@" in nparts.netloc:
        # ``user:pw@`` in a Location would become Basic credentials for the next host (httpx builds them
        # from the URL); browsers and Go's client drop the userinfo of a redirect target: so do we.
        nparts = nparts._replace(netloc=nparts.netloc.rsplit("@", 1)[1])
        nxt = urllib.parse.urlunsplit(nparts)
    return nxt, nparts


def _invalid_answer(exc: BaseException, method: str, url: str, what: str) -> RegistryError:
    """Map what httpx (or the URL/number parsers under it) raises on a malformed answer or request."""
    if isinstance(exc, httpx.DecodingError):
        detail = "its body does not decode as its Content-Encoding says"
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        detail = "it points at an invalid or unsupported URL"
    elif isinstance(exc, httpx.LocalProtocolError | UnicodeError):
        # Never quote these: h11 / the codec put the offending header value (a token) in the message.
        detail = "the request could not be built (invalid header value)"
    else:
        detail = f"malformed answer ({type(exc).__name__})"
    return RegistryError(f"{what}: {method} {url}: {detail}")


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


class RegistryClient:
    """One client for any number of registries; close it (``aclose`` / ``async with``)."""

    def __init__(
        self,
        options: RegistryOptions | None = None,
        *,
        credentials: CredentialStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options or RegistryOptions()
        if self.options.ca_file is not None and not self.options.ca_file.is_file():
            raise UsageError(f"--ca-file {self.options.ca_file} does not exist")
        self._credentials = credentials or CredentialStore(self.options)
        self._cred_cache: dict[tuple[str, str], Credential | None] = {}
        self._transport = transport
        self._hosts: dict[str, _Host] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        #: Verifying TLS contexts by what they trust: building one loads the CA bundle (~20 ms), and
        #: hosts without certs.d entries of their own all trust the same.
        self._ssl_contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self._closed = False

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.aclose()
        for host in self._hosts.values():
            idle, host.fast = host.fast or [], None
            for _, writer in idle:
                writer.close()

    # -- public operations ------------------------------------------------------------------------
    async def fetch_manifest(self, ref: Reference, reference: str | None = None) -> Fetched:
        """GET a manifest or index by tag or digest with the full Accept list; raw bytes kept."""
        reference = reference or ref.reference
        by_digest = ":" in reference
        if by_digest:
            digestmod.parse(reference)
        host = self._host(ref)
        what = f"manifest {reference if by_digest else ref.with_reference(reference)}"
        ans = await self._send(
            host,
            "GET",
            f"/v2/{ref.repository}/manifests/{reference}",
            headers={"Accept": ", ".join(ACCEPT_MANIFESTS)},
            max_bytes=self.options.max_bytes,
            want_body=True,
            what=what,
        )
        if ans.status != 200:
            self._raise_for(ans, ref, what)
        if by_digest:
            digestmod.verify(ans.body, reference, what="manifest")
            dig = reference
        else:
            dig = digestmod.compute(ans.body)
            claimed = ans.headers.get("docker-content-digest")
            if claimed and claimed.startswith("sha256:") and claimed != dig:
                log.debug("%s: Docker-Content-Digest %s differs from the body's %s", what, claimed, dig)
        media = ans.headers.get("content-type", "").split(";", 1)[0].strip()
        if media not in INDEX_TYPES and media not in MANIFEST_TYPES:
            media = sniff_media_type(ans.body) or media
        return Fetched(data=ans.body, media_type=media, digest=dig)

    async def fetch_blob(self, ref: Reference, digest: str, *, max_bytes: int | None = None) -> bytes:
        """GET a blob fully into memory (configs, cache configs), verified, refused over the cap."""
        digestmod.parse(digest)
        host = self._host(ref)
        what = f"blob {digestmod.short(digest)}"
        ans = await self._send(
            host,
            "GET",
            f"/v2/{ref.repository}/blobs/{digest}",
            max_bytes=self.options.max_bytes if max_bytes is None else max_bytes,
            want_body=True,
            what=what,
        )
        if ans.status != 200:
            self._raise_for(ans, ref, what)
        digestmod.verify(ans.body, digest, what="blob")
        return ans.body

    async def verify_blob(self, ref: Reference, digest: str, *, size: int | None = None) -> bool:
        """Stream the blob and hash it: does it hash to *digest*? Nothing is held in memory, so layers
        of any size are verified (``audit --verify-blobs``). *size* (the descriptor's) widens the
        retry budget by a second per MiB, so a large layer on a slow link is not cut off by the budget
        meant for small reads; each read still times out after ``--timeout``. A missing blob raises
        :class:`NotFoundError` like :meth:`fetch_blob`.
        """
        algo, _ = digestmod.parse(digest)
        host = self._host(ref)
        what = f"blob {digestmod.short(digest)}"
        sink = _Sink(algo)
        ans = await self._send(
            host,
            "GET",
            f"/v2/{ref.repository}/blobs/{digest}",
            want_body=True,
            what=what,
            sink=sink,
            budget=self.options.retry_budget + (size or 0) / (1 << 20),
        )
        if ans.status != 200:
            self._raise_for(ans, ref, what)
        return sink.digest() == digest

    async def blob_exists(self, ref: Reference, digest: str) -> bool:
        """HEAD the blob; on 403/405 (storage presigned for GET only) fall back to ``GET Range: bytes=0-0``."""
        digestmod.parse(digest)
        host = self._host(ref)
        path = f"/v2/{ref.repository}/blobs/{digest}"
        what = f"blob {digestmod.short(digest)}"
        if host.fast is not None and host.warm:
            status = await self._fast_head(host, ref, path)
            if status is not None:
                return status != 404
        ans = await self._send(host, "HEAD", path, what=what)
        if ans.status in (403, 405):
            ans = await self._send(host, "GET", path, headers={"Range": "bytes=0-0"}, what=what)
            if ans.status == 416:  # a zero-length blob has no byte 0, but it exists
                return True
        if 200 <= ans.status < 300:
            return True
        if ans.status == 404:
            return False
        self._raise_for(ans, ref, what)

    async def blobs_exist(
        self, ref: Reference, digests: Iterable[str], *, progress: ProgressCallback | None = None
    ) -> dict[str, bool]:
        """Check many blobs with ``concurrency`` workers; missing is ``False``, other failures raise."""
        todo = list(dict.fromkeys(digests))
        for d in todo:
            digestmod.parse(d)
        out: dict[str, bool] = {}
        pending = iter(todo)
        total = len(todo)

        async def worker() -> None:
            for d in pending:  # one shared iterator: each digest is taken by exactly one worker
                out[d] = await self.blob_exists(ref, d)
                if progress is not None:
                    progress(len(out), total)

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(self.options.concurrency, total)):
                    tg.create_task(worker())
        except BaseExceptionGroup as eg:
            first = eg.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        return {d: out[d] for d in todo}

    # -- writes: the hook cacheinspect.registry.push uses (nothing else writes; only with --push) -------
    async def request(
        self,
        ref: Reference,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        want_body: bool = False,
        what: str,
    ) -> tuple[int, httpx.Headers, bytes]:
        """One request to *ref*'s registry with this client's auth, TLS, retries and redirect rules.

        ``target`` is a ``/v2/...`` path or an absolute URL on the registry's own host (an upload
        ``Location``); anything else is refused so credentials never go elsewhere. Errors (>= 400) are
        raised as this client's error classes.
        """
        host = self._host(ref)
        scheme = await self._scheme(host)
        if target.startswith("/"):
            url = f"{scheme}://{host.dial}{target}"
        else:
            parts = urllib.parse.urlsplit(target)
            if parts.netloc != host.dial or parts.scheme != scheme:
                raise RegistryError(f"{what}: refusing to send to {parts.scheme}://{parts.netloc}")
            url = target
        ans = await self._with_retries(
            method,
            url,
            headers=dict(headers or {}),
            content=content,
            host=host,
            max_bytes=self.options.max_bytes,
            want_body=want_body,
            what=what,
        )
        if ans.status >= 400:
            self._raise_for(ans, ref, what)
        return ans.status, ans.headers, ans.body

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

    # -- hosts, clients, credentials ----------------------------------------------------------------
    def _host(self, ref: Reference) -> _Host:
        if self._closed:
            raise RuntimeError("RegistryClient is closed")
        host = self._hosts.get(ref.registry)
        if host is None:
            host = _Host(ref.registry, ref.dial_host, asyncio.Semaphore(self.options.concurrency))
            if self.options.plain_http:
                host.scheme = "http"
            elif not is_loopback(ref.dial_host):
                host.scheme = "https"
            registry = ref.registry

            async def credentials(repository: str) -> Credential | None:
                key = (registry, repository)
                if key not in self._cred_cache:
                    # Helpers are subprocesses: keep them off the event loop.
                    self._cred_cache[key] = await asyncio.to_thread(
                        self._credentials.get, registry, repository
                    )
                return self._cred_cache[key]

            host.auth = RegistryAuth(
                registry=ref.registry,
                credentials=credentials,
                send=self._send_token,
                allow_plain_http_realm=self.options.plain_http and is_loopback(ref.dial_host),
            )
            self._hosts[ref.registry] = host
        return host

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

    async def _scheme(self, host: _Host) -> str:
        """Loopback without --plain-http: HTTPS when a TLS handshake works there, else plain HTTP."""
        if host.scheme is not None:
            return host.scheme
        async with host.scheme_lock:
            if host.scheme is None and not await self._speaks_tls(host):
                log.debug("%s does not speak TLS; using plain HTTP", host.dial)
                host.scheme = "http"
                if host.auth is not None:
                    host.auth.allow_plain_http_realm = True
            if host.scheme is None:
                client = self._client("https", host.dial)
                try:
                    r = await client.get(f"https://{host.dial}/v2/")
                    await r.aclose()
                    host.scheme = "https"
                except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                    if _cert_error(e):
                        raise RegistryError(
                            f"TLS certificate of {host.dial} is not trusted: {_describe(e, 0)}",
                            hint="pass --ca-file CA.pem, put it in /etc/docker/certs.d/HOST/ca.crt, "
                            "or use --insecure",
                        ) from None
                    log.debug("%s does not speak TLS (%s); using plain HTTP", host.dial, type(e).__name__)
                    host.scheme = "http"
                    if host.auth is not None:
                        # Nothing on the wire is protected anyway: a plain realm adds no exposure.
                        host.auth.allow_plain_http_realm = True
                except httpx.TransportError:
                    # The handshake worked (connect errors are caught above) but the answer did not come:
                    # it speaks TLS; the real request's retries and timeouts deal with the rest.
                    host.scheme = "https"
        return host.scheme

    async def _speaks_tls(self, host: _Host) -> bool:
        """Does a TLS handshake (unverified) succeed at *host*? A cheap first look for the scheme probe:
        a plain registry is told apart without building a verifying context and an HTTPS client; a
        TLS one then goes through the full probe, which verifies and names an untrusted certificate.
        Where this cannot look (an injected transport, an odd port), it says True: the full probe decides.
        """
        if self._transport is not None:
            return True
        parts = urllib.parse.urlsplit(f"//{host.dial}")
        try:
            port = parts.port or 443
        except ValueError:
            return True
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.options.timeout):
                _, writer = await asyncio.open_connection(
                    parts.hostname or host.dial, port, ssl=_unverified()
                )
        except (OSError, EOFError, TimeoutError):  # ssl.SSLError is an OSError: not TLS there
            return False
        finally:
            if writer is not None:
                writer.close()
        return True

    # -- sending ------------------------------------------------------------------------------------
    async def _send(
        self,
        host: _Host,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = 0,
        want_body: bool = False,
        what: str,
        sink: _Sink | None = None,
        budget: float | None = None,
    ) -> _Answer:
        scheme = await self._scheme(host)
        url = f"{scheme}://{host.dial}{path}"
        return await self._with_retries(
            method,
            url,
            headers=dict(headers or {}),
            content=None,
            host=host,
            max_bytes=max_bytes,
            want_body=want_body,
            what=what,
            sink=sink,
            budget=budget,
        )

    async def _send_token(self, request: httpx.Request) -> httpx.Response:
        """For :class:`RegistryAuth`: retries and TLS settings, no auth flow, no host slot."""
        content = request.read()
        ans = await self._with_retries(
            request.method,
            str(request.url),
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
            content=content or None,
            host=None,
            max_bytes=_TOKEN_BODY_CAP,
            want_body=True,
            what="token request",
            redirect_check=request.extensions.get("cacheinspect.redirect_check"),
        )
        return httpx.Response(ans.status, headers=ans.headers, content=ans.body, request=request)

    async def _with_retries(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: bytes | None,
        host: _Host | None,
        max_bytes: int,
        want_body: bool,
        what: str,
        sink: _Sink | None = None,
        budget: float | None = None,
        redirect_check: Callable[[str], None] | None = None,
    ) -> _Answer:
        o = self.options
        total = o.retry_budget if budget is None else budget
        # The budget starts when the first attempt gets its slot (waiting for one is not this request's
        # time) and bounds every attempt too, so a body trickling in under the read timeout still stops.
        deadline: float | None = None
        attempt = 0
        while True:
            attempt += 1
            failure: BaseException | None = None
            ans: _Answer | None = None
            try:
                async with host.semaphore if host is not None else contextlib.nullcontext():
                    if deadline is None:
                        deadline = time.monotonic() + total
                    limit = asyncio.timeout(max(0.0, deadline - time.monotonic()))
                    stop_watch = _still_waiting(url, attempt, o.retries + 1)
                    try:
                        async with limit:
                            ans = await self._attempt(
                                method,
                                url,
                                headers,
                                content,
                                host,
                                max_bytes,
                                want_body,
                                what,
                                sink,
                                redirect_check,
                            )
                    except TimeoutError:
                        if not limit.expired():
                            raise
                        raise RegistryError(
                            f"{method} {url}: no complete answer within the {total:g}s retry budget "
                            f"(attempt {attempt})",
                            hint="check that the registry is reachable (--timeout sets the per-request limit)",
                        ) from None
                    finally:
                        stop_watch()
            except (*_RETRYABLE_EXC, _CutShort) as e:
                failure = e
            except _MALFORMED_EXC as e:
                raise _invalid_answer(e, method, url, what) from None
            if ans is not None and ans.status not in RETRY_STATUSES:
                return ans
            delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            asked = _retry_after(ans.headers) if ans is not None else None
            if asked is not None:
                delay = asked
            assert deadline is not None
            remaining = deadline - time.monotonic()
            if attempt > o.retries or delay > remaining:
                if ans is not None:
                    return self._give_up(ans, what, attempt, asked, remaining)
                assert failure is not None
                if isinstance(failure, _CutShort):  # a streamed body kept breaking off: say so as such
                    raise IntegrityError(
                        f"{failure.message} (after {attempt} attempt{'s' if attempt > 1 else ''})"
                    ) from None
                raise RegistryError(
                    f"{method} {url}: {_describe(failure, o.timeout)} (after {attempt} attempt"
                    f"{'s' if attempt > 1 else ''})",
                    hint="check that the registry is reachable (--timeout sets the per-request limit)",
                ) from None
            log.debug(
                "%s %s: attempt %d failed (%s); retrying in %.2fs",
                method,
                _redact(url),
                attempt,
                ans.status if ans is not None else type(failure).__name__,
                delay,
            )
            await asyncio.sleep(delay)

    def _give_up(
        self, ans: _Answer, what: str, attempts: int, asked: float | None, remaining: float
    ) -> _Answer:
        """The last retryable answer: 429 -> RateLimitedError; a 5xx goes to the caller's mapping."""
        if ans.status != 429:
            return ans
        limits = [
            f"{h}: {ans.headers[h]}" for h in ("ratelimit-limit", "ratelimit-remaining") if h in ans.headers
        ]
        detail = f" ({', '.join(limits)})" if limits else ""
        wait = ""
        if asked is not None and asked > remaining:
            wait = f"; it asked to wait {asked:.0f}s, past the retry budget"
        raise RateLimitedError(
            f"{what}: {urllib.parse.urlsplit(ans.url).netloc} is rate-limiting us (HTTP 429) after "
            f"{attempts} attempt{'s' if attempts > 1 else ''}{detail}{wait}",
            hint="wait and retry; on Docker Hub, logging in raises the pull limit",
        )

    async def _attempt(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        host: _Host | None,
        max_bytes: int,
        want_body: bool,
        what: str,
        sink: _Sink | None = None,
        redirect_check: Callable[[str], None] | None = None,
    ) -> _Answer:
        """One request, following redirects by hand; reads the body when asked (capped), or streams a
        2xx body into *sink* (reset first, so a retried attempt starts over)."""
        current = url
        registry_netloc = f"{urllib.parse.urlsplit(url).scheme}://{host.dial}" if host is not None else None
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(current)
            origin = f"{parts.scheme}://{parts.netloc}"
            client = self._client(parts.scheme, parts.netloc)
            # Only the registry's own origin gets our auth flow: credentials never follow a redirect away.
            auth = host.auth if host is not None and origin == registry_netloc else None
            request = client.build_request(method, current, headers=headers, content=content)
            response = await client.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True)
            if auth is not None and host is not None:
                host.warm = True
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    nxt, nparts = _redirect_target(current, location, what)
                    if redirect_check is not None:  # a token request: the realm rule holds for the target
                        redirect_check(nxt)
                    if parts.scheme == "https" and nparts.scheme != "https":
                        raise RegistryError(
                            f"{what}: refusing redirect from {origin} to {nparts.scheme}://{nparts.netloc}: "
                            "https must not be downgraded"
                        )
                    if nparts.netloc != parts.netloc:
                        if content is not None:
                            # Only token requests carry a body, and theirs holds a refresh token (oauth.md
                            # POST): it must never be replayed to a host the user did not choose.
                            raise AuthError(
                                "token service redirected a credential-bearing request to another host",
                                hint=f"{origin} redirected the token request to {nparts.scheme}://{nparts.netloc}",
                            )
                        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    if response.status_code == 303:
                        method, content = "GET", None
                    log.debug(
                        "%s %s -> %s, redirected to %s",
                        method,
                        _redact(current),
                        response.status_code,
                        _redact(nxt),
                    )
                    current = nxt
                    continue
                if response.status_code >= 400:
                    body = await _read_capped(response, _ERROR_BODY_CAP, what, truncate=True)
                elif sink is not None:
                    await _stream_into(response, sink, what)
                    body = b""
                elif want_body:
                    body = await _read_capped(response, max_bytes, what)
                else:
                    # Drain what little there is (nothing for HEAD, one byte for a ranged GET): closing an
                    # unread response makes httpcore drop the connection instead of keeping it alive.
                    await _read_capped(response, _ERROR_BODY_CAP, what, truncate=True)
                    body = b""
                return _Answer(response.status_code, response.headers, body, current)
            finally:
                await response.aclose()
        raise RegistryError(f"{what}: more than {_MAX_REDIRECTS} redirects from {url}")

    # -- errors -------------------------------------------------------------------------------------
    def _raise_for(self, ans: _Answer, ref: Reference, what: str) -> NoReturn:
        message, codes = _registry_message(ans.body)
        host = urllib.parse.urlsplit(ans.url).netloc
        said = f": {message}" if message else ""
        if ans.status == 404 or codes & _NOT_FOUND_CODES:
            raise NotFoundError(f"{what} not found in {ref.name} (HTTP {ans.status}{said})")
        if ans.status in (401, 403) or codes & _AUTH_CODES:
            hint = None
            if ans.status == 401:
                hint = "log in with docker login, or pass --username with --password-stdin"
            raise AuthError(
                f"{what}: {host} refused access to {ref.repository} (HTTP {ans.status}{said})", hint=hint
            )
        if ans.status == 429:
            raise RateLimitedError(f"{what}: {host} is rate-limiting us (HTTP 429{said})")
        raise RegistryError(f"{what}: {host} answered HTTP {ans.status}{said}")


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


def _still_waiting(url: str, attempt: int, attempts: int) -> Callable[[], None]:
    """Log "still waiting for HOST (attempt 2/5, 10 s)" every SLOW_REQUEST seconds until stopped."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    host = urllib.parse.urlsplit(url).netloc
    handle: asyncio.TimerHandle | None = None

    def fire() -> None:
        nonlocal handle
        log.warning(
            "still waiting for %s (attempt %d/%d, %.0f s)", host, attempt, attempts, loop.time() - started
        )
        handle = loop.call_later(SLOW_REQUEST, fire)

    handle = loop.call_later(SLOW_REQUEST, fire)

    def stop() -> None:
        if handle is not None:
            handle.cancel()

    return stop


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


class _CutShort(IntegrityError):
    """A streamed body broke off: retried like a network error (the sink starts over); when the retries
    run out it surfaces as the :class:`IntegrityError` it is."""


class _Sink:
    """Hash a streamed body (``verify_blob``); ``reset`` starts over for a retried attempt."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.size = 0
        self._h = hashlib.new(algorithm)

    def reset(self) -> None:
        self.size = 0
        self._h = hashlib.new(self.algorithm)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._h.update(chunk)

    def digest(self) -> str:
        return f"{self.algorithm}:{self._h.hexdigest()}"


#: Decoded output is produced in pieces of at most this many bytes, so the cap stops a compression bomb
#: after one piece past it (httpx's decoders inflate a whole network chunk at once: one 1 MiB chunk of a
#: ``gzip, gzip`` body is a gigabyte).
_DECODE_PIECE = 1 << 16
_INFLATE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Inflater:
    """One gzip/deflate layer of a Content-Encoding, inflating in bounded pieces."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.wbits = _INFLATE[coding]
        self.d = zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self.d.decompress(data, _DECODE_PIECE)
            except zlib.error as e:
                if self.coding == "deflate" and not self.started and self.wbits > 0:
                    # "deflate" is raw DEFLATE on some servers (httpx and browsers accept both)
                    self.wbits = -zlib.MAX_WBITS
                    self.d = zlib.decompressobj(self.wbits)
                    continue
                raise httpx.DecodingError(str(e)) from None
            self.started = True
            data = self.d.unconsumed_tail
            if out:
                yield out
            if self.d.eof:
                rest = self.d.unused_data
                if self.wbits > 16 and rest[:2] == b"\x1f\x8b":  # a further gzip member
                    self.d = zlib.decompressobj(self.wbits)
                    data = rest
                    continue
                return  # anything after the stream is ignored, as httpx does
            if not data and len(out) < _DECODE_PIECE:
                return

    def flush(self) -> Iterator[bytes]:
        if not self.started:
            return
        while True:
            out = self.d.decompress(b"", _DECODE_PIECE) if not self.d.eof else b""
            if not out:
                return
            yield out


def _through(stages: list[_Inflater], data: bytes) -> Iterator[bytes]:
    """*data* through every layer in turn, never holding more than one piece per layer."""
    if not stages:
        yield data
        return
    for piece in stages[0].feed(data):
        yield from _through(stages[1:], piece)


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body decoded as its Content-Encoding says, gzip/deflate layers inflated piece by piece so
    that a byte cap on the output stops a bomb before it is in memory; other codings (br, zstd) go
    through httpx's decoders."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    try:
        response.content  # noqa: B018 - read already (an auth flow reads its 401): decoded in memory
        already = True
    except httpx.ResponseNotRead:
        already = False
    if already or (codings and not all(c in _INFLATE for c in codings)):
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    stages = [_Inflater(c) for c in reversed(codings)]  # the last coding applied is undone first
    async for raw in response.aiter_raw():
        for piece in _through(stages, raw):
            yield piece
    for i, st in enumerate(stages):
        for piece in st.flush():
            for out in _through(stages[i + 1 :], piece):
                yield out


async def _stream_into(response: httpx.Response, sink: _Sink, what: str) -> None:
    """Feed the body into *sink*, decoded like :func:`_read_capped` (a Content-Encoding a CDN added is
    not part of the blob); a body cut short raises :class:`_CutShort`, never hashed as if complete."""
    declared = response.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else None
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    sink.reset()
    try:
        async for chunk in _decoded(response):
            sink.update(chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError) as e:
        raise _CutShort(f"{what} was cut short after {sink.size} bytes: {_describe(e, 0)}") from None
    if not encoded and expected is not None and sink.size < expected:
        raise _CutShort(f"{what} was cut short: got {sink.size} of {expected} bytes")


async def _read_capped(response: httpx.Response, cap: int, what: str, *, truncate: bool = False) -> bytes:
    """Read at most *cap* bytes; over it is a :class:`SizeLimitError` (or cut short when ``truncate``)."""
    declared = response.headers.get("content-length")
    expected: int | None = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > cap and not truncate:
        raise SizeLimitError(
            f"{what} is {expected} bytes, over the {cap}-byte cap",
            hint="raise --max-bytes if this content is legitimately that large",
        )
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    chunks: list[bytes] = []
    got = 0
    try:
        # Decoded bytes: the cap counts what we hold in memory, so a gzip bomb stops at the cap too
        # (decoded in bounded pieces: one piece past the cap at most, see _decoded).
        async for chunk in _decoded(response):
            got += len(chunk)
            if got > cap:
                if truncate:
                    chunks.append(chunk[: cap - (got - len(chunk))])
                    break
                raise SizeLimitError(f"{what} is over the {cap}-byte cap (stopped reading at {got} bytes)")
            chunks.append(chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError) as e:
        if truncate:
            return b"".join(chunks)
        raise IntegrityError(f"{what} was cut short after {got} bytes: {_describe(e, 0)}") from None
    if not truncate and not encoded and expected is not None and got < expected:
        raise IntegrityError(f"{what} was cut short: got {got} of {expected} bytes")
    return b"".join(chunks)
