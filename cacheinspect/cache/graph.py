"""The record/link graph of a cache, validated the way BuildKit's importer would (pure).

Built from a :class:`~cacheinspect.cache.load.LoadedCache` in a handful of linear passes (the benchmark in
``benchmarks/bench_decode.py`` holds this to about the cost of ``json.loads`` on the same bytes):

1. layer chain nodes: each ``(blob, parent)`` resolved to its bottom-to-top stack, with the importer's
   ``invalid layer index`` / ``invalid looping layer`` failures reported as findings;
2. records: inputs checked (``invalid record ID``, ``invalid empty input``), results resolved through
   ``parent`` or ``chains``; a result whose blob is not in the manifest is marked dropped, as BuildKit
   silently drops it;
3. topological order (Kahn); what cannot be ordered loops (``invalid looping record``);
4. identities: ``blake2b-128(digest, inputs by index, each input's alternatives as sorted (selector, parent
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
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import msgspec

from cacheinspect import digest as digestmod
from cacheinspect.cache.config import CacheInput, CacheLayer, CacheRecord, paused_gc
from cacheinspect.cache.findings import Finding
from cacheinspect.cache.load import BlobInfo, ImageInfo, LoadedCache

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
#: Layer media types BuildKit writes (gzip, zstd, uncompressed; OCI and Docker names; estargz is gzip).
LAYER_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
#: Individual findings listed per code before the rest are summarised in one.
MAX_FINDINGS_PER_CODE = 20

Mode = Literal["max", "min", "inline", "min-or-max", "empty"]


#: One alternative of one input: ``link`` is the record it points at, ``selector`` narrows it. The
#: decoded config's own objects are reused (no copy per link: that alone was a quarter of build time).
Link = CacheInput


class Result:
    """A cached result: the layer stack (bottom to top) BuildKit would load for the record.

    The stack is resolved lazily from the config's chain nodes: building a tuple per node up front
    cost more than decoding the JSON on 100k-record configs, and most reports never read most stacks.
    """

    __slots__ = ("_blobs", "_layers", "chain", "created_at", "dropped", "node", "via")

    def __init__(
        self,
        layers: list[CacheLayer],
        node: int,
        chain: tuple[int, ...] | None,
        created_at: str | None,
        *,
        dropped: bool = False,
    ) -> None:
        self._layers = layers
        #: Top chain node for a ``layers`` result; -1 for a ``chains`` result.
        self.node = node
        self.chain = chain
        self.created_at = created_at
        self.via: Literal["layer", "chain"] = "chain" if chain is not None else "layer"
        #: True when a blob of the stack is not in the manifest: the importer silently drops the result.
        self.dropped = dropped
        self._blobs: tuple[str, ...] | None = None

    @property
    def blobs(self) -> tuple[str, ...]:
        if self._blobs is None:
            if self.chain is not None:
                self._blobs = tuple(self._layers[i].blob for i in self.chain)
            else:
                out: list[str] = []
                i = self.node
                while i != -1:  # chains were checked loop-free and in range before a Result is made
                    out.append(self._layers[i].blob)
                    i = self._layers[i].parent
                out.reverse()
                self._blobs = tuple(out)
        return self._blobs

    @property
    def top(self) -> str | None:
        if self.chain is not None:
            return self._layers[self.chain[-1]].blob if self.chain else None
        return self._layers[self.node].blob

    def __repr__(self) -> str:
        return f"Result(via={self.via}, top={self.top}, dropped={self.dropped})"


class Record:
    """A cache key (record) with its validated inputs and results.

    ``results`` are materialised on first access from the decoded record when it validated cleanly
    (the common case); records with a bad or dropped result get theirs built eagerly during validation.
    """

    __slots__ = (
        "_layers",
        "_raw",
        "_results",
        "children",
        "depth",
        "digest",
        "identity",
        "index",
        "inputs",
        "stage",
        "step",
    )

    def __init__(
        self,
        index: int,
        digest: str,
        inputs: list[list[Link]],
        results: list[Result] | None,
        children: list[int] | None = None,
        raw: CacheRecord | None = None,
        layers: list[CacheLayer] | None = None,
    ) -> None:
        self.index = index
        self.digest = digest
        self.inputs = inputs
        self._results = results
        self._raw = raw
        self._layers = layers
        self.children: list[int] = children if children is not None else []
        self.identity = ""
        self.step: str | None = None
        self.depth = 0
        #: Index of the first non-root record of the chain this record extends (its stage); None for roots.
        self.stage: int | None = None

    @property
    def results(self) -> list[Result]:
        if self._results is None:
            raw, layers = self._raw, self._layers or []
            out: list[Result] = []
            if raw is not None:
                out = [Result(layers, x.layer, None, x.created_at) for x in raw.layers or ()]
                out += [Result(layers, -1, tuple(c.layers or ()), c.created_at) for c in raw.chains or ()]
            self._results = out
        return self._results

    @property
    def has_results(self) -> bool:
        if self._results is None and self._raw is not None:
            return bool(self._raw.layers or self._raw.chains)
        return bool(self.results)

    @property
    def is_root(self) -> bool:
        return not self.inputs

    @property
    def live_results(self) -> list[Result]:
        return [r for r in self.results if not r.dropped]

    @property
    def has_live_results(self) -> bool:
        """``bool(live_results)`` without materialising lazy results: those validated cleanly, so none
        of them is dropped (1M-record configs spent a second building Result objects to ask this)."""
        if self._results is None:
            return self.has_results
        return any(not r.dropped for r in self._results)

    def __repr__(self) -> str:
        return f"Record(#{self.index} {self.digest[:19]} inputs={len(self.inputs)} step={self.step!r})"


class Stage(msgspec.Struct, frozen=True):
    """A run of records that one build stage produced: its head record, its records, its step label."""

    head: int
    records: tuple[int, ...]
    label: str | None


class CacheGraph(msgspec.Struct):
    """A decoded cache as BuildKit's importer sees it: records, links, stages, export mode and findings."""

    cache: LoadedCache
    records: list[Record]
    findings: list[Finding]
    order: list[int]
    stages: list[Stage]
    mode: Mode
    mode_reason: str
    by_identity: dict[str, int]
    #: Per record index, 1 when it has a result the importer keeps (``Record.has_live_results``), computed
    #: once while building: diff and summary ask it millions of times on 1M-record configs, and a
    #: property call each was a third of ``diff``'s time.
    live: bytearray

    def __repr__(self) -> str:
        # Short on purpose: CPython 3.11's asyncio.run formats the repr of its result
        # (python/cpython#112559), and the generated one of a 100k-record graph takes seconds.
        return f"CacheGraph({self.cache.ref!r}, {len(self.records)} records, mode={self.mode})"

    @property
    def blobs(self) -> dict[str, BlobInfo]:
        return self.cache.blobs

    @property
    def roots(self) -> list[Record]:
        return [r for r in self.records if r.is_root]

    def image_roots(self) -> set[int]:
        """Roots that are base-image keys: an image source is keyed twice (manifest and ChainID), so its
        children link to two roots as alternatives of one input. Other roots are source keys (build
        context, content checksums ``<checksum>@-1``)."""
        out: set[int] = set()
        for r in self.records:
            for alts in r.inputs:
                roots = [lk.link for lk in alts if self.records[lk.link].is_root]
                if len(roots) >= 2:
                    out.update(roots)
        return out

    def times(self) -> tuple[datetime | None, datetime | None]:
        """Oldest and newest createdAt among results and blob annotations."""
        stamps: set[str] = set()
        add = stamps.add
        for r in self.records:
            raw = r._raw
            if r._results is None:  # read lazily-validated records straight from the config
                if raw is not None:
                    for x in raw.layers or ():
                        add(x.created_at or "")
                    for c in raw.chains or ():
                        add(c.created_at or "")
            else:
                for res in r._results:
                    add(res.created_at or "")
        stamps.discard("")
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


