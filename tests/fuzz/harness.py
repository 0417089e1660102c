"""Run one fuzz case through every entry point and judge it (library, in-process CLI, subprocess CLI).

The property, per case: every call returns a result or raises a :class:`CacheInspectError` (never
another exception, never exit 70, never a traceback), within 10 s; and ``audit`` never passes a cache
the oracle (:mod:`tests.fuzz.oracle`, BuildKit's importer modelled from its Go sources) rejects. Audit
failing a cache the oracle accepts is counted too (``false_fail``) and must stay at zero as well,
except for the stated differences of docs/importer-parity.md (``KNOWN``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cacheinspect.errors import CacheInspectError, DigestMismatchError, NotFoundError, SizeLimitError
from cacheinspect.sources.base import DEFAULT_MAX_BYTES, Fetched
from tests.fuzz import oracle
from tests.fuzz.mutate import (
    B64_STYLES,
    INLINE_KEY,
    Obj,
    Seed,
    apply_byte_op,
    apply_tree_op,
    b64,
    dump,
    load,
    sha,
)

HANG_SECONDS = 10
CASE_SECONDS = 120
NOW = datetime(2026, 12, 1, tzinfo=UTC)


class Hang(BaseException):
    """Raised by the per-call alarm. A BaseException, so the CLI's last-resort handler (which catches
    Exception) lets it through and it is counted as a hang, not as a crash."""


@dataclass
class Plan:
    seed: int
    #: (document index, kind, a, b, c): a tree operation on that document
    tree_ops: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    #: (document index, kind, a, b): byte damage after serialisation
    byte_ops: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: (image config document index, style): how the inline cache is re-encoded
    b64_style: int = 0
    #: documents whose parents are not re-linked (stale digest/size in the descriptor)
    stale: tuple[int, ...] = ()
    ascii_only: bool = True
    ws: bool = False


class MemSource:
    """A registry as a dict: serves and verifies exactly like a registry source."""

    kind = "registry"
    display = "mem://fuzz/cache:latest"

    def __init__(self, root: str, store: dict[str, bytes]) -> None:
        self.root, self.store = root, store

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        dg = self.root if reference is None else reference
        data = self.store.get(dg)
        if data is None:
            raise NotFoundError(f"manifest {dg} not found")
        if reference is not None and sha(data) != dg:
            raise DigestMismatchError(f"manifest {dg} digest mismatch")
        try:
            mt = json.loads(data).get("mediaType") or ""
        except Exception:
            mt = ""
        # a registry answers with its Content-Type header, which cannot hold a lone surrogate
        mt = mt.encode("utf-8", "replace").decode() if isinstance(mt, str) else ""
        return Fetched(data=data, media_type=mt, digest=sha(data))

    async def fetch_blob(self, digest: str, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> bytes:
        data = self.store.get(digest)
        if data is None:
            raise NotFoundError(f"blob {digest} not found")
        if max_bytes is not None and len(data) > max_bytes:
            raise SizeLimitError("too large")
        if sha(data) != digest:
            raise DigestMismatchError(f"blob {digest} digest mismatch")
        return data

    async def blobs_exist(self, digests: Iterable[str], *, progress: Any = None) -> dict[str, bool]:
        return {d: d in self.store for d in digests}

    async def aclose(self) -> None:
        return None


def materialise(seed: Seed, plan: Plan) -> tuple[str, dict[str, bytes]]:
    """Apply *plan* to *seed*: mutate documents, re-link digests children first, return (root, store)."""
    store = dict(seed.store)
    docs = seed.docs
    trees: dict[int, Any] = {}
    touched: set[int] = set()
    for di, kind, a, b, c in plan.tree_ops:
        i = di % (len(docs) + 1)
        if i == len(docs):  # the inline cache inside an image config, when there is one
            imgs = [j for j, (_, k) in enumerate(docs) if k == "image"]
            if not imgs:
                continue
            j = imgs[a % len(imgs)]
            tree = trees.setdefault(j, load(store[docs[j][0]]))
            for pair in tree if isinstance(tree, Obj) else []:
                if pair[0] == INLINE_KEY and isinstance(pair[1], str):
                    try:
                        import base64

                        recs = load(base64.b64decode(pair[1]))
                    except Exception:
                        continue
                    recs = apply_tree_op(recs, (kind, b, c, a))
                    pair[1] = b64(dump(recs), B64_STYLES[plan.b64_style % len(B64_STYLES)])
            touched.add(j)
            continue
        tree = trees.setdefault(i, load(store[docs[i][0]]))
        trees[i] = apply_tree_op(tree, (kind, a, b, c))
        touched.add(i)
    if plan.b64_style and not any(di % (len(docs) + 1) == len(docs) for di, *_ in plan.tree_ops):
        for j, (dg, k) in enumerate(docs):
            if k == "image":
                tree = trees.setdefault(j, load(store[dg]))
                for pair in tree if isinstance(tree, Obj) else []:
                    if pair[0] == INLINE_KEY and isinstance(pair[1], str):
                        import base64
                        import binascii

                        try:
                            raw = base64.b64decode(pair[1])
                        except (binascii.Error, ValueError):
                            continue  # an earlier operation already replaced the value
                        pair[1] = b64(raw, B64_STYLES[plan.b64_style % len(B64_STYLES)])
                touched.add(j)
    damaged: dict[int, list[tuple[int, int, int]]] = {}
    for di, kind, a, b in plan.byte_ops:
        damaged.setdefault(di % len(docs), []).append((kind, a, b))
        touched.add(di % len(docs))
    renames: dict[str, tuple[str, int, int]] = {}  # old digest -> (new digest, old size, new size)
    for i, (dg, _) in enumerate(docs):  # children first: parents see their children's new digests
        if i not in touched and not any(old in store[dg].decode("latin-1") for old in renames):
            continue
        tree = trees.get(i)
        if tree is None:
            tree = load(store[dg])
        _relink(tree, renames)
        data = dump(tree, ascii_only=plan.ascii_only, ws=plan.ws)
        for op in damaged.get(i, []):
            data = apply_byte_op(data, op)
        new = sha(data)
        store[new] = data
        if i not in plan.stale and new != dg:
            renames[dg] = (new, len(store[dg]), len(data))
    root = renames.get(seed.root, (seed.root, 0, 0))[0]
    return root, store


def _relink(tree: Any, renames: dict[str, tuple[str, int, int]]) -> None:
    if not renames:
        return
    if isinstance(tree, Obj):
        dg = next((p[1] for p in tree if p[0] == "digest" and isinstance(p[1], str)), None)
        if dg in renames:
            new, old_size, new_size = renames[dg]
            for p in tree:
                if p[0] == "digest" and p[1] == dg:
                    p[1] = new
                elif p[0] == "size" and p[1] == old_size:
                    p[1] = new_size
        for p in tree:
            _relink(p[1], renames)
    elif isinstance(tree, list):
        for v in tree:
            _relink(v, renames)


@dataclass
class Stats:
    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    false_pass: list[str] = field(default_factory=list)
    false_fail: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)

    def line(self, seconds: float) -> str:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return (
            f"fuzz: {self.cases} cases, {sum(self.calls.values())} entry-point calls, "
            f"{len(self.crashes)} crashes, {len(self.hangs)} hangs over {HANG_SECONDS} s, "
            f"{len(self.false_pass)} audit passes the importer rejects, {len(self.false_fail)} audit "
            f"failures the importer accepts, peak RSS {rss:.0f} MiB (subprocesses {child:.0f} MiB), "
            f"{seconds:.0f} s"
        )


@contextlib.contextmanager
def deadline(seconds: int) -> Any:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang()

    import time

    old = signal.signal(signal.SIGALRM, on_alarm)
    outer = signal.alarm(seconds)  # nested: an enclosing deadline is put back, minus the time spent
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.alarm(max(1, outer - int(time.monotonic() - t0)))


def _call(stats: Stats, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
    """Call one entry point: CacheInspectError is a fine answer; anything else is a crash."""
    stats.calls[name] += 1
    try:
        with deadline(HANG_SECONDS):
            return fn(*args, **kw)
    except CacheInspectError:
        return None
    except Hang:
        stats.hangs.append(f"{name}: over {HANG_SECONDS} s")
        return None
    except Exception as e:  # the property under test
        stats.crashes.append(f"{name}: {type(e).__name__}: {e}"[:500])
        return None


_OTHER: Any = None


def _other_graph() -> Any:
    global _OTHER
    if _OTHER is None:
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_cache
        from cacheinspect.sources.layout import LayoutSource
        from tests.fuzz.mutate import FIX

        _OTHER = build_graph(_run(load_cache(LayoutSource(FIX / "threestage-max"))))
    return _OTHER


_LOOP: asyncio.AbstractEventLoop | None = None


def _run(coro: Any) -> Any:
    """One event loop for the whole run: ``asyncio.run`` per call was a third of the time per case."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(coro)


