"""`du` and `gc simulate` / `gc lint`: the builder's local cache and what a prune or GC run deletes."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cacheinspect.cli._common import OutFormat
from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    from cacheinspect.gc.policy import Disk
    from cacheinspect.gc.records import CacheRecord
    from cacheinspect.gc.versions import Semantics

__all__ = ["register"]


class GcFailOn(StrEnum):
    """``gc lint --fail-on``: the same words as ``lint --fail-on`` (the default, info, keeps the exit
    code of earlier releases: any finding fails)."""

    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


class PruneVia(StrEnum):
    buildx = "buildx"
    api = "api"


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


def _records(source: str | None, now_ns: int) -> tuple[list[CacheRecord], Semantics | None, str]:
    """A dump file, or (no SOURCE / "daemon") the live daemon with its version."""
    if source is None or source == "daemon":
        from cacheinspect.gc.daemon import fetch_records

        info, recs = fetch_records()
        return (
            recs,
            info.semantics,
            f"daemon {info.endpoint.host} (Docker {info.version}, API {info.api_version})",
        )
    from cacheinspect.gc.readers import read_dump

    return read_dump(_read(source), source=source, now_ns=now_ns), None, source


def _disk(size: str | None, free: str | None) -> Disk | None:
    from cacheinspect.gc.policy import Disk
    from cacheinspect.gc.units import parse_ram_in_bytes

    if size is None and free is None:
        return None
    if size is None or free is None:
        raise UsageError("--disk-size and --disk-free go together")
    return Disk(parse_ram_in_bytes(size, what="--disk-size"), parse_ram_in_bytes(free, what="--disk-free"))


def _now(text: str | None) -> int:
    from cacheinspect.gc.units import parse_time_arg

    wall = time.time_ns()
    return parse_time_arg(text, now_ns=wall) if text else wall


DiskSize = Annotated[
    str | None, typer.Option("--disk-size", metavar="BYTES", help="Size of the builder's disk (e.g. 100GB).")
]
DiskFree = Annotated[
    str | None, typer.Option("--disk-free", metavar="BYTES", help="Its free space (statfs Bfree).")
]
BuildkitVersion = Annotated[
    str | None,
    typer.Option("--buildkit-version", metavar="V", help="BuildKit semantics (e.g. v0.13, v0.22)."),
]
DockerVersion = Annotated[
    str | None,
    typer.Option(
        "--docker-version", metavar="V", help="Docker Engine version (daemon.json semantics, its BuildKit)."
    ),
]
PolicyFile = Annotated[
    str | None,
    typer.Option(
        "--policy", metavar="FILE", help="daemon.json, buildkitd.toml or `docker buildx inspect` output."
    ),
]
PruneCmd = Annotated[
    str | None,
    typer.Option("--prune", metavar="COMMAND", help="A prune command line, quoted, exactly as typed."),
]
Via = Annotated[
    PruneVia,
    typer.Option(
        "--prune-via",
        help="Where `docker builder prune` goes: buildx (the plugin is installed) or api (Engine API).",
    ),
]
Now = Annotated[
    str | None,
    typer.Option(
        "--now", metavar="T", help="Simulated time: RFC 3339, @UNIXSECONDS or an offset such as +72h."
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``du`` and the ``gc`` group to *app*."""

    @app.command(
        epilog="Example: cacheinspect du            (the daemon of DOCKER_HOST / the current context)\n\n"
        "         cacheinspect du df.json -f json   (a saved `docker system df -v --format json`)"
    )
    def du(
        source: Annotated[
            str | None,
            typer.Argument(
                metavar="[SOURCE]",
                help="A dump (Engine API JSON, buildctl du --format '{{json .}}', docker system df -v --format "
                "json, docker buildx du --verbose) or - for stdin; default: the live daemon.",
            ),
        ] = None,
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
        now: Now = None,
    ) -> None:
        """Build-cache records as a tree (parents → children): type, size, shared/in use, times, uses."""
        from cacheinspect.gc.render import render_du

        now_ns = _now(now)
        recs, _, src = _records(source, now_ns)
        sys.stdout.write(render_du(recs, fmt.value, source=src))

    gc_app = typer.Typer(
        name="gc",
        help="What BuildKit's garbage collection and prune commands delete, and the traps in their settings.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(gc_app, name="gc")

    @gc_app.command(
        epilog="Example: cacheinspect gc simulate --prune 'docker builder prune -f --filter type=exec.cachemount "
        "--keep-storage 10MB'\n\n"
        "         cacheinspect gc simulate du.json --policy /etc/docker/daemon.json --docker-version 26.1 "
        "--disk-size 100GB --disk-free 40GB"
    )
    def simulate(
        records: Annotated[
            str | None,
            typer.Argument(
                metavar="[RECORDS]", help="A record dump (see `du`) or - ; default: the live daemon."
            ),
        ] = None,
        policy: PolicyFile = None,
        prune: PruneCmd = None,
        prune_via: Via = PruneVia.buildx,
        now: Now = None,
        disk_size: DiskSize = None,
        disk_free: DiskFree = None,
        buildkit_version: BuildkitVersion = None,
        docker_version: DockerVersion = None,
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    ) -> None:
        """Predict the deletions of a prune command or a GC policy, in order, with ties and what stays.

        With neither --policy nor --prune, the daemon's default GC policy for the version is simulated.
        """
        from cacheinspect.gc.policy import Policy, parse_policy_file, parse_prune_command
        from cacheinspect.gc.render import render_simulation
        from cacheinspect.gc.simulate import simulate as run_simulation
        from cacheinspect.gc.versions import semantics_for

        if policy and prune:
            raise UsageError("give --policy or --prune, not both")
        now_ns = _now(now)
        recs, detected, src = _records(records, now_ns)
        sem = semantics_for(buildkit_version, docker_version, detected=detected)
        disk = _disk(disk_size, disk_free)
        pol: Policy
        if prune:
            pol = parse_prune_command(prune, sem, via=prune_via.value, now_ns=now_ns)
        elif policy:
            pol = parse_policy_file(_read(policy).decode(), sem, source=policy, disk=disk, now_ns=now_ns)
        else:
            from cacheinspect.gc.policy import parse_daemon_json

            pol = parse_daemon_json(
                {"builder": {"gc": {"enabled": True}}}, sem, source="default policy", disk=disk
            )
        res = run_simulation(recs, pol, now_ns=now_ns, semantics=sem, disk=disk)
        res = type(res)(res.buildkit_version, res.rules, res.deleted, res.kept, res.ties, res.notes, src)
        sys.stdout.write(render_simulation(res, fmt.value))

    @gc_app.command(
        epilog="Example: cacheinspect gc lint --policy /etc/docker/daemon.json --docker-version 26.1\n\n"
        "         cacheinspect gc lint --prune 'buildctl prune --keep-storage 1000' --buildkit-version v0.13\n\n"
        "Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 unreadable input."
    )
    def lint(
        policy: PolicyFile = None,
        prune: PruneCmd = None,
        buildkit_version: BuildkitVersion = None,
        docker_version: DockerVersion = None,
        disk_size: DiskSize = None,
        disk_free: DiskFree = None,
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
        fail_on: Annotated[
            GcFailOn,
            typer.Option(
                "--fail-on", help="Exit 1 when a finding is at or above this severity (never: always 0)."
            ),
        ] = GcFailOn.info,
    ) -> None:
        """Flag GC policies and prune flags that silently match nothing, never run or delete too much.

        Each finding has a stable code (GC000-GC013), the versions it applies to and the fix. Without a
        version, version-dependent traps are reported when the configuration has the pattern.
        """
        from cacheinspect.errors import EXIT_FINDINGS
        from cacheinspect.gc.lint import Finding, finding, lint_policy, lint_prune_command
        from cacheinspect.gc.policy import Disk, parse_policy_file
        from cacheinspect.gc.render import render_lint
        from cacheinspect.gc.versions import Semantics, semantics_for

        if not policy and not prune:
            raise UsageError("give --policy FILE and/or --prune 'COMMAND'")
        sem: Semantics | None = None
        if buildkit_version or docker_version:
            sem = semantics_for(buildkit_version, docker_version)
        disk = _disk(disk_size, disk_free)
        # default sizes depend on the disk; the traps do not: any disk will do when none is given
        any_disk = disk or Disk(100 * 10**9, 50 * 10**9)
        findings: list[Finding] = []
        if policy:
            text = _read(policy).decode()
            # Parse for the given version, or the oldest semantics that still read the file the same way.
            parse_sem = sem or Semantics((0, 13, 0), (26, 1, 0))
            try:
                pol = parse_policy_file(text, parse_sem, source=policy, disk=any_disk, now_ns=time.time_ns())
            except UsageError as e:
                if "line " in e.message and "column" in e.message:
                    raise
                findings.append(finding("GC000", e.message + (f"; {e.hint}" if e.hint else ""), policy))
            else:
                findings.extend(lint_policy(pol, sem, disk=disk))
            if sem is None and text.lstrip().startswith("{"):
                # the Docker >= 28 reading of the same daemon.json (custom rules without a size), also
                # when Docker 26 would refuse it: each finding says the versions it applies to
                try:
                    new = parse_policy_file(
                        text,
                        Semantics((0, 22, 0), (28, 2, 0)),
                        source=policy,
                        disk=any_disk,
                        now_ns=time.time_ns(),
                    )
                except UsageError:
                    new = None
                seen = {(f.code, f.where) for f in findings}
                findings.extend(
                    f
                    for f in (lint_policy(new, None) if new is not None else [])
                    if (f.code, f.where) not in seen and f.code in ("GC004",)
                )
        if prune:
            findings.extend(lint_prune_command(prune, sem, now_ns=time.time_ns()))
        sys.stdout.write(render_lint(findings, fmt.value))
        rank = {"info": 0, "warning": 1, "error": 2}
        if fail_on is not GcFailOn.never and any(
            rank.get(f.severity, 2) >= rank[fail_on.value] for f in findings
        ):
            raise typer.Exit(EXIT_FINDINGS)
