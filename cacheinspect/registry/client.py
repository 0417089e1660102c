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

Laid out by seam: this module holds the client, its requests and retries; :mod:`.connect` the fast HEAD
path, TLS contexts and httpx clients (a mixin of :class:`RegistryClient`); :mod:`.answers` what a status,
header or exception means (retry, redirect, error); :mod:`.bodies` capped, hashed, decoded bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import NoReturn

import httpx

from cacheinspect import _log
from cacheinspect import digest as digestmod
from cacheinspect.errors import (
    AuthError,
    IntegrityError,
    NotFoundError,
    RateLimitedError,
    RegistryError,
    UsageError,
)
from cacheinspect.oci import ACCEPT_MANIFESTS, INDEX_TYPES, MANIFEST_TYPES, sniff_media_type
from cacheinspect.registry.answers import (
    _AUTH_CODES,
    _BACKOFF_BASE,
    _BACKOFF_CAP,
    _ERROR_BODY_CAP,
    _MALFORMED_EXC,
    _MAX_REDIRECTS,
    _NOT_FOUND_CODES,
    _REDIRECTS,
    _RETRYABLE_EXC,
    _TOKEN_BODY_CAP,
    RETRY_STATUSES,
    _Answer,
    _cert_error,
    _credential_hint,
    _describe,
    _Host,
    _invalid_answer,
    _name_not_resolved,
    _redact,
    _redirect_target,
    _registry_message,
    _retry_after,
    is_loopback,
)
from cacheinspect.registry.auth import RegistryAuth
from cacheinspect.registry.bodies import (
    _CutShort,
    _read_capped,
    _Sink,
    _stream_into,
)
from cacheinspect.registry.connect import (
    _Connections,
    _unverified,
)
from cacheinspect.registry.credentials import Credential, CredentialStore
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import Reference
from cacheinspect.sources.base import Fetched, ProgressCallback

__all__ = ["RETRY_STATUSES", "RegistryClient", "is_loopback"]

log = _log.get("cacheinspect.registry")

#: Seconds before an unanswered request logs "still waiting for HOST ...", and between repeats.
SLOW_REQUEST = 10.0


class RegistryClient(_Connections):
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
        check: bool = True,
    ) -> tuple[int, httpx.Headers, bytes]:
        """One request to *ref*'s registry with this client's auth, TLS, retries and redirect rules.

        ``target`` is a ``/v2/...`` path or an absolute URL on the registry's own host (an upload
        ``Location``); anything else is refused so credentials never go elsewhere. Errors (>= 400) are
        raised as this client's error classes, unless ``check=False``: then the answer is returned as
        it came (an error body capped at 64 KiB), for callers that report the registry's own words
        (``registry probe``).
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
        if ans.status >= 400 and check:
            self._raise_for(ans, ref, what)
        return ans.status, ans.headers, ans.body

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
                    self._cred_cache[key] = found = await asyncio.to_thread(
                        self._credentials.get, registry, repository
                    )
                    log.debug(
                        "credentials for %s: %s",
                        registry,
                        found.source if found is not None else "none (anonymous)",
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

    async def _scheme(self, host: _Host) -> str:
        """Loopback without --plain-http: HTTPS when a TLS handshake works there, else plain HTTP.

        The probe is a request like any other to the user: "still waiting for HOST" covers it, and it
        is spent from the retry budget (:meth:`_send` passes what it took on), so a registry that
        accepts and never answers ends the run within the budget the message names."""
        if host.scheme is not None:
            return host.scheme
        stop_watch = _still_waiting(f"https://{host.dial}/v2/", 1, self.options.retries + 1, "TLS probe")
        budget = self.options.retry_budget
        try:
            async with asyncio.timeout(budget):
                return await self._probe_scheme(host)
        except TimeoutError:
            raise RegistryError(
                f"GET https://{host.dial}/v2/: no answer within the {budget:g}s retry budget "
                "(finding out whether it speaks TLS)",
                hint="check that the registry is reachable (--timeout sets the per-request limit)",
            ) from None
        finally:
            stop_watch()

    async def _probe_scheme(self, host: _Host) -> str:
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
        started = time.monotonic()
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
            spent=time.monotonic() - started,
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
        spent: float = 0.0,
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
                    if deadline is None:  # the scheme probe, when there was one, took *spent* of it
                        deadline = time.monotonic() + max(0.0, total - spent)
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
                unresolved = _name_not_resolved(e)
                if unresolved is not None:
                    # A name that does not resolve will not resolve in a second either (EAI_AGAIN, a
                    # resolver that timed out, is not among these and is retried like any network error).
                    name = urllib.parse.urlsplit(url).hostname or url
                    raise RegistryError(
                        f"{method} {_redact(url)}: cannot resolve {name}: {unresolved} (not retried)",
                        hint="check the registry name for a typo, and DNS; a local path must exist "
                        "(./DIR for a directory here)",
                    ) from None
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
            # Wrong credentials and none at all need different fixes: say which, and where they came from.
            cred = self._cred_cache.get((ref.registry, ref.repository))
            if cred is None:
                hint = (
                    f"log in with docker login {ref.registry}, or pass --username with --password-stdin"
                    if ans.status == 401
                    else None
                )
                raise AuthError(
                    f"{what}: {host} refused anonymous access to {ref.repository} (HTTP {ans.status}{said}; "
                    "no credentials found for it)",
                    hint=hint,
                )
            refused = "refused" if ans.status == 401 else "denied access to " + ref.repository + " for"
            raise AuthError(
                f"{what}: {host} {refused} the credentials from {cred.source} (HTTP {ans.status}{said})",
                hint=_credential_hint(cred.source, ref.registry, ans.status),
            )
        if ans.status == 429:
            raise RateLimitedError(f"{what}: {host} is rate-limiting us (HTTP 429{said})")
        raise RegistryError(f"{what}: {host} answered HTTP {ans.status}{said}")


def _still_waiting(url: str, attempt: int, attempts: int, what: str = "") -> Callable[[], None]:
    """Log "still waiting for HOST (attempt 2/5, 10 s)" every SLOW_REQUEST seconds until stopped
    (``(TLS probe, 10 s)`` for the scheme probe)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    host = urllib.parse.urlsplit(url).netloc
    handle: asyncio.TimerHandle | None = None

    def fire() -> None:
        nonlocal handle
        if what:
            log.warning("still waiting for %s (%s, %.0f s)", host, what, loop.time() - started)
        else:
            log.warning(
                "still waiting for %s (attempt %d/%d, %.0f s)", host, attempt, attempts, loop.time() - started
            )
        handle = loop.call_later(SLOW_REQUEST, fire)

    handle = loop.call_later(SLOW_REQUEST, fire)

    def stop() -> None:
        if handle is not None:
            handle.cancel()

    return stop
