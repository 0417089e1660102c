"""One grammar for every command: the common flags, conflicts, malformed values, colour and progress.

Every command gets ``-o/--output``, ``-q/--quiet``, ``-v/--verbose`` and ``--color auto|always|never``
here, once, instead of each module declaring (or forgetting) them: :class:`GrammarCommand` adds those a
command does not declare itself and handles them around the command's body. ``-q``, ``-v`` and
``--color`` are also accepted before the subcommand (``cacheinspect -v inspect ...``), like docker's
global options. A command that declares one of them itself (``inspect -o``, ``audit -q``) keeps its own
handling; the global value reaches it too.

What is checked before a command runs, as usage errors (exit 2), by parameter name so that one rule
serves every command that has the parameters:

* two flags that contradict each other (:data:`EXCLUSIVE`), or a flag given with both polarities
  (``--check-blobs --no-check-blobs``);
* a flag that only means something with another one (:data:`REQUIRES`: ``--target`` of ``inspect``
  without ``--dockerfile``);
* malformed values (:data:`VALIDATORS`: platforms, BuildKit and Docker versions).

Colour: severities in ``table`` output are coloured when stdout is a terminal (``--color auto``, the
default), never with ``NO_COLOR`` set or ``TERM=dumb``, always with ``--color always``; machine formats
(json, sarif, github, markdown, dot) are never coloured. Everything printed from outside was escaped
before (``render.escape``), so the only escape sequences on a coloured line are these.

Progress: local work that runs longer than a second shows one line on stderr, redrawn in place, when
stderr is a terminal (:class:`Ticker`); ``-q`` silences it; it is erased when the command ends and never
reaches stdout or ``-o``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cacheinspect._lazyre import lazy
from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    import threading

__all__ = [
    "EXCLUSIVE",
    "REQUIRES",
    "STATE",
    "VALIDATORS",
    "GrammarCommand",
    "State",
    "Ticker",
    "color_enabled",
    "global_options",
    "phase",
    "setup_logging",
]


class State:
    """What the common flags said for this run (reset for each ``main`` call: ``STATE.reset()``).

    A plain class, not a dataclass: building a dataclass execs its generated methods, a cost every run
    paid before doing anything (issue 17: the CPU of one small real run).
    """

    __slots__ = ("color", "notes", "quiet", "ticker", "verbose")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.quiet = False
        self.verbose = False
        self.color = "auto"
        self.ticker: Ticker | None = None
        self.notes: set[str] = set()


STATE = State()

#: Pairs of parameters (by their Python names) that contradict each other when both are given.
EXCLUSIVE: tuple[tuple[str, str], ...] = (
    ("quiet", "verbose"),
    ("insecure", "plain_http"),
    ("records", "no_records"),
    ("layers", "no_layers"),
    ("raw", "fmt"),
    ("raw", "records"),
    ("raw", "layers"),
    ("raw", "no_records"),
    ("raw", "no_layers"),
    ("raw", "check_blobs_"),
    ("raw", "schema"),
)
#: (command, parameter, the parameter it needs): the first means nothing without the second. Scoped by
#: command: ``context check --build-arg`` is fine without ``-f`` (its Dockerfile defaults to
#: CONTEXT/Dockerfile), ``inspect --build-arg`` only reads the ``--dockerfile`` it is given.
REQUIRES: tuple[tuple[str, str, str], ...] = (
    ("inspect", "df_target", "dockerfile"),
    ("inspect", "build_arg", "dockerfile"),
    ("*", "password_stdin", "username"),
)


def _platform(value: object, flag: str) -> None:
    from cacheinspect.platforms import validate_platform

    for v in value if isinstance(value, list | tuple) else [value]:
        validate_platform(str(v), flag)


_BK_VERSION = lazy(r"^v?0\.(\d{1,3})(\.\d{1,3})?$")
_DOCKER_VERSION = lazy(r"^v?(\d{2})\.(\d{1,3})(\.\d{1,3})?$")


def _buildkit_version(value: object, flag: str) -> None:
    """BuildKit has only ever had 0.x releases: ``13`` or ``v13`` is a typo for v0.13, not v13.0."""
    v = str(value)
    if not _BK_VERSION.match(v):
        hint = f" (did you mean v0.{v.lstrip('v')}?)" if v.lstrip("v").isdigit() else ""
        raise UsageError(f"{flag} {v!r}: expected a BuildKit version such as v0.13 or v0.25.2{hint}")


def _docker_version(value: object, flag: str) -> None:
    v = str(value)
    m = _DOCKER_VERSION.match(v)
    if not m or not 17 <= int(m.group(1)) <= 99:
        raise UsageError(f"{flag} {v!r}: expected a Docker Engine version such as 26.1 or 28.5.2")


#: Parameter name -> check of its value (raises UsageError). Only values given on the command line.
VALIDATORS: dict[str, Callable[[object, str], None]] = {
    "platform": _platform,
    "require_platform": _platform,
    "buildkit_version": _buildkit_version,
    "docker_version": _docker_version,
}

_COMMON = ("out", "output", "quiet", "verbose", "color")


def color_enabled(stream: Any, choice: str | None = None) -> bool:
    """``--color``: ``always``/``never`` as said; ``auto`` means a terminal, no ``NO_COLOR``, no ``TERM=dumb``."""
    c = choice or STATE.color
    if c == "always":
        return True
    if c == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------ colour
_SEV = {"error": "31", "warning": "33", "info": "36", "notice": "36"}
_PAINT = lazy(
    rb"^(error|warning|info|notice)(?=  )"  # a severity column at the line start (audit, inspect, gc)
    rb"|(?<=\[)(error|warning|info)(?=\])"  # [error] (gc lint)
    rb"|(?<=: [A-Z]{2}\d{3} )(error|warning|info)(?= )"  # FILE:LINE:COL: CM001 error (lint)
    rb"|\bFAILED\b|^audit failed$",
    re.M,
)


def _paint(line: bytes) -> bytes:
    def sub(m: re.Match[bytes]) -> bytes:
        word = m.group(0)
        code = _SEV.get(word.decode(), "1;31")
        return b"\x1b[" + code.encode() + b"m" + word + b"\x1b[0m"

    return _PAINT.sub(sub, line)


class _Painter(io.RawIOBase):
    """A byte sink that colours whole lines and passes them on (a partial line waits for its end)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.pending = b""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = self.pending + bytes(b)
        head, sep, self.pending = data.rpartition(b"\n")
        if sep:
            self.sink.write(_paint(head + sep))
        return len(b)

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        if self.pending:
            self.sink.write(_paint(self.pending))
            self.pending = b""
        self.sink.flush()
        super().close()


