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

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cacheinspect.cache.graph import CacheGraph
from cacheinspect.dockerfile import Build, Instr, Mount, Stage
from cacheinspect.dockerfile.model import BaseImage
from cacheinspect.dockerfile.stepkeys import StepKey, explain_difference

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
    #: the image config's Env, WorkingDir, User, Shell (what a step key on it needs)
    config: BaseImage | None = None


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
    #: the record digests this step's ops get here (the last one is the step's own key), None: not computed
    keys: list[str] | None = None

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
        if self.keys is not None:
            out["keys"] = self.keys
        return out


@dataclass(slots=True)
class CheckReport:
    cache: str
    context: str
    buildkit_rules: str
    rules_reason: str
    steps: list[StepVerdict]
    fingerprint: str | None = None
    #: which struct tags the step keys were computed with (v0.13: BuildKit <= v0.17; v0.25: v0.18+)
    op_rules: str = "v0.13"

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
            "step_key_rules": self.op_rules,
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
        reason = (
            f"all rule sets give the same roots here ({best} of {len(steps)} COPY/ADD content roots "
            "found in the cache)"
        )
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


def _choose_op_rules(keys: Sequence[StepKey], digests: Mapping[str, object]) -> str:
    """The op rule set (v0.13 or v0.25 struct tags) under which more of this build's step keys are in
    A's cache; a tie (they differ nowhere, or nothing matches) is v0.13's, dockerd 26.1's line."""
    best, best_n = "v0.13", -1
    for r in ("v0.13", "v0.25"):
        n = sum(1 for k in keys for op in k.ops if op.digest.get(r) in digests)
        if n > best_n:
            best, best_n = r, n
    return best


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
        keys: Sequence[StepKey] | None = None,
        op_rules: str | None = None,
        named_roots: Mapping[tuple[str, int], StepRoots] | None = None,
        named_contexts: frozenset[str] = frozenset(),
        guesses: Sequence[StepKey] | None = None,
    ) -> None:
        self.g = _Graph(graph)
        #: every step's own key (None: not computed, structure matching only, said per step)
        self.keys: dict[int, StepKey] = {id(k.ins): k for k in keys or () if k.ins is not None}
        self.digests: dict[str, list[int]] = {}
        for r in graph.records:
            self.digests.setdefault(r.digest, []).append(r.index)
        self.op_rules = op_rules or _choose_op_rules(keys or (), self.digests)
        self.named_roots = named_roots or {}
        self.named = named_contexts
        #: keys under a guessed base image config, paired with ``keys`` by position (same Dockerfile)
        self.guesses: dict[int, StepKey] = {}
        if guesses is not None and keys is not None and len(guesses) == len(keys):
            for k, g in zip(keys, guesses, strict=True):
                if k.ins is not None and (k.stage, k.line, k.keyword) == (g.stage, g.line, g.keyword):
                    self.guesses[id(k.ins)] = g
        self.fp_ops: list[Mapping[str, Any]] = [
            o for o in ((fingerprint or {}).get("ops") or []) if isinstance(o, Mapping)
        ]
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
        key = self.keys.get(id(ins))
        if key is not None and key.unknown is None:
            sv.keys = [op.digest[self.op_rules] for op in key.ops]
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
        key = self.keys.get(id(ins))
        d = self._digest(key)
        if self._inherit(sv, state):
            self._also_differs(sv, key, d)
            return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
        if state.scratch:
            if d is not None and mount_input is None:
                # an op on scratch without inputs: its record is a root, found by its digest alone
                found_root = {i for i in self.digests.get(d, []) if self.g.records[i].is_root}
                out = self._settle(sv, found_root)
                if sv.verdict == "miss":
                    self._definition_miss(sv, key, d, set())
                return out
            sv.verdict = "unknown"
            sv.cause = "a step on an empty scratch state; not modelled"
            return _State(None, step=sv)
        assert state.records is not None
        expected = [state.records] if mount_input is None else [state.records, mount_input]
        found = self._by_label(self.g.find(expected), sv)
        if key is not None:
            return self._exact(sv, key, d, found, ins)
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

    # --------------------------------------------------------------------------------- exact keys
    def _digest(self, key: StepKey | None) -> str | None:
        return key.digest(self.op_rules) if key is not None else None

    def _guess(self, key: StepKey | None) -> str | None:
        """The key computed with a guessed base image config (BuildKit's default PATH only): a match in
        A's cache proves the guess (a sha256 does not match by accident); no match proves nothing."""
        g = self.guesses.get(id(key.ins)) if key is not None and key.ins is not None else None
        return g.digest(self.op_rules) if g is not None else None

    def _exact(
        self, sv: StepVerdict, key: StepKey, d: str | None, found: set[int], ins: Instr, what: str = ""
    ) -> _State:
        """The verdict from the step's computed record digest among the records that follow its inputs;
        where no key is computed, structure alone says "found" and the verdict is ``unknown``."""
        if d is None:
            guess = self._guess(key)
            exact_g = {i for i in found if self.g.records[i].digest == guess} if guess else set()
            if exact_g:
                out = self._settle(sv, exact_g)
                if sv.verdict == "hit" and not sv.cause:
                    sv.cause = (
                        f"found by its own key, computed with an assumption for what is not known here "
                        f"({key.unknown}: taken as the built-in frontend and a default base image config); "
                        "the key matches, which proves the assumption"
                    )
                return out
            differs = (
                [x for i in found if (x := _run_label_differs(self.g.labels.get(i), ins)) is not None]
                if ins.keyword == "RUN"
                else []
            )
            if found and len(differs) == len(found):
                out = self._settle(sv, set())
                sv.cause = f"the instruction differs from host A's: {differs[0]}"
                return out
            out = self._settle(sv, found)
            if sv.verdict == "hit":
                sv.verdict = "unknown"
                sv.cause = (
                    "found in the cache by the graph's structure only; this step's own key is not computed "
                    f"here ({key.unknown}), so a changed instruction or build arg would not be seen"
                )
                return _State(None, step=sv)
            sv.cause = f"no record in the cache follows its inputs ({key.unknown})"
            return out
        exact = {i for i in found if self.g.records[i].digest == d}
        out = self._settle(sv, exact)
        if sv.verdict == "miss":
            self._definition_miss(sv, key, d, found, what)
        return out

    def _definition_miss(
        self, sv: StepVerdict, key: StepKey | None, d: str, found: set[int], what: str = ""
    ) -> None:
        if d in self.digests:
            sv.cause = "host A's cache has this step's own key, but after other inputs" + (
                f": {what} differs from host A's" if what else " (a step before it differs)"
            )
            return
        sv.cause = "the step's definition differs from host A's"
        fields = self._fields(sv, key)
        if fields:
            sv.cause += ": " + "; ".join(fields) + " (from host A's fingerprint)"
            return
        if self.fp_ops:
            sv.cause += " (host A's fingerprint has no step like it: a new or changed instruction)"
            return
        labels = (
            [x for i in found if (x := _run_label_differs(self.g.labels.get(i), key.ins)) is not None]
            if key is not None and key.ins is not None and key.keyword == "RUN"
            else []
        )
        if labels:
            sv.cause += f": {labels[0]}"
        else:
            sv.cause += (
                " (a changed instruction, build arg, flag or base image config; publish a fingerprint on "
                "host A with context fingerprint --push to name the field)"
            )

    def _also_differs(self, sv: StepVerdict, key: StepKey | None, d: str | None) -> None:
        """After an upstream miss: say whether the step's own definition would miss too. After an unknown
        upstream: a step whose own key is not in A's cache misses whatever that step does."""
        if d is None or d in self.digests or sv.verdict not in ("miss", "unknown"):
            return
        fields = self._fields(sv, key)
        if sv.verdict == "unknown":
            sv.verdict = "miss"
            self.because.pop(id(sv), None)
            sv.cause = "the step's definition differs from host A's" + (
                ": " + "; ".join(fields) if fields else ""
            )
            return
        sv.cause += "; its own definition differs from host A's too" + (
            ": " + "; ".join(fields) if fields else ""
        )

    def _fields(self, sv: StepVerdict, key: StepKey | None) -> list[str]:
        """The fields that differ from host A's published CacheMap JSON of the same step."""
        if key is None or key.op is None or not self.fp_ops:
            return []
        mine = None
        for o in self.fp_ops:
            if o.get("stage") == sv.stage and o.get("line") == sv.line and o.get("keyword") == key.keyword:
                mine = o
                break
        if mine is None:
            for o in self.fp_ops:
                if _norm(str(o.get("instruction", ""))) == sv.instruction:
                    mine = o
                    break
        if mine is None:
            return []
        rules = str(mine.get("rules") or self.op_rules)
        a_json = mine.get("cachemap")
        here = key.op.json.get(rules)
        if not isinstance(a_json, str) or here is None:
            return []
        return explain_difference(here, a_json.encode("utf-8", "surrogateescape"))[:8]

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
        key = self.keys.get(id(ins))
        if ins.from_ and ins.from_ not in self.named:
            return self._copy_from(ins, state, sv, key)
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
            roots = self.named_roots if ins.from_ else self.roots
            sr = roots.get((sv.stage, sv.line))
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
            what = f"the build context {ins.from_}" if ins.from_ else "the context"
        ctx_idx = self.g.by_digest.get(root)
        if ctx_idx is not None and not self.g.records[ctx_idx].is_root:
            ctx_idx = None
        if key is not None and len(key.ops) >= 2 and key.ops[-1].role == "merge":
            return self._link(
                sv, key, state, frozenset({ctx_idx}) if ctx_idx is not None else frozenset(), what
            )
        d = self._digest(key)
        own_differs = d is not None and d not in self.digests
        upstream_decided = self._inherit(sv, state) if not state.scratch else False
        if upstream_decided:
            origin = self.because.get(id(sv))
            if own_differs:
                self._also_differs(sv, key, d)
            # issue 19 item 5: name the step's own change even when an earlier step already misses
            if ctx_idx is None and sv.verdict == "miss" and not (own_differs and not self._a_knows(sv)):
                sv.cause += f"; would miss even if line {origin.line if origin else '?'} hit: {what} differs from host A's"
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
        if own_differs:
            assert d is not None
            sv.verdict = "miss"
            self._definition_miss(sv, key, d, set())
            if ctx_idx is None and self._a_knows(sv):
                sv.cause += f"; {what} differs from host A's too"
                self._explain(sv, state, heredocs != [])
            return _State(frozenset(), step=sv)
        if ctx_idx is None:
            sv.verdict = "miss"
            sv.cause = f"{what} differs from host A's (its checksum is not in the cache)"
            self._explain(sv, state, heredocs != [])
            return _State(frozenset(), step=sv)
        sv.root_in_cache = root
        expected.append(frozenset({ctx_idx}))
        found = self._by_label(self.g.find(expected), sv)
        if key is not None:
            return self._exact(sv, key, d, found, ins)
        out = self._settle(sv, found)
        if sv.verdict == "miss":
            sv.cause = (
                f"{what} matches host A's, but no record in the cache consumes it after the previous step "
                "(a changed instruction, flag or build arg?)"
            )
        return out

    def _a_knows(self, sv: StepVerdict) -> bool:
        """Did host A build this COPY (its fingerprint names the step), so that a file difference under
        it is a real difference and not just the files of an instruction A never had?"""
        if self.fp is None:
            return True
        return any(_norm(str(s.get("instruction", ""))) == sv.instruction for s in self.fp.get("steps", []))

    def _link(
        self, sv: StepVerdict, key: StepKey, state: _State, src: frozenset[int] | None, what: str
    ) -> _State:
        """``COPY --link``: a copy onto scratch (inputs: the source only) plus a merge of [the state so far,
        the copy]. The copy's record does not depend on the step before it: when that step changed,
        BuildKit still takes the copy's layer from the cache and only re-runs the merge."""
        rules = self.op_rules
        copy_op, merge_op = key.ops[-2], key.ops[-1]
        if key.unknown is not None:
            sv.verdict = "unknown"
            sv.cause = f"COPY --link whose own key is not computed here ({key.unknown})"
            return _State(None, step=sv)
        cd, md = copy_op.digest[rules], merge_op.digest[rules]
        if src is None:
            sv.verdict = "unknown"
            sv.cause = f"{what} has an unknown verdict"
            return _State(None, step=sv)
        copy_found = {i for i in self.g.find([src]) if self.g.records[i].digest == cd} if src else set()
        if not copy_found:
            sv.verdict = "miss"
            if cd not in self.digests:
                sv.records = []
                self._definition_miss(sv, key, cd, set())
            else:
                sv.cause = f"{what} differs from host A's (its checksum is not in the cache)"
                self._explain(sv, state, False)
            if state.records is not None and not state.records and state.step is not None:
                self.because[id(sv)] = self.because.get(id(state.step), state.step)
            return _State(frozenset(), step=sv)
        self.claimed |= copy_found
        if state.records is None or not state.records:
            sv.verdict = "hit"
            sv.records = sorted(copy_found)
            prev = state.step
            sv.cause = (
                "the copy's layer is in the cache (COPY --link does not build on the step before it); only "
                f"the merge onto line {prev.line if prev else '?'}'s result re-runs"
            )
            return _State(None if state.records is None else frozenset(), step=prev)
        merge_found = {
            i for i in self.g.find([state.records, frozenset(copy_found)]) if self.g.records[i].digest == md
        }
        if merge_found:
            return self._settle(sv, merge_found | copy_found)
        sv.verdict = "hit"
        sv.records = sorted(copy_found)
        sv.cause = (
            "the copy's layer is in the cache; its merge record is not (host A built another merge: "
            f"{'another BuildKit version' if md not in self.digests else 'other inputs'}), so the merge re-runs"
        )
        return _State(frozenset(), step=sv)

    def _copy_from(self, ins: Instr, state: _State, sv: StepVerdict, key: StepKey | None) -> _State:
        if ins.from_stage is not None:
            src = self.state_of.get(ins.from_stage.index, _State(None))
            self._use(src.step, sv)
            what = f"stage {_stage_label(ins.from_stage)}"
        else:
            keys = self.images.get(ins.from_ or "")
            if keys is None or (keys.error and not keys.assumed):
                sv.verdict = "unknown"
                sv.cause = f"image {ins.from_} could not be resolved here" + (
                    f": {keys.error}" if keys is not None and keys.error else ""
                )
                return _State(None, step=sv)
            if keys.assumed:
                found_img = set(self.g.image_roots)
                what = f"image {ins.from_} (assumed to be the one in the cache: --assume-base-unchanged)"
            else:
                found_img = {self.g.by_digest[k] for k in keys.keys if k in self.g.by_digest}
                what = f"image {ins.from_}"
            src = _State(frozenset(found_img))
        if key is not None and len(key.ops) >= 2 and key.ops[-1].role == "merge":
            if src.records is not None and not src.records and ins.from_stage is not None:
                sv.verdict = "unknown"
                sv.cause = (
                    f"{what} misses; BuildKit still hits this step if the stage produces the same files "
                    "(COPY --from has a content key), which cannot be known before building"
                )
                return _State(None, step=sv)
            return self._link(sv, key, state, src.records, what)
        d = self._digest(key)
        if not state.scratch and self._inherit(sv, state):
            self._also_differs(sv, key, d)
            return _State(frozenset() if sv.verdict == "miss" else None, step=sv)
        if src.records is None:
            sv.verdict = "unknown"
            sv.cause = f"{what} has an unknown verdict"
            if src.step is not None:
                self.because[id(sv)] = self.because.get(id(src.step), src.step)
            return _State(None, step=sv)
        if d is not None and d not in self.digests:
            sv.verdict = "miss"
            self._definition_miss(sv, key, d, set())
            return _State(frozenset(), step=sv)
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
        if key is not None and key.op is not None and len(key.op.inputs) == 1 and not state.scratch:
            # FROM X + COPY --from=X: llb dedupes the equal inputs, the op has one input
            expected = [(state.records or frozenset()) | src.records]
        found = self._by_label(self.g.find(expected), sv)
        if key is not None:
            return self._exact(sv, key, d, found, ins)
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
        # a source through a symlinked directory (COPY link/app.conf) reads the files under the link's
        # target: that is where both fingerprints list them
        scopes += [r for sc in scopes if (r := _through_links(self.view, sc)) != sc]

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


