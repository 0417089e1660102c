"""The fuzz oracle: what BuildKit's importer does with a cache, modelled from its Go sources (not from ours).

Written independently of :mod:`cacheinspect.gojson` / :mod:`cacheinspect.cache` on purpose: Go values are
modelled as Go holds them (every struct field present with its zero value), decoding follows
``encoding/json``'s ``decode.go`` (exact key first, then case-folded; a repeated key decodes again into
the same value; ``null`` leaves scalars and structs alone and nils slices, maps and pointers), and the
importer is a line-by-line model of BuildKit v0.13's ``cache/remotecache/import.go``, ``v1/parse.go`` and
``util/imageutil.DetectManifestBlobMediaType`` plus v0.25's ``invalid empty input`` (the contract is the
strictest of v0.13..v0.29: the gate passes what every one of them uses).

:func:`registry_verdict` answers ``("use", "")`` or ``("reject", why)`` for a manifest and a blob store.
A layer blob the manifest lists but the store lacks counts as ``reject``: BuildKit fails mid-build.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

CAP = 1 << 20
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"
MT_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DMAN = "application/vnd.docker.distribution.manifest.v2+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MAN = "application/vnd.oci.image.manifest.v1+json"


class Reject(Exception):
    pass


class _Pairs(list):  # type: ignore[type-arg]
    pass


def parse_json(data: bytes) -> Any:
    text = data.decode("utf-8", "replace")

    def const(name: str) -> Any:
        raise Reject(f"{name} is not JSON")

    try:
        return json.loads(text, object_pairs_hook=_Pairs, parse_constant=const)
    except RecursionError:
        raise Reject("too deep (stated difference: Go allows 10000 levels)") from None
    except ValueError as e:
        raise Reject(f"syntax: {e}") from None


# --- Go types -----------------------------------------------------------------------------------
# ("int",) ("string",) ("bool",) ("time",) ("bytes",) ("raw",) ("slice", T) ("map", T) ("ptr", S)
# ("struct", {json name: T})

INT, STRING, BOOL, TIME, BYTES, RAW = ("int",), ("string",), ("bool",), ("time",), ("bytes",), ("raw",)


def S(**fields: Any) -> tuple[str, dict[str, Any]]:
    return ("struct", {k.replace("__", "."): v for k, v in fields.items()})


def zero(t: Any) -> Any:
    k = t[0]
    if k == "int":
        return 0
    if k in ("string", "time"):
        return ""  # "" stands for time.Time{} here
    if k == "bool":
        return False
    if k == "struct":
        return {name: zero(ft) for name, ft in t[1].items()}
    return None  # slice, map, ptr, bytes, raw: nil


def _gofold(s: str) -> str:
    out = []
    for c in s:
        if c.isascii():
            out.append(c.upper())
        else:
            lo = c.lower()
            up = lo.upper() if len(lo) == 1 else c
            out.append(up if len(up) == 1 else c)
    return "".join(out)


def _go_time(s: str) -> bool:
    """time.parseRFC3339 (Go 1.20+), char by char."""
    if len(s) < 20:
        return False

    def num(a: int, b: int, lo: int, hi: int) -> int | None:
        part = s[a:b]
        if not part.isascii() or not part.isdigit():
            return None
        v = int(part)
        return v if lo <= v <= hi else None

    if not (s[4] == "-" and s[7] == "-" and s[10] == "T" and s[13] == ":" and s[16] == ":"):
        return False
    y, mo = num(0, 4, 0, 9999), num(5, 7, 1, 12)
    if y is None or mo is None:
        return False
    mdays = [
        31,
        29 if (y % 4 == 0 and (y % 100 or y % 400 == 0)) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
    if None in (num(8, 10, 1, mdays[mo - 1]), num(11, 13, 0, 23), num(14, 16, 0, 59), num(17, 19, 0, 59)):
        return False
    rest = s[19:]
    if len(rest) >= 2 and rest[0] == "." and rest[1].isascii() and rest[1].isdigit():
        n = 2
        while n < len(rest) and rest[n].isascii() and rest[n].isdigit():
            n += 1
        rest = rest[n:]
    if rest == "Z":
        return True
    if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
        return False
    h, m = rest[1:3], rest[4:6]
    return h.isascii() and h.isdigit() and m.isascii() and m.isdigit() and int(h) < 24 and int(m) < 60


def _go_b64(s: str) -> bytes:
    s = s.replace("\r", "").replace("\n", "")
    if len(s) % 4:
        raise Reject("base64: length")
    body = s.rstrip("=")
    pad = len(s) - len(body)
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    if pad > 2 or any(c not in alphabet for c in body) or (pad and len(body) % 4 == 1):
        raise Reject("base64: illegal data")
    try:
        return base64.b64decode(s)
    except ValueError:
        raise Reject("base64: illegal data") from None


def _fixstr(s: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


_FOLDED: dict[int, dict[str, str]] = {}


def decode(t: Any, v: Any, cur: Any, raw_times: dict[int, bool]) -> Any:  # raw_times: unused, kept {}
    """Go's ``d.value`` into a value of type *t* currently holding *cur*."""
    k = t[0]
    if v is None:
        if k in ("slice", "map", "ptr", "bytes", "raw"):
            return None
        return cur
    if k == "raw":
        return v
    if k == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise Reject("int: wrong type")
        if not -(2**63) <= v < 2**63:
            raise Reject("int: overflow")
        return v
    if k == "bool":
        if not isinstance(v, bool):
            raise Reject("bool: wrong type")
        return v
    if k in ("string", "time", "bytes"):
        if not isinstance(v, str):
            raise Reject(f"{k}: wrong type")
        if k == "time":
            if raw_times.get(id(v)) is False or not _go_time(v):
                raise Reject(f"time: {v!r}")
            return v
        if k == "bytes":
            return _go_b64(v)
        return _fixstr(v)
    if k == "slice":
        if not isinstance(v, list) or isinstance(v, _Pairs):
            raise Reject("slice: wrong type")
        old = cur or []
        return [decode(t[1], e, old[i] if i < len(old) else zero(t[1]), raw_times) for i, e in enumerate(v)]
    if k == "map":
        if not isinstance(v, _Pairs):
            raise Reject("map: wrong type")
        out = dict(cur or {})
        for key, e in v:
            out[_fixstr(key)] = decode(t[1], e, zero(t[1]), raw_times)
        return out
    if k == "ptr":
        return decode(t[1], v, cur if cur is not None else zero(t[1]), raw_times)
    # struct
    if not isinstance(v, _Pairs):
        raise Reject("struct: wrong type")
    fields = t[1]
    folded = _FOLDED.get(id(fields))
    if folded is None:
        folded = _FOLDED[id(fields)] = {_gofold(f): f for f in reversed(list(fields))}
    out = dict(cur)
    for key, e in v:
        name = key if key in fields else folded.get(_gofold(key))
        if name is not None:
            out[name] = decode(fields[name], e, out[name], raw_times)
    return out