def _resolve_layers(
    layers: list[CacheLayer], missing: set[str], f: _Findings, starts: set[int]
) -> tuple[bytearray, bytearray, bytearray]:
    """Which chain nodes resolve (``ok``) and which stacks hold a blob absent from the manifest (``tainted``).

    Iterative with memoisation: each node is walked once, so deep or huge configs stay linear and a
    parent loop cannot recurse forever. These are the importer's ``invalid layer index`` and
    ``invalid looping layer`` failures, checked in its order: loop, index range, then the blob (a walk
    stops at a blob not in the manifest).
    """
    n = len(layers)
    ok = bytearray(n)
    tainted = bytearray(n)
    state = bytearray(n)  # 0 unseen, 1 on the current path, 2 resolved
    for start in sorted(starts):
        if state[start] == 2:
            continue
        path: list[int] = []
        i = start
        good, bad_blob = 1, 0
        while True:
            if state[i] == 2:
                good, bad_blob = ok[i], tainted[i]
                break
            if state[i] == 1:
                f.add(
                    "looping-layer", f"layer {i}'s parent chain loops back to itself", subject=str(i), layer=i
                )
                good = 0
                break
            state[i] = 1
            path.append(i)
            if missing and layers[i].blob in missing:
                # getRemoteChain returns nil at a blob the manifest lacks without reading its parent:
                # the result is dropped silently, and nothing below is checked (v0.13 parse.go).
                bad_blob = 1
                break
            p = layers[i].parent
            if p == -1:
                break
            if not 0 <= p < n:
                f.add(
                    "invalid-layer-index",
                    f"layer {i} has parent {p}, out of range 0..{n - 1}",
                    subject=str(i),
                    layer=i,
                    parent=p,
                )
                good = 0
                break
            i = p
        for j in reversed(path):
            if missing and layers[j].blob in missing:
                bad_blob = 1
            ok[j] = good
            tainted[j] = bad_blob
            state[j] = 2
    return ok, tainted, state  # state 2 = reached from a result


