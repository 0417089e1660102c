"""The record/link graph of a cache, validated the way BuildKit's importer would (pure).

Built from a :class:`~cacheinspect.load.LoadedCache` in a handful of linear passes (the benchmark in
``benchmarks/bench_decode.py`` holds this to about the cost of ``json.loads`` on the same bytes):

1. layer chain nodes: each ``(blob, parent)`` resolved to its bottom-to-top stack, with the importer's
   ``invalid layer index`` / ``invalid looping layer`` failures reported as findings;
2. records: inputs checked (``invalid record ID``, ``invalid empty input``), results resolved through
   ``parent`` or ``chains``; a result whose blob is not in the manifest is marked dropped, as BuildKit
   silently drops it;
3. topological order (Kahn); what cannot be ordered loops (``invalid looping record``);
4. identities: ``sha256(digest, inputs by index, each input's alternatives as sorted (selector, parent
   identity))``. Two exports of the same build agree on them although their arrays are ordered
   differently and their blobs differ (layers are rebuilt with new timestamps), which is what ``diff``
   matches on;
5. depth, children, stage grouping (the chain a record belongs to along its first input), step labels
   from image history, and the min/max estimate.

BuildKit drops the *whole* cache source on any structural error; the graph is still built (bad links
left out) so the report can show where the problem is.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from . import digest as digestmod
from .findings import Finding
from .load import BlobInfo, LoadedCache

__all__ = [
    "IMPORT_CAP",
    "CacheGraph",
    "Link",
    "Mode",
    "Record",
    "Result",
    "Stage",
    "build_graph",
    "parse_time",
]

#: ``readBlob`` in cache/remotecache/import.go refuses manifests and configs over 1 MiB.
IMPORT_CAP = 1 << 20
#: Individual findings listed per code before the rest are summarised in one.
MAX_FINDINGS_PER_CODE = 20

Mode = Literal["max", "min", "inline", "min-or-max", "empty"]


@dataclass(frozen=True, slots=True)
class Link:
    record: int
    selector: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    """A cached result: the layer stack (bottom to top) BuildKit would load for the record."""

    blobs: tuple[str, ...]
    created_at: str | None
    via: Literal["layer", "chain"]
    #: True when a blob of the stack is not in the manifest: the importer silently drops the result.
    dropped: bool = False

    @property
    def top(self) -> str | None:
        return self.blobs[-1] if self.blobs else None


@dataclass(slots=True)
class Record:
    index: int
    digest: str
    inputs: list[list[Link]]
    results: list[Result]
    identity: str = ""
    step: str | None = None
    depth: int = 0
    children: list[int] = field(default_factory=list)
    #: Index of the first non-root record of the chain this record extends (its stage), or None for roots.
    stage: int | None = None

    @property
    def is_root(self) -> bool:
        return not self.inputs

    @property
    def live_results(self) -> list[Result]:
        return [r for r in self.results if not r.dropped]


@dataclass(frozen=True, slots=True)
class Stage:
    head: int
    records: tuple[int, ...]
    label: str | None


@dataclass(slots=True)
class CacheGraph:
    cache: LoadedCache
    records: list[Record]
    findings: list[Finding]
    order: list[int]
    stages: list[Stage]
    mode: Mode
    mode_reason: str
    by_identity: dict[str, int]

    @property
    def blobs(self) -> dict[str, BlobInfo]:
        return self.cache.blobs

    @property
    def roots(self) -> list[Record]:
        return [r for r in self.records if r.is_root]

    def result_blobs(self) -> set[str]:
        """Blobs reachable from live results (what an importer can actually reuse)."""
        return {b for r in self.records for res in r.live_results for b in res.blobs}

    def times(self) -> tuple[datetime | None, datetime | None]:
        """Oldest and newest createdAt among results and blob annotations."""
        stamps = {res.created_at for r in self.records for res in r.results if res.created_at}
        stamps |= {b.created_at for b in self.cache.blobs.values() if b.created_at}
        parsed = [t for t in map(parse_time, stamps) if t is not None]
        return (min(parsed), max(parsed)) if parsed else (None, None)


def parse_time(s: str | None) -> datetime | None:
    """RFC 3339 with Go's nanoseconds (Python keeps microseconds); Go's zero time is None."""
    if not s or s.startswith("0001-01-01"):
        return None
    t = s.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    head, dot, rest = t.partition(".")
    if dot:
        frac = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tz = rest[:i], rest[i:]
        t = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class _Findings:
    """Collect findings, listing at most MAX_FINDINGS_PER_CODE per code and summarising the rest."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.counts: dict[str, int] = {}

    def add(self, code: str, message: str, *, subject: str | None = None, **details: object) -> None:
        n = self.counts.get(code, 0) + 1
        self.counts[code] = n
        if n <= MAX_FINDINGS_PER_CODE:
            self.items.append(Finding.of(code, message, subject=subject, **details))

    def done(self) -> list[Finding]:
        for code, n in self.counts.items():
            if n > MAX_FINDINGS_PER_CODE:
                self.items.append(
                    Finding.of(code, f"... and {n - MAX_FINDINGS_PER_CODE} more {code} findings", count=n)
                )
        return self.items


