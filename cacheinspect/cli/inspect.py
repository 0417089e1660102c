"""`inspect` and `graph`: decode one cache into its record/link graph and show it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cacheinspect.cache.graph import CacheGraph

from cacheinspect.cli._common import (
    CaFile,
    Concurrency,
    GraphFormatOpt,
    ImageRef,
    Insecure,
    OutFormat,
    PasswordStdin,
    PlainHttp,
    Progress,
    Timeout,
    Username,
    registry_options,
    run,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to *app*."""

    @app.command()
    def inspect(
        ref: Annotated[
            str,
            typer.Argument(metavar="REF", help="Cache reference, OCI layout directory or cache-config file."),
        ],
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
        check_blobs_: Annotated[
            bool,
            typer.Option(
                "--check-blobs", help="HEAD every layer blob and report missing ones (progress on stderr)."
            ),
        ] = False,
        image: ImageRef = None,
        records: Annotated[
            bool, typer.Option("--records/--no-records", help="Show the records table.")
        ] = True,
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
        from cacheinspect.cache.audit import blob_findings
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_target
        from cacheinspect.cache.report import inspect_report
        from cacheinspect.render.text import render_inspect

        opts = registry_options(
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

        sys.stdout.write(run(go()))

    @app.command()
    def graph(
        ref: Annotated[
            str,
            typer.Argument(metavar="REF", help="Cache reference, OCI layout directory or cache-config file."),
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
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_target
        from cacheinspect.render.graph import render_graph

        opts = registry_options(
            username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref, image]
        )

        async def go() -> CacheGraph:
            return build_graph(await load_target(ref, opts, image=image))

        sys.stdout.write(render_graph(run(go()), fmt.value))