def library_case(
    stats: Stats, root: str, store: dict[str, bytes], tag: str, *, render: bool = True
) -> bool | None:
    """Every library entry point on the case; returns whether audit passed (None: could not tell)."""
    from cacheinspect.cache.audit import AuditPolicy, audit_source
    from cacheinspect.cache.config import decode_config
    from cacheinspect.cache.diff import diff_report
    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import load_cache
    from cacheinspect.cache.report import inspect_report
    from cacheinspect.oci import Manifest, decode, detect_manifest_type
    from cacheinspect.render.graph import render_graph
    from cacheinspect.render.text import render_audit, render_diff, render_inspect

    data = store.get(root, b"")
    _call(stats, "oci.decode", decode, data, Manifest, what="m")
    _call(stats, "detect_manifest_type", detect_manifest_type, data)
    for blob in store.values():
        if blob[:1] == b"{" and b'"records"' in blob[:4096]:
            _call(stats, "decode_config", decode_config, blob)
    src = MemSource(root, store)
    cache = _call(stats, "load_cache", lambda: _run(load_cache(src)))
    if cache is not None and render:
        g = _call(stats, "build_graph", build_graph, cache)
        if g is not None:
            rep = _call(stats, "inspect_report", inspect_report, g)
            if rep is not None:
                for fmt in ("table", "json", "markdown"):
                    _call(stats, f"render_inspect:{fmt}", render_inspect, rep, fmt)
            for gf in ("dot", "mermaid"):
                _call(stats, f"render_graph:{gf}", render_graph, g, gf)
            d = _call(stats, "diff_report", diff_report, _other_graph(), g)
            if d is not None:
                _call(stats, "render_diff", render_diff, d, "table")
            _call(stats, "diff_report:rev", diff_report, g, _other_graph())
    res = _call(
        stats, "audit_source", lambda: _run(audit_source(src, AuditPolicy(), now=NOW, name="mem://fuzz"))
    )
    if res is None:
        return None
    doc = {"schema": "cacheinspect.audit/v1", "ok": res.ok, "results": [res.to_json()]}
    for fmt in ("table", "json", "markdown", "github") if render else ("json",):
        _call(stats, f"render_audit:{fmt}", render_audit, doc, fmt)
    return bool(res.ok and res.exit_code is None)


