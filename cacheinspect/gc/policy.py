"""Prune rules from every place users write them, mapped the way each front end maps them.

A :class:`PruneRule` is BuildKit's ``client.PruneInfo`` as it reaches ``cacheManager.Prune``:
``filters`` (the ``PruneInfo.Filter`` strings), ``all``, ``keep_duration_ns`` and the three size fields.
``reserved_space`` is protobuf field 4 of ``PruneRequest``, called ``keepBytes`` before BuildKit v0.17
(same number, renamed); ``max_used_space`` (5) and ``min_free_space`` (6) are unknown to older daemons,
which drop them (moby/buildkit ``api/services/control/control.proto``).

Readers:

- ``daemon.json`` ``builder.gc`` (moby ``daemon/config/builder.go``, ``builder-next/controller.go``
  ``getGCPolicy``, ``builder-next/worker/gc.go`` ``DefaultGCPolicy``) — by Docker version.
- ``buildkitd.toml`` ``[worker.oci]``/``[worker.containerd]`` (moby/buildkit ``cmd/buildkitd/config``,
  ``main.go`` ``getGCPolicy``) — by BuildKit version.
- the ``GC Policy rule#N`` blocks of ``docker buildx inspect`` (docker/buildx ``commands/inspect.go``).
- prune command lines: ``docker builder prune`` / ``docker buildx prune`` (docker/buildx
  ``commands/prune.go`` ``toBuildkitPruneInfo``), the Engine API path of ``docker builder prune`` without
  the buildx plugin (docker/cli ``command/builder/prune.go`` -> moby ``builder-next/builder.go``
  ``toBuildkitPruneInfo``), and ``buildctl prune`` (moby/buildkit ``cmd/buildctl/prune.go``).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import parse_filter_item
from cacheinspect.gc.readers import MAX_DEPTH, max_nesting
from cacheinspect.gc.units import NS, check_int64, parse_go_duration, parse_ram_in_bytes, parse_rfc3339_ns
from cacheinspect.gc.versions import DOCKER_BUILDKIT, MIN_API, Semantics, Version, api_of_docker

__all__ = [
    "Disk",
    "Policy",
    "PruneRule",
    "buildkitd_default_policy",
    "docker_default_policy",
    "parse_buildkitd_toml",
    "parse_buildx_inspect",
    "parse_daemon_json",
    "parse_policy_file",
    "parse_prune_command",
    "parse_prune_request",
]

#: moby builder-next ``cacheFields``: the filter keys the Engine API path accepts (and passes on)
ENGINE_CACHE_FIELDS = ("id", "parent", "type", "description", "inuse", "shared", "private")
#: ... and the two it marks "not exposed" (false): /build/prune's Validate rejects them, but
#: ``toBuildkitPruneInfo`` ranges over every key, so a daemon.json GC rule passes them on
ENGINE_HIDDEN_FIELDS = ("mutable", "immutable")
ENGINE_VALID_FILTERS = {*ENGINE_CACHE_FIELDS, "until", "unused-for", "label", "label!"}
TEMP_CACHE_PERCENT = math.e * math.pi * (1 + math.sqrt(5)) / 2  # moby worker/gc.go tempCachePercent


@dataclass(frozen=True, slots=True)
class Disk:
    """The disk holding the builder's root: ``statfs`` Total and Free (Bfree) in bytes."""

    total: int
    free: int


@dataclass(frozen=True, slots=True)
class PruneRule:
    """One ``client.PruneInfo``. ``origin`` says where it came from; ``notes`` what the mapping did."""

    filters: tuple[str, ...] = ("",)
    all: bool = False
    keep_duration_ns: int = 0
    reserved_space: int = 0  # wire field 4: keepBytes before v0.17
    max_used_space: int = 0
    min_free_space: int = 0
    origin: str = ""
    notes: tuple[str, ...] = ()
    explicit_size: bool = True  # False when a daemon.json rule gave no size field at all


@dataclass(frozen=True, slots=True)
class Policy:
    """An ordered list of rules (a GC policy runs them in order; a prune command is one rule)."""

    rules: tuple[PruneRule, ...]
    kind: str  # "gc" or "prune"
    source: str
    enabled: bool = True
    notes: tuple[str, ...] = ()
    frontend: str = (
        ""  # prune: "buildx", "engine-api", "buildctl"; gc: "dockerd", "buildkitd", "buildx-inspect"
    )
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


