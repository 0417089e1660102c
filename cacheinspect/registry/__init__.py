"""Registry access like docker does it: credentials, Basic/Bearer auth, verified fetches, retries.

Modules: ``options`` (the knobs), ``credentials`` (docker/podman credential lookup), ``auth`` (the
``httpx.Auth`` flow), ``client`` (transport, retries, redirects, verification), ``source`` (the
:class:`~cacheinspect.source.Source` over a registry).
"""

from __future__ import annotations

from .auth import Challenge, RegistryAuth, parse_www_authenticate, scopes_for_path
from .client import RegistryClient, is_loopback
from .credentials import Credential, CredentialStore
from .options import RegistryOptions
from .source import RegistrySource

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
