"""The one exception hierarchy of cacheinspect, and the exit code each maps to.

Every failure a user can cause or meet (a bad reference, a wrong password, a missing blob, a corrupt
body, a cache config BuildKit would reject) is raised as a subclass of :class:`CacheInspectError`. The
CLI catches it in exactly one place (``cli.main``) and prints ``error: <message>`` on stderr with the
exit code of its class; nothing else reaches the user as a traceback.

::

    CacheInspectError                 (exit 5 unless a subclass says otherwise)
    ├── UsageError                    2  bad flags, bad input files
    │   └── ReferenceError_           2  malformed image/cache reference or digest
    ├── AuthError                     3  authentication or authorization refused
    ├── NotFoundError                 4  repository, tag, manifest or blob does not exist
    ├── RegistryError                 5  network failure, timeout, unexpected HTTP status
    │   └── RateLimitedError          5  HTTP 429 after the retry budget was spent
    └── IntegrityError                6  digest mismatch, truncated body, malformed content
        ├── DigestMismatchError       6
        ├── SizeLimitError            6  body larger than the configured cap
        └── MalformedContentError     6  not JSON, not a manifest, not a cache config

Exit code 1 is not an error class: it means "findings" (``audit``, ``diff --exit-code``) and is chosen
by the command that produced them.
"""

from __future__ import annotations

__all__ = [
    "EXIT_AUTH",
    "EXIT_FINDINGS",
    "EXIT_INTEGRITY",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_REGISTRY",
    "EXIT_USAGE",
    "AuthError",
    "CacheInspectError",
    "DigestMismatchError",
    "IntegrityError",
    "MalformedContentError",
    "NotFoundError",
    "RateLimitedError",
    "ReferenceError_",
    "RegistryError",
    "SizeLimitError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_REGISTRY = 5
EXIT_INTEGRITY = 6


class CacheInspectError(Exception):
    """Base of every expected failure. ``hint`` is an optional second sentence telling what to try."""

    exit_code: int = EXIT_REGISTRY

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """The one-line (or two-line, with a hint) text the CLI prints."""
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class UsageError(CacheInspectError):
    """The user asked for something that cannot work: bad flag combination, unreadable input file."""

    exit_code = EXIT_USAGE


class ReferenceError_(UsageError):
    """A reference or digest string does not parse."""


class AuthError(CacheInspectError):
    """The registry refused our credentials, or we have none and it wants some."""

    exit_code = EXIT_AUTH


class NotFoundError(CacheInspectError):
    """The repository, tag, manifest or blob is not there."""

    exit_code = EXIT_NOT_FOUND


class RegistryError(CacheInspectError):
    """Transport failure or a registry answer we cannot use (5xx, unexpected status, timeout)."""

    exit_code = EXIT_REGISTRY


class RateLimitedError(RegistryError):
    """HTTP 429 that outlived the retry budget; the message carries the rate-limit headers."""


class IntegrityError(CacheInspectError):
    """Content does not match what was promised, or is not what it claims to be."""

    exit_code = EXIT_INTEGRITY


class DigestMismatchError(IntegrityError):
    """The bytes fetched for a digest hash to something else (corrupt or tampered body)."""


class SizeLimitError(IntegrityError):
    """A manifest or blob is larger than the cap we read into memory."""


class MalformedContentError(IntegrityError):
    """Bytes that should be a manifest / index / cache config / image config do not decode as one."""
