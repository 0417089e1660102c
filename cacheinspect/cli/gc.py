"""`du` and `gc simulate` / `gc lint`: the builder's local cache and what a prune or GC run deletes."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import OutFormat, Output
from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    from cacheinspect.gc.daemon import DaemonInfo
    from cacheinspect.gc.policy import Disk
    from cacheinspect.gc.records import CacheRecord

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


def _read(path: str, what: str) -> bytes:
    """A dump or policy file (or - for stdin), through the one bounded-read rule (``safeio``)."""
    from cacheinspect.safeio import DEFAULT_MAX_INPUT_BYTES, read_local_file

    if path == "-":
        data = sys.stdin.buffer.read(DEFAULT_MAX_INPUT_BYTES + 1)
        if len(data) > DEFAULT_MAX_INPUT_BYTES:
            from cacheinspect.errors import SizeLimitError

            raise SizeLimitError(f"{what} on stdin is over the {DEFAULT_MAX_INPUT_BYTES}-byte cap")
        return data
    return read_local_file(path, what=what)


def _text(path: str, what: str) -> str:
    """A policy file as text: invalid UTF-8 is bad input (exit 2), as dockerd/buildkitd refuse it too."""
    data = _read(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} {path!r} is not UTF-8 text (byte {e.start})") from None


def _records(
    source: str | None, now_ns: int, *, local: bool = False
) -> tuple[list[CacheRecord], DaemonInfo | None, str]:
    """A dump file, or (no SOURCE / "daemon") the live daemon with its version (``local``: and what
    its process tells: start time, disk, daemon.json)."""
    if source is None or source == "daemon":
        from cacheinspect.gc.daemon import fetch_records

        info, recs = fetch_records(local=local)
        return (
            recs,
            info,
            f"daemon {info.endpoint.host} (Docker {info.version}, API {info.api_version})",
        )
    from cacheinspect.gc.readers import read_dump

    return read_dump(_read(source, "dump"), source=source, now_ns=now_ns), None, source


def _daemon_policy(info: DaemonInfo) -> tuple[str, str] | None:
    """The live daemon's daemon.json (text, name) when its process is local and readable."""
    from cacheinspect.errors import CacheInspectError

    cfg = info.local.config_file
    if not cfg:
        return None
    if not Path(cfg).exists():
        return "{}", f"no {cfg} (dockerd defaults)"
    try:
        return _text(cfg, "daemon config"), f"{cfg} (pid {info.local.pid})"
    except CacheInspectError:
        return None


def _write(text: str, out: Path | None = None) -> None:
    """stdout or ``-o FILE``; a write error (``-o /dev/full``, a full disk) is one clean error line.
    A reader that left the pipe (BrokenPipeError) is the CLI's quiet exit 141, not an error."""
    if out is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise UsageError(f"cannot write output: {e.strerror or e}") from None
        return
    try:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None


def _disk(size: str | None, free: str | None) -> Disk | None:
    from cacheinspect.gc.policy import Disk
    from cacheinspect.gc.units import parse_ram_in_bytes

    if size is None and free is None:
        return None
    if size is None or free is None:
        raise UsageError("--disk-size and --disk-free go together")
    return Disk(parse_ram_in_bytes(size, what="--disk-size"), parse_ram_in_bytes(free, what="--disk-free"))


def _abs(text: str) -> int:
    from cacheinspect.gc.units import parse_time_arg

    return parse_time_arg(text, now_ns=time.time_ns())