# -- defaults -----------------------------------------------------------------------------------------
def _disk_pct(disk: Disk | None, pct: int, *, docker_bug: bool = False, what: str) -> int:
    if disk is None:
        raise UsageError(
            f"{what} depends on the disk size", hint="give --disk-size and --disk-free (bytes, e.g. 100GB)"
        )
    avail = disk.total // pct if docker_bug else disk.total * pct // 100
    return (avail // (1 << 30) + 1) * 1_000_000_000  # round up, as upstream does


def _default_rule1_filters(sem: Semantics) -> tuple[str, ...]:
    if sem.default_rule1_or:
        return ("type==source.local", "type==exec.cachemount", "type==source.git.checkout")
    return ("type==source.local,type==exec.cachemount,type==source.git.checkout",)


def docker_default_policy(
    sem: Semantics, disk: Disk | None, reserved: int = 0, max_used: int = 0, min_free: int = 0
) -> tuple[PruneRule, ...]:
    """moby ``worker.DefaultGCPolicy`` for the Docker version in ``sem``."""
    o = "dockerd default policy"
    if not sem.docker_space_fields:
        keep = reserved or _disk_pct(disk, 10, what="dockerd's default GC cap (10% of the disk)")
        temp = max(round(keep / 100.0 * TEMP_CACHE_PERCENT), 512_000_000)
        return (
            PruneRule(
                _default_rule1_filters(sem), keep_duration_ns=48 * 3600 * NS, reserved_space=temp, origin=o
            ),
            PruneRule(keep_duration_ns=60 * 24 * 3600 * NS, reserved_space=keep, origin=o),
            PruneRule(reserved_space=keep, origin=o),
            PruneRule(all=True, reserved_space=keep, origin=o),
        )
    notes: tuple[str, ...] = ()
    if reserved == 0 and max_used == 0 and min_free == 0:
        bug = sem.docker_percentage_bug
        what = "dockerd's default GC sizes (percentages of the disk)"
        reserved = _disk_pct(disk, 10, docker_bug=bug, what=what)
        max_used = _disk_pct(disk, 80, docker_bug=bug, what=what)
        min_free = _disk_pct(disk, 20, docker_bug=bug, what=what)
        if bug:
            notes = ("Docker 28.0-28.5.0 computes the default percentages as Total/10, Total/80, Total/20",)
    temp = max(round(reserved / 100.0 * TEMP_CACHE_PERCENT), 512_000_000)
    return (
        PruneRule(
            _default_rule1_filters(sem), keep_duration_ns=48 * 3600 * NS, max_used_space=temp, origin=o
        ),
        PruneRule(
            keep_duration_ns=60 * 24 * 3600 * NS,
            reserved_space=reserved,
            max_used_space=max_used,
            min_free_space=min_free,
            origin=o,
            notes=notes,
        ),
        PruneRule(reserved_space=reserved, max_used_space=max_used, min_free_space=min_free, origin=o),
        PruneRule(
            all=True, reserved_space=reserved, max_used_space=max_used, min_free_space=min_free, origin=o
        ),
    )


def buildkitd_default_policy(
    sem: Semantics, disk: Disk | None, reserved: int = 0, max_used: int = 0, min_free: int = 0
) -> tuple[PruneRule, ...]:
    """moby/buildkit ``config.DefaultGCPolicy`` (``cmd/buildkitd/config/gcpolicy.go``) for ``sem``."""
    o = "buildkitd default policy"
    if sem.space_model == "keepbytes":
        keep = reserved or _disk_pct(disk, 10, what="buildkitd's default GC cap (10% of the disk)")
        return (
            PruneRule(
                _default_rule1_filters(sem),
                keep_duration_ns=48 * 3600 * NS,
                reserved_space=512_000_000,
                origin=o,
            ),
            PruneRule(keep_duration_ns=60 * 24 * 3600 * NS, reserved_space=keep, origin=o),
            PruneRule(reserved_space=keep, origin=o),
            PruneRule(all=True, reserved_space=keep, origin=o),
        )
    if reserved == 0 and max_used == 0 and min_free == 0:
        what = "buildkitd's default GC sizes (percentages of the disk)"
        reserved = min(_disk_pct(disk, 10, what=what), 10_000_000_000)
        max_used = min(_disk_pct(disk, 80, what=what), 100_000_000_000)
        min_free = _disk_pct(disk, 20, what=what)
    r, m, f = reserved, max_used, min_free
    return (
        PruneRule(
            _default_rule1_filters(sem), keep_duration_ns=48 * 3600 * NS, max_used_space=512_000_000, origin=o
        ),
        PruneRule(
            keep_duration_ns=60 * 24 * 3600 * NS,
            reserved_space=r,
            max_used_space=m,
            min_free_space=f,
            origin=o,
        ),
        PruneRule(reserved_space=r, max_used_space=m, min_free_space=f, origin=o),
        PruneRule(all=True, reserved_space=r, max_used_space=m, min_free_space=f, origin=o),
    )


# -- daemon.json ----------------------------------------------------------------------------------------
def _ci(obj: dict[str, Any], key: str) -> Any:
    """Go's encoding/json matches object keys case-insensitively."""
    for k, v in obj.items():
        if k.lower() == key.lower():
            return v
    return None


def _docker_filter_args(raw: Any, where: str) -> dict[str, list[str]]:
    """moby ``BuilderGCFilter.UnmarshalJSON``: ``["k=v", ...]`` or the old ``{"k": {"v": true}}`` map."""
    out: dict[str, list[str]] = {}
    if raw is None:
        return out
    if isinstance(raw, list):
        for s in raw:
            if not isinstance(s, str):
                raise UsageError(f'{where}: filter items must be strings like "type=exec.cachemount"')
            name, _, value = s.partition("=")
            vals = out.setdefault(name.strip().lower(), [])
            if value.strip() not in vals:
                vals.append(value.strip())
        return out
    if isinstance(raw, dict):
        for k, v in raw.items():
            vals = list(v.keys()) if isinstance(v, dict) else [str(v)]
            out[k] = vals
        return out
    raise UsageError(f'{where}: filter must be an array of "key=value" strings')


def _engine_prune_info(
    args: dict[str, list[str]], *, all_: bool, where: str, now_ns: int | None, validate: bool
) -> tuple[tuple[str, ...], int, tuple[str, ...]]:
    """moby ``toBuildkitPruneInfo``: (filters, keepDuration, notes). ``validate``: the /build/prune check."""
    notes: list[str] = []
    if validate:
        bad = sorted(k for k in args if k not in ENGINE_VALID_FILTERS)
        if bad:
            raise UsageError(
                f"{where}: invalid filter {bad[0]!r} (the Engine API accepts {', '.join(sorted(ENGINE_VALID_FILTERS))})"
            )
    until = args.get("until", [])
    unused = args.get("unused-for", [])
    if until and unused:
        raise UsageError(f'{where}: conflicting filters "until" and "unused-for"')
    vals = until + unused
    keep = 0
    if len(vals) > 1:
        raise UsageError(f"{where}: filters expect only one value")
    if vals:
        keep = _docker_timestamp_age(vals[0], now_ns, where)
    items = []
    for k in (*ENGINE_CACHE_FIELDS, *ENGINE_HIDDEN_FIELDS):
        if k in args:
            vs = args[k]
            if len(vs) > 1:
                raise UsageError(f"{where}: filters expect only one value ({k})")
            if not vs:  # only the old {"key": {}} map form; "key=" is one empty value: "key=="
                items.append(k)
            else:
                items.append(f"{k}~={vs[0]}" if k == "id" else f"{k}=={vs[0]}")
    known = (*ENGINE_CACHE_FIELDS, *ENGINE_HIDDEN_FIELDS, "until", "unused-for")
    dropped = sorted(k for k in args if k not in known)
    if dropped:
        notes.append(f"filter keys {', '.join(dropped)} are dropped by dockerd (not cache fields)")
    return (",".join(items),), keep, tuple(notes)


def _docker_timestamp_age(value: str, now_ns: int | None, where: str) -> int:
    """``until``: a Go duration, or a timestamp (moby ``timetypes.GetTimestamp``) turned into an age."""
    try:
        return parse_go_duration(value)
    except UsageError:
        pass
    if now_ns is None:
        raise UsageError(f"{where}: until={value} is a timestamp; give --now to turn it into an age")
    try:
        if re.fullmatch(r"\d+(\.\d+)?", value):
            f = float(value) * NS
            if not f < 2.0**63:
                raise UsageError(f'{where}: "until" timestamp {value[:40]!r} is out of range')
            ts = round(f)
        else:
            ts = parse_rfc3339_ns(value if re.search(r"[Zz]|[+-]\d\d:?\d\d$", value) else value + "Z")
    except ValueError:
        raise UsageError(
            f"{where}: \"until\" filter expects a duration (e.g., '24h') or a timestamp"
        ) from None
    return now_ns - ts


def _size(v: Any, where: str) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise UsageError(f"{where}: expected a size")
    if isinstance(v, int):
        return check_int64(v, where)
    if not isinstance(v, str):
        raise UsageError(f'{where}: expected a size string such as "10GB"')
    return parse_ram_in_bytes(v, what=where)


def _daemon_size(v: Any, where: str) -> int:
    """A daemon.json size: dockerd's config fields are Go strings, so a JSON number stops dockerd."""
    if v is not None and not isinstance(v, str):
        raise UsageError(
            f'{where}: expected a string such as "10GB"; dockerd refuses to start on a JSON {type(v).__name__}'
        )
    return _size(v, where)


_DAEMON_RULE_KEYS = {"all", "filter", "keepstorage", "reservedspace", "maxusedspace", "minfreespace"}


def parse_daemon_json(
    doc: Any,
    sem: Semantics,
    *,
    source: str = "daemon.json",
    disk: Disk | None = None,
    now_ns: int | None = None,
) -> Policy:
    """``builder.gc`` of a daemon.json as the Docker version in ``sem`` reads it."""
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: expected a JSON object")
    if sem.docker is None:
        sem = Semantics(sem.buildkit, _docker_of_buildkit(sem.buildkit))
    builder = _ci(doc, "builder") or {}
    gc = _ci(builder, "gc") if isinstance(builder, dict) else None
    gc = gc if isinstance(gc, dict) else {}
    notes: list[str] = []
    enabled_raw = _ci(gc, "enabled")
    enabled = bool(enabled_raw) if enabled_raw is not None else sem.docker_gc_default_enabled
    if enabled_raw is None and not enabled:
        notes.append("builder.gc.enabled is not set: Docker < 28.2 runs no GC at all")
    where = f"{source}: builder.gc"
    policy_raw = _ci(gc, "policy")
    rules: list[PruneRule] = []
    if not sem.docker_space_fields:
        dks = _daemon_size(_ci(gc, "defaultKeepStorage"), f"{where}.defaultKeepStorage")
        if policy_raw is None:
            rules = list(docker_default_policy(sem, disk, reserved=dks)) if enabled else []
        else:
            for i, p in enumerate(_rule_list(policy_raw, where)):
                w = f"{where}.policy[{i}]"
                raw_ks = _ci(p, "keepStorage")
                if raw_ks is None or raw_ks == "":
                    # getGCPolicy: units.RAMInBytes("") fails, and the builder (so dockerd) with it
                    raise UsageError(
                        f"{w}: no keepStorage: Docker < 28 fails to start (invalid size: '')",
                        hint='give every rule a "keepStorage" ("0" means defaultKeepStorage)',
                    )
                b = _daemon_size(raw_ks, f"{w}.keepStorage")
                explicit = b != 0
                rule_notes = _unknown_rule_keys(p, w)
                if b == 0:
                    b = dks
                    if dks:
                        rule_notes.append("keepStorage 0: defaultKeepStorage applies (Docker < 28)")
                args = _docker_filter_args(_ci(p, "filter"), f"{w}.filter")
                f, keep, n = _engine_prune_info(
                    args, all_=bool(_ci(p, "all")), where=w, now_ns=now_ns, validate=False
                )
                rules.append(
                    PruneRule(
                        f,
                        bool(_ci(p, "all")),
                        keep,
                        b,
                        origin=f"policy[{i}]",
                        notes=(*rule_notes, *n),
                        explicit_size=explicit,
                    )
                )
    else:
        dr = _daemon_size(
            _ci(gc, "defaultReservedSpace") or _ci(gc, "defaultKeepStorage"), f"{where}.defaultReservedSpace"
        )
        dm = _daemon_size(_ci(gc, "defaultMaxUsedSpace"), f"{where}.defaultMaxUsedSpace")
        dfree = _daemon_size(_ci(gc, "defaultMinFreeSpace"), f"{where}.defaultMinFreeSpace")
        if policy_raw is None:
            rules = list(docker_default_policy(sem, disk, dr, dm, dfree)) if enabled else []
        else:
            for i, p in enumerate(_rule_list(policy_raw, where)):
                w = f"{where}.policy[{i}]"
                r = _daemon_size(_ci(p, "reservedSpace") or _ci(p, "keepStorage"), f"{w}.reservedSpace")
                m = _daemon_size(_ci(p, "maxUsedSpace"), f"{w}.maxUsedSpace")
                fr = _daemon_size(_ci(p, "minFreeSpace"), f"{w}.minFreeSpace")
                rule_notes = _unknown_rule_keys(p, w)
                args = _docker_filter_args(_ci(p, "filter"), f"{w}.filter")
                f, keep, n = _engine_prune_info(
                    args, all_=bool(_ci(p, "all")), where=w, now_ns=now_ns, validate=False
                )
                rules.append(
                    PruneRule(
                        f,
                        bool(_ci(p, "all")),
                        keep,
                        r,
                        m,
                        fr,
                        origin=f"policy[{i}]",
                        notes=(*rule_notes, *n),
                        explicit_size=bool(r or m or fr),
                    )
                )
    for rule in rules:
        for item in rule.filters:
            parse_filter_item(item)  # BuildKit rejects the whole prune on a bad filter
    return Policy(tuple(rules), "gc", source, enabled, tuple(notes), "dockerd", raw={"builder.gc": gc})


def _rule_list(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise UsageError(f"{where}.policy: expected an array of rule objects")
    return raw


def _unknown_rule_keys(p: dict[str, Any], where: str) -> list[str]:
    return [
        f"{where}: key {k!r} is not a dockerd GC rule field and is ignored"
        for k in p
        if k.lower() not in _DAEMON_RULE_KEYS
    ]


def _docker_of_buildkit(bk: Version) -> Version:
    out: Version = (23, 0, 0)
    for dv, bv in DOCKER_BUILDKIT:
        if bv <= bk:
            out = dv
    return out


# -- buildkitd.toml -------------------------------------------------------------------------------------
def _diskspace(v: Any, disk: Disk | None, where: str) -> int:
    """buildkitd ``DiskSpace``: bytes, a go-units size, or ``"N%"`` of the disk (rounded up to GB)."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise UsageError(f"{where}: expected a size")
    if isinstance(v, int):
        return check_int64(v, where)
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            pct = int(v.strip()[:-1]) if len(v) < 12 else -1
            if pct < 0:
                raise ValueError
        except ValueError:
            raise UsageError(f"{where}: invalid percentage {v!r}") from None
        return _disk_pct(disk, pct, what=f"{where} = {v!r}") if pct else 0
    return _size(v, where)


def _toml_duration(v: Any, where: str) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, int) and not isinstance(v, bool):
        return check_int64(v * NS, where)  # an integer is seconds (config.Duration.UnmarshalText)
    if isinstance(v, str):
        if re.fullmatch(r"\d{1,30}", v.strip()):
            return check_int64(int(v) * NS, where)
        return parse_go_duration(v, what=where)
    raise UsageError(f'{where}: expected a duration such as "48h"')


def parse_buildkitd_toml(
    text: str, sem: Semantics, *, source: str = "buildkitd.toml", disk: Disk | None = None
) -> Policy:
    depth = max_nesting(text)
    if depth > MAX_DEPTH:
        raise UsageError(f"{source}: TOML nested {depth} levels deep (limit {MAX_DEPTH})")
    try:
        import tomllib  # only buildkitd.toml needs it (start-up of the other inputs)

        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source}: {e}") from None
    except (ValueError, RecursionError) as e:
        raise UsageError(f"{source}: not a buildkitd.toml: {str(e)[:100]}") from None
    workers = doc.get("worker", {}) if isinstance(doc.get("worker"), dict) else {}
    name, cfg = "oci", workers.get("oci", {})
    cont = workers.get("containerd", {})
    if (
        (isinstance(cfg, dict) and cfg.get("enabled") is False)
        or (not cfg and cont)
        or (isinstance(cont, dict) and cont.get("enabled") is True)
    ):
        name, cfg = "containerd", cont
    where = f"{source}: [worker.{name}]"
    if not isinstance(cfg, dict):
        raise UsageError(f"{where}: expected a table")
    gc = cfg.get("gc")
    if gc is False:
        return Policy((), "gc", source, False, ("gc = false: no GC",), "buildkitd")
    keep = _diskspace(cfg.get("gckeepstorage"), disk, f"{where} gckeepstorage")
    notes: list[str] = []
    rules: list[PruneRule] = []
    if sem.space_model == "keepbytes":
        for k in ("reservedSpace", "maxUsedSpace", "minFreeSpace"):
            if k in cfg:
                notes.append(f"{where} {k} needs BuildKit v0.17+: ignored by {sem.buildkit_text}")
        if not cfg.get("gcpolicy"):
            rules = list(buildkitd_default_policy(sem, disk, reserved=keep))
        else:
            for i, p in enumerate(_toml_rules(cfg, where)):
                w = f"{where} gcpolicy[{i}]"
                rn = [
                    f"{w} {k} needs BuildKit v0.17+: ignored"
                    for k in ("reservedSpace", "maxUsedSpace", "minFreeSpace")
                    if k in p
                ]
                rules.append(
                    PruneRule(
                        _toml_filters(p, w),
                        bool(p.get("all", False)),
                        _toml_duration(p.get("keepDuration"), f"{w} keepDuration"),
                        _diskspace(p.get("keepBytes"), disk, f"{w} keepBytes"),
                        origin=f"gcpolicy[{i}]",
                        notes=tuple(rn),
                    )
                )
    else:
        r = _diskspace(cfg.get("reservedSpace"), disk, f"{where} reservedSpace")
        m = _diskspace(cfg.get("maxUsedSpace"), disk, f"{where} maxUsedSpace")
        fr = _diskspace(cfg.get("minFreeSpace"), disk, f"{where} minFreeSpace")
        if not (r or m or fr):
            r = keep
        if not cfg.get("gcpolicy"):
            rules = list(buildkitd_default_policy(sem, disk, r, m, fr))
        else:
            for i, p in enumerate(_toml_rules(cfg, where)):
                w = f"{where} gcpolicy[{i}]"
                rs = _diskspace(p.get("reservedSpace"), disk, f"{w} reservedSpace") or _diskspace(
                    p.get("keepBytes"), disk, f"{w} keepBytes"
                )
                rules.append(
                    PruneRule(
                        _toml_filters(p, w),
                        bool(p.get("all", False)),
                        _toml_duration(p.get("keepDuration"), f"{w} keepDuration"),
                        rs,
                        _diskspace(p.get("maxUsedSpace"), disk, f"{w} maxUsedSpace"),
                        _diskspace(p.get("minFreeSpace"), disk, f"{w} minFreeSpace"),
                        origin=f"gcpolicy[{i}]",
                    )
                )
    return Policy(tuple(rules), "gc", source, True, tuple(notes), "buildkitd")


def _toml_rules(cfg: dict[str, Any], where: str) -> list[dict[str, Any]]:
    raw = cfg.get("gcpolicy")
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise UsageError(f"{where}: gcpolicy must be an array of tables ([[worker.*.gcpolicy]])")
    return raw


def _toml_filters(p: dict[str, Any], where: str) -> tuple[str, ...]:
    f = p.get("filters", [])
    if isinstance(f, str):
        f = [f]
    if not isinstance(f, list) or not all(isinstance(x, str) for x in f):
        raise UsageError(f"{where} filters: expected an array of strings")
    for item in f:
        parse_filter_item(item)
    return tuple(f) if f else ("",)


# -- docker buildx inspect ------------------------------------------------------------------------------
def parse_buildx_inspect(text: str, *, source: str = "buildx inspect") -> Policy:
    """The ``GC Policy rule#N:`` blocks (sizes are ``units.BytesSize``: binary, rounded)."""
    rules: list[dict[str, Any]] = []
    for line in text.splitlines():
        s = line.strip()
        if re.match(r"^GC Policy rule#\d+:", s):
            rules.append({})
            continue
        if not rules or ":" not in s:
            continue
        k, _, v = s.partition(":")
        rules[-1][k.strip()] = v.strip()
    if not rules:
        raise UsageError(f"{source}: no 'GC Policy rule#N:' lines (is GC enabled on that builder?)")
    out = []
    for i, r in enumerate(rules):
        w = f"{source}: rule#{i}"
        out.append(
            PruneRule(
                tuple(r["Filters"].split()) if r.get("Filters") else ("",),
                r.get("All", "false") == "true",
                parse_go_duration(r["Keep Duration"], what=f"{w} Keep Duration")
                if r.get("Keep Duration")
                else 0,
                _size(r.get("Keep Bytes") or r.get("Reserved Space"), f"{w} Reserved Space"),
                _size(r.get("Max Used Space"), f"{w} Max Used Space"),
                _size(r.get("Min Free Space"), f"{w} Min Free Space"),
                origin=f"rule#{i}",
                notes=("sizes are rounded by buildx inspect",)
                if any(k in r for k in ("Keep Bytes", "Reserved Space"))
                else (),
            )
        )
    return Policy(tuple(out), "gc", source, True, (), "buildx-inspect")


# -- policy files ---------------------------------------------------------------------------------------
def parse_policy_file(
    text: str, sem: Semantics, *, source: str, disk: Disk | None = None, now_ns: int | None = None
) -> Policy:
    """daemon.json, buildkitd.toml or saved ``docker buildx inspect`` output, by content."""
    s = text.lstrip()
    if s.startswith("{"):
        depth = max_nesting(text)
        if depth > MAX_DEPTH:
            raise UsageError(f"{source}: JSON nested {depth} levels deep (limit {MAX_DEPTH})")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{source}: line {e.lineno} column {e.colno}: {e.msg}") from None
        except (ValueError, RecursionError) as e:
            raise UsageError(f"{source}: not a daemon.json: {str(e)[:100]}") from None
        return parse_daemon_json(doc, sem, source=source, disk=disk, now_ns=now_ns)
    if "GC Policy rule#" in text:
        return parse_buildx_inspect(text, source=source)
    return parse_buildkitd_toml(text, sem, source=source, disk=disk)


# -- prune command lines --------------------------------------------------------------------------------
_DOCKER_GLOBAL_WITH_VALUE = {
    "-H",
    "--host",
    "-c",
    "--context",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
}
_BUILDCTL_GLOBAL_WITH_VALUE = {
    "--addr",
    "--tlsservername",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
    "--tlsdir",
    "--timeout",
    "--log-format",
}


def _flags(args: list[str], spec: dict[str, str], short: dict[str, str], where: str) -> dict[str, list[str]]:
    """pflag/urfave-style parsing: ``--k v``, ``--k=v``, bool flags, clustered short bools (``-af``)."""
    out: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
        elif a.startswith("-") and len(a) > 1:
            letters = a[1:]
            name0 = short.get(letters[0])
            if name0 is None:
                raise UsageError(f"{where}: unknown shorthand flag {letters[0]!r} in {a}")
            if spec[name0] == "bool":
                for ch in letters:
                    n = short.get(ch)
                    if n is None or spec[n] != "bool":
                        raise UsageError(f"{where}: unknown shorthand flag {ch!r} in {a}")
                    out.setdefault(n, []).append("true")
                continue
            name, eq, val = name0, ("=" if len(letters) > 1 else ""), letters[1:].lstrip("=")
        else:
            raise UsageError(f"{where}: unexpected argument {a!r} (prune takes no arguments)")
        if name not in spec:
            raise UsageError(f"{where}: unknown flag: --{name}")
        if spec[name] == "bool":
            out.setdefault(name, []).append(val if eq else "true")
            continue
        if not eq:
            if i >= len(args):
                raise UsageError(f"{where}: flag needs an argument: --{name}")
            val = args[i]
            i += 1
        out.setdefault(name, []).append(val)
    return out


def _bool(flags: dict[str, list[str]], name: str) -> bool:
    return bool(flags.get(name)) and flags[name][-1].lower() in ("true", "1", "t")


def _filter_args(values: list[str], where: str) -> dict[str, list[str]]:
    """docker ``filters.ParseFlag``: ``key=value``, key lower-cased, values deduplicated."""
    out: dict[str, list[str]] = {}
    for v in values:
        if "=" not in v:
            raise UsageError(f"{where}: bad format of filter (expected name=value): {v!r}")
        k, _, val = v.partition("=")
        k, val = k.strip().lower(), val.strip()
        vals = out.setdefault(k, [])
        if val not in vals:
            vals.append(val)
    return out


def _buildx_prune_info(
    args: dict[str, list[str]], where: str, *, bang_ops: bool
) -> tuple[tuple[str, ...], int]:
    """docker/buildx ``toBuildkitPruneInfo``: one comma-joined filter (an AND), ``until`` a Go duration."""
    if args.get("until") and args.get("unused-for"):
        raise UsageError(f'{where}: conflicting filters "until" and "unused-for"')
    key = "unused-for" if args.get("unused-for") else "until"
    vals = args.get(key, [])
    keep = 0
    if len(vals) > 1:
        raise UsageError(f"{where}: {key!r} filter expects only one value")
    if vals:
        try:
            keep = parse_go_duration(vals[0])
        except UsageError:
            raise UsageError(f"{where}: {key!r} filter expects a duration (e.g., '24h')") from None
    items = []
    for k in sorted(args):
        if k == key:
            continue
        vs = args[k]
        if len(vs) > 1:
            raise UsageError(f"{where}: {k!r} filter expects only one value")
        if not vs:
            items.append(k)
        elif k == "id":
            items.append(f"id~={vs[0]}")
        elif bang_ops and (k.endswith("!") or k.endswith("~")):
            items.append(f"{k}={vs[0]}")
        else:
            items.append(f"{k}=={vs[0]}")
    f = ",".join(items)
    parse_filter_item(f)
    return (f,), keep


def parse_prune_command(
    command: str,
    sem: Semantics,
    *,
    via: str = "buildx",
    now_ns: int | None = None,
    buildx: Version | None = None,
) -> Policy:
    """A prune command line as typed. ``via``: where ``docker builder prune`` goes (``buildx`` when the
    plugin is installed, which docker forwards ``builder`` to; ``api`` for the Engine API)."""
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise UsageError(f"--prune: {e}") from None
    if not argv:
        raise UsageError("--prune: empty command")
    prog = argv[0].rsplit("/", 1)[-1]
    rest = argv[1:]
    where = f"--prune {command!r}"
    if prog == "curl" or re.match(r"^(?:(?:POST|GET)\s+)?(?:https?://|unix://|/)", command.strip()):
        return parse_prune_request(command, sem, now_ns=now_ns)
    if prog in ("docker", "docker-buildx"):
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag in _DOCKER_GLOBAL_WITH_VALUE and rest:
                rest.pop(0)
        if rest[:2] == ["builder", "prune"]:
            front = "engine-api" if via == "api" else "buildx"
            rest = rest[2:]
        elif rest[:2] == ["buildx", "prune"] or (prog == "docker-buildx" and rest[:1] == ["prune"]):
            front = "buildx"
            rest = rest[2:] if rest[:1] == ["buildx"] else rest[1:]
        elif rest[:2] == ["system", "prune"]:
            raise UsageError(
                f"{where}: docker system prune also removes images and containers; use docker builder prune"
            )
        else:
            raise UsageError(
                f"{where}: expected 'docker builder prune', 'docker buildx prune' or 'buildctl prune'"
            )
    elif prog == "buildctl":
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag.split("=")[0] in _BUILDCTL_GLOBAL_WITH_VALUE and "=" not in flag and rest:
                rest.pop(0)
        if rest[:1] != ["prune"]:
            raise UsageError(f"{where}: expected 'buildctl prune'")
        front, rest = "buildctl", rest[1:]
    else:
        raise UsageError(f"{where}: expected a docker or buildctl prune command line")

    notes: list[str] = []
    if front == "buildctl":
        spec = {
            "keep-duration": "str", "keep-storage": "str", "filter": "str", "all": "bool", "verbose": "bool",
            "format": "str",
        }  # fmt: skip
        if sem.buildkit >= (0, 17, 0):  # cmd/buildctl/prune.go grew these with reserved/minFree space
            spec.update({"keep-storage-min": "str", "free-storage": "str"})
        f = _flags(rest, spec, {"f": "filter", "v": "verbose"}, where)

        def mb(name: str) -> int:
            vals = f.get(name)
            if not vals:
                return 0
            try:
                v = float(vals[-1]) * 1e6
            except ValueError:
                raise UsageError(f"{where}: --{name} is a number of MB, got {vals[-1][:40]!r}") from None
            if not abs(v) < 2.0**63:  # NaN, Inf or past int64
                raise UsageError(f"{where}: --{name} {vals[-1][:40]!r} is out of range")
            return int(v)

        keep = (
            parse_go_duration(f["keep-duration"][-1], what="--keep-duration") if f.get("keep-duration") else 0
        )
        filters = tuple(f.get("filter", [])) or ("",)
        for item in filters:
            parse_filter_item(item)
        if sem.buildkit < (0, 17, 0):
            # buildctl of the same release: --keep-storage is keepBytes (field 4)
            rule = PruneRule(filters, _bool(f, "all"), keep, mb("keep-storage"), origin="buildctl prune")
        else:
            rule = PruneRule(
                filters, _bool(f, "all"), keep, mb("keep-storage-min"), mb("keep-storage"), mb("free-storage"),
                origin="buildctl prune",
                notes=("buildctl --keep-storage is maxUsedSpace, --keep-storage-min reservedSpace, --free-storage minFreeSpace",),
            )  # fmt: skip
        return Policy((rule,), "prune", command, True, tuple(notes), front)

    # docker builder prune / docker buildx prune
    bool_flags = {"all": "bool", "force": "bool", "verbose": "bool"}
    spec = {**bool_flags, "filter": "str", "keep-storage": "str"}
    if front == "buildx":
        spec.update(
            {
                "builder": "str",
                "reserved-space": "str",
                "max-used-space": "str",
                "min-free-space": "str",
                "timeout": "str",
            }
        )
    f = _flags(rest, spec, {"a": "all", "f": "force"}, where)

    def size(name: str) -> int:
        vals = f.get(name)
        return parse_ram_in_bytes(vals[-1], what=f"--{name}") if vals else 0

    args = _filter_args(f.get("filter", []), where)
    reserved = size("reserved-space") or size("keep-storage")
    max_used, min_free = size("max-used-space"), size("min-free-space")
    if front == "engine-api":
        filters, keep, n = _engine_prune_info(
            args, all_=_bool(f, "all"), where=where, now_ns=now_ns, validate=True
        )
        notes.extend(n)
        for item in filters:
            parse_filter_item(item)  # BuildKit's filters.ParseAll refuses the prune
    else:
        filters, keep = _buildx_prune_info(args, where, bang_ops=buildx is None or buildx >= (0, 15, 0))
        if (max_used or min_free) and sem.buildkit < (0, 17, 0):
            raise UsageError(
                f"{where}: buildkit v0.17.0+ is required for max-used-space and min-free-space filters"
            )
    rule = PruneRule(filters, _bool(f, "all"), keep, reserved, max_used, min_free, origin=" ".join(argv[:3]))
    return Policy((rule,), "prune", command, True, tuple(notes), front)


# -- Engine API requests --------------------------------------------------------------------------------
_CURL_WITH_VALUE = {
    "-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary", "--data-ascii",
    "--data-urlencode", "--unix-socket", "--abstract-unix-socket", "-o", "--output", "-u", "--user", "-w",
    "--write-out", "--url", "-m", "--max-time", "--connect-timeout", "-A", "--user-agent", "-b", "--cookie",
    "-e", "--referer", "--cacert", "--cert", "--key", "--retry", "-x", "--proxy", "--resolve",
}  # fmt: skip
_CURL_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--data-urlencode"}
_PCT_BAD = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


def _go_parse_query(q: str, where: str) -> list[tuple[str, str]]:
    """Go ``url.ParseQuery``: ``&``-separated, ``;`` refused, ``+`` is a space, bad escapes refused."""
    from urllib.parse import unquote_plus

    out: list[tuple[str, str]] = []
    for part in q.split("&"):
        if ";" in part:
            raise UsageError(f"{where}: invalid semicolon separator in query (dockerd answers 400)")
        if not part:
            continue
        k, _, v = part.partition("=")
        if _PCT_BAD.search(k) or _PCT_BAD.search(v):
            raise UsageError(f"{where}: invalid URL escape in {part[:40]!r} (dockerd answers 400)")
        out.append((unquote_plus(k), unquote_plus(v)))
    return out


def _curl_request(argv: list[str], where: str) -> tuple[str, str, str]:
    """(method, URL, form body) of a curl command line, as curl would send it."""
    from urllib.parse import quote_plus

    method, url, data, get = "", "", [], False
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        name, eq, val = a.partition("=") if a.startswith("--") else (a, "", "")
        if name in _CURL_WITH_VALUE or (a[:2] in _CURL_WITH_VALUE and len(a) > 2 and not a.startswith("--")):
            if not eq:
                if a.startswith("--") or len(a) == 2:
                    if i >= len(argv):
                        raise UsageError(f"{where}: curl option {a} needs a value")
                    val = argv[i]
                    i += 1
                else:
                    name, val = a[:2], a[2:]
            if name in ("-X", "--request"):
                method = val.upper()
            elif name == "--url":
                url = val
            elif name in _CURL_DATA:
                if val.startswith("@") and name != "--data-raw":
                    raise UsageError(f"{where}: {name} @FILE reads a file; give the data inline")
                if name == "--data-urlencode":
                    k, sep, v = val.partition("=")
                    val = f"{k}={quote_plus(v)}" if sep else quote_plus(val)
                data.append(val)
            continue
        if a in ("-G", "--get"):
            get = True
        elif a.startswith("-") and len(a) > 1:
            continue  # a flag without a value (-s, -S, -f, -v, -i, -k, -L, -sS, ...)
        elif not url:
            url = a
        else:
            raise UsageError(f"{where}: more than one URL")
    if not url:
        raise UsageError(f"{where}: no URL in the curl command")
    body = "&".join(data)
    if get and body:
        url = url + ("&" if "?" in url else "?") + body
        body = ""
    return method or ("GET" if get or not data else "POST"), url, body


def parse_prune_request(text: str, sem: Semantics, *, now_ns: int | None = None) -> Policy:
    """An Engine API ``POST /build/prune`` request (a curl command line or the request URL) mapped as
    dockerd's router maps it for the Docker version in ``sem``.

    moby ``api/server/router/build/build_routes.go`` ``postPrune``: ``all`` is ``httputils.BoolValue``
    (anything but "", 0, no, false, none), ``filters`` is ``filters.FromJSON`` (``{"k":{"v":true}}`` or
    the legacy ``{"k":["v"]}``), sizes are ``strconv.Atoi`` integers of bytes. API >= 1.48 (Docker 28.0)
    reads ``reserved-space`` (else the deprecated ``keep-storage``), ``max-used-space`` and
    ``min-free-space``; earlier versions (and Docker < 28 at any version) only ``keep-storage``, as
    keepBytes. Then ``Builder.Prune`` validates the filter keys and ``toBuildkitPruneInfo`` builds the
    ``PruneInfo`` (builder/builder-next/builder.go), which :func:`_engine_prune_info` mirrors.
    """
    from urllib.parse import urlsplit

    where = f"--prune {text[:200]!r}"
    s = text.strip()
    method = "POST"
    body = ""
    if s.split(None, 1)[0].rsplit("/", 1)[-1] == "curl":
        try:
            argv = shlex.split(s)
        except ValueError as e:
            raise UsageError(f"--prune: {e}") from None
        method, url, body = _curl_request(argv[1:], where)
    else:
        m = re.match(r"^(POST|GET)\s+(\S+)(?:\s+HTTP/[\d.]+)?$", s)
        url = m.group(2) if m else s
        method = m.group(1) if m else "POST"
    if url.startswith("unix://"):
        url = "http://localhost" + url[len("unix://") :].split(".sock", 1)[-1]
    parts = urlsplit(url if "://" in url else "http://localhost" + ("" if url.startswith("/") else "/") + url)
    path = parts.path
    mv = re.match(r"^/v([0-9.]+)(/.*)$", path)
    docker = sem.docker or _docker_of_buildkit(sem.buildkit)
    max_api = api_of_docker(docker)
    if mv:
        try:
            api = tuple(int(x) for x in mv.group(1).split(".")[:2])
        except ValueError:
            raise UsageError(f"{where}: bad API version {mv.group(1)!r}") from None
        path = mv.group(2)
        if api > max_api:
            raise UsageError(
                f"{where}: client version {mv.group(1)} is too new. Maximum supported API version is "
                f"{max_api[0]}.{max_api[1]} (Docker {docker[0]}.{docker[1]})"
            )
        if api < MIN_API:
            raise UsageError(f"{where}: client version {mv.group(1)} is too old (minimum 1.24)")
    else:
        api = max_api
    if path.rstrip("/") != "/build/prune":
        raise UsageError(
            f"{where}: not a build-cache prune request (expected POST /build/prune, got {path!r})"
        )
    if method != "POST":
        raise UsageError(f"{where}: /build/prune takes POST, this request is {method} (curl -X POST)")
    form: dict[str, list[str]] = {}
    for k, v in _go_parse_query(body, where) + _go_parse_query(parts.query, where):
        form.setdefault(k, []).append(v)  # request body values first, as Go's r.Form has them

    def value(k: str) -> str:
        return form[k][0] if form.get(k) else ""

    def atoi(name: str) -> int:
        fv = value(name)
        if fv == "":
            return 0
        if not _ATOI.fullmatch(fv) or not -_INT64 <= int(fv) < _INT64:
            raise UsageError(f"{where}: {name} is in bytes and expects an integer, got {fv[:40]}")
        return int(fv)

    all_ = value("all").strip().lower() not in ("", "0", "no", "false", "none")
    args = _api_filters(value("filters"), where)
    notes: list[str] = []
    new_api = api >= (1, 48) and docker >= (28, 0, 0)
    if new_api:
        reserved = atoi("reserved-space") or atoi("keep-storage")
        max_used, min_free = atoi("max-used-space"), atoi("min-free-space")
    else:
        reserved, max_used, min_free = atoi("keep-storage"), 0, 0
        ignored = [k for k in ("reserved-space", "max-used-space", "min-free-space") if value(k)]
        if ignored:
            notes.append(
                f"{', '.join(ignored)} ignored: dockerd reads them from API 1.48 (Docker 28.0) on; "
                f"this request is API {api[0]}.{api[1]} to Docker {docker[0]}.{docker[1]}"
            )
    unknown = sorted(k for k in form if k not in ("all", "filters", "keep-storage", "reserved-space",
                                                   "max-used-space", "min-free-space"))  # fmt: skip
    if unknown:
        notes.append(f"query parameters {', '.join(unknown)[:200]} are ignored by dockerd")
    filters, keep, n = _engine_prune_info(args, all_=all_, where=where, now_ns=now_ns, validate=True)
    notes.extend(n)
    for item in filters:
        parse_filter_item(item)
    rule = PruneRule(
        filters, all_, keep, reserved, max_used, min_free, origin=f"POST /v{api[0]}.{api[1]}/build/prune"
    )
    return Policy((rule,), "prune", text, True, tuple(notes), "engine-api")


def _api_filters(raw: str, where: str) -> dict[str, list[str]]:
    """moby ``filters.FromJSON``: ``map[string]map[string]bool``, else the legacy ``map[string][]string``."""
    if raw == "":
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        if all(isinstance(v, dict) and all(isinstance(b, bool) for b in v.values()) for v in doc.values()):
            return {k: list(v) for k, v in doc.items()}
        if all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in doc.values()):
            return {k: list(dict.fromkeys(v)) for k, v in doc.items()}
    raise UsageError(f"{where}: invalid filter: filters must be a JSON object such as "
                     '{"type":{"exec.cachemount":true}}')  # fmt: skip
