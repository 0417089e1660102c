"""Flags, option types and helpers every command group shares.

Imported by each command module; kept free of the HTTP stack and the decoder so that building the
typer app for ``--help`` or completion stays cheap (those are imported inside the commands).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._grammar import setup_logging
from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions

__all__ = [
    "AuditFormat",
    "CaFile",
    "Concurrency",
    "FailOn",
    "GraphFormatOpt",
    "ImageRef",
    "Insecure",
    "ModeOpt",
    "OutFormat",
    "Output",
    "PasswordStdin",
    "PlainHttp",
    "Platform",
    "Progress",
    "Quiet",
    "RawWhat",
    "Schema",
    "SchemaOpt",
    "Timeout",
    "Username",
    "Verbose",
    "keep",
    "limit",
    "output",
    "parse_build_args",
    "plain_usage",
    "registry_options",
    "run",
    "setup_logging",
]

T = TypeVar("T")


class OutFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class AuditFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"


class ModeOpt(StrEnum):
    max = "max"
    min = "min"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"


class GraphFormatOpt(StrEnum):
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


class RawWhat(StrEnum):
    manifest = "manifest"
    config = "config"


class SchemaOpt(StrEnum):
    v1 = "v1"
    v2 = "v2"


# -- output and logging --------------------------------------------------------------------------------
Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write the output to FILE instead of stdout.", dir_okay=False
    ),
]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Log every registry request on stderr: method, URL, status, auth scheme, retries (secrets redacted).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output on stderr.")]
Platform = Annotated[
    str | None,
    typer.Option(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="Only this platform of a multi-platform cache or image (e.g. linux/arm64).",
    ),
]
Schema = Annotated[
    SchemaOpt,
    typer.Option(
        "--schema",
        help="JSON schema: v2 (linear in the cache size) or v1 (deprecated; removed in the next release).",
    ),
]


def limit(value: str, flag: str) -> int | None:
    """``N`` or ``all`` (None) for --records / --layers."""
    if value.lower() == "all":
        return None
    if value.isdigit():
        return int(value)
    raise UsageError(f"{flag} takes a number or 'all', not {value!r}")


class output:
    """Where a command writes: stdout, or ``-o FILE``: a temporary file next to FILE, renamed over it
    when the command completes, removed when it fails (no partial FILE; cli/_grammar.py's rule for -o)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._tmp: Any = None

    def __enter__(self) -> output:
        if self.path is not None:
            from cacheinspect.cli._grammar import _Redirect

            self._tmp = _Redirect(self.path)
        return self

    def write(self, data: str | bytes) -> None:
        b = data.encode() if isinstance(data, str) else data
        if self._tmp is None:
            try:
                sys.stdout.buffer.write(b)
            except BrokenPipeError:
                raise  # `| head`: cli.main ends quietly with 141
            except OSError as e:  # `> /dev/full`: ENOSPC is the user's disk, not a bug
                raise UsageError(f"cannot write standard output: {e.strerror or e}") from None
        else:
            try:
                self._tmp.fh.write(b)
            except OSError as e:
                raise UsageError(f"cannot write {self.path}: {e.strerror or e}") from None

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # A buffered write fails only when the buffer is flushed (``> /dev/full``): at flush/close.
        if self._tmp is None:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as e:
                if exc_type is None:
                    raise UsageError(f"cannot write standard output: {e.strerror or e}") from None
        elif exc_type is None:
            self._tmp.commit()
        else:
            self._tmp.discard()


def verbatim_examples(epilog: str) -> str:
    """Example paragraphs of an epilog kept as written (click's ``\\b`` marker): a command line
    rewrapped at 80 columns cannot be copied, and one cut at a hyphen (``--allow-`` / ``missing``)
    reads as two flags."""
    out = []
    for par in epilog.split("\n\n"):
        s = par.strip()
        is_example = s.startswith(("cacheinspect ", "source <(", "cat ", "Example: ", "Examples:"))
        out.append("\b\n" + par if is_example and "\n" not in par and len(par) > 1 else par)
    return "\n\n".join(out)


def no_hyphen_breaks() -> None:
    """Help text is wrapped at spaces only: click's wrapper (``TextWrapper``) breaks after a hyphen by
    default, which cut ``--allow-missing`` and ``oci-layout://`` in two."""
    from typer._click import _textwrap

    cls = _textwrap.TextWrapper
    if getattr(cls, "_cacheinspect_patched", False):
        return
    init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["break_on_hyphens"] = False
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls._cacheinspect_patched = True  # type: ignore[attr-defined]


def plain_usage(app: Any) -> None:
    """Usage lines without typer's ``{REF}`` braces and argument help without Python types
    (``REF <list[str]>``), for every command registered on the (real) typer app *app* and its sub-apps."""
    from typer.core import TyperArgument, TyperCommand

    from cacheinspect.cli._grammar import GrammarCommand

    class PlainCommand(GrammarCommand, TyperCommand):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self._grammar_init()
            if self.epilog:
                self.epilog = verbatim_examples(self.epilog)
            for p in self.params:
                if not isinstance(p, TyperArgument):
                    continue
                if hasattr(p, "display_type_rich"):  # typer 0.29 shows argument types; 0.28 does not
                    setattr(p, "display_type_rich", lambda ctx: None)  # noqa: B010
                if p.nargs != 1 and p.metavar and not p.metavar.endswith("..."):
                    # typer 0.28 drops click's "..." for a repeatable argument with a metavar, so the
                    # usage line said `audit [OPTIONS] REF` for a command that takes several refs.
                    plain = p.make_metavar

                    def with_dots(ctx: Any, *, usage: bool = False, _m: Any = plain) -> str:
                        text = str(_m(ctx, usage=usage))
                        return text + "..." if usage and not text.endswith("...") else text

                    setattr(p, "make_metavar", with_dots)  # noqa: B010

        def collect_usage_pieces(self, ctx: Any) -> list[str]:
            return [x.replace("{", "").replace("}", "") for x in super().collect_usage_pieces(ctx)]

    no_hyphen_breaks()

    def walk(t: Any) -> None:
        for info in t.registered_commands:
            if info.cls is None or info.cls is TyperCommand:
                info.cls = PlainCommand
        for g in t.registered_groups:
            if g.typer_instance is not None:
                walk(g.typer_instance)

    walk(app)


# -- shared registry options ---------------------------------------------------------------------------
_R = "Registry access"
Username = Annotated[
    str | None,
    typer.Option(
        "--username",
        "-u",
        metavar="USER",
        help="Registry user (pair with --password-stdin).",
        rich_help_panel=_R,
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password or token from stdin.", rich_help_panel=_R)
]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Skip TLS certificate verification.", rich_help_panel=_R)
]
PlainHttp = Annotated[
    bool,
    typer.Option(
        "--plain-http",
        help="Use plain HTTP (loopback registries fall back to it by themselves).",
        rich_help_panel=_R,
    ),
]
CaFile = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        metavar="PEM",
        help="Extra CA bundle (PEM) to trust.",
        exists=True,
        dir_okay=False,
        rich_help_panel=_R,
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency",
        metavar="N",
        min=1,
        max=256,
        help="Requests in flight per registry host.",
        rich_help_panel=_R,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0.1,
        help="Seconds per request before it is retried.",
        rich_help_panel=_R,
    ),
]
ImageRef = Annotated[
    str | None,
    typer.Option(
        "--image",
        metavar="REF",
        help="An image built with this cache: its history labels the cache's steps (e.g. 'COPY a /a').",
    ),
]


