"""What the user named on the command line (registry ref, OCI layout, config file) and its Source.

Pure parsing: which :class:`~cacheinspect.sources.base.Source` a target gets is decided one layer up,
in :func:`cacheinspect.cache.open.open_source` (a registry source lives above this package).

Local targets: ``oci-layout://DIR[:TAG|@DIGEST]`` (the syntax of buildx ``--cache-from type=local`` and of
oras/skopeo), a bare path to an OCI layout directory, or a bare path to a file (a cache-config JSON or a
manifest saved to disk). An existing local path always wins over a registry reading of the same string.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from cacheinspect import digest as digestmod
from cacheinspect.errors import CacheInspectError, ReferenceError_, UsageError
from cacheinspect.reference import Reference, _check_tag, parse_reference
from cacheinspect.sources.layout import is_layout

__all__ = [
    "FileTarget",
    "LayoutTarget",
    "Target",
    "local_only",
    "nearest_existing",
    "no_such_path",
    "parse_target",
]

_OCI_LAYOUT_SCHEME = "oci-layout://"


class LayoutTarget(msgspec.Struct, frozen=True):
    """An OCI image layout directory, optionally narrowed to one ``index.json`` entry."""

    path: Path
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else (f":{self.tag}" if self.tag else "")
        return f"{_OCI_LAYOUT_SCHEME}{self.path}{suffix}"


class FileTarget(msgspec.Struct, frozen=True):
    """A single file on disk: a cache-config JSON, or a manifest/index saved from a registry."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)


Target = Reference | LayoutTarget | FileTarget


def _expand(s: str) -> Path:
    """``~`` expanded; ``~nosuchuser`` stays as written (expanduser raises RuntimeError for it)."""
    try:
        return Path(s).expanduser()
    except (RuntimeError, ValueError):
        return Path(s)


def _exists(path: Path) -> bool:
    """``Path.exists`` without the OS errors it lets through (ENAMETOOLONG, EACCES on a parent, NUL)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _looks_like_path(s: str) -> bool:
    """Strings no reference can be, but a path is: the user meant a file that is not there."""
    return s.startswith(("/", "./", "../", "~")) or s in (".", "..") or s.endswith((".json", "/"))


def _explicit_registry(s: str) -> bool:
    """``ghcr.io/x``, ``localhost:5000/x``, ``localhost/x``: the first component names a registry host
    (docker's ``splitDockerDomain`` rule), so the string is a registry reference as written."""
    first, sep, _ = s.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _means_a_local_path(s: str) -> bool:
    """A string the user meant as a local path: it starts like one, or its first component exists
    here (``fixtures/threestage-mx`` next to ``fixtures/``), unless it is an explicit registry reference."""
    if _looks_like_path(s):
        return True
    if "/" not in s or _explicit_registry(s):
        return False
    return _exists(Path(s.split("/", 1)[0]))


def nearest_existing(s: str) -> str | None:
    """The existing path closest to *s*: its deepest existing parent, then the entry of that directory
    nearest to the first missing component (difflib), e.g. ``fixtures/threestage-max`` for
    ``fixtures/threestage-mx``. Reads one directory, at most 10,000 names of it."""
    import difflib
    import itertools

    path = _expand(s.rstrip("/") or s)
    parts = path.parts
    base = Path(parts[0]) if path.is_absolute() else Path(".")
    rest = parts[1:] if path.is_absolute() else parts
    for part in rest:
        nxt = base / part
        if _exists(nxt):
            base = nxt
            continue
        try:
            with os.scandir(base) as it:
                names = [e.name for e in itertools.islice(it, 10_000)]
        except OSError:
            return None
        close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
        if close:
            return str(base / close[0]) if str(base) != "." else close[0]
        return None  # the parent alone is no hint: the user named it
    return None


def no_such_path(s: str, what: str = "path") -> UsageError:
    """``no such path: 'x'`` (exit 2), with the nearest existing name as the hint."""
    near = nearest_existing(s)
    hint = f"did you mean {near}?" if near else None
    if what == "path" and not _looks_like_path(s):
        extra = "a registry reference names its registry: docker.io/" + s if "/" in s else None
        hint = f"{hint} ({extra})" if hint and extra else (hint or extra)
    return UsageError(f"no such {what}: {s!r}", hint=hint)


def _parse_layout(s: str, original: str) -> LayoutTarget:
    rest = s[len(_OCI_LAYOUT_SCHEME) :]
    tag: str | None = None
    digest: str | None = None
    if "@" in rest:
        rest, _, digest = rest.rpartition("@")
        try:
            digestmod.parse(digest)
        except ReferenceError_ as e:
            raise ReferenceError_(f"invalid layout reference {original!r}: {e.message}") from None
    else:
        head, sep, maybe_tag = rest.rpartition(":")
        # A ':' that is part of the directory name stays there when the directory exists as written.
        if sep and "/" not in maybe_tag and not is_layout(_expand(rest)):
            _check_tag(maybe_tag, original)
            rest, tag = head, maybe_tag
    if not rest:
        raise ReferenceError_(f"invalid layout reference {original!r}: missing directory")
    path = _expand(rest)
    if not _exists(path):
        raise no_such_path(rest, "OCI layout directory")
    if not is_layout(path):
        raise UsageError(f"{str(path)!r} is not an OCI layout directory (no oci-layout or index.json)")
    return LayoutTarget(path=path, tag=tag, digest=digest)


def parse_target(s: str) -> Target:
    """A registry reference, an ``oci-layout://`` target, or a local path (an existing path wins)."""
    if s.startswith(_OCI_LAYOUT_SCHEME):
        return _parse_layout(s, s)
    path = _expand(s)
    if s and _exists(path):
        if is_layout(path):
            return LayoutTarget(path=path)
        if _is_file(path):
            return FileTarget(path=path)
        raise UsageError(
            f"{s!r} is a directory but not an OCI layout (no oci-layout or index.json); "
            "pass a layout directory, a cache-config JSON file or a registry reference"
        )
    if s and _means_a_local_path(s):
        raise no_such_path(s)
    return parse_reference(s)


def local_only(*targets: str | None) -> bool:
    """Whether every target given names a local layout or file (None: not given): such a load never
    touches the network, so the CLI runs it without an event loop (:mod:`cacheinspect._aio`). A target
    that does not parse is not local: the loop-driven path reports its error as before."""
    for s in targets:
        if s is None:
            continue
        try:
            if not isinstance(parse_target(s), LayoutTarget | FileTarget):
                return False
        except CacheInspectError:
            return False
    return True
