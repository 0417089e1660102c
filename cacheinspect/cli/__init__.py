"""The ``cacheinspect`` command line: a thin shell over the library.

One module per command group (``inspect``, ``diff``, ``audit`` ...), each with a ``register(app)``,
listed once in :data:`GROUPS`. A command imports the library parts it needs inside its body. Each
command parses flags, runs one library coroutine with ``asyncio.run`` (typer silently never awaits
``async def`` commands), renders the result and picks the exit code.

Start-up: ``--help``, ``-h`` and ``--version`` (top level and per command) and ``version`` are answered
by :func:`main` from text pre-rendered by typer (``cli/_help.py``, regenerated with
``python -m cacheinspect.cli._gen_help``; a test keeps it equal to what typer prints), without
importing typer at all: ``import typer`` alone costs ~6x a bare interpreter start. When any CLI
source changed since the text was rendered, typer renders it as usual.

Errors are handled in exactly one place, :func:`main`: a :class:`~cacheinspect.errors.CacheInspectError`
becomes ``error: <message>`` (and ``hint: ...``) with its class's exit code; typer's own usage errors
become the same one-line ``error:`` with exit 2; anything else is a bug: one line naming it as one,
with the version, and exit :data:`EXIT_BUG` (70, ``EX_SOFTWARE`` of sysexits.h; never 1, which means
"findings"). Every message passes through :func:`~cacheinspect.render.escape.esc`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from cacheinspect._version import __version__

if TYPE_CHECKING:
    import typer

__all__ = ["EXIT_BUG", "GROUPS", "app", "build_app", "main"]

#: A crash: an exception no code path expected (a bug in cacheinspect). sysexits.h ``EX_SOFTWARE``.
EXIT_BUG = 70

#: Command groups, in the order ``--help`` lists them: each is ``cacheinspect/cli/<name>.py`` with a
#: ``register(app)``. Add one line per new group.
GROUPS: tuple[str, ...] = (
    "inspect",
    "diff",
    "audit",
    "context",
    "gc",
    "lint",
    "registry",
    "meta",  # version, completion
)

HELP = (
    "Open up BuildKit build caches: registry caches (--cache-to type=registry, any shape), inline cache "
    "in images, local OCI layouts and bare cache-config files.\n\n"
    "REF is a registry reference (registry/repo:tag[@digest]), oci-layout://DIR[:TAG|@DIGEST], a layout "
    "directory, or a cache-config JSON file.\n\n"
    "Exit codes: 0 ok, 1 findings (audit, diff --exit-code), 2 usage or bad reference, 3 authentication, "
    "4 not found, 5 network or registry error, 6 integrity (digest mismatch, malformed content), "
    "70 a bug in cacheinspect (please report it)."
)
EPILOG = (
    "Examples:\n\n"
    "  cacheinspect inspect ghcr.io/acme/app:buildcache\n\n"
    "  cacheinspect diff oci-layout://./cache-a oci-layout://./cache-b\n\n"
    "  cacheinspect audit ghcr.io/acme/app:buildcache --expect-mode max --max-age 7d"
)
#: Help is rendered at this width whatever the terminal, so the pre-rendered text is exact.
HELP_WIDTH = 80

_app: typer.Typer | None = None


def build_app() -> typer.Typer:
    """The typer app with every group of :data:`GROUPS` registered (imports typer)."""
    import importlib

    import typer
    from typer._types import TyperChoice

    from cacheinspect.cli._common import plain_usage

    app = typer.Typer(
        name="cacheinspect",
        help=HELP,
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,  # the `completion` command prints the scripts (see cli/meta.py)
        pretty_exceptions_enable=False,
        # Help texts contain brackets (os/arch[/variant], oci-layout://DIR[:TAG]): no rich markup parsing.
        rich_markup_mode=None,
        context_settings={
            "help_option_names": ["-h", "--help"],
            "terminal_width": HELP_WIDTH,
            "max_content_width": HELP_WIDTH,
        },
    )
    from cacheinspect.cli import _fastdecl

    rec = _fastdecl.Typer()
    for name in GROUPS:
        importlib.import_module(f"cacheinspect.cli.{name}").register(rec)
    rec.functions()  # the fast path's lookup must be unambiguous (raises otherwise)
    _fastdecl.replay(rec, app)

    def version_callback(value: bool) -> None:
        if value:
            sys.stdout.write(f"cacheinspect {__version__}\n")
            raise typer.Exit()

    from cacheinspect.cli._grammar import _HELP, STATE

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help=_HELP["quiet"]),
        verbose: bool = typer.Option(False, "--verbose", "-v", help=_HELP["verbose"]),
        color: str = typer.Option(
            "auto",
            "--color",
            metavar="auto|always|never",
            help=_HELP["color"],
            click_type=TyperChoice(["auto", "always", "never"]),
        ),
    ) -> None:
        """Global options: given before the command (`cacheinspect -v inspect REF`), they apply to it."""
        STATE.quiet = STATE.quiet or quiet
        STATE.verbose = STATE.verbose or verbose
        STATE.color = color

    plain_usage(app)
    import os

    if os.environ.get("_CACHEINSPECT_COMPLETE"):  # the shell asks for completions (cli/meta.py scripts)
        from typer._completion_classes import completion_init

        completion_init()
    return app


def __getattr__(name: str) -> Any:
    """``cacheinspect.cli.app`` is built on first use (importing this package must stay cheap)."""
    global _app
    if name == "app":
        if _app is None:
            _app = build_app()
        return _app
    raise AttributeError(name)


def _fast(args: list[str]) -> str | None:
    """The text for ``--version``, ``version`` and ``[COMMAND...] -h|--help`` without typer, or None."""
    if args in (["--version"], ["version"]):
        return f"cacheinspect {__version__}\n"
    if not args or args[-1] not in ("-h", "--help"):
        return None
    from cacheinspect.cli import _help, _helpcheck

    if not _helpcheck.fresh():
        return None
    return _help.HELP.get(" ".join(args[:-1]))


def _error(message: str, hint: str | None = None) -> None:
    from cacheinspect.cli._grammar import color_enabled
    from cacheinspect.render.escape import esc

    label = "\x1b[1;31merror:\x1b[0m" if color_enabled(sys.stderr) else "error:"
    sys.stderr.write(f"{label} {esc(message)}\n" + (f"hint: {esc(hint)}\n" if hint else ""))


def _command_path(args: list[str]) -> str:
    """``cacheinspect lint`` for ``-q lint --format``: the command the arguments name (the group, or the
    program alone, when they stop short of one), from the fast path's tables."""
    from cacheinspect.cli import _fastspec

    path: list[str] = []
    skip = False
    for tok in args:
        if skip or tok.startswith("-"):
            skip = tok == "--color"  # the one root option that takes a separate value
            continue
        name = " ".join([*path, tok])
        if name not in _fastspec.GROUPS and _fastspec.command(name) is None:
            break
        path.append(tok)
        if name not in _fastspec.GROUPS:
            break
    return " ".join(["cacheinspect", *path])