def _through_links(tree: ContextTree, path: str) -> str:
    """``path`` with every symlinked directory along it replaced by its target (inside the context, at
    most 40 links, as the kernel): what BuildKit's FollowLinks resolution reads."""
    parts = [p for p in path.split("/") if p]
    out: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if out:
                out.pop()
            continue
        if name == ".":
            continue
        cur = "/" + "/".join([*out, name])
        e = tree.get(cur)
        if e is not None and e.type == EntryType.SYMLINK and hops < 40:
            hops += 1
            target = e.linkname
            if target.startswith("/"):
                out = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        out.append(name)
    return "/" + "/".join(out)


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
    keys: Sequence[StepKey] | None = None,
    op_rules: str | None = None,
    named_views: Mapping[str, ContextTree] | None = None,
    guesses: Sequence[StepKey] | None = None,
) -> CheckReport:
    """Predict every step of ``build`` against A's cache ``graph`` (pure).

    ``keys`` are the steps' own keys (:func:`cacheinspect.dockerfile.stepkeys.step_keys` of this very
    ``build``): with them a step hits only when its computed record digest follows its inputs in A's
    cache; a step without one falls back to the graph's structure and is ``unknown`` where that finds it.
    ``named_views``: the hashed trees of ``--build-context NAME=DIR`` (``COPY --from=NAME``).

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
        keys=keys,
        op_rules=op_rules,
        named_roots=_named_roots(build, named_views or {}, chosen),
        named_contexts=frozenset(named_views or {}),
        guesses=guesses,
    )
    verdicts = checker.run()
    return CheckReport(
        cache=cache_label,
        context=context_label,
        buildkit_rules=chosen.value,
        rules_reason=reason,
        steps=verdicts,
        fingerprint=fingerprint_label,
        op_rules=checker.op_rules,
    )


def _named_roots(
    build: Build, views: Mapping[str, ContextTree], rules: RuleSet
) -> dict[tuple[str, int], StepRoots]:
    """Content roots of ``COPY --from=NAME`` for each named local context, computed over its own tree."""
    out: dict[tuple[str, int], StepRoots] = {}
    for name, view in views.items():
        steps: list[CopyStep] = []
        for st in build.needed:
            for ins in st.instrs:
                if ins.keyword in ("COPY", "ADD") and ins.from_ == name and ins.from_stage is None:
                    srcs = tuple(s.path for s in ins.sources if not s.is_heredoc)
                    steps.append(
                        CopyStep(
                            _stage_label(st),
                            ins.line,
                            ins.node.original.strip(),
                            srcs,
                            ins.parents,
                            tuple(ins.excludes),
                        )
                    )
        for r in compute_roots(view, steps, rules):
            out[(r.step.stage, r.step.line)] = r
    return out


def base_image(config: Mapping[str, Any] | None) -> BaseImage:
    """The part of an image config a step key needs (``Env``, ``WorkingDir``, ``User``, ``Shell``);
    wrong types are taken as absent, as Go's decoder would leave the fields zero."""
    c = config if isinstance(config, Mapping) else {}

    def strs(v: Any) -> tuple[str, ...]:
        return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()

    wd, user = c.get("WorkingDir"), c.get("User")
    return BaseImage(
        env=strs(c.get("Env")),
        workdir=wd if isinstance(wd, str) else "",
        user=user if isinstance(user, str) else "",
        shell=strs(c.get("Shell")),
    )


