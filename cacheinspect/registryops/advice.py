"""Which ``--cache-to`` attributes to use on a registry, for a given BuildKit version (pure).

BuildKit's registry cache exporter (``cache/remotecache/registry/registry.go``, read at each tag):

* before v0.12 there is no ``image-manifest`` attribute: the cache is always an index (an OCI index, or
  a Docker manifest list with ``oci-mediatypes=false``); ``oci-mediatypes`` defaults to true (v0.8+);
* v0.12 to v0.20: ``image-manifest`` exists and defaults to **false**;
* v0.21: ``image-manifest`` defaults to **true**, and ``oci-mediatypes=false`` alone then fails every
  export with "invalid configuration for remote cache, OCI mediatypes are required for image-manifest
  cache format" (moby/buildkit#5965);
* v0.22+: ``oci-mediatypes=false`` without ``image-manifest`` implies ``image-manifest=false``.

The advice always spells out ``image-manifest`` and ``oci-mediatypes`` for v0.12+, so the line means
the same on every version the user may upgrade to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cacheinspect.errors import UsageError

__all__ = ["Advice", "BuildKitVersion", "advise", "parse_buildkit_version"]

_VERSION_RE = re.compile(r"v?(\d{1,3})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[-+][0-9A-Za-z.+-]{0,64})?", re.ASCII)


@dataclass(frozen=True, slots=True, order=True)
class BuildKitVersion:
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def has_image_manifest(self) -> bool:
        return (self.major, self.minor) >= (0, 12)

    @property
    def image_manifest_default(self) -> bool:
        return (self.major, self.minor) >= (0, 21)


def parse_buildkit_version(text: str) -> BuildKitVersion:
    """``v0.25.2``, ``0.13``, ``v0.21.0-rc1`` -> a version; anything else is a usage error."""
    m = _VERSION_RE.fullmatch(text.strip())
    if m is None:
        raise UsageError(
            f"--buildkit-version {text[:60]!r}: expected a BuildKit version like v0.25.2 or 0.13"
        )
    return BuildKitVersion(int(m[1]), int(m[2]), int(m[3] or 0))


@dataclass(frozen=True, slots=True)
class Advice:
    """The attributes to use (``None``: no registry cache shape works), and why."""

    cache_to: str | None
    shape: str | None
    reasons: tuple[str, ...]


def advise(accepted: Mapping[str, bool], version: BuildKitVersion, ref: str = "REF") -> Advice:
    """The ``--cache-to`` line for *version* given which probe shapes the registry *accepted*.

    Preference: image-manifest (the one shape every registry that stores OCI images takes, and the
    default since v0.21), then the OCI index, then the Docker manifest list, then inline cache.
    ``compression=zstd`` is mentioned only as an option where the zstd probe was accepted.
    """
    reasons: list[str] = []
    ok = {k for k, v in accepted.items() if v}
    base = f"type=registry,ref={ref},mode=max"
    if "image-manifest" in ok and version.has_image_manifest:
        line = f"{base},image-manifest=true,oci-mediatypes=true"
        reasons.append("the registry accepts the image-manifest cache shape")
        if version.image_manifest_default:
            reasons.append(f"image-manifest=true and oci-mediatypes=true are the defaults on {version}")
        shape = "image-manifest"
    elif "oci-index" in ok:
        line = base + (",image-manifest=false,oci-mediatypes=true" if version.has_image_manifest else "")
        if "image-manifest" in ok:
            reasons.append(f"{version} has no image-manifest attribute (v0.12+): its cache is an OCI index")
        else:
            reasons.append("the registry refuses the image-manifest cache shape but accepts an OCI index")
        shape = "oci-index"
    elif "docker-manifest-list" in ok:
        line = base + ",oci-mediatypes=false"
        if version.has_image_manifest:
            line += ",image-manifest=false"
            if (version.major, version.minor) == (0, 21):
                reasons.append(
                    "on v0.21, oci-mediatypes=false without image-manifest=false fails every export "
                    "(moby/buildkit#5965)"
                )
        reasons.append("the registry takes only the Docker manifest list shape")
        shape = "docker-manifest-list"
    elif "inline" in ok:
        line = "type=inline"
        reasons.append("no registry cache shape is accepted; inline cache (mode=min) in the image works")
        shape = "inline"
    else:
        return Advice(None, None, ("no cache shape is accepted by this registry",))
    if shape in ("image-manifest", "oci-index"):
        if accepted.get("zstd"):
            reasons.append("zstd layers are accepted: compression=zstd may be added")
        elif "zstd" in accepted:
            reasons.append("zstd layers are refused: do not add compression=zstd")
    return Advice(line, shape, tuple(reasons))
