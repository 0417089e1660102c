"""Predict, before building, which steps of a Dockerfile will hit host A's cache here (``context check``).

BuildKit looks a step up in an imported cache by its *key*: the step's own definition digest plus, per
input, the key of what feeds it (``solver/index.go``; inputs are ANDed, the alternatives of one input
ORed). The definition digests are the same on every host; what differs between hosts are the inputs,
and for a local build context the input is a content key: the root record ``sha256(D + "@-1")`` that
this package computes exactly (CONTEXT-CHECKSUM.md). So the check replays BuildKit's lookup over A's
cache graph, step by step in build order, without needing the definition digests at all:

* ``FROM image``: an image source has two keys, ``sha256(sha256("buildkit.source.v0:" + K) + "@0")``
  with K the digest of ``{"Digest": manifest, "OS", "Arch"[, "Variant"]}`` or the image's ChainID
  (``source/containerimage/pull.go`` ``mainManifestKey``/``cacheKeyFromConfig``; ``solver/llbsolver/
  ops/source.go``). Both are computed from the image as it resolves here and looked for among A's roots.
* ``COPY``/``ADD`` from the context: the step matches a record of A whose inputs are the previous step's
  record and the root computed here. ``COPY <<EOF`` (a heredoc) has a content key too: the file
  BuildKit writes for it (mode 0644, uid/gid 0) is hashed the same way, so it is checked exactly.
* ``RUN``, ``WORKDIR``: a record with one input, the previous step (a ``RUN`` root mount is writable,
  so it has no content key: ``ops/exec.go`` ``NoContentBasedHash``).
* ``COPY --from=stage``: the source stage's last record, *or* a content key of the copied files. When
  the source stage misses, BuildKit may still hit by content (the files can come out the same), which
  cannot be known before building: the verdict is ``unknown``, never a guess.

Which record is which is decided by the graph structure alone (which record links to which); a step
whose record is found is a ``hit`` when A exported results for it, or when it has only a key (mode=min
builder stages) and nothing downstream needs its result. The check assumes the instructions are the
ones host A built (the same Dockerfile and build args): a changed instruction changes its definition
digest, which cannot be computed here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cacheinspect.cache.graph import CacheGraph
from cacheinspect.dockerfile import Build, Instr, Mount, Stage

from .checksum import RuleSet, Selector, entry_digest, root_digest
from .fingerprint import CopyStep, StepRoots, compute_roots, copy_steps, diff_fingerprints, fingerprint_tree
from .search import Explanation, SearchResult, read_source, search_single_change
from .tree import ContextTree, Entry, EntryType

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions

    from .walk import Progress

__all__ = [
    "SCHEMA",
    "CheckReport",
    "ImageKeys",
    "StepVerdict",
    "check_context",
    "choose_rules",
    "heredoc_root",
    "image_keys",
]

SCHEMA = "cacheinspect.context-check/v1"
Verdict = Literal["hit", "miss", "unknown"]
_SOURCE = "buildkit.source.v0:"
_VERTEX_KEYWORDS = ("RUN", "COPY", "ADD", "WORKDIR")
#: Rule sets in the order a tie is broken: the dockerd 26.1 line first.
RULE_ORDER = (RuleSet.V0_10, RuleSet.V0_14, RuleSet.V0_25, RuleSet.V0_26)


def _sha(s: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(s.encode() if isinstance(s, str) else s).hexdigest()


# ------------------------------------------------------------------------------------------- images
@dataclass(frozen=True, slots=True)
class ImageKeys:
    """The cache keys an image source gets here; ``error`` says why the image could not be resolved."""

    ref: str
    keys: frozenset[str] = frozenset()
    digest: str | None = None
    error: str | None = None
    assumed: bool = False  # --assume-base-unchanged: take A's image keys for it


def _chain_id(diff_ids: Sequence[str]) -> str:
    """``identity.ChainID``: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chain = diff_ids[0]
    for d in diff_ids[1:]:
        chain = _sha(f"{chain} {d}")
    return chain


def image_keys(
    ref: str, manifest_digests: Iterable[str], platform: str, diff_ids: Sequence[str]
) -> ImageKeys:
    """Both keys BuildKit gives an image source (verified against v0.13 exports on the test bed).

    ``manifest_digests``: the digest the reference resolves to and, for an index, the platform
    manifest's (one of them is what BuildKit hashes; listing both costs nothing: a sha256 never
    matches by accident).
    """
    parts = platform.split("/")
    os_, arch = parts[0], parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    keys: set[str] = set()
    digests = list(manifest_digests)
    for d in digests:
        obj: dict[str, str] = {"Digest": d, "OS": os_, "Arch": arch}
        if variant:
            obj["Variant"] = variant
        k = _sha(json.dumps(obj, separators=(",", ":")))
        keys.add(_sha(_sha(_SOURCE + k) + "@0"))
    if diff_ids:
        keys.add(_sha(_sha(_SOURCE + _chain_id(diff_ids)) + "@0"))
    return ImageKeys(ref=ref, keys=frozenset(keys), digest=digests[0] if digests else None)


