"""``audit``: a CI gate over cache exports, exactly as strict as BuildKit's importer.

The policy checks are pure (:func:`policy_findings`); :func:`audit_ref` is the I/O edge that loads a
ref, runs the importer-level validation, checks every blob and applies the policy. Errors are what
makes BuildKit drop the whole cache (or fail mid-build); warnings what it silently ignores; so a ref
passes exactly when the importer would use it (``docs/importer-parity.md``). Every failure to read a
ref is a finding of that ref, so the other refs are still checked and every format still prints: a
missing ref is ``cache-not-found`` (``--allow-missing``: info), content that is not a cache
``not-a-cache``, a digest or size failure ``integrity-failure``; a ref that cannot be reached
(credentials, network) is ``unreachable`` and makes the CLI exit 3/5 after printing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from cacheinspect._aio import gather
from cacheinspect.cache.findings import Finding, Severity
from cacheinspect.cache.graph import CacheGraph, build_graph
from cacheinspect.cache.load import (
    CacheNotFoundError,
    LoadedCache,
    NoInlineCacheError,
    NotACacheError,
    load_cache,
    load_target,
)
from cacheinspect.cache.open import open_source
from cacheinspect.cache.report import summary
from cacheinspect.errors import (
    CacheInspectError,
    DigestMismatchError,
    IntegrityError,
    NotFoundError,
    SizeLimitError,
    UsageError,
)
from cacheinspect.platforms import platform_matches
from cacheinspect.reference import Reference
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.sources.base import ProgressCallback, Source
from cacheinspect.sources.layout import LayoutSource
from cacheinspect.sources.targets import FileTarget, parse_target

__all__ = [
    "SCHEMA_AUDIT",
    "AuditPolicy",
    "AuditResult",
    "audit_ref",
    "audit_refs",
    "audit_source",
    "blob_findings",
    "parse_duration",
    "policy_findings",
    "source_blob_findings",
]

SCHEMA_AUDIT = "cacheinspect.audit/v1"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``7d``, ``2w``, ``1d12h`` -> timedelta; anything else is a usage error."""
    t = text.strip().lower()
    parts = _DURATION_RE.findall(t)
    if not t or "".join(n + u for n, u in parts) != t:
        raise UsageError(f"invalid duration {text!r}: use a number with s, m, h, d or w, e.g. 12h, 7d, 1d12h")
    try:
        return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))
    except (OverflowError, ValueError):  # ValueError: more digits than int() converts (4300)
        raise UsageError(f"duration {text[:40]!r} is too large") from None


class AuditPolicy(msgspec.Struct, frozen=True):
    """What `audit` checks and the severity that fails the gate (the CLI flags, one value per run)."""

    check_blobs: bool = True
    max_age: timedelta | None = None
    expect_mode: Literal["max", "min"] | None = None
    require_platforms: tuple[str, ...] = ()
    min_layers: int | None = None
    fail_on: Severity = "error"
    #: A ref that does not exist (404) passes, as info: the first run of a pipeline has no cache yet.
    allow_missing: bool = False
    #: Download every layer blob and check its digest (layouts: hashed on disk).
    verify_blobs: bool = False


class AuditResult(msgspec.Struct):
    """One audited ref: its findings, the graph when it loaded, and the exit code when it could not be checked."""

    ref: str
    findings: list[Finding]
    graph: CacheGraph | None = None
    fail_on: Severity = "error"
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Set when the ref could not be checked at all (3 auth, 5 registry): the CLI exits with the worst.
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        failing = ("error",) if self.fail_on == "error" else ("error", "warning")
        return not any(f.severity in failing for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ref": self.ref,
            "ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
        }
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.graph is not None:
            out["kind"] = self.graph.cache.kind
            out["shape"] = self.graph.cache.shape
            out["summary"] = summary(self.graph)
        return out


