"""``gc lint``: the traps of BuildKit GC policies and prune flags, each a stable code.

Rules are data (:data:`RULES`: code, name, the versions it applies to, the fix) so the README table,
``--help`` and the findings share one source, as BuildKit's own ``linter/ruleset.go`` does. A check sees
the parsed :class:`~cacheinspect.gc.policy.Policy` (and the raw config for keys that parsing drops) and
the version semantics; with no version given, a version-dependent trap is reported when the config has
the pattern, and its ``applies`` says for which versions it bites.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import parse_filter_item
from cacheinspect.gc.policy import Disk, Policy, PruneRule, parse_prune_command
from cacheinspect.gc.versions import Semantics

__all__ = ["RULES", "Finding", "LintRule", "finding", "lint_policy", "lint_prune_command"]


@dataclass(frozen=True, slots=True)
class LintRule:
    """One trap as data: its stable code, name, severity, the versions it bites and the fix."""

    code: str
    name: str
    severity: str  # error | warning | info
    applies: str
    summary: str
    fix: str


RULES: dict[str, LintRule] = {
    r.code: r
    for r in (
        LintRule("GC000", "config-rejected", "error", "all versions",
                 "the daemon rejects this GC configuration or prune command (it would fail to start or to prune)",
                 "fix the field named in the message"),
        LintRule("GC001", "default-rule-and-filter", "warning", "BuildKit < v0.31, Docker < 29.6",
                 "the default policy's first rule is one comma-joined filter, an AND of three types that matches "
                 "nothing: contexts and cache mounts are never pruned first",
                 "write the policy out with one rule per type, or upgrade to BuildKit v0.31 / Docker 29.6"),
        LintRule("GC002", "contradictory-filter", "error", "all versions",
                 "one filter item ANDs two different values of the same field (comma-joined selectors are ANDed): "
                 "it matches nothing",
                 "put each value in its own filter item (buildkitd.toml filters = [\"type==a\", \"type==b\"]) "
                 "or its own rule / prune run"),
        LintRule("GC003", "gc-disabled", "error", "Docker < 28.2 (default off); any version with enabled=false",
                 "no garbage collection runs: the cache grows until the disk is full",
                 "set \"builder\": {\"gc\": {\"enabled\": true, ...}} in daemon.json"),
        LintRule("GC004", "rule-without-size", "warning", "Docker >= 28.0",
                 "a custom daemon.json rule with no reservedSpace/maxUsedSpace/minFreeSpace/keepStorage deletes "
                 "every unreferenced match at each GC run (before 28.0 dockerd refused to start without keepStorage)",
                 "give the rule a size, e.g. \"reservedSpace\": \"10GB\""),
        LintRule("GC005", "never-matching-field", "warning", "all versions (description: BuildKit < v0.14)",
                 "the prune loop never exposes this field to filters (parents, inuse, docker's parent; "
                 "description before v0.14): the selector never matches",
                 "filter on id, type, shared/private or mutable instead"),
        LintRule("GC006", "daemon-json-keepduration", "warning", "all Docker versions",
                 "dockerd's GC rules have no keepDuration field: it is silently ignored",
                 "use a filter: \"filter\": [\"until=48h\"]"),
        LintRule("GC007", "time-only-rule", "info", "all versions",
                 "a rule that only expires by age relies on GC running, but GC runs only at start-up and after "
                 "builds, at most once a minute: on an idle builder nothing expires",
                 "run `docker builder prune --filter until=…` from cron, or add a size target"),
        LintRule("GC008", "builder-prune-frontend", "warning", "docker CLI with or without the buildx plugin",
                 "`docker builder prune` is forwarded to buildx when the plugin is installed and goes to the "
                 "Engine API otherwise; these flags mean different things (or fail) on the two paths",
                 "call `docker buildx prune` explicitly, and use a duration for until="),
        LintRule("GC009", "minfree-only", "error", "BuildKit v0.17 - v0.20",
                 "a rule with only minFreeSpace deletes every match when the disk already has that much free "
                 "space (calculateKeepBytes returns 0 = no target)",
                 "add reservedSpace or maxUsedSpace, or upgrade to BuildKit v0.21"),
        LintRule("GC010", "docker-default-percentages", "warning", "Docker 28.0 - 28.5.0",
                 "the default sizes are Total/10, Total/80 and Total/20 of the disk (maxUsedSpace 1.25% "
                 "instead of 80%): the default policy prunes far more than documented",
                 "set defaultReservedSpace/defaultMaxUsedSpace/defaultMinFreeSpace, or upgrade to 28.5.1"),
        LintRule("GC011", "buildctl-keep-storage", "warning", "buildctl >= v0.17",
                 "buildctl --keep-storage is maxUsedSpace (buildx's is reservedSpace); a daemon older than "
                 "v0.17 drops it and the prune deletes every match",
                 "use --keep-storage-min for a reserve, or buildctl of the daemon's release"),
        LintRule("GC012", "never-reclaims", "warning", "all versions",
                 "this policy can never reclaim anything (every filter matches nothing, or the size target is "
                 "at least the disk size)",
                 "lower the target or fix the filters"),
        LintRule("GC013", "cache-mounts-first", "info", "all versions (custom policies)",
                 "exec.cachemount/source.local records are deleted before any regular record: builds relying "
                 "on RUN --mount=type=cache or on incremental context transfer lose them first",
                 "order rules so regular records go first, or give the cache-mount rule a larger target"),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence of a trap in a configuration or prune command (``where`` names the rule)."""

    code: str
    name: str
    severity: str
    message: str
    applies: str
    fix: str
    where: str


