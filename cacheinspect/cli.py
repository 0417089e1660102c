"""The ``cacheinspect`` command line: a thin shell over the library.

Each command parses flags, runs one library coroutine with ``asyncio.run`` (typer silently never
awaits ``async def`` commands), renders the result and picks the exit code. Expected failures are
:class:`~cacheinspect.errors.CacheInspectError` and are turned into a one-line ``error:`` message and
their exit code in exactly one place, :func:`main`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from . import __version__
from .errors import CacheInspectError, UsageError
from .findings import Finding
from .graph import CacheGraph, build_graph
from .graphfmt import render_graph
from .load import LoadedCache
from .registry.options import RegistryOptions
from .render import render_inspect
from .report import inspect_report
from .targets import load_target, open_source

__all__ = ["app", "main"]

T = TypeVar("T")

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
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class GraphFormatOpt(StrEnum):
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


# -- shared registry options ---------------------------------------------------------------------------
_R = "Registry access"
Username = Annotated[
    str | None,
    typer.Option("--username", "-u", help="Registry user (pair with --password-stdin).", rich_help_panel=_R),
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
        "--ca-file", help="Extra CA bundle (PEM) to trust.", exists=True, dir_okay=False, rich_help_panel=_R
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency", min=1, max=256, help="Requests in flight per registry host.", rich_help_panel=_R
    ),
]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.1, help="Seconds per request before it is retried.", rich_help_panel=_R),
]
ImageRef = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="An image built with this cache: its history labels the cache's steps (e.g. 'COPY a /a').",
    ),
]


def _options(
    username: str | None,
    password_stdin: bool,
    insecure: bool,
    plain_http: bool,
    ca_file: Path | None,
    concurrency: int,
    timeout: float,
) -> RegistryOptions:
    password: str | None = None
    if password_stdin:
        if username is None:
            raise UsageError("--password-stdin needs --username")
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password")
    elif username is not None:
        raise UsageError("--username needs --password-stdin (passwords are never taken as arguments)")
    return RegistryOptions(
        username=username,
        password=password,
        insecure=insecure,
        plain_http=plain_http,
        ca_file=ca_file,
        concurrency=concurrency,
        timeout=timeout,
    )


def _run(coro: Awaitable[T]) -> T:
    async def wrap() -> T:
        return await coro

    return asyncio.run(wrap())


class Progress:
    """A one-line progress indicator on stderr: redrawn in place on a terminal, sparse lines otherwise."""

    def __init__(self, what: str, *, enabled: bool = True) -> None:
        self.what = what
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.tty:
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r{self.what}: {done}/{total}{end}")
            sys.stderr.flush()
            return
        decile = done * 10 // total
        if decile != self._last_decile:
            self._last_decile = decile
            sys.stderr.write(f"{self.what}: {done}/{total}\n")


async def check_blobs(
    target: str, options: RegistryOptions, cache: LoadedCache, progress: Progress
) -> list[Finding]:
    """HEAD every layer blob the cache lists; a missing one is an error finding naming its digest."""
    if cache.location == "file":
        raise UsageError("--check-blobs needs a registry or layout cache (a bare config names no repository)")
    async with open_source(target, options) as src:
        found = await src.blobs_exist(sorted(cache.blobs), progress=progress)
    return [
        Finding.of("blob-missing", f"layer blob {d} is missing from {cache.ref}", subject=d)
        for d, ok in sorted(found.items())
        if not ok
    ]


# -- commands --------------------------------------------------------------------------------------------
@app.command()
def inspect(
    ref: Annotated[str, typer.Argument(help="Cache reference, OCI layout directory or cache-config file.")],
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    check_blobs_: Annotated[
        bool,
        typer.Option(
            "--check-blobs", help="HEAD every layer blob and report missing ones (progress on stderr)."
        ),
    ] = False,
    image: ImageRef = None,
    records: Annotated[bool, typer.Option("--records/--no-records", help="Show the records table.")] = True,
    layers: Annotated[bool, typer.Option("--layers/--no-layers", help="Show the layers table.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output on stderr.")] = False,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """Decode a cache into its record/link graph: summary, layers, records, findings.

    The summary gives the shape (oci-index, docker-manifest-list, image-manifest, inline, config), the
    estimated export mode (min/max), counts of records and distinct layer blobs, age, and the config's
    size against BuildKit's 1 MiB import cap. Findings are what BuildKit's importer would reject or
    silently drop. Exits 0 whatever the findings (use `audit` as a gate).
    """
    opts = _options(username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout)

    async def go() -> str:
        cache = await load_target(ref, opts, image=image)
        g = build_graph(cache)
        extra = (
            await check_blobs(ref, opts, cache, Progress("checking blobs", enabled=not quiet))
            if check_blobs_
            else []
        )
        return render_inspect(inspect_report(g, extra), fmt.value, records=records, layers=layers)

    sys.stdout.write(_run(go()))


@app.command()
def graph(
    ref: Annotated[str, typer.Argument(help="Cache reference, OCI layout directory or cache-config file.")],
    fmt: Annotated[
        GraphFormatOpt, typer.Option("--format", "-f", help="dot (Graphviz), mermaid, or json.")
    ] = (GraphFormatOpt.dot),
    image: ImageRef = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """Print the record/link graph: roots as ellipses, cached steps filled, edges labelled by input index.

    Render DOT with `dot -Tsvg`; paste Mermaid into any Markdown that renders it.
    """
    opts = _options(username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout)

    async def go() -> CacheGraph:
        return build_graph(await load_target(ref, opts, image=image))

    sys.stdout.write(render_graph(_run(go()), fmt.value))


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