def policy_findings(g: CacheGraph, p: AuditPolicy, now: datetime) -> list[Finding]:
    """Findings from the configurable checks (pure: *now* is passed in)."""
    out: list[Finding] = []
    c = g.cache
    if p.max_age is not None:
        _, newest = g.times()
        if newest is None:
            out.append(Finding.of("no-timestamps", "no createdAt in the cache: its age cannot be checked"))
        elif now - newest > p.max_age:
            age = now - newest
            out.append(
                Finding.of(
                    "stale-cache",
                    f"newest entry is from {newest.isoformat()}, {_fmt_age(age)} old "
                    f"(limit {_fmt_age(p.max_age)})",
                    newest=newest.isoformat(),
                    age_seconds=int(age.total_seconds()),
                )
            )
    if p.expect_mode is not None:
        mode = g.mode
        bad = (
            mode == "empty"
            or (p.expect_mode == "max" and mode in ("min", "inline"))
            or (p.expect_mode == "min" and mode == "max")
        )
        if bad:
            out.append(
                Finding.of(
                    "mode-mismatch",
                    f"expected mode={p.expect_mode}, cache looks like mode={mode}: {g.mode_reason}",
                    expected=p.expect_mode,
                    mode=mode,
                )
            )
    for want in p.require_platforms:
        if not c.platforms:
            out.append(
                Finding.of(
                    "platform-unknown",
                    f"cannot check platform {want}: a registry cache does not record "
                    "platforms; pass --image with an image built from it",
                    subject=want,
                )
            )
        elif not any(platform_matches(want, have) for have in c.platforms):
            out.append(
                Finding.of(
                    "platform-missing",
                    f"platform {want} is not in the cache (has {', '.join(c.platforms)})",
                    subject=want,
                )
            )
    if p.min_layers is not None and len(c.blobs) < p.min_layers:
        out.append(
            Finding.of(
                "too-few-layers",
                f"{len(c.blobs)} distinct layer blobs, fewer than --min-layers {p.min_layers}",
                layers=len(c.blobs),
                min_layers=p.min_layers,
            )
        )
    return out