def finding(code: str, message: str, where: str) -> Finding:
    r = RULES[code]
    return Finding(code, r.name, r.severity, message, r.applies, r.fix, where)


def _contradiction(item: str) -> str | None:
    f = parse_filter_item(item)
    seen: dict[str, str] = {}
    for s in f.selectors:
        if s.op != "==":
            continue
        if s.field in seen and seen[s.field] != s.value:
            return f"{s.field}=={seen[s.field]} AND {s.field}=={s.value}"
        seen[s.field] = s.value
    return None


def _never_fields(item: str, sem: Semantics | None) -> list[str]:
    out = []
    for s in parse_filter_item(item).selectors:
        if s.op == "!=":
            continue
        if s.field in ("parents", "parent", "inuse") or (
            s.field == "description" and (sem is None or not sem.description_filter)
        ):
            out.append(s.text())
    return out


def _is_default(policy: Policy) -> bool:
    return bool(policy.rules) and all(r.origin.endswith("default policy") for r in policy.rules)


def lint_policy(policy: Policy, sem: Semantics | None, *, disk: Disk | None = None) -> list[Finding]:
    """Findings for a GC policy or a prune command already parsed for ``sem``."""
    out: list[Finding] = []
    src = policy.source
    raw_gc = policy.raw.get("builder.gc") if policy.raw else None
    if policy.kind == "gc" and not policy.enabled:
        out.append(
            finding("GC003", f"{src}: GC is not enabled; " + ("; ".join(policy.notes) or "no GC runs"), src)
        )
    if policy.frontend == "dockerd" and isinstance(raw_gc, dict):
        for i, rule in enumerate(raw_gc.get("policy") or raw_gc.get("Policy") or []):
            if isinstance(rule, dict):
                for k in rule:
                    if k.lower().replace("-", "").replace("_", "") == "keepduration":
                        out.append(
                            finding(
                                "GC006", f"{src}: policy[{i}].{k} is ignored by dockerd", f"{src} policy[{i}]"
                            )
                        )
        if (
            _is_default(policy)
            and sem is not None
            and sem.docker_percentage_bug
            and not any(k.lower().startswith("default") for k in raw_gc)
        ):
            out.append(
                finding("GC010", f"{src}: Docker {'.'.join(map(str, sem.docker or ()))} default sizes", src)
            )
    dead_rules = 0
    for i, rule in enumerate(policy.rules):
        where = f"{src} rule {i + 1}" + (f" ({rule.origin})" if rule.origin else "")
        for item in rule.filters:
            if not item:
                continue
            c = _contradiction(item)
            if c:
                if rule.origin.endswith("default policy"):
                    if sem is None or not sem.default_rule1_or:
                        out.append(
                            finding("GC001", f"{where}: filter {item!r} is {c}: matches nothing", where)
                        )
                else:
                    out.append(finding("GC002", f"{where}: filter {item!r} is {c}: matches nothing", where))
            nf = _never_fields(item, sem)
            if nf:
                out.append(finding("GC005", f"{where}: {', '.join(nf)} never matches in a prune", where))
        if any(rule.filters) and all(_contradiction(x) or _never_fields(x, sem) for x in rule.filters if x):
            dead_rules += 1
        has_size = bool(rule.reserved_space or rule.max_used_space or rule.min_free_space)
        custom = policy.frontend == "dockerd" and not rule.origin.endswith("default policy")
        if custom and not rule.explicit_size and (sem is None or sem.docker_space_fields):
            out.append(
                finding("GC004", f"{where}: no size field: every unreferenced match is deleted", where)
            )
        if policy.kind == "gc" and rule.keep_duration_ns and not has_size:
            out.append(finding("GC007", f"{where}: expires by age only", where))
        free_only = rule.min_free_space and not rule.reserved_space and not rule.max_used_space
        if free_only and (sem is None or (0, 17, 0) <= sem.buildkit < (0, 21, 0)):
            out.append(finding("GC009", f"{where}: minFreeSpace without reservedSpace/maxUsedSpace", where))
        if disk is not None and has_size:
            target = max(rule.reserved_space, rule.max_used_space)
            if target >= disk.total:
                out.append(
                    finding("GC012", f"{where}: size target {target} B >= disk size {disk.total} B", where)
                )
    if policy.rules and dead_rules == len(policy.rules):
        out.append(finding("GC012", f"{src}: every rule's filter matches nothing", src))
    # The default policy does this on purpose since v0.31 (only after 48h unused, over 512MB): only a
    # policy the user wrote is reported.
    if policy.kind == "gc" and not _is_default(policy):
        out.extend(_cache_mounts_first(policy.rules, src))
    return out