def build_graph(cache: LoadedCache) -> CacheGraph:
    """Validate *cache* like BuildKit's importer and build its record graph (pure, linear)."""
    # ~300 bytes of config per record: the same threshold as decoding, in records
    with paused_gc(len(cache.config.records or ()) * 300):
        return _build_graph(cache)


def _build_graph(cache: LoadedCache) -> CacheGraph:
    """The importer's checks and the graph, in the order the importer meets them: the size caps, the
    layer chains, each record (inputs, results), the build order (loops), identities and labels,
    stages, then what the whole says (mode, empty, no results)."""
    f = _Findings()
    f.items.extend(cache.findings)
    _cap_findings(cache, f)
    layers = _check_layers(cache, f)
    _blob_findings(cache, f)
    raw = cache.config.records or []
    records, children, indeg, live = _read_records(raw, layers, f)
    order = _build_order(records, children, indeg, f)
    _identities(records, order, layers.cfg)
    by_identity: dict[str, int] = {}
    for i in order:
        by_identity.setdefault(records[i].identity, i)
    if cache.labels or cache.node_labels:
        _label(records, cache)
    stages = _stages(records)
    mode, reason = _estimate_mode(cache, records, layers.ok, len(stages))
    if not raw:
        f.add("empty-cache", "the cache config holds no records")
    elif 1 not in live:
        f.add("no-results", "no record carries a usable result (layer)")
    if mode in ("min", "inline"):
        f.add("mode-min", f"looks like mode={mode}: {reason}")
    return CacheGraph(cache, records, f.done(), order, stages, mode, reason, by_identity, live)


def _cap_findings(cache: LoadedCache, f: _Findings) -> None:
    """Phase 1: BuildKit's importer refuses a config or manifest over the 1 MiB cap before anything."""
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


class _Layers(NamedTuple):
    """The config's layer chain nodes after phase 2: which resolve (``ok``), which stacks hold a blob
    the manifest lacks (``tainted``), and those blobs (``missing``)."""

    cfg: list[CacheLayer]
    ok: bytearray
    tainted: bytearray
    missing: set[str]


def _check_layers(cache: LoadedCache, f: _Findings) -> _Layers:
    """Phase 2: the layer chains. Like BuildKit's importer, only chain nodes some ``layers`` result
    reaches are followed and checked: a stray node with a bad parent is never read, so it breaks nothing."""
    cfg_layers = cache.config.layers or []
    missing_blobs: set[str] = set()
    if cache.location != "file":
        missing_blobs = {cl.blob for cl in cfg_layers if cl.blob not in cache.blobs}
    n_layers = len(cfg_layers)
    starts = {
        res.layer for rr in cache.config.records or () for res in rr.layers or () if 0 <= res.layer < n_layers
    }
    layer_ok, tainted, reached = _resolve_layers(cfg_layers, missing_blobs, f, starts)
    used: set[str] = set()
    if missing_blobs:  # which missing blobs a result actually uses (only then is a result dropped)
        chained = {
            i
            for rr in cache.config.records or ()
            for ch in rr.chains or ()
            for i in ch.layers or ()
            if 0 <= i < n_layers
        }
        used = {cfg_layers[i].blob for i in range(n_layers) if reached[i] == 2 or i in chained}
    for blob in sorted(missing_blobs & used):
        f.add(
            "layer-blob-not-in-manifest",
            f"config layer blob {digestmod.short(blob)} is not in the manifest: BuildKit drops every result using it",
            subject=blob,
        )
    return _Layers(cfg_layers, layer_ok, tainted, missing_blobs)


