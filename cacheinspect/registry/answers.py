"""What a registry's answer means for :class:`~cacheinspect.registry.client.RegistryClient`: which
statuses and exceptions are retried, redirects, per-host state, and turning a status, header, body or
exception into a decision or a one-line error with a hint (spec.md "Error Codes", REGISTRY-CLIENT.md).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from cacheinspect.errors import (
    RegistryError,
)
from cacheinspect.registry.auth import RegistryAuth

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


def _credential_hint(source: str, registry: str, status: int) -> str:
    """What to do about credentials the registry refused (401) or that lack the right (403)."""
    if status == 403:
        return "the account is known but may not read this repository: check its permissions or the name"
    if source.startswith("--username"):
        return "check the --username and the password given on stdin"
    return f"log in again (docker login {registry}) or pass others with --username and --password-stdin"


def _name_not_resolved(exc: BaseException) -> str | None:
    """The resolver's answer when *exc* comes from a name that does not exist (``socket.gaierror``
    EAI_NONAME / EAI_NODATA / EAI_FAIL), else None. httpx wraps the gaierror: its causes are walked."""
    import socket

    permanent = {
        getattr(socket, n)
        for n in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL", "EAI_ADDRFAMILY")
        if hasattr(socket, n)
    }
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 10:
        if isinstance(e, socket.gaierror):
            return e.strerror or str(e) if e.errno in permanent else None
        e = e.__cause__ or e.__context__
        seen += 1
    text = str(exc)
    for words in ("Name or service not known", "nodename nor servname provided", "No address associated"):
        if words in text:
            return words
    return None


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
