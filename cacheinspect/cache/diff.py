"""Compare two caches: blobs, records, results, and why a second host missed (pure).

Records are matched by *identity* (digest plus the identities of their inputs, recursively; see
:mod:`cacheinspect.cache.graph`), never by array position or blob: two builds of the same steps produce the
same keys but different blob digests, because layers are rebuilt with new timestamps.

Matching follows BuildKit's cache-hit semantics, not plain identity: a record of B *matches* a record
of A with the same digest when, for every input, some alternative of B's (alternatives are OR) has the
same selector and a parent that matches one of A's alternatives; roots match by digest.

Divergence reads B as the cache a second host produced after importing A, and asks what B had to
*run*: every record whose key A lacks (its key changed), plus every record A knows only as a key
(no layer) that B either exported a layer for or needed as the input of something it ran. Those runs
start somewhere: a changed key whose parents all match (``context-changed`` when a content-checksum
root under it differs, ``base-image-changed`` when the image-source roots differ,
``definition-changed`` when the step's own key is new, ``input-changed`` when A has the same key on
other parents or selectors), or a keys-only record none of whose parents ran (``results-missing``). Each origin is reported once, earliest first, with the runs below it as its
downstream. Roots are never entries of their own. Two caches that share no step at all get no
divergence, only ``unrelated: true`` and a hint: they are different builds, not a miss to explain.

Every run step also says *what* changed (``change``): ``definition`` when its record digest is not in
A (the digest is the step's own CacheMap: command, env, build args, flags; the inputs are links, not part
of it), ``input`` when A has the same digest but on other inputs (a parent step or a content root
changed). With both hosts' fingerprints (``context fingerprint``, whose ``ops`` hold each step's CacheMap
JSON), a definition change names the field, the way ``context check`` does
(:func:`cacheinspect.dockerfile.stepkeys.explain_difference`): ``env FLAVOR=fancy in B, plain in A``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal

import msgspec

from cacheinspect.cache.graph import CacheGraph, Link, Record
from cacheinspect.cache.report import summary
from cacheinspect.digest import short

__all__ = [
    "SCHEMA_DIFF",
    "Cause",
    "Change",
    "Divergence",
    "Downstream",
    "diff_report",
    "divergences",
    "match_records",
]

SCHEMA_DIFF = "cacheinspect.diff/v1"

Cause = Literal[
    "context-changed", "base-image-changed", "definition-changed", "input-changed", "results-missing"
]
#: what made a step run: its own definition (a record digest A lacks) or an input (A has the digest on
#: other inputs); None for ``results-missing`` (nothing changed, A has the key without a layer)
Change = Literal["definition", "input"]

#: What a local-context root hashes (CONTEXT-CHECKSUM.md §1-3): not ownership (the client zeroes uid/gid,
#: ``client/solve.go`` resetUIDAndGID), not mtime, not ``security.*``/``system.*`` xattrs such as SELinux
#: labels and ACLs (excluded since v0.7, moby/buildkit#1330) except ``security.capability``.
_CONTEXT_DETAIL = (
    "the content checksum of the files this step reads differs ({a} in A, {b} in B): file content, mode "
    "bits (including setuid/setgid/sticky), user.*/trusted.*/security.capability/com.apple.* xattrs, a "
    "symlink target, or which files exist changed (ownership, mtime and SELinux labels do not count for a "
    "local context). Typical causes: a checkout with another umask (664 vs 644), chmod, CRLF line endings, "
    "macOS xattrs, a file more or less; `cacheinspect context check` names the file"
)


class Downstream(msgspec.Struct):
    """A step that ran below a divergence: because of it alone (``input``), or with its own definition
    changed as well (``definition``, which a second edit further down shows as)."""

    record: Record
    change: Change
    fields: list[str] = msgspec.field(default_factory=list)


class Divergence(msgspec.Struct):
    """A step of B whose key left A's: why (cause, detail), what changed, and the steps downstream of it."""

    record: Record
    cause: Cause
    detail: str
    downstream: list[Downstream] = msgspec.field(default_factory=list)
    change: Change | None = None
    #: the fields of the step's own definition that differ (both fingerprints needed), B's side first
    fields: list[str] = msgspec.field(default_factory=list)


def _label(r: Record) -> str:
    return r.step or f"record {short(r.digest)}"


