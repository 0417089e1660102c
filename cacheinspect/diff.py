"""Compare two caches: blobs, records, results, and why a second host missed (pure).

Records are matched by *identity* (digest plus the identities of their inputs, recursively; see
:mod:`cacheinspect.graph`), never by array position or blob: two builds of the same steps produce the
same keys but different blob digests, because layers are rebuilt with new timestamps.

Divergence reads B as the cache a second host produced after importing A. A record of B is *bad*
when A has no record with its identity (its key changed) or when A has the key but no layer for it
while B has one (B had to run it). Bad records none of whose non-root parents are bad are the
divergence points, reported earliest first with a cause; the bad records below each are its
downstream. Roots are never entries of their own: a changed content-checksum root is reported on the
COPY/ADD step that reads it (``context-changed``), changed image roots on the first step on that base
(``base-image-changed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .digest import short
from .graph import CacheGraph, Record
from .report import summary

__all__ = ["SCHEMA_DIFF", "Cause", "Divergence", "diff_report", "divergences"]

SCHEMA_DIFF = "cacheinspect.diff/v1"

Cause = Literal["context-changed", "base-image-changed", "definition-changed", "results-missing"]

_CONTEXT_DETAIL = (
    "the content checksum of the files this step reads differs ({a} in A, {b} in B): file content, mode, "
    "ownership or xattrs changed (mtime is not counted). Typical causes: a checkout with another umask "
    "(664 vs 644), chmod, SELinux or macOS xattrs, line endings"
)


@dataclass(slots=True)
class Divergence:
    record: Record
    cause: Cause
    detail: str
    downstream: list[Record] = field(default_factory=list)


def _label(r: Record) -> str:
    return r.step or f"record {short(r.digest)}"


def _input_keys(g: CacheGraph, r: Record, i: int) -> set[tuple[str, str]]:
    return {(lk.selector, g.records[lk.link].identity) for lk in r.inputs[i]} if i < len(r.inputs) else set()


def _classify(
    a: CacheGraph, b: CacheGraph, r: Record, a_by_digest: dict[str, list[Record]]
) -> tuple[Cause, str]:
    twins = a_by_digest.get(r.digest, [])
    if not twins:
        # Same parents, new key: show what A had on the same parent, when there is such a step.
        parents = {b.records[lk.link].identity for alts in r.inputs[:1] for lk in alts}
        was = sorted(
            {
                _label(x)
                for x in a.records
                if x.inputs and {a.records[lk.link].identity for lk in x.inputs[0]} & parents and x.step
            }
        )
        hint = f"; A has instead: {', '.join(was)}" if was else ""
        return (
            "definition-changed",
            "A has no step with this cache key: the command, env, build args reaching the step, platform "
            f"or frontend changed{hint}",
        )
    best = max(
        twins,
        key=lambda t: sum(len(_input_keys(a, t, i) & _input_keys(b, r, i)) for i in range(len(r.inputs))),
    )
    for i, alts in enumerate(r.inputs):
        theirs = _input_keys(a, best, i)
        new = [lk for lk in alts if (lk.selector, b.records[lk.link].identity) not in theirs]
        if not new:
            continue
        if all(b.records[lk.link].is_root for lk in new):
            roots_b = [b.records[lk.link] for lk in alts if b.records[lk.link].is_root]
            old_roots = (
                [a.records[lk.link] for lk in best.inputs[i] if a.records[lk.link].is_root]
                if i < len(best.inputs)
                else []
            )
            a_txt = ", ".join(short(x.digest) for x in old_roots) or "none"
            b_txt = ", ".join(short(x.digest) for x in roots_b)
            if len(roots_b) >= 2:
                return (
                    "base-image-changed",
                    f"input {i} is an image source whose keys differ ({a_txt} in A, {b_txt} in B): the base image "
                    "resolved to another image (a moved tag, another platform, or a new FROM)",
                )
            return "context-changed", f"input {i}: " + _CONTEXT_DETAIL.format(a=a_txt, b=b_txt)
        return (
            "definition-changed",
            f"input {i} links to records A does not have with this step: {', '.join(_label(b.records[lk.link]) for lk in new)}",
        )
    return "definition-changed", "the step's key matches but its inputs are linked differently"


def divergences(a: CacheGraph, b: CacheGraph) -> list[Divergence]:
    """Where B's build left A's cache, earliest first, each with the B steps that missed because of it."""
    a_ids = a.by_identity
    a_by_digest: dict[str, list[Record]] = {}
    for x in a.records:
        a_by_digest.setdefault(x.digest, []).append(x)
    owner: dict[int, int] = {}  # bad B record -> index into out
    out: list[Divergence] = []
    for i in b.order:
        r = b.records[i]
        if r.is_root:
            continue
        twin_idx = a_ids.get(r.identity)
        if twin_idx is not None:
            bad = bool(r.live_results) and not a.records[twin_idx].live_results
        else:
            bad = True
        if not bad:
            continue
        owners = sorted({owner[lk.link] for alts in r.inputs for lk in alts if lk.link in owner})
        if owners:
            owner[i] = owners[0]
            out[owners[0]].downstream.append(r)
            continue
        if twin_idx is not None:
            cause: Cause = "results-missing"
            detail = (
                "A has this step's key but no layer for it, so B had to run it: A was exported in mode=min "
                "(builder stages become keys only) or its blob was dropped"
            )
        else:
            cause, detail = _classify(a, b, r, a_by_digest)
        owner[i] = len(out)
        out.append(Divergence(r, cause, detail))
    return out


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


def _results_only(x: CacheGraph, y: CacheGraph) -> list[dict[str, Any]]:
    """Records both caches know whose layers only *x* holds, with their stage in *x*."""
    out = []
    for i in x.order:
        r = x.records[i]
        j = y.by_identity.get(r.identity)
        if j is None or not r.live_results or y.records[j].live_results:
            continue
        out.append(
            {
                "identity": r.identity,
                "digest": r.digest,
                "step": r.step or y.records[j].step,
                "stage": r.stage,
                "stage_label": _stage_label(x, r),
                "layers": [res.top for res in r.live_results],
            }
        )
    return out


def diff_report(a: CacheGraph, b: CacheGraph) -> dict[str, Any]:
    """Everything ``cacheinspect diff`` shows, as one dict (schema ``cacheinspect.diff/v1``)."""
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
    ids_a, ids_b = set(a.by_identity), set(b.by_identity)
    res_a = _results_only(a, b)
    res_b = _results_only(b, a)
    divs = divergences(a, b)
    hints: list[str] = []
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
        "only_in_a": len(ids_a - ids_b),
        "only_in_b": len(ids_b - ids_a),
        "shared": len(ids_a & ids_b),
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
                "detail": d.detail,
                "downstream": [{"record": x.digest, "step": x.step} for x in d.downstream],
            }
            for d in divs
        ],
        "hints": hints,
        "different": different,
    }
