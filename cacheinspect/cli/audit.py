"""`audit`: the CI gate over one or more cache refs."""

from __future__ import annotations

import sys
from typing import Annotated

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import (
    AuditFormat,
    CaFile,
    Concurrency,
    FailOn,
    ImageRef,
    Insecure,
    ModeOpt,
    PasswordStdin,
    PlainHttp,
    Progress,
    Quiet,
    Timeout,
    Username,
    Verbose,
    registry_options,
    run,
)
from cacheinspect.cli._grammar import phase

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to *app*."""

    @app.command()
    def audit(
        refs: Annotated[list[str], typer.Argument(metavar="REF", help="One or more caches to check.")],
        fmt: Annotated[
            AuditFormat,
            typer.Option("--format", "-f", help="table, json, markdown, or github (workflow annotations)."),
        ] = AuditFormat.table,
        check_blobs_: Annotated[
            bool,
            typer.Option("--check-blobs/--no-check-blobs", help="HEAD every layer blob (on by default)."),
        ] = True,
        verify_blobs: Annotated[
            bool,
            typer.Option(
                "--verify-blobs",
                help="Download every layer blob and verify its digest (slow; layouts are hashed on disk).",
            ),
        ] = False,
        allow_missing: Annotated[
            bool,
            typer.Option(
                "--allow-missing",
                help="A ref that does not exist yet (404: a first run) passes as info (cache-not-found).",
            ),
        ] = False,
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
        """A CI gate: exit 1 when any cache has a finding at or above --fail-on (default: error).

        Always checked: the ref exists and is a cache (or an image with inline cache), the config decodes
        and passes every check BuildKit's importer makes, manifest and config are under the 1 MiB import
        cap, and (unless --no-check-blobs) every layer blob exists (in a layout: with its declared size).
        Exit 0 exactly when BuildKit's importer would use every cache; 1 on findings; a ref that cannot
        be reached is an "unreachable" finding, reported with the others, and the exit code is then its
        own (3 credentials, 5 network/registry). Finding codes are stable; see the README. With
        --format github, findings become ::error/::warning annotations and, when GITHUB_STEP_SUMMARY is
        set, a markdown summary is appended to it (a failure to append is a warning, not an error).

        Example: cacheinspect audit ghcr.io/acme/app:buildcache --max-age 7d --allow-missing -f github
        """
        import os
        from datetime import UTC, datetime

        from cacheinspect.cache.audit import SCHEMA_AUDIT, AuditPolicy, audit_refs, parse_duration
        from cacheinspect.cli._common import setup_logging
        from cacheinspect.errors import EXIT_FINDINGS
        from cacheinspect.render.text import render_audit
        from cacheinspect.sources.targets import local_only

        setup_logging(verbose, quiet)
        opts = registry_options(
            username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [*refs, image]
        )
        policy = AuditPolicy(
            check_blobs=check_blobs_,
            max_age=parse_duration(max_age) if max_age is not None else None,
            expect_mode=expect_mode.value if expect_mode else None,
            require_platforms=tuple(require_platform or ()),
            min_layers=min_layers,
            fail_on=fail_on.value,
            allow_missing=allow_missing,
            verify_blobs=verify_blobs,
        )
        now = datetime.now(UTC)

        async def go() -> tuple[dict[str, object], list[int]]:
            results = await audit_refs(
                refs,
                opts,
                policy,
                now=now,
                image=image,
                progress_for=lambda ref: Progress(f"{ref}: checking blobs", enabled=not quiet),
            )
            doc = {
                "schema": SCHEMA_AUDIT,
                "ok": all(r.ok for r in results),
                "results": [r.to_json() for r in results],
            }
            return doc, [r.exit_code for r in results if r.exit_code is not None]

        phase(f"checking {len(refs)} cache(s)")
        doc, hard = run(go(), local=local_only(*refs, image))
        sys.stdout.write(render_audit(doc, fmt.value))
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if fmt == AuditFormat.github and summary_file:
            try:
                # Non-blocking: a FIFO nobody reads fails (ENXIO) instead of hanging the gate.
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(summary_file, flags, 0o644)
                with os.fdopen(fd, "a", encoding="utf-8") as fh:
                    fh.write("## cacheinspect audit\n\n" + render_audit(doc, "markdown"))
            except (OSError, ValueError) as e:  # the gate's verdict stands; the summary is a courtesy
                shown = summary_file.encode("ascii", "backslashreplace").decode()[:200]
                why = getattr(e, "strerror", None) or type(e).__name__
                sys.stderr.write(f"warning: cannot append to GITHUB_STEP_SUMMARY ({shown}): {why}\n")
        if hard:
            raise typer.Exit(max(hard))
        if not doc["ok"]:
            raise typer.Exit(EXIT_FINDINGS)
