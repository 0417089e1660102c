"""A Docker-registry token issuer (``docs/spec/auth/token.md`` + ``oauth.md``) for the ``token`` flavour.

It is a real HTTPS endpoint the registry's ``WWW-Authenticate: Bearer realm=…`` points clients at:

* ``GET realm?service=S&scope=…&scope=…`` with optional Basic credentials; ``offline_token=true`` adds a
  ``refresh_token``.
* ``POST realm`` (OAuth2 form): ``grant_type=password`` (``username``/``password``) or
  ``grant_type=refresh_token`` (``refresh_token``), ``service``, space-separated ``scope``, ``client_id``;
  ``access_type=offline`` adds a ``refresh_token``.  ``post_enabled = False`` makes POST answer 404 so a
  client's fall-back to GET can be tested.

Wrong credentials get 401 (never a silently anonymous token). Scopes are granted per :data:`POLICY`:
``alice`` may do anything anywhere, ``bob`` may only pull ``allowed/*``, anonymous may pull ``public/*``;
actions not allowed are dropped from the token (the registry then answers 401 ``insufficient_scope``).

How the registry is made to accept the JWTs (distribution 2.8 ``registry/auth/token``): tokens are
ES256-signed by the *signer* key and carry the signer certificate in the JOSE header ``x5c``; the
registry's ``rootcertbundle`` is that same certificate, so the one-element chain verifies (Go's x509
accepts a leaf that is itself a root). ``header_mode="kid"`` instead sets ``kid`` to the libtrust
fingerprint of the signer key, which the registry derives from every key in ``rootcertbundle``; both work.

Expiry: distribution 2.8 accepts a token until ``exp + 60 s`` (its ``Leeway``). So that the advertised
``expires_in`` is also when the registry starts refusing the token, the issuer back-dates ``exp``
(and ``nbf``/``iat``) by ``leeway_compensation`` seconds (60 by default).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import math
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .httpserve import LoopbackServer, QuietHandler
from .pki import PKI, PKIFiles, libtrust_key_id, make_pki, server_context

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_SERVICE",
    "POLICY",
    "REGISTRY_LEEWAY",
    "TokenIssuer",
    "TokenRequest",
    "parse_scope",
]

DEFAULT_SERVICE = "cacheinspect-test-registry"
DEFAULT_ISSUER = "cacheinspect-test-issuer"
# distribution 2.8 registry/auth/token/token.go: `Leeway = 60 * time.Second`.
REGISTRY_LEEWAY = 60
ALL_ACTIONS = ("pull", "push", "delete", "*")

# user (None = anonymous) -> list of (resource type, name glob, allowed actions)
POLICY: dict[str | None, list[tuple[str, str, tuple[str, ...]]]] = {
    "alice": [("repository", "*", ALL_ACTIONS), ("registry", "*", ALL_ACTIONS)],
    "bob": [("repository", "allowed/*", ("pull",))],
    None: [("repository", "public/*", ("pull",))],
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:name:pull,push`` → ``("repository", "name", ["pull", "push"])``; None if malformed.

    The name is everything between the first and the last colon (a resource type may carry a class,
    ``repository(plugin)``; a name never contains a colon but be lenient).
    """
    first, last = scope.find(":"), scope.rfind(":")
    if first <= 0 or last == first:
        return None
    rtype = scope[:first].split("(", 1)[0]
    return rtype, scope[first + 1 : last], [a for a in scope[last + 1 :].split(",") if a]


@dataclass
class TokenRequest:
    """One request the issuer saw, for assertions (``issuer.requests``)."""

    method: str
    path: str
    service: str | None
    scopes: list[str]
    user: str | None
    grant_type: str | None
    status: int
    granted: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