def match_records(a: CacheGraph, b: CacheGraph, *, rep: list[int] | None = None) -> list[AbstractSet[int]]:
    """For each record of B, the records of A it would hit (BuildKit's semantics; see the module doc).

    Records of A with the same identity (same digest, same inputs, recursively) hit and miss together,
    so each set holds one representative per identity (``a.by_identity``): a config that repeats one
    record a million times gives sets of one element, not a million (linear, not quadratic, memory).
    """
    if rep is None:
        rep = _representatives(a)
    a_by_digest: dict[str, list[Record]] = {}
    for x in a.records:
        if rep[x.index] == x.index:
            a_by_digest.setdefault(x.digest, []).append(x)
    # Read-only sets, shared where equal: most are empty or a root's one twin, and a million distinct
    # empty sets alone cost seconds and hundreds of MB.
    none: frozenset[int] = frozenset()
    root_hits: dict[str, frozenset[int]] = {}
    m: list[AbstractSet[int]] = [none] * len(b.records)
    for i in b.order:
        r = b.records[i]
        cands = a_by_digest.get(r.digest, ())
        if not cands:
            continue
        if not r.inputs:  # a root (``is_root``, without a property call per record)
            hit = root_hits.get(r.digest)
            if hit is None:
                hit = root_hits[r.digest] = frozenset(x.index for x in cands if not x.inputs)
            m[i] = hit
            continue
        found = frozenset(
            x.index
            for x in cands
            if len(x.inputs) == len(r.inputs)
            and all(_input_matches(r.inputs[k], x.inputs[k], m, rep) for k in range(len(r.inputs)))
        )
        if found:
            m[i] = found
    return m


def _representatives(g: CacheGraph) -> list[int]:
    """Per record, the index of the first record with its identity (the one ``match_records`` keeps)."""
    return [g.by_identity.get(r.identity, r.index) for r in g.records]


def _has_layer(g: CacheGraph, rep: list[int]) -> list[bool]:
    """Per representative: does any record of its identity carry a layer (others: False)."""
    out = [False] * len(g.records)
    live = g.live
    for i in range(len(live)):
        if live[i]:
            out[rep[i]] = True
    return out


def _input_matches(b_alts: list[Link], a_alts: list[Link], m: list[AbstractSet[int]], rep: list[int]) -> bool:
    return any(lb.selector == la.selector and rep[la.link] in m[lb.link] for lb in b_alts for la in a_alts)


def _classify(
    a: CacheGraph,
    b: CacheGraph,
    r: Record,
    m: list[AbstractSet[int]],
    rep: list[int],
    a_by_digest: dict[str, list[Record]],
    a_steps_on: dict[int, list[Record]],
) -> tuple[Cause, str]:
    twins = [x for x in a_by_digest.get(r.digest, ()) if len(x.inputs) == len(r.inputs)]
    if not twins:
        # Same parents, new key: show what A had on the same parent, when there is such a step.
        parents = {a_i for lk in (r.inputs[0] if r.inputs else []) for a_i in m[lk.link]}
        was = sorted({_label(x) for p in parents for x in a_steps_on.get(p, ())})
        hint = f"; A has instead: {', '.join(was)}" if was else ""
        return (
            "definition-changed",
            "A has no step with this cache key: the command, env, build args reaching the step, platform "
            f"or frontend changed{hint}",
        )
    best = max(
        twins,
        key=lambda t: sum(_input_matches(r.inputs[k], t.inputs[k], m, rep) for k in range(len(r.inputs))),
    )
    for k, alts in enumerate(r.inputs):
        if _input_matches(alts, best.inputs[k], m, rep):
            continue
        roots_b = [b.records[lk.link] for lk in alts if b.records[lk.link].is_root]
        if roots_b and len(roots_b) == len(alts):
            old_roots = [a.records[lk.link] for lk in best.inputs[k] if a.records[lk.link].is_root]
            a_txt = ", ".join(short(x.digest) for x in old_roots) or "none"
            b_txt = ", ".join(short(x.digest) for x in roots_b)
            if len(roots_b) >= 2:
                return (
                    "base-image-changed",
                    f"input {k} is an image source whose keys differ ({a_txt} in A, {b_txt} in B): the base image "
                    "resolved to another image (a moved tag, another platform, or a new FROM)",
                )
            return "context-changed", f"input {k}: " + _CONTEXT_DETAIL.format(a=a_txt, b=b_txt)
        return (
            "input-changed",
            f"A has this step's own key, but input {k} links to "
            f"{', '.join(_label(b.records[lk.link]) for lk in alts)} with selectors or parents A does not "
            "have for this step",
        )
    return "input-changed", "A has this step's own key, but its inputs are linked differently"