def _read_records(
    raw: list[CacheRecord], layers: _Layers, f: _Findings
) -> tuple[list[Record], list[list[int]], list[int], bytearray]:
    """Phase 3: every record with its inputs and results; returns the records, each one's children,
    its number of input links (for the build order) and whether it has a live result."""
    cfg_layers, layer_ok, tainted, missing_blobs = layers
    n = len(raw)
    n_layers = len(cfg_layers)
    records: list[Record] = []
    append_record = records.append
    children: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    live = bytearray(n)
    for idx, rr in enumerate(raw):
        # Fast path: the decoded input lists are used as they are when every input has links and every
        # link is in range (a real export); only a broken record gets a cleaned copy, and its findings.
        rin = rr.inputs or []
        broken = False
        links = 0
        for inp in rin:
            if not inp:
                broken = True
                continue
            for x in inp:
                li = x.link
                if 0 <= li < n:
                    children[li].append(idx)
                    links += 1
                else:
                    broken = True
        indeg[idx] = links
        inputs: list[list[Link]] = rin  # type: ignore[assignment]  # no None inside unless broken
        if broken:
            inputs = _clean_inputs(idx, rin, n, f)
        # Results: validated here, materialised lazily unless something about them is wrong.
        eager = False
        for res in rr.layers or ():
            li = res.layer
            if not 0 <= li < n_layers or not layer_ok[li] or tainted[li]:
                eager = True
                break
        if not eager and rr.chains:
            eager = any(
                not 0 <= li < n_layers or (missing_blobs and cfg_layers[li].blob in missing_blobs)
                for ch in rr.chains
                for li in ch.layers or ()
            )
        results = _checked_results(idx, rr, layers, f) if eager else None
        append_record(Record(idx, rr.digest, inputs, results, children[idx], rr, cfg_layers))
        if results is None:
            if rr.layers or rr.chains:  # validated cleanly: none of them is dropped
                live[idx] = 1
        elif any(not x.dropped for x in results):
            live[idx] = 1
    return records, children, indeg, live


def _checked_results(idx: int, rr: CacheRecord, layers: _Layers, f: _Findings) -> list[Result]:
    """The results of a record that has something wrong with them, each problem a finding."""
    cfg_layers, layer_ok, tainted, missing_blobs = layers
    n_layers = len(cfg_layers)
    results: list[Result] = []
    for res in rr.layers or ():
        li = res.layer
        if not 0 <= li < n_layers:
            f.add(
                "invalid-layer-index",
                f"record {idx} result points at layer {li}, out of range",
                subject=str(idx),
                record=idx,
                layer=li,
            )
        elif layer_ok[li]:  # a broken chain was reported where it breaks
            results.append(Result(cfg_layers, li, None, res.created_at, dropped=bool(tainted[li])))
    for ch in rr.chains or ():
        # parse.go walks a chain in order: an index out of range fails the import, a blob the
        # manifest lacks drops the result and ends the walk (later indexes are never checked).
        idxs = tuple(ch.layers or ())
        out_of_range = dropped = False
        for k, li in enumerate(idxs):
            if not 0 <= li < n_layers:
                out_of_range = True
                break
            if missing_blobs and cfg_layers[li].blob in missing_blobs:
                dropped, idxs = True, idxs[: k + 1]
                break
        if out_of_range:
            f.add(
                "invalid-layer-index",
                f"record {idx} chain points at a layer out of range",
                subject=str(idx),
                record=idx,
                layers=list(idxs),
            )
            continue
        results.append(Result(cfg_layers, -1, idxs, ch.created_at, dropped=dropped))
    return results


