"""Every step's own cache key, as BuildKit will look it up: a port of the part of ``dockerfile2llb`` that
decides the ops (pure).

For a resolved :class:`~cacheinspect.dockerfile.Build` this replays what ``frontend/dockerfile/
dockerfile2llb/convert.go`` (``dispatchRun``, ``dispatchCopy``, ``dispatchWorkdir``, ``convert_runmount.go``)
and ``client/llb`` (``fileop.go``, ``exec.go``, ``merge.go``, ``meta.go``) build for each instruction, then
:mod:`.llb` turns each op into its ``CacheMap`` JSON and the exported record digest
``sha256("<sha256(json)>@<output>")`` -- under both rule sets (BuildKit v0.13 and v0.25; STEP-KEYS.md §3).
Read from moby/buildkit at v0.13.2 and v0.25.2; an emulation, checked against the op records of real
exported caches (tests/context/test_stepkeys_fixtures.py, tests/e2e/test_context_check.py).

What is not modelled gives the step ``unknown`` with the reason (never a guessed key): ADD of a URL or a
git repository, cache mounts with ``uid``/``gid``/``mode``, a ``# syntax=`` frontend, a base image whose
config (Env, WorkingDir, User) is not known where it matters.

The record's *inputs* are not part of its digest: each op says what feeds it (:class:`Input`), so a
caller can check that A's record with this digest also has the expected inputs.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from cacheinspect.dockerfile.llb import (
    NET_MODES,
    RULES,
    CopyAction,
    ExecMount,
    ExecOp,
    FileAction,
    FileOp,
    MergeOp,
    MkdirAction,
    MkfileAction,
    Owner,
    Rules,
    llb_normalize_path,
    record_digest,
    system_normalize_path,
)
from cacheinspect.dockerfile.model import BaseImage, Build, Instr, Stage
from cacheinspect.dockerfile.resolve import DEFAULT_PATH

__all__ = [
    "BuildOptions",
    "Input",
    "Op",
    "StepKey",
    "step_keys",
]

#: build args that never reach the environment (``convert.go`` ``nonEnvArgs``)
_NON_ENV_ARGS = frozenset({"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"})
_DEFAULT_SHELL = ("/bin/sh", "-c")

InputKind = Literal["op", "context", "image", "scratch"]


class Input(msgspec.Struct, frozen=True):
    """What feeds one input of an op: another op (its record), the build context (a content key over
    ``paths``), an image source (``ref``) -- never scratch (scratch is no input)."""

    kind: InputKind
    op: Op | None = None
    ref: str = ""
    paths: tuple[str, ...] = ()


class Op(msgspec.Struct, eq=False):
    """One LLB op of a step with its CacheMap JSON and record digest per rule set."""

    kind: Literal["file", "exec", "merge"]
    inputs: list[Input]
    json: dict[str, bytes]
    digest: dict[str, str]
    role: str = ""  # "copy", "merge", "mkfile", "mkdir", "exec"


class StepKey(msgspec.Struct, eq=False):
    """The ops of one instruction; ``op`` is the one whose result the next step builds on."""

    stage: str
    line: int
    keyword: str
    instruction: str
    ins: Instr | None
    ops: list[Op] = msgspec.field(default_factory=list)
    unknown: str | None = None

    @property
    def op(self) -> Op | None:
        return self.ops[-1] if self.ops else None

    def digest(self, rules: str) -> str | None:
        op = self.op
        return op.digest.get(rules) if op is not None and self.unknown is None else None


class BuildOptions(msgspec.Struct, frozen=True):
    """What ``docker buildx build`` passes besides the Dockerfile (flags named as buildx names them)."""

    network: str = "default"  # --network
    add_hosts: tuple[str, ...] = ()  # --add-host host:ip
    platform: str = "linux/amd64"  # --platform (the target platform)
    images: Mapping[str, BaseImage] | None = None  # base image configs by name
    build_args: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: names given with --build-context NAME=DIR: ``COPY --from=NAME`` reads a local context
    named_contexts: frozenset[str] = frozenset()


class _EnvList:
    """``client/llb/meta.go`` ``EnvList``: setting a key again moves it last."""

    def __init__(self, items: Sequence[tuple[str, str]] = ()) -> None:
        self.items: list[tuple[str, str]] = list(items)

    def set(self, k: str, v: str) -> None:
        self.items = [(a, b) for a, b in self.items if a != k]
        self.items.append((k, v))

    def get(self, k: str) -> str | None:
        for a, b in self.items:
            if a == k:
                return b
        return None

    def array(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.items]

    def copy(self) -> _EnvList:
        return _EnvList(self.items)


class _St(msgspec.Struct):
    """The LLB state of a stage while dispatching (``dispatchState.state``)."""

    producer: Input | None  # None: scratch
    env: _EnvList
    workdir: str
    user: str
    shell: tuple[str, ...]
    platform: tuple[str, str, str]
    image_known: bool
    network: int

    def copy(self) -> _St:
        return _St(
            self.producer,
            self.env.copy(),
            self.workdir,
            self.user,
            self.shell,
            self.platform,
            self.image_known,
            self.network,
        )


def _platform(spec: str | None, default: str) -> tuple[str, str, str]:
    parts = (spec or default).split("/")
    os_ = parts[0] if parts else "linux"
    arch = parts[1] if len(parts) > 1 else "amd64"
    variant = parts[2] if len(parts) > 2 else ""
    return os_, arch, variant


def _norm(s: str) -> str:
    return " ".join(s.split())


def _mk(
    kind: Literal["file", "exec", "merge"], inputs: list[Input], cm: Callable[[Rules], bytes], role: str
) -> Op:
    """An op from its CacheMap JSON under each rule set."""
    js: dict[str, bytes] = {r: cm(r) for r in RULES}
    return Op(kind, inputs, js, {r: record_digest(js[r]) for r in js}, role)


def step_keys(build: Build, opts: BuildOptions | None = None) -> list[StepKey]:
    """The step keys of every needed stage in dispatch order (``FROM`` steps are not included: an image
    source's keys come from the registry, see ``context.check.image_keys``)."""
    o = opts or BuildOptions()
    out: list[StepKey] = []
    finals: dict[int, _St] = {}
    images = o.images or {}
    for st in build.needed:
        state = _initial(st, finals, images, o)
        for ins in st.instrs:
            state = _dispatch(st, ins, state, finals, build, o, out)
        finals[st.index] = state
    return out


def _initial(st: Stage, finals: Mapping[int, _St], images: Mapping[str, BaseImage], o: BuildOptions) -> _St:
    if st.base_stage is not None and st.base_stage.index in finals:
        return finals[st.base_stage.index].copy()
    plat = _platform(st.platform, o.platform)
    net = NET_MODES.get(o.network, 0)
    if st.base == "scratch":
        return _St(None, _EnvList([("PATH", DEFAULT_PATH)]), "/", "", _DEFAULT_SHELL, plat, True, net)
    img = images.get(st.base)
    producer = Input("image", ref=st.base)
    if img is None:
        return _St(producer, _EnvList([("PATH", DEFAULT_PATH)]), "/", "", _DEFAULT_SHELL, plat, False, net)
    env = _EnvList()
    for kv in img.env:
        k, _, v = kv.partition("=")
        env.set(k, v)
    if env.get("PATH") is None:
        env.set("PATH", DEFAULT_PATH)
    wd = system_normalize_path("/", img.workdir, False) if img.workdir else "/"
    return _St(producer, env, wd, img.user, tuple(img.shell) or _DEFAULT_SHELL, plat, True, net)


def _dispatch(
    st: Stage,
    ins: Instr,
    state: _St,
    finals: Mapping[int, _St],
    build: Build,
    o: BuildOptions,
    out: list[StepKey],
) -> _St:
    kw = ins.keyword
    label = st.name or f"stage-{st.index}"
    if kw == "ENV":
        for k, v in ins.values:
            state.env.set(k, v or "")
        return state
    if kw == "ARG":
        for k, v in ins.values:
            if v is not None and k not in _NON_ENV_ARGS:
                state.env.set(k, v)
        return state
    if kw == "USER":
        state.user = ins.words[0] if ins.words else ""
        return state
    if kw == "SHELL":
        state.shell = tuple(ins.node.args)
        return state
    if kw not in ("RUN", "COPY", "ADD", "WORKDIR"):
        return state
    sk = StepKey(label, ins.line, kw, _norm(ins.node.original), ins)
    if kw == "WORKDIR":
        wd = ins.words[0] if ins.words else state.workdir
        # BuildKit joins a relative WORKDIR to the image's; resolve() did it to the one it knew
        raw = ins.node.args[0] if ins.node.args else ""
        if not state.image_known and not raw.startswith("/") and not _abs_workdir_seen(st, ins):
            sk.unknown = "a relative WORKDIR on a base image whose config is not known here"
        state.workdir = wd
        if wd == "/":
            return state
        out.append(sk)
        if not state.image_known and state.user == "" and sk.unknown is None and not _user_seen(st, ins):
            sk.unknown = "the base image's USER (the WORKDIR's owner) is not known here"
        owner = Owner.parse(state.user)
        epoch = o.build_args.get("SOURCE_DATE_EPOCH")
        ts = -1
        if epoch is not None and epoch.isdigit():
            ts = int(epoch) * 1_000_000_000
        base = 0 if state.producer is not None else -1
        act = MkdirAction(llb_normalize_path(wd, wd, False), 0o755, True, owner)
        inputs = [state.producer] if state.producer is not None else []

        def mkdir_json(r: Rules) -> bytes:
            a = act if r == "v0.13" else _with_ts(act, ts)
            return FileOp([FileAction(a, base, -1, 0, base)], 1 if base == 0 else 0).cache_map(r)

        op = _mk("file", inputs, mkdir_json, "mkdir")
        sk.ops.append(op)
        state.producer = Input("op", op=op)
        return state
    out.append(sk)
    if kw == "RUN":
        _run(sk, ins, state, finals, o)
    else:
        _copy(sk, ins, state, finals, o)
    if sk.op is not None:
        state.producer = Input("op", op=sk.op)
    return state


def _with_ts(a: MkdirAction, ts: int) -> MkdirAction:
    return MkdirAction(a.path, a.mode, a.make_parents, a.owner, ts)


def _abs_workdir_seen(st: Stage, upto: Instr) -> bool:
    for i in st.instrs:
        if i is upto:
            return False
        if i.keyword == "WORKDIR" and i.node.args and i.node.args[0].startswith("/"):
            return True
    return False


def _user_seen(st: Stage, upto: Instr) -> bool:
    for i in st.instrs:
        if i is upto:
            return False
        if i.keyword == "USER":
            return True
    return False


# ------------------------------------------------------------------------------------------- RUN
def _run(sk: StepKey, ins: Instr, state: _St, finals: Mapping[int, _St], o: BuildOptions) -> None:
    if not state.image_known:
        sk.unknown = "the base image's config (Env, WorkingDir, User) is not known here"
    cmd = ins.run_cmd
    pre: list[Op] = []
    mounts: list[tuple[str, ExecMount, Input | None]] = []
    inputs: list[Input] = []

    def add_input(inp: Input | None) -> int:
        if inp is None:
            return -1
        for i, x in enumerate(inputs):
            if x == inp or (x.kind == inp.kind == "op" and x.op is inp.op):
                return i
        inputs.append(inp)
        return len(inputs) - 1

    if isinstance(cmd, list):
        args = list(cmd)
    else:
        text = cmd or ""
        hd = ins.heredocs
        if hd and text == "/dev/pipes/" + hd[0].name:
            # a single heredoc with a shebang: written with Mkfile(0755) onto scratch, mounted read-only
            from cacheinspect.dockerfile.parser import chomp_heredoc

            data = hd[0].content
            if hd[0].chomp:
                data = chomp_heredoc(data)
            mk = FileOp(
                [
                    FileAction(
                        MkfileAction("/" + hd[0].name, 0o755, data.encode("utf-8", "surrogateescape")),
                        -1,
                        -1,
                        0,
                    )
                ],
                0,
            )
            mkop = _mk("file", [], mk.cache_map, "mkfile")
            pre.append(mkop)
            mounts.append(
                ("/dev/pipes/", ExecMount(0, "/dev/pipes/", -1, readonly=True), Input("op", op=mkop))
            )
            text = posixpath.join("/dev/pipes/", hd[0].name)
        args = [*state.shell, text]
    env = state.env.copy()
    secret_env: list[tuple[str, str, bool]] = []
    secrets: list[ExecMount] = []
    sshs: list[ExecMount] = []
    for m in ins.mounts:
        if m.type == "secret":
            if m.env is not None and "v0.25" in RULES:
                secret_env.append((m.id, m.env, not m.required))
            if m.target:
                mode = m.mode if m.mode is not None else 0o400
                secrets.append(
                    ExecMount(
                        -1,
                        m.target,
                        0,
                        type="secret",
                        secret=(m.id, m.uid or 0, m.gid or 0, mode, not m.required),
                    )
                )
            continue
        if m.type == "ssh":
            raw_id = m.id if _has_key(m.raw, "id") else ""
            mode = m.mode if m.mode is not None else 0o600
            sshs.append(
                ExecMount(
                    -1, m.target, 0, type="ssh", ssh=(raw_id, m.uid or 0, m.gid or 0, mode, not m.required)
                )
            )
            continue
        if m.type == "cache":
            if m.uid is not None or m.gid is not None or m.mode is not None:
                sk.unknown = "RUN --mount=type=cache with uid/gid/mode (an extra op prepares the directory)"
            if m.from_:
                sk.unknown = "RUN --mount=type=cache,from=... (not modelled)"
            mounts.append(
                (
                    m.target,
                    ExecMount(
                        -1,
                        m.target,
                        -1,
                        readonly=m.readonly and _has_key(m.raw, "ro", "readonly"),
                        type="cache",
                        cache_id="/" + m.id,
                        sharing=m.sharing,
                    ),
                    None,
                )
            )
            continue
        if m.type == "tmpfs":
            mounts.append((m.target, ExecMount(-1, m.target, -1, type="tmpfs", tmpfs_size=m.size), None))
            continue
        # bind
        if m.from_:
            src = _source_of(m.from_, ins, finals, o)
            if src is None and m.from_ not in ("scratch",):
                src = Input("image", ref=m.from_)
        else:
            src = Input("context", paths=(posixpath.join("/", m.source),))
        mounts.append((m.target, ExecMount(0, m.target, -1, readonly=m.readonly), src))
    if sshs and env.get("SSH_AUTH_SOCK") is None:
        env.set("SSH_AUTH_SOCK", sshs[0].dest)
    root_input = state.producer
    all_m = [("/", ExecMount(0, "/", 0), root_input), *mounts]
    all_m.sort(key=lambda t: t[0])
    final: list[ExecMount] = []
    out_index = 0
    for _t, em, src in all_m:
        em.input = add_input(src)
        if em.type == "bind" and not em.readonly and em.dest == "/":
            em.output = out_index
            out_index += 1
        final.append(em)
    final += secrets + sshs
    network = state.network
    if ins.network in ("host", "none"):
        network = NET_MODES[ins.network]
    security = 1 if ins.security == "insecure" else 0
    os_, arch, variant = state.platform
    ex = ExecOp(
        args=args,
        env=env.array(),
        cwd=state.workdir,
        user=state.user,
        extra_hosts=[h.split(":", 1)[0] if ":" in h else h.split("=", 1)[0] for h in o.add_hosts],
        mounts=final,
        network=network,
        security=security,
        secret_env=secret_env,
        os=os_,
        arch=arch,
        variant=variant,
    )
    op = _mk("exec", inputs, lambda r: _exec_json(ex, r), "exec")
    sk.ops = [*pre, op]


def _exec_json(ex: ExecOp, rules: Rules) -> bytes:
    if rules == "v0.13" and ex.secret_env:
        ex = ExecOp(**{f: getattr(ex, f) for f in ex.__struct_fields__ if f != "secret_env"})
    return ex.cache_map(rules)


def _has_key(raw: str, *keys: str) -> bool:
    for part in raw.split(","):
        k = part.split("=", 1)[0].strip().lower()
        if k in keys:
            return True
    return False


def _source_of(name: str, ins: Instr, finals: Mapping[int, _St], o: BuildOptions) -> Input | None:
    """The state a ``--from`` names: a stage's final state (None: scratch), else an image."""
    st = ins.from_stage
    if st is not None and st.index in finals:
        return finals[st.index].producer
    return None


# ------------------------------------------------------------------------------------------- COPY/ADD
def _copy(sk: StepKey, ins: Instr, state: _St, finals: Mapping[int, _St], o: BuildOptions) -> None:
    kw = ins.keyword
    v013_dest, v025_dest = _dest(ins.dest, state.workdir)
    if any(s.is_url or s.is_git for s in ins.sources):
        sk.unknown = "ADD of a URL or git repository: its key comes from the remote"
        return
    if ins.parents:
        sk.unknown = "COPY --parents (not modelled)"
    if not state.image_known and not ins.dest.startswith("/") and state.workdir == "/":
        sk.unknown = "a relative COPY destination on a base image whose WORKDIR is not known here"
    link = ins.link and ins.chmod == ""
    # the copy's source state
    if ins.from_:
        if ins.from_stage is not None:
            src: Input | None = (
                finals[ins.from_stage.index].producer if ins.from_stage.index in finals else None
            )
        elif ins.from_ in o.named_contexts:
            src = None  # a named local context: content keys like the main context
        else:
            src = Input("image", ref=ins.from_)
    else:
        src = None
    from_context = not ins.from_ or ins.from_ in o.named_contexts
    owner = Owner.parse(ins.chown)
    unpack = ins.unpack if ins.unpack is not None else kw == "ADD"
    pre: list[Op] = []
    inputs: list[Input] = []
    base_producer = None if link else state.producer
    base = -1
    if base_producer is not None:
        inputs.append(base_producer)
        base = 0

    def add_input(inp: Input) -> int:
        for i, x in enumerate(inputs):
            if x == inp or (x.kind == inp.kind == "op" and x.op is not None and x.op is inp.op):
                return i
        inputs.append(inp)
        return len(inputs) - 1

    plan: list[tuple[dict[str, CopyAction], int]] = []  # per source: action per rules, secondary input
    ctx_paths = tuple(system_normalize_path("/", s.path, False) for s in ins.sources if not s.is_heredoc)
    for s in ins.sources:
        if s.is_heredoc:
            continue
        p = system_normalize_path("/", s.path, False)
        if from_context:
            sec = add_input(Input("context", ref=ins.from_ or "", paths=ctx_paths))
        elif src is not None:
            sec = add_input(src)
        else:
            sec = -1
        acts: dict[str, CopyAction] = {}
        for r in RULES:
            mode, mode_str = _chmod(ins.chmod, r)
            acts[r] = CopyAction(
                src=p,
                dest=v013_dest if r == "v0.13" else v025_dest,
                owner=owner,
                mode=mode,
                mode_str=mode_str,
                follow_symlink=True,
                dir_copy_contents=True,
                attempt_unpack=unpack,
                create_dest_path=True,
                allow_wildcard=True,
                allow_empty_wildcard=True,
                exclude_patterns=tuple(ins.excludes),
            )
        plan.append((acts, sec))
    for s in ins.sources:
        if not s.is_heredoc:
            continue
        data = (s.content or "").encode("utf-8", "surrogateescape")
        mk = FileOp([FileAction(MkfileAction("/" + s.path, 0o644, data), -1, -1, 0)], 0)
        mkop = _mk("file", [], mk.cache_map, "mkfile")
        pre.append(mkop)
        sec = add_input(Input("op", op=mkop))
        acts = {}
        for r in RULES:
            mode, mode_str = _chmod(ins.chmod, r)
            acts[r] = CopyAction(
                src="/" + s.path,
                dest=v013_dest if r == "v0.13" else v025_dest,
                owner=owner,
                mode=mode,
                mode_str=mode_str,
                create_dest_path=True,
                exclude_patterns=tuple(ins.excludes),
            )
        plan.append((acts, sec))
    n = len(inputs)

    def copy_json(r: Rules) -> bytes:
        fas = []
        for i, (acts, sec) in enumerate(plan):
            inp = base if i == 0 else n + (i - 1)
            fas.append(FileAction(acts[r], inp, sec, 0 if i == len(plan) - 1 else -1, base))
        return FileOp(fas, n).cache_map(r)

    copy_op = _mk("file", list(inputs), copy_json, "copy")
    sk.ops = [*pre, copy_op]
    if link and state.producer is not None:
        sk.ops.append(
            _mk("merge", [state.producer, Input("op", op=copy_op)], MergeOp([0, 1]).cache_map, "merge")
        )


def _chmod(chmod: str, rules: Rules) -> tuple[int, str]:
    if chmod == "":
        return -1, ""
    try:
        v = int(chmod, 8)
    except ValueError:
        return (-1, "") if rules == "v0.13" else (0, chmod)
    if v >= 1 << 32:
        return -1, ""
    return v, ""


def _dest(dest: str, workdir: str) -> tuple[str, str]:
    """The copy destination as v0.13 and v0.25 form it (``pathRelativeToWorkingDir`` + llb's
    ``normalizePath``)."""
    # v0.13: normalized without the slash, then one appended for "", "." or a trailing "/"
    if dest.startswith("/"):
        d13 = system_normalize_path("/", dest, False)
    elif dest == "":
        d13 = workdir
    else:
        d13 = system_normalize_path(workdir, dest, False)
    if dest in (".", "") or dest.endswith("/"):
        d13 += "/"
    d13 = llb_normalize_path(workdir, d13, True)
    # v0.25: normalized keeping the slash; "" and "." become "./"
    if dest.startswith("/"):
        d25 = system_normalize_path("/", dest, True)
    else:
        d25 = system_normalize_path(workdir, "./" if dest in (".", "") else dest, True)
    d25 = llb_normalize_path(workdir, d25, True)
    return d13, d25


# ------------------------------------------------------------------------------------------- explain
_NET_NAMES = {0: "default", 1: "host", 2: "none"}


def explain_difference(
    here: bytes | str, on_a: bytes | str, *, this: str = "here", other: str = "on A"
) -> list[str]:
    """What differs between two CacheMap JSONs of one step (here / host A's), in Dockerfile terms:
    ``env VERSION=1.2 here, 1.1 on A``, ``network host here, default on A``, ``dest /app/ here, /srv/ on
    A``. Empty when they are equal or cannot be read (a hostile document is just "unknown").

    ``this``/``other`` name the two sides: ``diff`` of two caches says ``in B``/``in A``."""
    import json as _json

    try:
        a = _json.loads(here)
        b = _json.loads(on_a)
        if not isinstance(a, dict) or not isinstance(b, dict):
            return []
        return _explain(a, b, this, other)
    except (ValueError, TypeError, RecursionError):
        # a fingerprint is untrusted: nesting deep enough to exhaust the stack is "unknown" as well
        return []


def _d(v: object) -> dict[str, Any]:
    """*v* if it is a JSON object, else empty: a hostile CacheMap may put any type anywhere."""
    return v if isinstance(v, dict) else {}


def _explain(a: dict[str, Any], b: dict[str, Any], this: str, other: str) -> list[str]:
    import base64
    import json as _json

    if a.get("Type") != b.get("Type"):
        return [f"a {_kind(a)} {this}, a {_kind(b)} {other}"]
    out: list[str] = []
    if a.get("Type") == "buildkit.exec.v0":
        ea, eb = _d(a.get("Exec")), _d(b.get("Exec"))
        ma, mb = _d(ea.get("meta")), _d(eb.get("meta"))
        if ma.get("args") != mb.get("args"):
            out.append(f"command {_show(ma.get('args'))} {this}, {_show(mb.get('args'))} {other}")
        envs_a, envs_b = _env_map(ma.get("env")), _env_map(mb.get("env"))
        for k in list(envs_a) + [k for k in envs_b if k not in envs_a]:
            va, vb = envs_a.get(k), envs_b.get(k)
            if va != vb:
                out.append(
                    f"env {k}={va} {this}, " + (f"{vb} {other}" if vb is not None else f"not set {other}")
                    if va is not None
                    else f"env {k} not set {this}, {k}={vb} {other}"
                )
        if not out and ma.get("env") != mb.get("env"):
            out.append("env order differs (an ENV or ARG moved)")
        for key, name in (("cwd", "workdir"), ("user", "user"), ("hostname", "hostname")):
            if ma.get(key) != mb.get(key):
                out.append(f"{name} {ma.get(key) or '(none)'} {this}, {mb.get(key) or '(none)'} {other}")
        if ma.get("extraHosts") != mb.get("extraHosts"):
            out.append(f"add-host {_hosts(ma)} {this}, {_hosts(mb)} {other}")
        for key in ("network", "security"):
            va, vb = ea.get(key, 0), eb.get(key, 0)
            if va != vb:
                names = _NET_NAMES if key == "network" else {0: "sandbox", 1: "insecure"}
                out.append(f"{key} {names.get(va, va)} {this}, {names.get(vb, vb)} {other}")
        if ea.get("mounts") != eb.get("mounts"):
            out.append(f"mounts {_show(ea.get('mounts'))} {this}, {_show(eb.get('mounts'))} {other}")
        for key in ("OS", "Arch", "Variant"):
            if a.get(key) != b.get(key):
                out.append(f"platform {key.lower()} {a.get(key)} {this}, {b.get(key)} {other}")
    elif a.get("Type") == "buildkit.file.v0":
        acts_a, acts_b = a.get("Actions"), b.get("Actions")
        acts_a = acts_a if isinstance(acts_a, list) else []
        acts_b = acts_b if isinstance(acts_b, list) else []
        if len(acts_a) != len(acts_b):
            out.append(f"{len(acts_a)} source(s) {this}, {len(acts_b)} {other}")
        for xa, xb in zip(acts_a, acts_b, strict=False):
            try:
                da = _json.loads(base64.b64decode(xa))
                db = _json.loads(base64.b64decode(xb))
            except (ValueError, TypeError):
                continue
            if not isinstance(da, dict) or not isinstance(db, dict):
                continue
            for k in list(da) + [k for k in db if k not in da]:
                va, vb = da.get(k), db.get(k)
                if va == vb:
                    continue
                if k == "data":
                    out.append("heredoc text differs")
                elif k == "mode" and isinstance(va, int) and isinstance(vb, int):
                    out.append(f"chmod {_mode(va)} {this}, {_mode(vb)} {other}")
                elif k == "owner":
                    out.append(f"chown {_show(va)} {this}, {_show(vb)} {other}")
                else:
                    out.append(f"{_FIELD_NAMES.get(k, k)} {_show(va)} {this}, {_show(vb)} {other}")
        if a.get("indexes") != b.get("indexes") and not out:
            out.append("the op's inputs are wired differently (FROM scratch or another source count)")
    elif a != b:
        out.append("the merge differs")
    return out


_FIELD_NAMES = {
    "src": "source",
    "exclude_patterns": "exclude",
    "include_patterns": "parents",
    "attemptUnpackDockerCompatibility": "ADD unpack",
    "followSymlink": "follow symlinks",
    "modeStr": "chmod",
}


def _kind(d: Mapping[str, object]) -> str:
    t = str(d.get("Type", ""))
    return {"buildkit.exec.v0": "RUN", "buildkit.file.v0": "file op", "buildkit.merge.v0": "merge"}.get(t, t)


def _mode(v: int) -> str:
    return "(none)" if v == -1 else f"{v:04o}"


def _env_map(env: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(env, list):
        for kv in env:
            if isinstance(kv, str):
                k, _, v = kv.partition("=")
                out[k] = v
    return out


def _hosts(meta: Mapping[str, object]) -> str:
    hs = meta.get("extraHosts")
    if not isinstance(hs, list) or not hs:
        return "(none)"
    return ",".join(str(h.get("Host", "")) if isinstance(h, dict) else "?" for h in hs)


def _show(v: object) -> str:
    import json as _json

    if v is None:
        return "(none)"
    if isinstance(v, str):
        return v
    text = _json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 120 else text[:119] + "…"