def _resolve_layers(cache: LoadedCache, f: _Findings) -> list[tuple[str, ...] | None]:
    """Bottom-to-top blob stack of every chain node; None where the importer would fail on it.

    Iterative with memoisation: each node is walked once, so deep or huge configs stay linear and a
    parent loop cannot recurse forever.
    """
    layers = cache.config.layers or []
    n = len(layers)
    stacks: list[tuple[str, ...] | None] = [None] * n
    state = bytearray(n)  # 0 unseen, 1 on the current path, 2 resolved
    for start in range(n):
        if state[start] == 2:
            continue
        path: list[int] = []
        i = start
        base: tuple[str, ...] | None
        while True:
            if state[i] == 2:
                base = stacks[i]
                break
            if state[i] == 1:
                f.add(
                    "looping-layer", f"layer {i}'s parent chain loops back to itself", subject=str(i), layer=i
                )
                base = None
                break
            state[i] = 1
            path.append(i)
            p = layers[i].parent
            if p == -1:
                base = ()
                break
            if not 0 <= p < n:
                f.add(
                    "invalid-layer-index",
                    f"layer {i} has parent {p}, out of range 0..{n - 1}",
                    subject=str(i),
                    layer=i,
                    parent=p,
                )
                base = None
                break
            i = p
        for j in reversed(path):
            if base is not None:
                base = (*base, layers[j].blob)
            stacks[j] = base
            state[j] = 2
    return stacks