def compute_keys(
    build: Build,
    images: Mapping[str, ImageKeys],
    *,
    platform: str = "linux/amd64",
    network: str = "default",
    add_hosts: Sequence[str] = (),
    named_contexts: Iterable[str] = (),
    fingerprint: Mapping[str, Any] | None = None,
) -> tuple[Build, list[StepKey], list[StepKey] | None]:
    """Re-resolve ``build`` with its base images' configs (their ENV/WORKDIR/USER take part in expansion)
    and compute every step's own key. A base image's config comes from the registry, else from host A's
    fingerprint (``images``), else it is unknown (the steps that need it say so). The third value: the
    keys with every unknown config guessed as BuildKit's default (PATH only), None when none is unknown."""
    from cacheinspect.dockerfile import DockerfileError, resolve
    from cacheinspect.dockerfile.resolve import DEFAULT_PATH
    from cacheinspect.dockerfile.stepkeys import BuildOptions, step_keys

    configs: dict[str, BaseImage] = {}
    fp_images = (fingerprint or {}).get("images")
    for st in build.stages:
        if st.base_stage is not None or st.base == "scratch":
            continue
        k = images.get(st.base)
        if k is not None and k.config is not None:
            configs[st.base] = k.config
        elif isinstance(fp_images, Mapping) and isinstance(fp_images.get(st.base), Mapping):
            configs[st.base] = base_image(fp_images[st.base])
    rebuilt = build
    if build.dockerfile is not None:
        target = None if build.target is build.stages[-1] else build.target.name
        rebuilt = resolve(
            build.dockerfile, build_args=build.build_args, target=target, platform=platform, images=configs
        )
    opts = BuildOptions(
        network=network,
        add_hosts=tuple(add_hosts),
        platform=platform,
        images=configs,
        build_args=dict(build.build_args),
        named_contexts=frozenset(named_contexts),
    )
    keys = step_keys(rebuilt, opts)
    syntax = build.dockerfile.directives.get("syntax") if build.dockerfile is not None else None
    if syntax:
        # another frontend image may build other ops (new defaults, SOURCE_DATE_EPOCH, --parents):
        # its keys are the built-in frontend's as a guess, which only a match in A's cache proves
        import copy

        guesses = keys
        keys = [copy.copy(sk) for sk in keys]
        for sk in keys:
            sk.unknown = sk.unknown or f"the Dockerfile names another frontend (# syntax={syntax})"
        return rebuilt, keys, guesses
    unknown = [
        st.base
        for st in build.stages
        if st.base_stage is None and st.base != "scratch" and st.base not in configs
    ]
    if not unknown or build.dockerfile is None:
        return rebuilt, keys, None
    guessed = {**configs, **{u: BaseImage(env=(f"PATH={DEFAULT_PATH}",)) for u in unknown}}
    target = None if build.target is build.stages[-1] else build.target.name
    try:
        alt = resolve(
            build.dockerfile, build_args=build.build_args, target=target, platform=platform, images=guessed
        )
    except DockerfileError:
        return rebuilt, keys, None
    return rebuilt, keys, step_keys(alt, dataclasses.replace(opts, images=guessed))


