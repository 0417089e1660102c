"""Context fingerprints (``cacheinspect.context-fingerprint/v1``): what host A's COPY steps read.

A fingerprint lists, per COPY/ADD step that reads the local context, its selectors, their BuildKit
checksums and the exported root record digest (a self-check: it must equal the root in A's cache),
and per sent file every field BuildKit hashes — type, mode, size, link target, the xattrs that count
(value hashes only), a content hash and the BuildKit entry digest. uid/gid and mtime are not recorded
because BuildKit does not hash them for a local context. ``lean`` keeps only ``path -> entry digest``
(content hashes of low-entropy files can be guessed; an entry digest is no better, but it is all a
per-file diff needs to name the file).

:func:`fingerprint_tree` is pure (a client-view tree in, a dict out); :func:`fingerprint` does the
I/O around it (walk, ``.dockerignore``, hashing).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .checksum import (
    DEFAULT_RULES,
    Checksummer,
    RuleSet,
    Selector,
    counted_xattrs,
    dedupe_selectors,
    entry_digest,
    root_digest,
)
from .client import client_view, read_dockerignore
from .errors import ContextError, SourceNotFoundError, TooManyLinksError, UnreadableEntryError
from .patternmatcher import PatternError
from .tree import ContextTree, Entry, EntryType
from .walk import Progress, hash_tree, walk_context

if TYPE_CHECKING:
    from cacheinspect.dockerfile import Build

__all__ = [
    "SCHEMA",
    "CopyStep",
    "FingerprintDiff",
    "StepRoots",
    "compute_roots",
    "copy_steps",
    "diff_fingerprints",
    "dumps_json",
    "fingerprint",
    "fingerprint_tree",
    "load_fingerprint",
]

SCHEMA = "cacheinspect.context-fingerprint/v1"


def dumps_json(doc: object, indent: int = 2) -> str:
    """JSON text of a document that may hold file names that are not UTF-8.

    BuildKit sends names as bytes; the walker keeps undecodable bytes as ``surrogateescape``
    code points (``\\udcff``), which no UTF-8 encoder accepts. Such documents are written with
    ``\\uXXXX`` escapes (``ensure_ascii``), which ``json.loads`` (:func:`load_fingerprint`) turns back
    into the same names, so a fingerprint round-trips; all others keep their characters readable.
    """
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(doc, indent=indent, ensure_ascii=True)
    return text


class CopyStep(msgspec.Struct, frozen=True):
    """One COPY/ADD that reads the local build context (heredocs, URLs, git and --from excluded)."""

    stage: str
    line: int
    instruction: str
    sources: tuple[str, ...]
    parents: bool = False
    excludes: tuple[str, ...] = ()

    def selectors(self) -> list[Selector]:
        """The step's selectors as the FileOp computes them: one per source, deduplicated, sorted."""
        return dedupe_selectors(
            [Selector.from_source(s, parents=self.parents, excludes=self.excludes) for s in self.sources]
        )


def copy_steps(build: Build) -> tuple[list[CopyStep], list[str]]:
    """The context-reading COPY/ADD steps of the stages a build needs, in build order, and every
    context path the build names (COPY/ADD sources and ``RUN --mount`` sources without ``from``:
    ``dockerfile2llb`` ``ctxPaths``), which decides what the client sends."""
    steps: list[CopyStep] = []
    paths: list[str] = []
    for st in build.needed:
        label = st.name or f"stage-{st.index}"
        for ins in st.instrs:
            if ins.keyword in ("COPY", "ADD") and not ins.from_:
                srcs = tuple(s.path for s in ins.sources if not (s.is_heredoc or s.is_url or s.is_git))
                paths += srcs
                if srcs:
                    steps.append(
                        CopyStep(
                            stage=label,
                            line=ins.line,
                            instruction=ins.node.original.strip(),
                            sources=srcs,
                            parents=ins.parents,
                            excludes=tuple(ins.excludes),
                        )
                    )
            elif ins.keyword == "RUN":
                for m in ins.mounts:
                    if m.type != "cache" and not m.from_:
                        paths.append(m.source or "/")
    return steps, paths


class StepRoots(msgspec.Struct, frozen=True):
    """The computed checksums of one step; ``error`` is set (and ``root`` None) when unknown."""

    step: CopyStep
    selectors: tuple[Selector, ...]
    checksums: tuple[str, ...]
    root: str | None
    error: str | None = None
    error_path: str | None = None
    unknown: bool = False  # the checksum could not be known (unreadable input), not a build error