def _usage_error(e: Any, args: list[str]) -> int:
    """typer's (click's) own usage errors, in the one-line style of every other error."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `cacheinspect` alone, `gc` alone
        sys.stdout.write(ctx.get_help() + "\n")
        return 2
    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    msg = msg.replace("Value error, ", "")
    msg = msg[:1].lower() + msg[1:]
    # click's parser errors ("option '--format' requires an argument") come without a context
    path = ctx.command_path if ctx is not None else _command_path(args)
    _error(msg.rstrip("."), f"'{path} --help' shows the usage")
    return int(getattr(e, "exit_code", 2) or 2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one ``error:`` line and its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = _fast(args)
    if text is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from cacheinspect.cli import _fastdecl
    from cacheinspect.cli._grammar import STATE
    from cacheinspect.errors import CacheInspectError

    STATE.reset()  # a fresh run (main is called several times in tests)
    code = 0
    try:
        from cacheinspect.cli._fastrun import plan

        fast = plan(args)
        if fast is not None:  # parsed without typer (cli/_fastrun.py); the same run as typer's
            code = fast()
        else:
            from typer._click.exceptions import ClickException
            from typer.exceptions import Abort

            try:
                rv = __getattr__("app")(args=args, prog_name="cacheinspect", standalone_mode=False)
                code = rv if isinstance(rv, int) else 0
            except ClickException as e:
                code = _usage_error(e, args)
            except Abort:
                sys.stderr.write("interrupted\n")
                code = 130
        sys.stdout.flush()
    except _fastdecl.Exit as e:  # a command's `raise typer.Exit(code)` (cli/_fastdecl.py)
        code = e.exit_code
    except CacheInspectError as e:
        _error(e.message, e.hint)
        code = e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except BrokenPipeError:
        # `cacheinspect inspect ... | head`: the reader left; say nothing, like other Unix tools.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 141
    except SystemExit:
        raise
    except Exception as e:  # the last resort: never a traceback, never exit 1
        _error(
            f"internal error in cacheinspect {__version__} (this is a bug, please report it with the "
            f"command that triggered it): {type(e).__name__}: {e}"
        )
        code = EXIT_BUG
    _end(code, argv)


def _end(code: int, argv: list[str] | None) -> None:
    if argv is None:
        _exit_now(code)
    raise SystemExit(code)


def _exit_now(code: int) -> None:
    """End the process without tearing down the heap: freeing the millions of objects of a large
    cache one by one took up to a second after the output was complete. Only for a real process
    (``main()`` without *argv*); everything buffered is flushed first."""
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    os._exit(code)
