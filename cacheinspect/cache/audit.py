"""``audit``: a CI gate over cache exports.

The policy checks are pure (:func:`policy_findings`); :func:`audit_ref` is the I/O edge that loads a
ref, runs the importer-level validation, HEADs every blob and applies the policy. A ref that cannot
be read because it is missing or is not a cache is a *finding* (the gate ran and failed, exit 1); a ref
that cannot be read because of credentials or the network raises (the gate could not run: exit 3/5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cacheinspect.cache.findings import Finding, Severity
from cacheinspect.cache.graph import CacheGraph, build_graph
from cacheinspect.cache.load import LoadedCache, load_target
from cacheinspect.cache.report import summary
from cacheinspect.errors import IntegrityError, NotFoundError, UsageError
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.sources.base import ProgressCallback
from cacheinspect.sources.targets import open_source

__all__ = [
    "SCHEMA_AUDIT",
    "AuditPolicy",
    "AuditResult",
    "audit_ref",
    "blob_findings",
    "parse_duration",
    "policy_findings",
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
    except OverflowError:
        raise UsageError(f"duration {text!r} is too large") from None


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    check_blobs: bool = True
    max_age: timedelta | None = None
    expect_mode: Literal["max", "min"] | None = None
    require_platforms: tuple[str, ...] = ()
    min_layers: int | None = None
    fail_on: Severity = "error"


@dataclass(slots=True)
class AuditResult:
    ref: str
    findings: list[Finding]
    graph: CacheGraph | None = None
    fail_on: Severity = "error"
    extra: dict[str, Any] = field(default_factory=dict)

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
        if self.graph is not None:
            out["kind"] = self.graph.cache.kind
            out["shape"] = self.graph.cache.shape
            out["summary"] = summary(self.graph)
        return out


def _normalize_platform(p: str) -> list[str]:
    """containerd's normalisation: arm64's default variant is v8, amd64's is v1."""
    parts = p.lower().split("/")
    if parts[1:] in (["arm64", "v8"], ["amd64", "v1"]):
        parts = parts[:2]
    return parts


def _platform_matches(want: str, have: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8`` both ways; another variant given in *want* must match."""
    w, h = _normalize_platform(want), _normalize_platform(have)
    return w == h[: len(w)]


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
        elif not any(_platform_matches(want, have) for have in c.platforms):
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


async def blob_findings(
    target: str, options: RegistryOptions, cache: LoadedCache, progress: ProgressCallback | None
) -> list[Finding]:
    """HEAD every layer blob the cache lists; each missing one is an error finding naming its digest."""
    if cache.location == "file":
        raise UsageError(
            "checking blobs needs a registry or layout cache (a bare config names no repository)"
        )
    async with open_source(target, options) as src:
        found = await src.blobs_exist(sorted(cache.blobs), progress=progress)
    return [
        Finding.of("blob-missing", f"layer blob {d} is missing from {cache.ref}", subject=d)
        for d, ok in sorted(found.items())
        if not ok
    ]


async def audit_ref(
    target: str,
    options: RegistryOptions,
    policy: AuditPolicy,
    *,
    now: datetime,
    image: str | None = None,
    progress: ProgressCallback | None = None,
) -> AuditResult:
    """Load *target*, validate it like BuildKit's importer, HEAD its blobs and apply *policy*.

    A missing ref or one that is not a cache is a finding (the gate ran and failed); credential and
    network failures raise (the gate could not run), so CI sees exit 3/5 rather than a false "fail".
    """
    try:
        cache = await load_target(target, options, image=image)
    except NotFoundError as e:
        return AuditResult(
            target, [Finding.of("not-a-cache", e.message, subject=target)], fail_on=policy.fail_on
        )
    except IntegrityError as e:
        return AuditResult(
            target, [Finding.of("not-a-cache", e.message, subject=target)], fail_on=policy.fail_on
        )
    g = build_graph(cache)
    findings = list(g.findings)
    if policy.check_blobs and cache.location != "file":
        try:
            findings += await blob_findings(target, options, cache, progress)
        except IntegrityError as e:  # e.g. a malformed digest in the manifest: report, go on with the rest
            findings.append(Finding.of("malformed-content", e.message, subject=target))
    findings += policy_findings(g, policy, now)
    return AuditResult(target, findings, g, fail_on=policy.fail_on)
