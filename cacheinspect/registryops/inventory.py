"""Who holds which bytes in a repository, and which cache tags a prune would delete (pure).

A tag *holds* the blobs its manifest names (config and layers; for an index of images, those of every
child manifest). A blob is **unique** to a tag when no other tag of the repository names it, and
**shared** otherwise: deleting the tag gives back only its unique bytes, and only after the registry's own
garbage collection runs (a manifest DELETE frees no blob by itself).

A prune deletes manifests **by digest** (distribution-spec: ``DELETE /v2/<name>/manifests/<digest>``).
On CNCF distribution that removes *every* tag pointing at that digest, so a cache tag whose manifest
another kept tag also points at, or names as a child of its image index, is never deleted (it is
reported as kept, with the reason). The bytes
that come back are the blobs held by deleted tags and by no kept tag.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cacheinspect.errors import UsageError

__all__ = [
    "PlanEntry",
    "PrunePlan",
    "PruneSelection",
    "TagInfo",
    "TagUsage",
    "parse_age",
    "plan_prune",
    "protecting_tags",
    "usage",
]


def parse_age(text: str) -> float:
    """``--older-than``: the duration syntax of ``audit --max-age`` (``90m``, ``12h``, ``7d``, ``2w``,
    ``1d12h``; one parser, so the same value means the same in both commands) -> seconds."""
    from cacheinspect.cache.audit import parse_duration

    return parse_duration(text).total_seconds()


@dataclass(slots=True)
class TagInfo:
    """One tag as read from the registry."""

    tag: str
    digest: str
    media_type: str
    #: "image-manifest", "oci-index", "docker-manifest-list", "inline", "image" (no inline cache),
    #: "artifact" (referrers, signatures ...), "unknown" (could not be read).
    shape: str
    #: Blob digest -> size, every blob the tag holds (config and layers, children's included).
    blobs: dict[str, int] = field(default_factory=dict)
    #: The layer blobs among ``blobs`` (the cache's results, or the image's layers).
    layers: set[str] = field(default_factory=set)
    #: Digests of the child manifests an image index names (a DELETE of one of them breaks this tag).
    children: set[str] = field(default_factory=set)
    records: int | None = None
    newest: datetime | None = None
    error: str | None = None

    @property
    def is_cache(self) -> bool:
        return self.shape in ("image-manifest", "oci-index", "docker-manifest-list", "inline")


@dataclass(frozen=True, slots=True)
class TagUsage:
    tag: str
    layer_bytes: int
    blob_bytes: int
    unique_bytes: int
    shared_bytes: int


def usage(tags: Sequence[TagInfo]) -> dict[str, TagUsage]:
    """Per tag: its layer bytes, all its blob bytes, and how many of those no other tag holds."""
    holders: dict[str, int] = {}
    for t in tags:
        for b in t.blobs:
            holders[b] = holders.get(b, 0) + 1
    out: dict[str, TagUsage] = {}
    for t in tags:
        unique = sum(size for b, size in t.blobs.items() if holders[b] == 1)
        total = sum(t.blobs.values())
        layer_bytes = sum(t.blobs[b] for b in t.layers if b in t.blobs)
        out[t.tag] = TagUsage(t.tag, layer_bytes, total, unique, total - unique)
    return out


@dataclass(frozen=True, slots=True)
class PruneSelection:
    keep: int | None = None
    older_than: float | None = None
    tag_pattern: str | None = None
    #: Images with inline cache are images first (the deliverable, not a cache tag): candidates only
    #: when asked for.
    include_inline: bool = False

    def __post_init__(self) -> None:
        if self.keep is None and self.older_than is None and self.tag_pattern is None:
            raise UsageError("registry prune needs at least one of --keep N, --older-than D, --tag-pattern P")
        if self.keep is not None and self.keep < 0:
            raise UsageError("--keep must be 0 or more")


@dataclass(frozen=True, slots=True)
class PlanEntry:
    tag: str
    digest: str
    shape: str
    newest: datetime | None
    delete: bool
    reason: str


@dataclass(slots=True)
class PrunePlan:
    entries: list[PlanEntry]
    #: Bytes of the blobs held by deleted tags and by no kept tag (what the registry's GC can free).
    reclaimed_bytes: int
    reclaimed_blobs: int

    @property
    def deletes(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.delete]


def protecting_tags(kept: Iterable[TagInfo]) -> dict[str, str]:
    """Manifest digest -> why no DELETE may touch it: a kept tag points at it or names it as a child."""
    out: dict[str, str] = {}
    for k in sorted(kept, key=lambda x: x.tag):
        if k.digest:
            out.setdefault(k.digest, f"same manifest as kept tag {k.tag}")
        for child in sorted(k.children):
            out.setdefault(child, f"a child manifest of kept tag {k.tag}")
    return out


def _sort_key(t: TagInfo) -> tuple[float, str]:
    # newest first; a tag without any record time counts as the oldest
    ts = t.newest.timestamp() if t.newest is not None else float("-inf")
    return (-ts, t.tag)


def plan_prune(tags: Sequence[TagInfo], sel: PruneSelection, now: datetime) -> PrunePlan:
    """Which cache tags to delete under *sel*, and the bytes that really come back.

    Candidates are the cache tags (any registry cache shape; images with inline cache only with
    ``--include-inline``: such a tag is an image someone may deploy) matching ``--tag-pattern`` (a shell
    glob; all of them without one). Among them ``--keep N`` keeps the N newest (by newest record time) and
    ``--older-than D`` keeps those with a record newer than D; a tag is deleted only when every given
    rule lets it go. Non-cache tags are never candidates; every tag not deleted protects its blobs and
    its manifest digest.
    """
    cands = [
        t
        for t in tags
        if t.is_cache
        and (t.shape != "inline" or sel.include_inline)
        and (sel.tag_pattern is None or fnmatch.fnmatchcase(t.tag, sel.tag_pattern))
    ]
    cands.sort(key=_sort_key)
    want: dict[str, str] = {}
    for i, t in enumerate(cands):
        reasons: list[str] = []
        if sel.keep is not None:
            if i < sel.keep:
                continue
            reasons.append(f"not among the {sel.keep} newest")
        if sel.older_than is not None:
            if t.newest is not None and (now - t.newest).total_seconds() < sel.older_than:
                continue
            reasons.append("no record newer than --older-than" if t.newest else "no record time")
        if not reasons:
            reasons.append("matches --tag-pattern")
        want[t.tag] = "; ".join(reasons)
    # A digest another kept tag points at, or names as a child manifest, cannot be deleted: DELETE by
    # digest drops every tag on it, and an index whose child is gone no longer pulls.
    protected = protecting_tags(t for t in tags if t.tag not in want)
    entries: list[PlanEntry] = []
    deleted: set[str] = set()
    for t in sorted(tags, key=lambda x: x.tag):
        if t.tag in want and t.digest in protected:
            entries.append(PlanEntry(t.tag, t.digest, t.shape, t.newest, False, protected[t.digest]))
        elif t.tag in want:
            entries.append(PlanEntry(t.tag, t.digest, t.shape, t.newest, True, want[t.tag]))
            deleted.add(t.tag)
        elif t.shape == "inline" and not sel.include_inline:
            entries.append(
                PlanEntry(
                    t.tag, t.digest, t.shape, t.newest, False, "an image (--include-inline to prune it)"
                )
            )
        elif t.is_cache:
            entries.append(PlanEntry(t.tag, t.digest, t.shape, t.newest, False, "kept"))
    kept_blobs: set[str] = set()
    for t in tags:
        if t.tag not in deleted:
            kept_blobs.update(t.blobs)
    freed: dict[str, int] = {}
    for t in tags:
        if t.tag in deleted:
            for b, size in t.blobs.items():
                if b not in kept_blobs:
                    freed[b] = size
    return PrunePlan(entries, sum(freed.values()), len(freed))
