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

from ._version import __version__
from .audit import SCHEMA_AUDIT, AuditPolicy, audit_ref, blob_findings, parse_duration
from .diff import diff_report
from .errors import EXIT_FINDINGS, CacheInspectError, UsageError
from .graph import CacheGraph, build_graph
from .graphfmt import render_graph
from .reference import Reference, parse_target
from .registry.options import RegistryOptions
from .render import render_audit, render_diff, render_inspect
from .report import inspect_report
from .targets import load_target

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
    # Help texts contain brackets (os/arch[/variant], oci-layout://DIR[:TAG]): no rich markup parsing.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


def _options(
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
        if (total >= 20 or done == total) and decile != self._last_decile:
            self._last_decile = decile
            sys.stderr.write(f"{self.what}: {done}/{total}\n")


# -- commands --------------------------------------------------------------------------------------------
@app.command()
def inspect(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="Cache reference, OCI layout directory or cache-config file.")
    ],
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
    opts = _options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref, image]
    )

    async def go() -> str:
        cache = await load_target(ref, opts, image=image)
        g = build_graph(cache)
        extra = (
            await blob_findings(ref, opts, cache, Progress("checking blobs", enabled=not quiet))
            if check_blobs_
            else []
        )
        return render_inspect(inspect_report(g, extra), fmt.value, records=records, layers=layers)

    sys.stdout.write(_run(go()))


@app.command()
def graph(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="Cache reference, OCI layout directory or cache-config file.")
    ],
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
    opts = _options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref, image]
    )

    async def go() -> CacheGraph:
        return build_graph(await load_target(ref, opts, image=image))

    sys.stdout.write(render_graph(_run(go()), fmt.value))


@app.command()
def diff(
    ref_a: Annotated[
        str, typer.Argument(metavar="A", help="The cache that should have been hit (e.g. host A's).")
    ],
    ref_b: Annotated[
        str, typer.Argument(metavar="B", help="The cache to compare (e.g. what host B produced).")
    ],
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the caches differ (like git diff --exit-code).")
    ] = False,
    image_a: Annotated[
        str | None, typer.Option("--image-a", metavar="REF", help="Image built with A (labels steps).")
    ] = None,
    image_b: Annotated[
        str | None, typer.Option("--image-b", metavar="REF", help="Image built with B (labels steps).")
    ] = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """Compare two caches of any kind: blobs, records, layers one side lacks, and why B missed A.

    Records are matched by key identity, not by blob (two builds of the same steps share keys but not
    blobs). Layers that differ only in compression (same diffID) are reported as recompressed, not missing.
    The divergence section reads B as the cache a second host produced after importing A: the first
    steps whose key left A's, with a cause (context-changed, base-image-changed, definition-changed,
    results-missing) and the steps downstream that missed because of it.
    """
    opts = _options(
        username,
        password_stdin,
        insecure,
        plain_http,
        ca_file,
        concurrency,
        timeout,
        [ref_a, ref_b, image_a, image_b],
    )

    async def go() -> dict[str, object]:
        a, b = await asyncio.gather(
            load_target(ref_a, opts, image=image_a), load_target(ref_b, opts, image=image_b)
        )
        return diff_report(build_graph(a), build_graph(b))

    report = _run(go())
    sys.stdout.write(render_diff(report, fmt.value))
    if exit_code and report["different"]:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def audit(
    refs: Annotated[list[str], typer.Argument(metavar="REF", help="One or more caches to check.")],
    fmt: Annotated[
        AuditFormat,
        typer.Option("--format", "-f", help="table, json, markdown, or github (workflow annotations)."),
    ] = AuditFormat.table,
    check_blobs_: Annotated[
        bool, typer.Option("--check-blobs/--no-check-blobs", help="HEAD every layer blob (on by default).")
    ] = True,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age", metavar="DURATION", help="Fail when the newest entry is older, e.g. 12h, 7d, 2w."
        ),
    ] = None,
    expect_mode: Annotated[
        ModeOpt | None,
        typer.Option("--expect-mode", help="Fail when the cache does not look like this mode."),
    ] = None,
    require_platform: Annotated[
        list[str] | None,
        typer.Option(
            "--require-platform",
            metavar="OS/ARCH",
            help="os/arch[/variant] that must be present (repeatable).",
        ),
    ] = None,
    min_layers: Annotated[
        int | None,
        typer.Option("--min-layers", metavar="N", min=0, help="Fail with fewer distinct layer blobs."),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Lowest severity that fails the gate.")
    ] = FailOn.error,
    image: ImageRef = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output on stderr.")] = False,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """A CI gate: exit 1 when any cache has a finding at or above --fail-on (default: error).

    Always checked: the ref exists and is a cache (or an image with inline cache), the config decodes
    and passes every check BuildKit's importer makes, manifest and config are under the 1 MiB import
    cap, and (unless --no-check-blobs) every layer blob exists. Finding codes are stable; see the README.
    With --format github, findings become ::error/::warning annotations and, when GITHUB_STEP_SUMMARY is
    set, a markdown summary is appended to it.
    """
    import os
    from datetime import UTC, datetime

    opts = _options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [*refs, image]
    )
    policy = AuditPolicy(
        check_blobs=check_blobs_,
        max_age=parse_duration(max_age) if max_age is not None else None,
        expect_mode=expect_mode.value if expect_mode else None,
        require_platforms=tuple(require_platform or ()),
        min_layers=min_layers,
        fail_on=fail_on.value,
    )
    now = datetime.now(UTC)

    async def go() -> dict[str, object]:
        results = []
        for ref in refs:
            prog = Progress(f"{ref}: checking blobs", enabled=not quiet)
            results.append(await audit_ref(ref, opts, policy, now=now, image=image, progress=prog))
        return {
            "schema": SCHEMA_AUDIT,
            "ok": all(r.ok for r in results),
            "results": [r.to_json() for r in results],
        }

    doc = _run(go())
    sys.stdout.write(render_audit(doc, fmt.value))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == AuditFormat.github and summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as fh:
                fh.write("## cacheinspect audit\n\n" + render_audit(doc, "markdown"))
        except OSError as e:
            raise UsageError(f"cannot append to GITHUB_STEP_SUMMARY ({summary_file}): {e.strerror}") from None
    if not doc["ok"]:
        raise typer.Exit(EXIT_FINDINGS)


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