DESC = S(
    mediaType=STRING,
    digest=STRING,
    size=INT,
    urls=("slice", STRING),
    annotations=("map", STRING),
    data=BYTES,
    platform=("ptr", S(architecture=STRING, os=STRING, os__version=STRING, variant=STRING)),
    artifactType=STRING,
)
INDEX = S(schemaVersion=INT, mediaType=STRING, manifests=("slice", DESC), annotations=("map", STRING))
MANIFEST = S(
    schemaVersion=INT, mediaType=STRING, config=DESC, layers=("slice", DESC), annotations=("map", STRING)
)
RESULT = S(layer=INT, createdAt=TIME)
CHAIN = S(layers=("slice", INT), createdAt=TIME)
INPUT = S(selector=STRING, link=INT)
RECORD = S(
    layers=("slice", RESULT), chains=("slice", CHAIN), digest=STRING, inputs=("slice", ("slice", INPUT))
)
LAYER = S(
    blob=STRING, parent=INT, annotations=("ptr", S(mediaType=STRING, diffID=STRING, size=INT, createdAt=TIME))
)
CONFIG = S(layers=("slice", LAYER), records=("slice", RECORD))
IMAGE = S(
    rootfs=S(diff_ids=("slice", STRING)),
    **{"moby.buildkit.cache.v0": BYTES},
    history=("slice", S(created=("ptr", ("time",)), created_by=STRING, empty_layer=BOOL)),
)


