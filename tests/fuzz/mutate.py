"""Structure-aware mutation of real caches (the fixtures, made by BuildKit) and synthetic ones.

A *seed* is a cache as the registry holds it: a root manifest digest and a blob store (digest -> bytes).
A *plan* (drawn by hypothesis, so failures shrink) is a list of operations, each naming a document of
the seed (the root index/manifest, a platform manifest, a cache config, an image config, the records
inside an inline cache) and what to do to it: JSON-tree operations chosen to hit the rules of Go's
``encoding/json`` and BuildKit's importer (key case and folding runes, duplicate keys, ``null``, int64
edges, RFC 3339 edge cases, base64 variants, links out of range, loops, empty inputs, ambiguous
manifests, several cache configs, declared sizes over the cap, deep nesting) or byte-level damage
(invalid UTF-8, truncation, escapes). After mutating, digests and sizes are re-linked bottom-up so the
change reaches the importer (unless the plan says to leave a descriptor stale).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIX = Path(__file__).resolve().parents[2] / "fixtures"
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"
INLINE_KEY = "moby.buildkit.cache.v0"


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as a list of [key, value] pairs (duplicates allowed)."""


def load(data: bytes) -> Any:
    return json.loads(data, object_pairs_hook=lambda pairs: Obj([list(p) for p in pairs]))


def dump(v: Any, *, ascii_only: bool = True, ws: bool = False) -> bytes:
    parts: list[str] = []
    sep = ": " if ws else ":"
    comma = ", " if ws else ","

    def w(x: Any) -> None:
        if isinstance(x, Obj):
            parts.append("{")
            for i, (k, val) in enumerate(x):
                if i:
                    parts.append(comma)
                parts.append(_str(k, ascii_only))
                parts.append(sep)
                w(val)
            parts.append("}")
        elif isinstance(x, list):
            parts.append("[")
            for i, val in enumerate(x):
                if i:
                    parts.append(comma)
                w(val)
            parts.append("]")
        elif isinstance(x, str):
            parts.append(_str(x, ascii_only))
        elif isinstance(x, float):
            parts.append(repr(x) if x == x and x not in (float("inf"), float("-inf")) else "0")
        else:
            parts.append(json.dumps(x))

    w(v)
    return "".join(parts).encode("utf-8", "surrogatepass")


def _str(s: str, ascii_only: bool) -> str:
    try:
        return json.dumps(s, ensure_ascii=ascii_only)
    except UnicodeEncodeError:
        return json.dumps(s)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Seed:
    name: str
    root: str
    store: dict[str, bytes]
    #: JSON documents in children-first order: (digest, kind) with kind manifest/config/image
    docs: list[tuple[str, str]] = field(default_factory=list)


def _walk_docs(root: str, store: dict[str, bytes]) -> list[tuple[str, str]]:
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(dg: str, kind: str) -> None:
        if dg in seen or dg not in store:
            return
        seen.add(dg)
        try:
            tree = json.loads(store[dg])
        except ValueError:
            return
        if isinstance(tree, dict):
            cfg = tree.get("config")
            if isinstance(cfg, dict) and "digest" in cfg:
                visit(cfg["digest"], "config" if cfg.get("mediaType") == MT_CACHE else "image")
            for d in tree.get("manifests") or []:
                if isinstance(d, dict):
                    if d.get("mediaType") == MT_CACHE:
                        visit(d["digest"], "config")
                    elif "manifest" in str(d.get("mediaType")) or "index" in str(d.get("mediaType")):
                        visit(d["digest"], "manifest")
        order.append((dg, kind))

    visit(root, "manifest")
    return order


def fixture_seeds() -> list[Seed]:
    out: list[Seed] = []
    for d in sorted(FIX.iterdir()):
        if not (d / "index.json").is_file():
            continue
        idx = json.loads((d / "index.json").read_text())
        root = idx["manifests"][0]["digest"]
        store = {"sha256:" + p.name: p.read_bytes() for p in (d / "blobs" / "sha256").iterdir()}
        out.append(Seed(d.name, root, store, _walk_docs(root, store)))
    return out


