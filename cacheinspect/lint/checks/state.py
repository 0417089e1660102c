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
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Literal

import msgspec

from cacheinspect._persistent import PDict, Seq
from cacheinspect.dockerfile import Build, Dockerfile, Instr, Mount, Node, Stage
from cacheinspect.lint.images import BaseLookup
from cacheinspect.lint.rules import RULES_BY_CODE, Severity
from cacheinspect.lint.shell import Command
from cacheinspect.lint.tools import (
    Output,
    ToolUse,
    copy_destination,
    covers,
    dynamic_prefixes,
    generic_reads,
    is_non_rescue,
)

__all__ = ["Finding"]

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


class Finding(msgspec.Struct, frozen=True):
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


class _User(msgspec.Struct):
    name: str
    uid: int | None
    gid: int | None
    home: str | None
    is_root: bool

    @property
    def label(self) -> str:
        return self.name or "root"


class _Write(msgspec.Struct):
    path: str
    line: int
    writer: str
    is_output: bool = True  # False: a tool's cache directory, left in the image by an unmounted RUN


class _CacheEvent(msgspec.Struct):
    mount: Mount
    line: int
    stage: Stage
    outputs: list[tuple[Output, bool]] = msgspec.field(default_factory=list)  # (output, rescued)


class _StageState(msgspec.Struct):
    """What the walk knows about a stage so far. Lookups are by path, so a long Dockerfile stays linear:
    ``content``/``outputs`` map every written path *and each of its ancestors* to the first write at or
    under it (so "does the image have anything at or under P" is one dict lookup)."""

    users: PDict[str, tuple[int | None, int | None, str]] = msgspec.field(default_factory=PDict)
    uids: PDict[int, str] = msgspec.field(default_factory=PDict)
    content: PDict[str, _Write] = msgspec.field(
        default_factory=PDict
    )  # any image content (outputs and caches)
    outputs: PDict[str, _Write] = msgspec.field(default_factory=PDict)  # outputs only (for CM010)
    events: PDict[str, Seq[_CacheEvent]] = msgspec.field(default_factory=PDict)  # cache mount target → RUNs
    # index of ``events`` so a read looks at the targets around its path, not at every target so far
    # (n RUNs with their own cache mount made CM002 n²): each target's position in ``events``, the
    # targets strictly under each directory, and targets that are not clean absolute paths
    event_order: PDict[str, int] = msgspec.field(default_factory=PDict)
    events_under: PDict[str, Seq[str]] = msgspec.field(default_factory=PDict)
    odd_targets: Seq[str] = msgspec.field(default_factory=Seq)
    configured: PDict[str, bool] = msgspec.field(
        default_factory=PDict
    )  # tools whose configuration was changed
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
    unknown_vars: PDict[str, bool] = msgspec.field(default_factory=PDict)
    #: the WORKDIR is known: an absolute WORKDIR was set, or the base image's config is known
    workdir_known: bool = True

    def child(self) -> _StageState:
        """The state a stage ``FROM`` this one starts with: O(1) per container (persistent maps and
        shared append-only sequences), so a chain of n stages stays linear (issue 17)."""
        return _StageState(
            self.users.copy(),
            self.uids.copy(),
            self.content.copy(),
            self.outputs.copy(),
            self.events.copy(),
            self.event_order.copy(),
            self.events_under.copy(),
            self.odd_targets,
            self.configured.copy(),
            self.keep_downloaded,
            self.keepcache,
            self.poetry_config,
            self.docker_clean_removed,
            self.docker_clean_unknown,
            self.keep_packages,
            self.apk_cache_linked,
            self.pnpm_major,
            self.unknown_vars.copy(),
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
                self.odd_targets = self.odd_targets.appended(t)
            else:
                p = t
                while p != "/":
                    p = posixpath.dirname(p)
                    under = self.events_under.get(p)
                    self.events_under[p] = Seq([t]) if under is None else under.appended(t)
        evs = self.events.get(t)
        self.events[t] = Seq([ev]) if evs is None else evs.appended(ev)

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
                self.configured[tool] = True


class _Pending(msgspec.Struct):
    """A CM001 candidate: decided at the end, because a later RUN mounting the same cache may use it."""

    finding_args: dict[str, object]
    node: Node
    at: tuple[int, int]
    mount: Mount
    rel: str
    event: _CacheEvent
    index: int
    rescued: bool = False


class _Run(msgspec.Struct):
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
    unknown_mounts: list[Mount] = msgspec.field(default_factory=list)  # target depends on an unseen variable
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


class _CheckerBase:
    """What every rule family shares: the checker's state, reporting (with ``# cacheinspect: ignore``),
    locating a word in the source, and the users a stage has created."""

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
        #: (cache id, stage index) -> the stage's first RUN that mounts it unlocked (CM006 concurrency)
        self.apt_first_run: dict[tuple[str, int], tuple[Stage, Instr]] = {}
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
        self.roots: dict[int, Stage] = {}  # stage index → the first stage of its FROM chain
        #: (RUN line, mount target) that CM004 reported as missed by its tool: CM007 says nothing more
        #: about a mount the tool does not write
        self.misplaced: set[tuple[int, str]] = set()

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

    # --- shared by several rule families -----------------------------------------------------

    @staticmethod
    def _reads(c: Command, path: str) -> bool:
        return any(covers(path, r) or covers(r, path) for r in generic_reads(c))

    @staticmethod
    def configured(tool: str, state: _StageState) -> bool:
        """The tool's own configuration was touched in this stage (``npm config set``, a copied
        ``pip.conf``, ``go env -w`` …): its cache directory is then not known from the environment."""
        return tool in state.configured


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

    def __init__(self, checker: _CheckerBase, run: _Run) -> None:
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
