"""BuildKit's op cache keys (``CacheMap.Digest``) and record digests, computed outside BuildKit (pure).

An emulation of ``solver/llbsolver/ops/{file,exec,merge}.go`` ``CacheMap`` over the protobuf structs of
``solver/pb/ops.pb.go``, read at moby/buildkit v0.13.2 and v0.25.2 (STEP-KEYS.md). The digest of an op is
the sha256 of **Go's ``encoding/json``** of an op-specific struct, so what matters is Go's rules: field
order of the struct, ``omitempty``, ``[]byte`` as standard base64, ``<``/``>``/``&`` and U+2028/U+2029
escaped. The exported record digest is ``sha256("<CacheMap digest>@<output>")`` (``solver/exporter.go``).

Two rule sets (:data:`RULES`), told apart by the Go struct tags of the generated protobuf code:

* ``v0.13`` -- gogo-generated structs (BuildKit up to v0.17): ``Mount.input``/``output``,
  ``NamedUserOpt.input`` and ``MergeInput.input`` have no ``omitempty``; a numeric owner is ``byID``.
* ``v0.25`` -- protoc-gen-go structs with ``solver/pb/json.go`` (BuildKit v0.18 and later): every field
  ``omitempty``; a numeric owner is ``{"User":{"byId":N}}`` (a zero id: ``{"User":{}}``).

Everything here takes plain values and returns bytes or digests; nothing runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

__all__ = [
    "RULES",
    "CopyAction",
    "ExecMount",
    "ExecOp",
    "FileAction",
    "FileOp",
    "MergeOp",
    "MkdirAction",
    "MkfileAction",
    "Owner",
    "Rules",
    "go_json",
    "llb_normalize_path",
    "record_digest",
    "sha256_digest",
    "system_normalize_path",
]

Rules = Literal["v0.13", "v0.25"]
#: the rule sets in the order ties are broken (dockerd 26.1's line first)
RULES: tuple[Rules, ...] = ("v0.13", "v0.25")

_SURROGATES = re.compile("[\ud800-\udfff]")


def sha256_digest(data: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def go_json(value: Any) -> bytes:
    """Go ``json.Marshal`` of a value already shaped as Go would see it: dicts in struct-field order
    with ``omitempty`` applied by the caller, ``bytes`` for ``[]byte`` (standard base64), ints, bools,
    strings and lists. Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 (``encode.go`` ``appendString``
    with HTML escaping on), writes other non-ASCII as UTF-8, ``\\b \\f \\n \\r \\t`` short (Go 1.22+)
    and other control characters as ``\\u00xx``; invalid UTF-8 becomes U+FFFD."""

    def conv(v: Any) -> Any:
        if isinstance(v, bytes):
            return base64.b64encode(v).decode("ascii")
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if isinstance(v, str):
            return _SURROGATES.sub("\ufffd", v)
        return v

    text = json.dumps(conv(value), ensure_ascii=False, separators=(",", ":"))
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode("utf-8")


def record_digest(cache_map_json: bytes, output: int = 0) -> str:
    """The exported record digest: ``rootKey(sha256(json), output)`` = ``sha256("<dgst>@<output>")``."""
    return sha256_digest(f"{sha256_digest(cache_map_json)}@{output}")


# ------------------------------------------------------------------------------------------- paths
def _go_clean(p: str) -> str:
    """Go's ``path.Clean``."""
    if p == "":
        return "."
    out = posixpath.normpath(p)
    if out.startswith("//"):  # posixpath keeps a leading "//"; Go does not
        out = "/" + out.lstrip("/")
    return out


def system_normalize_path(parent: str, new: str, keep_slash: bool) -> str:
    """``util/system.NormalizePath`` for Linux (same at v0.13 and v0.25)."""
    orig = new
    if parent == "":
        parent = "/"
    if not parent.startswith("/"):
        parent = _go_clean("/" + parent)
    if new == "":
        new = parent
    if not new.startswith("/"):
        new = _go_clean(parent + "/" + new)
    if keep_slash:
        if orig.endswith("/") and not new.endswith("/"):
            new += "/"
        elif orig.endswith("/."):
            if new != "/":
                new += "/"
            new += "."
    return new