def _cache_mounts_first(rules: tuple[PruneRule, ...], src: str) -> list[Finding]:
    for i, rule in enumerate(rules):
        items = [x for x in rule.filters if x]
        if not items:
            return []  # a rule over every record comes first
        types: set[str] = set()
        for item in items:
            f = parse_filter_item(item)
            eq = [s.value for s in f.selectors if s.field == "type" and s.op == "=="]
            if len(set(eq)) == 1:
                types.add(eq[0])
        if types & {"exec.cachemount", "source.local"} and not _contradiction_any(items):
            where = f"{src} rule {i + 1}"
            return [
                finding("GC013", f"{where}: deletes {', '.join(sorted(types))} before regular records", where)
            ]
        if "regular" in types:
            return []
    return []


def _contradiction_any(items: list[str]) -> bool:
    return all(_contradiction(x) for x in items)


def lint_prune_command(command: str, sem: Semantics | None, *, now_ns: int | None = None) -> list[Finding]:
    """Findings for a prune command line, parsed for each front end it can reach."""
    s = sem or Semantics((0, 32, 0))
    if now_ns is None:  # only turns until=TIMESTAMP into an age; any "now" shows the trap
        now_ns = time.time_ns()
    out: list[Finding] = []
    where = f"--prune {command!r}"
    results: dict[str, Policy | str] = {}
    vias = ("buildx", "api") if " builder " in f" {command} " else ("buildx",)
    for via in vias:
        try:
            results[via] = parse_prune_command(command, s, via=via, now_ns=now_ns)
        except UsageError as e:
            results[via] = e.message
    if len(vias) == 2:
        a, b = results["buildx"], results["api"]
        if isinstance(a, str) != isinstance(b, str) or (
            not isinstance(a, str)
            and not isinstance(b, str)
            and _rule_key(a.rules[0]) != _rule_key(b.rules[0])
        ):
            da = a if isinstance(a, str) else "accepted"
            db = b if isinstance(b, str) else "accepted"
            out.append(finding("GC008", f"{where}: via buildx: {da}; via the Engine API: {db}", where))
    first = results[vias[0]]
    if isinstance(first, str):
        out.append(finding("GC000", first, where))
        return out
    out.extend(lint_policy(first, sem))
    buildctl_keep = first.frontend == "buildctl" and "--keep-storage" in command.replace(
        "--keep-storage-min", ""
    )
    if buildctl_keep and (sem is None or sem.buildkit >= (0, 17, 0)):
        out.append(finding("GC011", f"{where}: --keep-storage is maxUsedSpace for buildctl >= v0.17", where))
    return out


def _rule_key(r: PruneRule) -> tuple[object, ...]:
    norm = tuple(sorted(",".join(sorted(x.split(","))) for x in r.filters))
    return (
        norm,
        r.all,
        r.keep_duration_ns // 1_000_000_000,
        r.reserved_space,
        r.max_used_space,
        r.min_free_space,
    )