def unmarshal(data: bytes, t: Any) -> Any:
    tree = parse_json(_poison_escaped_times(data))
    try:
        return decode(t, tree, zero(t), {})
    except RecursionError:
        raise Reject("too deep") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_COLON = re.compile(rb"\s*:\s*")


def _poison_escaped_times(data: bytes) -> bytes:
    """Go's time.Time reads the raw bytes between the quotes, so a time literal holding any escape
    fails. The parsed tree has lost escapes: such values of a ``createdAt``/``created`` key (in any
    case) are replaced here by a literal no time parser accepts. String literals are the only place
    quotes occur, so scanning them left to right pairs each key with its value exactly."""
    if b"\\" not in data:
        return data
    out: list[bytes] = []
    pos = 0
    lits = list(_STRING.finditer(data))
    for i, m in enumerate(lits[:-1]):
        colon = _COLON.match(data, m.end())
        nxt = lits[i + 1]
        if colon is None or colon.end() != nxt.start() or b"\\" not in nxt.group():
            continue
        try:
            key = json.loads(m.group().decode("utf-8", "replace"))
        except ValueError:
            continue
        if _gofold(key) in ("CREATEDAT", "CREATED"):
            out.append(data[pos : nxt.start()])
            out.append(b'"escaped: not a time"')
            pos = nxt.end()
    out.append(data[pos:])
    return b"".join(out)


# --- the importer -----------------------------------------------------------------------------------
def detect(data: bytes) -> str:
    tree = parse_json(data)
    if not isinstance(tree, _Pairs):
        raise Reject("detect: not an object")
    present = {"CONFIG": False, "MANIFESTS": False, "LAYERS": False}
    media: str | None = None
    for key, v in tree:
        f = _gofold(key)
        if f in present:
            present[f] = True
        elif f == "MEDIATYPE":
            if v is not None and not isinstance(v, str):
                raise Reject("detect: mediaType type")
            media = v
    mt = MT_LIST
    if present["CONFIG"] or present["LAYERS"]:
        mt = MT_DMAN
        if present["MANIFESTS"]:
            raise Reject("invalid ambiguous manifest and manifest list")
    if media in (MT_LIST, MT_INDEX):
        if mt != MT_LIST:
            raise Reject("mediaType in manifest does not match manifest contents")
        mt = media
    elif media in (MT_DMAN, MT_MAN):
        if mt != MT_DMAN:
            raise Reject("mediaType in manifest does not match manifest contents")
        mt = media
    return mt


def _digest_ok(data: bytes, digest: str) -> bool:
    return digest == "sha256:" + hashlib.sha256(data).hexdigest()


def read_blob(desc: dict[str, Any], blobs: dict[str, bytes], capped: bool) -> bytes:
    if capped and desc["size"] > CAP:
        raise Reject("blob too large")
    data = blobs.get(desc["digest"])
    if data is None or not _digest_ok(data, desc["digest"]):
        raise Reject("blob not found / digest")
    if len(data) != desc["size"]:
        raise Reject("size differs from the descriptor (registry fetch reads desc.size bytes)")
    return data


def parse_config(cfg: dict[str, Any], provider: set[str]) -> None:
    """v1/parse.go ParseConfig (v0.13) with v0.25's empty-input check."""
    recs, layers = cfg["records"] or [], cfg["layers"] or []
    cache: dict[int, bool] = {}

    def chain(idx: int, visited: set[int]) -> bool:
        if idx in visited:
            raise Reject("invalid looping layer")
        visited.add(idx)
        if not 0 <= idx < len(layers):
            raise Reject(f"invalid layer index {idx}")
        lay = layers[idx]
        if lay["blob"] not in provider:
            return False
        if lay["parent"] != -1:
            return chain(lay["parent"], visited)
        return True

    def record(idx: int) -> None:
        if idx in cache:
            if not cache[idx]:
                raise Reject("invalid looping record")
            return
        if not 0 <= idx < len(recs):
            raise Reject(f"invalid record ID: {idx}")
        rec = recs[idx]
        cache[idx] = False
        for inputs in rec["inputs"] or []:
            if not inputs:
                raise Reject("invalid empty input (v0.25+)")
            for inp in inputs:
                record(inp["link"])
        for res in rec["layers"] or []:
            chain(res["layer"], set())
        for ch in rec["chains"] or []:
            for diff in ch["layers"] or []:
                if not 0 <= diff < len(layers):
                    raise Reject(f"invalid layer index {diff}")
                if layers[diff]["blob"] not in provider:
                    break
        cache[idx] = True

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        for i in range(len(recs)):
            record(i)
    finally:
        sys.setrecursionlimit(old)