def compute_roots(
    tree: ContextTree,
    steps: Sequence[CopyStep],
    rules: RuleSet = DEFAULT_RULES,
    *,
    checksummer: Checksummer | None = None,
) -> list[StepRoots]:
    """Per step: selector checksums and root record digest over a client-view tree (pure).
    Pass a ``checksummer`` (same tree and rules) to share its directory-digest cache."""
    cs = checksummer if checksummer is not None else Checksummer(tree, rules)
    out: list[StepRoots] = []
    for step in steps:
        sels = tuple(step.selectors())
        try:
            sums = tuple(cs.checksum(s) for s in sels)
        except UnreadableEntryError as e:
            out.append(StepRoots(step, sels, (), None, str(e), e.path, unknown=True))
            continue
        except (SourceNotFoundError, TooManyLinksError) as e:
            out.append(StepRoots(step, sels, (), None, str(e), e.path))
            continue
        except PatternError as e:
            out.append(StepRoots(step, sels, (), None, str(e)))
            continue
        out.append(StepRoots(step, sels, sums, root_digest(sums)))
    return out


def _hex(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_MODES = [f"{m:04o}" for m in range(0o10000)]
_EMPTY_CONTENT = _hex(b"")


def _file_record(path: str, e: Entry, cs: Checksummer) -> dict[str, Any]:
    """One file's fingerprint record (runs once per sent path: kept lean on purpose)."""
    t = e.type
    if t is EntryType.UNREADABLE:
        return {"type": "unreadable", "error": e.error}
    regular = t is EntryType.FILE or t is EntryType.SOCKET
    xattrs: dict[str, str] = {}
    ignored: list[str] = []
    if e.xattrs:
        counted = counted_xattrs(e.xattrs)
        xattrs = {k: _hex(bytes(e.xattrs[k])) for k in counted}
        ignored = sorted(set(e.xattrs) - set(counted))
    content = None
    if regular:
        if e.content_sha256 is not None:
            content = "sha256:" + e.content_sha256
        elif e.size == 0 or t is EntryType.SOCKET:
            content = _EMPTY_CONTENT
    rec: dict[str, Any] = {
        "type": t.value,
        "mode": _MODES[e.mode & 0o7777],
        "size": e.size if regular else 0,
        "linkname": e.linkname if t is EntryType.SYMLINK else "",
        "xattrs": xattrs,
        "content": content,
        "digest": cs.header_digest(path) if t is EntryType.DIR else (e.digest or entry_digest(e, path)),
    }
    if ignored:
        rec["ignored_xattrs"] = ignored
    if t is EntryType.CHARDEV or t is EntryType.BLOCKDEV:
        rec["devmajor"], rec["devminor"] = e.devmajor, e.devminor
    if e.hardlink_of:
        rec["hardlink_of"] = e.hardlink_of
    return rec


def _selector_json(s: Selector) -> dict[str, Any]:
    return {
        "path": s.path,
        "wildcard": s.wildcard,
        "follow_links": s.follow_links,
        "include_patterns": list(s.include_patterns),
        "exclude_patterns": list(s.exclude_patterns),
    }


def fingerprint_tree(
    tree: ContextTree,
    steps: Sequence[CopyStep],
    *,
    rules: RuleSet = DEFAULT_RULES,
    lean: bool = False,
    excludes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The fingerprint document of a client-view tree whose files are hashed (pure)."""
    cs = Checksummer(tree, rules)
    roots = compute_roots(tree, steps, rules, checksummer=cs)
    files: dict[str, Any] = {}
    for p, e in tree.items():
        if p == "":
            continue
        if lean:
            files[p] = (
                None
                if e.type is EntryType.UNREADABLE
                else (cs.header_digest(p) if e.type is EntryType.DIR else entry_digest(e, p))
            )
        else:
            files[p] = _file_record(p, e, cs)
    from cacheinspect._version import __version__

    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": f"cacheinspect {__version__}",
        "buildkit_rules": rules.value,
        "lean": lean,
        "dockerignore": list(excludes),
        "steps": [
            {
                "stage": r.step.stage,
                "line": r.step.line,
                "instruction": r.step.instruction,
                "sources": list(r.step.sources),
                "selectors": [_selector_json(s) for s in r.selectors],
                "checksums": list(r.checksums),
                "root": r.root,
                **({"error": r.error} if r.error else {}),
                **({"error_path": r.error_path} if r.error_path else {}),
                **({"unknown": True} if r.unknown else {}),
            }
            for r in roots
        ],
        "files": files,
    }
    if extra:
        doc.update(extra)
    return doc


def fingerprint(
    context: str | os.PathLike[str] | ContextTree,
    steps: Sequence[CopyStep],
    *,
    context_paths: Iterable[str] | None = None,
    dockerfile: str | os.PathLike[str] | None = None,
    excludes: Sequence[str] | None = None,
    rules: RuleSet = DEFAULT_RULES,
    lean: bool = False,
    windows: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fingerprint a local context directory (or an already walked tree) for ``steps``.

    ``context_paths`` are all the context paths the build names (default: the steps' sources);
    ``excludes`` default to the ``.dockerignore`` buildx would read.
    """
    if isinstance(context, ContextTree):
        tree = context
        if excludes is None:
            excludes = []
    else:
        if excludes is None:
            excludes = read_dockerignore(context, dockerfile)
        tree = walk_context(context, progress=progress)
    paths = list(context_paths) if context_paths is not None else [s for st in steps for s in st.sources]
    view = client_view(tree, paths, excludes, windows=windows)
    hash_tree(view, progress=progress)
    return fingerprint_tree(view, steps, rules=rules, lean=lean, excludes=excludes)


def load_fingerprint(data: bytes, *, name: str = "fingerprint") -> dict[str, Any]:
    """Parse and check a fingerprint document (schema and shape); raises :class:`ContextError`."""
    import json

    from cacheinspect.render.escape import esc

    def no_constant(c: str) -> Any:
        raise ValueError(f"{c} is not a JSON number")

    def finite(text: str) -> float:
        v = float(text)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{text[:20]} is out of range")
        return v

    try:
        doc = json.loads(data, parse_constant=no_constant, parse_float=finite)
    except RecursionError:
        raise ContextError(f"{name}: malformed fingerprint (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, an integer of more than 4300 digits
        raise ContextError(f"{name}: not JSON ({esc(str(e)[:200])})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ContextError(f"{name}: not a {SCHEMA} document")
    if not isinstance(doc.get("files"), dict) or not isinstance(doc.get("steps"), list):
        raise ContextError(f"{name}: malformed fingerprint (files/steps missing)")
    problem = _shape_problem(doc)
    if problem:
        raise ContextError(f"{name}: malformed fingerprint ({esc(problem)})")
    return doc


#: A fingerprint is 5 levels deep (steps -> step -> selectors -> selector -> patterns); anything much
#: deeper is not one, and must not reach code that recurses.
_MAX_DEPTH = 16
_MAX_INT = 1 << 63


def _bad_string(s: str) -> bool:
    """A lone surrogate that is no ``surrogateescape`` byte (U+DC80..U+DCFF, a non-UTF-8 file name
    byte as the walker keeps it): no encoder can write it, and no walk produces it."""
    if s.isascii():
        return False
    for c in s:
        o = ord(c)
        if 0xD800 <= o <= 0xDFFF and not 0xDC80 <= o <= 0xDCFF:
            return True
    return False


def _shape_problem(doc: dict[str, Any]) -> str | None:
    """Why *doc* is not a fingerprint this tool wrote (types of every field the commands read), or None.

    Iterative (no recursion on hostile depth), one pass over the values."""
    stack: list[tuple[object, int, str]] = [(doc, 0, "")]
    while stack:
        v, depth, where = stack.pop()
        if depth > _MAX_DEPTH:
            return f"nested deeper than {_MAX_DEPTH} levels at {where[:80]}"
        if isinstance(v, str):
            if _bad_string(v):
                return f"invalid surrogate escape at {where[:80]}"
        elif isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int):
            if not -_MAX_INT < v < _MAX_INT:
                return f"number out of range at {where[:80]}"
        elif isinstance(v, dict):
            for k, x in v.items():
                if _bad_string(k):
                    return f"invalid surrogate escape in a key at {where[:80]}"
                stack.append((x, depth + 1, f"{where}.{k[:40]}"))
        elif isinstance(v, list):
            stack.extend((x, depth + 1, f"{where}[{i}]") for i, x in enumerate(v))
    for path, rec in doc["files"].items():
        if not path.startswith("/"):
            return f"file path {path[:80]!r} is not absolute"
        if rec is None or isinstance(rec, str):
            continue  # lean: the entry digest, or None when unreadable
        if not isinstance(rec, dict):
            return f"files[{path[:80]!r}] is not an object"
        for key, types in _RECORD_FIELDS.items():
            if key in rec and not isinstance(rec[key], types):
                return f"files[{path[:80]!r}].{key} has the wrong type"
        if isinstance(rec.get("size"), bool) or (isinstance(rec.get("size"), int) and rec["size"] < 0):
            return f"files[{path[:80]!r}].size is not a size"
        x = rec.get("xattrs")
        if isinstance(x, dict) and not all(isinstance(h, str | None) for h in x.values()):
            return f"files[{path[:80]!r}].xattrs has a value of the wrong type"
    for i, step in enumerate(doc["steps"]):
        if not isinstance(step, dict):
            return f"steps[{i}] is not an object"
        for key, types in _STEP_FIELDS.items():
            if not isinstance(step.get(key), types):
                return f"steps[{i}].{key} is missing or has the wrong type"
        if isinstance(step["line"], bool) or not 0 <= step["line"] < (1 << 31):
            return f"steps[{i}].line is not a line number"
        for key in ("sources", "checksums"):
            if not all(isinstance(x, str) for x in step[key]):
                return f"steps[{i}].{key} holds a value that is not a string"
        for j, sel in enumerate(step["selectors"]):
            if not isinstance(sel, dict) or not isinstance(sel.get("path"), str):
                return f"steps[{i}].selectors[{j}] is not a selector"
        if "error" in step and not isinstance(step["error"], str | None):
            return f"steps[{i}].error has the wrong type"
    for key, types in _TOP_FIELDS.items():
        if key in doc and not isinstance(doc[key], types):
            return f"{key} has the wrong type"
    return None


_RECORD_FIELDS: dict[str, Any] = {
    "type": str,
    "mode": str,
    "size": int,
    "linkname": str,
    "xattrs": dict,
    "content": str | None,
    "digest": str | None,
    "error": str | None,
    "ignored_xattrs": list,
}
_STEP_FIELDS: dict[str, Any] = {
    "stage": str,
    "line": int,
    "instruction": str,
    "sources": list,
    "selectors": list,
    "checksums": list,
    "root": str | None,
}
_TOP_FIELDS: dict[str, Any] = {"buildkit_rules": str, "lean": bool, "dockerignore": list, "tool": str}


FingerprintDiff = tuple[str, str, Any, Any]
_FIELDS = ("type", "mode", "size", "linkname", "content")


def diff_fingerprints(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[FingerprintDiff]:
    """Per path and field, what differs between two fingerprints: ``(path, field, a_value, b_value)``.

    ``field`` is ``exists`` (a file only on one side), one of ``type mode size linkname content``,
    ``xattr NAME`` (value hash, None when absent), or ``digest`` when the recorded fields agree but the
    entry digest does not (only possible with a lean side, or if BuildKit's rules changed).
    Paths are in BuildKit's order (bytes of the path).
    """
    fa: Mapping[str, Any] = a.get("files", {})
    fb: Mapping[str, Any] = b.get("files", {})
    out: list[FingerprintDiff] = []
    for p in sorted(
        set(fa) | set(fb), key=lambda s: s.encode("utf-8", "surrogateescape").replace(b"/", b"\0")
    ):
        if p not in fb:
            out.append((p, "exists", True, False))
            continue
        if p not in fa:
            out.append((p, "exists", False, True))
            continue
        ra, rb = fa[p], fb[p]
        da = ra.get("digest") if isinstance(ra, dict) else ra
        db = rb.get("digest") if isinstance(rb, dict) else rb
        found = False
        if isinstance(ra, dict) and isinstance(rb, dict):
            for f in _FIELDS:
                if ra.get(f) != rb.get(f):
                    if f == "content" and (ra.get(f) is None or rb.get(f) is None):
                        continue
                    out.append((p, f, ra.get(f), rb.get(f)))
                    found = True
            xa, xb = ra.get("xattrs") or {}, rb.get("xattrs") or {}
            for name in sorted(set(xa) | set(xb)):
                if xa.get(name) != xb.get(name):
                    out.append((p, f"xattr {name}", xa.get(name), xb.get(name)))
                    found = True
        if not found and da != db:
            out.append((p, "digest", da, db))
    return out
