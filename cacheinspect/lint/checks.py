"""The checks: a pure function of a resolved Dockerfile (:class:`~cacheinspect.dockerfile.Build`) to
findings.

One pass over the stages in file order keeps, per stage, what BuildKit will put in the stage's
filesystem (COPY/ADD destinations, what unmounted RUNs write) apart from what only ever lived in a
cache mount, plus the users created so far (for HOME and uid). Each RUN is read with
:mod:`cacheinspect.lint.shell` into simple commands and with :mod:`cacheinspect.lint.tools` into tool
uses; every rule then looks at those facts. Whenever a fact is unknown (a dynamic word, a user whose
home we cannot know, a shell that is not POSIX sh) the rule stays quiet: a finding is only ever drawn
from what BuildKit would certainly do.
"""

from __future__ import annotations

import bisect
import dataclasses
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from cacheinspect.dockerfile import Build, Dockerfile, Instr, Mount, Node, Stage
from cacheinspect.lint.images import BaseLookup
from cacheinspect.lint.rules import RULES_BY_CODE, Severity
from cacheinspect.lint.shell import Command, command_from_argv, glob_base, parse_script, resolve_path
from cacheinspect.lint.tools import (
    CacheDir,
    Output,
    ToolUse,
    analyse,
    copy_destination,
    covers,
    dynamic_prefixes,
    generic_outputs,
    generic_reads,
    is_non_rescue,
)

__all__ = ["Finding", "check_build"]

