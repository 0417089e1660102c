"""The data types of the Dockerfile front end: the raw parse (``Dockerfile``/``Node``) and the resolved
build (``Build``/``Stage``/``Instr``), split the way BuildKit splits ``frontend/dockerfile/parser`` (a
dumb, exact line parser) from ``instructions/parse.go`` + ``dockerfile2llb/convert.go`` (typed
instructions, stages, ARG/ENV expansion).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from cacheinspect.errors import UsageError

__all__ = [
    "BaseImage",
    "Build",
    "CopySource",
    "Dockerfile",
    "DockerfileError",
    "Flag",
    "Heredoc",
    "Instr",
    "Mount",
    "Node",
    "Stage",
    "Warning_",
]


class DockerfileError(UsageError):
    """A Dockerfile BuildKit would refuse, located at ``file:line`` (1-based physical line).

    ``str(err)`` is ``"Dockerfile:12: unknown flag: --foo"``; the message after the location is
    BuildKit's own text wherever BuildKit has one, so users can search for it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "Dockerfile",
        line: int = 0,
        column: int = 0,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.reason = message
        where = f"{file}:{line}" if line > 0 else file
        super().__init__(f"{where}: {message}", hint=hint)


class BaseImage(msgspec.Struct, frozen=True):
    """What BuildKit reads from a base image's config before dispatching a stage (``convert.go``:
    ``Env`` into the state's environment, ``WorkingDir`` and ``User`` as if by WORKDIR/USER, ``Shell``
    for shell-form RUN). From the registry, or from host A's published evidence."""

    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    shell: tuple[str, ...] = ()


class Flag(msgspec.Struct):
    """One ``--name[=value]`` builder flag as written (quotes removed the way BuildKit's
    ``parser/split_command.go`` removes them; ``value`` is ``None`` when there was no ``=``)."""

    name: str
    value: str | None
    line: int
    column: int

    @property
    def raw(self) -> str:
        """The flag as BuildKit's ``BFlags`` sees it: ``--name=value`` or ``--name``."""
        return f"--{self.name}" if self.value is None else f"--{self.name}={self.value}"


class Heredoc(msgspec.Struct):
    """A here-document attached to an instruction (``parser.Heredoc``).

    ``content`` is exactly the lines between the opening line and the terminator, newlines included,
    *not* chomped (BuildKit chomps ``<<-`` documents later, when it uses them). ``expand`` is false
    when any part of the word is quoted (``<<"EOF"``, ``<<'EOF'``, ``<<E"O"F``).
    """

    name: str
    content: str
    expand: bool
    chomp: bool
    file_descriptor: int = 0


class Warning_(msgspec.Struct):
    """A parser warning (BuildKit only has one: an empty line inside a continuation)."""

    message: str
    line: int


class Node(msgspec.Struct):
    """One instruction of the raw parse (``parser.Node`` of the AST's children).

    ``args`` follows BuildKit's ``instructions.nodeArgs``: the JSON array for exec form; one string for
    shell-form RUN/CMD/ENTRYPOINT/SHELL (and for USER, WORKDIR, STOPSIGNAL, MAINTAINER); the words for
    FROM/COPY/ADD/EXPOSE/VOLUME/ARG; ``[key, value, sep]`` triples for ENV and LABEL (``sep`` is ``"="``
    for ``k=v`` and ``""`` for the legacy ``ENV k v`` form); ``[TYPE, cmd…]`` for HEALTHCHECK; for
    ONBUILD ``[KEYWORD, sub-args…]`` with the parsed trigger in ``sub``.
    """

    keyword: str
    line: int
    end_line: int
    column: int
    original: str
    flags: list[Flag] = msgspec.field(default_factory=list)
    args: list[str] = msgspec.field(default_factory=list)
    json_form: bool = False
    heredocs: list[Heredoc] = msgspec.field(default_factory=list)
    raw_keyword: str = ""
    sub: Node | None = None
    comments: list[str] = msgspec.field(default_factory=list)

    def flag(self, name: str) -> Flag | None:
        """The last flag called ``name`` (BuildKit rejects duplicates except for list flags)."""
        found = None
        for f in self.flags:
            if f.name == name:
                found = f
        return found