def judge(
    stats: Stats, root: str, store: dict[str, bytes], passed: bool | None, tag: str, *, both: bool = True
) -> None:
    """Compare with the oracle: always when audit passed (the property); when it failed, if *both*."""
    if not passed and not both:
        return
    verdict, why = oracle.registry_verdict(store.get(root, b""), store)
    stats.verdicts[verdict] += 1
    if passed is None:
        return
    if verdict == "reject" and passed:
        stats.false_pass.append(f"{tag}: importer rejects ({why}) but audit passes")
    elif verdict == "use" and not passed:
        stats.false_fail.append(f"{tag}: importer uses it but audit fails")


def write_layout(root: str, store: dict[str, bytes], path: Path) -> None:
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for dg, data in store.items():
        alg, _, hexpart = dg.partition(":")
        if alg == "sha256" and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart):
            (blobs / hexpart).write_bytes(data)
    idx = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": root,
                "size": len(store.get(root, b"")),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(idx))


def cli_in_process(stats: Stats, args: list[str], tag: str) -> int:
    from cacheinspect.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    stats.calls["cli:" + args[0]] += 1
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(HANG_SECONDS):
        try:
            main(args)
        except SystemExit as e:
            code = int(e.code or 0)
        except Hang:
            raise
        except BaseException as e:  # main must never let anything else out
            stats.crashes.append(f"{tag}: cli {args[:2]} raised {type(e).__name__}: {e}"[:500])
            return -1
    if code == 70 or "Traceback" in err.getvalue() or code not in (0, 1, 2, 3, 4, 5, 6):
        stats.crashes.append(f"{tag}: cli {args[:2]} exit {code}: {err.getvalue()[-300:]}")
    return code