def divergences(
    a: CacheGraph,
    b: CacheGraph,
    m: list[AbstractSet[int]] | None = None,
    *,
    rep: list[int] | None = None,
    a_has_layer: list[bool] | None = None,
    fingerprint_a: Mapping[str, Any] | None = None,
    fingerprint_b: Mapping[str, Any] | None = None,
) -> list[Divergence]:
    """Where B's build left A's cache, earliest first, each with the B steps that ran because of it.

    ``rep``/``a_has_layer`` are A's representatives and their layers (computed here when not given).
    ``fingerprint_a``/``fingerprint_b``: the two hosts' fingerprints, to name a changed definition's field.
    """
    if rep is None:
        rep = _representatives(a)
    if a_has_layer is None:
        a_has_layer = _has_layer(a, rep)
    if m is None:
        m = match_records(a, b, rep=rep)
    recs = b.records
    a_by_digest: dict[str, list[Record]] = {}
    # labelled steps of A by the representative of a parent on their first input (for _classify's hint)
    a_steps_on: dict[int, list[Record]] = {}
    for x in a.records:
        a_by_digest.setdefault(x.digest, []).append(x)
        if x.inputs and x.step:
            for p in {rep[lk.link] for lk in x.inputs[0]}:
                a_steps_on.setdefault(p, []).append(x)
    # m's sets are shared objects (one per root digest, see match_records): decide each set once
    seen: dict[AbstractSet[int], bool] = {}
    loadable = [False] * len(recs)
    for i, hits in enumerate(m):
        if hits:
            v = seen.get(hits)
            if v is None:
                v = seen[hits] = any(a_has_layer[j] for j in hits)
            loadable[i] = v
    # What B had to run, children before parents: a run record needs each input, loaded when A has a
    # layer for some alternative, else computed.
    run = [False] * len(recs)
    needed = [False] * len(recs)
    b_live = b.live
    for i in reversed(b.order):
        r = recs[i]
        if not r.inputs:  # a root
            continue
        if not m[i] or (not loadable[i] and (b_live[i] or needed[i])):
            run[i] = True
        if run[i]:
            for alts in r.inputs:
                if not any(loadable[lk.link] for lk in alts):
                    for lk in alts:
                        needed[lk.link] = True
    ev = _Evidence(a, rep, fingerprint_a, fingerprint_b)
    owner: dict[int, int] = {}
    out: list[Divergence] = []
    for i in b.order:
        if not run[i]:
            continue
        r = recs[i]
        parents = [lk.link for alts in r.inputs for lk in alts if not recs[lk.link].is_root]
        if not m[i]:  # the key changed: downstream of a changed parent, or where the change enters
            src = sorted({owner[p] for p in parents if not m[p] and p in owner})
        else:  # keys-only in A: downstream of a keys-only parent that ran, or the first one
            src = sorted({owner[p] for p in parents if m[p] and run[p] and p in owner})
        if src:
            owner[i] = src[0]
            own = not any(len(x.inputs) == len(r.inputs) for x in a_by_digest.get(r.digest, ()))
            out[src[0]].downstream.append(
                Downstream(r, "definition", ev.fields(r)) if own else Downstream(r, "input")
            )
            continue
        if m[i]:
            cause: Cause = "results-missing"
            detail = (
                "A has this step's key but no layer for it, so B had to run it: A was exported in mode=min "
                "(builder stages become keys only) or its blob was dropped"
            )
        else:
            cause, detail = _classify(a, b, r, m, rep, a_by_digest, a_steps_on)
        change: Change | None = None if m[i] else "definition" if cause == "definition-changed" else "input"
        fields = ev.fields(r, m) if change == "definition" else []
        if change == "definition" and not fields and ev.missing:
            detail += f"; {ev.missing}"
        owner[i] = len(out)
        out.append(Divergence(r, cause, detail, change=change, fields=fields))
    return out