# ---------------------------------------------------------------------------------------- progress
class Ticker:
    """One progress line on stderr for work that takes a while: ``cacheinspect inspect: decoding (3 s)``.

    Shown only on a terminal, after :attr:`delay` seconds (``CACHEINSPECT_PROGRESS_DELAY``, default 1),
    redrawn twice a second from a daemon thread (the GIL lets it run during pure-Python work), erased
    when the command ends. A progress counter of its own (blob HEADs, walked entries) takes the line
    over through :meth:`show`; the ticker stays quiet while such a counter is live.
    """

    def __init__(self, label: str, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.phase = ""
        self.started = time.monotonic()
        self.last_show = 0.0
        self.drawn = False
        import threading  # only a terminal gets a ticker: other runs never import threading

        self.lock = threading.Lock()
        self.stop = threading.Event()
        try:
            self.delay = float(os.environ.get("CACHEINSPECT_PROGRESS_DELAY", "1"))
        except ValueError:
            self.delay = 1.0
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.delay <= 0:
            self._draw()
        import threading

        self.thread = threading.Thread(target=self._run, name="cacheinspect-progress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.stop.wait(max(self.delay, 0.0)):
            return
        while not self.stop.is_set():
            if time.monotonic() - self.last_show > 1.0:
                self._draw()
            self.stop.wait(0.5)

    def _draw(self) -> None:
        secs = int(time.monotonic() - self.started)
        what = f"{self.label}: {self.phase}" if self.phase else self.label
        self._write(f"\r\x1b[K{what} ({secs} s)")

    def _write(self, text: str) -> None:
        with self.lock:
            if self.stop.is_set():
                return
            try:
                self.stream.write(text)
                self.stream.flush()
                self.drawn = True
            except (OSError, ValueError):
                pass

    def show(self, text: str, *, final: bool = False) -> None:
        """A counter's own line (``checking blobs: 12/40``), drawn in place of the ticker's."""
        self.last_show = time.monotonic()
        self._write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        if final:
            self.drawn = False

    def finish(self) -> None:
        with self.lock:
            self.stop.set()
            if self.drawn:
                try:
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
                self.drawn = False


def phase(text: str) -> None:
    """Name what the command is doing now, for the progress line (a no-op without one)."""
    t = STATE.ticker
    if t is not None:
        t.phase = text
        if time.monotonic() - t.started >= t.delay and time.monotonic() - t.last_show > 1.0:
            t._draw()  # a new phase shows at once once the line is up


# ------------------------------------------------------------------------------------------ options
def global_options() -> list[Any]:
    """``-q``, ``-v`` and ``--color`` for the root command (given before the subcommand)."""
    from typer._types import TyperChoice as Choice
    from typer.core import TyperOption

    return [
        TyperOption(param_decls=["--quiet", "-q"], is_flag=True, default=False, help=_HELP["quiet"]),
        TyperOption(param_decls=["--verbose", "-v"], is_flag=True, default=False, help=_HELP["verbose"]),
        TyperOption(
            param_decls=["--color"],
            type=Choice(["auto", "always", "never"]),
            default="auto",
            metavar="auto|always|never",
            help=_HELP["color"],
        ),
    ]


_HELP = {
    "output": "Write the output to FILE instead of stdout (replaced only when the command completes).",
    "quiet": "No progress or notes on stderr (errors still).",
    "verbose": "Log every registry request on stderr: method, URL, status, auth scheme, retries.",
    "color": "Colour severities in table output: auto (a terminal, no NO_COLOR), always or never.",
}


def _common_params(have: set[str]) -> list[Any]:
    """The common options a command lacks."""
    from typer._types import TyperChoice as Choice
    from typer.core import TyperOption

    out: list[Any] = []
    if not have & {"out", "output"}:
        out.append(
            TyperOption(
                param_decls=["--output", "-o", "output"],
                metavar="FILE",
                default=None,
                help=_HELP["output"],
            )
        )
    if "quiet" not in have:
        out.append(
            TyperOption(param_decls=["--quiet", "-q"], is_flag=True, default=False, help=_HELP["quiet"])
        )
    if "verbose" not in have:
        out.append(
            TyperOption(param_decls=["--verbose", "-v"], is_flag=True, default=False, help=_HELP["verbose"])
        )
    if "color" not in have:
        out.append(
            TyperOption(
                param_decls=["--color"],
                type=Choice(["auto", "always", "never"]),
                default=None,
                metavar="auto|always|never",
                help=_HELP["color"],
            )
        )
    return out


def _flag(cmd: Any, name: str) -> str:
    """The long spelling of parameter *name* of *cmd* (``--no-records``), for messages."""
    for p in cmd.params:
        if p.name == name:
            opts = [o for o in p.opts if o.startswith("--")] or list(p.opts)
            if opts:
                return str(opts[0])
            return str(p.human_readable_name)
    return "--" + name.replace("_", "-")


def _given(ctx: Any, name: str) -> bool:
    from typer._click.core import ParameterSource

    if name not in ctx.params:
        return False
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def check_grammar(
    name: str | None, params: dict[str, Any], given: Callable[[str], bool], flag: Callable[[str], str]
) -> None:
    """The usage rules of the module docstring, for command *name* with parsed *params*; *given* says
    whether a parameter came from the command line, *flag* spells it for messages."""
    quiet = bool(params.get("quiet")) or STATE.quiet
    verbose = bool(params.get("verbose")) or STATE.verbose
    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose contradict each other: give one")
    for a, b in EXCLUSIVE:
        if given(a) and given(b):
            if {a, b} == {"raw", "fmt"}:
                raise UsageError(f"--raw prints the bytes as fetched; it takes no {flag(b)}")
            raise UsageError(f"{flag(a)} and {flag(b)} contradict each other: give one")
    for command, a, b in REQUIRES:
        if command not in ("*", name):
            continue
        if a in params and b in params and given(a) and params.get(b) in (None, False, []):
            raise UsageError(f"{flag(a)} needs {flag(b)}")
    if given("verify_blobs") and params.get("verify_blobs") and params.get("check_blobs_") is False:
        raise UsageError("--verify-blobs downloads every blob; it contradicts --no-check-blobs")
    for pname, check in VALIDATORS.items():
        value = params.get(pname)
        if value is not None and value != [] and given(pname):
            check(value, flag(pname))


def _both_polarities(cmd: Any, args: list[str]) -> None:
    """``--check-blobs --no-check-blobs``: click silently takes the last; say it instead."""
    words = set()
    for a in args:
        if a == "--":
            break
        words.add(a.split("=", 1)[0])
    for p in cmd.params:
        secondary = getattr(p, "secondary_opts", None)
        if secondary and words & set(p.opts) and words & set(secondary):
            raise UsageError(
                f"{sorted(words & set(p.opts))[0]} and {sorted(words & set(secondary))[0]} contradict each other: give one"
            )


class _Redirect:
    """``-o FILE`` for a command that writes to stdout: the text goes to a temporary file next to FILE,
    renamed over FILE when the command ends normally (a finding's exit 1 included), removed otherwise,
    so an interrupted or failed run never leaves a partial FILE."""

    def __init__(self, path: Path) -> None:
        import stat
        import tempfile

        self.path = path
        self.tmp: Path | None = None
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            # a device, FIFO or socket (-o /dev/null, /dev/stdout, /dev/full, a pipe): written in place;
            # renaming a temporary file over it would replace the device node itself (as root)
            if stat.S_ISDIR(mode):
                raise UsageError(f"cannot write {path}: Is a directory")
            try:
                self.fh = open(path, "wb")  # noqa: SIM115 - closed in commit/discard
            except OSError as e:
                raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
            return
        parent = path.parent if str(path.parent) else Path(".")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        self.tmp = Path(tmp)
        self.fh = os.fdopen(fd, "wb")

    def commit(self) -> None:
        try:
            self.fh.close()
        except OSError as e:  # a buffered write fails at close (-o /dev/full)
            self.discard()
            raise UsageError(f"cannot write {self.path}: {e.strerror or e}") from None
        if self.tmp is None:
            return
        try:
            if self.path.exists():
                with contextlib.suppress(OSError):
                    os.chmod(self.tmp, self.path.stat().st_mode & 0o7777)
            else:
                os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise UsageError(f"cannot write {self.path}: {e.strerror or e}") from None

    def discard(self) -> None:
        try:
            with contextlib.suppress(OSError):
                self.fh.close()
        finally:
            if self.tmp is not None:
                with contextlib.suppress(OSError):
                    self.tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_table(params: dict[str, Any]) -> bool:
    fmt = params.get("fmt")
    return fmt is None or str(getattr(fmt, "value", fmt)) == "table"


class GrammarCommand:
    """Mixin for typer's command class: the common options, the usage rules, colour, progress, -o."""

    params: list[Any]
    name: str | None

    def _grammar_init(self) -> None:
        have = {p.name for p in self.params if p.name}
        self._injected = {p.name for p in _common_params(have)}
        self.params.extend(_common_params(have))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _both_polarities(self, args)
        return super().parse_args(ctx, args)  # type: ignore[misc, no-any-return]

    def invoke(self, ctx: Any) -> Any:
        injected = {k: ctx.params.pop(k) for k in list(ctx.params) if k in self._injected}

        def body() -> Any:
            return super(GrammarCommand, self).invoke(ctx)  # type: ignore[misc]

        return run_grammar(
            self.name,
            ctx.command_path,
            ctx.params,
            injected,
            lambda name: _given(ctx, name),
            lambda name: _flag(self, name),
            body,
        )


def run_grammar(
    name: str | None,
    command_path: str,
    params: dict[str, Any],
    injected: dict[str, Any],
    given: Callable[[str], bool],
    flag: Callable[[str], str],
    body: Callable[[], Any],
) -> Any:
    """Run a command's *body* inside the grammar: the common flags (*injected*: those the command does
    not declare itself, taken out of *params*), the usage rules, logging, ``-o``, colour and progress.
    Both paths call it: typer's (:class:`GrammarCommand`) and the fast one (``cli/_fastrun.py``)."""
    for k in ("quiet", "verbose"):
        if injected.get(k):
            setattr(STATE, k, True)
        elif getattr(STATE, k) and k in params:
            params[k] = True  # `cacheinspect -q audit ...` reaches audit's own -q
    if injected.get("color"):
        STATE.color = injected["color"]
    saved = dict(injected)
    params.update(saved)  # so that the rules see them too
    try:
        check_grammar(name, params, given, flag)
    except UsageError as e:
        if e.hint is None:
            e.hint = f"'{command_path} --help' shows the usage"
        raise
    finally:
        for k in saved:
            params.pop(k, None)
    STATE.quiet = STATE.quiet or bool(params.get("quiet"))
    STATE.verbose = STATE.verbose or bool(params.get("verbose"))
    setup_logging(STATE.verbose, STATE.quiet)

    out_path = injected.get("output")
    redirect = _Redirect(Path(out_path)) if out_path else None
    real_stdout = sys.stdout
    paint = redirect is None and _is_table(params) and color_enabled(real_stdout)
    sink: Any = None
    if redirect is not None or paint:
        raw: Any = redirect.fh if redirect is not None else real_stdout.buffer
        sink = _Painter(raw) if paint else raw
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(sink) if paint else sink,
            encoding=getattr(real_stdout, "encoding", None) or "utf-8",
            errors="strict",
            write_through=True,
        )
    ticker = None
    if not STATE.quiet and _stderr_tty():
        ticker = Ticker(f"cacheinspect {command_path.split(' ', 1)[-1]}")
        STATE.ticker = ticker
        ticker.start()
    ok = False
    try:
        rv = body()
        ok = True
        return rv
    except BaseException as e:
        from cacheinspect.cli._fastdecl import Exit as BodyExit

        exits: tuple[type[BaseException], ...] = (SystemExit, BodyExit)
        if "typer" in sys.modules:  # typer's own Exit (ctx.exit) only exists when typer runs
            from typer.exceptions import Exit

            exits = (*exits, Exit)
        ok = isinstance(e, exits) and _exit_code(e) in (0, 1)
        raise
    finally:
        if ticker is not None:
            ticker.finish()
            STATE.ticker = None
        if sink is not None:
            wrapper = sys.stdout
            sys.stdout = real_stdout
            try:
                wrapper.flush()
                if paint:
                    wrapper.buffer.flush()
                    sink.close()
                    real_stdout.flush()
            finally:
                if redirect is not None:
                    if ok:
                        redirect.commit()
                    else:
                        redirect.discard()


def _exit_code(e: BaseException) -> int:
    code = getattr(e, "exit_code", getattr(e, "code", 0))
    return int(code or 0) if isinstance(code, int | type(None)) else 2


def _stderr_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def setup_logging(verbose: bool, quiet: bool = False) -> None:
    """Registry request log on stderr: warnings ("still waiting for HOST ...") unless --quiet, every
    request with --verbose. The client redacts secrets before it logs (registry/client.py).

    The handler's level decides what is shown; the logger keeps propagating (pytest's caplog, a host
    application's handlers) and only has its level lowered for --verbose. Installed when the first
    logger is asked for (:mod:`cacheinspect._log`): a run that never logs never imports logging.
    """
    from cacheinspect import _log

    verbose = verbose or STATE.verbose
    quiet = quiet or STATE.quiet
    _log.configure_on_first_use(lambda: _install_handler(verbose, quiet))


def _install_handler(verbose: bool, quiet: bool) -> None:
    import logging

    from cacheinspect.render.escape import esc

    class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever ``sys.stderr`` is now (not the one at creation), escaped; a ``note:`` (a
        flag without effect on this input) is said once per run, however many times the library says it."""

        def filter(self, record: logging.LogRecord) -> bool:
            msg = record.getMessage()
            if msg.startswith("note: "):
                if msg in STATE.notes:
                    return False
                STATE.notes.add(msg)
            return bool(super().filter(record))

        @property
        def stream(self) -> object:
            return sys.stderr

        @stream.setter
        def stream(self, value: object) -> None:
            pass

        def format(self, record: logging.LogRecord) -> str:
            return esc(super().format(record))

    logger = logging.getLogger("cacheinspect")
    handler = next(
        (h for h in logger.handlers if isinstance(h, logging.StreamHandler) and h.name == "cli"), None
    )
    if handler is None:
        handler = _Stderr()
        handler.name = "cli"
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    handler.setLevel(logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING))
    if verbose and logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)


def note(message: str) -> None:
    """``note: ...`` once per run on stderr (a flag that changes nothing here, say); ``-q`` silences it."""
    if STATE.quiet or message in STATE.notes:
        return
    STATE.notes.add(message)
    from cacheinspect.render.escape import esc

    sys.stderr.write(f"note: {esc(message)}\n")
