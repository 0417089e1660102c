"""The replay of BuildKit's cache lookup over A's graph, step by step in build order (see
:mod:`cacheinspect.context.check` for how a step is matched), with the explanation of each miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cacheinspect.cache.graph import CacheGraph
from cacheinspect.dockerfile import Build, Instr, Mount, Stage
from cacheinspect.dockerfile.stepkeys import StepKey, explain_difference

from .checksum import RuleSet, Selector
from .fingerprint import CopyStep, StepRoots, compute_roots, diff_fingerprints, fingerprint_tree
from .lookup import (
    _choose_op_rules,
    _chown_by_name,
    _Graph,
    _norm,
    _run_label_differs,
    _scope_of,
    _show,
    _stage_label,
    _State,
    _through_links,
    _under,
)
from .search import Explanation, SearchResult, read_source, search_single_change
from .tree import ContextTree
from .verdicts import (
    _VERTEX_KEYWORDS,
    ImageKeys,
    StepVerdict,
    heredoc_root,
)

if TYPE_CHECKING:
    from .walk import Progress


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
