"""Stages, ``--target`` and ARG/ENV expansion as BuildKit's ``dockerfile2llb/convert.go`` does them.

What is expanded, and with what (``convert.go`` ``dispatch`` + ``instructions/commands.go``
``Expand`` methods):

* ``FROM`` image and ``--platform``: with the global ARGs only (those before the first FROM, plus
  the predefined platform ARGs and ``TARGETSTAGE``), never with a stage's ARG/ENV.
* Inside a stage the expansion environment is the LLB state's env: the base image's ENV, then every
  ``ENV`` and every ``ARG`` that has a value, in file order (a later one replaces an earlier one of the
  same name). A global ARG is visible in a stage only after ``ARG NAME`` re-declares it there.
  A stage built ``FROM`` another stage starts from that stage's final state, ARG values included.
* Expanded: ENV (keys and values, all pairs against the env *before* the instruction), LABEL,
  COPY/ADD sources, destination, ``--chown``, ``--chmod`` (and ADD ``--checksum``), COPY/ADD heredoc
  bodies unless the word was quoted (with ``\\`` as escape and quotes kept), WORKDIR, USER, VOLUME,
  STOPSIGNAL, EXPOSE, ARG defaults and every ``RUN --mount`` value except ``from``.
* Not expanded: RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK commands (the shell does that at run time),
  ``COPY --from`` (an error if it contains a variable), ``--exclude``, ONBUILD triggers, MAINTAINER.

Stages that the target does not need are not dispatched by BuildKit, so an expansion error there is
not an error of the build: it is recorded in :attr:`Stage.error` instead of being raised.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any, cast

import msgspec
from immutables import Map

from cacheinspect._lazyre import lazy
from cacheinspect._persistent import FrozenMap
from cacheinspect.dockerfile._lex import Lexer, LexError, expansion_budget, go_quote
from cacheinspect.dockerfile.instructions import Parsed, check_nodes, parse_instruction
from cacheinspect.dockerfile.model import (
    BaseImage,
    Build,
    CopySource,
    Dockerfile,
    DockerfileError,
    Instr,
    Node,
    Stage,
)
from cacheinspect.dockerfile.mount import csv_fields, go_path_clean, parse_mount
from cacheinspect.dockerfile.parser import chomp_heredoc, parse_heredoc_word
from cacheinspect.dockerfile.suggest import suggest

__all__ = ["DEFAULT_PATH", "resolve"]

#: ``util/system.DefaultPathEnvUnix``: the PATH BuildKit gives a stage whose image sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DEFAULT_SHELL = ["/bin/sh", "-c"]
_ATOI = lazy(r"[+-]?[0-9]+\Z")
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}


def _parse_platform(spec: str) -> tuple[str, str, str]:
    """A minimal ``containerd/platforms.Parse`` + ``Normalize`` for ``os/arch[/variant]``."""
    if spec == "":
        raise ValueError(
            '"" is an invalid OS component of "": OSAndVersion specifier component must match '
            r'"^([A-Za-z0-9_-]+)(?:\\(([A-Za-z0-9_.-]*)\\))?$": invalid argument'  # Go %q of the regexp
        )
    parts = spec.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f'"{spec}": unknown operating system or architecture: invalid argument')
    os_, arch = parts[0], _ARCH_ALIASES.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant in ("v8", "8"):
        variant = ""
    if arch == "arm" and variant == "":
        variant = "v7"
    if arch == "amd64" and variant == "v1":
        variant = ""
    return os_, arch, variant


def _fmt_platform(p: tuple[str, str, str]) -> str:
    return "/".join(x for x in p if x)


def _is_url(src: str) -> bool:
    return src.startswith("http://") or src.startswith("https://")


def _is_git(src: str) -> bool:
    """An approximation of ``dfgitutil.ParseGitRef`` (what ADD treats as a git repository)."""
    if src.startswith(("git://", "git@", "github.com/")):
        return True
    if src.startswith("ssh://"):
        return True
    if _is_url(src):
        path = src.split("#", 1)[0].split("?", 1)[0]
        return path.endswith(".git")
    return False


class _Tracked(Mapping[str, str]):
    """A mutable handle on a persistent map: :meth:`snapshot` and :meth:`copy` are O(1).

    Every instruction records the env, ARGs and expansion variables *before* it, and a stage
    ``FROM`` another starts from that stage's state. Copying dicts for each made a file of n
    ``ARG`` lines, and a chain of n stages each adding an ENV, cost n² time and memory (16,000
    ARGs: over a minute and 7 GB); an :class:`immutables.Map` (a hash array mapped trie) is shared
    between all of them, each assignment O(log n) (issue 17)."""

    __slots__ = ("m",)

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self.m: Map[str, str] = initial if isinstance(initial, Map) else Map(initial or {})

    def __setitem__(self, key: str, value: str) -> None:
        self.m = self.m.set(key, value)

    def __getitem__(self, key: str) -> str:
        return self.m[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.m.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.m

    def __iter__(self) -> Iterator[str]:
        return iter(self.m)

    def __len__(self) -> int:
        return len(self.m)

    def snapshot(self) -> FrozenMap[str, str]:
        return FrozenMap(self.m)

    def copy(self) -> _Tracked:
        return _Tracked(self.m)


class _State:
    """The part of a ``dispatchState`` that expansion and the report need."""

    def __init__(self) -> None:
        self.vars = _Tracked({"PATH": DEFAULT_PATH})  # LLB state env (ENV + ARG values)
        self.env = _Tracked({"PATH": DEFAULT_PATH})  # image config env (ENV only)
        self.args = _Tracked()
        self.workdir = "/"
        self.user = ""
        self.shell = list(_DEFAULT_SHELL)
        # The base image's config (ENV, WORKDIR) is invisible to a pure front end unless the stage
        # chain starts FROM scratch. BuildKit reads it, so an error that only an unset variable or the
        # default WORKDIR "/" causes would not happen there: such errors are not raised (see
        # _dispatch: WORKDIR, VOLUME, RUN --mount target).
        self.image_known = False
        self.workdir_known = False

    def copy(self) -> _State:
        s = _State()
        s.vars, s.env, s.args = self.vars.copy(), self.env.copy(), self.args.copy()
        s.workdir, s.user, s.shell = self.workdir, self.user, list(self.shell)
        s.image_known, s.workdir_known = self.image_known, self.workdir_known
        return s


def _default_args(
    target_p: tuple[str, str, str],
    build_p: tuple[str, str, str],
    target: str,
    overrides: Mapping[str, str],
    dialect: str,
) -> dict[str, str]:
    """``platform.go`` ``defaultArgs``: the predefined ARGs, overridable by build args (v0.13's
    ``getPlatformArgs`` had no ``*OSVERSION`` and no ``TARGETSTAGE``)."""
    pairs = {
        "BUILDPLATFORM": _fmt_platform(build_p),
        "BUILDOS": build_p[0],
        "BUILDOSVERSION": "",
        "BUILDARCH": build_p[1],
        "BUILDVARIANT": build_p[2],
        "TARGETPLATFORM": _fmt_platform(target_p),
        "TARGETOS": target_p[0],
        "TARGETOSVERSION": "",
        "TARGETARCH": target_p[1],
        "TARGETVARIANT": target_p[2],
        "TARGETSTAGE": target or "default",
    }
    if dialect == "v0.13":
        for k in ("BUILDOSVERSION", "TARGETOSVERSION", "TARGETSTAGE"):
            del pairs[k]
    return {k: overrides.get(k, v) for k, v in pairs.items()}


def _err(df: Dockerfile, node: Node, message: str, *, hint: str | None = None) -> DockerfileError:
    return DockerfileError(message, file=df.filename, line=node.line, column=node.column, hint=hint)


def resolve(
    df: Dockerfile,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str = "linux/amd64",
    build_platform: str = "linux/amd64",
    images: Mapping[str, BaseImage] | None = None,
) -> Build:
    """Resolve stages, the target and its dependencies, and expand every instruction.

    ``build_args`` are ``--build-arg`` values; ``target`` is ``--target`` (a stage name,
    case-insensitive); ``platform`` the target platform (``TARGETPLATFORM``…), ``build_platform``
    the builder's (``BUILDPLATFORM``…); ``images`` the config of base images by name as FROM spells
    them (their ENV, WORKDIR and USER seed the stage, as BuildKit does). Raises :class:`DockerfileError` for what BuildKit rejects
    before or while dispatching the stages the target needs.
    """
    with expansion_budget():  # all expansions of this Dockerfile share one cap (_lex.MAX_TOTAL_CHARS)
        return _resolve(
            df,
            build_args=build_args,
            target=target,
            platform=platform,
            build_platform=build_platform,
            images=images,
        )


def _resolve(
    df: Dockerfile,
    *,
    build_args: Mapping[str, str] | None,
    target: str | None,
    platform: str,
    build_platform: str,
    images: Mapping[str, BaseImage] | None,
) -> Build:
    bargs = dict(build_args or {})
    memo: tuple[int, str, object] | None = df.__dict__.get("_checked")
    if memo is not None and memo[0] == id(df.nodes) and memo[1] == df.dialect:
        parsed = cast("list[Parsed]", memo[2])
    else:
        parsed = check_nodes(df.nodes, df.filename, df.dialect)
    v013 = df.dialect == "v0.13"
    lex = Lexer(df.escape, dialect=df.dialect)
    meta: list[Parsed] = []
    stage_groups: list[tuple[Parsed, list[Parsed]]] = []
    for p in parsed:
        if p.node.keyword == "FROM":
            stage_groups.append((p, []))
        elif not stage_groups:
            meta.append(p)
        else:
            stage_groups[-1][1].append(p)
    if not stage_groups:
        raise DockerfileError(
            "dockerfile contains no stages to build", file=df.filename, line=df.nodes[-1].line
        )

    try:
        target_p = _parse_platform(platform)
        build_p = _parse_platform(build_platform)
    except ValueError as e:
        raise DockerfileError(f"invalid platform: {e}", file=df.filename) from None

    target_name = target if target else stage_groups[-1][0].stage_name
    global_vars = _default_args(target_p, build_p, target_name, bargs, df.dialect)
    global_args: dict[str, str | None] = {}
    # buildMetaArgs: a build arg wins; otherwise the default, expanded with what came before.
    # v0.13 ignored an expansion error there (the value became "") and let a valueless global ARG
    # expand to "" (metaArgsToMap uses ValueString), where master leaves it unset.
    for p in meta:
        for a in p.node.args:
            key, eq, value = a.partition("=")
            if key in bargs:
                val: str | None = bargs[key]
            elif eq:
                try:
                    val = lex.process_word(value, global_vars).result
                except LexError as e:
                    if not v013:
                        raise _err(df, p.node, str(e)) from None
                    val = ""
            else:
                val = None
            if val is not None:
                global_vars[key] = val
            elif v013:
                global_vars[key] = ""
            global_args[key] = val
    # what a stage's bare "ARG NAME" inherits: only valued global ARGs (and the platform ARGs)
    inheritable = {k: v for k, v in global_vars.items() if k not in global_args or global_args[k] is not None}

    # buildDispatchStates: expand FROM and --platform with the global args, register names
    stages: list[Stage] = []
    by_name: dict[str, Stage] = {}
    from_hints: dict[int, str | None] = {}
    for idx, (fp, _cmds) in enumerate(stage_groups):
        node = fp.node
        try:
            base_word = lex.process_word(node.args[0], global_vars)
        except LexError as e:
            raise _err(df, node, str(e)) from None
        base = base_word.result
        # FROM ${BASE} / FROM node:${VERSION}-alpine with a global ARG that has no default: BuildKit
        # fails exactly so without --build-arg; the hint names the build args the file expects
        valueless = sorted(
            k for k in base_word.matched | base_word.unmatched if k in global_args and global_args[k] is None
        )
        from_hint = (
            "the global ARG "
            + ", ".join(valueless)
            + " has no default; pass "
            + " ".join(f"--build-arg {k}=…" for k in valueless)
            if valueless
            else None
        )
        from_hints[idx] = from_hint
        if base == "":
            raise _err(df, node, f"base name ({node.args[0]}) should not be blank", hint=from_hint)
        plat: str | None = None
        raw_plat = fp.strings.get("platform", "")
        if raw_plat:
            try:
                expanded = lex.process_word(raw_plat, global_vars).result
            except LexError as e:
                raise _err(df, node, f"failed to process arguments for platform {raw_plat}: {e}") from None
            if expanded == "" and not v013:
                raise _err(df, node, f"empty platform value from expression {raw_plat}")
            try:
                plat = _fmt_platform(_parse_platform(expanded))
            except ValueError as e:
                # v0.13 named the expanded value, master the expression
                raise _err(
                    df, node, f"failed to parse platform {expanded if v013 else raw_plat}: {e}"
                ) from None
        st = Stage(
            index=idx,
            name=fp.stage_name or None,
            base=base,
            base_stage=by_name.get(base),  # addState: exact match against names seen so far
            # dispatchState.init(): a stage built on a stage takes that stage's platform, even over
            # its own --platform
            platform=by_name[base].platform if base in by_name else plat,
            line=node.line,
            node=node,
        )
        stages.append(st)
        if st.name:
            by_name[st.name] = st

    if target:
        tgt = by_name.get(target.lower())
        if tgt is None:
            names = [s.name for s in stages if s.name]
            raise DockerfileError(
                f'target stage "{target}" could not be found{suggest(target, names)}', file=df.filename
            )
    else:
        tgt = stages[-1]

    # buildStageDependencyGraph: COPY --from and RUN --mount from= sources
    sources: dict[int, list[Stage | None]] = {}

    def sources_of(p: Parsed) -> list[Stage | None]:
        """``toCommand`` + ``detectRunMount``: the stage (or None for an image/context) behind each
        COPY --from / mount from=."""
        srcs: list[Stage | None] = []
        if p.node.keyword == "COPY" and p.strings.get("from"):
            frm = p.strings["from"]
            try:
                same = lex.process_word(frm, {}).result == frm
            except LexError as e:
                raise _err(df, p.node, str(e)) from None
            if not same and not v013:  # v0.13 took "$X" for an image name (and failed there)
                raise _err(
                    df,
                    p.node,
                    "variable expansion is not supported for --from, define a new stage with FROM using "
                    "ARG from global scope as a workaround",
                )
            if _ATOI.match(frm) and not (v013 and not same):
                i = int(frm)
                if i < 0 or i >= len(stages):
                    raise _err(df, p.node, f"invalid stage index {i}")
                srcs.append(stages[i])
            else:
                srcs.append(by_name.get(frm.lower()))
        elif p.node.keyword == "RUN":
            for fl in p.node.flags:
                if fl.name == "mount" and fl.value is not None:
                    frm = _mount_from(fl.value)
                    srcs.append(by_name.get(frm.lower()) if frm else None)
        return srcs

    for st, (_fp, cmds) in zip(stages, stage_groups, strict=True):
        for p in cmds:
            sources[id(p)] = sources_of(p)
            for s_ in sources[id(p)]:
                if s_ is not None and s_ not in st.deps:
                    st.deps.append(s_)
    _check_cycles(df, stages, stage_groups, sources)

    # resolveBaseImage: every image name (FROM that is not a stage or "scratch", COPY --from and
    # mount from= that name no stage) must parse as a reference, needed by the target or not
    for st in stages:
        if st.base_stage is None and st.base != "scratch":
            reason = image_name_error(st.base)
            if reason:
                raise _err(
                    df,
                    st.node,
                    f"failed to parse stage name {go_quote(st.base)}: {reason}",
                    hint=from_hints.get(st.index),
                )
    for _fp, cmds in stage_groups:
        for p in cmds:
            for name, s_ in zip(_source_names(p), sources.get(id(p), []), strict=False):
                if s_ is None and name and name != "scratch":
                    reason = image_name_error(name)
                    if reason:
                        raise _err(df, p.node, f"failed to parse stage name {go_quote(name)}: {reason}")

    # resolveStages: the stages the target reaches; ONBUILD triggers of a stage base run first in the
    # child (initOnBuildTriggers) and may reach further stages, so repeat until nothing is added
    triggers: dict[int, list[Parsed]] = {}
    needed_set: set[int] = set()
    while True:
        needed_set = set()
        _reach(tgt, needed_set)
        new_deps = False
        for idx in sorted(needed_set):
            st = stages[idx]
            if idx in triggers:
                continue
            triggers[idx] = _onbuild_triggers(df, st, stage_groups)
            for p in triggers[idx]:
                sources[id(p)] = sources_of(p)
                if v013:
                    continue  # v0.13 dispatched triggers late: their sources were no dependencies
                for s_ in sources[id(p)]:
                    if s_ is not None and s_ not in st.deps:
                        st.deps.append(s_)
                        new_deps = True
        if not new_deps:
            break
    needed = [s for s in stages if s.index in needed_set]

    # dispatchStages: in file order
    finals: dict[int, _State] = {}
    dispatched: set[int] = set()
    earlier: set[int] = set()
    for st, (_fp, cmds) in zip(stages, stage_groups, strict=True):
        strict = st.index in needed_set
        # BuildKit dispatches only the needed stages; an unneeded one is resolved here for information
        # as if everything before it had been dispatched
        if strict:
            dispatched.add(st.index)
        earlier.add(st.index)
        if st.base_stage is not None and st.base_stage.index in finals:
            state = finals[st.base_stage.index].copy()
        else:
            state = _State()
            state.image_known = state.workdir_known = st.base == "scratch"
            if images is not None and st.base in images:
                _seed(state, images[st.base])
        try:
            todo = [(True, t) for t in triggers.get(st.index, [])] + [(False, c) for c in cmds]
            for is_trigger, p in todo:
                ins = _dispatch(
                    df,
                    lex,
                    st,
                    state,
                    p,
                    sources.get(id(p), []),
                    dispatched if strict else earlier,
                    bargs,
                    inheritable,
                )
                ins.onbuild = is_trigger
                st.instrs.append(ins)
        except DockerfileError as e:
            if strict:
                raise
            st.error = e.message
        st.env, st.workdir, st.user = state.env.snapshot(), state.workdir, state.user
        finals[st.index] = state

    return Build(
        stages=stages,
        target=tgt,
        needed=needed,
        global_args=global_args,
        build_args=bargs,
        dockerfile=df,
    )


def _seed(state: _State, img: BaseImage) -> None:
    """``toDispatchState``: the image's Env (PATH added when missing), WorkingDir and User."""
    for kv in img.env:
        k, _, v = kv.partition("=")
        state.vars[k] = v
        state.env[k] = v
    if img.workdir:
        state.workdir = go_path_clean(posixpath.join("/", img.workdir))
    state.user = img.user
    if img.shell:
        state.shell = list(img.shell)
    state.image_known = state.workdir_known = True