def _fmt_age(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    if s >= 3600:
        return f"{s / 3600:.1f}h"
    return f"{s // 60}m"


#: Largest blob --verify-blobs reads into memory from a Source that is neither a registry nor a layout
#: (those two stream / hash in chunks, with no cap).
VERIFY_MAX_BYTES = 1 << 30


async def blob_findings(
    target: str, options: RegistryOptions, cache: LoadedCache, progress: ProgressCallback | None
) -> list[Finding]:
    """:func:`source_blob_findings` for a target not yet open (``inspect --check-blobs``)."""
    if cache.location == "file":
        raise UsageError(
            "checking blobs needs a registry or layout cache (a bare config names no repository)"
        )
    async with open_source(target, options) as src:
        return await source_blob_findings(src, cache, progress)


async def source_blob_findings(
    src: Source,
    cache: LoadedCache,
    progress: ProgressCallback | None,
    *,
    verify: bool = False,
) -> list[Finding]:
    """Every layer blob the cache lists must exist (HEAD, or a stat in a layout); in a layout its size must
    match the descriptor; with *verify*, its bytes must hash to its digest. One finding per bad blob."""
    out: list[Finding] = []
    digests = sorted(cache.blobs)
    if isinstance(src, LayoutSource):
        sizes = src.blob_sizes(digests)
        found = {d: sizes[d] is not None for d in digests}
        for d in digests:
            want, have = cache.blobs[d].size, sizes[d]
            if have is not None and want is not None and want != have:
                out.append(
                    Finding.of(
                        "blob-size-mismatch",
                        f"layer blob {d} is {have} bytes, its descriptor says {want}",
                        subject=d,
                        declared=want,
                        actual=have,
                    )
                )
    else:
        found = await src.blobs_exist(digests, progress=progress)
    out += [
        Finding.of("blob-missing", f"layer blob {d} is missing from {cache.ref}", subject=d)
        for d, ok in sorted(found.items())
        if not ok
    ]
    if verify:
        for d in (d for d in digests if found.get(d)):
            try:
                ok = await _verify_one(src, d, cache.blobs[d].size)
            except IntegrityError as e:  # cut short in transit: not verified, and said so
                out.append(
                    Finding.of(
                        "integrity-failure", f"layer blob {d} could not be verified: {e.message}", subject=d
                    )
                )
                continue
            if not ok:
                out.append(
                    Finding.of(
                        "blob-digest-mismatch",
                        f"layer blob {d} does not hash to its digest",
                        subject=d,
                    )
                )
    return out


async def _verify_one(src: Source, digest: str, size: int | None) -> bool:
    """Does the blob hash to its digest? Layouts hash the file in chunks and registries stream it, so
    layers of any size are verified. Other :class:`Source` implementations fetch it into memory, up to
    ``VERIFY_MAX_BYTES`` (over that, the SizeLimitError becomes an ``integrity-failure`` finding of the
    blob: never a silent pass)."""
    from cacheinspect.registry.source import RegistrySource

    if isinstance(src, LayoutSource):
        return src.verify_blob(digest) is not False
    if isinstance(src, RegistrySource):
        return await src.verify_blob(digest, size=size)
    try:
        await src.fetch_blob(digest, max_bytes=VERIFY_MAX_BYTES)  # the source verifies what it serves
    except DigestMismatchError:
        return False
    return True


def _error_finding(target: str, e: CacheInspectError, policy: AuditPolicy) -> tuple[Finding, int | None]:
    """The finding a load failure of *target* becomes, and the exit code it forces (None: just "findings").

    A 404 on the ref is ``cache-not-found`` (``--allow-missing`` makes it info: a first run); content
    that exists but is not a cache is ``not-a-cache``; bytes that fail their digest or size are
    ``integrity-failure``; content Go's decoder or BuildKit's checks refuse is ``malformed-content``; a
    missing config or manifest blob is ``blob-missing``. Network and credential failures are
    ``unreachable`` and keep their own exit code (3 or 5): the gate could not vouch for the ref.
    """
    msg = e.message
    if isinstance(e, CacheNotFoundError):
        f = Finding.of("cache-not-found", msg, subject=target)
        if policy.allow_missing:
            f = Finding("cache-not-found", msg + " (allowed: --allow-missing)", "info", target)
        return f, None
    if isinstance(e, NotACacheError | NoInlineCacheError):
        return Finding.of("not-a-cache", msg, subject=target), None
    if isinstance(e, NotFoundError):
        return Finding.of("blob-missing", msg, subject=target), None
    if isinstance(e, DigestMismatchError | SizeLimitError):
        return Finding.of("integrity-failure", msg, subject=target), None
    if isinstance(e, IntegrityError):
        return Finding.of("malformed-content", msg, subject=target), None
    return Finding.of("unreachable", msg, subject=target), e.exit_code


async def audit_ref(
    target: str,
    options: RegistryOptions,
    policy: AuditPolicy,
    *,
    now: datetime,
    image: str | None = None,
    progress: ProgressCallback | None = None,
) -> AuditResult:
    """Load *target*, validate it like BuildKit's importer, check its blobs and apply *policy*.

    One :class:`Source` (one client, one token) serves both the load and the blob checks. Every failure
    to read the ref becomes a finding of that ref (see :func:`_error_finding`); only usage errors (a bad
    flag, a local path that is not there) raise. ``result.exit_code`` carries 3/5 for an unreachable ref.
    """
    try:
        t = parse_target(target)
        if isinstance(t, FileTarget):
            cache = await load_target(target, options, image=image)
            return _finish(target, cache, [], policy, now)
        async with open_source(target, options) as src:
            if image is None:
                return await audit_source(src, policy, now=now, progress=progress, name=target)
            async with open_source(image, options) as img:
                return await audit_source(src, policy, now=now, image=img, progress=progress, name=target)
    except UsageError:
        raise
    except CacheInspectError as e:
        f, code = _error_finding(target, e, policy)
        return AuditResult(target, [f], fail_on=policy.fail_on, exit_code=code)


async def audit_source(
    src: Source,
    policy: AuditPolicy,
    *,
    now: datetime,
    image: Source | None = None,
    progress: ProgressCallback | None = None,
    name: str | None = None,
) -> AuditResult:
    """:func:`audit_ref` on an open :class:`Source` (the one used for the load and the blob checks)."""
    target = name or src.display
    try:
        cache = await load_cache(src, image=image)
        extra: list[Finding] = []
        if policy.check_blobs or policy.verify_blobs:
            try:
                extra = await source_blob_findings(src, cache, progress, verify=policy.verify_blobs)
            except IntegrityError as e:  # a malformed digest in the manifest: report, go on
                extra = [Finding.of("malformed-content", e.message, subject=target)]
        return _finish(target, cache, extra, policy, now)
    except UsageError:
        raise
    except CacheInspectError as e:
        f, code = _error_finding(target, e, policy)
        return AuditResult(target, [f], fail_on=policy.fail_on, exit_code=code)


def _finish(
    target: str, cache: LoadedCache, extra: list[Finding], policy: AuditPolicy, now: datetime
) -> AuditResult:
    g = build_graph(cache)
    findings = [*g.findings, *extra, *policy_findings(g, policy, now)]
    return AuditResult(target, findings, g, fail_on=policy.fail_on)


def _host_key(target: str) -> str:
    """Refs on one registry host share its request limit: they are audited one after the other."""
    try:
        t = parse_target(target)
    except CacheInspectError:
        return f"local:{target}"
    return f"registry:{t.registry}" if isinstance(t, Reference) else f"local:{target}"


async def audit_refs(
    targets: list[str],
    options: RegistryOptions,
    policy: AuditPolicy,
    *,
    now: datetime,
    image: str | None = None,
    progress_for: Callable[[str], ProgressCallback | None] | None = None,
) -> list[AuditResult]:
    """Audit several refs concurrently: hosts in parallel, refs of one host in turn (so the per-host
    ``--concurrency`` limit holds); results in the order given."""
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        groups.setdefault(_host_key(t), []).append(i)
    results: list[AuditResult | None] = [None] * len(targets)

    async def run_group(idxs: list[int]) -> None:
        for i in idxs:
            prog = progress_for(targets[i]) if progress_for else None
            results[i] = await audit_ref(targets[i], options, policy, now=now, image=image, progress=prog)

    await gather(*(run_group(ix) for ix in groups.values()))
    return [r for r in results if r is not None]