def llb_normalize_path(parent: str, p: str, keep_slash: bool) -> str:
    """``client/llb/fileop.go`` ``normalizePath``: cleaned, joined to the state's dir when relative."""
    orig = p
    p = _go_clean(p)
    if not p.startswith("/"):
        p = _go_clean("/" + parent + "/" + p)
    if keep_slash:
        if orig.endswith("/") and not p.endswith("/"):
            p += "/"
        elif orig.endswith("/."):
            if p != "/":
                p += "/"
            p += "."
    return p


# ------------------------------------------------------------------------------------------- owners
class Owner(msgspec.Struct, frozen=True):
    """``llb.WithUser("user[:group]")``: each part a number (by id) or a name (read in the image)."""

    user: int | str | None
    group: int | str | None

    @classmethod
    def parse(cls, spec: str) -> Owner | None:
        if spec == "":
            return None
        parts = spec.split(":", 1)

        def one(v: str) -> int | str:
            # parseUID: strconv.ParseUint(v, 10, 32) -- digits only, fits in 32 bits
            if v.isascii() and v.isdigit() and int(v) < (1 << 32):
                return int(v)
            return v

        return cls(one(parts[0]), one(parts[1]) if len(parts) > 1 else None)

    def to_go(self, base: int, rules: Rules) -> dict[str, Any]:
        def user_opt(u: int | str) -> dict[str, Any]:
            if isinstance(u, str) and u != "":
                named: dict[str, Any] = {"name": u}
                if rules == "v0.13" or base != 0:
                    named["input"] = base
                return {"User": {"byName": named}}
            uid = u if isinstance(u, int) else 0
            key = "byID" if rules == "v0.13" else "byId"
            return {"User": {key: uid} if uid else {}}

        out: dict[str, Any] = {}
        if self.user is not None:
            out["user"] = user_opt(self.user)
        if self.group is not None:
            out["group"] = user_opt(self.group)
        return out

    def by_name(self) -> bool:
        return isinstance(self.user, str) or isinstance(self.group, str)


# ------------------------------------------------------------------------------------------- file op
class CopyAction(msgspec.Struct):
    """``pb.FileActionCopy`` as dockerfile2llb fills it (``src`` is the full source path; the CacheMap
    keeps only its base name when the source is an input)."""

    src: str
    dest: str
    owner: Owner | None = None
    mode: int = -1
    mode_str: str = ""
    follow_symlink: bool = False
    dir_copy_contents: bool = False
    attempt_unpack: bool = False
    create_dest_path: bool = False
    allow_wildcard: bool = False
    allow_empty_wildcard: bool = False
    timestamp: int = -1
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()

    def to_go(self, base: int, from_input: bool, rules: Rules) -> dict[str, Any]:
        src = self.src
        if from_input:
            src = posixpath.basename(src) if src not in ("", "/") else src
            if src == "":  # path.Base("") is "."
                src = "."
        d: dict[str, Any] = {}
        _put(d, "src", src)
        _put(d, "dest", self.dest)
        if self.owner is not None:
            d["owner"] = self.owner.to_go(base, rules)
        _put(d, "mode", self.mode)
        _put(d, "followSymlink", self.follow_symlink)
        _put(d, "dirCopyContents", self.dir_copy_contents)
        _put(d, "attemptUnpackDockerCompatibility", self.attempt_unpack)
        _put(d, "createDestPath", self.create_dest_path)
        _put(d, "allowWildcard", self.allow_wildcard)
        _put(d, "allowEmptyWildcard", self.allow_empty_wildcard)
        _put(d, "timestamp", self.timestamp)
        _put(d, "include_patterns", list(self.include_patterns))
        _put(d, "exclude_patterns", list(self.exclude_patterns))
        if rules == "v0.25":
            _put(d, "modeStr", self.mode_str)
        return d


