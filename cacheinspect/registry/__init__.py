"""Registry access like docker does it: credentials, Basic/Bearer auth, verified fetches, retries.

Modules: ``reference`` (docker's reference grammar), ``options`` (the knobs), ``credentials``
(docker/podman credential lookup), ``auth`` (the ``httpx.Auth`` flow), ``client`` (transport, retries,
redirects, verification), ``source`` (the :class:`~cacheinspect.sources.base.Source` over a registry).

Names are resolved lazily (PEP 562): importing ``cacheinspect.registry.options`` for a flag must not
import httpx, which is most of a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cacheinspect.registry.auth import Challenge, RegistryAuth, parse_www_authenticate, scopes_for_path
    from cacheinspect.registry.client import RegistryClient, is_loopback
    from cacheinspect.registry.credentials import Credential, CredentialStore
    from cacheinspect.registry.options import RegistryOptions
    from cacheinspect.registry.source import RegistrySource

_WHERE = {
    "Challenge": "auth",
    "RegistryAuth": "auth",
    "parse_www_authenticate": "auth",
    "scopes_for_path": "auth",
    "RegistryClient": "client",
    "is_loopback": "client",
    "Credential": "credentials",
    "CredentialStore": "credentials",
    "RegistryOptions": "options",
    "RegistrySource": "source",
}

__all__ = [
    "Challenge",
    "Credential",
    "CredentialStore",
    "RegistryAuth",
    "RegistryClient",
    "RegistryOptions",
    "RegistrySource",
    "is_loopback",
    "parse_www_authenticate",
    "scopes_for_path",
]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'cacheinspect.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cacheinspect.registry.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