def heredoc_root(content: str, mode: int = 0o644) -> str:
    """The content key of ``COPY <<EOF``: dockerfile2llb writes the document with ``llb.Mkfile`` (mode
    0644, root-owned) into a scratch state and copies it; the copy's source key is the checksum of that
    file, so ``root_digest([entry digest])`` (verified against v0.13 exports)."""
    data = content.encode("utf-8", "surrogateescape")
    e = Entry(EntryType.FILE, mode=mode, size=len(data), content=data)
    return root_digest([entry_digest(e)])


# ------------------------------------------------------------------------------------------- report
@dataclass(slots=True)
class StepVerdict:
    """The prediction for one step (``FROM``, ``RUN``, ``COPY``, ``ADD``, ``WORKDIR``) of the build."""

    stage: str
    line: int
    instruction: str
    keyword: str
    verdict: Verdict = "unknown"
    cause: str = ""
    explanations: list[Explanation] = field(default_factory=list)
    downstream: list[StepVerdict] = field(default_factory=list)
    root_here: str | None = None
    root_in_cache: str | None = None
    records: list[int] = field(default_factory=list)

    def ref(self) -> dict[str, Any]:
        return {"stage": self.stage, "line": self.line, "instruction": self.instruction}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "line": self.line,
            "instruction": self.instruction,
            "verdict": self.verdict,
            "cause": self.cause,
            "explanations": [e.to_json() for e in self.explanations],
            "downstream": [d.ref() for d in self.downstream],
        }
        if self.root_here is not None or self.root_in_cache is not None:
            out["root_here"] = self.root_here
            out["root_in_cache"] = self.root_in_cache
        return out


@dataclass(slots=True)
class CheckReport:
    cache: str
    context: str
    buildkit_rules: str
    rules_reason: str
    steps: list[StepVerdict]
    fingerprint: str | None = None

    @property
    def misses(self) -> list[StepVerdict]:
        return [s for s in self.steps if s.verdict == "miss"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "cache": self.cache,
            "context": self.context,
            "buildkit_rules": self.buildkit_rules,
            "buildkit_rules_reason": self.rules_reason,
            "fingerprint": self.fingerprint,
            "steps": [s.to_json() for s in self.steps],
        }
        return out


# ------------------------------------------------------------------------------------------- rules
def choose_rules(
    view: ContextTree, steps: Sequence[CopyStep], roots_in_cache: set[str], forced: RuleSet | None = None
) -> tuple[RuleSet, dict[tuple[str, int], StepRoots], str]:
    """Pick the checksum rules by which rule set reproduces most of A's roots (``--buildkit-version``
    forces one). Returns the rules, the roots computed under them per (stage, line), and why."""
    if forced is not None:
        rs = compute_roots(view, steps, forced)
        return forced, {(r.step.stage, r.step.line): r for r in rs}, "forced with --buildkit-version"
    results: list[tuple[int, RuleSet, list[StepRoots]]] = []
    for rules in RULE_ORDER:
        rs = compute_roots(view, steps, rules)
        hits = sum(1 for r in rs if r.root is not None and r.root in roots_in_cache)
        results.append((hits, rules, rs))
    best = max(h for h, _, _ in results)
    winners = [(r, rs) for h, r, rs in results if h == best]
    rules, rs = winners[0]
    by_step = {(r.step.stage, r.step.line): r for r in rs}
    if best == 0:
        reason = "no rule set reproduces a root of the cache; using the BuildKit v0.13 rules"
    elif len(winners) == len(results):
        reason = f"all rule sets give the same roots here ({best} of {len(steps)} steps found in the cache)"
    else:
        names = ", ".join(r.value for r, _ in winners)
        reason = (
            f"{names} reproduce{'s' if len(winners) == 1 else ''} {best} of {len(steps)} roots of the cache"
        )
    return rules, by_step, reason


# ------------------------------------------------------------------------------------------- graph
class _Graph:
    """A's records indexed for key lookups: parent -> children, digest -> index."""

    def __init__(self, graph: CacheGraph) -> None:
        self.g = graph
        self.records = graph.records
        self.by_digest: dict[str, int] = {}
        for r in graph.records:
            self.by_digest.setdefault(r.digest, r.index)
        self.children: dict[int, set[int]] = {}
        for r in graph.records:
            for alts in r.inputs:
                for lk in alts:
                    self.children.setdefault(lk.link, set()).add(r.index)
        self.image_roots = graph.image_roots()
        self.labels = {r.index: r.step for r in graph.records if r.step}
        self._ctx: set[int] | None = None

    def roots(self) -> set[str]:
        return {r.digest for r in self.records if r.is_root}

    def context_roots(self) -> set[int]:
        """Roots linked without a selector that are not image keys: content keys (contexts, heredocs)."""
        if self._ctx is not None:
            return self._ctx
        out: set[int] = set()
        for r in self.records:
            for alts in r.inputs:
                for lk in alts:
                    if not lk.selector and self.records[lk.link].is_root and lk.link not in self.image_roots:
                        out.add(lk.link)
        self._ctx = out
        return out

    def find(self, expected: Sequence[frozenset[int]]) -> set[int]:
        """Records whose inputs are exactly ``expected`` (each input: one alternative in the set)."""
        if not expected or any(not e for e in expected):
            return set()
        cands: set[int] | None = None
        for e in expected:
            kids: set[int] = set()
            for p in e:
                kids |= self.children.get(p, set())
            cands = kids if cands is None else cands & kids
        out: set[int] = set()
        for c in cands or ():
            inputs = self.records[c].inputs
            if len(inputs) != len(expected):
                continue
            sets = [{lk.link for lk in alts} for alts in inputs]
            if _assign(sets, list(expected)):
                out.add(c)
        return out

    def has_results(self, idx: Iterable[int]) -> bool:
        return any(self.records[i].live_results for i in idx)