def synth_seed(n: int, seed: int) -> Seed:
    from tests.synth import encode_go, synth_config

    cfg = synth_config(n, seed=seed)
    cdata = encode_go(cfg)
    store: dict[str, bytes] = {}
    descs = []
    for lay in cfg["layers"]:
        blob = f"layer {lay['blob']}".encode()
        store[lay["blob"]] = blob  # stand-in content: only existence and size are read
        descs.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": lay["blob"], "size": 100}
        )
    cdig = sha(cdata)
    store[cdig] = cdata
    body = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [*descs, {"mediaType": MT_CACHE, "digest": cdig, "size": len(cdata)}],
    }
    mdata = json.dumps(body).encode()
    root = sha(mdata)
    store[root] = mdata
    return Seed(f"synth-{n}-{seed}", root, store, _walk_docs(root, store))


# ---- values used by the operations ----------------------------------------------------------------
INTS: list[Any] = [
    -1,
    -2,
    0,
    1,
    2,
    3,
    7,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    1.0,
    1e3,
    -0.0,
    "1",
    True,
    None,
]
TIMES = [
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05.123456789Z",
    "2026-01-02T03:04:05.1234567891234Z",
    "2026-01-02T03:04:05+05:30",
    "2026-01-02T03:04:05-00:00",
    "0001-01-01T00:00:00Z",
    "2026-1-02T03:04:05Z",
    "2026-01-02 03:04:05Z",
    "2026-01-02t03:04:05Z",
    "2026-01-02T03:04:05z",
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2026-01-02T24:00:00Z",
    "2026-01-02T03:04:60Z",
    "2026-01-02T03:04:05+24:00",
    "2026-01-02T03:04:05+05:60",
    "2026-01-02T03:04:05.Z",
    "2026-01-02T03:04:05,5Z",
    "2026-01-02T03:04:05",
    "2026-01-02T3:04:05Z",
    "",
    "yesterday",
    "2026-01-02T03:04:05+0530",
    "\u0662026-01-02T03:04:05Z",
    "10000-01-02T03:04:05Z",
    "2026-13-02T03:04:05Z",
    "2026-00-02T03:04:05Z",
]
STRS = [
    "",
    "\ud800",
    "sha256:" + "0" * 64,
    "sha256:zz",
    "x" * 300,
    "line\n\x1b[31mred",
    "\u00e9",
    "sha512:" + "a" * 128,
]
KEY_VARIANTS = ["upper", "title", "swapfirst", "long-s", "kelvin", "escape"]
DEPTHS = [3, 50, 400, 900, 1100, 4000, 12000]
B64_STYLES = [
    "std",
    "nopad",
    "excesspad",
    "newlines",
    "urlsafe",
    "empty",
    "null",
    "number",
    "space",
    "midpad",
]


