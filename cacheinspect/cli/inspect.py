"""`inspect` and `graph`: decode one cache into its record/link graph and show it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl

if TYPE_CHECKING:
    from cacheinspect.cache.findings import Finding
    from cacheinspect.cache.graph import CacheGraph
    from cacheinspect.dockerfile.model import Build
    from cacheinspect.registry.options import RegistryOptions

from cacheinspect.cli._common import (
    CaFile,
    Concurrency,
    GraphFormatOpt,
    ImageRef,
    Insecure,
    OutFormat,
    Output,
    PasswordStdin,
    PlainHttp,
    Platform,
    Progress,
    Quiet,
    RawWhat,
    Schema,
    SchemaOpt,
    Timeout,
    Username,
    Verbose,
    keep,
    limit,
    output,
    parse_build_args,
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
            "  cacheinspect inspect ghcr.io/acme/app:buildcache --image ghcr.io/acme/app:latest\n\n"
            "  cacheinspect inspect oci-layout://./cache -f json | jq '.summary'\n\n"
            "  cacheinspect inspect ghcr.io/acme/app:buildcache --raw config | jq '.records | length'\n\n"
            "  cacheinspect inspect ghcr.io/acme/app:latest --dockerfile Dockerfile   # steps with cache mounts"
        )
    )
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
            str,
            typer.Option(
                "--records", metavar="N|all", help="Records listed in the table: the first N in build order."
            ),
        ] = "50",
        no_records: Annotated[bool, typer.Option("--no-records", help="No records table.")] = False,
        layers: Annotated[
            str, typer.Option("--layers", metavar="N|all", help="Layers listed in the table: the N largest.")
        ] = "50",
        no_layers: Annotated[bool, typer.Option("--no-layers", help="No layers table.")] = False,
        platform: Platform = None,
        dockerfile: Annotated[
            Path | None,
            typer.Option(
                "--dockerfile",
                metavar="FILE",
                help="The Dockerfile the image was built from: name the steps that ran with a cache mount "
                "(image history does not record mounts).",
            ),
        ] = None,
        df_target: Annotated[
            str | None, typer.Option("--target", metavar="STAGE", help="With --dockerfile: the stage built.")
        ] = None,
        build_arg: Annotated[
            list[str] | None,
            typer.Option("--build-arg", metavar="KEY=VALUE", help="With --dockerfile: a build argument."),
        ] = None,
        raw: Annotated[
            RawWhat | None,
            typer.Option("--raw", help="Print the cache manifest or config bytes as fetched (for jq)."),
        ] = None,
        schema: Schema = SchemaOpt.v2,
        out: Output = None,
        quiet: Quiet = False,
        verbose: Verbose = False,
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
        setup_logging(verbose, quiet)
        n_records, n_layers = limit(records, "--records"), limit(layers, "--layers")
        opts = registry_options(
            username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref, image]
        )
        if raw is not None:  # the bytes as fetched: no decoder, graph or renderer to import
            data = run(_raw(ref, opts, raw.value, platform))
            with output(out) as w:
                w.write(data)
            return
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_target
        from cacheinspect.cache.report import inspect_report, iter_inspect_json
        from cacheinspect.render.inspect import render_inspect
        from cacheinspect.sources.targets import local_only

        async def go() -> tuple[CacheGraph, list[Finding]]:
            cache = await load_target(ref, opts, image=image, platform=platform)
            g = build_graph(cache)
            extra = []
            if check_blobs_:  # the blob checks (cache.audit) only when asked for
                from cacheinspect.cache.audit import blob_findings

                extra = await blob_findings(ref, opts, cache, Progress("checking blobs", enabled=not quiet))
            return g, extra  # the graph has a short repr (asyncio.run formats it, cpython#112559)

        mounts_df = _read_dockerfile(dockerfile, df_target, build_arg) if dockerfile is not None else None
        phase(f"loading and decoding {ref}")
        g, extra = keep(run(go(), local=local_only(ref, image)))
        phase("writing the report")
        if mounts_df is not None:
            extra = [*extra, *_cache_mount_findings(g, mounts_df, str(dockerfile))]
        with output(out) as w:
            if fmt == OutFormat.json:
                for chunk in iter_inspect_json(g, extra, schema=schema.value):
                    w.write(chunk)
                return
            report = inspect_report(g, extra, records=n_records, layers=n_layers)
            tf: Literal["table", "markdown"] = "markdown" if fmt == OutFormat.markdown else "table"
            w.write(render_inspect(report, tf, records=not no_records, layers=not no_layers))

    @app.command(
        epilog=(
            "Examples:\n\n"
            "  cacheinspect graph oci-layout://./cache | dot -Tsvg > cache.svg   # dot is in graphviz\n\n"
            "  cacheinspect graph ghcr.io/acme/app:buildcache -f mermaid -o graph.mmd"
        )
    )
    def graph(
        ref: Annotated[
            str,
            typer.Argument(metavar="REF", help="Cache reference, OCI layout directory or cache-config file."),
        ],
        fmt: Annotated[
            GraphFormatOpt, typer.Option("--format", "-f", help="dot (Graphviz), mermaid, or json.")
        ] = (GraphFormatOpt.dot),
        image: ImageRef = None,
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
        """Print the record/link graph: roots as ellipses, cached steps filled, edges labelled by input index.

        Render DOT with `dot -Tsvg` (from the graphviz package); paste Mermaid into any Markdown that
        renders it.
        """
        from cacheinspect.cache.graph import build_graph
        from cacheinspect.cache.load import load_target
        from cacheinspect.render.graph import render_graph
        from cacheinspect.sources.targets import local_only

        setup_logging(verbose)
        opts = registry_options(
            username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref, image]
        )

        async def go() -> CacheGraph:
            return build_graph(await load_target(ref, opts, image=image, platform=platform))

        phase(f"loading and decoding {ref}")
        text = render_graph(keep(run(go(), local=local_only(ref, image))), fmt.value)
        with output(out) as w:
            w.write(text)


async def _raw(ref: str, opts: RegistryOptions, what: str, platform: str | None) -> bytes:
    """``--raw``: the root manifest (or, for ``config``, the cache config / image config) as fetched."""
    from cacheinspect.cache.open import open_source
    from cacheinspect.errors import UsageError
    from cacheinspect.sources.targets import FileTarget, parse_target

    t = parse_target(ref)
    if isinstance(t, FileTarget):
        if what == "manifest":
            raise UsageError(f"{ref} is a bare cache config: it has no manifest (use --raw config)")
        try:
            return t.path.read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {t.path}: {e.strerror or e}") from None
    async with open_source(ref, opts) as src:
        if what == "manifest":
            return (await src.fetch_manifest()).data
    from cacheinspect.cache.load import load_target

    cache = await load_target(ref, opts, platform=platform)
    if cache.config_digest is None:
        raise UsageError(f"{ref} holds one inline cache per platform: pick one with --platform")
    async with open_source(ref, opts) as src:
        from cacheinspect.sources.base import DEFAULT_MAX_BYTES

        return await src.fetch_blob(cache.config_digest, max_bytes=DEFAULT_MAX_BYTES)


def _read_dockerfile(path: Path, target: str | None, build_arg: list[str] | None) -> Build:
    """Parse and resolve ``--dockerfile`` before any network work, so a bad file fails at once."""
    from cacheinspect.dockerfile import parse_dockerfile, resolve
    from cacheinspect.errors import UsageError

    try:
        text = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
    return resolve(
        parse_dockerfile(text, filename=str(path)), build_args=parse_build_args(build_arg), target=target
    )


def _cache_mount_findings(g: CacheGraph, build: Build, filename: str) -> list[Finding]:
    """``cache-mount-step`` findings: image steps (labelled from history) whose RUN mounts a cache."""
    from cacheinspect.cache.findings import Finding
    from cacheinspect.lint.history import cache_mounted_steps

    order = [g.records[i] for i in g.order if g.records[i].step]
    out = []
    for hit in cache_mounted_steps([r.step for r in order], build):
        rec = order[hit.position]
        targets = ", ".join(m.target for m in hit.mounts)
        out.append(
            Finding.of(
                "cache-mount-step",
                f"{hit.label} ({filename}:{hit.line}) ran with a cache "
                f"mount at {targets}: what it wrote there is in no layer and no exported cache (BuildKit never "
                "exports cache mounts; image history does not record them). `cacheinspect lint` says whether "
                "the image needed it",
                subject=rec.digest,
                line=hit.line,
                mounts=[{"target": m.target, "id": m.id, "sharing": m.sharing} for m in hit.mounts],
            )
        )
    return out