def _build_order(
    records: list[Record], children: list[list[int]], indeg: list[int], f: _Findings
) -> list[int]:
    """Phase 4: topological order (Kahn), in waves, each wave sorted by index. What remains unordered
    sits on or behind a loop: a finding per record on it, and an identity of its own for each.

    Sorting matters: the decoded objects lie in memory in index order, so walking a wave in index order
    moves forward through memory; plain BFS order jumps at random (configs are sorted by digest) and
    made later passes 2-3x slower on 100k-record configs from cache misses."""
    n = len(records)
    wave = [i for i in range(n) if indeg[i] == 0]
    order: list[int] = []
    while wave:
        wave.sort()
        order += wave
        nxt: list[int] = []
        for i in wave:
            for c in children[i]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    nxt.append(c)
        wave = nxt
    if len(order) < n:
        stuck = [i for i in range(n) if indeg[i] > 0]
        cyclic = _cycle_members(records, stuck)
        behind = len(stuck) - len(cyclic)
        for i in sorted(cyclic):
            f.add(
                "looping-record",
                f"record {i} ({digestmod.short(records[i].digest)}) depends on itself through its inputs"
                + (f" ({behind} more record(s) depend on the loop)" if behind else ""),
                subject=str(i),
                record=i,
            )
        for i in stuck:
            records[i].identity = "loop:" + hashlib.sha256(f"{records[i].digest}#{i}".encode()).hexdigest()
    return order


def _stages(records: list[Record]) -> list[Stage]:
    """Phase 6: stages in build order (by the depth of their first step), labelled by their first
    labelled step."""
    stage_members: dict[int, list[int]] = {}
    for r in records:
        if r.stage is not None:
            stage_members.setdefault(r.stage, []).append(r.index)
    # Stages in build order (by the depth of their first step), labelled by their earliest labelled step.
    heads = sorted(stage_members, key=lambda h: (records[h].depth, h))
    return [
        Stage(
            h,
            tuple(stage_members[h]),
            # named after its earliest labelled step (build order, not config order)
            min(
                ((records[m].depth, m, records[m].step) for m in stage_members[h] if records[m].step),
                default=(0, 0, None),
            )[2],
        )
        for h in heads
    ]


def _cycle_members(records: list[Record], stuck: list[int]) -> set[int]:
    """Records on a cycle among those Kahn could not order (the rest only depend on a loop).

    A record is on a cycle when it can reach itself through parents that are also stuck; the stuck set
    is small (a broken cache), so a search per record is fine.
    """
    stuck_set = set(stuck)
    out: set[int] = set()
    for s in stuck:
        seen: set[int] = set()
        todo = [lk.link for alts in records[s].inputs for lk in alts if lk.link in stuck_set]
        while todo:
            x = todo.pop()
            if x == s:
                out.add(s)
                break
            if x in seen:
                continue
            seen.add(x)
            todo.extend(lk.link for alts in records[x].inputs for lk in alts if lk.link in stuck_set)
    return out


def _clean_inputs(idx: int, rin: list[list[Link] | None], n: int, f: _Findings) -> list[list[Link]]:
    """A broken record's inputs without the links BuildKit would reject, each rejection a finding."""
    out: list[list[Link]] = []
    for i, inp in enumerate(rin):
        if not inp:
            f.add(
                "empty-input", f"record {idx} input {i} has no links", subject=str(idx), record=idx, input=i
            )
            out.append([])
            continue
        for x in inp:
            if not 0 <= x.link < n:
                f.add(
                    "invalid-record-link",
                    f"record {idx} input {i} links to record {x.link}, out of range 0..{n - 1}",
                    subject=str(idx),
                    record=idx,
                    input=i,
                    link=x.link,
                )
        out.append([x for x in inp if 0 <= x.link < n])
    return out


def _blob_findings(cache: LoadedCache, f: _Findings) -> None:
    """Media types BuildKit would not write, and layers kept in several compressions."""
    by_diff: dict[str, list[str]] = {}
    for b in cache.blobs.values():
        if b.media_type and b.media_type not in LAYER_MEDIA_TYPES:
            f.add(
                "unknown-media-type",
                f"layer {digestmod.short(b.digest)} has media type {b.media_type}",
                subject=b.digest,
                media_type=b.media_type,
            )
        if b.diff_id:
            by_diff.setdefault(b.diff_id, []).append(b.digest)
    multi = {d: bs for d, bs in by_diff.items() if len(bs) > 1}
    if multi:
        f.add(
            "compression-variants",
            f"{len(multi)} layer(s) are stored in several compressions "
            f"({sum(len(v) for v in multi.values())} blobs for {len(multi)} diffIDs)",
            layers={d: sorted(bs) for d, bs in sorted(multi.items())},
        )


