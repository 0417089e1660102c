"""Rule choice and graph lookup for ``context check``: which checksum rules a cache was made with
(:func:`choose_rules`), A's record graph as the replay walks it (:class:`_Graph`), and the small helpers
that match a step to a record (labels, ``--chown``, paths through links, selector scope).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from cacheinspect._lazyre import lazy
from cacheinspect.cache.graph import CacheGraph
from cacheinspect.dockerfile import Instr, Stage
from cacheinspect.dockerfile.stepkeys import StepKey

from .checksum import RuleSet, Selector
from .fingerprint import CopyStep, StepRoots, compute_roots
from .tree import ContextTree, EntryType
from .verdicts import (
    RULE_ORDER,
    StepVerdict,
)


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
class _State(msgspec.Struct):
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


_RUN_LABEL = lazy(r"^RUN (?P<cmd>.*?)(?: \[(?P<args>[^=\s\]]+=[^\]]*)\])?$", re.S)


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
