"""Find the credentials docker (or podman) already has for a registry; first match wins.

Order (docker/cli ``cli/config/configfile/file.go`` ``GetAuthConfig`` + containers-auth.json(5)):

1. explicit ``--username`` / ``--password-stdin`` (``RegistryOptions``);
2. ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): ``credHelpers[host]``, then
   ``credsStore``, then ``auths[host]`` (``auth`` = base64 ``user:pass``, ``identitytoken``,
   ``registrytoken``). Keys are matched like docker's ``ConvertToHostname`` (scheme and path ignored) and
   Docker Hub is looked up under all its names, ``https://index.docker.io/v1/`` first;
3. ``$REGISTRY_AUTH_FILE``, ``${XDG_RUNTIME_DIR}/containers/auth.json``, ``~/.config/containers/auth.json``
   (podman/skopeo/buildah; keys may name a namespace, ``host/org/repo``, longest match first);
4. anonymous (``None``).

Credential helpers speak docker-credential-helpers' protocol: ``docker-credential-NAME get`` reads the
server URL on stdin and prints ``{"ServerURL","Username","Secret"}``; "credentials not found" on a
failing exit means none. ``Username == "<token>"`` marks ``Secret`` as an identity (OAuth2 refresh) token.

Secrets never leave this module in text form: :class:`Credential` redacts them in ``repr``/``str`` and
no error message built here quotes a config value or a helper's stdout.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cacheinspect import _log
from cacheinspect.errors import AuthError, UsageError
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import DOCKER_HUB, DOCKER_HUB_CONFIG_KEY

__all__ = ["IDENTITY_TOKEN_USERNAME", "Credential", "CredentialStore", "is_bearer_token", "run_helper"]

log = _log.get("cacheinspect.registry")

#: docker-credential-helpers' marker: the secret is an identity token, not a password.
IDENTITY_TOKEN_USERNAME = "<token>"
_HELPER_TIMEOUT = 30.0
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
_VISIBLE_ASCII_RE = re.compile(r"[\x21-\x7e]+", re.ASCII)
_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
#: Every name Docker Hub credentials are stored under, the one docker login writes first.
_HUB_KEYS = (
    DOCKER_HUB_CONFIG_KEY,
    "index.docker.io",
    "docker.io",
    "registry-1.docker.io",
    "https://index.docker.io",
    "https://registry-1.docker.io",
)


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """What to authenticate with. At most one of password / identity_token / registry_token is used.

    ``source`` says where it came from (for ``--debug`` and error hints), never what it is.
    """

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None
    source: str = ""

    @property
    def kind(self) -> str:
        if self.registry_token:
            return "registry token"
        if self.identity_token:
            return "identity token"
        return "username/password"

    def __repr__(self) -> str:
        user = f"{self.username!r}, " if self.username else ""
        return f"Credential({user}{self.kind}=<redacted>, source={self.source!r})"

    __str__ = __repr__


def _hostname(key: str) -> str:
    """docker's ``ConvertToHostname``: ``https://host:5000/v1/`` -> ``host:5000``."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.split("/", 1)[0]


def _same_registry(a: str, b: str) -> bool:
    """Host names compare case-insensitively; Docker Hub's aliases are one registry."""
    a, b = a.strip().lower(), b.strip().lower()
    return a == b or (a in _HUB_ALIASES and b in _HUB_ALIASES)


def _candidate_keys(registry: str) -> list[str]:
    if registry == DOCKER_HUB:
        return list(_HUB_KEYS)
    return [registry, f"https://{registry}", f"http://{registry}"]