def _identities(records: list[Record], order: list[int], layers: list[CacheLayer]) -> None:
    """Identity, depth and stage of every ordered record, parents first.

    Identity: 128-bit BLAKE2b over the digest and, per input, the sorted (selector, parent identity)
    alternatives: collision-free for any real cache, and half the memory of sha256 hex.

    Stage: with results (max exports) lineage is exact: a record continues the input whose result
    stack its own stack extends by one layer. Without (min exports' keys), the first input is the base
    (RUN's rootfs, COPY's destination) unless it offers several alternatives or a selector-narrowed
    source: that is ``COPY --from`` onto scratch, whose first input is the *source* stage, so it starts
    a new stage.

    The loop runs in topological order, which jumps across memory at random (configs are sorted by
    digest), so it reads only flat per-record lists built in one sequential pass, never Record objects:
    on 100k-record configs that halves its cost.
    """
    n = len(records)
    ident = [""] * n
    depth = [0] * n
    stage: list[int | None] = [None] * n
    inputs_of = [r.inputs for r in records]
    digest_of = [r.digest for r in records]
    has_inputs = [bool(x) for x in inputs_of]
    # First result's top chain node, and that node's parent (-1: none). Only records whose results
    # validated cleanly are still lazy (_results is None): only those are trusted here.
    top_node = [
        r._raw.layers[0].layer if r._results is None and r._raw is not None and r._raw.layers else -1
        for r in records
    ]
    top_parent = [layers[t].parent if t >= 0 else -1 for t in top_node]
    blake = hashlib.blake2b
    root_ident: dict[str, str] = {}  # roots of one digest share an identity: hash each digest once
    for i in order:
        inputs = inputs_of[i]
        if not inputs:
            dg = digest_of[i]
            h = root_ident.get(dg)
            if h is None:
                h = root_ident[dg] = blake(dg.encode(), digest_size=16).hexdigest()
            ident[i] = h
            continue
        parts = [digest_of[i]]
        d = 0
        for alts in inputs:
            if len(alts) == 1:  # the common case: no sort, no join
                lk = alts[0]
                j = lk.link
                parts.append(lk.selector + ">" + ident[j])
                if depth[j] >= d:
                    d = depth[j] + 1
                continue
            keys = []
            for lk in alts:
                j = lk.link
                keys.append(lk.selector + ">" + ident[j])
                if depth[j] >= d:
                    d = depth[j] + 1
            keys.sort()
            parts.append(",".join(keys))
        ident[i] = blake("|".join(parts).encode(), digest_size=16).hexdigest()
        depth[i] = d
        # stage
        st: int | None = None
        found = False
        if top_node[i] >= 0:
            parent = top_parent[i]
            found = True  # a bottom layer (parent -1) starts a stage
            if parent != -1:
                found = False
                want = layers[parent].blob
                for alts in inputs:
                    for lk in alts:
                        pt = top_node[lk.link]
                        if pt == parent or (pt >= 0 and layers[pt].blob == want):
                            st, found = stage[lk.link], True
                            break
                    if found:
                        break
        if not found:
            first = inputs[0]
            for lk in first:
                if has_inputs[lk.link] and not lk.selector:
                    st = stage[lk.link]
                    break
            else:
                if len(first) == 1 and has_inputs[first[0].link]:
                    st = stage[first[0].link]
        stage[i] = st if st is not None else i
    for i in order:
        r = records[i]
        r.identity, r.depth, r.stage = ident[i], depth[i], stage[i]


