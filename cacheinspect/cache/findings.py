"""Findings: what the inspector, the validator and the audit gate report (pure).

A finding's ``code`` is a stable identifier that scripts and CI can match on; the README lists every
code. ``severity`` is ``error`` (BuildKit would fail or silently lose cache; audit exits 1),
``warning`` (cache works but is degraded or suspicious) or ``info``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["CODES", "Finding", "Severity"]

Severity = Literal["error", "warning", "info"]

#: code -> (default severity, one-line meaning). The README table is generated from this.
CODES: dict[str, tuple[Severity, str]] = {
    "config-over-import-cap": (
        "error",
        "cache config is over BuildKit's 1 MiB import cap: every import fails",
    ),
    "manifest-over-import-cap": (
        "error",
        "cache manifest is over BuildKit's 1 MiB import cap: every import fails",
    ),
    "looping-record": (
        "error",
        "a record links to itself through its inputs: BuildKit drops the whole cache",
    ),
    "invalid-record-link": (
        "error",
        "an input links to a record index out of range: BuildKit drops the whole cache",
    ),
    "empty-input": ("error", "a record has an input with no links: BuildKit drops the whole cache"),
    "looping-layer": ("error", "a layer's parent chain loops: BuildKit drops the whole cache"),
    "invalid-layer-index": (
        "error",
        "a result or parent points at a layer index out of range: BuildKit drops the cache",
    ),
    "layer-blob-not-in-manifest": (
        "warning",
        "a config layer's blob is not listed in the manifest: BuildKit silently drops that result",
    ),
    "blob-missing": ("error", "a layer blob listed by the cache does not exist in the registry"),
    "malformed-content": ("error", "content that should be a digest, manifest or config does not parse"),
    "not-a-cache": ("error", "the reference holds neither a cache config nor an image with inline cache"),
    "no-inline-cache": ("warning", "an image config carries no inline cache (moby.buildkit.cache.v0)"),
    "empty-cache": ("warning", "the cache config holds no records"),
    "no-results": ("warning", "no record carries a result: the cache holds keys but no layers to reuse"),
    "cache-mount-step": (
        "info",
        "an image step ran with RUN --mount=type=cache (inspect --dockerfile): what it wrote into the mount "
        "is in no layer and no exported cache",
    ),
    "mode-min": ("info", "the cache looks like a mode=min export: builder stages carry keys, not layers"),
    "mode-mismatch": ("error", "the cache's export mode is not the one required (--expect-mode)"),
    "stale-cache": ("error", "the newest createdAt is older than --max-age"),
    "no-timestamps": ("warning", "no result carries a createdAt, so the cache's age cannot be checked"),
    "platform-missing": ("error", "a required platform (--require-platform) is not in the cache"),
    "platform-unknown": (
        "error",
        "--require-platform cannot be checked: a registry cache does not record platforms (pass --image)",
    ),
    "too-few-layers": ("error", "the cache holds fewer distinct layer blobs than --min-layers"),
    "attestation-skipped": ("info", "attestation manifests of an image index were skipped"),
    "unknown-media-type": ("warning", "a layer descriptor has a media type BuildKit does not produce"),
    "several-cache-configs": (
        "warning",
        "an index lists several cache config descriptors: BuildKit silently uses the last one",
    ),
    "blob-size-mismatch": (
        "error",
        "a blob's size differs from its descriptor's: the pull of that blob fails mid-build",
    ),
    "blob-digest-mismatch": (
        "error",
        "a layer blob's bytes do not hash to its digest (--verify-blobs): the pull fails mid-build",
    ),
    "image-unrelated": (
        "warning",
        "--image is not built from this cache: no label, platform or mode is taken from it",
    ),
    "inline-layers-mismatch": (
        "warning",
        "an image's layer count differs from its rootfs.diff_ids: BuildKit ignores its inline cache",
    ),
    "inline-history-short": (
        "error",
        "an image with inline cache has fewer non-empty history entries than layers: the importer panics",
    ),
    "cache-not-found": (
        "error",
        "the cache ref does not exist (a first run?); --allow-missing turns this into info",
    ),
    "integrity-failure": (
        "error",
        "fetched content does not match its digest or size: the importer refuses it",
    ),
    "unreachable": (
        "error",
        "the ref could not be checked (network, auth, registry error): the gate cannot vouch for it",
    ),
    "compression-variants": (
        "info",
        "some layers are stored in several compressions (same diffID, different blobs)",
    ),
}


class Finding(msgspec.Struct, frozen=True):
    """One finding about a cache: a stable code, a message, a severity and (for scripts) its subject."""

    code: str
    message: str
    severity: Severity = "warning"
    #: What the finding is about: a digest, a record index, a platform (for scripts; may be None).
    subject: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def of(cls, code: str, message: str, *, subject: str | None = None, **details: Any) -> Finding:
        """A finding with the code's default severity (the one place severities are decided)."""
        return cls(code=code, message=message, severity=CODES[code][0], subject=subject, details=details)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.subject is not None:
            out["subject"] = self.subject
        if self.details:
            out["details"] = self.details
        return out