def step_evidence(keys: Sequence[StepKey], rules: str = "v0.13") -> list[dict[str, Any]]:
    """What host A publishes about each step's own definition (the fingerprint's ``ops``): its CacheMap
    JSON under one rule set and the record digests under both, so host B can name the differing field."""
    out: list[dict[str, Any]] = []
    for k in keys:
        if k.op is None:
            continue
        out.append(
            {
                "stage": k.stage,
                "line": k.line,
                "keyword": k.keyword,
                "instruction": k.instruction,
                "rules": rules,
                "cachemap": k.op.json[rules].decode("utf-8", "replace"),
                "digest": dict(k.op.digest),
                **({"unknown": k.unknown} if k.unknown else {}),
            }
        )
    return out


# ------------------------------------------------------------------------------------------- I/O edge
async def resolve_image(ref: str, options: RegistryOptions, platform: str) -> ImageKeys:
    """Resolve a FROM / ``COPY --from`` image the way BuildKit will here and compute its keys.

    Any failure (no network, no such image, auth) gives an :class:`ImageKeys` with ``error`` set: the
    step's verdict is then ``unknown``, never a guess.
    """
    from cacheinspect.errors import CacheInspectError
    from cacheinspect.oci import ImageConfig, Manifest, decode
    from cacheinspect.reference import parse_reference
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
            keys = image_keys(ref, digests, platform, diff_ids)
            return dataclasses.replace(keys, config=base_image(cfg.config))
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
    network: str = "default",
    add_hosts: Sequence[str] = (),
    named_views: Mapping[str, ContextTree] | None = None,
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
            named = ins.from_ in (named_views or {})
            if ins.keyword in ("COPY", "ADD") and ins.from_ and ins.from_stage is None and not named:
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
    build, keys, guesses = compute_keys(
        build,
        images,
        platform=platform,
        network=network,
        add_hosts=add_hosts,
        named_contexts=named_views or {},
        fingerprint=fingerprint,
    )
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
        keys=keys,
        named_views=named_views,
        guesses=guesses,
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