def _label(records: list[Record], cache: LoadedCache) -> None:
    """Step labels from image history, only where the record's whole layer stack is the image's.

    Inline cache: config layer node i is image layer i, so labels go by node. Registry caches: a label
    at image position i goes to a record whose result stack is the image's layers 0..i (by blob or
    diffID), not merely ends in the same blob: a builder-stage RUN whose layer is byte-identical to the
    final image's ``COPY --from`` layer has the same top blob but another stack. Where several records of
    different digests have that very stack (``FROM base AS b`` + ``RUN`` and ``FROM base`` +
    ``COPY --from=b``), the one the others feed into is the image's step (a record that is an input of
    another candidate came earlier: it is the builder's); if that leaves no single step, none is labelled.
    """
    by_node = cache.node_labels
    known = cache.blobs
    where: dict[str, list[tuple[int, int]]] = {}  # blob digest or diffID -> [(image, position)]
    for k, img in enumerate(cache.images):
        for i, d in enumerate(img.layers):
            where.setdefault(d.digest, []).append((k, i))
            if i < len(img.diff_ids) and img.diff_ids[i] != d.digest:
                where.setdefault(img.diff_ids[i], []).append((k, i))
    # (image, position) -> records whose stack is the image's stack up to there
    claims: dict[tuple[int, int], list[int]] = {}
    for r in records:
        for result in r.results:
            top = result.top
            if top is None:
                continue
            node = result.node if result.chain is None else (result.chain[-1] if result.chain else -1)
            label = by_node.get(node)
            if label:
                r.step = label
                break
            spots = list(where.get(top, ()))
            diff = known[top].diff_id if top in known else None
            if diff and diff != top:
                spots += where.get(diff, ())
            hit = False
            for k, i in dict.fromkeys(spots):
                img = cache.images[k]
                if (
                    i < len(img.layer_labels)
                    and img.layer_labels[i]
                    and _same_stack(result.blobs, img, i, known)
                ):
                    claims.setdefault((k, i), []).append(r.index)
                    hit = True
            if hit:
                break
    for (k, i), idxs in claims.items():
        label = cache.images[k].layer_labels[i]
        for j in _unambiguous(records, idxs):
            if records[j].step is None:
                records[j].step = label


def _same_stack(blobs: tuple[str, ...], img: ImageInfo, i: int, known: dict[str, BlobInfo]) -> bool:
    """True when BLOBS (bottom to top) are the image's layers 0..i, each by blob digest or diffID."""
    layers, diff_ids = img.layers, img.diff_ids
    if len(blobs) != i + 1:
        return False
    for j, b in enumerate(blobs):
        if b == layers[j].digest:
            continue
        info = known.get(b)
        if info is None or not info.diff_id or j >= len(diff_ids) or info.diff_id != diff_ids[j]:
            return False
    return True


#: Records visited at most when telling which of several equal-stack records feeds the others.
_TIE_VISITS = 100_000


def _unambiguous(records: list[Record], idxs: list[int]) -> list[int]:
    """Of the records claiming one image layer: all of them when they are one step (one digest), else
    those no other claimant depends on, when they are one step; else none."""
    if len({records[j].digest for j in idxs}) == 1:
        return idxs
    claim = set(idxs)
    fed: set[int] = set()  # claimants that are (transitive) inputs of another claimant
    visits = 0
    for j in idxs:
        seen: set[int] = set()
        todo = [lk.link for alts in records[j].inputs for lk in alts]
        while todo:
            x = todo.pop()
            if x in seen or not 0 <= x < len(records):
                continue
            seen.add(x)
            visits += 1
            if visits > _TIE_VISITS:
                return []
            if x in claim:
                fed.add(x)
            todo.extend(lk.link for alts in records[x].inputs for lk in alts)
    last = [j for j in idxs if j not in fed]
    return last if len({records[j].digest for j in last}) == 1 else []