def _from_auths_entry(entry: Any, where: str) -> Credential | None:
    """One ``auths`` value: ``auth`` (base64 user:pass), ``username``/``password``, tokens."""
    if not isinstance(entry, dict):
        return None
    username: str | None = None
    password: str | None = None
    raw = entry.get("auth")
    if isinstance(raw, str) and raw:
        try:
            decoded = base64.b64decode(raw, validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(f"{where}: the 'auth' value is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError(f"{where}: the 'auth' value does not decode to user:password")
    elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        username, password = entry["username"], entry["password"]
    identity = entry.get("identitytoken")
    registry_token = entry.get("registrytoken")
    if isinstance(registry_token, str) and registry_token:
        if not is_bearer_token(registry_token):  # it goes into a header verbatim; never quote it
            raise AuthError(f"{where}: registrytoken is not a valid bearer token")
        return Credential(username=username, registry_token=registry_token, source=where)
    if isinstance(identity, str) and identity:
        _check_identity_token(identity, where)
        # docker: an identity token replaces the password; the username stays for the token request.
        return Credential(username=username, identity_token=identity, source=where)
    if username is not None and password:
        return Credential(username=username, password=password, source=where)
    return None


def is_bearer_token(token: str) -> bool:
    """RFC 6750 §2.1 ``b64token`` (token68): what may follow ``Bearer `` in an Authorization header."""
    return _TOKEN68_RE.fullmatch(token) is not None


def _check_identity_token(token: str, source: str) -> None:
    """An identity (OAuth2 refresh) token travels form-encoded, so any text is safe on the wire; but a
    newline, a space or non-ASCII means a damaged config: say so instead of sending it."""
    if _VISIBLE_ASCII_RE.fullmatch(token) is None:
        raise AuthError(f"{source}: identitytoken is not a valid token")


def run_helper(name: str, server_url: str, env: Mapping[str, str]) -> Credential | None:
    """``docker-credential-NAME get`` with *server_url* on stdin; ``None`` when it has nothing."""
    exe = f"docker-credential-{name}"
    source = f"credential helper {exe}"
    try:
        proc = subprocess.run(
            [exe, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            env=dict(env),
            check=False,
        )
    except FileNotFoundError:
        # docker fails hard here; a stale credsStore ("desktop" copied from another machine) is common
        # and should not block anonymous pulls of public caches, so warn and go on to the next source.
        log.warning("%s is configured but not on PATH; ignoring it", exe)
        return None
    except subprocess.TimeoutExpired:
        raise AuthError(f"{source} did not answer within {_HELPER_TIMEOUT:.0f}s") from None
    except OSError as e:
        raise AuthError(f"{source} could not run: {e.strerror}") from None
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        # docker-credential-helpers' ErrCredentialsNotFound text ("credentials not found in native keychain").
        if (
            "credentials not found" in out.lower()
            or "credentials not found" in proc.stderr.decode(errors="replace").lower()
        ):
            return None
        first = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = f": {first[0][:200]}" if first else ""
        raise AuthError(f"{source} failed for {server_url} (exit {proc.returncode}){detail}")
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        raise AuthError(f"{source} printed something that is not JSON for {server_url}") from None
    if not isinstance(data, dict):
        raise AuthError(f"{source} printed something that is not a JSON object for {server_url}")
    username, secret = data.get("Username"), data.get("Secret")
    if not isinstance(secret, str) or not secret:
        return None
    if username == IDENTITY_TOKEN_USERNAME:
        _check_identity_token(secret, source)
        return Credential(identity_token=secret, source=source)
    return Credential(
        username=username if isinstance(username, str) else None, password=secret, source=source
    )


class CredentialStore:
    """Looks credentials up on demand (so anonymous pulls never start a helper) and remembers them."""

    def __init__(self, options: RegistryOptions, *, env: Mapping[str, str] | None = None) -> None:
        self._options = options
        self._env = dict(os.environ if env is None else env)
        self._cache: dict[tuple[str, str], Credential | None] = {}

    def get(self, registry: str, repository: str = "") -> Credential | None:
        """Credentials for *registry* (``docker.io`` for Hub), or ``None`` for anonymous."""
        key = (registry, repository)
        if key not in self._cache:
            self._cache[key] = self._lookup(registry, repository)
        return self._cache[key]

    # -- sources, in order ---------------------------------------------------------------------------
    def _lookup(self, registry: str, repository: str) -> Credential | None:
        o = self._options
        if (
            o.username is not None
            and o.password is not None
            and (o.credentials_for is None or _same_registry(o.credentials_for, registry))
        ):
            return Credential(username=o.username, password=o.password, source="--username/--password-stdin")
        found = self._from_docker_config(registry)
        if found is not None:
            return found
        for path in self._containers_auth_files():
            found = self._from_containers_auth(path, registry, repository)
            if found is not None:
                return found
        return None

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text") from None
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path} is not valid JSON (line {e.lineno})") from None
        except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
            raise UsageError(f"{path} is not valid JSON") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path} is not a JSON object")
        return data

    def _from_docker_config(self, registry: str) -> Credential | None:
        if self._options.docker_config is not None:
            directory = self._options.docker_config
        elif self._env.get("DOCKER_CONFIG"):
            directory = Path(self._env["DOCKER_CONFIG"])
        else:
            home = self._env.get("HOME")
            directory = (Path(home) if home else Path.home()) / ".docker"
        path = directory / "config.json"
        cfg = self._read_json(path)
        if cfg is None:
            return None
        keys = _candidate_keys(registry)
        helpers = cfg.get("credHelpers")
        if isinstance(helpers, dict):
            for k in keys:
                name = helpers.get(k)
                if isinstance(name, str) and name:
                    # Docker Hub: whichever alias names the helper, it is asked for the key docker login
                    # (and Docker Desktop) store Hub credentials under, as docker/buildkit do.
                    server = DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else k
                    found = run_helper(name, server, self._env)
                    if found is not None:
                        return replace(found, source=f"{self._shown(path)} (credHelpers {name})")
                    break
        store = cfg.get("credsStore")
        if isinstance(store, str) and store:
            for k in keys if registry == DOCKER_HUB else keys[:1]:
                found = run_helper(store, k, self._env)
                if found is not None:
                    return replace(found, source=f"{self._shown(path)} (credsStore {store})")
        auths = cfg.get("auths")
        if isinstance(auths, dict):
            return _match_auths(auths, keys, registry, f"{self._shown(path)} auths")
        return None

    def _shown(self, path: Path) -> str:
        """*path* as an error message names it: ``~/.docker/config.json`` under $HOME."""
        home = self._env.get("HOME")
        if home:
            try:
                return "~/" + str(path.relative_to(home))
            except ValueError:
                pass
        return str(path)

    def _containers_auth_files(self) -> list[Path]:
        env = self._env
        if env.get("REGISTRY_AUTH_FILE"):
            return [Path(env["REGISTRY_AUTH_FILE"])]
        out = []
        if env.get("XDG_RUNTIME_DIR"):
            out.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        home = env.get("HOME")
        out.append((Path(home) if home else Path.home()) / ".config" / "containers" / "auth.json")
        return out

    def _from_containers_auth(self, path: Path, registry: str, repository: str) -> Credential | None:
        cfg = self._read_json(path)
        if cfg is None or not isinstance(cfg.get("auths"), dict):
            return None
        auths: dict[str, Any] = cfg["auths"]
        # containers-auth.json(5): "registry/namespace" keys, most specific first, then the registry.
        parts = repository.split("/") if repository else []
        keys = [f"{registry}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1)]
        keys += _candidate_keys(registry)
        return _match_auths(auths, keys, registry, f"{path} auths")


def _match_auths(auths: dict[str, Any], keys: list[str], registry: str, where: str) -> Credential | None:
    for k in keys:
        if k in auths:
            return _from_auths_entry(auths[k], f"{where}[{k!r}]")
    hosts = {_hostname(k) for k in keys}
    for k, entry in auths.items():
        # A schemeless key with a path is a podman namespace key ("host/org"): only exact matches count.
        if ("://" in k or "/" not in k) and _hostname(k) in hosts:
            return _from_auths_entry(entry, f"{where}[{k!r}]")
    return None