def _sites(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in the tree, objects by pair index."""
    out: list[tuple[Any, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, Obj):
            for i, pair in enumerate(x):
                out.append((x, i))
                walk(pair[1])
        elif isinstance(x, list):
            for i, v in enumerate(x):
                out.append((x, i))
                walk(v)

    walk(tree)
    return out


def _get(c: Any, k: Any) -> Any:
    return c[k][1] if isinstance(c, Obj) else c[k]


def _set(c: Any, k: Any, v: Any) -> None:
    if isinstance(c, Obj):
        c[k][1] = v
    else:
        c[k] = v


def _key_variant(key: str, how: str) -> str:
    if how == "upper":
        return key.upper()
    if how == "title":
        return key[:1].upper() + key[1:]
    if how == "swapfirst":
        return key.swapcase()
    if how == "long-s" and "s" in key:
        return key.replace("s", "\u017f", 1)
    if how == "kelvin" and "k" in key:
        return key.replace("k", "\u212a", 1)
    return key


def _deep(d: int) -> Any:
    v: Any = 0
    for _ in range(d):
        v = [v]
    return v


def apply_tree_op(tree: Any, op: tuple[int, int, int, int], *, n_hint: int = 8) -> Any:
    """One JSON-tree operation; ``op`` = (kind, a, b, c) as drawn (positions taken modulo sizes)."""
    kind, a, b, c = op
    sites = _sites(tree)
    objs = [x for x in {id(s[0]): s[0] for s in sites if isinstance(s[0], Obj)}.values()]
    if isinstance(tree, Obj) and tree not in objs:
        objs.append(tree)
    k = kind % 16
    if k == 0 and objs:  # key case / folding
        o = objs[a % len(objs)]
        if o:
            pair = o[b % len(o)]
            how = KEY_VARIANTS[c % len(KEY_VARIANTS)]
            pair[0] = _key_variant(pair[0], how)
    elif k == 1 and objs:  # duplicate a key, the copy mutated
        o = objs[a % len(objs)]
        if o:
            pair = o[b % len(o)]
            val = pair[1]
            new: Any = (
                INTS[c % len(INTS)]
                if isinstance(val, int | float) or val is None
                else (
                    []
                    if isinstance(val, list) and c % 3 == 0
                    else (
                        val[: len(val) // 2]
                        if isinstance(val, list)
                        else (TIMES[c % len(TIMES)] if isinstance(val, str) else Obj())
                    )
                )
            )
            o.insert((b + c) % (len(o) + 1), [pair[0], new])
    elif k == 2 and objs:  # delete a key
        o = objs[a % len(objs)]
        if o:
            del o[b % len(o)]
    elif k == 3 and sites:  # null
        cont, key = sites[a % len(sites)]
        _set(cont, key, None)
    elif k == 4:  # an int edge
        ints = [s for s in sites if isinstance(_get(*s), int) and not isinstance(_get(*s), bool)]
        if ints:
            cont, key = ints[a % len(ints)]
            vals = [*INTS, n_hint, n_hint + 1, -n_hint]
            _set(cont, key, vals[b % len(vals)])
    elif k == 5:  # a time edge
        ts = [s for s in sites if isinstance(s[0], Obj) and s[0][s[1]][0].lower() in ("createdat", "created")]
        if ts:
            cont, key = ts[a % len(ts)]
            _set(cont, key, TIMES[b % len(TIMES)])
    elif k == 6:  # a string edge
        strs = [s for s in sites if isinstance(_get(*s), str)]
        if strs:
            cont, key = strs[a % len(strs)]
            _set(cont, key, STRS[b % len(STRS)])
    elif k in (7, 8):  # links: out of range, self, loops
        links = [s for s in sites if isinstance(s[0], Obj) and s[0][s[1]][0] in ("link", "layer", "parent")]
        if links:
            cont, key = links[a % len(links)]
            _set(cont, key, (b % (n_hint + 4)) - 2)
    elif k == 9:  # empty input / null input
        ins = [
            s
            for s in sites
            if isinstance(s[0], Obj) and s[0][s[1]][0] == "inputs" and isinstance(_get(*s), list)
        ]
        if ins:
            cont, key = ins[a % len(ins)]
            _get(cont, key).insert(b % (len(_get(cont, key)) + 1), [] if c % 2 else None)
    elif k == 10 and objs:  # deep nesting in an unknown (or known) key
        o = objs[a % len(objs)]
        o.append(["zz" if c % 2 else (o[0][0] if o else "x"), _deep(DEPTHS[b % len(DEPTHS)])])
    elif k == 11:  # drop or duplicate an array element
        arrs = [s for s in sites if isinstance(_get(*s), list) and not isinstance(_get(*s), Obj) and _get(*s)]
        if arrs:
            arr = _get(*arrs[a % len(arrs)])
            if c % 2:
                del arr[b % len(arr)]
            else:
                arr.insert(
                    b % len(arr),
                    json.loads(json.dumps(arr[(b + 1) % len(arr)]))
                    if not isinstance(arr[(b + 1) % len(arr)], Obj)
                    else arr[(b + 1) % len(arr)],
                )
    elif k == 12 and sites:  # change a value's type
        cont, key = sites[a % len(sites)]
        _set(cont, key, [Obj(), [], "s", 1, True, 1.5][b % 6])
    elif k == 13 and objs:  # shape: ambiguous manifests, mediaType lies, several configs
        o = objs[0] if isinstance(tree, Obj) else None
        if o is not None:
            choice = b % 6
            if choice == 0:
                o.append(["config", Obj([["mediaType", "x"]]) if c % 2 else None])
            elif choice == 1:
                o.append(["layers", None if c % 2 else []])
            elif choice == 2:
                o.append(["manifests", []])
            elif choice == 3:
                mts = [
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "text/plain",
                    None,
                    7,
                ]
                o.append(["mediaType", mts[c % len(mts)]])
            elif choice == 4:  # a second cache config descriptor (a stale copy or garbage)
                for p in o:
                    if p[0] == "manifests" and isinstance(p[1], list):
                        cfgs = [d for d in p[1] if isinstance(d, Obj) and ["mediaType", MT_CACHE] in d]
                        if cfgs:
                            dup = Obj([list(x) for x in cfgs[0]])
                            if c % 2:
                                for x in dup:
                                    if x[0] == "digest":
                                        x[1] = "sha256:" + "1" * 64
                            p[1].insert(c % (len(p[1]) + 1), dup)
            else:  # descriptor "data" with odd base64
                descs = [
                    s for s in sites if isinstance(_get(*s), Obj) and any(x[0] == "digest" for x in _get(*s))
                ]
                if descs:
                    _get(*descs[a % len(descs)]).append(
                        ["data", ["YWJj", "YWJ", "YW==", "YWJj=", "Y W J j", "!!!!"][c % 6]]
                    )
    elif k == 14:  # declared sizes
        sizes = [s for s in sites if isinstance(s[0], Obj) and s[0][s[1]][0] == "size"]
        if sizes:
            cont, key = sizes[a % len(sizes)]
            v = _get(cont, key)
            vals = [(1 << 20) + 1, 2**63, -1, (v + 1) if isinstance(v, int) else 1, 0, 10**30]
            _set(cont, key, vals[b % len(vals)])
    elif k == 15 and objs:  # an unknown key, or a key repeated with the same value
        o = objs[a % len(objs)]
        if o and c % 2:
            o.append(list(o[b % len(o)]))
        else:
            o.append([f"unknown{b % 3}", Obj([["k", "v"]])])
    return tree


def apply_byte_op(data: bytes, op: tuple[int, int, int]) -> bytes:
    kind, a, b = op
    k = kind % 6
    if not data:
        return data
    if k == 0:  # invalid UTF-8 inside a string
        qs = [i for i, ch in enumerate(data) if ch == 0x22]
        if len(qs) >= 2:
            i = qs[a % len(qs)] + 1
            bad = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"][b % 5]
            return data[:i] + bad + data[i:]
    elif k == 1:  # truncate
        return data[: a % len(data)]
    elif k == 2:  # flip one byte
        i = a % len(data)
        return data[:i] + bytes([b % 256]) + data[i + 1 :]
    elif k == 3:  # escape a character of a key
        for key in (b'"layers"', b'"records"', b'"digest"', b'"manifests"', b'"mediaType"', b'"link"'):
            if key in data and a % 2:
                return data.replace(key, key[:2] + b"\\u%04x" % key[2] + key[3:], 1)
    elif k == 4:  # whitespace and a BOM
        return (b"\xef\xbb\xbf" if b % 7 == 0 else b" \n\t") + data + b"\n"
    elif k == 5:  # trailing garbage
        return data + [b"x", b"{}", b"\x00", b" "][b % 4]
    return data


def b64(raw: bytes, style: str) -> Any:
    s = base64.b64encode(raw).decode()
    if style == "nopad":
        return s.rstrip("=")
    if style == "excesspad":
        return s + "=="
    if style == "newlines":
        return "\n".join(s[i : i + 60] for i in range(0, len(s), 60))
    if style == "urlsafe":
        return base64.urlsafe_b64encode(raw).decode()
    if style == "empty":
        return ""
    if style == "null":
        return None
    if style == "number":
        return 5
    if style == "space":
        return s[:4] + " " + s[4:]
    if style == "midpad":
        return s[:4] + "=" + s[5:] if len(s) > 8 else s
    return s