def _estimate_mode(
    cache: LoadedCache, records: list[Record], layer_ok: bytearray, n_stages: int
) -> tuple[Mode, str]:
    """Decide min only from what only a mode=min export lacks; otherwise say that it cannot be told.

    What BuildKit exports (solver/exporter.go, ``ExportTo``): mode=max loads every record's result; mode=min
    exports the final result and, below a record that got one, only results that are already remote
    (``CacheExportModeRemoteOnly``: blobs of the final image's chain, of pulled images, of an imported
    cache). Real builds on v0.13 and v0.25 (tests/e2e/test_mode_evidence.py) show what follows:

    * a mode=min export after a build that took every step from an imported cache is byte-identical to
      the mode=max export (same config digest): no shape proves max, so "every step has a result" is
      ``min-or-max``, never ``max``;
    * mode=max exports carry key-only records too: alternatives kept from an imported cache (another
      record of the same digest has the result; the README's CI recipe after a ``chmod``), and on v0.13
      steps whose result stayed in the imported cache (their parent, or a record built on them, has one);
    * v0.13's mode=max after ``--cache-from`` leaves a varying subset of the steps it took from the import
      key-only (runs of them too), so a single key-only step proves nothing;
    * what only a min export lacks: a whole builder stage without any result (a min export gives builder
      stages keys, not layers), whose key-only steps have no same-digest twin with a result, no cached step
      on them and no cached step under them;
    * but only while no *other* builder stage carries a layer: a min export has builder layers only when
      they are remote (an imported cache), and v0.13's mode=max after ``--cache-from`` can leave a whole
      builder stage key-only while the next one keeps its layers (seen in about 1 of 15 warm max exports of
      the threestage case: tests/data/v013-warm-max-bare-builder-stage.config.json). A bare builder stage
      beside a builder stage with layers is a partly warm min or such a max: ``min-or-max``.
    """
    if not records:
        return "empty", "no records"
    if cache.kind == "inline":
        return "inline", "inline cache is always exported in mode=min"
    keyonly = [r for r in records if r.inputs and not r.has_results]
    if keyonly:
        with_result = {r.digest for r in records if r.inputs and r.has_results}
        covered: set[int] = set()  # records a resulted record stands on (its input 0, no selector)
        for r in records:
            if r.inputs and r.has_results:
                covered.update(lk.link for lk in r.inputs[0] if not lk.selector)
        n = len(records)
        unexplained = [
            r
            for r in keyonly
            if r.digest not in with_result
            and r.index not in covered
            and not any(0 <= lk.link < n and records[lk.link].has_results for lk in r.inputs[0])
        ]
        bare = _stages_without_results(records)
        proof = [r for r in unexplained if r.stage in bare]
        if proof and _builder_stages_with_results(records):
            return "min-or-max", (
                f"{len(keyonly)} key-only record(s), a builder stage without results beside one with "
                "layers: a mode=min export with an imported cache, or a v0.13 mode=max after --cache-from"
            )
        if proof:
            # a whole builder stage without a layer: what only a min export lacks
            return (
                "min",
                f"{len(keyonly)} non-root record(s) carry no result (mode=max gives every step a layer)",
            )
        return "min-or-max", (
            f"{len(keyonly)} key-only record(s), but every stage has cached steps (mode=max after "
            "--cache-from keeps key-only steps too): min and max cannot be told apart here"
        )
    # Leaf stacks: stacks no other stack extends. min exports one image stack per platform.
    layers = cache.config.layers or []
    is_parent = bytearray(len(layers) + 1)  # index -1 (no parent) lands on the spare last slot
    for cl in layers:
        if -1 <= cl.parent < len(layers):
            is_parent[cl.parent] = 1
    leaves = sum(1 for i, ok in enumerate(layer_ok) if ok and not is_parent[i])
    per_platform = max(1, len(cache.platforms))
    if leaves > per_platform and not cache.platforms and n_stages <= 1:
        return (
            "min-or-max",
            f"{leaves} separate layer stacks in one stage: likely one per platform (a registry cache does not "
            "record platforms), and min and max export the same for a one-stage build",
        )
    if leaves > per_platform:
        return (
            "min-or-max",
            f"every step carries a result ({leaves} separate layer stacks for {per_platform} platform(s)): "
            "what mode=max exports, and byte for byte what mode=min exports when every step came from an "
            "imported cache",
        )
    return "min-or-max", "a single unbranched stack with every step cached: min and max export the same here"


def _builder_stages_with_results(records: list[Record]) -> set[int]:
    """Stages (by head index) that end in no final record yet carry a result: builder stages with layers.

    A final record is one no other record takes as an input (the image the build produced; one per
    target or platform); its stage is the image's own, whose layers every export has."""
    used = {lk.link for r in records for inp in r.inputs for lk in inp}
    final = {r.stage for r in records if r.index not in used and r.inputs}
    return {r.stage for r in records if r.inputs and r.has_results and r.stage is not None} - final


def _stages_without_results(records: list[Record]) -> set[int]:
    """Stages (by head index) none of whose non-root records carries a result."""
    seen: set[int] = set()
    cached: set[int] = set()
    for r in records:
        if r.inputs and r.stage is not None:
            seen.add(r.stage)
            if r.has_results:
                cached.add(r.stage)
    return seen - cached