class Dockerfile(msgspec.Struct, dict=True):
    """The raw parse: directives, escape token and all instructions (global ARGs included)."""

    filename: str
    directives: dict[str, str]
    escape: str
    nodes: list[Node]
    warnings: list[Warning_] = msgspec.field(default_factory=list)
    #: which BuildKit's rules apply: "latest" (master) or "v0.13" (Docker 26's embedded frontend)
    dialect: str = "latest"
    # ``_checked`` (in the instance dict, not a field): the ``instructions.check_nodes`` result of
    # parse_dockerfile, for the same nodes and dialect, so resolve() does not check every instruction
    # a second time (a third of its time on big files)


class Mount(msgspec.Struct):
    """A ``RUN --mount`` as BuildKit's ``instructions/commands_runmount.go`` parses it, with the
    defaults ``dockerfile2llb/convert_runmount.go`` applies (target joined to WORKDIR, cache id =
    cleaned target, read-only for bind/secret/ssh unless ``rw``)."""

    type: str = "bind"
    target: str = ""
    id: str = ""
    source: str = ""
    from_: str = ""
    sharing: str = "shared"
    readonly: bool = True
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int = 0
    env: str | None = None
    line: int = 0
    column: int = 0
    raw: str = ""


class CopySource(msgspec.Struct):
    """One source of COPY/ADD: a path (expanded), a heredoc, a URL or a git repository."""

    path: str
    is_heredoc: bool = False
    heredoc: Heredoc | None = None
    is_url: bool = False
    is_git: bool = False
    content: str | None = None


class Instr(msgspec.Struct, eq=False):
    """One instruction of a stage after expansion (``Expand`` applied where BuildKit applies it).

    ``env``/``args_in_scope``/``workdir``/``user``/``shell`` are the state *before* this instruction.
    Keyword-specific fields stay at their defaults for other keywords.
    """

    node: Node
    keyword: str
    line: int
    column: int
    env: Mapping[str, str]  # read-only snapshots (persistent maps: resolve._Tracked)
    args_in_scope: Mapping[str, str]
    workdir: str
    user: str
    shell: list[str]
    # RUN
    run_cmd: list[str] | str | None = None
    mounts: list[Mount] = msgspec.field(default_factory=list)
    network: str = "default"
    security: str = "sandbox"
    heredocs: list[Heredoc] = msgspec.field(default_factory=list)
    # COPY / ADD
    sources: list[CopySource] = msgspec.field(default_factory=list)
    dest: str = ""
    from_: str | None = None
    from_stage: Stage | None = None
    chmod: str = ""
    chown: str = ""
    link: bool = False
    parents: bool = False
    excludes: list[str] = msgspec.field(default_factory=list)
    keep_git_dir: bool | None = None
    checksum: str = ""
    unpack: bool | None = None
    # ENV / ARG / LABEL / WORKDIR / USER / others: the expanded values
    values: list[tuple[str, str | None]] = msgspec.field(default_factory=list)
    words: list[str] = msgspec.field(default_factory=list)
    #: the expansion environment before this instruction (image ENV + ENV + valued ARGs, in order)
    vars: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: an ONBUILD trigger of the base stage, run before the stage's own instructions
    onbuild: bool = False


class Stage(msgspec.Struct, eq=False):
    """A build stage: its FROM (expanded with the global ARGs) and its instructions."""

    index: int
    name: str | None
    base: str
    base_stage: Stage | None
    platform: str | None
    line: int
    node: Node
    instrs: list[Instr] = msgspec.field(default_factory=list)
    env: Mapping[str, str] = msgspec.field(default_factory=dict)  # read-only (a persistent map)
    workdir: str = "/"
    user: str = ""
    deps: list[Stage] = msgspec.field(default_factory=list)
    #: why BuildKit would fail this stage if it were needed (it is not, so the build does not fail)
    error: str | None = None

    def __repr__(self) -> str:
        return f"Stage(index={self.index}, name={self.name!r}, base={self.base!r})"


class Build(msgspec.Struct):
    """The resolved build: stages in file order, the target, the stages it needs."""

    stages: list[Stage]
    target: Stage
    needed: list[Stage]
    global_args: dict[str, str | None]
    build_args: dict[str, str] = msgspec.field(default_factory=dict)
    dockerfile: Dockerfile | None = None

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive) or index, as ``--target``/``COPY --from`` look it up."""
        if isinstance(ref, int):
            return self.stages[ref]
        for st in self.stages:
            if st.name is not None and st.name == ref.lower():
                return st
        raise KeyError(ref)
