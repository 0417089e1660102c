"""Which BuildKit (and Docker) release decides how a prune or a GC policy behaves.

Each switch below cites the release where upstream changed it (read from the tags of moby/buildkit and
moby/moby). Docker's embedded BuildKit is the one in moby's ``vendor.mod`` for that release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cacheinspect.errors import UsageError

__all__ = [
    "DOCKER_API",
    "DOCKER_BUILDKIT",
    "LATEST_BUILDKIT",
    "Semantics",
    "Version",
    "api_of_docker",
    "parse_version",
    "semantics_for",
]

Version = tuple[int, int, int]

LATEST_BUILDKIT: Version = (0, 32, 0)

#: Docker Engine release -> BuildKit it vendors (moby vendor.mod / go.mod at each tag)
DOCKER_BUILDKIT: tuple[tuple[Version, Version], ...] = (
    ((23, 0, 0), (0, 10, 0)),
    ((24, 0, 0), (0, 11, 0)),
    ((25, 0, 0), (0, 12, 0)),
    ((26, 0, 0), (0, 13, 0)),
    ((27, 0, 0), (0, 14, 0)),
    ((27, 1, 0), (0, 15, 0)),
    ((27, 3, 0), (0, 16, 0)),
    ((27, 4, 0), (0, 17, 0)),
    ((27, 5, 0), (0, 18, 0)),
    ((28, 0, 0), (0, 20, 0)),
    ((28, 1, 0), (0, 21, 0)),
    ((28, 2, 0), (0, 22, 0)),
    ((28, 3, 0), (0, 23, 0)),
    ((28, 4, 0), (0, 24, 0)),
    ((28, 5, 0), (0, 25, 0)),
    ((29, 1, 0), (0, 26, 0)),
    ((29, 2, 0), (0, 27, 0)),
    ((29, 3, 0), (0, 28, 0)),
    ((29, 4, 0), (0, 29, 0)),
    ((29, 5, 0), (0, 30, 0)),
    ((29, 6, 0), (0, 31, 0)),
    ((29, 7, 0), (0, 32, 0)),
)


#: Docker Engine release -> its default (= maximum) Engine API version (moby ``api/common.go``
#: ``DefaultVersion`` at each tag); the minimum is 1.24 for all of these.
DOCKER_API: tuple[tuple[Version, tuple[int, int]], ...] = (
    ((23, 0, 0), (1, 42)),
    ((24, 0, 0), (1, 43)),
    ((25, 0, 0), (1, 44)),
    ((26, 0, 0), (1, 45)),
    ((27, 0, 0), (1, 46)),
    ((27, 2, 0), (1, 47)),
    ((28, 0, 0), (1, 48)),
    ((28, 1, 0), (1, 49)),
    ((28, 2, 0), (1, 50)),
    ((28, 3, 0), (1, 51)),
    ((29, 0, 0), (1, 52)),
)
MIN_API = (1, 24)


def api_of_docker(docker: Version) -> tuple[int, int]:
    """The default Engine API version of a Docker release (what a request without ``/vX.Y`` gets)."""
    out = (1, 41)
    for dv, api in DOCKER_API:
        if docker >= dv:
            out = api
    return out


def parse_version(text: str, *, what: str = "version") -> Version:
    """``v0.13``, ``0.13.2``, ``26.1.5+dfsg1``, ``v0.0.0+unknown`` -> (major, minor, patch)."""
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        raise UsageError(f"invalid {what} {text!r}: expected e.g. v0.13 or 26.1.5")
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def buildkit_of_docker(docker: Version) -> Version:
    out: Version = (0, 10, 0)
    for dv, bv in DOCKER_BUILDKIT:
        if docker >= dv:
            out = bv
    return out


def fmt(v: Version) -> str:
    return f"v{v[0]}.{v[1]}.{v[2]}" if v[2] else f"v{v[0]}.{v[1]}"


@dataclass(frozen=True, slots=True)
class Semantics:
    """The version-dependent switches of prune and GC, derived from the BuildKit/Docker versions."""

    buildkit: Version
    docker: Version | None = None

    @property
    def buildkit_text(self) -> str:
        return fmt(self.buildkit)

    @property
    def space_model(self) -> str:
        """``keepbytes`` (< v0.17), ``v0.17`` (reserved/maxUsed/minFree, minFree-only bug) or ``v0.21``."""
        if self.buildkit < (0, 17, 0):
            return "keepbytes"
        if self.buildkit < (0, 21, 0):
            return "v0.17"
        return "v0.21"

    @property
    def rank_base(self) -> int:
        """``sortDeleteRecords``: ranks start at 0 before v0.22 (0/0 is NaN: everything ties), at 1 since."""
        return 1 if self.buildkit >= (0, 22, 0) else 0

    @property
    def description_filter(self) -> bool:
        """The prune loop passes Description to the filter since v0.14 (``cache/manager.go``)."""
        return self.buildkit >= (0, 14, 0)

    @property
    def default_rule1_or(self) -> bool:
        """The default first rule's types are separate (ORed) list items since v0.31 / Docker 29.6."""
        if self.docker is not None:
            return self.docker >= (29, 6, 0)
        return self.buildkit >= (0, 31, 0)

    # dockerd daemon.json ------------------------------------------------------------------------------
    @property
    def docker_gc_default_enabled(self) -> bool:
        """``builder.gc.enabled`` defaults to true since Docker 28.2 (``BuilderGCConfig.IsEnabled``)."""
        return self.docker is not None and self.docker >= (28, 2, 0)

    @property
    def docker_space_fields(self) -> bool:
        """daemon.json reservedSpace/maxUsedSpace/minFreeSpace (and no keepStorage fallback) since 28.0."""
        return self.docker is not None and self.docker >= (28, 0, 0)

    @property
    def docker_percentage_bug(self) -> bool:
        """Docker 28.0–28.5.0 computed default percentages as ``Total / percentage`` (10%, 1.25%, 5%)."""
        return self.docker is not None and (28, 0, 0) <= self.docker < (28, 5, 1)


def semantics_for(
    buildkit: str | None, docker: str | None, *, detected: Semantics | None = None
) -> Semantics:
    """Flags win; else what a live daemon reported; else the newest BuildKit this module knows."""
    dv = parse_version(docker, what="--docker-version") if docker else None
    if buildkit:
        bv = parse_version(buildkit, what="--buildkit-version")
        if bv == (0, 0, 0) and dv is not None:
            bv = buildkit_of_docker(dv)
        return Semantics(bv, dv)
    if dv is not None:
        return Semantics(buildkit_of_docker(dv), dv)
    if detected is not None:
        return detected
    return Semantics(LATEST_BUILDKIT, None)