def _reach(s: Stage, seen: set[int]) -> None:
    """``allReachableStages``: a stage, its base stage and its sources, transitively.

    Iterative: a chain of thousands of stages (generated Dockerfiles) must not hit Python's recursion
    limit, where BuildKit's Go recursion has no such limit."""
    todo = [s]
    while todo:
        cur = todo.pop()
        if cur.index in seen:
            continue
        seen.add(cur.index)
        if cur.base_stage is not None:
            todo.append(cur.base_stage)
        todo.extend(cur.deps)


def _onbuild_triggers(df: Dockerfile, st: Stage, groups: list[tuple[Parsed, list[Parsed]]]) -> list[Parsed]:
    """The ONBUILD instructions of ``st``'s base stage as instructions of ``st``, located at ``st``'s
    FROM (BuildKit resets the trigger's location to the stage that runs it)."""
    if st.base_stage is None:
        return []
    out: list[Parsed] = []
    for p in groups[st.base_stage.index][1]:
        if p.node.keyword != "ONBUILD" or p.node.sub is None:
            continue
        line, column = st.node.line, st.node.column
        sub = msgspec.structs.replace(
            p.node.sub,
            line=line,
            end_line=st.node.end_line,
            column=column,
            flags=[msgspec.structs.replace(f, line=line, column=column) for f in p.node.sub.flags],
        )
        out.append(parse_instruction(sub, df.filename, df.dialect))
    return out