_ID_PROPS = ("from", "uid", "gid", "mode")
_KEEPCACHE = re.compile(r"keepcache\s*=\s*(1|true|True|yes)")
_KEEP_PACKAGES = re.compile(r"keeppackages\s*=\s*(1|true|yes)|--keep-packages|\bmr\s+(?:\S+\s+)*-k\b")
#: a pnpm version the Dockerfile installs (npm i -g pnpm@6, corepack prepare pnpm@8.15.0): the last one
#: wins. get.pnpm.io/v6.16.js is only the installer's version ("add --global pnpm" takes the latest).
_PNPM_VERSION = re.compile(r"pnpm@(\d+)")
#: a variable in a mount's target= (the mount then depends on it)
_TARGET_VARS = re.compile(r"(?:^|,)\s*(?:target|dst|destination)\s*=\s*([^,]*)", re.IGNORECASE)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
#: Text that shows a tool's configuration being changed (in a RUN, or a COPY destination).
_CONFIG_MARKERS: dict[str, tuple[str, ...]] = {
    "pip": ("pip config", "pip.conf", "PIP_CONFIG_FILE", "pip3 config"),
    "uv": ("uv.toml", "UV_CONFIG_FILE"),
    "poetry": ("poetry config", "poetry.toml"),
    "npm": ("npm config set", "npm set ", ".npmrc", "NPM_CONFIG_USERCONFIG"),
    "yarn": ("yarn config set", ".yarnrc"),
    "pnpm": ("pnpm config set", ".npmrc"),
    "go": ("go env -w",),
    "cargo": (".cargo/config",),
    "maven": ("settings.xml",),
    "gradle": ("gradle.properties",),
    "ccache": ("ccache.conf", "ccache -o", "ccache --set-config"),
}
#: stands for a WORKDIR that comes from an unseen base image config (never a real path: it is not
#: absolute-clean and no mount target can be under it)
UNKNOWN_WORKDIR = "/\u2026workdir"
_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
_APT_DIRS = ("/var/cache/apt", "/var/lib/apt")
_APT_SUBDIRS = frozenset({"/var/lib/apt/lists", "/var/cache/apt/archives", "/var/cache/apt"})
_DOCKER_CLEAN = "/etc/apt/apt.conf.d/docker-clean"
#: Last path components of a glob that match every entry of a directory (dot files included or not).
_MATCH_ALL = frozenset({"*", "**", ".*", ".[!.]*", "..?*", "{*,.*}", "{,.}*"})
_PASSWD_LINE = re.compile(r"^([A-Za-z_][\w.-]*):[^:]*:(\d+):(\d+):[^:]*:([^:]*):")
_KNOWN_USERS = {
    "root": (0, 0, "/root"),
    "node": (1000, 1000, "/home/node"),
    "nobody": (65534, 65534, "/nonexistent"),
    "www-data": (33, 33, "/var/www"),
    "daemon": (1, 1, "/usr/sbin"),
}
_READERS = frozenset(
    {
        "cp",
        "mv",
        "rsync",
        "tar",
        "cat",
        "install",
        "unzip",
        "zip",
        "ln",
        "diff",
        "cmp",
        "grep",
        "sed",
        "head",
        "tail",
        "md5sum",
        "sha256sum",
        "chmod",
        "chown",
        "source",
        ".",
        "sh",
        "bash",
        "node",
        "python",
        "python3",
        "pip",
        "pip3",
        "java",
        "dpkg",
        "rpm",
        "gzip",
        "gunzip",
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding; ``to_json`` is the ``cacheinspect.lint/v1`` finding object."""

    code: str
    severity: Severity
    file: str
    line: int
    column: int
    instruction: str
    message: str
    fix: str

    @property
    def name(self) -> str:
        return RULES_BY_CODE[self.code].name

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "line": self.line,
            "column": self.column,
            "instruction": self.instruction,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(slots=True)
class _User:
    name: str
    uid: int | None
    gid: int | None
    home: str | None
    is_root: bool

    @property
    def label(self) -> str:
        return self.name or "root"


@dataclass(slots=True)
class _Write:
    path: str
    line: int
    writer: str
    is_output: bool = True  # False: a tool's cache directory, left in the image by an unmounted RUN


@dataclass(slots=True)
class _CacheEvent:
    mount: Mount
    line: int
    stage: Stage
    outputs: list[tuple[Output, bool]] = field(default_factory=list)  # (output, rescued)


@dataclass(slots=True)
class _StageState:
    """What the walk knows about a stage so far. Lookups are by path, so a long Dockerfile stays linear:
    ``content``/``outputs`` map every written path *and each of its ancestors* to the first write at or
    under it (so "does the image have anything at or under P" is one dict lookup)."""

    users: dict[str, tuple[int | None, int | None, str]] = field(default_factory=dict)
    uids: dict[int, str] = field(default_factory=dict)
    content: dict[str, _Write] = field(default_factory=dict)  # any image content (outputs and caches)
    outputs: dict[str, _Write] = field(default_factory=dict)  # outputs only (for CM010)
    events: dict[str, list[_CacheEvent]] = field(default_factory=dict)  # cache mount target → RUNs
    # index of ``events`` so a read looks at the targets around its path, not at every target so far
    # (n RUNs with their own cache mount made CM002 n²): each target's position in ``events``, the
    # targets strictly under each directory, and targets that are not clean absolute paths
    event_order: dict[str, int] = field(default_factory=dict)
    events_under: dict[str, list[str]] = field(default_factory=dict)
    odd_targets: list[str] = field(default_factory=list)
    configured: set[str] = field(default_factory=set)  # tools whose configuration was changed
    keep_downloaded: bool = False  # some step set APT::Keep-Downloaded-Packages
    keepcache: bool = False  # some step set dnf/yum keepcache=1
    poetry_config: str = ""
    docker_clean_removed: bool = False
    #: an earlier step ran a script we cannot read (``RUN ./setup.sh``): it may have removed docker-clean
    docker_clean_unknown: str = ""
    keep_packages: bool = False  # zypper modifyrepo --keep-packages / keeppackages=1
    apk_cache_linked: bool = False  # /etc/apk/cache created (ln -s … /etc/apk/cache, setup-apkcache)
    pnpm_major: int | None = None  # the pnpm version the Dockerfile installs (pnpm@6 …)
    #: ENV/ARG names whose value was built from a variable only the (unknown) base image could set
    unknown_vars: set[str] = field(default_factory=set)
    #: the WORKDIR is known: an absolute WORKDIR was set, or the base image's config is known
    workdir_known: bool = True

    def child(self) -> _StageState:
        return _StageState(
            dict(self.users),
            dict(self.uids),
            dict(self.content),
            dict(self.outputs),
            {k: list(v) for k, v in self.events.items()},
            dict(self.event_order),
            {k: list(v) for k, v in self.events_under.items()},
            list(self.odd_targets),
            set(self.configured),
            self.keep_downloaded,
            self.keepcache,
            self.poetry_config,
            self.docker_clean_removed,
            self.docker_clean_unknown,
            self.keep_packages,
            self.apk_cache_linked,
            self.pnpm_major,
            set(self.unknown_vars),
            self.workdir_known,
        )

    def add_write(self, w: _Write) -> None:
        p = w.path
        while True:
            self.content.setdefault(p, w)
            if w.is_output:
                self.outputs.setdefault(p, w)
            if p == "/":
                break
            p = posixpath.dirname(p) or "/"

    def add_event(self, ev: _CacheEvent) -> None:
        t = ev.mount.target
        if t not in self.events:
            self.event_order[t] = len(self.event_order)
            if not t.startswith("/") or posixpath.normpath(t) != t or t.startswith("//"):
                self.odd_targets.append(t)
            else:
                p = t
                while p != "/":
                    p = posixpath.dirname(p)
                    self.events_under.setdefault(p, []).append(t)
        self.events.setdefault(t, []).append(ev)

    def event_targets_near(self, path: str) -> list[str]:
        """The targets that may cover *path* or lie under it, in ``events`` order (what a scan of
        every target with :func:`covers` would visit)."""
        found = list(self.odd_targets)
        p = path
        if p.startswith("/") and posixpath.normpath(p) == p and not p.startswith("//"):
            while True:
                if p in self.events:
                    found.append(p)
                if p == "/":
                    break
                p = posixpath.dirname(p)
            found += self.events_under.get(path, ())
        else:
            return list(self.events)  # not a clean path: no index applies
        found.sort(key=self.event_order.__getitem__)
        return found

    def add_text(self, text: str) -> None:
        """A RUN script, heredoc or COPY description: note the configuration it changes."""
        if "Keep-Downloaded-Packages" in text:
            self.keep_downloaded = True
        if _KEEPCACHE.search(text):
            self.keepcache = True
        if "poetry config" in text:
            self.poetry_config += text + "\n"
        if _KEEP_PACKAGES.search(text):
            self.keep_packages = True
        if "/etc/apk/cache" in text or "setup-apkcache" in text:
            self.apk_cache_linked = True
        for m in _PNPM_VERSION.finditer(text):
            self.pnpm_major = int(m.group(1))
        for tool, markers in _CONFIG_MARKERS.items():
            if tool not in self.configured and any(m in text for m in markers):
                self.configured.add(tool)


@dataclass(slots=True)
class _Pending:
    """A CM001 candidate: decided at the end, because a later RUN mounting the same cache may use it."""

    finding_args: dict[str, object]
    node: Node
    at: tuple[int, int]
    mount: Mount
    rel: str
    event: _CacheEvent
    index: int
    rescued: bool = False


@dataclass(slots=True)
class _Run:
    instr: Instr
    stage: Stage
    commands: list[Command]
    uses: list[ToolUse]
    user: _User
    cache_mounts: list[Mount]
    all_mounts: list[Mount]
    #: the base image's ENV is known (FROM scratch, a table row or a fetched config): a directory that
    #: an image variable could move is then known too
    env_known: bool = False
    unknown_mounts: list[Mount] = field(default_factory=list)  # target depends on an unseen variable
    rescue: _RescueIndex | None = None  # built on first use by _Checker._rescued


# "# cacheinspect: ignore" [ "=" codes ]. Parsed in two linear steps: the one regular expression this
# replaced had three overlapping whitespace quantifiers and backtracked cubically (a comment of 2,000
# spaces after "ignore=" took 9 s, a 64 KiB one hours).
_IGNORE_HEAD = re.compile(r"\s*cacheinspect\s*:\s*ignore")
_IGNORE_CODES = re.compile(r"[A-Za-z0-9,\s]+")


def _ignore_codes(comment: str) -> set[str] | Literal[False] | None:
    """For an ignore comment: None (every rule) or the codes it names; False for any other comment."""
    m = _IGNORE_HEAD.match(comment)
    if m is None:
        return False
    rest = comment[m.end() :]
    if rest.endswith("\n"):  # the "$" of the expression this replaced
        rest = rest[:-1]
    rest = rest.strip()
    if rest == "":
        return None
    if not rest.startswith("=") or not _IGNORE_CODES.fullmatch(rest[1:]):
        return False
    return {c.strip().upper() for c in rest[1:].split(",")}


def _ignored(node: Node, code: str) -> bool:
    """``# cacheinspect: ignore=CM009,CM004`` (or a bare ``# cacheinspect: ignore``) in the comment
    lines right above an instruction silences those findings for that instruction."""
    for comment in node.comments:
        codes = _ignore_codes(comment)
        if codes is None or (codes is not False and code in codes):
            return True
    return False


class _Checker:
    def __init__(
        self, build: Build, df: Dockerfile, filename: str, lines: list[str], bases: BaseLookup | None = None
    ) -> None:
        self.build = build
        self.df = df
        self.filename = filename
        self.lines = lines
        self.bases = bases
        self.notes: list[str] = []
        #: cache id → (line, what) of the last RUN that filled that cache mount with a download or build
        self.fills: dict[tuple[object, ...], tuple[int, str]] = {}
        self.apt_unlocked: list[tuple[Node, Mount, Stage, str, tuple[int, int]]] = []
        #: cache id → (line, what) of the last RUN whose apt-get update wrote the package lists into it
        self.apt_lists: dict[tuple[object, ...], tuple[int, str]] = {}
        self.sources: dict[int, _Source] = {}  # id(node) → its source text, for locate()
        self.findings: list[Finding] = []
        self.states: dict[int, _StageState] = {}
        self.ids: dict[str, tuple[tuple[str, int | None, int | None, int | None], int]] = {}
        self.pending: list[_Pending] = []
        self.pending_at: set[tuple[int, int]] = set()  # (id(node), command index) of each pending CM001
        self.pending_by_id: dict[tuple[object, ...], list[_Pending]] = {}
        self.runs: list[_Run] = []

    # --- reporting ------------------------------------------------------------------------------

    def report(self, code: str, node: Node, *, at: tuple[int, int] | None = None, **fields: object) -> None:
        self.emit(code, node, at, None, fields)

    def emit(
        self,
        code: str,
        node: Node,
        at: tuple[int, int] | None,
        severity: Severity | None,
        fields: dict[str, object],
    ) -> None:
        """One finding of *code* with the rule's message/fix filled from *fields*; *severity* overrides
        the rule's (CM006 is raised to a warning when two stages can run apt at once)."""
        rule = RULES_BY_CODE[code]
        if _ignored(node, code):
            return
        line, column = at if at else (node.line, node.column)
        self.findings.append(
            Finding(
                code=code,
                severity=severity if severity is not None else rule.severity,
                file=self.filename,
                line=line,
                column=column,
                instruction=" ".join(node.original.split()),
                message=rule.message.format(**fields),
                fix=rule.fix.format(**fields),
            )
        )

    def locate(self, node: Node, needle: str) -> tuple[int, int]:
        """Line and column of the first occurrence of *needle* within the instruction's source lines,
        outside its ``--mount=`` flags (which name the same paths)."""
        if needle and "\n" not in needle:
            src = self.sources.get(id(node))
            if src is None:
                src = self.sources[id(node)] = _Source(self.lines[node.line - 1 : node.end_line])
            found = src.find(needle)
            if found is not None:
                return node.line + found[0], found[1] + 1
        return node.line, node.column

    @staticmethod
    def mount_at(m: Mount, node: Node) -> tuple[int, int]:
        return (m.line, m.column) if m.line else (node.line, node.column)

    # --- users ----------------------------------------------------------------------------------

    def user_of(self, value: str, state: _StageState) -> _User:
        name, _, group = value.partition(":")
        if name in ("", "root", "0"):
            return _User("", 0, 0, "/root", True)
        gid = int(group) if group.isdigit() else None
        if name.isdigit():
            uid = int(name)
            known = state.uids.get(uid)
            home = state.users[known][2] if known else None
            return _User(name, uid, gid, home, uid == 0)
        if name in state.users:
            known_uid, g, home = state.users[name]
            return _User(name, known_uid, gid if gid is not None else g, home, known_uid == 0)
        if name in _KNOWN_USERS:
            uid, g, home = _KNOWN_USERS[name]
            return _User(name, uid, gid if gid is not None else g, home, False)
        return _User(name, None, gid, None, False)

    @staticmethod
    def learn_users(cmds: Iterable[Command], state: _StageState) -> None:
        for c in cmds:
            args = [w.text for w in c.argv[1:]]
            if c.name in ("useradd", "adduser"):
                uid = gid = None
                home = None
                names: list[str] = []
                k = 0
                while k < len(args):
                    a = args[k]
                    val = args[k + 1] if k + 1 < len(args) else ""
                    if a in ("-u", "--uid"):
                        uid = int(val) if val.isdigit() else None
                        k += 2
                        continue
                    if a in ("-g", "--gid", "-G", "--ingroup"):
                        gid = int(val) if val.isdigit() else gid
                        k += 2
                        continue
                    if a in ("-d", "--home-dir", "-h", "--home"):
                        home = val
                        k += 2
                        continue
                    if a in ("-s", "--shell", "-c", "--comment", "--gecos", "-k", "-K", "-e", "-f", "-p"):
                        k += 2
                        continue
                    if not a.startswith("-"):
                        names.append(a)
                    k += 1
                if names:
                    name = names[0]
                    state.users[name] = (uid, gid, home or f"/home/{name}")
                    if uid is not None:
                        state.uids[uid] = name
            if any(r.writes and r.target.text == "/etc/passwd" for r in c.redirects) and c.name in (
                "echo",
                "printf",
            ):
                for a in args:
                    for line in a.replace("\\n", "\n").splitlines():
                        m = _PASSWD_LINE.match(line)
                        if m:
                            name, uid, gid, home = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
                            state.users[name] = (uid, gid, home or "/")
                            state.uids[uid] = name

    # --- the walk -------------------------------------------------------------------------------

    def run(self, stages: list[Stage]) -> list[Finding]:
        for stage in stages:
            base = self.states.get(stage.base_stage.index) if stage.base_stage is not None else None
            state = base.child() if base is not None else _StageState()
            if base is None:
                cfg = self.base_of(stage)
                if getattr(cfg, "removes_docker_clean", None):
                    state.docker_clean_removed = True
                state.workdir_known = self.env_known(stage)
            self.states[stage.index] = state
            for ins in stage.instrs:
                if ins.keyword == "RUN":
                    self.on_run(ins, stage, state)
                elif ins.keyword in ("COPY", "ADD"):
                    self.on_copy(ins, stage, state)
                elif ins.keyword in ("CMD", "ENTRYPOINT"):
                    self.on_cmd(ins, stage, state)
                elif ins.keyword in ("ENV", "ARG"):
                    self.on_env(ins, stage, state)
                elif ins.keyword == "WORKDIR" and ins.node.args and ins.node.args[0].startswith("/"):
                    state.workdir_known = True
        for p in self.pending:
            if not p.rescued:
                node, at = p.node, p.at
                self.report("CM001", node, at=at, **p.finding_args)
        self.decide_apt_locked()
        self.findings.sort(key=lambda f: (f.line, f.column, f.code))
        # one finding per line per rule: a RUN with three `pip install --no-cache-dir` says it once
        seen: set[tuple[str, int]] = set()
        unique: list[Finding] = []
        for f in self.findings:
            if (f.code, f.line) not in seen:
                seen.add((f.code, f.line))
                unique.append(f)
        self.findings = unique
        return self.findings

    def env_known(self, stage: Stage) -> bool:
        """The base image's ENV/WORKDIR/USER are known for *stage*: its chain starts at a literal
        ``FROM scratch`` (not ``FROM ${TOOLCHAIN}`` with a placeholder default), or at an image the
        base lookup knows."""
        root = stage
        while root.base_stage is not None:
            root = root.base_stage
        raw = root.node.args[0] if root.node is not None and root.node.args else root.base
        if raw.strip().lower() == "scratch":
            return True
        return self.bases is not None and self.bases(root.base) is not None

    def base_of(self, stage: Stage) -> object | None:
        root = stage
        while root.base_stage is not None:
            root = root.base_stage
        return self.bases(root.base) if self.bases is not None and root.base != "scratch" else None

    # --- ENV / ARG -------------------------------------------------------------------------------

    def on_env(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        """``ENV GOMODCACHE=$GOPATH/pkg/mod`` FROM an image we do not know: GOPATH may come from that
        image, so the value is unknown (not ``/pkg/mod``) and no rule may build on it."""
        known = self.env_known(stage)
        args = ins.node.args
        pairs: list[tuple[str, str]] = []
        if ins.keyword == "ENV":
            pairs = [(args[j], args[j + 1]) for j in range(0, len(args) - 1, 3)]
        else:
            pairs = [(a.partition("=")[0], a.partition("=")[2]) for a in args]
        for raw_key, raw_value in pairs:
            key = raw_key.strip()
            names = _VAR.findall(raw_value)
            if (not known and any(n not in ins.vars or n in state.unknown_vars for n in names)) or any(
                n in state.unknown_vars for n in names
            ):
                state.unknown_vars.add(key)
            else:
                state.unknown_vars.discard(key)

    # --- COPY / ADD -----------------------------------------------------------------------------

    def on_copy(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        dest = resolve_path(ins.dest or ".", ins.workdir or "/") if ins.dest else ins.workdir or "/"
        dir_dest = (ins.dest or "").endswith("/") or len(ins.sources) > 1
        src_state = self.states.get(ins.from_stage.index) if ins.from_stage is not None else None
        for src in ins.sources:
            if src.is_url or src.is_git or src.is_heredoc:
                path = dest if not dir_dest else posixpath.join(dest, posixpath.basename(src.path) or "")
            else:
                base = posixpath.basename(src.path.rstrip("/"))
                path = (
                    posixpath.join(dest, base)
                    if dir_dest and base not in ("", ".") and "*" not in base
                    else dest
                )
            state.add_write(_Write(path, ins.line, f"{ins.keyword} at"))
            if (
                src_state is not None
                and ins.from_stage is not None
                and not (src.is_url or src.is_git or src.is_heredoc)
            ):
                spath = resolve_path(src.path, "/")
                if any(ch in spath for ch in "*?["):
                    spath = glob_base(spath)
                self.check_cache_only_read(
                    ins.node,
                    src_state,
                    ins.from_stage,
                    spath,
                    f"COPY --from={ins.from_}",
                    partial(self.locate, ins.node, src.path),
                )
        state.add_text(f"{ins.keyword} {' '.join(s.path for s in ins.sources)} {dest}")
        if dest == _DOCKER_CLEAN or (
            dest.startswith("/etc/apt/apt.conf.d") and any("docker-clean" in s.path for s in ins.sources)
        ):
            state.docker_clean_removed = True
        for src in ins.sources:
            if src.heredoc is not None:
                state.add_text(src.heredoc.content)
            if dest.startswith("/etc/apt/apt.conf.d") or dest.startswith("/etc/dnf"):
                state.add_text("Keep-Downloaded-Packages true keepcache=1 (copied configuration)")

    def on_cmd(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        args = ins.node.args
        words: list[str] = []
        if ins.node.json_form:
            words = [a for a in args if a.startswith("/")]
        elif args:
            cmds = parse_script(args[0], env={}, cwd=ins.workdir or "/")
            words = [
                c.argv[0].text
                for c in cmds[:1]
                if c.argv and c.argv[0].static and c.argv[0].text.startswith("/")
            ]
        for w in words:
            self.check_cache_only_read(
                ins.node, state, stage, resolve_path(w, "/"), ins.keyword, partial(self.locate, ins.node, w)
            )

    # --- CM002 ----------------------------------------------------------------------------------

    def check_cache_only_read(
        self,
        node: Node,
        state: _StageState,
        stage: Stage,
        path: str,
        reader: str,
        at: tuple[int, int] | Callable[[], tuple[int, int]],
    ) -> bool:
        """*at* may be a function: locating a word in the instruction's text is paid only for a finding."""
        for t in state.event_targets_near(path):
            evs = state.events[t]
            direct = covers(t, path)
            if not direct and not covers(path, t):
                continue
            lost = [o for ev in evs for o, rescued in ev.outputs if not rescued]
            if not direct and not lost:
                continue
            probe = [path] if direct else [o.path for o in lost]
            # content the image has at (or inside) the path: then it existed outside the mount too. A write
            # to a strict ancestor (COPY . /app) does not count: it cannot be told from here.
            if any(p in state.content for p in probe):
                continue
            ev = next((e for e in evs if any(not r for _o, r in e.outputs)), evs[0]) if not direct else evs[0]
            where = f"stage {ev.stage.name!r}" if ev.stage.name else f"stage {ev.stage.index}"
            self.report(
                "CM002",
                node,
                at=at if isinstance(at, tuple) else at(),
                reader=reader,
                path=path if direct else lost[0].path,
                target=t,
                where=where,
                line=ev.line,
                state="absent or whatever the image had there before"
                if direct
                else "missing from what is copied",
            )
            return True
        return False

    # --- RUN ------------------------------------------------------------------------------------

    def commands_of(
        self, ins: Instr, env: dict[str, str], unknown: set[str] | None = None
    ) -> list[Command] | None:
        shell = ins.shell or ["/bin/sh", "-c"]
        cmd = ins.run_cmd
        if cmd is None:
            return None
        unknown = unknown or set()
        if isinstance(cmd, list):
            return command_from_argv(cmd, env=env, cwd=ins.workdir or "/", unknown=unknown)
        if posixpath.basename(shell[0]) not in _POSIX_SHELLS:
            return None
        first = cmd.lstrip().split("\n", 1)[0]
        if first.startswith("#!") and not any(s in first for s in ("sh", "bash")):
            return None
        return parse_script(cmd, env=env, cwd=ins.workdir or "/", unknown=unknown)

    def on_run(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        user = self.user_of(ins.user, state)
        # What the RUN's process gets: ENV and ARG values in one namespace, the later one winning
        # (convert.go dispatchArg: AddEnv), not ENV over ARG
        env = dict(ins.vars)
        if user.home is not None:
            env.setdefault("HOME", user.home)
        if not state.workdir_known:
            # the base image's WORKDIR is unseen: relative paths land under a directory we cannot name
            ins = dataclasses.replace(
                ins, workdir=posixpath.join(UNKNOWN_WORKDIR, (ins.workdir or "/").lstrip("/"))
            )
        commands = self.commands_of(ins, env, state.unknown_vars)
        env_known = self.env_known(stage)
        unknown = [
            m
            for m in ins.mounts
            if self.target_unknown(m, ins, state.unknown_vars, env_known)
            or (
                not state.workdir_known
                and any(not v.strip().startswith("/") for v in _TARGET_VARS.findall(m.raw))
            )
        ]
        for m in unknown:
            self.notes.append(
                f"line {m.line or ins.line}: the mount target of {m.raw or m.target!r} uses a variable this "
                "Dockerfile does not set (the base image may): its path is unknown, so it was not checked"
            )
        all_cache = [m for m in ins.mounts if m.type == "cache"]
        cache_mounts = [m for m in all_cache if m not in unknown]
        self.check_ids(ins, all_cache)
        self.check_apt_locked(ins, cache_mounts, stage)
        self.check_owner(ins, all_cache, user)
        self.check_hidden(ins, cache_mounts, state)
        for m in ins.mounts:
            if m.type == "bind" and m.from_:
                try:
                    src_stage = self.build.stage(int(m.from_) if m.from_.isdigit() else m.from_)
                except (KeyError, IndexError):
                    continue
                src_state = self.states.get(src_stage.index)
                if src_state is not None:
                    self.check_cache_only_read(
                        ins.node,
                        src_state,
                        src_stage,
                        resolve_path(m.source or "/", "/"),
                        f"RUN --mount=type=bind,from={m.from_}",
                        self.mount_at(m, ins.node),
                    )
        if commands is None:
            return
        if isinstance(ins.run_cmd, str):
            state.add_text(ins.run_cmd)
        for c in commands:
            for doc in c.stdin:
                state.add_text(doc)
        poetry_config = state.poetry_config
        home = user.home if user.home is not None else f"~{user.label}"
        home_why = f"USER {user.label}, HOME={home}" if user.name else f"HOME={home}"
        uses: list[ToolUse] = []
        for c in commands:
            cu = user if c.user is None else self.user_of(c.user, state)
            chome = cu.home if cu.home is not None else f"~{cu.label}"
            if c.user is not None and "HOME" in c.env and c.user not in ("", "root"):
                c.env = {k: v for k, v in c.env.items() if k != "HOME"}  # env views are read-only
            u = analyse(
                c,
                home=chome if c.user is not None else home,
                home_why=home_why if c.user is None else f"USER {cu.label}, HOME={chome}",
                is_root=cu.is_root,
                poetry_config=poetry_config,
                pnpm_legacy=state.pnpm_major is not None and state.pnpm_major < 7,
            )
            if u is not None:
                uses.append(u)
        run = _Run(
            ins,
            stage,
            commands,
            uses,
            user,
            cache_mounts,
            [m for m in ins.mounts if m not in unknown],
            env_known,
            unknown,
        )
        self.runs.append(run)
        self.check_state_reads(run, state)
        self.check_pending_rescue(run)
        self.check_outputs(run, state)
        self.check_disabled(run)
        self.check_misplaced(run, state)
        self.check_package_cache(run, state)
        self.check_no_mount(run, state)
        self.check_run_reads(run, state)
        self.learn_users(commands, state)
        for c in commands:
            if c.name == "rm" and any(
                w.text == _DOCKER_CLEAN or (w.glob and w.text.startswith("/etc/apt/apt.conf.d/"))
                for w in c.argv[1:]
            ):
                state.docker_clean_removed = True
            if c.name == "mv" and any(w.text == _DOCKER_CLEAN for w in c.argv[1:]):
                state.docker_clean_removed = True
            if not state.docker_clean_removed and not state.docker_clean_unknown and _runs_script(c):
                state.docker_clean_unknown = f"line {ins.line} runs {_runs_script(c)}"
        self.note_fills(run)
        # what this RUN leaves in the image
        mounted = [m.target for m in ins.mounts]
        for u in uses:
            for o in u.outputs:
                if not any(covers(t, o.path) for t in mounted):
                    state.add_write(_Write(o.path, ins.line, f"{o.how} at"))
            if u.installs and not u.disabled:
                for cd in u.caches:
                    if not cd.path.startswith("~") and not any(
                        covers(t, cd.path) or covers(cd.path, t) for t in mounted
                    ):
                        state.add_write(_Write(cd.path, ins.line, f"{u.tool} at", is_output=False))
        for c in commands:
            for o in generic_outputs(c):
                if not any(covers(t, o.path) for t in mounted):
                    state.add_write(_Write(o.path, ins.line, f"{o.how} at"))

    @staticmethod
    def target_unknown(m: Mount, ins: Instr, unknown_vars: set[str], env_known: bool) -> bool:
        """The mount's target names a variable this Dockerfile never sets (``target=${PNPM_HOME}``
        FROM an image we do not know), or one built from such: BuildKit expands it with the image's
        ENV, we cannot."""
        if "$" not in m.raw:
            return False
        for value in _TARGET_VARS.findall(m.raw):
            for v in _VAR.findall(value):
                if v in unknown_vars or (not env_known and v not in ins.vars):
                    return True
        return False

    # --- CM011 ----------------------------------------------------------------------------------

    def note_fills(self, run: _Run) -> None:
        """Remember which cache mounts this RUN fills (a download or build into a mounted cache)."""
        for u in run.uses:
            if u.tool in _APT_TOOLS and u.action == "update":
                for m in run.cache_mounts:
                    if covers(m.target, _APT_LISTS):
                        self.apt_lists[_cache_key(m)] = (run.instr.line, f"{u.tool} update")
            if not u.installs or u.offline or u.disabled:
                continue
            for cd in u.caches:
                for m in run.cache_mounts:
                    if covers(m.target, cd.path) or covers(cd.path, m.target):
                        self.fills[_cache_key(m)] = (run.instr.line, f"{u.tool} {u.action}".strip())

    def check_state_reads(self, run: _Run, state: _StageState) -> None:
        """An offline install (``pnpm install --offline``, ``cargo build --offline``) reads only what is
        in its cache. When an earlier RUN filled that cache inside a cache mount and nothing in this
        RUN fetches, the step works only while this builder's mount still holds it."""
        ins = run.instr
        self.check_apt_lists(run)
        for u in run.uses:
            if not u.offline:
                continue
            if any(
                v.tool == u.tool and v.installs and not v.offline and v.command.index < u.command.index
                for v in run.uses
            ):
                continue  # fetched in this same RUN
            for cd in u.caches:
                if cd.build_dir:
                    continue
                mounted = next(
                    (m for m in run.cache_mounts if covers(m.target, cd.path) or covers(cd.path, m.target)),
                    None,
                )
                if mounted is not None:
                    filled = self.fills.get(_cache_key(mounted))
                    if filled is None:
                        continue
                    where = f"the cache mount {mounted.target}"
                else:
                    # not mounted here: did an earlier RUN fill that directory only inside a cache mount?
                    key = next(
                        (k for k, ev in state.events.items() if covers(k, cd.path) or covers(cd.path, k)),
                        None,
                    )
                    if key is None or cd.path in state.content:
                        continue
                    ev = state.events[key][-1]
                    filled = self.fills.get(_cache_key(ev.mount))
                    if filled is None:
                        continue
                    where = f"the cache mount {key} of line {filled[0]} (this RUN does not even mount it)"
                self.report(
                    "CM011",
                    ins.node,
                    at=self.locate(ins.node, u.command.argv[0].raw or u.tool),
                    reader=f"{u.tool} {u.action} (offline)".replace("  ", " "),
                    what=f"{u.tool}'s {cd.kind} {cd.path}",
                    where=where,
                    writer=filled[1],
                    line=filled[0],
                    fix=(
                        f"fetch and install in one RUN ({filled[1]} && {u.tool} {u.action} …), or drop the "
                        "offline flag (--prefer-offline reads the cache and still downloads what is missing)"
                    ),
                )
                break

    def check_apt_lists(self, run: _Run) -> None:
        """``apt-get install`` without ``apt-get update`` in the same RUN reads only the package lists
        (Dir::State::lists, /var/lib/apt/lists). When those are in a cache mount that an earlier RUN's
        ``apt-get update`` filled, they exist only there: Debian and Ubuntu images ship the directory
        empty, so on a fresh builder the install cannot locate its packages."""
        for u in run.uses:
            if u.tool not in _APT_TOOLS or u.action not in _APT_READS_LISTS:
                continue
            if u.command.name.startswith("xx-"):
                # tonistiigi/xx's xx-apt runs apt-get update itself whenever dpkg does not list the
                # target architecture yet (src/xx-apt: `dpkg --print-foreign-architectures | grep`)
                continue
            if any(
                v.tool in _APT_TOOLS and v.action == "update" and v.command.index < u.command.index
                for v in run.uses
            ):
                return  # the lists are fetched in this same RUN
            mounted = next((m for m in run.cache_mounts if covers(m.target, _APT_LISTS)), None)
            if mounted is None:
                return
            filled = self.apt_lists.get(_cache_key(mounted))
            if filled is None or filled[0] == run.instr.line:
                return
            self.report(
                "CM011",
                run.instr.node,
                at=self.locate(run.instr.node, u.command.argv[0].raw or u.tool),
                reader=f"{u.tool} {u.action}",
                what=f"apt's package lists {_APT_LISTS}",
                where=f"the cache mount {mounted.target}",
                writer=filled[1],
                line=filled[0],
                fix=f"run {u.tool} update in this RUN before {u.tool} {u.action}",
            )
            return

    # --- CM001 ----------------------------------------------------------------------------------

    def _outputs(self, run: _Run) -> list[tuple[Output, Command]]:
        outs: list[tuple[Output, Command]] = [(o, u.command) for u in run.uses for o in u.outputs]
        for c in run.commands:
            outs.extend((o, c) for o in generic_outputs(c))
        outs.sort(key=lambda oc: oc[1].index)
        return outs

    @staticmethod
    def _reads(c: Command, path: str) -> bool:
        return any(covers(path, r) or covers(r, path) for r in generic_reads(c))

    def _rescued(self, run: _Run, out: Output, after: int) -> bool:
        """Does a command after *after* read *out* (and not just copy it into a mount)?

        Answered from a per-RUN index (:class:`_RescueIndex`) when *out* is a clean absolute path: a
        heredoc of n commands each writing into the cache made the scan below n²."""
        if _is_clean(out.path):
            if run.rescue is None:
                run.rescue = _RescueIndex(self, run)
            return run.rescue.rescued(out, after)
        targets = [m.target for m in run.all_mounts]
        for c in run.commands:
            if c.index <= after or not c.argv or is_non_rescue(c):
                continue
            if out.node_modules and _runs_node_modules(c):
                return True
            # a word only partly known ("./target/$T/release/app") still reads inside its known start
            if not self._reads(c, out.path) and not any(covers(out.path, p) for p in dynamic_prefixes(c)):
                continue
            dest = copy_destination(c)
            if dest is not None and any(covers(t, dest) for t in targets):
                continue
            return True
        return False

    def check_outputs(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        events: dict[int, _CacheEvent] = {}
        for m in run.cache_mounts:
            ev = _CacheEvent(m, ins.line, run.stage)
            events[id(m)] = ev
            state.add_event(ev)
        tool_caches: dict[int, CacheDir] | None = None
        tools: dict[int, str] = {}
        for out, cmd in self._outputs(run):
            covering = [m for m in run.cache_mounts if covers(m.target, out.path)]
            if not covering:
                continue
            m = max(covering, key=lambda x: len(x.target))
            rescued = self._rescued(run, out, cmd.index)
            ev = events[id(m)]
            ev.outputs.append((out, rescued))
            if rescued:
                continue
            if tool_caches is None:  # the first such cache of each command's tool uses, built once
                tool_caches = {}
                for u in run.uses:
                    for cd in u.caches:
                        if not cd.path.startswith("~"):
                            tool_caches.setdefault(id(u.command), cd)
                tools = {}
                for u in reversed(run.uses):
                    tools[id(u.command)] = u.tool
            tool_cache = tool_caches.get(id(cmd))
            tool = tools.get(id(cmd), "")
            if tool == "poetry":
                fix = (
                    "set POETRY_VIRTUALENVS_IN_PROJECT=true (or POETRY_VIRTUALENVS_CREATE=false) so that the "
                    f"virtualenv is not created inside the cache mount {m.target}"
                )
            elif tool == "cargo" and out.how.startswith("cargo build"):
                fix = (
                    f"copy what the image needs out of {out.path} in this same RUN "
                    f"(for example && cp {out.path}/release/<binary> /usr/local/bin/)"
                )
            elif tool_cache is not None and not covers(m.target, tool_cache.path):
                fix = (
                    f"mount {cmd.name}'s own cache instead (--mount=type=cache,target={tool_cache.path}) "
                    f"and keep {out.path} outside any cache mount"
                )
            elif tool_cache is None:
                fix = f"copy the result out of {m.target} in this same RUN (for example cp -r {out.path} <a path in the image>)"
            else:
                fix = f"write {out.path} outside the cache mount {m.target}, or copy it out in this same RUN"
            at = self.locate(ins.node, out.path)
            if at == (ins.node.line, ins.node.column):
                at = self.locate(ins.node, cmd.argv[0].raw or cmd.name)
            self.pending.append(
                pend := _Pending(
                    {"how": out.how, "path": out.path, "target": m.target, "fix": fix},
                    ins.node,
                    at,
                    m,
                    posixpath.relpath(out.path, m.target),
                    ev,
                    cmd.index,
                )
            )
            self.pending_by_id.setdefault(_cache_key(m), []).append(pend)
            self.pending_at.add((id(ins.node), cmd.index))

    def check_pending_rescue(self, run: _Run) -> None:
        """A later RUN that mounts the same cache and reads the output rescues an earlier CM001."""
        for m in run.cache_mounts:
            waiting = self.pending_by_id.get(_cache_key(m))
            if not waiting:
                continue
            reads = [r for c in run.commands if not is_non_rescue(c) for r in generic_reads(c)]
            runs_node = any(_runs_node_modules(c) for c in run.commands if c.argv)
            if not reads and not runs_node:
                continue
            for p in waiting:
                path = posixpath.normpath(posixpath.join(m.target, p.rel))
                node_rescue = runs_node and any(o.node_modules for o, _r in p.event.outputs)
                if node_rescue or any(covers(path, r) or covers(r, path) for r in reads):
                    p.rescued = True
                    for k, (o, _r) in enumerate(p.event.outputs):
                        if o.path == p.finding_args["path"]:
                            p.event.outputs[k] = (o, True)
                    # ...but only through the cache: this RUN reads what the earlier one left in it
                    self.report(
                        "CM011",
                        run.instr.node,
                        at=self.mount_at(m, run.instr.node),
                        reader="this RUN",
                        what=f"{path} ({p.finding_args['how']})",
                        where=f"the cache mount {m.target}",
                        writer=str(p.finding_args["how"]).split(" (")[0],
                        line=p.node.line,
                        fix=(
                            f"copy {path} out of the cache mount in the RUN at line {p.node.line} "
                            f"(… && cp -r {path} <a path in the image>), and read that copy here"
                        ),
                    )
            self.pending_by_id[_cache_key(m)] = [p for p in waiting if not p.rescued]

    # --- CM002 from later RUNs -------------------------------------------------------------------

    def check_run_reads(self, run: _Run, state: _StageState) -> None:
        mounted = [m.target for m in run.all_mounts]
        own_outputs = {o.path for o, _c in self._outputs(run)}
        for c in run.commands:
            if not c.argv or c.argv[0].dynamic:
                continue
            candidates: list[str] = []
            if c.argv[0].text.startswith("/"):
                candidates.append(resolve_path(c.argv[0].text, "/"))
            if c.name in _READERS:
                candidates.extend(
                    generic_reads(c)[0:] if c.name not in ("chmod", "chown") else generic_reads(c)[1:]
                )
            for path in candidates:
                if path in own_outputs or any(covers(t, path) for t in mounted):
                    continue
                if self.check_cache_only_read(
                    run.instr.node,
                    state,
                    run.stage,
                    path,
                    f"{c.name} in RUN",
                    partial(self.locate, run.instr.node, path),
                ):
                    return

    # --- CM003 ----------------------------------------------------------------------------------

    def check_disabled(self, run: _Run) -> None:
        ins = run.instr
        for u in run.uses:
            if u.command.conditional:
                continue  # a fallback (`|| pip install --no-cache-dir`) or a CI-only clean-up: deliberate
            if u.disabled:
                for m in run.cache_mounts:
                    if any(
                        covers(m.target, cd.path) or covers(cd.path, m.target) or cd.looks_like(m.target)
                        for cd in u.caches
                    ):
                        self.report(
                            "CM003",
                            ins.node,
                            at=self.locate(ins.node, u.disabled_word),
                            how=u.disabled,
                            effect=f"turns {u.tool}'s cache off",
                            target=m.target,
                            tool=u.tool,
                            fix=f"drop {u.disabled}: under a cache mount the cache never reaches the image anyway",
                        )
                        break
            for path in u.cleans:
                cm = next(
                    (m for m in run.cache_mounts if covers(m.target, path) or covers(path, m.target)), None
                )
                if cm is not None:
                    self.report(
                        "CM003",
                        ins.node,
                        at=self.locate(ins.node, u.clean_how.split(" ")[-1]),
                        how=u.clean_how,
                        effect=f"empties {path}",
                        target=cm.target,
                        tool=u.tool,
                        fix=f"drop {u.clean_how}: the cache mount never reaches the image, so there is nothing to clean",
                    )
        # what this RUN downloads into a cache mount (curl -o, wget -O/-P): a cache of downloads
        downloads = [
            (o, m)
            for c in run.commands
            if c.name in ("curl", "wget")
            for o in generic_outputs(c)
            for m in run.cache_mounts
            if covers(m.target, o.path) and o.path != m.target
        ]
        for c in run.commands:
            if c.name != "rm" or c.conditional:
                continue
            for w in c.argv[1:]:
                if w.dynamic or w.text.startswith("-"):
                    continue
                probe = resolve_path(glob_base(w.text) if w.glob else w.text, c.cwd)
                gone = next(
                    ((o, m) for o, m in downloads if covers(probe, o.path) and probe != m.target), None
                )
                if gone is not None and not w.glob:
                    o, m = gone
                    self.report(
                        "CM003",
                        ins.node,
                        at=self.locate(ins.node, f"rm {w.raw or w.text}"),
                        how=f"rm {w.text}",
                        effect=f"deletes {o.path}, which this RUN downloaded into the cache mount",
                        target=m.target,
                        tool=o.how.split(" ")[0],
                        fix=f"drop rm {w.text}, and download only when {o.path} is missing (test -f {o.path} || …)",
                    )
                    continue
                # A glob empties its directory only when it matches every name (rm -rf DIR/*);
                # rm ./.git/*.lock or rm /root/.cache/*.tmp removes a few files and keeps the cache.
                # apt's own patterns (archives/*.deb, *.bin) are the exception: those files are the cache.
                match_all = not w.glob or w.text.rstrip("/").rsplit("/", 1)[-1] in _MATCH_ALL
                for m in run.cache_mounts:
                    t = m.target
                    hit = (match_all and (probe == t or covers(probe, t))) or (
                        probe in _APT_SUBDIRS and covers(t, probe)
                    )
                    if hit:
                        tool = "apt" if any(covers(a, t) or covers(t, a) for a in _APT_DIRS) else "the tool"
                        self.report(
                            "CM003",
                            ins.node,
                            at=self.locate(ins.node, w.raw or w.text),
                            how=f"rm {w.text}",
                            effect=f"empties {probe}",
                            target=t,
                            tool=tool,
                            fix=f"drop rm {w.text}: the cache mount never reaches the image, so there is nothing to clean",
                        )
                        break

    # --- CM004 ----------------------------------------------------------------------------------

    @staticmethod
    def configured(tool: str, state: _StageState) -> bool:
        """The tool's own configuration was touched in this stage (``npm config set``, a copied
        ``pip.conf``, ``go env -w`` …): its cache directory is then not known from the environment."""
        return tool in state.configured

    def check_misplaced(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        used = [cd for u in run.uses for cd in u.caches]
        for m in run.cache_mounts:
            t = m.target
            # a mount strictly inside a cache directory whose entries the tool names, under another
            # name (GOCACHE=/.cache, mount /.cache/go-build: go writes /.cache/00…ff): it catches nothing
            inner_miss = [
                cd
                for cd in used
                if cd.entries is not None
                and t != cd.path
                and covers(cd.path, t)
                and not cd.entries(posixpath.relpath(t, cd.path).split("/", 1)[0])
            ]
            if any((covers(t, cd.path) or covers(cd.path, t)) and cd not in inner_miss for cd in used):
                continue
            if any(
                self._reads(c, t)
                for c in run.commands
                if c.argv
                and c.name
                not in ("pip", "pip3", "npm", "yarn", "pnpm", "go", "cargo", "uv", "poetry", "mvn", "gradle")
            ):
                continue
            cand: tuple[ToolUse, CacheDir] | None = None
            for u in run.uses:
                if not u.installs or u.disabled or self.configured(u.tool, state):
                    continue
                for cd in u.caches:
                    if cd.image_env and not run.env_known:
                        # the base image may set the variable that moves this directory: say so
                        if cd.looks_like(t) and not covers(t, cd.path) and not covers(cd.path, t):
                            note = (
                                f"line {ins.line}: CM004 not checked for the mount {t}: {u.tool}'s {cd.kind} "
                                f"depends on ${cd.image_env}, which the base image may set "
                                "(--resolve-base reads it from the image)"
                            )
                            if note not in self.notes:
                                self.notes.append(note)
                        continue
                    if cd.path.startswith(UNKNOWN_WORKDIR):
                        continue  # relative to a WORKDIR we cannot see
                    if (cd.looks_like(t) or cd in inner_miss) and not cd.path.startswith("~"):
                        cand = (u, cd)
                        break
                if cand:
                    break
            if cand is None:
                continue
            u, cd = cand
            extra = ""
            who = run.user if u.command.user is None else self.user_of(u.command.user, state)
            if not who.is_root and who.uid is not None:
                extra = f",uid={who.uid}" + (f",gid={who.gid}" if who.gid is not None else "")
            self.report(
                "CM004",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=t,
                tool=u.tool,
                kind=cd.kind,
                actual=cd.path,
                why=cd.why
                + (
                    "; BuildKit does not expand ~ in a --mount target: it is a directory named ~ under WORKDIR"
                    if "/~" in t
                    else ""
                ),
                extra=extra + cd.suggest,
            )

    # --- CM005 ----------------------------------------------------------------------------------

    def check_package_cache(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        for u in run.uses:
            if u.tool in ("apt-get", "apt") and u.action in (
                "install",
                "upgrade",
                "dist-upgrade",
                "full-upgrade",
                "build-dep",
                "reinstall",
            ):
                m = next(
                    (
                        m
                        for m in run.cache_mounts
                        if covers(m.target, "/var/cache/apt/archives")
                        or m.target == "/var/cache/apt/archives"
                    ),
                    None,
                )
                if m is None:
                    continue
                removed = state.docker_clean_removed or any(
                    c.name == "rm"
                    and any(w.text == _DOCKER_CLEAN for w in c.argv)
                    and c.index < u.command.index
                    for c in run.commands
                )
                keep = state.keep_downloaded or any(
                    "Keep-Downloaded-Packages" in w.text for w in u.command.argv
                )
                at = self.locate(ins.node, u.tool + " " + u.action)
                if not removed and state.docker_clean_unknown:
                    self.notes.append(
                        f"line {ins.line}: CM005 not checked: {state.docker_clean_unknown}, a script that may "
                        f"remove {_DOCKER_CLEAN}"
                    )
                    continue
                if not removed:
                    self.report(
                        "CM005",
                        ins.node,
                        at=at,
                        message=f"{u.tool} {u.action} runs with {m.target} mounted as a cache, but the Debian/Ubuntu image's {_DOCKER_CLEAN} deletes every downloaded .deb after the install: the cache mount stays empty",
                        fix="in an earlier RUN: rm -f /etc/apt/apt.conf.d/docker-clean; echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache",
                    )
                elif u.tool == "apt" and not keep:
                    self.report(
                        "CM005",
                        ins.node,
                        at=at,
                        message=f"apt {u.action} keeps no downloaded packages (the apt binary defaults Binary::apt::APT::Keep-Downloaded-Packages to false): the cache mount {m.target} stays empty",
                        fix="echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache in an earlier RUN, or use apt-get",
                    )
            if u.tool == "zypper" and u.installs:
                m = next(
                    (m for m in run.cache_mounts if any(covers(m.target, cd.path) for cd in u.caches)), None
                )
                if m is not None and not state.keep_packages:
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"zypper {u.action} deletes the downloaded packages after installing them (repositories default to keeppackages=0): the cache mount {m.target} keeps only metadata",
                        fix="zypper modifyrepo --all --keep-packages in an earlier RUN (or keeppackages=1 in the .repo files)",
                    )
            if u.tool == "apk" and u.installs and not u.disabled:
                m = next((m for m in run.cache_mounts if covers(m.target, "/var/cache/apk")), None)
                if m is not None and not state.apk_cache_linked:
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"apk {u.action} keeps downloaded packages only when /etc/apk/cache exists (a directory or a link to the cache), which this image does not have: the cache mount {m.target} keeps only the index",
                        fix=f"ln -s {m.target} /etc/apk/cache in this RUN, before apk {u.action} (or mount the cache at /etc/apk/cache)",
                    )
            if u.tool in ("dnf", "yum", "microdnf", "dnf5") and u.installs and u.action != "makecache":
                m = next(
                    (
                        m
                        for m in run.cache_mounts
                        if any(covers(m.target, cd.path) or covers(cd.path, m.target) for cd in u.caches)
                    ),
                    None,
                )
                if m is None:
                    continue
                keep = state.keepcache or any(
                    re.search(r"keepcache=(1|true|True|yes)", w.text) for w in u.command.argv
                )
                if not keep:
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"{u.tool} {u.action} deletes the downloaded packages after a successful transaction (keepcache defaults to 0): the cache mount {m.target} keeps only metadata",
                        fix=f"{u.tool} {u.action} --setopt=keepcache=1 … (or keepcache=1 in /etc/dnf/dnf.conf)",
                    )

    # --- CM006 ----------------------------------------------------------------------------------

    def check_apt_locked(self, ins: Instr, mounts: list[Mount], stage: Stage) -> None:
        for m in mounts:
            if m.sharing == "locked":
                continue
            for base, kind in (("/var/cache/apt", "package cache"), ("/var/lib/apt", "package lists")):
                if covers(base, m.target):
                    self.apt_unlocked.append((ins.node, m, stage, kind, self.mount_at(m, ins.node)))
                    break

    def decide_apt_locked(self) -> None:
        """CM006 is a warning when two stages that BuildKit can run at the same time (neither depends
        on the other) mount the same apt cache unlocked; otherwise only other builds on the same
        builder can collide with it, and it is info."""
        groups: dict[str, list[Stage]] = {}
        for _node, m, stage, _kind, _at in self.apt_unlocked:
            lst = groups.setdefault(m.id, [])
            if stage not in lst:
                lst.append(stage)
        parallel_ids = {i for i, stages in groups.items() if self._independent_pair(stages)}
        for node, m, _stage, kind, at in self.apt_unlocked:
            self.emit(
                "CM006",
                node,
                at,
                Severity.warning if m.id in parallel_ids else None,
                {"target": m.target, "kind": kind, "sharing": m.sharing},
            )

    _MAX_PARALLEL_STAGES = 64

    def _independent_pair(self, stages: list[Stage]) -> bool:
        """Two of *stages* where neither builds on or copies from the other (BuildKit may run them at
        once). Bounded: beyond 64 stages of one cache the answer is "not shown" (info stays info)."""
        if len(stages) < 2 or len(stages) > self._MAX_PARALLEL_STAGES:
            return False
        deps = {st.index: self._deps_of(st) for st in stages}
        return any(
            b.index not in deps[a.index] and a.index not in deps[b.index]
            for i, a in enumerate(stages)
            for b in stages[i + 1 :]
        )

    @staticmethod
    def _deps_of(stage: Stage) -> set[int]:
        """Every stage *stage* needs (FROM, COPY --from, mount from=), transitively; iterative."""
        seen: set[int] = set()
        todo: list[Stage] = [stage]
        while todo:
            st = todo.pop()
            direct: list[Stage | None] = [st.base_stage, *st.deps]
            direct += [i.from_stage for i in st.instrs]
            for d in direct:
                if d is not None and d.index != stage.index and d.index not in seen:
                    seen.add(d.index)
                    todo.append(d)
        return seen

    # --- CM007 ----------------------------------------------------------------------------------

    def check_owner(self, ins: Instr, mounts: list[Mount], user: _User) -> None:
        if user.is_root:
            return
        for m in mounts:
            if m.readonly or m.from_ or m.source:
                continue
            mode = m.mode if m.mode is not None else 0o755
            uid = m.uid if m.uid is not None else 0
            gid = m.gid if m.gid is not None else 0
            if mode & 0o002:
                continue
            if user.uid is not None and uid == user.uid and mode & 0o200:
                continue
            if user.gid is not None and gid == user.gid and mode & 0o020:
                continue
            if user.uid is None and m.uid is not None:
                continue  # a named user we cannot resolve: trust the explicit uid
            owner = f"as uid {uid}, gid {gid}, mode {mode:04o}" + (
                " (BuildKit's default: root, 0755)" if m.uid is None and m.mode is None else ""
            )
            want = user.uid if user.uid is not None else "<uid of " + user.label + ">"
            self.report(
                "CM007",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=m.target,
                owner=owner,
                user=user.label,
                effect="writing to it fails with permission denied, or the tool silently turns its cache off",
                fix=f"--mount=type=cache,target={m.target},uid={want}"
                + (f",gid={user.gid}" if user.gid is not None else ""),
            )

    # --- CM008 ----------------------------------------------------------------------------------

    def check_ids(self, ins: Instr, mounts: list[Mount]) -> None:
        for m in mounts:
            key = m.id or m.target
            props = (m.from_, m.uid, m.gid, m.mode)
            seen = self.ids.get(key)
            if seen is None:
                self.ids[key] = (props, ins.line)
                continue
            if seen[0] == props:
                continue
            differ = [k for k in range(4) if props[k] != seen[0][k]]

            def show(p: tuple[str, int | None, int | None, int | None], differ: list[int] = differ) -> str:
                parts = []
                for k in differ:
                    v = p[k]
                    if v is None or v == "":
                        parts.append(f"no {_ID_PROPS[k]}")
                    elif k == 3 and isinstance(v, int):
                        parts.append(f"mode={v:04o}")
                    else:
                        parts.append(f"{_ID_PROPS[k]}={v}")
                return ", ".join(parts)

            self.report(
                "CM008",
                ins.node,
                at=self.mount_at(m, ins.node),
                id=key,
                here=show(props),
                there=show(seen[0]),
                line=seen[1],
            )

    # --- CM009 ----------------------------------------------------------------------------------

    def check_no_mount(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        targets = [m.target for m in run.cache_mounts]
        done: set[str] = set()
        for u in run.uses:
            if not u.installs or u.tool in done or run.unknown_mounts:
                continue  # (a mount whose path we cannot know may well be this tool's cache)
            if any(
                covers(t, cd.path) or covers(cd.path, t) or cd.looks_like(t)
                for t in targets
                for cd in u.caches
                if not cd.build_dir
            ):
                continue  # covered, or a mount meant for it that CM004 judges
            if (id(ins.node), u.command.index) in self.pending_at:
                continue  # CM001 already says what to mount instead
            if targets and self.configured(u.tool, state):
                continue  # its cache dir was configured somewhere we cannot read: a mount may be it
            done.add(u.tool if u.tool not in ("apt", "apt-get") else "apt-get")
            done.add(u.tool)
            primary = [
                cd
                for cd in u.caches
                if not cd.kind.startswith("cache (Yarn")
                and cd.kind != "index cache"
                and not cd.build_dir
                and not cd.path.startswith(UNKNOWN_WORKDIR)
            ]
            owner = ""
            if not run.user.is_root:
                owner = (
                    f",uid={run.user.uid}" if run.user.uid is not None else f",uid=<uid of {run.user.label}>"
                )
            mounts = " ".join(f"--mount=type=cache,target={cd.path}{cd.suggest}{owner}" for cd in primary)
            notes = sorted({cd.image_env for cd in primary if cd.image_env})
            fix = f"RUN {mounts} {u.tool} {u.action}".rstrip()
            extra: list[str] = []
            if u.disabled:
                extra.append(f"drop {u.disabled}")
            if u.tool in ("apt-get", "apt"):
                extra.append("rm -f /etc/apt/apt.conf.d/docker-clean in an earlier RUN (see CM005)")
            if u.tool in ("dnf", "yum", "microdnf", "dnf5"):
                extra.append("--setopt=keepcache=1")
            if u.suggest_env:
                extra.append("set " + u.suggest_env)
            for var in notes:
                extra.append(f"if the base image sets {var}, mount the directories under ${var} instead")
            if extra:
                fix += " …; " + "; ".join(extra)
            self.report(
                "CM009",
                ins.node,
                at=self.locate(ins.node, u.command.argv[0].text),
                tool=u.tool,
                action=u.action or "",
                fix=fix,
            )

    # --- CM010 ----------------------------------------------------------------------------------

    def check_hidden(self, ins: Instr, mounts: list[Mount], state: _StageState) -> None:
        for m in mounts:
            if m.from_ or m.source:
                continue
            hidden = state.outputs.get(m.target)
            if hidden is None:
                continue
            suggest = f" (for example {m.target}/repository)" if m.target.endswith("/.m2") else ""
            self.report(
                "CM010",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=m.target,
                path=hidden.path,
                writer=hidden.writer.removesuffix(" at"),
                line=hidden.line,
                suggest=suggest,
            )


_NODE_RUNNERS = frozenset({"npm", "npx", "yarn", "pnpm", "node", "bun", "tsc", "next", "vite"})


class _Source:
    """The source lines of one instruction, searched by :meth:`_Checker.locate`.

    A finding is located by the first occurrence of a word in its instruction. A RUN heredoc of n lines
    can carry n findings, and scanning from the top for each made that n²: past a few searches of a
    long instruction, the offsets of every 4-character substring are indexed, and a search checks only
    the offsets of the needle's rarest one (each occurrence of the needle holds it, in the same order)."""

    _Q = 4
    _INDEX_AFTER = 8  # searches before the index is built
    _INDEX_MIN = 4096  # characters: shorter text is scanned

    def __init__(self, lines: list[str]) -> None:
        self.text = "\n".join(lines)
        self.starts = [0]
        for ln in lines[:-1]:
            self.starts.append(self.starts[-1] + len(ln) + 1)
        self.searches = 0
        self.grams: dict[str, list[int]] | None = None

    def find(self, needle: str) -> tuple[int, int] | None:
        """(line offset, 0-based column) of the first occurrence outside a ``--mount`` word, or None."""
        self.searches += 1
        if self.grams is None and self.searches > self._INDEX_AFTER and len(self.text) >= self._INDEX_MIN:
            grams: dict[str, list[int]] = {}
            text, q = self.text, self._Q
            for i in range(len(text) - q + 1):
                grams.setdefault(text[i : i + q], []).append(i)
            self.grams = grams
        for pos in self._occurrences(needle):
            ln = bisect.bisect_right(self.starts, pos) - 1
            start = self.starts[ln]
            token_start = max(self.text.rfind(" ", start, pos), self.text.rfind("\t", start, pos)) + 1
            if not self.text.startswith("--mount", max(token_start, start)):
                return ln, pos - start
        return None

    def _occurrences(self, needle: str) -> Iterator[int]:
        text = self.text
        if self.grams is None or len(needle) < self._Q:
            pos = text.find(needle)
            while pos >= 0:
                yield pos
                pos = text.find(needle, pos + 1)
            return
        q = self._Q
        k = min(range(len(needle) - q + 1), key=lambda j: len(self.grams.get(needle[j : j + q], ())))  # type: ignore[union-attr]
        for at in self.grams.get(needle[k : k + q], ()):
            if at >= k and text.startswith(needle, at - k):
                yield at - k


def _is_clean(path: str) -> bool:
    return path.startswith("/") and not path.startswith("//") and posixpath.normpath(path) == path


class _RescueIndex:
    """:meth:`_Checker._rescued` for every output of one RUN in O(depth): for each path read by a
    command that can rescue (it runs, is no copy into a mount), the last such command that reads it,
    and for each directory, the last one that reads something at or under it."""

    def __init__(self, checker: _Checker, run: _Run) -> None:
        targets = [m.target for m in run.all_mounts]
        self.read_at: dict[str, int] = {}  # read path → last command index reading exactly it
        self.read_under: dict[str, int] = {}  # directory → last command index reading at/under it
        self.node_runner = -1  # last command index that runs node_modules
        for c in run.commands:
            if not c.argv or is_non_rescue(c):
                continue
            if _runs_node_modules(c):
                self.node_runner = max(self.node_runner, c.index)
            dest = copy_destination(c)
            if dest is not None and any(covers(t, dest) for t in targets):
                continue
            for r in generic_reads(c):
                if self.read_at.get(r, -1) < c.index:
                    self.read_at[r] = c.index
                self._under(r, c.index)
            # a word only partly known ("./target/$T/release/app") still reads inside its known start:
            # it counts for an output at or above that start, as a read under it would
            for d in dynamic_prefixes(c):
                self._under(d, c.index)

    def _under(self, r: str, index: int) -> None:
        p = r
        while self.read_under.get(p, -1) < index:
            self.read_under[p] = index
            if p == "/" or not p.startswith("/"):
                break
            p = posixpath.dirname(p)

    def rescued(self, out: Output, after: int) -> bool:
        if out.node_modules and self.node_runner > after:
            return True
        if self.read_under.get(out.path, -1) > after:  # a read at or under the output
            return True
        p = out.path
        while True:  # a read of the output's directory or an ancestor (covers(r, out))
            if self.read_at.get(p, -1) > after:
                return True
            if p == "/":
                return False
            p = posixpath.dirname(p)


def _runs_node_modules(c: Command) -> bool:
    """A Node tool run that is not an install (``yarn run build``, ``npx tsc``, ``node app.js``): it
    loads the ``node_modules`` it finds, so a mounted one is used, not lost."""
    if c.name not in _NODE_RUNNERS:
        return False
    args = [w.text for w in c.argv[1:]]
    return not args or args[0] not in ("ci", "install", "i", "add", "cache")


_APT_TOOLS = frozenset({"apt-get", "apt"})
_APT_LISTS = "/var/lib/apt/lists"  # Dir::State::lists (apt.conf(5))
# subcommands that resolve packages from the lists (and fail with "Unable to locate package" without)
_APT_READS_LISTS = frozenset({"install", "build-dep", "source", "download", "reinstall"})


def _cache_key(m: Mount) -> tuple[object, ...]:
    """What BuildKit keys a cache mount by: its id and its base (``from``, or the permissions step
    that uid/gid/mode add) — two mounts that differ there are two caches (see CM008)."""
    return (m.id or m.target, m.from_, m.uid, m.gid, m.mode)


_SCRIPT_RUNNERS = frozenset({"sh", "bash", "dash", "ash", "zsh", "source", "."})


def _runs_script(c: Command) -> str:
    """The script file a command runs (``./setup.sh``, ``sh /install.sh``, ``. /env``), or ``""``: its
    content is not in the Dockerfile, so what it changes is unknown."""
    if not c.argv or c.argv[0].dynamic:
        return ""
    first = c.argv[0].text
    if c.name in _SCRIPT_RUNNERS:
        nxt = next((w for w in c.argv[1:] if not w.text.startswith("-")), None)
        if (
            nxt is not None and ("/" in nxt.text or nxt.text.endswith(".sh")) and c.name not in ("sh", "bash")
        ) or (nxt is not None and nxt.text.endswith(".sh")):
            return nxt.text
        return ""
    if first.endswith(".sh") or first.startswith("./"):
        return first
    return ""


def check_build(
    build: Build,
    df: Dockerfile,
    *,
    filename: str,
    text: str,
    stages: list[Stage] | None = None,
    base_config: BaseLookup | None = None,
) -> tuple[list[Finding], list[str]]:
    """All findings for *build* (every stage, or *stages*), sorted by position, and notes on what
    could not be checked."""
    checker = _Checker(build, df, filename, text.splitlines(), base_config)
    findings = checker.run(stages if stages is not None else build.stages)
    return findings, checker.notes