def _assign(inputs: list[set[int]], expected: list[frozenset[int]]) -> bool:
    """Each expected input matched by a distinct input of the record (inputs are few: brute force)."""
    if not expected:
        return True
    first, rest = expected[0], expected[1:]
    return any(s & first and _assign(inputs[:i] + inputs[i + 1 :], rest) for i, s in enumerate(inputs))


# ------------------------------------------------------------------------------------------- check
@dataclass(slots=True)
class _State:
    """What a stage's build state is keyed by in A's graph: ``None`` unknown, empty set: not in A."""

    records: frozenset[int] | None
    scratch: bool = False
    step: StepVerdict | None = None  # the step that produced it (None for FROM scratch)
    #: A's records at the same position by graph structure alone, also when the key differs here:
    #: how A's root for a COPY is found after an earlier step missed.
    shadow: frozenset[int] = frozenset()


def _stage_label(st: Stage) -> str:
    return st.name or f"stage-{st.index}"


def _norm(s: str) -> str:
    return " ".join(s.split())


class _Checker:
    def __init__(
        self,
        graph: CacheGraph,
        build: Build,
        view: ContextTree,
        *,
        images: Mapping[str, ImageKeys],
        rules: RuleSet,
        roots: Mapping[tuple[str, int], StepRoots],
        fingerprint: Mapping[str, Any] | None,
        full_tree: ContextTree | None,
        search_budget: int | None,
        progress: Progress | None = None,
    ) -> None:
        self.g = _Graph(graph)
        self.build = build
        self.view = view
        self.images = images
        self.rules = rules
        self.roots = roots
        self.fp = fingerprint
        self.full_tree = full_tree
        self.search_budget = search_budget
        self.progress = progress
        self.steps: list[StepVerdict] = []
        self.state_of: dict[int, _State] = {}  # stage index -> final state
        self.because: dict[int, StepVerdict] = {}  # id(step) -> the step whose miss it inherits
        self.consumers: dict[int, list[StepVerdict]] = {}  # id(step) -> steps using its result
        self.last_of_target: StepVerdict | None = None
        self.claimed: set[int] = set()  # A records matched to a step here
        #: every content root computed here (context COPYs, heredocs)
        self.roots_here = {r.root for r in roots.values() if r.root}
        for st in build.needed:
            for ins in st.instrs:
                for src in ins.sources:
                    if src.is_heredoc:
                        self.roots_here.add(heredoc_root(src.content or ""))

    # --------------------------------------------------------------------------------- helpers
    def _use(self, producer: StepVerdict | None, consumer: StepVerdict) -> None:
        if producer is not None:
            self.consumers.setdefault(id(producer), []).append(consumer)

    def _settle(self, sv: StepVerdict, found: set[int]) -> _State:
        """Verdict from the records found for a step (before the key-only pass)."""
        self.claimed |= found
        sv.records = sorted(found)
        if not found:
            sv.verdict = "miss"
            return _State(frozenset(), step=sv)
        sv.verdict = "hit"
        if not self.g.has_results(found):
            sv.cause = "key-only"  # resolved in _resolve_key_only
        return _State(frozenset(found), step=sv)

    def _inherit(self, sv: StepVerdict, upstream: _State) -> bool:
        """Miss/unknown because of an input; True when the verdict is decided by it."""
        src = upstream.step
        if upstream.records is None:
            sv.verdict = "unknown"
            sv.cause = (
                f"depends on line {src.line}, whose verdict is unknown" if src else "an input is unknown"
            )
            if src is not None:
                self.because[id(sv)] = self.because.get(id(src), src)
            return True
        if not upstream.records:
            sv.verdict = "miss"
            if src is not None:
                sv.cause = f"the step it builds on misses (line {src.line}: {src.instruction})"
                self.because[id(sv)] = self.because.get(id(src), src)
            else:
                sv.cause = "the state it builds on is not in the cache"
            return True
        return False

    # --------------------------------------------------------------------------------- stages
    def run(self) -> list[StepVerdict]:
        for st in self.build.needed:
            state = self._from(st)
            for ins in st.instrs:
                if ins.keyword not in _VERTEX_KEYWORDS:
                    continue
                if ins.keyword == "WORKDIR" and (ins.words or ["/"])[0] == "/":
                    continue  # dockerfile2llb adds no mkdir for "/"
                state = self._step(st, ins, state)
            self.state_of[st.index] = state
            if st is self.build.target:
                self.last_of_target = state.step
        self._resolve_key_only()
        self._downstream()
        return self.steps

    def _from(self, st: Stage) -> _State:
        if st.base_stage is not None:
            return self.state_of.get(st.base_stage.index, _State(None))
        if st.base == "scratch":
            return _State(frozenset(), scratch=True)
        sv = StepVerdict(_stage_label(st), st.line, _norm(st.node.original), "FROM")
        self.steps.append(sv)
        out = self._from_image(st, sv)
        out.shadow = out.records or frozenset(self.g.image_roots)
        return out

    def _from_image(self, st: Stage, sv: StepVerdict) -> _State:
        keys = self.images.get(st.base)
        if keys is None or (keys.error and not keys.assumed):
            sv.verdict = "unknown"
            sv.cause = (
                f"base image {st.base} could not be resolved here"
                + (f": {keys.error}" if keys else "")
                + " (--assume-base-unchanged takes it to be the one in the cache)"
            )
            return _State(None, step=sv)
        if keys.assumed:
            found = set(self.g.image_roots)
            sv.verdict = "hit" if found else "miss"
            sv.cause = "assumed to be the image in the cache (--assume-base-unchanged)"
            sv.records = sorted(found)
            return _State(frozenset(found), step=sv)
        found = {self.g.by_digest[k] for k in keys.keys if k in self.g.by_digest}
        sv.records = sorted(found)
        if found:
            sv.verdict = "hit"
            sv.cause = f"{st.base} resolves to {keys.digest or 'the same image'}, the image in the cache"
            return _State(frozenset(found), step=sv)
        sv.verdict = "miss"
        sv.cause = (
            f"base image changed: {st.base} resolves to {keys.digest} here; the cache has no key for it"
        )
        return _State(frozenset(), step=sv)

    def _step(self, st: Stage, ins: Instr, state: _State) -> _State:
        sv = StepVerdict(_stage_label(st), ins.line, _norm(ins.node.original), ins.keyword)
        self.steps.append(sv)
        self._use(state.step, sv)
        out = self._step_state(st, ins, state, sv)
        out.shadow = out.records if out.records else self._shadow(ins, state)
        return out

    def _shadow(self, ins: Instr, state: _State) -> frozenset[int]:
        """A's records at this step's position when its key is not found here (see ``_State.shadow``)."""
        prev = [] if state.scratch else [state.shadow]
        if ins.keyword in ("COPY", "ADD") and ins.from_:
            if ins.from_stage is not None:
                src = self.state_of.get(ins.from_stage.index, _State(None)).shadow
            else:
                src = frozenset(self.g.image_roots)
            expected = [*prev, src]
        elif ins.keyword in ("COPY", "ADD") or any(m.type == "bind" for m in ins.mounts):
            expected = [*prev, frozenset(self.g.context_roots())]
        else:
            expected = prev
        return frozenset(self.g.find(expected) - self.claimed)

    def _step_state(self, st: Stage, ins: Instr, state: _State, sv: StepVerdict) -> _State:
        if ins.keyword in ("COPY", "ADD"):
            return self._copy(st, ins, state, sv)
        mount_input: frozenset[int] | None = None
        if ins.keyword == "RUN":
            other = [m for m in ins.mounts if (m.type in ("bind", "cache") and m.from_)]
            if other:
                sv.verdict = "unknown"
                sv.cause = "RUN --mount with from= reads another stage or image by content; not modelled"
                return _State(None, step=sv)
            binds = [m for m in ins.mounts if m.type == "bind"]
            if binds:
                got = self._mount_root(sv, binds)
                if got is None:
                    return _State(None, step=sv)
                if not got:
                    if not self._inherit(sv, state):
                        sv.verdict = "miss"
                        sv.cause = (
                            "the context files its RUN --mount=type=bind reads differ from host A's "
                            "(their checksum is not in the cache)"
                        )
                    return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
                mount_input = got
        if self._inherit(sv, state):
            return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
        if state.scratch:
            sv.verdict = "unknown"
            sv.cause = "a step on an empty scratch state; not modelled"
            return _State(None, step=sv)
        assert state.records is not None
        expected = [state.records] if mount_input is None else [state.records, mount_input]
        found = self._by_label(self.g.find(expected), sv)
        differs: list[str] = []
        if ins.keyword == "RUN" and found:
            differs = [d for i in found if (d := _run_label_differs(self.g.labels.get(i), ins)) is not None]
            if len(differs) == len(found):
                found = set()
        out = self._settle(sv, found)
        if sv.verdict == "miss":
            sv.cause = (
                f"the instruction differs from host A's: {differs[0]}"
                if differs
                else "no record in the cache follows the previous step (a changed instruction or build arg?)"
            )
        return out

    def _mount_root(self, sv: StepVerdict, binds: Sequence[Mount]) -> frozenset[int] | None:
        """The content key of a RUN's context bind mounts: one input holding every mount's source as a
        selector (``ops/exec.go`` getMountDeps: read-only mounts of one input get a content key), so the
        same root formula as a COPY of those paths. None: unknown (the verdict is set); empty: not in A."""
        step = CopyStep(sv.stage, sv.line, sv.instruction, tuple(m.source or "/" for m in binds))
        (sr,) = compute_roots(self.view, [step], self.rules)
        if sr.root is None:
            sv.verdict = "unknown"
            sv.cause = f"checksum of the mounted context unknown: {sr.error}"
            return None
        sv.root_here = sr.root
        idx = self.g.by_digest.get(sr.root)
        if idx is None or not self.g.records[idx].is_root:
            return frozenset()
        sv.root_in_cache = sr.root
        return frozenset({idx})

    def _by_label(self, found: set[int], sv: StepVerdict) -> set[int]:
        """Among several candidates, drop those whose history label names another instruction."""
        if len(found) <= 1:
            return found
        want = _norm(sv.instruction)
        same = {i for i in found if self.g.labels.get(i) and _norm(self.g.labels[i]) == want}
        return same or found

    # --------------------------------------------------------------------------------- COPY/ADD
    def _copy(self, st: Stage, ins: Instr, state: _State, sv: StepVerdict) -> _State:
        srcs = ins.sources
        if ins.from_:
            return self._copy_from(ins, state, sv)
        if any(s.is_url or s.is_git for s in srcs):
            sv.verdict = "unknown"
            sv.cause = "ADD of a URL or git repository: its key comes from the remote, not from the context"
            return _State(None, step=sv)
        heredocs = [s for s in srcs if s.is_heredoc]
        if heredocs:
            if len(srcs) != 1:
                sv.verdict = "unknown"
                sv.cause = "COPY with several heredocs or heredocs mixed with files; not modelled"
                return _State(None, step=sv)
            root = heredoc_root(heredocs[0].content or "")
            sv.root_here = root
            what = "the heredoc's content"
        else:
            sr = self.roots.get((sv.stage, sv.line))
            if sr is None:
                sv.verdict = "unknown"
                sv.cause = "no context checksum computed for this step"
                return _State(None, step=sv)
            if sr.root is None:
                sv.verdict = "unknown"
                sv.cause = (
                    f"context checksum unknown: {sr.error}"
                    if sr.unknown
                    else f"BuildKit fails this step: {sr.error}"
                )
                return _State(None, step=sv)
            root = sr.root
            sv.root_here = root
            what = "the context"
        ctx_idx = self.g.by_digest.get(root)
        if ctx_idx is not None and not self.g.records[ctx_idx].is_root:
            ctx_idx = None
        upstream_decided = self._inherit(sv, state) if not state.scratch else False
        if upstream_decided:
            # still say whether the context itself would match
            if ctx_idx is None and sv.verdict == "miss":
                sv.cause += f"; {what} differs from host A's too"
                self._explain(sv, state, heredocs != [])
            elif sv.verdict == "miss" and _chown_by_name(ins.chown):
                # --chown=NAME reads /etc/passwd and /etc/group of the state it copies into, through a
                # selector, which gives that input a content key too (file.go CacheMap): with the same
                # files there, BuildKit can still hit after the step before it missed
                sv.verdict = "unknown"
                sv.cause += (
                    f"; but --chown={ins.chown} gives it a content key over /etc/passwd and /etc/group, "
                    "which may still match"
                )
                return _State(None, step=sv)
            return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
        expected: list[frozenset[int]] = [] if state.scratch else [state.records or frozenset()]
        if ctx_idx is None:
            sv.verdict = "miss"
            sv.cause = f"{what} differs from host A's (its checksum is not in the cache)"
            self._explain(sv, state, heredocs != [])
            return _State(frozenset(), step=sv)
        sv.root_in_cache = root
        expected.append(frozenset({ctx_idx}))
        found = self._by_label(self.g.find(expected), sv)
        out = self._settle(sv, found)
        if sv.verdict == "miss":
            sv.cause = (
                f"{what} matches host A's, but no record in the cache consumes it after the previous step "
                "(a changed instruction, flag or build arg?)"
            )
        return out

    def _copy_from(self, ins: Instr, state: _State, sv: StepVerdict) -> _State:
        if ins.from_stage is not None:
            src = self.state_of.get(ins.from_stage.index, _State(None))
            self._use(src.step, sv)
            what = f"stage {_stage_label(ins.from_stage)}"
        else:
            keys = self.images.get(ins.from_ or "")
            if keys is None or keys.error:
                sv.verdict = "unknown"
                sv.cause = f"image {ins.from_} could not be resolved here"
                return _State(None, step=sv)
            found_img = {self.g.by_digest[k] for k in keys.keys if k in self.g.by_digest}
            src = _State(frozenset(found_img))
            what = f"image {ins.from_}"
        if not state.scratch and self._inherit(sv, state):
            return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
        if src.records is None:
            sv.verdict = "unknown"
            sv.cause = f"{what} has an unknown verdict"
            if src.step is not None:
                self.because[id(sv)] = self.because.get(id(src.step), src.step)
            return _State(None, step=sv)
        if not src.records:
            if ins.from_stage is None:
                sv.verdict = "miss"
                sv.cause = f"{what} is not the one in the cache"
                return _State(frozenset(), step=sv)
            sv.verdict = "unknown"
            sv.cause = (
                f"{what} misses; BuildKit still hits this step if the stage produces the same files "
                "(COPY --from has a content key), which cannot be known before building"
            )
            if src.step is not None:
                self.because[id(sv)] = self.because.get(id(src.step), src.step)
            return _State(None, step=sv)
        expected = ([] if state.scratch else [state.records or frozenset()]) + [src.records]
        found = self._by_label(self.g.find(expected), sv)
        out = self._settle(sv, found)
        if sv.verdict == "miss":
            sv.cause = "no record in the cache copies from this source after the previous step"
        return out

    # --------------------------------------------------------------------------------- explanations
    def _a_root(self, sv: StepVerdict, state: _State) -> str | None:
        """A's root for this step: from the fingerprint, else from the graph structure."""
        if self.fp is not None:
            for s in self.fp.get("steps", []):
                if s.get("stage") == sv.stage and s.get("line") == sv.line and s.get("root"):
                    return str(s["root"])
            for s in self.fp.get("steps", []):
                if _norm(str(s.get("instruction", ""))) == sv.instruction and s.get("root"):
                    return str(s["root"])
        if state.shadow or state.scratch:
            ctx = self.g.context_roots()
            cands: set[int] = set()
            expected = ([] if state.scratch else [state.shadow]) + [frozenset(ctx)]
            for c in self.g.find(expected):
                if c in self.claimed:
                    continue
                for alts in self.g.records[c].inputs:
                    for lk in alts:
                        if lk.link in ctx and not lk.selector:
                            cands.add(lk.link)
            # a root some other step computes here belongs to that step
            cands = {c for c in cands if self.g.records[c].digest not in self.roots_here} or cands
            if len(cands) == 1:
                return self.g.records[next(iter(cands))].digest
        return None

    def _explain(self, sv: StepVerdict, state: _State, heredoc: bool) -> None:
        if heredoc:
            sv.cause += " (the heredoc's text differs from the Dockerfile host A built)"
            return
        a_root = self._a_root(sv, state)
        sv.root_in_cache = a_root
        sr = self.roots.get((sv.stage, sv.line))
        if sr is None:
            return
        sels = list(sr.selectors)
        scope = ", ".join(s.path for s in sels)
        if self.fp is not None:
            self._explain_fp(sv, sels)
            if sv.explanations:
                return
        if a_root is None:
            sv.cause += (
                "; its root in the cache cannot be told apart from the others (publish a fingerprint on "
                "host A: cacheinspect context fingerprint --push)"
            )
            return
        res: SearchResult = search_single_change(
            self.view,
            sels,
            a_root,
            self.rules,
            full_tree=self.full_tree,
            read=read_source,
            budget=self.search_budget,
            progress=self.progress,
        )
        if res.explanations:
            sv.explanations = list(res.explanations)
            sv.cause += ": " + "; ".join(str(e) for e in res.explanations)
            return
        many = len([p for p, _ in self.view.items() if any(_under(p, _scope_of(s)) for s in sels)]) > 1
        stop = f" (search stopped after {res.tried} candidates)" if res.stopped else ""
        if many:
            sv.cause += (
                f"; no single change (mode, one xattr, CRLF/LF, umask 0002/0022, one file more or less) "
                f"reproduces host A's checksum{stop}: 2 or more files differ under {scope}, or a file's "
                "content does; publish a fingerprint on host A to see which"
            )
        else:
            sv.cause += (
                f"; no single change of mode, xattr or line endings reproduces host A's checksum{stop}: "
                f"{scope} differs in content (or in several attributes); publish a fingerprint on host A "
                "to see which"
            )

    def _explain_fp(self, sv: StepVerdict, sels: Sequence[Selector]) -> None:
        assert self.fp is not None
        here = fingerprint_tree(self.view, [], rules=self.rules)
        scopes = [_scope_of(s) for s in sels]

        def mine(files: Mapping[str, Any]) -> dict[str, Any]:
            return {p: r for p, r in files.items() if any(_under(p, sc) for sc in scopes)}

        a_doc = {"files": mine(self.fp.get("files", {}))}
        b_doc = {"files": mine(here["files"])}
        for path, fld, a_val, b_val in diff_fingerprints(a_doc, b_doc):
            sv.explanations.append(Explanation(path, fld, _show(fld, b_val), _show(fld, a_val)))
        if sv.explanations:
            sv.cause += " (from host A's fingerprint): " + "; ".join(str(e) for e in sv.explanations[:5])
            if len(sv.explanations) > 5:
                sv.cause += f"; and {len(sv.explanations) - 5} more"

    # --------------------------------------------------------------------------------- passes
    def _resolve_key_only(self) -> None:
        """A found record without results is a hit only if nothing downstream needs its result."""
        for sv in reversed(self.steps):
            if sv.cause != "key-only":
                continue
            users = self.consumers.get(id(sv), [])
            needed = sv is self.last_of_target or any(u.verdict != "hit" for u in users)
            if needed:
                sv.verdict = "miss"
                sv.cause = (
                    "the cache has this step's key but no layers for it (mode=min keeps builder stages as "
                    "keys only), and a later step needs its result"
                )
            else:
                sv.cause = "the cache has this step's key; nothing downstream needs its layers"

    def _downstream(self) -> None:
        for sv in self.steps:
            origin = self.because.get(id(sv))
            if origin is not None and sv.verdict in ("miss", "unknown"):
                origin.downstream.append(sv)
        for sv in self.steps:
            if sv.verdict == "hit" and not sv.cause:
                sv.cause = "found in the cache" + (
                    " with its layers" if self.g.has_results(sv.records) else ""
                )