class TokenIssuer:
    """The issuer; use as a context manager or call :meth:`start`/:meth:`close`.

    Mutable knobs (tests may change them on a running issuer): ``expires_in`` (seconds advertised and,
    with leeway compensation, enforced by the registry), ``post_enabled``, ``header_mode``.
    """

    def __init__(
        self,
        files: PKIFiles,
        *,
        users: dict[str, str] | None = None,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        expires_in: int = 300,
        header_mode: Literal["x5c", "kid"] = "x5c",
        leeway_compensation: int = REGISTRY_LEEWAY,
        pki: PKI | None = None,
    ) -> None:
        self.files = files
        self.pki = pki or make_pki()
        self.users: dict[str, str] = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.header_mode: Literal["x5c", "kid"] = header_mode
        self.leeway_compensation = leeway_compensation
        self.post_enabled = True
        self.requests: list[TokenRequest] = []
        self.refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(_IssuerHandler):
            owner = issuer

        self._server = LoopbackServer(Handler, tls=server_context(self.files)).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "issuer not started"
        return self._server.port

    @property
    def realm(self) -> str:
        """The URL the registry advertises as ``realm`` (``https://127.0.0.1:PORT/token``)."""
        return f"https://127.0.0.1:{self.port}/token"

    @contextlib.contextmanager
    def override(self, **knobs: Any) -> Iterator[TokenIssuer]:
        """Temporarily change knobs (``expires_in=2``, ``post_enabled=False``…) on a shared issuer."""
        old = {k: getattr(self, k) for k in knobs}
        for k, v in knobs.items():
            setattr(self, k, v)
        try:
            yield self
        finally:
            for k, v in old.items():
                setattr(self, k, v)

    # -- policy and minting --------------------------------------------------------------------------
    def authorize(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        """The ``access`` claim: for each requested scope, the subset of actions ``user`` may do."""
        merged: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, actions = parsed
            allowed: set[str] = set()
            for ptype, glob, pactions in POLICY.get(user, []):
                if ptype == rtype and fnmatch.fnmatchcase(name, glob):
                    allowed.update(pactions)
            got = merged.setdefault((rtype, name), [])
            for action in actions:
                if action in allowed and action not in got:
                    got.append(action)
        return [{"type": t, "name": n, "actions": a} for (t, n), a in merged.items()]

    def mint(
        self,
        access: list[dict[str, Any]],
        *,
        subject: str = "",
        expires_in: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        not_before_offset: int = 0,
    ) -> str:
        """A signed JWT the registry accepts (unless you pass a wrong audience/issuer on purpose).

        ``expires_in`` may be negative to make an already-expired token (the leeway compensation is
        applied, so ``expires_in=-1`` is refused by the registry right away).
        """
        # Rounded up, so the registry (exp is whole seconds) honours at least ``lifetime``
        # seconds: truncating made a 1 s token expire within milliseconds when minted late in a second.
        now = math.ceil(time.time())
        lifetime = self.expires_in if expires_in is None else expires_in
        shift = self.leeway_compensation
        claims = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience or self.service,
            "exp": now + lifetime - shift,
            "nbf": now - shift - 1 + not_before_offset,
            "iat": now - shift - 1,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        header: dict[str, Any] = {"typ": "JWT", "alg": "ES256"}
        if self.header_mode == "x5c":
            header["x5c"] = [base64.b64encode(self.pki.signer.cert_der).decode()]
        else:
            pub = self.pki.signer.key.public_key()
            header["kid"] = libtrust_key_id(pub)
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        der = self.pki.signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def token_requests(self, *, status: int | None = None) -> list[TokenRequest]:
        """A snapshot of ``requests`` (optionally only those answered with ``status``)."""
        with self._lock:
            return [r for r in self.requests if status is None or r.status == status]


class _IssuerHandler(QuietHandler):
    owner: TokenIssuer

    def _json(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        headers.update(extra or {})
        self.send_bytes(status, json.dumps(payload).encode(), headers)

    def _basic_user(self) -> tuple[bool, str | None]:
        """(credentials ok, user). No Authorization header → (True, None): anonymous."""
        auth = self.headers.get("Authorization")
        if not auth:
            return True, None
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, None
        ok = user in self.owner.users and secrets.compare_digest(self.owner.users[user], password)
        return ok, user if ok else None

    def _respond(
        self,
        *,
        method: str,
        user: str | None,
        service: str | None,
        scopes: list[str],
        grant: str | None,
        offline: bool,
        oauth: bool,
    ) -> None:
        owner = self.owner
        access = owner.authorize(user, scopes)
        token = owner.mint(access, subject=user or "")
        payload: dict[str, Any] = {
            "expires_in": owner.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if oauth:
            payload["access_token"] = token
            payload["scope"] = " ".join(scopes)
        else:
            payload["token"] = token
            payload["access_token"] = token
        if offline and user is not None:
            refresh = secrets.token_urlsafe(24)
            with owner._lock:
                owner.refresh_tokens[refresh] = user
            payload["refresh_token"] = refresh
        self._record(method, service, scopes, user, grant, 200, access)
        self._json(200, payload)

    def _record(
        self,
        method: str,
        service: str | None,
        scopes: list[str],
        user: str | None,
        grant: str | None,
        status: int,
        access: list[dict[str, Any]] | None = None,
    ) -> None:
        self.owner._record(
            TokenRequest(
                method=method,
                path=self.path,
                service=service,
                scopes=scopes,
                user=user,
                grant_type=grant,
                status=status,
                granted=access or [],
                headers={k: v for k, v in self.headers.items()},
            )
        )

    def _deny(
        self, method: str, service: str | None, scopes: list[str], grant: str | None, status: int, error: str
    ) -> None:
        self._record(method, service, scopes, None, grant, status)
        extra = {"WWW-Authenticate": 'Basic realm="cacheinspect-test-issuer"'} if status == 401 else {}
        self._json(status, {"errors": [{"code": "UNAUTHORIZED", "message": error}], "error": error}, extra)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        service: str | None = query["service"][0] if query.get("service") else None
        scopes = query.get("scope", [])
        if url.path != "/token":
            self._deny("GET", service, scopes, None, 404, "not found")
            return
        ok, user = self._basic_user()
        if not ok:
            self._deny("GET", service, scopes, None, 401, "invalid username or password")
            return
        if service != self.owner.service:
            self._deny("GET", service, scopes, None, 400, f"unknown service {service!r}")
            return
        offline = (query.get("offline_token") or ["false"])[0].lower() == "true"
        self._respond(
            method="GET", user=user, service=service, scopes=scopes, grant=None, offline=offline, oauth=False
        )

    def do_POST(self) -> None:
        body = self.read_body()
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))

        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        service, grant = one("service"), one("grant_type")
        scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
        if urllib.parse.urlsplit(self.path).path != "/token" or not self.owner.post_enabled:
            self._deny("POST", service, scopes, grant, 404, "not found")
            return
        user: str | None
        if grant == "password":
            name, password = one("username") or "", one("password") or ""
            if name not in self.owner.users or not secrets.compare_digest(self.owner.users[name], password):
                self._deny("POST", service, scopes, grant, 401, "invalid username or password")
                return
            user = name
        elif grant == "refresh_token":
            with self.owner._lock:
                user = self.owner.refresh_tokens.get(one("refresh_token") or "")
            if user is None:
                self._deny("POST", service, scopes, grant, 401, "invalid refresh token")
                return
        else:
            self._deny("POST", service, scopes, grant, 400, f"unsupported grant_type {grant!r}")
            return
        if service != self.owner.service:
            self._deny("POST", service, scopes, grant, 400, f"unknown service {service!r}")
            return
        offline = one("access_type") == "offline"
        self._respond(
            method="POST", user=user, service=service, scopes=scopes, grant=grant, offline=offline, oauth=True
        )
