"""Errors of the context engine, all under the one hierarchy of :mod:`cacheinspect.errors`."""

from __future__ import annotations

from cacheinspect.errors import CacheInspectError, UsageError

__all__ = [
    "ContextError",
    "ContextPathError",
    "SourceNotFoundError",
    "TooManyLinksError",
    "UnreadableEntryError",
]


class ContextError(UsageError):
    """Something about the build context (exit 2)."""


class ContextPathError(ContextError):
    """The context directory (or the Dockerfile, or a fingerprint file) does not exist or is not readable."""


class SourceNotFoundError(ContextError):
    """A COPY/ADD source is not in what the client sends; BuildKit fails the build the same way
    (``failed to compute cache key: ... "/x": not found``)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path or '/'}: not found in the build context")
        self.path = path or "/"


class TooManyLinksError(ContextError):
    """More than 255 symlinks while resolving a path (BuildKit: ``too many links``)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path or '/'}: too many links")
        self.path = path or "/"


class UnreadableEntryError(CacheInspectError):
    """An entry the checksum needs could not be read here, so the checksum is unknown (never guessed).

    BuildKit's client fails the whole build on such a file (fsutil returns the walk error), so a
    consumer reports the step as ``unknown``.
    """

    exit_code = 2

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or '/'}: unreadable ({reason})")
        self.path = path or "/"
        self.reason = reason