_RUN_LABEL = re.compile(r"^RUN (?P<cmd>.*?)(?: \[(?P<args>[^=\s\]]+=[^\]]*)\])?$", re.S)


def _run_label_differs(label: str | None, ins: Instr) -> str | None:
    """Why a RUN record's history label (``RUN cmd [K=V ...]``, from the image that carries the cache or
    ``--image``) shows a different definition than ``ins`` here, or None when it does not (or is absent).

    BuildKit writes the build args that reach a RUN into its history (``RUN |1 FLAVOR=plain ...``) and
    into the op's environment, so a different value is a different definition digest: a miss.
    """
    if not label:
        return None
    m = _RUN_LABEL.match(label)
    if m is None:
        return None
    args: dict[str, str] = {}
    for kv in (m.group("args") or "").split(" "):
        k, sep, v = kv.partition("=")
        if sep:
            args[k] = v
    for k, v in args.items():
        here = ins.args_in_scope.get(k)
        if here is not None and here != v:
            return f"build arg {k}={here} here, {k}={v} in the cache's history"
    if isinstance(ins.run_cmd, str) and not ins.heredocs and _norm(m.group("cmd")) != _norm(ins.run_cmd):
        return f"the command differs (the cache's history: {label!r})"
    return None


def _chown_by_name(chown: str) -> bool:
    """``--chown`` naming a user or group (not only numbers): BuildKit resolves it in the image."""
    return bool(chown) and not all(part.isdigit() for part in chown.split(":") if part)


