"""Knobs of the registry client, one dataclass so the CLI maps flags onto it one to one."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from cacheinspect.errors import UsageError
from cacheinspect.sources.base import DEFAULT_MAX_BYTES

__all__ = ["DEFAULT_CERTS_DIR", "RegistryOptions"]

#: Where docker looks for per-registry CA bundles (``/etc/docker/certs.d/HOST[:PORT]/*.crt``).
DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")


class RegistryOptions(msgspec.Struct, frozen=True):
    """How to reach and authenticate against registries.

    ``password`` is masked in ``repr`` so an options object can be logged or shown in a traceback.
    """

    username: str | None = None
    password: str | None = None
    #: Skip TLS certificate verification (docker's ``insecure-registries``, oras ``--insecure``).
    insecure: bool = False
    #: Speak plain HTTP to the registry (oras ``--plain-http``); loopback registries fall back on their own.
    plain_http: bool = False
    #: Extra CA bundle trusted for every host, on top of the system store.
    ca_file: Path | None = None
    #: Requests in flight per host (regclient/crane use 3-4; a cache check is many tiny HEADs).
    concurrency: int = 8
    #: Seconds for connect / read / write / pool wait of one request.
    timeout: float = 30.0
    #: Retries after the first attempt on connect errors, timeouts, 429 and 5xx.
    retries: int = 4
    #: Total seconds one logical request may spend across all its attempts and back-off sleeps.
    retry_budget: float = 60.0
    #: Directory holding ``config.json``; ``None`` means ``$DOCKER_CONFIG`` or ``~/.docker``.
    docker_config: Path | None = None
    #: The registry (as :attr:`Reference.registry` spells it, e.g. ``docker.io``, ``127.0.0.1:5000``) that
    #: ``username``/``password`` belong to; other registries use their stored credentials. ``None`` sends
    #: them to every registry (a library caller talking to one registry).
    credentials_for: str | None = None
    #: Cap for manifests and blobs read into memory.
    max_bytes: int = DEFAULT_MAX_BYTES
    #: docker's per-registry CA directory (overridable for tests).
    certs_dir: Path = DEFAULT_CERTS_DIR

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={'***' if k == 'password' and v is not None else repr(v)}"
            for k, v in ((k, getattr(self, k)) for k in self.__struct_fields__)
        )
        return f"RegistryOptions({shown})"

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if not self.retry_budget > 0:  # also refuses NaN
            raise UsageError("the retry budget must be a positive number of seconds")
        if (self.username is None) != (self.password is None):
            raise UsageError("--username and --password-stdin go together")

    def docker_config_dir(self) -> Path:
        """``docker_config``, else ``$DOCKER_CONFIG``, else ``~/.docker`` (read at call time, like docker)."""
        if self.docker_config is not None:
            return self.docker_config
        env = os.environ.get("DOCKER_CONFIG")
        return Path(env) if env else Path.home() / ".docker"