def cli_case(stats: Stats, root: str, store: dict[str, bytes], tag: str, k: int) -> None:
    from tests.fuzz.mutate import FIX

    with tempfile.TemporaryDirectory(prefix="cifuzz-") as tmp:
        lay = Path(tmp) / "l"
        write_layout(root, store, lay)
        fmt = ["table", "json", "markdown", "github"][k % 4]
        code = cli_in_process(stats, ["audit", str(lay), "-f", fmt, "-q"], tag)
        verdict, why = oracle.registry_verdict(store.get(root, b""), store)
        # a layout reads the file as it is: a stale descriptor size is the registry's problem only
        if verdict == "reject" and code == 0 and "size differs" not in why:
            stats.false_pass.append(f"{tag}: cli audit exit 0 but importer rejects ({why})")
        ifmt = ["table", "json", "markdown"][k % 3]
        cli_in_process(stats, ["inspect", str(lay), "-f", ifmt, "--check-blobs", "-q"], tag)
        cli_in_process(stats, ["diff", str(FIX / "threestage-max"), str(lay), "-f", ifmt], tag)
        cfgs = [d for d, b in store.items() if b[:1] == b"{" and b'"records"' in b.lower()][:1]
        if cfgs:
            f = Path(tmp) / "cfg.json"
            f.write_bytes(store[cfgs[0]])
            cli_in_process(stats, ["inspect", str(f), "-f", ifmt], tag)
            cli_in_process(stats, ["audit", str(f), "-f", "json", "-q"], tag)