def _source_names(p: Parsed) -> list[str]:
    """The names behind ``sources[id(p)]``, in the same order."""
    if p.node.keyword == "COPY" and p.strings.get("from"):
        return [p.strings["from"]]
    if p.node.keyword == "RUN":
        return [_mount_from(f.value) for f in p.node.flags if f.name == "mount" and f.value is not None]
    return []


_REF_CHARS = lazy(r"[A-Za-z0-9._:/@+-]+\Z")


def image_name_error(name: str) -> str | None:
    """Why ``distribution/reference.ParseNormalizedNamed`` rejects ``name`` (None: it does not)."""
    if re.fullmatch(r"[a-f0-9]{64}", name):
        return f"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
    i = name.find("/")
    if i == -1 or (
        not any(c in name[:i] for c in ".:") and name[:i] != "localhost" and name[:i].lower() == name[:i]
    ):
        domain, remainder = "docker.io", name
    else:
        domain, remainder = name[:i], name[i + 1 :]
    if domain in ("docker.io", "index.docker.io") and "/" not in remainder:
        remainder = "library/" + remainder
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        return f"invalid reference format: repository name ({remote}) must be lowercase"
    if not _REF_CHARS.match(name):
        return "invalid reference format"
    from cacheinspect.errors import ReferenceError_
    from cacheinspect.reference import parse_reference

    try:
        parse_reference(name)
    except ReferenceError_:
        return "invalid reference format"
    return None


