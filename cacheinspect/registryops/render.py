"""JSON documents and tables for ``registry probe|ls|prune`` (everything from outside is escaped).

The JSON is the complete answer (schemas ``cacheinspect.registry-probe/v1``, ``…-ls/v1``,
``…-prune/v1``, ``…-log/v1``); the tables are views of it. Registry messages are kept verbatim in JSON
(the encoder escapes C0, :func:`~cacheinspect.render.common.to_json` the rest) and pass through
:func:`~cacheinspect.render.escape.esc` in tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cacheinspect.render.common import human_bytes, table, to_json
from cacheinspect.render.escape import esc

if TYPE_CHECKING:  # names for annotations only: `probe --from-log` must not import the HTTP client
    from cacheinspect.registryops.advice import Advice, BuildKitVersion
    from cacheinspect.registryops.inventory import PrunePlan, TagInfo, TagUsage
    from cacheinspect.registryops.remote import DeleteResult, ProbeResult, ReadOnlyResult, TagList
    from cacheinspect.registryops.rules import LogDiagnosis

__all__ = [
    "SCHEMA_LOG",
    "SCHEMA_LS",
    "SCHEMA_PROBE",
    "SCHEMA_PRUNE",
    "log_doc",
    "ls_doc",
    "probe_doc",
    "prune_doc",
    "read_only_doc",
    "render",
]

SCHEMA_PROBE = "cacheinspect.registry-probe/v1"
SCHEMA_LS = "cacheinspect.registry-ls/v1"
SCHEMA_PRUNE = "cacheinspect.registry-prune/v1"
SCHEMA_LOG = "cacheinspect.registry-log/v1"


def _time(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _advice_json(a: Advice, v: BuildKitVersion) -> dict[str, Any]:
    return {"buildkit": str(v), "cache_to": a.cache_to, "shape": a.shape, "reasons": list(a.reasons)}


def probe_doc(r: ProbeResult, advice: Advice, version: BuildKitVersion) -> dict[str, Any]:
    return {
        "schema": SCHEMA_PROBE,
        "ref": r.ref,
        "mode": "push",
        "shapes": [s.to_json() for s in r.shapes],
        "referrers": r.referrers,
        "referrers_answer": r.referrer_answer.to_json() if r.referrer_answer else None,
        "deletes_allowed": r.deletes_allowed,
        "deletes_answer": r.delete_answer.to_json(),
        "left_behind": r.left_behind,
        "advice": _advice_json(advice, version),
    }


def read_only_doc(r: ReadOnlyResult, advice: Advice, version: BuildKitVersion) -> dict[str, Any]:
    return {
        "schema": SCHEMA_PROBE,
        "ref": r.ref,
        "mode": "read-only",
        "digest": r.digest,
        "shape": r.shape,
        "records": r.records,
        "blobs": r.blobs,
        "ok": not r.problems,
        "problems": r.problems,
        "referrers": r.referrers,
        "referrers_answer": r.referrer_answer.to_json() if r.referrer_answer else None,
        "advice": _advice_json(advice, version),
    }


def ls_doc(
    repo: str, listing: TagList, tags: Sequence[TagInfo], use: Mapping[str, TagUsage], all_tags: bool
) -> dict[str, Any]:
    rows = []
    for t in tags:
        if not (all_tags or t.is_cache or t.shape == "unknown"):
            continue
        u = use.get(t.tag)
        rows.append(
            {
                "tag": t.tag,
                "digest": t.digest or None,
                "media_type": t.media_type or None,
                "shape": t.shape,
                "cache": t.is_cache,
                "records": t.records,
                "layers": len(t.layers),
                "layer_bytes": u.layer_bytes if u else None,
                "blob_bytes": u.blob_bytes if u else None,
                "unique_bytes": u.unique_bytes if u else None,
                "shared_bytes": u.shared_bytes if u else None,
                "newest": _time(t.newest),
                "error": t.error,
            }
        )
    return {
        "schema": SCHEMA_LS,
        "repository": repo,
        "tags_listed": len(listing.tags),
        "pages": listing.pages,
        "invalid_tag_names": listing.invalid,
        "caches": sum(1 for t in tags if t.is_cache),
        "tags": rows,
    }


def prune_doc(
    repo: str,
    plan: PrunePlan,
    results: list[DeleteResult] | None,
    unreadable: list[str],
    invalid_tag_names: int = 0,
) -> dict[str, Any]:
    done = {r.tag: r for r in results or []}
    return {
        "schema": SCHEMA_PRUNE,
        "repository": repo,
        "dry_run": results is None,
        "reclaimed_bytes": plan.reclaimed_bytes,
        "reclaimed_blobs": plan.reclaimed_blobs,
        "unreadable_tags": unreadable,
        "invalid_tag_names": invalid_tag_names,
        "tags": [
            {
                "tag": e.tag,
                "digest": e.digest,
                "shape": e.shape,
                "newest": _time(e.newest),
                "action": "delete" if e.delete else "keep",
                "reason": e.reason,
                "deleted": done[e.tag].deleted if e.tag in done else None,
                "answer": (a.to_json() if (a := done[e.tag].answer) else None) if e.tag in done else None,
                "skipped": done[e.tag].skipped if e.tag in done else None,
            }
            for e in plan.entries
        ],
    }


def log_doc(path: str, d: LogDiagnosis) -> dict[str, Any]:
    return {"schema": SCHEMA_LOG, "log": path, **d.to_json()}


# -- tables ----------------------------------------------------------------------------------------------
def _answer_text(a: Mapping[str, Any] | None) -> str:
    if not a:
        return ""
    parts = [f"HTTP {a['status']}" if a.get("status") is not None else "no HTTP answer"]
    for e in a.get("errors") or []:
        bits = [
            f"{e['code']}:" if e.get("code") else "",
            e.get("message") or "",
            f"({e['detail']})" if e.get("detail") else "",
        ]
        parts.append(" ".join(b for b in bits if b))
    if a.get("text"):
        parts.append(str(a["text"]))
    return "; ".join(parts)


def _probe_table(doc: Mapping[str, Any]) -> str:
    out = [f"registry probe {esc(doc['ref'])}\n\n"]
    if doc["mode"] == "read-only":
        out.append(
            f"cache   {esc(doc['digest'])}\nshape   {esc(doc['shape'])}\nrecords {esc(doc['records'])}\n"
            f"blobs   {doc['blobs']}\nstatus  {'ok' if doc['ok'] else 'PROBLEMS'}\n"
        )
        for p in doc["problems"]:
            out.append(f"  - {esc(p)}\n")
        out.append(f"referrers API: {esc(doc['referrers'])}\n")
    else:
        rows = []
        for s in doc["shapes"]:
            answer = _answer_text(s["answer"]) if not s["accepted"] else ""
            if s["read_back"]:
                answer = "; ".join(s["read_back"])
            rows.append(
                [s["shape"], "accepted" if s["accepted"] else "REFUSED", s["failed_at"] or "", answer[:300]]
            )
        out.append(table(rows, ["shape", "result", "failed at", "registry answer"], "table"))
        ref_txt = {
            "api": "the referrers API works (OCI 1.1)",
            "tag-fallback": "no referrers API; the sha256-<digest> tag fallback works",
            "none": "neither the referrers API nor the tag fallback found the referrer",
            "refused": "the referrer push was refused: " + _answer_text(doc["referrers_answer"]),
        }.get(doc["referrers"], doc["referrers"])
        out.append(f"\nreferrers: {esc(ref_txt)}\n")
        dels = (
            "allowed" if doc["deletes_allowed"] else "refused (" + _answer_text(doc["deletes_answer"]) + ")"
        )
        out.append(f"deletes:   {esc(dels)}\n")
        if doc["left_behind"]:
            out.append("scratch tags left behind: " + ", ".join(esc(t) for t in doc["left_behind"]) + "\n")
    a = doc["advice"]
    out.append(f"\nfor BuildKit {esc(a['buildkit'])} use:\n")
    out.append(
        f"  --cache-to {esc(a['cache_to'])}\n" if a["cache_to"] else "  (no cache export works here)\n"
    )
    for r in a["reasons"]:
        out.append(f"  - {esc(r)}\n")
    return "".join(out)


def _ls_table(doc: Mapping[str, Any]) -> str:
    rows = [
        [
            t["tag"],
            t["shape"] if not t["error"] else f"unreadable: {t['error'][:80]}",
            "" if t["records"] is None else t["records"],
            human_bytes(t["layer_bytes"]),
            human_bytes(t["unique_bytes"]),
            human_bytes(t["shared_bytes"]),
            t["newest"] or "",
        ]
        for t in doc["tags"]
    ]
    head = f"{doc['caches']} cache tag(s) among {doc['tags_listed']} tag(s) of {esc(doc['repository'])}"
    if doc["invalid_tag_names"]:
        head += f" ({doc['invalid_tag_names']} invalid tag name(s) skipped)"
    return (
        head
        + "\n\n"
        + table(rows, ["tag", "shape", "records", "layers", "unique", "shared", "newest record"], "table")
    )


def _prune_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for t in doc["tags"]:
        state = t["action"]
        if t["deleted"] is True:
            state = "deleted"
        elif t["deleted"] is False:
            state = "NOT deleted: " + (t["skipped"] or _answer_text(t["answer"]))
        rows.append([t["tag"], t["shape"], t["newest"] or "", state, t["reason"]])
    n = sum(1 for t in doc["tags"] if t["action"] == "delete")
    verb = "would delete" if doc["dry_run"] else "deleted"
    head = (
        f"{verb} {n} cache tag(s) of {esc(doc['repository'])}; blobs no kept tag holds: "
        f"{doc['reclaimed_blobs']} ({human_bytes(doc['reclaimed_bytes'])}), freed by the registry's GC\n"
    )
    if doc["unreadable_tags"]:
        head += (
            "unreadable tags (their blobs are unknown): "
            + ", ".join(esc(t) for t in doc["unreadable_tags"])
            + "\n"
        )
    if doc.get("invalid_tag_names"):
        head += f"{doc['invalid_tag_names']} name(s) in the tag list are not valid tags (never read)\n"
    tail = "\n(dry run: pass --yes to delete)\n" if doc["dry_run"] and n else ""
    return head + "\n" + table(rows, ["tag", "shape", "newest record", "action", "why"], "table") + tail


def _log_table(doc: Mapping[str, Any]) -> str:
    if not doc["failed"]:
        return f"{esc(doc['log'])}: no failed cache export found\n"
    out = [f"failed: {esc(doc['error'])}\n"]
    if doc["operation"]:
        out.append(
            f"step:   {esc(doc['operation'])}"
            + (f" ({esc(doc['shape'])} shape)" if doc["shape"] else "")
            + "\n"
        )
    req = doc["request"]
    if req:
        line = " ".join(esc(x) for x in (req["method"], req["url"]) if x)
        status = f"{req['status']} {esc(req['reason'] or '')}".strip() if req["status"] is not None else ""
        out.append(f"request: {line} -> {status}\n" if line else f"status: {status}\n")
    if not doc["rules"]:
        out.append("\nno known registry rule matches; run `cacheinspect registry probe REGISTRY/REPO`\n")
    for r in doc["rules"]:
        out.append(f"\nlikely: {esc(r['registry'])} {esc(r['rule'])}\n")
        for link in r["links"]:
            out.append(f"  see {esc(link)}\n")
        out.append(f"  fix: {esc(r['fix'])}\n")
    return "".join(out)


def render(doc: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return to_json(doc)
    schema = doc["schema"]
    if schema == SCHEMA_PROBE:
        return _probe_table(doc)
    if schema == SCHEMA_LS:
        return _ls_table(doc)
    if schema == SCHEMA_PRUNE:
        return _prune_table(doc)
    return _log_table(doc)