def _fmt_ns(ns: int) -> str:
    from cacheinspect.gc.units import format_ns

    return format_ns(ns)


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
DaemonStarted = Annotated[
    str | None,
    typer.Option(
        "--daemon-started",
        metavar="T",
        help="When the daemon last started (RFC 3339, @UNIXSECONDS, an offset such as -2h, or 'never' for "
        "no restart since the records were made): records created before it were loaded from BuildKit's "
        "metadata DB, and deleting one counts as a use of its parent. Default: read from a local "
        "daemon's process; else both cases are simulated and differences reported as uncertain.",
    ),
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
        output: Output = None,
    ) -> None:
        """Build-cache records as a tree (parents → children): type, size, shared/in use, times, uses."""
        from cacheinspect.gc.render import render_du

        now_ns = _now(now)
        recs, _, src = _records(source, now_ns)
        _write(render_du(recs, fmt.value, source=src), output)

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
        "         cacheinspect gc simulate --prune 'curl --unix-socket /var/run/docker.sock -X POST "
        '"http://localhost/v1.51/build/prune?reserved-space=1000000000&all=1"\'\n\n'
        "         cacheinspect gc simulate du.json --policy /etc/docker/daemon.json --docker-version 26.1 "
        "--disk-size 100GB --disk-free 40GB\n\n"
        "Against the live local daemon (no RECORDS) the Docker version, the disk (statfs of its BuildKit "
        "root), its daemon.json GC policy and its start time are read; flags override them."
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
        daemon_started: DaemonStarted = None,
        fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
        output: Output = None,
    ) -> None:
        """Predict the deletions of a prune command or a GC policy, in order, with ties and what stays.

        With neither --policy nor --prune, the GC policy in effect is simulated: the live local daemon's
        daemon.json, else the daemon's default GC policy for the version.
        """
        from dataclasses import replace

        from cacheinspect.gc.policy import Policy, parse_policy_file, parse_prune_command
        from cacheinspect.gc.render import render_simulation
        from cacheinspect.gc.simulate import simulate as run_simulation
        from cacheinspect.gc.versions import semantics_for

        if policy and prune:
            raise UsageError("give --policy or --prune, not both")
        now_ns = _now(now)
        recs, info, src = _records(records, now_ns, local=True)
        sem = semantics_for(buildkit_version, docker_version, detected=info.semantics if info else None)
        disk = _disk(disk_size, disk_free)
        extra: list[str] = []
        if disk is None and info is not None and info.local.disk is not None:
            disk = info.local.disk
            extra.append(
                f"disk: statfs of {info.data_root}: total {disk.total} B, free (Bfree) {disk.free} B"
            )
        pol: Policy
        if prune:
            pol = parse_prune_command(prune, sem, via=prune_via.value, now_ns=now_ns)
        elif policy:
            pol = parse_policy_file(
                _text(policy, "policy file"), sem, source=policy, disk=disk, now_ns=now_ns
            )
        else:
            from cacheinspect.gc.policy import parse_daemon_json

            live = _daemon_policy(info) if info is not None and not docker_version else None
            if live is not None:
                pol = parse_policy_file(live[0], sem, source=live[1], disk=disk, now_ns=now_ns)
            else:
                pol = parse_daemon_json(
                    {"builder": {"gc": {"enabled": True}}}, sem, source="default policy", disk=disk
                )
        loaded: frozenset[str] | None = None
        started: int | None = None
        if daemon_started is not None:
            if daemon_started.strip().lower() != "never":
                started = _now(daemon_started) if daemon_started.strip()[:1] in "+-" else _abs(daemon_started)
            else:
                loaded = frozenset()
        elif info is not None and info.local.started_ns is not None:
            started = info.local.started_ns
            extra.append(f"daemon pid {info.local.pid} started {_fmt_ns(started)}")
        if started is not None:
            loaded = frozenset(r.id for r in recs if r.created_ns is None or r.created_ns < started)
        if info is not None:
            extra.extend(info.local.notes)
        res = run_simulation(recs, pol, now_ns=now_ns, semantics=sem, disk=disk, loaded=loaded)
        res = replace(res, source=src, notes=(*extra, *res.notes))
        _write(render_simulation(res, fmt.value), output)

    @gc_app.command(
        epilog="Example: cacheinspect gc lint --policy /etc/docker/daemon.json --docker-version 26.1\n\n"
        "         cacheinspect gc lint --prune 'buildctl prune --keep-storage 1000' --buildkit-version v0.13\n\n"
        "         cacheinspect gc lint --daemon      (the live local daemon's version, disk and daemon.json)\n\n"
        "Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 unreadable input."
    )
    def lint(
        policy: PolicyFile = None,
        prune: PruneCmd = None,
        daemon: Annotated[
            bool,
            typer.Option(
                "--daemon",
                help="Read the Docker version, the disk and (with no --policy) the daemon.json of the live "
                "daemon (DOCKER_HOST / the current context).",
            ),
        ] = False,
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
        output: Output = None,
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

        if not policy and not prune and not daemon:
            raise UsageError("give --policy FILE, --prune 'COMMAND' or --daemon")
        info = None
        if daemon:
            from cacheinspect.gc.daemon import fetch_records

            info, _ = fetch_records(local=True)
        sem: Semantics | None = None
        if buildkit_version or docker_version or info is not None:
            sem = semantics_for(buildkit_version, docker_version, detected=info.semantics if info else None)
        disk = _disk(disk_size, disk_free)
        if disk is None and info is not None:
            disk = info.local.disk
        # default sizes depend on the disk; the traps do not: any disk will do when none is given
        any_disk = disk or Disk(100 * 10**9, 50 * 10**9)
        findings: list[Finding] = []
        text: str | None = None
        where = policy or ""
        if policy:
            text = _text(policy, "policy file")
        elif info is not None and not prune:
            live = _daemon_policy(info)
            if live is None:
                raise UsageError(
                    "cannot read the daemon's daemon.json (remote daemon or not readable)",
                    hint="give --policy FILE",
                )
            text, where = live
        if text is not None:
            # Parse for the given version, or the oldest semantics that still read the file the same way.
            parse_sem = sem or Semantics((0, 13, 0), (26, 1, 0))
            try:
                pol = parse_policy_file(text, parse_sem, source=where, disk=any_disk, now_ns=time.time_ns())
            except UsageError as e:
                if "line " in e.message and "column" in e.message:
                    raise
                findings.append(finding("GC000", e.message + (f"; {e.hint}" if e.hint else ""), where))
            else:
                findings.extend(lint_policy(pol, sem, disk=disk))
            if sem is None and text.lstrip().startswith("{"):
                # the Docker >= 28 reading of the same daemon.json (custom rules without a size), also
                # when Docker 26 would refuse it: each finding says the versions it applies to
                try:
                    new = parse_policy_file(
                        text,
                        Semantics((0, 22, 0), (28, 2, 0)),
                        source=where,
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
        _write(render_lint(findings, fmt.value), output)
        rank = {"info": 0, "warning": 1, "error": 2}
        if fail_on is not GcFailOn.never and any(
            rank.get(f.severity, 2) >= rank[fail_on.value] for f in findings
        ):
            raise typer.Exit(EXIT_FINDINGS)