def _fp_ops(fp: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The ``ops`` evidence of a fingerprint (each step's CacheMap JSON), the well-formed entries only:
    a fingerprint is outside input, and a malformed entry just names no field."""
    ops = (fp or {}).get("ops")
    if not isinstance(ops, list):
        return []
    return [o for o in ops if isinstance(o, Mapping) and isinstance(o.get("digest"), Mapping)]


def _norm(s: object) -> str:
    return " ".join(str(s).split())


class _Evidence:
    """Both hosts' published step definitions, to name what differs in a step whose key changed.

    B's step is found by its record digest in B's ``ops`` (each entry lists its record digest under both
    rule sets); A's counterpart is, in order: the one step of A with the same instruction keyword that A
    built on the parent B's step is built on (the cache graph's own answer), else A's step at the same
    stage, line and keyword, else A's step with the same instruction text (as ``context check`` pairs them).
    """

    def __init__(
        self,
        a: CacheGraph,
        rep: Sequence[int],
        fingerprint_a: Mapping[str, Any] | None,
        fingerprint_b: Mapping[str, Any] | None,
    ) -> None:
        self.ops_a, self.ops_b = _fp_ops(fingerprint_a), _fp_ops(fingerprint_b)
        self.on = fingerprint_a is not None and fingerprint_b is not None
        self.missing = ""
        if fingerprint_a is not None or fingerprint_b is not None:
            lacking = [
                n
                for n, fp, ops in (("A", fingerprint_a, self.ops_a), ("B", fingerprint_b, self.ops_b))
                if fp is None or not ops
            ]
            if lacking:
                self.missing = (
                    f"the fingerprint of {' and '.join(lacking)} has no step definitions (give both, written by "
                    "context fingerprint without --lean) to name the field"
                )
        self.a = a
        self.rep = rep
        self.by_digest_a = self._index(self.ops_a)
        self.by_digest_b = self._index(self.ops_b)
        #: A's records by the representative of a parent on their first input (only with evidence)
        self.children: dict[int, list[Record]] = {}
        if self.on and self.ops_a and self.ops_b:
            for x in a.records:
                if x.inputs and x.digest in self.by_digest_a:
                    for p in {rep[lk.link] for lk in x.inputs[0]}:
                        self.children.setdefault(p, []).append(x)

    @staticmethod
    def _index(ops: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {}
        for o in ops:
            for d in o["digest"].values():
                if isinstance(d, str):
                    out.setdefault(d, o)
        return out

    def _counterpart(
        self, r: Record, mine: Mapping[str, Any], m: list[AbstractSet[int]] | None
    ) -> Mapping[str, Any] | None:
        kw = mine.get("keyword")
        if m is not None and r.inputs:
            parents = {a_i for lk in r.inputs[0] for a_i in m[lk.link]}
            sib = {
                id(o): o
                for p in parents
                for x in self.children.get(p, ())
                if (o := self.by_digest_a[x.digest]).get("keyword") == kw
            }
            if len(sib) == 1:
                return next(iter(sib.values()))
        for o in self.ops_a:
            if (
                o.get("stage") == mine.get("stage")
                and o.get("line") == mine.get("line")
                and o.get("keyword") == kw
            ):
                return o
        text = _norm(mine.get("instruction", ""))
        return next((o for o in self.ops_a if _norm(o.get("instruction", "")) == text), None)

    def fields(self, r: Record, m: list[AbstractSet[int]] | None = None) -> list[str]:
        """What differs in *r*'s own definition, B's value first (empty: not known)."""
        mine = self.by_digest_b.get(r.digest)
        if mine is None or not self.ops_a:
            return []
        theirs = self._counterpart(r, mine, m)
        if theirs is None:
            return ["B's fingerprint has this step, A's has none like it: a new or changed instruction"]
        json_b, json_a = mine.get("cachemap"), theirs.get("cachemap")
        if (
            not isinstance(json_a, str)
            or not isinstance(json_b, str)
            or mine.get("rules") != theirs.get("rules")
        ):
            return []
        # imported here: the Dockerfile package (and RE2) only when fingerprints are compared
        from cacheinspect.dockerfile.stepkeys import explain_difference

        return explain_difference(
            json_b.encode("utf-8", "surrogateescape"),
            json_a.encode("utf-8", "surrogateescape"),
            this="in B",
            other="in A",
        )[:8]


def _side(g: CacheGraph) -> dict[str, Any]:
    return {"ref": g.cache.ref, "kind": g.cache.kind, "shape": g.cache.shape, "summary": summary(g)}


def _stage_label(g: CacheGraph, r: Record) -> str:
    """``stage 2 (4 steps, COPY /src/js /app/public/js ...)``: numbered in build order, named when labelled."""
    if r.stage is None:
        return "roots"
    for k, st in enumerate(g.stages, 1):
        if st.head == r.stage:
            named = f", {st.label} ..." if st.label else ""
            return f"stage {k} ({len(st.records)} steps{named})"
    return "stage ?"


def _results_only(
    x: CacheGraph, x_to_y: list[AbstractSet[int]], y_has_layer: list[bool], y: CacheGraph
) -> list[dict[str, Any]]:
    """Records both caches know whose layers only *x* holds, with their stage in *x*."""
    out = []
    live = x.live
    for i in x.order:
        twins = x_to_y[i]
        if not twins or not live[i] or any(y_has_layer[j] for j in twins):
            continue
        r = x.records[i]
        out.append(
            {
                "identity": r.identity,
                "digest": r.digest,
                "step": r.step or next((y.records[j].step for j in twins if y.records[j].step), None),
                "stage": r.stage,
                "stage_label": _stage_label(x, r),
                "layers": [t for res in r.live_results if (t := res.top)],
            }
        )
    return out


def diff_report(
    a: CacheGraph,
    b: CacheGraph,
    *,
    fingerprint_a: Mapping[str, Any] | None = None,
    fingerprint_b: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``cacheinspect diff`` shows, as one dict (schema ``cacheinspect.diff/v1``); with both
    hosts' fingerprints, a changed step definition names its field."""
    ab, bb = a.cache.blobs, b.cache.blobs
    only_a = sorted(set(ab) - set(bb))
    only_b = sorted(set(bb) - set(ab))
    by_diff_b: dict[str, str] = {}
    for d in only_b:
        if bb[d].diff_id:
            by_diff_b.setdefault(bb[d].diff_id or "", d)
    recompressed = []
    for d in only_a:
        twin = by_diff_b.get(ab[d].diff_id or "")
        if ab[d].diff_id and twin:
            recompressed.append(
                {
                    "a": d,
                    "b": twin,
                    "diff_id": ab[d].diff_id,
                    "a_media_type": ab[d].media_type,
                    "b_media_type": bb[twin].media_type,
                }
            )
    re_a = {x["a"] for x in recompressed}
    re_b = {x["b"] for x in recompressed}
    rep_a, rep_b = _representatives(a), _representatives(b)
    layer_a, layer_b = _has_layer(a, rep_a), _has_layer(b, rep_b)
    b_to_a = match_records(a, b, rep=rep_a)
    a_to_b = match_records(b, a, rep=rep_b)
    res_a = _results_only(a, a_to_b, layer_b, b)
    res_b = _results_only(b, b_to_a, layer_a, a)
    hints: list[str] = []
    # Two caches without a single step definition in common (a record digest is the op's own cache
    # key, independent of its inputs; roots aside) come from different builds: naming a cause for
    # every record of B would be confident nonsense. A moved base image keeps the digests.
    steps_a = {r.digest for r in a.records if r.inputs}
    steps_b = {r.digest for r in b.records if r.inputs}
    unrelated = bool(steps_a) and bool(steps_b) and not steps_a & steps_b
    divs = (
        []
        if unrelated
        else divergences(
            a,
            b,
            b_to_a,
            rep=rep_a,
            a_has_layer=layer_a,
            fingerprint_a=fingerprint_a,
            fingerprint_b=fingerprint_b,
        )
    )
    if unrelated:
        hints.append(
            "A and B share no step (different Dockerfile or target?): no cause can be named for B's misses."
        )
    if res_b and a.mode in ("min", "inline"):
        hints.append(
            f"A looks like mode={a.mode}: only the final image's layers are exported, builder stages become "
            "keys. Export with --cache-to type=registry,...,mode=max (and check the spelling: an unknown "
            "attribute such as mod=max is ignored silently and gives mode=min, moby/buildkit#1515)."
        )
    if res_a and b.mode in ("min", "inline"):
        hints.append(f"B looks like mode={b.mode}: A holds layers for steps B only has keys for.")
    if recompressed:
        hints.append(
            f"{len(recompressed)} layer(s) differ only in compression (same diffID): not missing, but a "
            "builder asking for one compression will not reuse the other's blob unless it converts."
        )
    records = {
        "only_in_a": sum(1 for s in a_to_b if not s),
        "only_in_b": sum(1 for s in b_to_a if not s),
        "shared": sum(1 for s in b_to_a if s),
        "results_only_in_a": res_a,
        "results_only_in_b": res_b,
    }
    blobs = {
        "only_in_a": [d for d in only_a if d not in re_a],
        "only_in_b": [d for d in only_b if d not in re_b],
        "shared": len(set(ab) & set(bb)),
        "recompressed": recompressed,
    }
    different = bool(
        blobs["only_in_a"]
        or blobs["only_in_b"]
        or records["only_in_a"]
        or records["only_in_b"]
        or res_a
        or res_b
        or divs
        or unrelated
    )
    return {
        "schema": SCHEMA_DIFF,
        "a": _side(a),
        "b": _side(b),
        "blobs": blobs,
        "records": records,
        "divergences": [
            {
                "record": d.record.digest,
                "identity": d.record.identity,
                "step": d.record.step,
                "cause": d.cause,
                "change": d.change,
                "fields": d.fields,
                "detail": d.detail,
                "downstream": [
                    {"record": x.record.digest, "step": x.record.step, "change": x.change, "fields": x.fields}
                    for x in d.downstream
                ],
            }
            for d in divs
        ],
        "hints": hints,
        "unrelated": unrelated,
        "different": different,
    }