class MkfileAction(msgspec.Struct):
    """LLB ``FileActionMkFile`` (a heredoc COPY writes one): path, mode, data, owner, timestamp."""

    path: str
    mode: int
    data: bytes
    owner: Owner | None = None
    timestamp: int = -1

    def to_go(self, base: int, rules: Rules) -> dict[str, Any]:
        d: dict[str, Any] = {}
        _put(d, "path", self.path)
        _put(d, "mode", self.mode & 0o777)
        _put(d, "data", self.data)
        if self.owner is not None:
            d["owner"] = self.owner.to_go(base, rules)
        _put(d, "timestamp", self.timestamp)
        return d


class MkdirAction(msgspec.Struct):
    """LLB ``FileActionMkDir`` (a WORKDIR makes one): path, mode, parents, owner, timestamp."""

    path: str
    mode: int
    make_parents: bool = False
    owner: Owner | None = None
    timestamp: int = -1

    def to_go(self, base: int, rules: Rules) -> dict[str, Any]:
        d: dict[str, Any] = {}
        _put(d, "path", self.path)
        _put(d, "mode", self.mode & 0o777)
        _put(d, "makeParents", self.make_parents)
        if self.owner is not None:
            d["owner"] = self.owner.to_go(base, rules)
        _put(d, "timestamp", self.timestamp)
        return d


def _put(d: dict[str, Any], key: str, v: Any) -> None:
    """``omitempty``: zero values (0, "", false, empty list, nil) are left out."""
    if v or (isinstance(v, int) and not isinstance(v, bool) and v != 0):
        d[key] = v


class FileAction(msgspec.Struct):
    """One action with its indexes: ``input`` (-1 scratch, or an op input, or ``n_inputs + k`` for the
    result of action k), ``secondary`` (the copy source input, -1 none), ``output`` (0 last, else -1)."""

    action: CopyAction | MkfileAction | MkdirAction
    input: int
    secondary: int
    output: int
    base: int = -1  # the input index of the action's own state (owner names are read there)


class FileOp(msgspec.Struct):
    """LLB ``FileOp``: its actions and inputs; :meth:`cache_map` is the digest input BuildKit hashes."""

    actions: list[FileAction]
    n_inputs: int

    def cache_map(self, rules: Rules) -> bytes:
        acts: list[bytes] = []
        idx: list[list[int]] = []
        for fa in self.actions:
            a = fa.action
            if isinstance(a, CopyAction):
                from_input = fa.secondary != -1 and fa.secondary < self.n_inputs
                body = a.to_go(fa.base, from_input, rules)
            else:
                body = a.to_go(fa.base, rules)
            acts.append(go_json(body))
            idx.append([fa.input, fa.secondary, fa.output])
        doc: dict[str, Any] = {"Type": "buildkit.file.v0", "Actions": acts}
        if not _default_indexes(idx):
            doc["indexes"] = idx
        return go_json(doc)


def _default_indexes(idxs: Sequence[Sequence[int]]) -> bool:
    """``ops/file.go`` ``isDefaultIndexes`` (kept so old keys stay valid)."""
    if not idxs:
        return False
    n = len(idxs)
    for i, ix in enumerate(idxs):
        if len(ix) != 3:
            return False
        if i == 0 and ix[0] != 0:
            return False
        if i != 0 and ix[0] != n + (i - 1):
            return False
        if ix[1] not in (-1, 1):
            return False
        if i == n - 1 and ix[2] != 0:
            return False
        if i != n - 1 and ix[2] != -1:
            return False
    return True


# ------------------------------------------------------------------------------------------- exec op
NET_MODES = {"sandbox": 0, "default": 0, "host": 1, "none": 2}
_MOUNT_TYPES = {"bind": 0, "secret": 1, "ssh": 2, "cache": 3, "tmpfs": 4}
_SHARING = {"shared": 0, "private": 1, "locked": 2}