def subprocess_case(stats: Stats, root: str, store: dict[str, bytes], tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cifuzz-") as tmp:
        lay = Path(tmp) / "l"
        write_layout(root, store, lay)
        stats.calls["subprocess"] += 1
        try:
            p = subprocess.run(
                [sys.executable, "-m", "cacheinspect", "audit", str(lay), "-f", "json", "-q"],
                capture_output=True,
                text=True,
                timeout=HANG_SECONDS * 3,
            )
        except subprocess.TimeoutExpired:
            stats.hangs.append(f"{tag}: subprocess audit")
            return
        if p.returncode == 70 or "Traceback" in p.stderr:
            stats.crashes.append(f"{tag}: subprocess exit {p.returncode}: {p.stderr[-300:]}")


#: Layout faults: what a hostile or broken directory holds instead of a blob or index.json.
FS_FAULTS = [
    "fifo-blob",
    "fifo-index",
    "devzero-blob",
    "devurandom-blob",
    "dir-blob",
    "symlink-loop",
    "blobs-is-file",
    "link-outside",
    "dangling-link",
    "unreadable-blob",
    "empty-index",
    "index-is-dir",
]


def fs_case(stats: Stats, fixture: Path, fault: str, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cifuzz-") as tmp:
        lay = Path(tmp) / "l"
        shutil.copytree(fixture, lay)
        apply_fs_fault(lay, fault, Path(tmp))
        for args in (["audit", str(lay), "-f", "json", "-q"], ["inspect", str(lay), "--check-blobs", "-q"]):
            code = cli_in_process(stats, args, tag + ":" + fault)
            # every fault but one (root reads what chmod 000 forbids) damages what the importer reads
            if code == 0 and fault != "unreadable-blob" and args[0] == "audit":
                stats.false_pass.append(f"{tag}: audit passes a layout with {fault}")


def apply_fs_fault(lay: Path, fault: str, tmp: Path) -> None:
    blobs = lay / "blobs" / "sha256"
    idx = json.loads((lay / "index.json").read_text())
    root_hex = idx["manifests"][0]["digest"].split(":")[1]
    victim = blobs / root_hex
    if fault == "fifo-blob":
        victim.unlink()
        os.mkfifo(victim)
    elif fault == "fifo-index":
        (lay / "index.json").unlink()
        os.mkfifo(lay / "index.json")
    elif fault == "devzero-blob":
        victim.unlink()
        victim.symlink_to("/dev/zero")
    elif fault == "devurandom-blob":
        victim.unlink()
        victim.symlink_to("/dev/urandom")
    elif fault == "dir-blob":
        victim.unlink()
        victim.mkdir()
    elif fault == "symlink-loop":
        victim.unlink()
        victim.symlink_to(victim.name)
    elif fault == "blobs-is-file":
        shutil.rmtree(lay / "blobs")
        (lay / "blobs").write_text("x")
    elif fault == "link-outside":
        outside = tmp / "outside"
        outside.write_bytes(victim.read_bytes())
        victim.unlink()
        victim.symlink_to(outside)
    elif fault == "dangling-link":
        victim.unlink()
        victim.symlink_to(tmp / "nowhere")
    elif fault == "unreadable-blob":
        victim.chmod(0)
    elif fault == "empty-index":
        (lay / "index.json").write_text("")
    elif fault == "index-is-dir":
        (lay / "index.json").unlink()
        (lay / "index.json").mkdir()


def run_case(
    stats: Stats,
    seeds: list[Seed],
    plan: Plan,
    *,
    k: int,
    cli_every: int,
    sub_every: int,
    render_every: int = 8,
) -> None:
    """One generated case through the library (always), the in-process CLI (every *cli_every*), a
    subprocess (every *sub_every*) and a layout filesystem fault (every *cli_every*, offset)."""
    seed = seeds[plan.seed % len(seeds)]
    tag = f"case {k} seed {seed.name} plan {plan!r}"[:600]
    stats.cases += 1
    try:
        with deadline(CASE_SECONDS):  # the harness's own bound; each entry point has HANG_SECONDS
            try:
                root, store = materialise(seed, plan)
            except (ValueError, TypeError, KeyError, IndexError):  # the mutator's own limits, not the tool's
                stats.calls["harness-skip"] += 1
                return
            passed = library_case(stats, root, store, tag, render=k % render_every == 0)
            judge(stats, root, store, passed, tag, both=k % 3 == 0)
            if cli_every and k % cli_every == 0:
                cli_case(stats, root, store, tag, k)
            if cli_every and k % cli_every == cli_every // 2:
                from tests.fuzz.mutate import FIX

                fx = ["variant-gzip", "threestage-inline", "variant-image-manifest", "v08-inline"][k % 4]
                fs_case(stats, FIX / fx, FS_FAULTS[(k // cli_every) % len(FS_FAULTS)], tag)
        if sub_every and k % sub_every == 0:
            subprocess_case(stats, root, store, tag)
    except Hang:
        stats.hangs.append("case: " + tag)
    except RecursionError as e:  # the harness's own tree walks on very deep seeds: not the tool's fault
        stats.calls["harness-recursion"] += 1
        del e