def _under(path: str, sel_path: str) -> bool:
    top = "" if sel_path in ("/", "") else sel_path
    return top == "" or path == top or path.startswith(top + "/")


def _scope_of(sel: Selector) -> str:
    if not sel.wildcard:
        return sel.path
    keep: list[str] = []
    for p in sel.path.split("/"):
        if any(c in p for c in "*?["):
            break
        keep.append(p)
    return "/".join(keep) or "/"


def _show(fld: str, v: Any) -> str:
    if fld == "exists":
        return "yes" if v else "no"
    if v is None:
        return "absent" if fld.startswith("xattr") else "-"
    return str(v)


def check_context(
    graph: CacheGraph,
    build: Build,
    view: ContextTree,
    *,
    images: Mapping[str, ImageKeys],
    rules: RuleSet | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    full_tree: ContextTree | None = None,
    cache_label: str = "",
    context_label: str = "",
    fingerprint_label: str | None = None,
    search_budget: int | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """Predict every step of ``build`` against A's cache ``graph`` (pure).

    ``view`` is the hashed tree the client sends here (``client_view`` + ``hash_tree``); ``full_tree``
    the whole walked context (for "left out by .dockerignore" explanations); ``images`` the keys of
    every base image and ``COPY --from`` image as they resolve here (:func:`image_keys`).
    """
    steps, _ = copy_steps(build)
    g = _Graph(graph)
    chosen, roots, reason = choose_rules(view, steps, g.roots(), rules)
    if rules is None and fingerprint is not None and reason.startswith("no rule set"):
        try:
            fp_rules = RuleSet(str(fingerprint.get("buildkit_rules")))
        except ValueError:
            fp_rules = None
        if fp_rules is not None:
            chosen, roots, _ = choose_rules(view, steps, g.roots(), fp_rules)
            reason = "no root here is in the cache (everything differs); the rules host A's fingerprint was made with"
    checker = _Checker(
        graph,
        build,
        view,
        images=images,
        rules=chosen,
        roots=roots,
        fingerprint=fingerprint,
        full_tree=full_tree,
        search_budget=search_budget,
        progress=progress,
    )
    verdicts = checker.run()
    return CheckReport(
        cache=cache_label,
        context=context_label,
        buildkit_rules=chosen.value,
        rules_reason=reason,
        steps=verdicts,
        fingerprint=fingerprint_label,
    )


# ------------------------------------------------------------------------------------------- I/O edge
async def resolve_image(ref: str, options: RegistryOptions, platform: str) -> ImageKeys:
    """Resolve a FROM / ``COPY --from`` image the way BuildKit will here and compute its keys.

    Any failure (no network, no such image, auth) gives an :class:`ImageKeys` with ``error`` set: the
    step's verdict is then ``unknown``, never a guess.
    """
    from cacheinspect.errors import CacheInspectError
    from cacheinspect.oci import ImageConfig, Manifest, decode
    from cacheinspect.registry.reference import parse_reference
    from cacheinspect.registry.source import RegistrySource

    try:
        r = parse_reference(ref)
        async with RegistrySource(r, options) as src:
            top = await src.fetch_manifest()
            m = decode(top.data, Manifest, what=f"manifest of {ref}")
            digests = [top.digest]
            if m.manifests is not None and m.config is None:
                want = platform.split("/")
                chosen = None
                for d in m.manifests:
                    p = d.platform
                    if p is None:
                        continue
                    if (
                        p.os == want[0]
                        and p.architecture == (want[1] if len(want) > 1 else "")
                        and (len(want) < 3 or (p.variant or "") == want[2])
                    ):
                        chosen = d
                        break
                if chosen is None:
                    return ImageKeys(ref=ref, error=f"no {platform} image in {ref}")
                sub = await src.fetch_manifest(chosen.digest)
                m = decode(sub.data, Manifest, what=f"manifest {chosen.digest} of {ref}")
                digests.append(sub.digest)
            if m.config is None:
                return ImageKeys(ref=ref, error=f"{ref} is not an image")
            cfg = decode(await src.fetch_blob(m.config.digest), ImageConfig, what=f"image config of {ref}")
            diff_ids = list(cfg.rootfs.diff_ids) if cfg.rootfs else []
            return image_keys(ref, digests, platform, diff_ids)
    except CacheInspectError as e:
        return ImageKeys(ref=ref, error=e.message)


async def check_target(
    cache_ref: str,
    build: Build,
    view: ContextTree,
    options: RegistryOptions,
    *,
    image: str | None = None,
    platform: str = "linux/amd64",
    rules: RuleSet | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    fingerprint_label: str | None = None,
    lookup_referrers: bool = True,
    assume_base_unchanged: bool = False,
    full_tree: ContextTree | None = None,
    context_label: str = "",
    progress: Progress | None = None,
) -> CheckReport:
    """Load A's cache, resolve the images, find A's fingerprint (referrers API) if none was given,
    and run :func:`check_context` (``progress`` reports a long single-change search)."""
    import asyncio

    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import load_target

    cache = await load_target(cache_ref, options, image=image)
    refs: set[str] = set()
    for st in build.needed:
        if st.base_stage is None and st.base != "scratch":
            refs.add(st.base)
        for ins in st.instrs:
            if ins.keyword in ("COPY", "ADD") and ins.from_ and ins.from_stage is None:
                refs.add(ins.from_)
    images: dict[str, ImageKeys] = {}
    if assume_base_unchanged:
        images = {r: ImageKeys(ref=r, assumed=True) for r in refs}
    else:
        got = await asyncio.gather(*(resolve_image(r, options, platform) for r in sorted(refs)))
        images = {k.ref: k for k in got}
    graph = None
    if fingerprint is None and lookup_referrers and cache.location == "registry" and cache.manifest_digest:
        from .push import find_fingerprint

        graph = build_graph(cache)
        roots = {r.digest for r in graph.roots}
        found = await find_fingerprint(cache_ref, cache.manifest_digest, options, roots=roots)
        if found is not None:
            fingerprint, fingerprint_label = found
    return check_context(
        graph if graph is not None else build_graph(cache),
        build,
        view,
        images=images,
        rules=rules,
        fingerprint=fingerprint,
        full_tree=full_tree,
        cache_label=cache_ref,
        context_label=context_label,
        fingerprint_label=fingerprint_label,
        progress=progress,
    )


# ------------------------------------------------------------------------------------------- render
def _short_cause(s: StepVerdict) -> str:
    """The cause without the per-file list (the table under it shows that)."""
    if s.explanations:
        cut = s.cause.find(": " + s.explanations[0].path)
        if cut > 0:
            return s.cause[:cut] + " (files below)"
    return s.cause


def _short_digest(v: str) -> str:
    return v[:19] if v.startswith("sha256:") and len(v) == 71 else v


def _cell(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def render_check(report: CheckReport, fmt: str, *, dockerfile: str = "Dockerfile") -> str:
    """``table`` / ``markdown`` / ``github`` (workflow annotations) / ``json`` text of a report (pure)."""
    if fmt == "json":
        from .fingerprint import dumps_json

        return dumps_json(report.to_json()) + "\n"
    counts = {v: sum(1 for s in report.steps if s.verdict == v) for v in ("hit", "miss", "unknown")}
    summary = (
        f"{len(report.steps)} steps: {counts['hit']} hit, {counts['miss']} miss, {counts['unknown']} unknown"
    )
    head = [
        f"cache            {report.cache}",
        f"context          {report.context}",
        f"buildkit rules   {report.buildkit_rules} ({report.rules_reason})",
        f"fingerprint      {report.fingerprint or 'none (explanations from a single-change search)'}",
    ]
    if fmt == "github":
        lines = []
        for s in report.steps:
            if s.verdict == "hit":
                continue
            level = "error" if s.verdict == "miss" else "warning"
            title = "cache miss predicted" if s.verdict == "miss" else "cache hit unknown"
            msg = s.cause.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            lines.append(f"::{level} file={dockerfile},line={s.line},title={title}::{s.instruction}: {msg}")
        lines.append(f"::notice title=cacheinspect context check::{summary}")
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        out = [
            "### Context check",
            "",
            *[f"- {h.split(None, 1)[0]}: {h.split(None, 1)[1].strip()}" for h in head],
        ]
        out += ["", "| stage | line | instruction | verdict | cause |", "|---|---|---|---|---|"]
        for s in report.steps:
            cells = [s.stage, str(s.line), f"`{s.instruction}`", f"**{s.verdict}**", s.cause]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        expl = [(s, e) for s in report.steps for e in s.explanations]
        if expl:
            out += ["", "| line | path | field | here | in the cache |", "|---|---|---|---|---|"]
            for s, e in expl:
                out.append(f"| {s.line} | `{e.path}` | {e.field} | {e.here} | {e.in_cache} |")
        out += ["", summary]
        return "\n".join(out) + "\n"
    from tabulate import tabulate

    rows = [[s.stage, s.line, _cell(s.instruction, 48), s.verdict, _short_cause(s)] for s in report.steps]
    out = [
        *head,
        "",
        tabulate(rows, headers=["stage", "line", "instruction", "verdict", "cause"], disable_numparse=True),
    ]
    rows_e = [
        [s.line, e.path, e.field, _short_digest(e.here), _short_digest(e.in_cache)]
        for s in report.steps
        for e in s.explanations
    ]
    if rows_e:
        out += [
            "",
            tabulate(
                rows_e, headers=["line", "path", "field", "here", "in the cache"], disable_numparse=True
            ),
        ]
    downstream = [s for s in report.steps if s.downstream]
    for s in downstream:
        out.append(
            f"line {s.line}: {len(s.downstream)} later step(s) miss or are unknown because of it: "
            + ", ".join(str(d.line) for d in s.downstream)
        )
    out += ["", summary]
    return "\n".join(out) + "\n"