class ExecMount(msgspec.Struct):
    """``pb.Mount`` (the selector is blanked by ``CacheMap``, so it is not kept)."""

    input: int
    dest: str
    output: int
    readonly: bool = False
    type: str = "bind"
    cache_id: str = ""
    sharing: str = "shared"
    tmpfs_size: int = 0
    secret: tuple[str, int, int, int, bool] | None = None  # id, uid, gid, mode, optional
    ssh: tuple[str, int, int, int, bool] | None = None

    def to_go(self, rules: Rules) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if rules == "v0.13":
            d["input"] = self.input
        else:
            _put(d, "input", self.input)
        _put(d, "dest", self.dest)
        if rules == "v0.13":
            d["output"] = self.output
        else:
            _put(d, "output", self.output)
        _put(d, "readonly", self.readonly)
        _put(d, "mountType", _MOUNT_TYPES[self.type])
        if self.type == "tmpfs":
            t: dict[str, Any] = {}
            _put(t, "size", self.tmpfs_size)
            d["TmpfsOpt"] = t
        if self.type == "cache":
            cid, sharing = self.cache_id, _SHARING[self.sharing]
            default = (cid == self.dest or cid.partition("/")[2] == self.dest) and sharing == 0
            if not default:  # checkShouldClearCacheOpts
                cid, sharing = "", 0
            c: dict[str, Any] = {}
            _put(c, "ID", cid)
            _put(c, "sharing", sharing)
            d["cacheOpt"] = c
        for key, opt in (("secretOpt", self.secret), ("SSHOpt", self.ssh)):
            if opt is not None:
                o: dict[str, Any] = {}
                _put(o, "ID", opt[0])
                _put(o, "uid", opt[1])
                _put(o, "gid", opt[2])
                _put(o, "mode", opt[3])
                _put(o, "optional", opt[4])
                d[key] = o
        return d


class ExecOp(msgspec.Struct):
    """LLB ``ExecOp`` of a RUN: argv, env, cwd, user, mounts, network and security mode."""

    args: list[str]
    env: list[str]
    cwd: str
    user: str = ""
    extra_hosts: list[str] = msgspec.field(default_factory=list)
    hostname: str = ""
    mounts: list[ExecMount] = msgspec.field(default_factory=list)
    network: int = 0
    security: int = 0
    secret_env: list[tuple[str, str, bool]] = msgspec.field(default_factory=list)  # id, name, optional
    os: str = "linux"
    arch: str = "amd64"
    variant: str = ""

    def cache_map(self, rules: Rules) -> bytes:
        meta: dict[str, Any] = {}
        _put(meta, "args", list(self.args))
        _put(meta, "env", list(self.env))
        _put(meta, "cwd", self.cwd)
        _put(meta, "user", self.user)
        _put(meta, "extraHosts", [{"Host": h} if h else {} for h in self.extra_hosts])
        _put(meta, "hostname", self.hostname)
        meta["removeMountStubsRecursive"] = True
        mounts = self.mounts
        if len(mounts) == 1 and mounts[0].dest == "/" and not mounts[0].readonly and mounts[0].type == "bind":
            mounts = []  # the plain RUN's single root mount is left out (compatibility special case)
        ex: dict[str, Any] = {"meta": meta}
        _put(ex, "mounts", [m.to_go(rules) for m in mounts])
        _put(ex, "network", self.network)
        _put(ex, "security", self.security)
        se = []
        for sid, name, optional in self.secret_env:
            s: dict[str, Any] = {}
            _put(s, "ID", sid)
            _put(s, "name", name)
            _put(s, "optional", optional)
            se.append(s)
        _put(ex, "secretenv", se)
        doc: dict[str, Any] = {"Type": "buildkit.exec.v0", "Exec": ex, "OS": self.os, "Arch": self.arch}
        _put(doc, "Variant", self.variant)
        return go_json(doc)


# ------------------------------------------------------------------------------------------- merge op
class MergeOp(msgspec.Struct):
    """LLB ``MergeOp`` (``COPY --link`` merges): the inputs it merges."""

    inputs: list[int]

    def cache_map(self, rules: Rules) -> bytes:
        ins = [{"input": i} if (rules == "v0.13" or i) else {} for i in self.inputs]
        return go_json({"Type": "buildkit.merge.v0", "Merge": {"inputs": ins}})
