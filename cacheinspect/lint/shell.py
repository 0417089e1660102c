"""A small, careful reading of the shell command a ``RUN`` hands to ``/bin/sh -c``.

The lint rules need to know, for every simple command of a RUN, its words (quotes removed, known
variables expanded), the environment it runs with (ENV/ARG, ``export``, ``VAR=x cmd`` prefixes), its
working directory (``cd``) and its redirections. This is not a shell: it never runs anything and it
keeps what it cannot know visible instead of guessing —

- a word holding ``$(…)``, backticks, arithmetic or a variable nobody set is marked ``dynamic``; the
  rules never draw a conclusion from a dynamic word (no finding from a guess);
- control flow (``if``/``while``/``for``/``case``/functions) is read as a plain sequence: every command
  that might run is listed, in source order; ``case`` bodies are skipped;
- ``sh -c SCRIPT`` / ``bash -c`` and the wrappers ``sudo``, ``env``, ``exec``, ``nice``, ``nohup``,
  ``time``, ``timeout``, ``command``, ``xargs``, ``su -c``, ``gosu``/``su-exec`` are looked through, so
  ``sh -c "pip install …"`` is read as the pip command it runs;
- here-documents inside the script (``cat <<EOF > file``) are kept as the command's stdin text.

The grammar followed is POSIX ``sh`` (XCU 2.2 quoting, 2.3 token recognition, 2.9 commands), which is
what BuildKit's default shell ``["/bin/sh", "-c"]`` gets.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Container, Iterable, Mapping

import msgspec
from immutables import Map

from cacheinspect._persistent import FrozenMap

__all__ = ["Command", "Redirect", "Word", "glob_base", "parse_script", "resolve_path"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")
_REDIR = re.compile(r"(\d*)(>>|>\||>&|<<-|<<<|<<|<>|<&|&>>|&>|>|<)")
_REDIR_START = frozenset("<>&0123456789")
_PLAIN = re.compile(r"[^\s;&|()<>\\'\"$`*?\[]+")
_RESERVED_SKIP = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
)
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox-sh"})
_TESTS = frozenset({"[", "[[", "test"})


class Word(msgspec.Struct):
    """One shell word after quote removal. ``dynamic``: part of it could not be known statically;
    ``glob``: it holds an unquoted ``*``/``?``/``[`` (a pattern, not a literal name)."""

    text: str
    dynamic: bool = False
    glob: bool = False
    raw: str = ""

    @property
    def static(self) -> bool:
        return not self.dynamic


class Redirect(msgspec.Struct):
    """``>``/``>>``/``&>``/``<`` … with its target word; ``fd`` is the explicit descriptor or ``None``."""

    op: str
    target: Word
    fd: int | None = None

    @property
    def writes(self) -> bool:
        return self.op in (">", ">>", ">|", "&>", "&>>", "<>") or (
            self.op == ">&" and not self.target.text.isdigit()
        )


class Command(msgspec.Struct, dict=True):
    """A simple command as it would run: ``argv`` (``argv[0]`` the program), its environment, cwd."""

    argv: list[Word]
    env: Mapping[str, str]  # read-only (a persistent map shared with the commands around it)
    cwd: str
    redirects: list[Redirect] = msgspec.field(default_factory=list)
    stdin: list[str] = msgspec.field(default_factory=list)  # here-document bodies
    assigns: dict[str, str] = msgspec.field(default_factory=dict)  # the ``VAR=x cmd`` prefixes
    user: str | None = None  # set by sudo -u / su / gosu; None: the RUN's own user
    index: int = 0  # position in the RUN, in source order
    unknown_env: Container[str] = frozenset()  # variables set to something dynamic
    #: it runs only on some condition: inside an if/while/for body or case branch, after ``||``, or
    #: in an ``&&`` chain that starts with a test (``[ -n "$CI" ] && rm -rf …``)
    conditional: bool = False

    @property
    def name(self) -> str:
        """The program's base name (``/usr/bin/pip3`` → ``pip3``), or ``""`` without argv (computed
        once: every rule asks, tens of thousands of times on a big Dockerfile; argv never changes)."""
        # cached in the instance dict (not a field: no part of equality or repr)
        name: str | None = self.__dict__.get("_name")
        if name is None:
            name = self.__dict__["_name"] = posixpath.basename(self.argv[0].text) if self.argv else ""
        return name

    @property
    def args(self) -> list[str]:
        return [w.text for w in self.argv[1:]]


def resolve_path(path: str, cwd: str) -> str:
    """An absolute, cleaned path (``path.Clean`` semantics) for *path* relative to *cwd*."""
    joined = path if path.startswith("/") else posixpath.join(cwd or "/", path)
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def glob_base(pattern: str) -> str:
    """The directory a glob pattern lists: the path up to the component holding the first wildcard
    (``/vendor/*`` → ``/vendor``, ``./.git/*.lock`` → ``./.git``, ``*.txt`` → ``.``). A pattern reads
    that directory's entries, not the directory above it."""
    cut = min((i for i in (pattern.find(c) for c in "*?[") if i >= 0), default=len(pattern))
    return posixpath.dirname(pattern[:cut] + "x") or "."


# --- tokens ---------------------------------------------------------------------------------------


class _Part(msgspec.Struct):
    kind: (
        str  # "lit" (quoted or unquoted literal), "glob" (unquoted literal with pattern chars), "var", "dyn"
    )
    value: str
    default: str | None = None  # ${VAR:-default} / ${VAR-default}
    op: str = ""


class _Tok(msgspec.Struct):
    kind: str  # "word", "op", "nl", "redir"
    parts: list[_Part] = msgspec.field(default_factory=list)
    value: str = ""
    raw: str = ""
    fd: int | None = None
    heredoc: str | None = None  # for a "<<" redirect: the document's body


class _Lexer:
    """Splits a script into words, operators and redirections (XCU 2.3), keeping quoting as parts."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.pending_heredocs: list[tuple[_Tok, str, bool]] = []

    def tokens(self) -> list[_Tok]:
        out: list[_Tok] = []
        s = self.s
        n = len(s)
        while self.i < n:
            c = s[self.i]
            if c == "\\" and self.i + 1 < n and s[self.i + 1] == "\n":
                self.i += 2
                continue
            if c in " \t\r":
                self.i += 1
                continue
            if c == "\n":
                self.i += 1
                out.append(_Tok("nl"))
                self._read_heredocs()
                continue
            if c == "#":
                while self.i < n and s[self.i] != "\n":
                    self.i += 1
                continue
            m = _REDIR.match(s, self.i) if c in _REDIR_START else None
            if m:
                op = m.group(2)
                self.i = m.end()
                tok = _Tok("redir", value=op, fd=int(m.group(1)) if m.group(1) else None)
                self._skip_blanks()
                target = self._word()
                if target is None:
                    target = _Tok("word", parts=[], raw="")
                tok.parts = target.parts
                tok.raw = target.raw
                if op in ("<<", "<<-"):
                    quoted = any(ch in target.raw for ch in "'\"\\")
                    delim = "".join(p.value for p in target.parts)
                    self.pending_heredocs.append((tok, delim, op == "<<-"))
                    del quoted
                out.append(tok)
                continue
            op = next((o for o in _OPERATORS if s.startswith(o, self.i)), None) if c in "&|;()" else None
            if op is not None:
                self.i += len(op)
                out.append(_Tok("op", value=op))
                continue
            word = self._word()
            if word is not None:
                out.append(word)
        return out

    def _skip_blanks(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def _read_heredocs(self) -> None:
        for tok, delim, strip_tabs in self.pending_heredocs:
            lines: list[str] = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                line = self.s[self.i :] if end < 0 else self.s[self.i : end]
                self.i = len(self.s) if end < 0 else end + 1
                check = line.lstrip("\t") if strip_tabs else line
                if check == delim:
                    break
                lines.append(check + "\n")
            tok.heredoc = "".join(lines)
        self.pending_heredocs = []

    def _word(self) -> _Tok | None:
        """One word starting at ``self.i``: literal runs, quotes and expansions as parts."""
        s, n = self.s, len(self.s)
        start = self.i
        parts: list[_Part] = []
        buf: list[str] = []
        globbing = False

        def flush() -> None:
            nonlocal globbing
            if buf:
                parts.append(_Part("glob" if globbing else "lit", "".join(buf)))
                buf.clear()
            globbing = False

        while self.i < n:
            plain = _PLAIN.match(s, self.i)
            if plain:
                if globbing:
                    flush()
                buf.append(plain.group())
                self.i = plain.end()
                continue
            c = s[self.i]
            if c in " \t\r\n;&|()<>":
                break
            if c == "\\":
                if self.i + 1 < n and s[self.i + 1] == "\n":
                    self.i += 2
                    continue
                flush()
                parts.append(_Part("lit", s[self.i + 1 : self.i + 2]))
                self.i += 2
                continue
            if c == "'":
                flush()
                end = s.find("'", self.i + 1)
                end = n if end < 0 else end
                parts.append(_Part("lit", s[self.i + 1 : end]))
                self.i = end + 1
                continue
            if c == '"':
                flush()
                self.i += 1
                self._double_quoted(parts)
                continue
            if c == "$" or c == "`":
                flush()
                parts.append(self._expansion())
                continue
            if c in "*?[":
                if buf and not globbing:
                    flush()
                globbing = True
            elif globbing:
                flush()
            buf.append(c)
            self.i += 1
        flush()
        if self.i == start:
            self.i += 1  # a lone character we do not tokenise: skip it
            return None
        return _Tok("word", parts=parts, raw=s[start : self.i])

    def _double_quoted(self, parts: list[_Part]) -> None:
        s, n = self.s, len(self.s)
        buf: list[str] = []
        while self.i < n and s[self.i] != '"':
            c = s[self.i]
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
                continue
            if c in "$`":
                if buf:
                    parts.append(_Part("lit", "".join(buf)))
                    buf = []
                parts.append(self._expansion())
                continue
            buf.append(c)
            self.i += 1
        self.i += 1
        parts.append(_Part("lit", "".join(buf)))

    def _expansion(self) -> _Part:
        s, n = self.s, len(self.s)
        if s[self.i] == "`":
            end = self.i + 1
            while end < n and s[end] != "`":
                end += 2 if s[end] == "\\" else 1
            body = s[self.i + 1 : end]
            self.i = end + 1
            return _Part("dyn", body)
        # s[self.i] == "$"
        nxt = s[self.i + 1 : self.i + 2]
        if nxt == "(":
            depth = 0
            j = self.i + 1
            while j < n:
                if s[j] == "(":
                    depth += 1
                elif s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif s[j] == "'":
                    j = max(j, s.find("'", j + 1))
                    if j < 0:
                        j = n
                j += 1
            self.i = j + 1
            return _Part("dyn", "")
        if nxt == "{":
            depth, j = 0, self.i + 1
            while j < n:
                if s[j] == "{":
                    depth += 1
                elif s[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            body = s[self.i + 2 : j]
            self.i = j + 1
            m = _NAME.match(body)
            if not m:
                return _Part("dyn", body)
            name, rest = m.group(0), body[m.end() :]
            if rest == "":
                return _Part("var", name)
            for op in (":-", "-", ":=", "="):
                if rest.startswith(op):
                    return _Part("var", name, default=rest[len(op) :], op=op)
            return _Part("dyn", body)
        m = _NAME.match(s, self.i + 1)
        if m:
            self.i = m.end()
            return _Part("var", m.group(0))
        if nxt and nxt in "@*#?-$!0123456789":
            self.i += 2
            return _Part("dyn", nxt)
        self.i += 1
        return _Part("lit", "$")


# --- execution model ------------------------------------------------------------------------------


class _UnknownEnv(Container[str]):
    """A command's exported variables whose value is dynamic, and its dynamic ``VAR=x`` prefixes:
    the state's persistent maps at that command, O(1) to take (``x in`` is all it serves)."""

    __slots__ = ("_dyn", "_st")

    def __init__(self, st: _State, dyn: set[str]) -> None:
        self._st = st.copy()  # the maps are immutable: later changes of the shell do not show here
        self._dyn = frozenset(dyn)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return key in self._dyn or (self._st.is_unknown(key) and self._st.is_exported(key))


_NO_NAMES: frozenset[str] = frozenset()


class _State(msgspec.Struct):
    """The shell's variables, exports, dynamic ("unknown") variables and cwd, in persistent maps.

    Every subshell ``( … )`` and child shell ``sh -c`` starts from its parent's state and every
    command records the environment it runs with. Copying dicts for each (as this model once did)
    made a RUN of n subshells or ``sh -c`` lines over n variables, and a chain of n stages each
    adding an ENV, cost n² time and memory; :class:`immutables.Map` (a hash array mapped trie, the
    structure behind :mod:`contextvars`) makes a copy O(1) and a change O(log n), and a
    command's environment is the map as it was (issue 17).

    ``env`` is what a command gets: the exported variables that have a value. Exports and unknowns
    are changes over the names the RUN started with (``base``: all of its environment is exported;
    ``base_unknown``), so that starting a RUN costs nothing per inherited variable.
    """

    vars: Map[str, str]
    env: Map[str, str]
    exp: Map[str, bool]
    unk: Map[str, bool]
    base: Container[str]
    base_unknown: Container[str]
    cwd: str

    @classmethod
    def start(cls, env: Mapping[str, str], unknown: Iterable[str], cwd: str) -> _State:
        # a snapshot from the resolver is used as it is (no copy per inherited variable)
        m = env.m if isinstance(env, FrozenMap) else env if isinstance(env, Map) else Map(env)
        # an immutable container (the walk's persistent map) is kept as it is
        known = unknown if isinstance(unknown, (frozenset, Map)) else frozenset(unknown)
        return cls(m, m, Map(), Map(), m, known or _NO_NAMES, cwd)

    def is_exported(self, key: str) -> bool:
        v = self.exp.get(key)
        return key in self.base if v is None else v

    def is_unknown(self, key: str) -> bool:
        v = self.unk.get(key)
        return key in self.base_unknown if v is None else v

    def mark_unknown(self, key: str, unknown: bool) -> None:
        if self.is_unknown(key) != unknown:
            self.unk = self.unk.set(key, unknown)

    def copy(self) -> _State:
        return _State(self.vars, self.env, self.exp, self.unk, self.base, self.base_unknown, self.cwd)

    # every change to vars/exports goes through these three, so that env follows
    def set_var(self, key: str, value: str) -> None:
        self.vars = self.vars.set(key, value)
        if self.is_exported(key):
            self.env = self.env.set(key, value)

    def export(self, key: str) -> None:
        if not self.is_exported(key):
            self.exp = self.exp.set(key, True)
            value = self.vars.get(key)
            if value is not None:
                self.env = self.env.set(key, value)

    def unset(self, key: str) -> None:
        if key in self.vars:
            self.vars = self.vars.delete(key)
        if self.is_exported(key):
            self.exp = self.exp.set(key, False)
        if key in self.env:
            self.env = self.env.delete(key)

    def child(self, assigns: Mapping[str, str]) -> _State:
        """The state a child shell (``sh -c``) starts with: only the environment (exported variables,
        then the command's ``VAR=x`` prefixes), not unexported shell variables; every name exported
        here stays exported there; what is unknown here stays unknown."""
        env = self.env.update(assigns) if assigns else self.env
        exp = self.exp.update(dict.fromkeys(assigns, True)) if assigns else self.exp
        return _State(env, env, exp, self.unk, self.base, self.base_unknown, self.cwd)

    def command_env(self, assigns: dict[str, str]) -> Map[str, str]:
        return self.env.update(assigns) if assigns else self.env

    def unknown_env(self, dyn: set[str]) -> _UnknownEnv:
        """The exported variables set to something dynamic, and *dyn* (``x in`` is all it serves)."""
        return _UnknownEnv(self, dyn)


class _Runner:
    def __init__(self, out: list[Command], depth: int, conditional: bool = False) -> None:
        self.out = out
        self.depth = depth
        self.inherited = conditional  # a `sh -c` inside a conditional branch is conditional too
        self.body = 0  # open then/else/do bodies
        self.chain = False  # in an || tail, or an && chain after a test

    def expand(self, tok: _Tok, st: _State) -> Word:
        text: list[str] = []
        dynamic = glob = False
        for p in tok.parts:
            if p.kind == "lit":
                text.append(p.value)
            elif p.kind == "glob":
                text.append(p.value)
                glob = True
            elif p.kind == "var":
                value = st.vars.get(p.value)
                unknown = st.is_unknown(p.value)
                empty = value is None or (value == "" and p.op.startswith(":"))
                if p.default is not None and empty and not unknown:
                    sub = _Lexer(p.default)._word() if p.default else None
                    if sub is not None:
                        w = self.expand(sub, st)
                        text.append(w.text)
                        dynamic |= w.dynamic
                elif value is None or unknown:
                    text.append("${" + p.value + "}")
                    dynamic = True
                else:
                    text.append(value)
            else:
                text.append("$(…)")
                dynamic = True
        return Word("".join(text), dynamic=dynamic, glob=glob, raw=tok.raw)

    def run(self, toks: list[_Tok], st: _State) -> None:
        stack: list[_State] = []
        i = 0
        n = len(toks)
        last = ""  # the program of the previous simple command in this list
        while i < n:
            tok = toks[i]
            if tok.kind == "nl" or (tok.kind == "op" and tok.value not in ("(", ")")):
                op = tok.value if tok.kind == "op" else ";"
                if op == "||":
                    self.chain = True
                elif op == "&&":
                    self.chain = self.chain or last in _TESTS
                elif op in (";", "&", ";;", "|&") or tok.kind == "nl":
                    self.chain = False
                i += 1
                continue
            if tok.kind == "op" and tok.value == "(":
                stack.append(st)
                st = st.copy()
                i += 1
                continue
            if tok.kind == "op" and tok.value == ")":
                if stack:
                    st = stack.pop()
                i += 1
                continue
            # a simple command: words and redirections up to the next operator/newline
            j = i
            words: list[_Tok] = []
            redirs: list[_Tok] = []
            while j < n and toks[j].kind in ("word", "redir"):
                (words if toks[j].kind == "word" else redirs).append(toks[j])
                j += 1
            # function definition `name() { …; }`: skip the name and the ()
            if (
                len(words) == 1
                and j + 1 < n
                and toks[j].kind == "op"
                and toks[j].value == "("
                and toks[j + 1].kind == "op"
                and toks[j + 1].value == ")"
            ):
                i = j + 2
                continue
            i = j
            if words and words[0].raw == "case":
                i = self._skip_case(toks, i)
                continue
            if words and words[0].raw == "for":
                continue  # `for NAME in WORDS` — the list is data, the body follows after `do`
            for w in words:
                if w.raw in ("then", "do", "else"):
                    self.body += 1 if w.raw != "else" else 0
                elif w.raw in ("fi", "done"):
                    self.body = max(0, self.body - 1)
                elif w.raw not in _RESERVED_SKIP:
                    break
            self.simple(words, redirs, st)
            rest = [w.raw for w in words if w.raw not in _RESERVED_SKIP]
            last = rest[0] if rest else last
        return

    @staticmethod
    def _skip_case(toks: list[_Tok], i: int) -> int:
        while i < len(toks) and not (toks[i].kind == "word" and toks[i].raw == "esac"):
            i += 1
        return i + 1

    def simple(self, words: list[_Tok], redirs: list[_Tok], st: _State) -> None:
        while words and words[0].raw in _RESERVED_SKIP:
            words = words[1:]
        assigns: dict[str, str] = {}
        dyn_assigns: set[str] = set()
        k = 0
        while k < len(words):
            m = _ASSIGN.match(words[k].raw)
            if not m:
                break
            w = self.expand(words[k], st)
            name = m.group(1)
            value = w.text.split("=", 1)[1] if "=" in w.text else ""
            assigns[name] = value
            if w.dynamic:
                dyn_assigns.add(name)
            k += 1
        argv = [self.expand(w, st) for w in words[k:]]
        redirects = [
            Redirect(t.value, self.expand(t, st), t.fd) for t in redirs if t.value not in ("<<", "<<-")
        ]
        stdin = [t.heredoc or "" for t in redirs if t.value in ("<<", "<<-")]
        if not argv:
            for name, value in assigns.items():
                st.set_var(name, value)
                st.mark_unknown(name, name in dyn_assigns)
            if redirects:
                self.emit([], st, assigns, dyn_assigns, redirects, stdin)
            return
        self.command(argv, st, assigns, dyn_assigns, redirects, stdin, user=None)

    def emit(
        self,
        argv: list[Word],
        st: _State,
        assigns: dict[str, str],
        dyn: set[str],
        redirects: list[Redirect],
        stdin: list[str],
        user: str | None = None,
    ) -> None:
        env = st.command_env(assigns)
        unknown = st.unknown_env(dyn)
        cond = self.inherited or self.body > 0 or self.chain
        self.out.append(
            Command(
                conditional=cond,
                argv=argv,
                env=env,
                cwd=st.cwd,
                redirects=redirects,
                stdin=stdin,
                assigns=dict(assigns),
                user=user,
                index=len(self.out),
                unknown_env=unknown,
            )
        )

    def command(
        self,
        argv: list[Word],
        st: _State,
        assigns: dict[str, str],
        dyn: set[str],
        redirects: list[Redirect],
        stdin: list[str],
        user: str | None,
    ) -> None:
        name = posixpath.basename(argv[0].text)
        rest = argv[1:]
        # builtins that change the state of the shell
        if name in ("export", "readonly", "declare", "typeset", "local"):
            exporting = name == "export" or (
                name in ("declare", "typeset") and any(w.text == "-x" for w in rest)
            )
            for w in rest:
                if w.text.startswith("-"):
                    continue
                if "=" in w.text:
                    key, _, value = w.text.partition("=")
                    if not _NAME.fullmatch(key):
                        continue
                    st.set_var(key, value)
                    st.mark_unknown(key, w.dynamic)
                else:
                    key = w.text
                if exporting and _NAME.fullmatch(key):
                    st.export(key)
            return
        if name == "unset":
            for w in rest:
                st.unset(w.text)
            return
        if name in ("cd", "pushd"):
            target = next((w for w in rest if not w.text.startswith("-") or w.text == "-"), None)
            if target is None:
                st.cwd = st.vars.get("HOME", "/") or "/"
            elif target.static and not target.glob and target.text != "-":
                st.cwd = resolve_path(target.text, st.cwd)
            self.emit(argv, st, assigns, dyn, redirects, stdin, user)
            return
        # wrappers: look through to the command they run
        inner = _unwrap(name, rest)
        if inner is not None:
            new_argv, new_assigns, new_user, script = inner
            merged = dict(assigns)
            merged.update(new_assigns)
            user = new_user if new_user is not None else user
            if script is not None:
                self.emit(argv, st, merged, dyn, redirects, stdin, user)
                if script.static:
                    # a child shell sees only the environment, not unexported shell variables
                    child = st.child(merged)
                    sub = _Runner(self.out, self.depth + 1, self.inherited or self.body > 0 or self.chain)
                    start = len(self.out)
                    sub.run(_Lexer(script.text).tokens(), child)
                    if user is not None:
                        for c in self.out[start:]:
                            c.user = c.user or user
                return
            if new_argv:
                self.command(new_argv, st, merged, dyn, redirects, stdin, user)
            else:
                self.emit(argv, st, merged, dyn, redirects, stdin, user)
            return
        self.emit(argv, st, assigns, dyn, redirects, stdin, user)


def _unwrap(name: str, rest: list[Word]) -> tuple[list[Word], dict[str, str], str | None, Word | None] | None:
    """For a wrapper command: (the wrapped argv, extra env, user, a ``-c`` script); None otherwise."""
    if name in _SHELLS:
        k = 0
        has_c = False
        while k < len(rest) and rest[k].text[:1] in ("-", "+") and rest[k].text not in ("-", "--"):
            flag = rest[k].text
            if flag in ("-o", "+o", "-O", "+O"):
                k += 2
                continue
            if not flag.startswith("--") and "c" in flag[1:]:
                has_c = True
            k += 1
        if has_c and k < len(rest):
            return [], {}, None, rest[k]
        return None
    if name == "su":
        script = None
        user: str | None = None
        k = 0
        while k < len(rest):
            t = rest[k].text
            if t in ("-c", "--command") and k + 1 < len(rest):
                script = rest[k + 1]
                k += 2
                continue
            if not t.startswith("-") and user is None:
                user = t
            k += 1
        if script is None:
            return None
        return [], {}, user or "root", script
    if name in ("sudo", "doas", "runuser"):
        user = "root"
        k = 0
        while k < len(rest) and rest[k].text.startswith("-"):
            t = rest[k].text
            if t == "--":
                k += 1
                break
            if t in ("-u", "--user", "-g", "--group", "-C", "-h", "-p", "-r", "-t", "-U"):
                if t in ("-u", "--user") and k + 1 < len(rest):
                    user = rest[k + 1].text
                k += 2
                continue
            if t.startswith("--user="):
                user = t.split("=", 1)[1]
            k += 1
        return rest[k:], {}, user, None
    if name in ("gosu", "su-exec", "chpst"):
        if len(rest) >= 2:
            return rest[1:], {}, rest[0].text, None
        return None
    if name == "env":
        k = 0
        extra: dict[str, str] = {}
        while k < len(rest):
            t = rest[k].text
            if t in ("-u", "--unset", "-C", "--chdir", "-S"):
                k += 2
                continue
            if t.startswith("-"):
                k += 1
                continue
            m = _ASSIGN.match(t)
            if m:
                extra[m.group(1)] = t.split("=", 1)[1]
                k += 1
                continue
            break
        return rest[k:], extra, None, None
    if name in (
        "exec",
        "nohup",
        "command",
        "builtin",
        "time",
        "eatmydata",
        "stdbuf",
        "ionice",
        "nice",
        "chrt",
    ):
        k = 0
        while k < len(rest) and rest[k].text.startswith("-"):
            k += (
                2
                if rest[k].text in ("-n", "-c", "-i", "-o", "-e") and name in ("nice", "ionice", "stdbuf")
                else 1
            )
        return rest[k:], {}, None, None
    if name == "timeout":
        k = 0
        while k < len(rest) and rest[k].text.startswith("-"):
            k += 2 if rest[k].text in ("-s", "-k", "--signal", "--kill-after") else 1
        return rest[k + 1 :], {}, None, None
    if name == "xargs":
        k = 0
        while k < len(rest) and rest[k].text.startswith("-"):
            k += 2 if rest[k].text in ("-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a") else 1
        return [*rest[k:], Word("{xargs}", dynamic=True)], {}, None, None
    return None


def parse_script(
    script: str, *, env: Mapping[str, str], cwd: str = "/", unknown: Iterable[str] = ()
) -> list[Command]:
    """The simple commands of *script* in source order, each with its env and cwd.

    *env* is the environment the RUN starts with (everything exported); *cwd* its WORKDIR; *unknown*
    the variables of *env* whose value is not really known (an ENV built from a variable the base
    image may set): words that use them are dynamic.
    """
    out: list[Command] = []
    st = _State.start(env, unknown, cwd or "/")
    try:
        _Runner(out, 0).run(_Lexer(script).tokens(), st)
    except RecursionError:
        # The reader is recursive descent; a script nested thousands deep (``${a:-${a:-…}}``) would
        # exceed Python's stack. What cannot be read yields no commands, hence no finding.
        return []
    return out


def command_from_argv(
    argv: list[str], *, env: Mapping[str, str], cwd: str = "/", unknown: Iterable[str] = ()
) -> list[Command]:
    """Exec-form RUN: no shell parses the words, but ``["sh", "-c", script]`` is still a script."""
    out: list[Command] = []
    st = _State.start(env, unknown, cwd or "/")
    if not argv:
        return out
    try:
        _Runner(out, 0).command([Word(a) for a in argv], st, {}, set(), [], [], user=None)
    except RecursionError:  # see parse_script
        return []
    return out


__all__ += ["command_from_argv"]
