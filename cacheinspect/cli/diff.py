"""`diff`: compare two caches and explain why a second host missed the first one's cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import (
    CaFile,
    Concurrency,
    Insecure,
    OutFormat,
    Output,
    PasswordStdin,
    PlainHttp,
    Platform,
    Timeout,
    Username,
    Verbose,
    output,
    registry_options,
    run,
    setup_logging,
)
from cacheinspect.cli._grammar import phase

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to *app*."""

    @app.command(
        epilog=(
            "Examples:\n\n"
            "  cacheinspect diff ghcr.io/acme/app:cache-main ghcr.io/acme/app:cache-pr-42\n\n"
            "  cacheinspect diff oci-layout://./host-a oci-layout://./host-b -f markdown -o diff.md\n\n"
            "  cacheinspect diff A B --exit-code > /dev/null && echo same\n\n"
            "  cacheinspect diff host-a-cache host-b-cache --fingerprint-a a.fp.json --fingerprint-b b.fp.json"
        )
    )
    def diff(
        ref_a: Annotated[
            str, typer.Argument(metavar="A", help="The cache that should have been hit (e.g. host A's).")
        ],
        ref_b: Annotated[
            str, typer.Argument(metavar="B", help="The cache to compare (e.g. what host B produced).")
        ],
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
        exit_code: Annotated[
            bool,
            typer.Option("--exit-code", help="Exit 1 when the caches differ (like git diff --exit-code)."),
        ] = False,
        image_a: Annotated[
            str | None, typer.Option("--image-a", metavar="REF", help="Image built with A (labels steps).")
        ] = None,
        image_b: Annotated[
            str | None, typer.Option("--image-b", metavar="REF", help="Image built with B (labels steps).")
        ] = None,
        fingerprint_a: Annotated[
            Path | None,
            typer.Option(
                "--fingerprint-a",
                metavar="FILE",
                help="A's fingerprint (context fingerprint -o FILE); with --fingerprint-b, names the field "
                "of a step whose definition changed.",
            ),
        ] = None,
        fingerprint_b: Annotated[
            Path | None,
            typer.Option("--fingerprint-b", metavar="FILE", help="B's fingerprint (see --fingerprint-a)."),
        ] = None,
        platform: Platform = None,
        out: Output = None,
        verbose: Verbose = False,
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
        input-changed, results-missing), whether the step's own definition or an input changed, and the
        steps downstream that missed because of it. With both hosts' fingerprints (--fingerprint-a/-b), a
        changed definition names its field (env FLAVOR=fancy in B, plain in A).
        """
        from cacheinspect._aio import gather
        from cacheinspect.cache.diff import diff_report
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_target
        from cacheinspect.errors import EXIT_FINDINGS
        from cacheinspect.render.diff import render_diff
        from cacheinspect.sources.targets import local_only

        setup_logging(verbose)
        from cacheinspect.cli.context import read_input
        from cacheinspect.context.fingerprint import load_fingerprint

        fps = [
            load_fingerprint(read_input(p, "fingerprint"), name=str(p)) if p is not None else None
            for p in (fingerprint_a, fingerprint_b)
        ]
        opts = registry_options(
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
            a, b = await gather(
                load_target(ref_a, opts, image=image_a, platform=platform),
                load_target(ref_b, opts, image=image_b, platform=platform),
            )
            return diff_report(build_graph(a), build_graph(b), fingerprint_a=fps[0], fingerprint_b=fps[1])

        phase(f"loading and comparing {ref_a} and {ref_b}")
        report = run(go(), local=local_only(ref_a, ref_b, image_a, image_b))
        with output(out) as w:
            w.write(render_diff(report, fmt.value))
        if exit_code and report["different"]:
            raise typer.Exit(EXIT_FINDINGS)
