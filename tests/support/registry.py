"""Real CNCF distribution 2.8 (``docker-registry``) processes on loopback, one per flavour.

``start_registry("plain" | "basic" | "token", workdir)`` is a context manager yielding a
:class:`RunningRegistry`:

* ``plain``: HTTP, anonymous, deletes enabled.
* ``basic``: HTTPS (per-process test CA, see :mod:`tests.support.pki`) + htpasswd (bcrypt, cost 4 so the
  start stays fast) with users ``alice`` (``reg.password``) and ``bob`` (``reg.users["bob"]``).
* ``token``: HTTPS + ``auth.token`` pointing at a :class:`~tests.support.tokenissuer.TokenIssuer`
  (HTTPS, same CA) that signs JWTs the registry verifies against ``rootcertbundle``.

Why real processes: the point of the suite is that the client works against the registry users run, with
its real challenges, error bodies and redirects; nothing here is mocked. The config is written as JSON
(YAML is a superset), so no YAML library is needed. A missing binary is an error, not a skip: ``make test``
installs it (``bash testbed/apt-deps.sh``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bcrypt
import httpx

from .pki import PKIFiles, client_context, write_pki
from .tokenissuer import TokenIssuer

__all__ = [
    "FLAVOURS",
    "REGISTRY_BIN_ENV",
    "Flavour",
    "RegistryStartError",
    "RunningRegistry",
    "find_registry_binary",
    "free_port",
    "port_is_listening",
    "start_registry",
]

Flavour = Literal["plain", "basic", "token"]
FLAVOURS: tuple[Flavour, ...] = ("plain", "basic", "token")
REGISTRY_BIN_ENV = "CACHEINSPECT_DOCKER_REGISTRY"
_REPO_IN_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:blobs/|manifests/|tags/list)")


class RegistryStartError(RuntimeError):
    """The registry binary is missing or the process did not come up (the log tail is in the message)."""


def find_registry_binary() -> str:
    """``$CACHEINSPECT_DOCKER_REGISTRY`` or ``docker-registry`` on PATH (or ``/usr/bin``)."""
    override = os.environ.get(REGISTRY_BIN_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise RegistryStartError(f"${REGISTRY_BIN_ENV}={override} is not an executable file")
        return override
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").is_file() else None
    )
    if found is None:
        raise RegistryStartError(
            "docker-registry (CNCF distribution 2.8) is not installed: run `make deps` "
            "(bash testbed/apt-deps.sh) or set $" + REGISTRY_BIN_ENV
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the registry cannot take port 0 and tell us the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class _AdminBearerAuth(httpx.Auth):
    """Full-rights bearer auth for ``admin_client`` on the token flavour.

    Tokens are minted in-process with the issuer's key (scope derived from the request path:
    ``repository:NAME:pull,push,delete``, else ``registry:catalog:*``) rather than fetched over HTTP, so
    harness traffic never shows up in ``issuer.requests`` that tests count. One retry with the scope of
    the registry's challenge if a request still gets 401.
    """

    def __init__(self, issuer: TokenIssuer, user: str) -> None:
        self.issuer = issuer
        self.user = user
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _token(self, scope: str) -> str:
        with self._lock:
            cached = self._cache.get(scope)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            # Admin tokens live at least 5 minutes regardless of the issuer's (test-tunable) expires_in.
            lifetime = max(self.issuer.expires_in, 300)
            token = self.issuer.mint(
                self.issuer.authorize(self.user, scope.split()), subject=self.user, expires_in=lifetime
            )
            self._cache[scope] = (token, time.monotonic() + lifetime - 30)
            return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        m = _REPO_IN_PATH.match(request.url.path)
        scope = f"repository:{m['name']}:pull,push,delete" if m else "registry:catalog:*"
        request.headers["Authorization"] = f"Bearer {self._token(scope)}"
        response = yield request
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            sm = re.search(r'scope="([^"]*)"', challenge)
            if sm and sm.group(1) != scope:
                request.headers["Authorization"] = f"Bearer {self._token(sm.group(1))}"
                yield request


@dataclass
class RunningRegistry:
    """A started registry (and, for ``token``, its issuer). Attributes are what tests and clients need."""

    flavour: Flavour
    host: str
    scheme: str
    workdir: Path
    log_path: Path
    config_path: Path
    process: subprocess.Popen[bytes]
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    issuer: TokenIssuer | None = None
    token_service: str | None = None
    pki_files: PKIFiles | None = None
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.host}"

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def token_realm(self) -> str | None:
        """The ``realm`` of the Bearer challenge (token flavour), else None."""
        return self.issuer.realm if self.issuer else None

    def verify(self) -> ssl.SSLContext | bool:
        """What to pass as httpx ``verify=``: a context trusting only the test CA, or True for plain HTTP."""
        return client_context(self.ca_file) if self.ca_file else True

    def client(
        self, *, auth: httpx.Auth | tuple[str, str] | None = None, timeout: float = 10.0
    ) -> httpx.Client:
        """A plain httpx client for this registry (base_url set, CA trusted, no credentials unless given)."""
        return httpx.Client(base_url=self.url, verify=self.verify(), auth=auth, timeout=timeout)

    def admin_client(self) -> httpx.Client:
        """A client with full rights (push, delete, catalog) on every repository; close it when done."""
        auth: httpx.Auth | tuple[str, str] | None = None
        if self.flavour == "basic":
            assert self.username
            assert self.password
            auth = (self.username, self.password)
        elif self.flavour == "token":
            assert self.issuer
            assert self.username
            auth = _AdminBearerAuth(self.issuer, self.username)
        return self.client(auth=auth)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def docker_config(self, directory: Path, *, password: str | None = None) -> Path:
        """Write a ``DOCKER_CONFIG`` directory whose ``auths`` log in to this registry (none for the plain
        flavour), as ``docker login`` would; *password* overrides the right one (to test a wrong one)."""
        directory.mkdir(parents=True, exist_ok=True)
        auths: dict[str, object] = {}
        if self.username:
            secret = f"{self.username}:{password or self.password}".encode()
            auths[self.host] = {"auth": base64.b64encode(secret).decode()}
        (directory / "config.json").write_text(json.dumps({"auths": auths}))
        return directory

    def run_cli(
        self, args: list[str], docker_config: Path, *, stdin: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -m cacheinspect ARGS`` as a user logged in with *docker_config* runs it against this
        registry (its CA passed when it has one); a traceback on stderr fails the calling test."""
        extra = ["--ca-file", str(self.ca_file)] if self.ca_file else []
        env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
        env.pop("REGISTRY_AUTH_FILE", None)
        p = subprocess.run(
            [sys.executable, "-m", "cacheinspect", *args, *extra],
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            cwd=cwd,
            timeout=120,
        )
        assert "Traceback" not in p.stderr, p.stderr
        return p

    def stop(self) -> None:
        """Terminate the registry (SIGTERM, then SIGKILL after 5 s) and the issuer; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.issuer is not None:
            self.issuer.close()


def _config(
    flavour: Flavour,
    workdir: Path,
    port: int,
    files: PKIFiles | None,
    htpasswd: Path | None,
    issuer: TokenIssuer | None,
    delete_enabled: bool = True,
) -> dict[str, object]:
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    http: dict[str, object] = {
        "addr": f"127.0.0.1:{port}",
        # A fixed secret silences the "No HTTP secret provided" warning and keeps upload state valid.
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": delete_enabled},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if files is not None:
        http["tls"] = {"certificate": str(files.server_cert), "key": str(files.server_key)}
    if flavour == "basic":
        assert htpasswd is not None
        config["auth"] = {"htpasswd": {"realm": "cacheinspect-test-registry", "path": str(htpasswd)}}
    elif flavour == "token":
        assert issuer is not None
        assert files is not None
        config["auth"] = {
            "token": {
                "realm": issuer.realm,
                "service": issuer.service,
                "issuer": issuer.issuer,
                "rootcertbundle": str(files.signer_cert),
            }
        }
    return config


def _wait_ready(reg: RunningRegistry, deadline: float) -> None:
    """Until *our* process logged that it listens on the port and ``/v2/`` answers.

    The log line matters: with another test run racing for the same free port, a ``/v2/`` answer could
    come from someone else's registry while ours is failing with "address already in use".
    """
    verify = client_context(reg.ca_file) if reg.ca_file else True
    listening = f"listening on {reg.host}"
    with httpx.Client(verify=verify, timeout=1.0) as c:
        while True:
            if reg.process.poll() is not None:
                raise RegistryStartError(
                    f"docker-registry exited with {reg.process.returncode}; log tail:\n{reg.log_text()[-2000:]}"
                )
            try:
                if listening in reg.log_text():
                    r = c.get(f"{reg.url}/v2/")
                    if r.status_code in (200, 401):
                        return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RegistryStartError(
                    f"docker-registry did not answer /v2/ in time; log tail:\n{reg.log_text()[-2000:]}"
                )
            time.sleep(0.01)


def _launch(flavour: Flavour, workdir: Path, delete_enabled: bool = True) -> RunningRegistry:
    binary = find_registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    files = write_pki(workdir / "pki") if flavour != "plain" else None
    users: dict[str, str] = {}
    htpasswd: Path | None = None
    issuer: TokenIssuer | None = None
    if flavour != "plain":
        users = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
    if flavour == "basic":
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                for u, p in users.items()
            )
        )
    if flavour == "token":
        assert files is not None
        issuer = TokenIssuer(files, users=users).start()
    last_error: RegistryStartError | None = None
    for attempt in range(3):
        port = free_port()
        config_path = workdir / "config.yml"
        config_path.write_text(
            json.dumps(_config(flavour, workdir, port, files, htpasswd, issuer, delete_enabled), indent=2)
        )
        log_path = workdir / ("registry.log" if attempt == 0 else f"registry.{attempt}.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                # Same process group on purpose: a Ctrl-C on pytest also stops the registry at once.
            )
        reg = RunningRegistry(
            flavour=flavour,
            host=f"127.0.0.1:{port}",
            scheme="http" if flavour == "plain" else "https",
            workdir=workdir,
            log_path=log_path,
            config_path=config_path,
            process=process,
            ca_file=files.ca_cert if files else None,
            username="alice" if users else None,
            password=users.get("alice"),
            users=users,
            issuer=issuer,
            token_service=issuer.service if issuer else None,
            pki_files=files,
        )
        try:
            _wait_ready(reg, time.monotonic() + 15)
        except RegistryStartError as e:
            # Most likely someone took the port between free_port() and the bind: try another one.
            last_error = e
            reg.issuer = None  # keep the issuer for the next attempt
            reg.stop()
            continue
        reg.startup_seconds = time.monotonic() - started
        return reg
    if issuer is not None:
        issuer.close()
    assert last_error is not None
    raise last_error


@contextlib.contextmanager
def start_registry(
    flavour: Flavour, workdir: Path, *, delete_enabled: bool = True
) -> Iterator[RunningRegistry]:
    """Start a ``flavour`` registry with its state, config, certificates and log under ``workdir``.

    ``delete_enabled=False`` runs it with ``storage.delete.enabled: false`` (manifest DELETE answers 405
    ``UNSUPPORTED``). Returns once ``/v2/`` answers. On exit the registry process is terminated and waited for and the
    issuer (token flavour) is shut down, so no listener is left behind.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown registry flavour {flavour!r} (one of {', '.join(FLAVOURS)})")
    reg = _launch(flavour, Path(workdir), delete_enabled)
    try:
        yield reg
    finally:
        reg.stop()
