"""`lint`: find `RUN --mount=type=cache` misuse in Dockerfiles before it silently wastes a build."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import (
    CaFile,
    Insecure,
    Output,
    PlainHttp,
    Timeout,
    parse_build_args,
    registry_options,
)
from cacheinspect.lint.rules import RULES

__all__ = ["register"]


class LintFormatOpt(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    github = "github"


class LintFailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _epilog() -> str:
    rules = "\n\n".join(f"{r.code} {r.name} ({r.severity}): {r.summary}" for r in RULES)
    return (
        "Examples:\n\n"
        "cacheinspect lint                                   # ./Dockerfile\n\n"
        "cacheinspect lint -f sarif docker/*.Dockerfile > lint.sarif\n\n"
        "cat Dockerfile | cacheinspect lint - --fail-on error\n\n"
        "cacheinspect lint --resolve-base Dockerfile         # base images' ENV from the registry\n\n"
        "Base images: the official images' ENV/WORKDIR (golang GOPATH, rust CARGO_HOME, …) are built in; "
        "--resolve-base fetches every FROM image's config instead (docker login credentials apply). "
        "What depends on an image neither knows is reported as a note on stderr, never guessed.\n\n"
        "A comment line '# cacheinspect: ignore=CM009' right above an instruction silences that rule there.\n\n"
        f"Rules:\n\n{rules}"
    )


def register(app: typer.Typer) -> None:
    """Add the `lint` command to *app*."""

    @app.command(epilog=_epilog())
    def lint(
        files: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="DOCKERFILE", help="Dockerfiles to check (default: Dockerfile; - reads stdin)."
            ),
        ] = None,
        fmt: Annotated[
            LintFormatOpt,
            typer.Option(
                "--format", "-f", help="table, json (cacheinspect.lint/v1), sarif (2.1.0) or github."
            ),
        ] = LintFormatOpt.table,
        fail_on: Annotated[
            LintFailOn,
            typer.Option(
                "--fail-on", help="Exit 1 when a finding is at or above this severity (never: always 0)."
            ),
        ] = LintFailOn.warning,
        build_arg: Annotated[
            list[str] | None,
            typer.Option(
                "--build-arg", metavar="KEY=VALUE", help="A build argument, as for docker build (repeatable)."
            ),
        ] = None,
        target: Annotated[
            str | None,
            typer.Option("--target", metavar="STAGE", help="Check only the stages this target needs."),
        ] = None,
        resolve_base: Annotated[
            bool,
            typer.Option(
                "--resolve-base",
                help="Fetch each base image's config (Env, WorkingDir, User) from its registry, as "
                "`context check` resolves images; without it only the built-in table of official images is used.",
            ),
        ] = False,
        insecure: Insecure = False,
        plain_http: PlainHttp = False,
        ca_file: CaFile = None,
        timeout: Timeout = 30.0,
        out: Output = None,
    ) -> None:
        """Check Dockerfiles for RUN --mount=type=cache misuse: outputs lost in a cache mount, caches
        that are mounted but never used, turned off, emptied or split, and installs without a cache.

        Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 unreadable input or a Dockerfile
        BuildKit would reject (a parse error is never hidden behind findings).
        """
        import os

        from cacheinspect.cli._common import output
        from cacheinspect.dockerfile import DockerfileError
        from cacheinspect.errors import EXIT_FINDINGS, CacheInspectError, UsageError
        from cacheinspect.lint.engine import LintReport, lint_text
        from cacheinspect.lint.render import render_lint
        from cacheinspect.lint.rules import Severity
        from cacheinspect.safeio import DEFAULT_MAX_INPUT_BYTES, read_local_file

        args = parse_build_args(build_arg)
        report = LintReport()
        errors: list[str] = []
        stdin_used = False
        inputs: list[tuple[str, bytes]] = []
        for name in files or ["Dockerfile"]:
            if name == "-":
                if stdin_used:
                    raise UsageError("- (stdin) given more than once")
                stdin_used = True
                # bounded like a named file: a pipe from /dev/zero must end in an error, not MemoryError
                data = sys.stdin.buffer.read(DEFAULT_MAX_INPUT_BYTES + 1)
                label = "<stdin>"
                if len(data) > DEFAULT_MAX_INPUT_BYTES:
                    errors.append(f"Dockerfile on stdin is over the {DEFAULT_MAX_INPUT_BYTES}-byte cap")
                    continue
            else:
                label = name
                try:
                    # one rule for every local input: FIFOs and devices refused, reads capped
                    data = read_local_file(name, what="Dockerfile")
                except CacheInspectError as e:
                    errors.append(e.message)
                    continue
            inputs.append((label, data))
        bases = None
        if resolve_base:
            import contextlib

            from cacheinspect.lint.images import BaseConfig, fetch_configs, lookup, table_config

            wanted: set[str] = set()

            def record(ref: str) -> BaseConfig | None:
                wanted.add(ref)
                return table_config(ref)

            for label, data in inputs:  # a first pass only to learn the FROM images (cheap: pure)
                with contextlib.suppress(DockerfileError):
                    lint_text(data, filename=label, build_args=args, target=target, base_config=record)
            refs = sorted(r for r in wanted if not r.startswith("unset-arg-"))
            opts = registry_options(None, False, insecure, plain_http, ca_file, 8, timeout, list(refs))
            bases = lookup(fetch_configs(refs, opts))
        for label, data in inputs:
            try:
                report.files.append(
                    lint_text(data, filename=label, build_args=args, target=target, base_config=bases)
                )
            except DockerfileError as e:
                errors.append(e.diagnostics())  # the message, and "hint: …" on a second line if any
        if report.files or not errors:
            text = render_lint(report, fmt.value, root=os.getcwd())
            with output(out) as w:
                w.write(text)
        if report.files:
            from cacheinspect.render.escape import esc

            for fr in report.files:  # what could not be checked: on stderr, so stdout stays one format
                for note in fr.skipped:
                    sys.stderr.write(f"note: {esc(fr.file)}: {esc(note)}\n")
        if errors:
            from cacheinspect.render.escape import esc

            for msg in errors[:-1]:  # escaped like the last one, which cli.main prints
                first, _, more = msg.partition("\nhint: ")
                sys.stderr.write(f"error: {esc(first)}\n" + (f"hint: {esc(more)}\n" if more else ""))
            message, _, hint = errors[-1].partition("\nhint: ")
            raise UsageError(message, hint=hint or None)
        worst = report.worst()
        if fail_on is not LintFailOn.never and worst is not None and worst >= Severity[fail_on.value]:
            raise typer.Exit(EXIT_FINDINGS)
