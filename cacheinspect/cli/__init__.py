"""The ``cacheinspect`` command line: a thin shell over the library.

One module per command group (``inspect``, ``diff``, ``audit`` ...), each with a ``register(app)``; a
command imports the library parts it needs inside its body, so ``--help``, ``--version`` and completion
never import the HTTP stack or the decoder. Each command parses flags, runs one library coroutine with
``asyncio.run`` (typer silently never awaits ``async def`` commands), renders the result and picks the
exit code. Expected failures are :class:`~cacheinspect.errors.CacheInspectError` and are turned into a
one-line ``error:`` message and their exit code in exactly one place, :func:`main`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cacheinspect._version import __version__
from cacheinspect.cli import audit as _audit
from cacheinspect.cli import diff as _diff
from cacheinspect.cli import inspect as _inspect
from cacheinspect.errors import CacheInspectError

__all__ = ["app", "main"]

app = typer.Typer(
    name="cacheinspect",
    help=(
        "Open up BuildKit build caches: registry caches (--cache-to type=registry, any shape), inline cache "
        "in images, local OCI layouts and bare cache-config files.\n\n"
        "REF is a registry reference (registry/repo:tag[@digest]), oci-layout://DIR[:TAG|@DIGEST], a layout "
        "directory, or a cache-config JSON file.\n\n"
        "Exit codes: 0 ok, 1 findings (audit, diff --exit-code), 2 usage or bad reference, 3 authentication, "
        "4 not found, 5 network or registry error, 6 integrity (digest mismatch, malformed content)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts contain brackets (os/arch[/variant], oci-layout://DIR[:TAG]): no rich markup parsing.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


for _module in (_inspect, _diff, _audit):
    _module.register(app)


def version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"cacheinspect {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every expected failure into ``error: ...`` and its exit code.

    typer runs in standalone mode, so its own usage errors print as usual and exit 2; our errors pass
    through it untouched and are handled here, once.
    """
    try:
        app(args=argv)
    except CacheInspectError as e:
        sys.stderr.write(f"error: {e.diagnostics()}\n")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