def _replace_invalid(text: str) -> str:
    return "".join("\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text)


def _mount_from(value: str) -> str:
    """The ``from=`` of a mount as parse time sees it (no expansion; a CSV error is raised later)."""
    frm = ""
    try:
        fields = csv_fields(value)
    except ValueError:
        return ""
    for f in fields:
        k, eq, v = f.partition("=")
        if eq and k.lower() == "from":
            frm = v
    return frm


def _check_cycles(
    df: Dockerfile,
    stages: list[Stage],
    groups: list[tuple[Parsed, list[Parsed]]],
    sources: dict[int, list[Stage | None]],
) -> None:
    """``validateCircularDependency`` over COPY --from / mount sources (a stage copying from itself
    is a cycle too)."""
    dep_lines: dict[int, dict[int, int]] = {}
    for st, (_fp, cmds) in zip(stages, groups, strict=True):
        m: dict[int, int] = {}
        for p in cmds:
            for s in sources.get(id(p), []):
                if s is not None and s.index not in m:
                    m[s.index] = p.node.line
        dep_lines[st.index] = m
    visited: set[int] = set()

    def visit(start: int) -> int | None:
        """Depth first from *start* in BuildKit's order, with an explicit stack (no recursion limit):
        the line of the command that closes a cycle, or None."""
        if start in visited:
            return None
        visited.add(start)
        on_path = {start}
        stack = [(start, iter(dep_lines[start].items()))]
        while stack:
            node, deps = stack[-1]
            for dep, line in deps:
                if dep in on_path:
                    return line
                if dep not in visited:
                    visited.add(dep)
                    on_path.add(dep)
                    stack.append((dep, iter(dep_lines[dep].items())))
                    break
            else:
                stack.pop()
                on_path.discard(node)
        return None

    for st in stages:
        line = visit(st.index)
        if line is not None:
            name = st.name or f"stage-{st.index}"
            raise DockerfileError(
                f"circular dependency detected on stage: {name}", file=df.filename, line=line
            )


def _expand(df: Dockerfile, lex: Lexer, node: Node, word: str, env: Mapping[str, str]) -> str:
    try:
        return lex.process_word(word, env).result
    except LexError as e:
        raise _err(df, node, str(e)) from None


def _dispatch(
    df: Dockerfile,
    lex: Lexer,
    st: Stage,
    state: _State,
    p: Parsed,
    srcs: list[Stage | None],
    dispatched: set[int],
    bargs: Mapping[str, str],
    global_vars: Mapping[str, str],
) -> Instr:
    node = p.node
    kw = node.keyword
    ins = Instr(
        node=node,
        keyword=kw,
        line=node.line,
        column=node.column,
        env=state.env.snapshot(),
        args_in_scope=state.args.snapshot(),
        workdir=state.workdir,
        user=state.user,
        shell=list(state.shell),
        vars=state.vars.snapshot(),
    )
    v = state.vars

    def ex(word: str) -> str:
        return _expand(df, lex, node, word, v)

    if kw == "ENV":
        pairs = [(ex(node.args[j]), ex(node.args[j + 1])) for j in range(0, len(node.args), 3)]
        for k, val in pairs:
            state.vars[k] = val
            state.env[k] = val
        ins.values = [(k, val) for k, val in pairs]
    elif kw == "LABEL":
        ins.values = [(ex(node.args[j]), ex(node.args[j + 1])) for j in range(0, len(node.args), 3)]
    elif kw == "ARG":
        for a in node.args:
            key, eq, default = a.partition("=")
            value: str | None = None
            if df.dialect == "v0.13":
                # v0.13 ran ArgCommand.Expand first: key and default expanded even if overridden
                key = ex(key)
                default = ex(default) if eq else default
            has_value = key in bargs
            if not eq and not has_value and key in global_vars:
                value = global_vars[key]
            if has_value:
                value = bargs[key]
            elif eq:
                value = default if df.dialect == "v0.13" else ex(default)
            if value is not None:
                state.vars[key] = value
                state.args[key] = value
            ins.values.append((key, value))
    elif kw == "WORKDIR":
        try:
            r = lex.process_word(node.args[0], v)
        except LexError as e:
            raise _err(df, node, str(e)) from None
        wd = r.result
        if wd == "":
            # util/system NormalizePath: an empty WORKDIR keeps the current one (no error; the test bed's
            # v0.13 builds `WORKDIR $UNSET` with pwd "/"). When an unset variable made it empty and the
            # base image's ENV is unseen (jupyter/docker-stacks: WORKDIR "${HOME}"), BuildKit may well
            # have had a value: the WORKDIR is then unknown.
            if r.unmatched and not state.image_known:
                state.workdir_known = False
            ins.words = [state.workdir]
            return ins
        if not wd.startswith("/"):
            wd = go_path_clean(posixpath.join(state.workdir or "/", wd))
        else:
            state.workdir_known = True
        state.workdir = wd
        ins.words = [wd]
    elif kw == "USER":
        state.user = ex(node.args[0])
        ins.words = [state.user]
    elif kw in ("VOLUME", "STOPSIGNAL"):
        results = []
        for a in node.args:
            try:
                results.append(lex.process_word(a, v))
            except LexError as e:
                raise _err(df, node, str(e)) from None
        ins.words = [r.result for r in results]
        if kw == "VOLUME" and any(
            r.result == "" and not (r.unmatched and not state.image_known) for r in results
        ):
            raise _err(df, node, "VOLUME specified can not be an empty string")
    elif kw == "EXPOSE":
        words: list[str] = []
        for a in node.args:
            try:
                words += lex.process_words(a, v)
            except LexError as e:
                raise _err(df, node, str(e)) from None
        ins.words = words
    elif kw == "SHELL":
        state.shell = list(node.args)
    elif kw == "RUN":
        _dispatch_run(df, lex, st, state, p, ins, srcs, dispatched)
    elif kw in ("COPY", "ADD"):
        _dispatch_copy(df, lex, st, state, p, ins, srcs, dispatched)
    return ins


def _dispatch_run(
    df: Dockerfile,
    lex: Lexer,
    st: Stage,
    state: _State,
    p: Parsed,
    ins: Instr,
    srcs: list[Stage | None],
    dispatched: set[int],
) -> None:
    node = p.node
    ins.network = p.strings.get("network", "default")
    ins.security = p.strings.get("security", "sandbox")
    ins.heredocs = list(node.heredocs)
    ssh_index = 0
    for fl in node.flags:
        if fl.name != "mount" or fl.value is None:
            continue
        m = parse_mount(
            fl.value,
            workdir=state.workdir,
            line=fl.line,
            column=fl.column,
            filename=df.filename,
            env=state.vars,
            escape=df.escape,
            ssh_index=ssh_index,
            dialect=df.dialect,
            workdir_known=state.workdir_known,
        )
        if m.type == "ssh":
            ssh_index += 1
        ins.mounts.append(m)
    for m, s in zip(ins.mounts, srcs, strict=False):
        if m.from_ and s is not None and s.index not in dispatched:
            raise _err(
                df,
                node,
                f'cannot mount from stage "{m.from_}" to "{m.target}", stage needs to be defined before current command',
            )
    if node.json_form:
        ins.run_cmd = list(node.args)  # already decoded by the JSON parser (U+FFFD for bad bytes)
        return
    args = list(node.args)
    if node.heredocs:
        first = parse_heredoc_word(args[0], df.dialect) if len(args) == 1 else None
        if first is not None:
            data = node.heredocs[0].content
            if node.heredocs[0].chomp:
                data = chomp_heredoc(data)
            if data.startswith("#!"):
                args = ["/dev/pipes/" + node.heredocs[0].name]
            else:
                args = [data]
        else:
            parts = [args[0] if args else ""]
            for h in node.heredocs:
                parts += ["\n", h.content, h.name]
            args = ["".join(parts)]
    # the OCI runtime spec is JSON: invalid UTF-8 reaches the container as U+FFFD
    ins.run_cmd = _replace_invalid(" ".join(args))


def _dispatch_copy(
    df: Dockerfile,
    lex: Lexer,
    st: Stage,
    state: _State,
    p: Parsed,
    ins: Instr,
    srcs: list[Stage | None],
    dispatched: set[int],
) -> None:
    node = p.node
    kw = node.keyword
    v = state.vars

    def ex(word: str) -> str:
        return _expand(df, lex, node, word, v)

    ins.chown = ex(p.strings.get("chown", ""))
    ins.chmod = ex(p.strings.get("chmod", ""))
    if kw == "ADD":
        ins.checksum = ex(p.strings.get("checksum", ""))
        ins.keep_git_dir = p.bools["keep-git-dir"] if "keep-git-dir" in p.used else None
        ins.unpack = p.bools["unpack"] if "unpack" in p.used else None
    ins.link = p.bools.get("link", False)
    ins.parents = p.bools.get("parents", False)
    ins.excludes = list(p.lists.get("exclude", []))
    if kw == "COPY" and p.strings.get("from"):
        ins.from_ = p.strings["from"]
        ins.from_stage = srcs[0] if srcs else None
        if ins.from_stage is not None and ins.from_stage.index not in dispatched:
            raise _err(
                df,
                node,
                f'cannot copy from stage "{ins.from_}", it needs to be defined before current stage '
                f'"{st.name or f"stage-{st.index}"}"',
            )
    docs = {h.name: h for h in node.heredocs}
    raw_lex = Lexer("\\", skip_process_quotes=True, dialect=df.dialect)
    for src in node.args[:-1]:
        h = parse_heredoc_word(src, df.dialect)
        if h is not None:
            doc = docs.get(h.name)
            content = doc.content if doc is not None else ""
            if h.chomp:
                content = chomp_heredoc(content)
            if h.expand:
                try:
                    content = raw_lex.process_word(content, v).result
                except LexError as e:
                    raise _err(df, node, str(e)) from None
            ins.sources.append(CopySource(path=h.name, is_heredoc=True, heredoc=doc, content=content))
            continue
        path = ex(src)
        cs = CopySource(path=path)
        if _is_git(path):
            cs.is_git = True
        elif _is_url(path):
            cs.is_url = True
        if kw == "COPY" and (cs.is_git or cs.is_url) and not ins.from_:
            raise _err(df, node, f"source can't be a {'git ref' if cs.is_git else 'URL'} for COPY")
        ins.sources.append(cs)
    ins.dest = ex(node.args[-1])
    _check_chmod_checksum(df, node, ins)


_SYMBOLIC_MODE = lazy(r"([ugoa]*([-+=]([rwxXst]*|[ugo]))+)(,[ugoa]*([-+=]([rwxXst]*|[ugo]))+)*\Z")
_DIGEST = lazy(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):(.*)\Z")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def _check_chmod_checksum(df: Dockerfile, node: Node, ins: Instr) -> None:
    """``convert_copy.go`` ``dispatchCopy`` checks of ``--chmod`` and ADD ``--checksum``."""
    v013 = df.dialect == "v0.13"
    if ins.chmod and not v013:  # v0.13 silently ignored a chmod it could not parse
        if re.fullmatch(r"[0-7]+", ins.chmod):
            ok = int(ins.chmod, 8) <= 0o7777
        else:
            ok = not re.fullmatch(r"[+-]?[0-9]+", ins.chmod) and bool(_SYMBOLIC_MODE.match(ins.chmod))
        if not ok:
            raise _err(
                df,
                node,
                f"invalid chmod parameter: '{ins.chmod}'. it should be octal string and between 0 and 07777",
            )
    if ins.keyword != "ADD" or not ins.checksum:
        return
    if v013:
        m = _DIGEST.match(ins.checksum)
        if m is None:
            raise _err(df, node, "invalid checksum digest format")
        want = _DIGEST_HEX.get(m.group(1))
        if want is None:
            raise _err(df, node, "unsupported digest algorithm")
        if len(m.group(2)) != want:
            raise _err(df, node, "invalid checksum digest length")
        if not re.fullmatch(r"[a-f0-9]+", m.group(2)):
            raise _err(df, node, "invalid checksum digest format")
    paths = [s for s in ins.sources if not s.is_heredoc]
    if len(paths) != 1:
        raise _err(df, node, "checksum can't be specified for multiple sources")
    if v013:
        if not paths[0].is_url or paths[0].is_git:
            raise _err(df, node, "checksum can't be specified for non-HTTP sources")
    elif not (paths[0].is_url or paths[0].is_git):
        raise _err(df, node, "checksum requires HTTP(S) or Git sources")
