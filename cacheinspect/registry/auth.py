"""Registry authentication as an ``httpx.Auth`` flow: Basic and Bearer token auth, like docker does it.

References: RFC 7235 §4.1 (``WWW-Authenticate`` grammar), distribution ``docs/spec/auth/token.md`` (token
GET), ``docs/spec/auth/oauth.md`` (identity tokens via OAuth2 POST), docker's
``registry/client/auth/session.go`` and containerd's ``remotes/docker/auth`` (GET fallback on 404).

The flow, per request:

1. If this registry already told us how it authenticates (an earlier 401), attach the matching header up
   front: Basic credentials, or a cached Bearer token for (realm, service, scopes) that is not about to
   expire, fetching one first when needed. That saves a 401 round trip per request.
2. Send. On 401, parse the challenges, pick Bearer over Basic, obtain a *fresh* header and resend exactly
   once. A second 401 is returned to the caller (who raises :class:`~cacheinspect.errors.AuthError`):
   never a loop, whatever the server says.

Token fetches go through a ``send`` callable supplied by the client (retries, timeouts, TLS settings, no
auth flow, no per-host slot so they cannot deadlock the requests waiting for them). Concurrent requests
needing the same token share one fetch.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from cacheinspect import _log
from cacheinspect.errors import AuthError, RegistryError
from cacheinspect.registry.credentials import Credential, is_bearer_token

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "OAUTH_CLIENT_ID",
    "Challenge",
    "RegistryAuth",
    "parse_www_authenticate",
    "scopes_for_path",
]

log = _log.get("cacheinspect.registry")

#: token.md: "expires_in ... If omitted, a default of 60 seconds should be assumed".
DEFAULT_TOKEN_LIFETIME = 60.0
#: Longer lifetimes are capped (and ``1e400`` or ``Infinity`` stop being numbers we cannot add to).
MAX_TOKEN_LIFETIME = 24 * 3600.0
#: oauth.md requires a client_id on refresh-token grants.
OAUTH_CLIENT_ID = "cacheinspect"

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
# /v2/<name>/(manifests|blobs|tags|referrers)/<ref>: greedy so a repository component named "blobs" works.
_PATH_RE = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags|referrers)/[^/]*$")


# -- WWW-Authenticate ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: lowercased scheme, lowercased parameter names, values unquoted."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """token.md: several scopes in one challenge are space-separated."""
        return tuple(s for s in self.params.get("scope", "").split(" ") if s)


def _skip_ws(h: str, i: int) -> int:
    while i < len(h) and h[i] in " \t":
        i += 1
    return i


def _read_token(h: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(h) and h[j] in _TCHAR:
        j += 1
    return h[i:j], j


def _read_quoted(h: str, i: int) -> tuple[str, int]:
    """``h[i] == '"'``; RFC 7230 quoted-string with backslash escapes. Unterminated: up to the end."""
    out: list[str] = []
    j = i + 1
    while j < len(h):
        c = h[j]
        if c == "\\" and j + 1 < len(h):
            out.append(h[j + 1])
            j += 2
        elif c == '"':
            return "".join(out), j + 1
        else:
            out.append(c)
            j += 1
    return "".join(out), j


def _read_bare_value(h: str, i: int) -> tuple[str, int]:
    """An unquoted value. RFC 7235 says token, but registries send ``realm=https://host/token``: read to
    the next comma or whitespace instead."""
    j = i
    while j < len(h) and h[j] not in ", \t":
        j += 1
    return h[i:j], j


def _parse_one(h: str) -> list[Challenge]:
    out: list[Challenge] = []
    n = len(h)
    i = 0
    while i < n:
        while i < n and h[i] in " \t,":
            i += 1
        if i >= n:
            break
        scheme, j = _read_token(h, i)
        if not scheme:  # garbage: skip to the next comma so the rest can still be read
            while i < n and h[i] != ",":
                i += 1
            continue
        i = _skip_ws(h, j)
        params: dict[str, str] = {}
        token68: str | None = None
        m = _TOKEN68_RE.match(h, i) if i > j else None
        if m is not None:
            after = _skip_ws(h, m.end())
            if after >= n or h[after] == ",":
                token68, i = m.group(), after
                out.append(Challenge(scheme.lower(), params, token68))
                continue
        while i < n:
            name, j = _read_token(h, i)
            if not name:
                break
            k = _skip_ws(h, j)
            if k >= n or h[k] != "=":
                break  # not "name=": the next challenge's scheme starts here
            k = _skip_ws(h, k + 1)
            if k < n and h[k] == '"':
                value, k = _read_quoted(h, k)
            else:
                value, k = _read_bare_value(h, k)
            params.setdefault(name.lower(), value)  # RFC 7235: a parameter occurs at most once
            i = _skip_ws(h, k)
            if i < n and h[i] == ",":
                i = _skip_ws(h, i + 1)
                while i < n and h[i] == ",":  # empty list elements are allowed (#rule)
                    i = _skip_ws(h, i + 1)
                continue
            if i < n:  # junk after a value: resynchronise at the next comma
                while i < n and h[i] != ",":
                    i += 1
        out.append(Challenge(scheme.lower(), params, token68))
    return out


def parse_www_authenticate(values: str | Iterable[str]) -> list[Challenge]:
    """All challenges in one or several ``WWW-Authenticate`` header values. Never raises."""
    if isinstance(values, str):
        values = [values]
    out: list[Challenge] = []
    for v in values:
        out.extend(_parse_one(v))
    return out


def scopes_for_path(path: str, action: str = "pull") -> tuple[str, ...]:
    """``repository:NAME:pull`` for a ``/v2/NAME/...`` path (token.md "Requesting a Token")."""
    m = _PATH_RE.match(path)
    return (f"repository:{m.group('name')}:{action}",) if m else ()


# -- the flow ---------------------------------------------------------------------------------------
TokenKey = tuple[str, str, frozenset[str]]
SendFn = Callable[[httpx.Request], Awaitable[httpx.Response]]
CredentialsFn = Callable[[str], Awaitable[Credential | None]]


@dataclass(slots=True)
class _Token:
    header: str
    expires_at: float
    lifetime: float

    def __repr__(self) -> str:
        return f"_Token(header=<redacted>, expires_at={self.expires_at!r}, lifetime={self.lifetime!r})"

    def fresh(self, now: float) -> bool:
        # Refresh a little before expiry (a fifth of the lifetime, at most 30 s) so a token never
        # expires between being attached and the registry checking it.
        return now < self.expires_at - min(30.0, self.lifetime / 5)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class RegistryAuth(httpx.Auth):
    """Authentication state for one registry host; one instance is shared by all its requests."""

    requires_request_body = False
    #: The 401 is read (and its connection released) before a token is fetched: with a same-origin realm
    #: the token request needs a connection from the same pool. (``async_auth_flow`` does it itself.)
    requires_response_body = True

    def __init__(
        self,
        *,
        registry: str,
        credentials: CredentialsFn,
        send: SendFn,
        allow_plain_http_realm: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._credentials = credentials
        self._send = send
        #: Set by the client once it knows the registry itself speaks plain HTTP on loopback.
        self.allow_plain_http_realm = allow_plain_http_realm
        self._clock = clock
        self._challenge: Challenge | None = None
        self._tokens: dict[TokenKey, _Token] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}
        #: Token requests made (observability for tests and --debug).
        self.token_requests = 0

    def __repr__(self) -> str:
        scheme = self._challenge.scheme if self._challenge else "unknown"
        return f"RegistryAuth(registry={self.registry!r}, scheme={scheme!r}, tokens={len(self._tokens)})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        scopes = frozenset(scopes_for_path(request.url.path))
        repository = next(iter(scopes)).split(":")[1] if scopes else ""
        sent: str | None = None
        if self._challenge is not None and (scopes or self._challenge.scheme == "basic"):
            sent = await self._header(self._challenge, scopes, repository, stale=None)
            if sent is not None:
                request.headers["Authorization"] = sent
        response = yield request
        if response.status_code != 401:
            return
        challenge = _pick(parse_www_authenticate(response.headers.get_list("www-authenticate")))
        if challenge is None:
            return
        # Release the connection before fetching a token: a same-origin realm shares this pool. (httpx
        # reads it before the retry anyway; a 401 announcing a huge body is not worth a retry.)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and len(declared) > 7:
            return
        await response.aread()
        self._challenge = challenge
        header = await self._header(challenge, scopes | set(challenge.scopes), repository, stale=sent)
        if header is None:
            return
        request.headers["Authorization"] = header
        yield request  # the one retry; whatever comes back now goes to the caller

    async def _header(
        self, challenge: Challenge, scopes: frozenset[str], repository: str, *, stale: str | None
    ) -> str | None:
        """The Authorization value for *challenge*; ``stale`` is a header the registry just refused."""
        cred = await self._credentials(repository)
        if challenge.scheme == "basic":
            if cred is None or cred.username is None or cred.password is None:
                return None
            header = _basic(cred.username, cred.password)
            return None if header == stale else header
        if challenge.scheme != "bearer":
            return None
        if cred is not None and cred.registry_token:
            # docker config "registrytoken": a ready-made bearer token for the registry itself.
            if not is_bearer_token(cred.registry_token):
                raise AuthError(f"{cred.source or 'credentials'}: registrytoken is not a valid bearer token")
            header = f"Bearer {cred.registry_token}"
            return None if header == stale else header
        realm = challenge.realm
        if not realm:
            raise AuthError(f"{self.registry} sent a Bearer challenge without a realm")
        self._check_realm(realm)
        key: TokenKey = (realm, challenge.service or "", scopes)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one fetch per key; the others wait and reuse it
            cached = self._tokens.get(key)
            if cached is not None and cached.header != stale and cached.fresh(self._clock()):
                return cached.header
            token = await self._fetch_token(realm, challenge.service, sorted(scopes), cred)
            self._tokens[key] = token
            return token.header

    def check_token_redirect(self, target: str) -> None:
        """A token request's redirect target must pass the realm rule, as if the challenge had named it:
        a loopback token service redirecting to ``http://elsewhere/`` would otherwise carry the account
        and scopes (and a plain-HTTP hop) where a realm naming it directly is refused."""
        try:
            self._check_realm(target)
        except AuthError as e:
            raise AuthError(
                f"{self.registry}'s token service redirected to {target[:200]!r}: refusing a non-HTTPS "
                "token service",
                hint=e.hint,
            ) from None

    def _check_realm(self, realm: str) -> None:
        """Credentials go to the realm: never over plain HTTP unless the registry itself is plain loopback."""
        try:
            url = urllib.parse.urlsplit(realm)
            port = url.port  # ValueError when not a number or out of range
            httpx.URL(realm)
        except (ValueError, httpx.InvalidURL):
            port = 0
        if port == 0 or any(c.isspace() or not c.isprintable() for c in realm):
            shown = realm[:200].encode("ascii", "backslashreplace").decode()
            raise RegistryError(f"{self.registry} sent a Bearer challenge with an invalid realm {shown!r}")
        if url.scheme == "https" and url.hostname:
            return
        if url.scheme == "http" and url.hostname and self.allow_plain_http_realm and _loopback(url.hostname):
            # Credentials travel in clear only when they never leave the machine: the registry is plain
            # HTTP on loopback *and* so is the realm it names (a loopback registry naming
            # http://elsewhere/token would otherwise receive the user's Basic credentials over the wire).
            return
        hint = (
            "a plain-HTTP realm is accepted only on loopback (127.0.0.0/8, ::1, localhost)"
            if self.allow_plain_http_realm
            else "only a plain-HTTP registry on loopback may use a plain-HTTP realm"
        )
        raise AuthError(
            f"{self.registry} points its token realm at {realm!r}: refusing a non-HTTPS token service",
            hint=hint,
        )

    async def _fetch_token(
        self, realm: str, service: str | None, scopes: list[str], cred: Credential | None
    ) -> _Token:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        if cred is not None and cred.identity_token:
            # oauth.md: POST grant_type=refresh_token; registries without the endpoint answer 404 and
            # get the token.md GET instead (containerd does the same).
            form = {
                "grant_type": "refresh_token",
                "refresh_token": cred.identity_token,
                "client_id": OAUTH_CLIENT_ID,
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            request = httpx.Request("POST", realm, data=form)
            response = await self._token_send(request)
            if response.status_code != 404:
                return self._token_from(response, realm, scopes, cred)
        params += [("scope", s) for s in scopes]
        headers = {}
        if cred is not None and cred.username and cred.password:
            params.append(("account", cred.username))
            headers["Authorization"] = _basic(cred.username, cred.password)
        # Merge, not replace: a realm may carry its own query (httpx's params= would drop it).
        url = httpx.URL(realm).copy_merge_params(params)
        request = httpx.Request("GET", url, headers=headers)
        return self._token_from(await self._token_send(request), realm, scopes, cred)

    async def _token_send(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        request.extensions["cacheinspect.redirect_check"] = self.check_token_redirect
        log.debug("token %s %s", request.method, request.url)
        return await self._send(request)

    def _token_from(
        self, response: httpx.Response, realm: str, scopes: list[str], cred: Credential | None
    ) -> _Token:
        who = cred.source if cred is not None else "anonymous access"
        what = " ".join(scopes) or "the registry"
        if response.status_code in (401, 403):
            if cred is None:
                hint = f"log in with docker login {self.registry}, or pass --username with --password-stdin"
            elif cred.source.startswith("--username"):
                hint = "check the --username and the password given on stdin"
            else:
                hint = f"log in again (docker login {self.registry}) or pass others with --username and --password-stdin"
            who = f"the credentials from {cred.source}" if cred is not None else "anonymous access"
            raise AuthError(
                f"token service {realm} refused {who} for {what} (HTTP {response.status_code})", hint=hint
            )
        if response.status_code != 200:
            raise RegistryError(f"token service {realm} answered HTTP {response.status_code} for {what}")
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, huge ints, nesting too deep
            raise RegistryError(f"token service {realm} answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise RegistryError(f"token service {realm} answered JSON that is not an object")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service {realm} answered without a token")
        if not is_bearer_token(token):  # never quote it: it is a secret even when malformed
            raise RegistryError(f"token service {realm} answered a token that is not a valid bearer token")
        lifetime = _lifetime(body.get("expires_in"))
        return _Token(f"Bearer {token}", self._clock() + lifetime, lifetime)


def _loopback(hostname: str) -> bool:
    """An IP literal in 127.0.0.0/8 or ::1, or ``localhost`` (never a name that merely resolves there)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _lifetime(value: object) -> float:
    """``expires_in`` in seconds: the default when absent or nonsense, at most MAX_TOKEN_LIFETIME."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_TOKEN_LIFETIME
    if isinstance(value, int):  # compare before converting: float(10**400) overflows
        return float(min(value, MAX_TOKEN_LIFETIME)) if value > 0 else DEFAULT_TOKEN_LIFETIME
    if not value > 0:  # also NaN
        return DEFAULT_TOKEN_LIFETIME
    return min(value, MAX_TOKEN_LIFETIME)  # inf included


def _pick(challenges: list[Challenge]) -> Challenge | None:
    """Bearer when offered (it scopes access), else Basic; other schemes are not ours."""
    for scheme in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == scheme:
                return c
    return None