def build_graph(cache: LoadedCache) -> CacheGraph:
    """Validate *cache* like BuildKit's importer and build its record graph (pure, linear)."""
    f = _Findings()
    for fd in cache.findings:
        f.items.append(fd)
    if cache.config_size > IMPORT_CAP:
        f.add(
            "config-over-import-cap",
            f"cache config is {cache.config_size} bytes, over BuildKit's {IMPORT_CAP}-byte import cap",
            subject=cache.config_digest,
            size=cache.config_size,
            cap=IMPORT_CAP,
        )
    if cache.manifest_size is not None and cache.manifest_size > IMPORT_CAP:
        f.add(
            "manifest-over-import-cap",
            f"cache manifest is {cache.manifest_size} bytes, over BuildKit's {IMPORT_CAP}-byte import cap",
            subject=cache.manifest_digest,
            size=cache.manifest_size,
            cap=IMPORT_CAP,
        )

    stacks = _resolve_layers(cache, f)
    known = cache.blobs
    check_manifest = cache.location != "file"
    missing_blobs: set[str] = set()
    if check_manifest:
        for cl in cache.config.layers or []:
            if cl.blob not in known and cl.blob not in missing_blobs:
                missing_blobs.add(cl.blob)
                f.add(
                    "layer-blob-not-in-manifest",
                    f"config layer blob {digestmod.short(cl.blob)} is not in the manifest: "
                    "BuildKit drops every result using it",
                    subject=cl.blob,
                )

    raw = cache.config.records or []
    cfg_layers = cache.config.layers or []
    n = len(raw)
    n_layers = len(stacks)
    records: list[Record] = []
    indeg = [0] * n
    for idx, rr in enumerate(raw):
        inputs: list[list[Link]] = []
        for i, inp in enumerate(rr.inputs or []):
            if not inp:
                f.add(
                    "empty-input",
                    f"record {idx} input {i} has no links",
                    subject=str(idx),
                    record=idx,
                    input=i,
                )
                inputs.append([])
                continue
            alts: list[Link] = []
            for x in inp:
                if 0 <= x.link < n:
                    alts.append(Link(x.link, x.selector))
                    indeg[idx] += 1
                else:
                    f.add(
                        "invalid-record-link",
                        f"record {idx} input {i} links to record {x.link}, out of range 0..{n - 1}",
                        subject=str(idx),
                        record=idx,
                        input=i,
                        link=x.link,
                    )
            inputs.append(alts)
        results: list[Result] = []
        for res in rr.layers or []:
            li = res.layer
            if not 0 <= li < n_layers:
                f.add(
                    "invalid-layer-index",
                    f"record {idx} result points at layer {li}, out of range",
                    subject=str(idx),
                    record=idx,
                    layer=li,
                )
                continue
            stack = stacks[li]
            if stack is None:
                continue  # the layer chain itself is broken: already reported
            results.append(
                Result(
                    stack,
                    res.created_at,
                    "layer",
                    dropped=bool(missing_blobs) and any(b in missing_blobs for b in stack),
                )
            )
        for ch in rr.chains or []:
            idxs = ch.layers or []
            if any(not 0 <= li < n_layers for li in idxs):
                f.add(
                    "invalid-layer-index",
                    f"record {idx} chain points at a layer out of range",
                    subject=str(idx),
                    record=idx,
                    layers=idxs,
                )
                continue
            stack = tuple(cfg_layers[li].blob for li in idxs)
            results.append(
                Result(
                    stack,
                    ch.created_at,
                    "chain",
                    dropped=bool(missing_blobs) and any(b in missing_blobs for b in stack),
                )
            )
        records.append(Record(idx, rr.digest, inputs, results))

    # Topological order (Kahn). What remains unordered sits on or behind a loop.
    for r in records:
        for alts in r.inputs:
            for lk in alts:
                records[lk.record].children.append(r.index)
    queue = deque(i for i in range(n) if indeg[i] == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for c in records[i].children:
            indeg[c] -= 1
            if indeg[c] == 0:
                queue.append(c)
    if len(order) < n:
        for i in range(n):
            if indeg[i] > 0:
                f.add(
                    "looping-record",
                    f"record {i} ({digestmod.short(records[i].digest)}) depends on itself through its inputs",
                    subject=str(i),
                    record=i,
                )
                records[i].identity = (
                    "loop:" + hashlib.sha256(f"{records[i].digest}#{i}".encode()).hexdigest()
                )

    # Identities, depth and stages in topological order.
    sha = hashlib.sha256
    by_identity: dict[str, int] = {}
    labels = cache.labels
    for i in order:
        r = records[i]
        if r.inputs:
            parts = [r.digest]
            depth = 0
            for alts in r.inputs:
                keys = sorted(f"{lk.selector}>{records[lk.record].identity}" for lk in alts)
                parts.append(",".join(keys))
                for lk in alts:
                    d = records[lk.record].depth + 1
                    if d > depth:
                        depth = d
            r.identity = sha("|".join(parts).encode()).hexdigest()
            r.depth = depth
            first = r.inputs[0]
            parent_stage = next(
                (records[lk.record].stage for lk in first if not records[lk.record].is_root), None
            )
            r.stage = parent_stage if parent_stage is not None else i
        else:
            r.identity = sha(r.digest.encode()).hexdigest()
        by_identity.setdefault(r.identity, i)
        if labels:
            for result in r.results:
                top = result.top
                if top is None:
                    continue
                label = labels.get(top)
                if label is None and top in known and known[top].diff_id:
                    label = labels.get(known[top].diff_id or "")
                if label:
                    r.step = label
                    break

    stage_members: dict[int, list[int]] = {}
    for r in records:
        if r.stage is not None:
            stage_members.setdefault(r.stage, []).append(r.index)
    stages = [Stage(head, tuple(m), records[head].step) for head, m in stage_members.items()]

    mode, reason = _estimate_mode(cache, records, stacks)
    if not raw:
        f.add("empty-cache", "the cache config holds no records")
    elif not any(r.live_results for r in records):
        f.add("no-results", "no record carries a usable result (layer)")
    if mode in ("min", "inline"):
        f.add("mode-min", f"looks like mode={mode}: {reason}")
    return CacheGraph(cache, records, f.done(), order, stages, mode, reason, by_identity)


def _estimate_mode(
    cache: LoadedCache, records: list[Record], stacks: list[tuple[str, ...] | None]
) -> tuple[Mode, str]:
    """min exports carry only the final image's stack; max gives every non-root step a result.

    Evidence, strongest first: inline cache is always min; non-root records without results mean min
    (max gives every step a layer); stacks that branch (one blob with two different children) mean max;
    a single unbranched stack with every step cached is what both modes produce for a one-stage build.
    """
    if not records:
        return "empty", "no records"
    if cache.kind == "inline":
        return "inline", "inline cache is always exported in mode=min"
    keyonly = sum(1 for r in records if r.inputs and not r.results)
    if keyonly:
        return "min", f"{keyonly} non-root record(s) carry no result (mode=max gives every step a layer)"
    # Leaf stacks: stacks no other stack extends. min exports one image stack per platform.
    layers = cache.config.layers or []
    has_child = {cl.parent for cl in layers}
    leaves = len({st for i, st in enumerate(stacks) if st and i not in has_child})
    per_platform = max(1, len(cache.platforms))
    if leaves > per_platform:
        return (
            "max",
            f"{leaves} separate layer stacks for {per_platform} platform(s): several stages are cached",
        )
    return "min-or-max", "a single unbranched stack with every step cached: min and max export the same here"