def registry_verdict(manifest: bytes, blobs: dict[str, bytes]) -> tuple[str, str]:
    try:
        _registry(manifest, blobs)
    except Reject as e:
        return "reject", str(e)
    except RecursionError:
        return "reject", "too deep"
    return "use", ""


def _registry(manifest: bytes, blobs: dict[str, bytes]) -> None:
    if len(manifest) > CAP:
        raise Reject("manifest too large")
    mt = detect(manifest)
    layer_descs: list[dict[str, Any]] = []
    config_desc: dict[str, Any] | None = None
    if mt in (MT_LIST, MT_INDEX):
        idx = unmarshal(manifest, INDEX)
        for m in idx["manifests"] or []:
            if m["mediaType"] == MT_CACHE:
                config_desc = m
                continue
            layer_descs.append(m)
    else:
        man = unmarshal(manifest, MANIFEST)
        if man["config"]["mediaType"] == MT_CACHE:
            config_desc = man["config"]
        layer_descs = list(man["layers"] or [])
    if config_desc is None or config_desc["digest"] == "":
        _inline(manifest, blobs)
        return
    data = read_blob(config_desc, blobs, capped=True)
    cfg = unmarshal(data, CONFIG)
    parse_config(cfg, {d["digest"] for d in layer_descs})
    for d in layer_descs:  # the gate's contract: a listed layer that is gone fails the build later
        if d["digest"] not in blobs:
            raise Reject("listed layer blob missing (fails mid-build)")


def _inline(manifest: bytes, blobs: dict[str, bytes]) -> None:
    found: dict[str, bytes] = {}

    def walk(dt: bytes) -> None:
        mt = detect(dt)
        if mt in (MT_DMAN, MT_MAN):
            found["sha256:" + hashlib.sha256(dt).hexdigest()] = dt
            return
        idx = unmarshal(dt, INDEX)
        for d in idx["manifests"] or []:
            if d["digest"] in found:
                continue
            data = blobs.get(d["digest"])
            if data is None:
                raise Reject("manifest blob missing")
            walk(data)

    walk(manifest)
    used = 0
    for dt in found.values():
        m = unmarshal(dt, MANIFEST)
        if m["config"]["digest"] == "" or not m["layers"]:
            continue
        p = blobs.get(m["config"]["digest"])
        if p is None:
            raise Reject("image config missing")
        img = unmarshal(p, IMAGE)
        if len(img["rootfs"]["diff_ids"] or []) != len(m["layers"]):
            continue
        if img["moby.buildkit.cache.v0"] is None:
            continue
        cfg = zero(CONFIG)
        cfg["records"] = unmarshal(img["moby.buildkit.cache.v0"], ("slice", RECORD))
        dates = [h for h in img["history"] or [] if not h["empty_layer"]]
        if len(dates) < len(m["layers"]):
            raise Reject("parseCreatedLayerInfo index out of range (panic)")
        cfg["layers"] = [
            dict(zero(LAYER), blob=ld["digest"], parent=i - 1) for i, ld in enumerate(m["layers"])
        ]
        parse_config(cfg, {ld["digest"] for ld in m["layers"]})
        for ld in m["layers"]:
            if ld["digest"] not in blobs:
                raise Reject("listed layer blob missing (fails mid-build)")
        used += 1
    if not used:
        raise Reject("no inline cache in any image")