def registry_options(
    username: str | None,
    password_stdin: bool,
    insecure: bool,
    plain_http: bool,
    ca_file: Path | None,
    concurrency: int,
    timeout: float,
    refs: list[str | None],
) -> RegistryOptions:
    """Registry options from the shared flags.

    ``--username``/``--password-stdin`` are bound to the registry of the first registry reference among
    *refs*: a diff against another registry, or an ``--image`` on Docker Hub, must not receive them.
    """
    from cacheinspect.registry.options import RegistryOptions

    password: str | None = None
    if password_stdin:
        if username is None:
            raise UsageError("--password-stdin needs --username")
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password")
    elif username is not None:
        raise UsageError("--username needs --password-stdin (passwords are never taken as arguments)")
    credentials_for = None
    if username is not None:
        from cacheinspect.reference import Reference  # only here: lint and context never pay for it
        from cacheinspect.sources.targets import parse_target

        for r in refs:
            t = parse_target(r) if r else None
            if isinstance(t, Reference):
                credentials_for = t.registry
                break
    return RegistryOptions(
        credentials_for=credentials_for,
        username=username,
        password=password,
        insecure=insecure,
        plain_http=plain_http,
        ca_file=ca_file,
        concurrency=concurrency,
        timeout=timeout,
    )


#: Results kept alive until the process ends (``main`` exits without freeing them: see ``_exit_now``).
_KEEP: list[object] = []


def keep(obj: T) -> T:
    """Hold *obj* until exit, so that returning from a command does not spend time freeing it."""
    _KEEP.append(obj)
    return obj


class _Box:
    """The result of ``run``'s coroutine with a constant repr: CPython 3.11's ``asyncio.run`` formats the
    repr of what it returns (python/cpython#112559), seconds for a large report dict."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


def run(coro: Awaitable[T], *, local: bool = False) -> T:
    """Run one library coroutine to completion (asyncio is imported here, not at start-up).

    ``local``: every source is a layout or a file (:func:`~cacheinspect.sources.targets.local_only`), so
    nothing suspends and no event loop is needed: asyncio is not imported at all (:mod:`cacheinspect._aio`).
    """
    if local:
        from cacheinspect._aio import run_local

        async def direct() -> T:
            return await coro

        return run_local(direct())
    import asyncio

    async def wrap() -> _Box:
        return _Box(await coro)

    return asyncio.run(wrap()).value  # type: ignore[return-value]


class Progress:
    """A one-line progress indicator on stderr: redrawn in place on a terminal, sparse lines otherwise."""

    def __init__(self, what: str, *, enabled: bool = True) -> None:
        self.what = what
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        from cacheinspect.cli._grammar import STATE

        if not self.enabled or total == 0 or STATE.quiet:
            return
        if self.tty:
            if STATE.ticker is not None:  # one line on the terminal: the counter replaces the ticker's
                STATE.ticker.show(f"{self.what}: {done}/{total}", final=done == total)
                return
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r{self.what}: {done}/{total}{end}")
            sys.stderr.flush()
            return
        decile = done * 10 // total
        if (total >= 20 or done == total) and decile != self._last_decile:
            self._last_decile = decile
            sys.stderr.write(f"{self.what}: {done}/{total}\n")


def parse_build_args(items: list[str] | None) -> dict[str, str]:
    """``--build-arg`` values as ``docker build`` reads them: ``KEY=VALUE``, or ``KEY`` alone taken from
    the environment when it is set there (and left out when it is not). Shared by every command that
    reads a Dockerfile, so they agree on the values and on the error."""
    import os

    args: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"--build-arg {item!r}: expected KEY=VALUE")
        if sep:
            args[key] = value
        elif key in os.environ:
            args[key] = os.environ[key]
    return args