def _annotation_file(path: str) -> str:
    """The ``file=`` of a workflow annotation: GitHub attaches it only to a path relative to the
    repository (``$GITHUB_WORKSPACE``, else the current directory); property syntax escaped."""
    import os

    p = path
    if os.path.isabs(p):
        base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
        rel = os.path.relpath(p, base)
        if not rel.startswith(".."):
            p = rel
    for a, b in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        p = p.replace(a, b)
    return p


def render_check(report: CheckReport, fmt: str, *, dockerfile: str = "Dockerfile") -> str:
    """``table`` / ``markdown`` / ``github`` (workflow annotations) / ``json`` text of a report (pure)."""
    if fmt == "json":
        from .fingerprint import dumps_json

        return dumps_json(report.to_json()) + "\n"
    counts = {v: sum(1 for s in report.steps if s.verdict == v) for v in ("hit", "miss", "unknown")}
    summary = (
        f"{len(report.steps)} steps: {counts['hit']} hit, {counts['miss']} miss, {counts['unknown']} unknown"
    )
    fields = [
        ("cache", str(report.cache)),
        ("context", str(report.context)),
        ("buildkit rules", f"{report.buildkit_rules} ({report.rules_reason})"),
        ("fingerprint", str(report.fingerprint or "none (explanations from a single-change search)")),
        (
            "step keys",
            f"computed with BuildKit {report.op_rules} struct tags "
            f"({'v0.13-v0.17' if report.op_rules == 'v0.13' else 'v0.18 and later'})",
        ),
    ]
    head = [f"{k:<16} {v}" for k, v in fields]
    if fmt == "github":
        lines = []
        for s in report.steps:
            if s.verdict == "hit":
                continue
            level = "error" if s.verdict == "miss" else "warning"
            title = "cache miss predicted" if s.verdict == "miss" else "cache hit unknown"
            msg = s.cause.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            lines.append(
                f"::{level} file={_annotation_file(dockerfile)},line={s.line},title={title}::{s.instruction}: {msg}"
            )
        lines.append(f"::notice title=cacheinspect context check::{summary}")
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        out = [
            "### Context check",
            "",
            *[f"- {k}: {v}" for k, v in fields],
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
