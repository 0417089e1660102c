"""`registry probe|ls|prune`: what a registry accepts, what the cache tags hold, and their cleanup."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import (
    CaFile,
    Concurrency,
    Insecure,
    Output,
    PasswordStdin,
    PlainHttp,
    Quiet,
    Timeout,
    Username,
    Verbose,
)
from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions
    from cacheinspect.registry.reference import Reference

__all__ = ["register"]

#: The BuildKit version the advice is for when --buildkit-version is not given (the test bed's newer engine).
DEFAULT_BUILDKIT = "v0.25.2"


class Fmt(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Fmt, typer.Option("--format", "-f", help="table or json.")]
BuildkitVersion = Annotated[
    str,
    typer.Option(
        "--buildkit-version",
        metavar="V",
        help="The BuildKit version the --cache-to advice is for (defaults changed at v0.21).",
    ),
]


def _repo(text: str, *, tag_ok: bool = False) -> Reference:
    """REGISTRY/REPO (a tag or digest only where *tag_ok*)."""
    from cacheinspect.registry.reference import parse_reference

    ref = parse_reference(text)
    explicit_tag = ":" in text.rsplit("/", 1)[-1] or "@" in text
    if explicit_tag and not tag_ok:
        raise UsageError(
            f"{text!r}: give a repository (REGISTRY/REPO), not a tag or digest",
            hint="registry ls and prune look at every tag; probe pushes its own scratch tags",
        )
    return ref


def _options(
    username: str | None,
    password_stdin: bool,
    insecure: bool,
    plain_http: bool,
    ca_file: Path | None,
    concurrency: int,
    timeout: float,
    ref: str | None,
) -> RegistryOptions:
    from cacheinspect.cli._common import registry_options

    return registry_options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [ref]
    )


def _write(doc: dict[str, Any], fmt: Fmt, out: Path | None) -> None:
    from cacheinspect.cli._common import output
    from cacheinspect.registryops.render import render

    with output(out) as o:
        o.write(render(doc, fmt.value))


def _note(quiet: bool) -> Any:
    import sys

    def note(msg: str) -> None:
        if not quiet:
            sys.stderr.write(msg + "\n")

    return note


def register(app: typer.Typer) -> None:
    """Add the ``registry`` group to *app*."""
    reg_app = typer.Typer(
        name="registry",
        help="Registry operations for BuildKit caches: which cache shapes a registry takes (probe), what "
        "each cache tag holds alone or shares (ls), and deleting old cache tags (prune).",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(reg_app, name="registry")

    @reg_app.command(
        epilog="Examples:\n\n"
        "  cacheinspect registry probe registry.example.com/team/app --buildkit-version v0.13\n\n"
        "  cacheinspect registry probe --read-only ghcr.io/acme/app:buildcache\n\n"
        "  cacheinspect registry probe --from-log build.log"
    )
    def probe(
        target: Annotated[
            str | None,
            typer.Argument(
                metavar="REGISTRY/REPO",
                help="Where to probe (a repository you may push to); with --read-only, a cache REF.",
                show_default=False,
            ),
        ] = None,
        read_only: Annotated[
            bool, typer.Option("--read-only", help="Check an existing cache REF instead of pushing anything.")
        ] = False,
        from_log: Annotated[
            Path | None,
            typer.Option(
                "--from-log",
                metavar="FILE",
                help="Diagnose a failed cache export from a BuildKit --progress=plain log (no registry access).",
                dir_okay=False,
            ),
        ] = None,
        leave_scratch: Annotated[
            bool,
            typer.Option(
                "--leave-scratch",
                help="Probe even where the registry refuses deletes (the scratch tags then stay behind).",
            ),
        ] = False,
        buildkit_version: BuildkitVersion = DEFAULT_BUILDKIT,
        fmt: FormatOpt = Fmt.table,
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
        """Which cache shapes does this registry take, and which --cache-to attributes to use there.

        Pushes, under scratch tags (cacheinspect-probe-NONCE-SHAPE) that it deletes again, a minimal
        cache in every shape BuildKit writes (image-manifest, OCI index, Docker manifest list, inline
        cache, zstd layers) and an OCI 1.1 referrer; reads each back (manifest, config, HEAD of every
        blob) and reports per shape accepted or refused with the registry's own answer (status, error
        code, message), whether the referrers API or only the tag fallback works, whether deletes are
        allowed, and the --cache-to line for --buildkit-version. Where deletes are refused nothing is
        written unless --leave-scratch. --read-only REF checks an existing cache without writing.
        --from-log FILE names the failing request of a failed cache export, the registry rule behind
        it (with its source) and the fix. Exit 0: a registry cache shape works (read-only: the cache is
        sound; --from-log: no failed export in the log); 1: none does / problems / a failed export
        diagnosed; 2 usage; 3 credentials; 4 not found; 5 registry or network error; 6 malformed answer.
        """
        from cacheinspect.cli._common import run, setup_logging
        from cacheinspect.errors import EXIT_FINDINGS
        from cacheinspect.registryops.advice import advise, parse_buildkit_version
        from cacheinspect.registryops.render import log_doc, probe_doc, read_only_doc

        setup_logging(verbose, quiet)
        version = parse_buildkit_version(buildkit_version)
        if from_log is not None:
            if read_only or target is not None:
                raise UsageError("--from-log reads a log file: give no REGISTRY/REPO and no --read-only")
            from cacheinspect.registryops.rules import diagnose_log
            from cacheinspect.safeio import read_local_file

            text = read_local_file(from_log, what="log file").decode("utf-8", errors="replace")
            diag = diagnose_log(text)
            _write(log_doc(str(from_log), diag), fmt, out)
            if diag.failed:
                raise typer.Exit(EXIT_FINDINGS)
            return
        if target is None:
            raise UsageError("registry probe needs REGISTRY/REPO (or --from-log FILE)")
        ref = _repo(target, tag_ok=read_only)
        opts = _options(username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, target)
        note = _note(quiet)

        async def go() -> tuple[dict[str, Any], bool]:
            from cacheinspect.registry.client import RegistryClient
            from cacheinspect.registryops.remote import probe_read_only, probe_registry

            async with RegistryClient(opts) as client:
                if read_only:
                    ro = await probe_read_only(client, ref)
                    ok = not ro.problems
                    works = {ro.shape: ok}  # the shape that is there and reads back is the one to keep
                    return read_only_doc(ro, advise(works, version, ref.name + ":TAG"), version), ok
                note(f"probing {ref.name}: pushing scratch tags cacheinspect-probe-* (deleted afterwards)")
                r = await probe_registry(
                    client, ref, leave_scratch=leave_scratch, log=None if quiet else note
                )
                accepted = {s.shape: s.accepted for s in r.shapes}
                ok = any(accepted.get(s) for s in ("image-manifest", "oci-index", "docker-manifest-list"))
                return probe_doc(r, advise(accepted, version, ref.name + ":TAG"), version), ok

        doc, ok = run(go())
        _write(doc, fmt, out)
        if not ok:
            raise typer.Exit(EXIT_FINDINGS)

    @reg_app.command(
        epilog="Examples:\n\n"
        "  cacheinspect registry ls ghcr.io/acme/app\n\n"
        "  cacheinspect registry ls registry.example.com/team/app -f json | jq '.tags[] | {tag, unique_bytes}'"
    )
    def ls(
        target: Annotated[str, typer.Argument(metavar="REGISTRY/REPO", help="The repository to list.")],
        all_tags: Annotated[bool, typer.Option("--all", help="List every tag, not only caches.")] = False,
        fmt: FormatOpt = Fmt.table,
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
        """Every cache tag of a repository: shape, records, bytes it holds alone and shares, newest record.

        Lists the tags (paginated: Link headers, n/last), reads each manifest (--concurrency at a time)
        and keeps those that are a BuildKit cache in any shape or an image with inline cache. "unique"
        are the bytes of blobs (layers and config) no other tag of the repository names: what deleting
        the tag gives back after the registry's garbage collection; "shared" the rest. Tags that cannot
        be read are listed as unreadable. Exit 0 ok; 2 usage; 3 credentials; 4 no such repository;
        5 registry or network error; 6 malformed answer.
        """
        from cacheinspect.cli._common import Progress, run, setup_logging

        setup_logging(verbose, quiet)
        ref = _repo(target)
        opts = _options(username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, target)

        async def go() -> dict[str, Any]:
            from cacheinspect.registry.client import RegistryClient
            from cacheinspect.registryops.inventory import usage
            from cacheinspect.registryops.remote import list_tags, read_tags
            from cacheinspect.registryops.render import ls_doc

            async with RegistryClient(opts) as client:
                listing = await list_tags(client, ref)
                tags = await read_tags(
                    client,
                    ref,
                    listing.tags,
                    progress=Progress(f"{ref.name}: reading tags", enabled=not quiet),
                )
            return ls_doc(ref.name, listing, tags, usage(tags), all_tags)

        _write(run(go()), fmt, out)

    @reg_app.command(
        epilog="Examples:\n\n"
        "  cacheinspect registry prune ghcr.io/acme/app --tag-pattern 'cache-pr-*' --older-than 14d\n\n"
        "  cacheinspect registry prune registry.example.com/team/app --keep 3 --yes"
    )
    def prune(
        target: Annotated[str, typer.Argument(metavar="REGISTRY/REPO", help="The repository to clean up.")],
        keep: Annotated[
            int | None, typer.Option("--keep", metavar="N", min=0, help="Keep the N newest cache tags.")
        ] = None,
        older_than: Annotated[
            str | None,
            typer.Option(
                "--older-than",
                metavar="DURATION",
                help="Delete caches whose newest record is older (7d, 12h).",
            ),
        ] = None,
        tag_pattern: Annotated[
            str | None,
            typer.Option(
                "--tag-pattern", metavar="GLOB", help="Only cache tags matching this shell glob (cache-pr-*)."
            ),
        ] = None,
        include_inline: Annotated[
            bool,
            typer.Option(
                "--include-inline",
                help="Also prune images with inline cache (by default they are kept: they are images).",
            ),
        ] = False,
        yes: Annotated[
            bool, typer.Option("--yes", help="Delete for real (the default is a dry run).")
        ] = False,
        fmt: FormatOpt = Fmt.table,
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
        """Plan (and with --yes do) the deletion of old cache tags, and the bytes that really come back.

        Candidates are cache tags (any registry cache shape; images with inline cache only with
        --include-inline) matching --tag-pattern; --keep N keeps the
        N newest by newest record time, --older-than D keeps those with a newer record; a tag goes only
        when every rule given lets it go. Manifests are deleted by digest, never one another kept tag
        points at or names as a child, and never a blob: the registry's own garbage collection frees the
        blobs no kept tag holds (the bytes reported). Dry run unless --yes; with --yes the tags are read
        again first and a delete some new or moved tag would take along is skipped; a registry that
        refuses deletes is an error before anything is deleted. Exit 0 ok; 2 usage; 3 credentials; 4 no
        such repository; 5 registry error, or a planned delete that failed or was skipped; 6 malformed
        answer.
        """
        from datetime import UTC, datetime

        from cacheinspect.cli._common import Progress, run, setup_logging
        from cacheinspect.errors import EXIT_REGISTRY
        from cacheinspect.registryops.inventory import PruneSelection, parse_age

        setup_logging(verbose, quiet)
        ref = _repo(target)
        sel = PruneSelection(
            keep=keep,
            older_than=parse_age(older_than) if older_than is not None else None,
            tag_pattern=tag_pattern,
            include_inline=include_inline,
        )
        opts = _options(username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, target)
        now = datetime.now(UTC)

        async def go() -> tuple[dict[str, Any], bool]:
            from cacheinspect.registry.client import RegistryClient
            from cacheinspect.registryops.inventory import plan_prune
            from cacheinspect.registryops.remote import execute_prune, list_tags, read_tags
            from cacheinspect.registryops.render import prune_doc

            async with RegistryClient(opts) as client:
                listing = await list_tags(client, ref)
                tags = await read_tags(
                    client,
                    ref,
                    listing.tags,
                    progress=Progress(f"{ref.name}: reading tags", enabled=not quiet),
                )
                plan = plan_prune(tags, sel, now)
                unreadable = [t.tag for t in tags if t.shape == "unknown"]
                results = None
                if yes and plan.deletes:
                    if listing.invalid:
                        raise UsageError(
                            f"{listing.invalid} name(s) in the tag list of {ref.name} are not valid tag names, "
                            "so which manifests they point at is unknown; nothing was deleted",
                            hint="registry ls counts them (invalid_tag_names); clean them up with the registry's tools",
                        )
                    if unreadable:
                        raise UsageError(
                            f"{len(unreadable)} tag(s) of {ref.name} could not be read, so which blobs they "
                            "share is unknown; nothing was deleted",
                            hint="run the dry run to see them (registry prune without --yes)",
                        )
                    results = await execute_prune(
                        client, ref, plan.deletes, {t.tag: t.digest for t in tags if t.digest}
                    )
            ok = results is None or all(r.deleted for r in results)
            return prune_doc(ref.name, plan, results, unreadable, listing.invalid), ok

        doc, ok = run(go())
        _write(doc, fmt, out)
        if not ok:
            raise typer.Exit(EXIT_REGISTRY)
