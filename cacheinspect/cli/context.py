"""`context`: BuildKit's build-context checksums computed here, before building.

``context fingerprint`` writes what host A's COPY steps read (``cacheinspect.context-fingerprint/v1``);
``context diff`` compares two fingerprints per file and field. The sub-app :data:`context_app` is
module-level so that further commands (``context check``) are added to it in this module with one
decorator each; :func:`register` mounts it on the main app.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl
from cacheinspect.cli._common import (
    AuditFormat,
    CaFile,
    Concurrency,
    ImageRef,
    Insecure,
    OutFormat,
    PasswordStdin,
    PlainHttp,
    Timeout,
    Username,
    parse_build_args,
    registry_options,
    run,
)
from cacheinspect.cli._grammar import phase

if TYPE_CHECKING:
    from cacheinspect.context.checksum import RuleSet
    from cacheinspect.context.fingerprint import CopyStep
    from cacheinspect.context.verdicts import ImageKeys
    from cacheinspect.dockerfile import Build

__all__ = ["context_app", "register"]

context_app = typer.Typer(
    name="context",
    help="Compute BuildKit's build-context checksums locally: fingerprint a context, compare fingerprints.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ---------------------------------------------------------------------------------- shared options
ContextDir = Annotated[
    Path,
    typer.Argument(metavar="CONTEXT", help="The build context directory (default: the current directory)."),
]
DockerfileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", metavar="DOCKERFILE", help="The Dockerfile (default: CONTEXT/Dockerfile)."),
]
TargetOpt = Annotated[str | None, typer.Option("--target", metavar="STAGE", help="Build this stage.")]
BuildArgOpt = Annotated[
    list[str] | None,
    typer.Option("--build-arg", metavar="K=V", help="A build argument, as for docker build (repeatable)."),
]
BuildkitVersionOpt = Annotated[
    str,
    typer.Option(
        "--buildkit-version",
        metavar="VERSION",
        help="The checksum rules of this BuildKit version (v0.10-v0.13, v0.14-v0.24, v0.25, v0.26+).",
    ),
]
NetworkOpt = Annotated[
    str,
    typer.Option(
        "--network",
        metavar="MODE",
        help="The networking mode of RUN steps, as for docker buildx build: default, host or none "
        "(it is part of every RUN's cache key).",
    ),
]
AddHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--add-host",
        metavar="HOST:IP",
        help="A custom host-to-IP mapping, as for docker buildx build (repeatable; the host names are part "
        "of every RUN's cache key).",
    ),
]
BuildContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--build-context",
        metavar="NAME=DIR",
        help="A named local build context, as for docker buildx build (repeatable): COPY --from=NAME reads "
        "DIR.",
    ),
]
PlatformOpt = Annotated[
    str, typer.Option("--platform", metavar="OS/ARCH", help="The platform the build is for.")
]
WindowsOpt = Annotated[
    bool, typer.Option("--windows-client", help="Simulate a Windows client (every mode 0755, no xattrs).")
]


def _progress(kind: str, done: int, total: int) -> None:
    """Progress of a long walk, hash or single-change search on stderr (only when it is a terminal:
    ``\r`` updates would litter a CI log); ``-q`` silences it. It takes over the command's progress
    line (cli/_grammar.py's ticker) so that the two never draw over each other."""
    from cacheinspect.cli._grammar import STATE

    if STATE.quiet:
        return
    unit = "candidates" if kind == "search" else "entries"
    final = bool(total) and done == total
    text = (
        f"{kind}: {done} {unit}" if final else f"{kind}: {done}" + (f"/{total}" if total else "") + f" {unit}"
    )
    if STATE.ticker is not None:
        STATE.ticker.show(text, final=final)
        return
    sys.stderr.write(f"\r{text}" + ("\n" if final else ""))
    sys.stderr.flush()


#: Every output format name of any command: ``context check -f json`` is a Dockerfile named json.
_FORMATS = frozenset({"table", "json", "markdown", "github", "sarif", "dot", "mermaid"})


class LoadedBuild(NamedTuple):
    """What :func:`load_build` resolved: the Dockerfile's path, its context COPY/ADD steps, every
    context path they name, and the resolved :class:`~cacheinspect.dockerfile.Build` itself
    (``context check`` walks every instruction of it, not only the COPY steps)."""

    df_path: Path
    steps: list[CopyStep]
    paths: list[str]
    build: Build


def load_build(
    context: Path,
    dockerfile: Path | None,
    target: str | None,
    build_args: list[str] | None,
    *,
    has_format: bool = False,
) -> LoadedBuild:
    """Read, parse and resolve the Dockerfile once, with ``--build-arg`` as docker reads them
    (``K=V``, or ``K`` alone taken from the environment when set). Shared by the commands of this
    group, so that they agree on the build args and on every error message."""
    from cacheinspect.context.errors import ContextPathError
    from cacheinspect.context.fingerprint import copy_steps
    from cacheinspect.dockerfile import parse_dockerfile, resolve
    from cacheinspect.sources.targets import nearest_existing

    if not context.is_dir():
        if context.exists():
            raise ContextPathError(f"{context}: not a directory")
        near = nearest_existing(str(context))
        raise ContextPathError(
            f"{context}: no such directory", hint=f"did you mean {near}?" if near else None
        )
    df_path = dockerfile if dockerfile is not None else context / "Dockerfile"
    if has_format and dockerfile is not None and not df_path.exists() and str(dockerfile) in _FORMATS:
        # -f is the Dockerfile here, as in `docker build`; in every other command it is the format
        raise ContextPathError(
            f"{df_path}: No such file or directory",
            hint=f"-f names the Dockerfile here (as in docker build); did you mean --format {dockerfile}?",
        )
    text = read_input(df_path, "Dockerfile")
    args = parse_build_args(build_args)
    df = parse_dockerfile(text, filename=str(df_path))
    build = resolve(df, build_args=args, target=target)
    steps, paths = copy_steps(build)
    _check_sources(steps, paths, df_path)
    return LoadedBuild(df_path, steps, paths, build)


def _check_sources(steps: list[CopyStep], paths: list[str], df_path: Path) -> None:
    """The client turns the named context paths into fsutil include patterns before sending
    anything, so a source that is no valid pattern (``COPY [ x``) fails the build there: say so at
    the COPY's line instead of deep inside the walk."""
    from cacheinspect.context.client import context_paths
    from cacheinspect.context.errors import ContextError
    from cacheinspect.context.patternmatcher import PatternError, PatternMatcher

    for s in steps:
        try:
            PatternMatcher(context_paths(s.sources) or []).check()
        except PatternError as e:
            raise ContextError(f"{df_path}:{s.line}: {s.instruction.split()[0]}: {e}") from None
    try:
        PatternMatcher(context_paths(paths) or []).check()
    except PatternError as e:
        raise ContextError(f"{df_path}: {e}") from None


def rules_from(version: str) -> RuleSet:
    from cacheinspect.context.checksum import RuleSet
    from cacheinspect.errors import UsageError

    try:
        return RuleSet.parse(version)
    except ValueError as e:
        raise UsageError(f"--buildkit-version: {e}") from None


def _check_steps(doc: dict[str, Any], context: Path, df_path: Path) -> None:
    """A fingerprint of a build that would fail is an error: BuildKit's client fails on any file it
    cannot read (fsutil returns the walk error), and on a COPY source that is not there."""
    from cacheinspect.context.errors import ContextError, UnreadableEntryError

    for path, rec in doc["files"].items():
        if rec is None or (isinstance(rec, dict) and rec.get("type") == "unreadable"):
            reason = rec.get("error") if isinstance(rec, dict) else None
            raise UnreadableEntryError(f"{str(context).rstrip('/')}{path}", reason or "unreadable")
    for s in doc["steps"]:
        if s.get("error"):
            raise ContextError(f"{df_path}:{s['line']}: {s['instruction'].split()[0]}: {s['error']}")


def _escaped(out: str, fmt: str) -> str:
    """Rendered output as it may reach a terminal: file names, instructions and fingerprint values
    come from outside, so control, bidi and C1 characters and lone surrogates (non-UTF-8 names) are
    escaped (JSON: as ``\\uNNNN``, the same JSON value; text: as :func:`~cacheinspect.render.escape.esc`
    shows them, newlines and tabs of the layout kept)."""
    from cacheinspect.render.escape import esc_json, esc_lines

    if fmt == "json":
        try:
            data = out.encode("utf-8")
        except UnicodeEncodeError:
            import json

            data = json.dumps(json.loads(out), indent=2, ensure_ascii=True).encode() + b"\n"
        return esc_json(data).decode("utf-8")
    return esc_lines(out)


def _network(value: str) -> str:
    from cacheinspect.errors import UsageError

    if value not in ("default", "host", "none"):
        raise UsageError(f"--network: {value!r} is not one of default, host, none")
    return value


def _add_hosts(values: list[str] | None) -> list[str]:
    from cacheinspect.errors import UsageError

    out = []
    for v in values or []:
        host, sep, ip = v.partition(":") if ":" in v else v.partition("=")
        if not sep or not host or not ip:
            raise UsageError(f"--add-host: {v!r} is not HOST:IP")
        out.append(v)
    return out


def _named_contexts(values: list[str] | None) -> dict[str, Path]:
    """``--build-context NAME=DIR``: local directories only (an image or URL source is not a context
    this command can hash)."""
    from cacheinspect.errors import UsageError

    out: dict[str, Path] = {}
    for v in values or []:
        name, sep, where = v.partition("=")
        if not sep or not name or not where:
            raise UsageError(f"--build-context: {v!r} is not NAME=DIR")
        if "://" in where or where.startswith("docker-image:") or where.startswith("oci-layout:"):
            raise UsageError(f"--build-context {name}: only a local directory is supported, not {where!r}")
        out[name] = Path(where)
    return out


def register(app: typer.Typer) -> None:
    """Mount the ``context`` group on *app*."""
    app.add_typer(context_app, name="context")


@context_app.command(
    "fingerprint",
    epilog="Example: cacheinspect context fingerprint . -f Dockerfile -o context.fp.json",
)
def fingerprint_cmd(
    context: ContextDir = Path("."),
    dockerfile: DockerfileOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout.")
    ] = None,
    lean: Annotated[
        bool,
        typer.Option(
            "--lean",
            help="Keep only path -> BuildKit entry digest, and each step's key without its definition "
            "(which holds RUN environments, build-arg values included).",
        ),
    ] = False,
    target: TargetOpt = None,
    build_arg: BuildArgOpt = None,
    buildkit_version: BuildkitVersionOpt = "v0.13",
    windows_client: WindowsOpt = False,
    network: NetworkOpt = "default",
    add_host: AddHostOpt = None,
    platform: PlatformOpt = "linux/amd64",
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="CACHE_REF",
            help="Store the fingerprint in the registry as an OCI 1.1 artifact referring to this cache "
            "(context check finds it there). The only command that writes to a registry.",
        ),
    ] = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """Fingerprint what the Dockerfile's COPY/ADD steps read from CONTEXT (run it on host A).

    Per step: the selectors, their BuildKit checksums and the root record digest the cache holds;
    per sent file: type, mode, size, link target, counted xattrs (value hashes), content hash and the
    BuildKit entry digest (uid/gid/mtime are not hashed by BuildKit and not recorded).
    """
    import msgspec

    from cacheinspect.context.fingerprint import fingerprint

    rules = rules_from(buildkit_version)
    df_path, steps, paths, build = load_build(context, dockerfile, target, build_arg)
    phase(f"fingerprinting {context}")
    net, hosts = _network(network), _add_hosts(add_host)
    doc = fingerprint(
        context,
        steps,
        context_paths=paths,
        dockerfile=df_path,
        rules=rules,
        lean=lean,
        windows=windows_client,
        progress=_progress if sys.stderr.isatty() else None,
    )
    _check_steps(doc, context, df_path)
    opts = registry_options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [push]
    )
    refs = _base_refs(build)
    # no base image to resolve (FROM scratch, stages only): no event loop, no asyncio to import
    got = run(_resolve(refs, opts, platform)) if refs else []
    doc.update(_evidence(build, got, platform=platform, network=net, add_hosts=hosts, lean=lean))
    try:
        # msgspec: 10x faster than json.dumps(indent=2) on a 50,000-file document
        text = msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
    except UnicodeEncodeError:  # a file name that is not UTF-8 (see dumps_json)
        from cacheinspect.context.fingerprint import dumps_json

        text = (dumps_json(doc) + "\n").encode()
    from cacheinspect.render.escape import esc_json

    # a file name may hold U+202E or C1 controls: \uNNNN escapes, the same JSON value (issue 17)
    text = esc_json(text)
    if push is not None:
        from cacheinspect.context.push import push_fingerprint

        pushed = run(push_fingerprint(doc, push, opts))
        where = f"tag {pushed.fallback_tag}" if pushed.fallback_tag else "the referrers API"
        sys.stderr.write(
            f"pushed fingerprint {pushed.digest} to {pushed.repository} (found through {where})\n"
        )
        if output is None:
            return
    if output is None:
        sys.stdout.buffer.write(text)
    else:
        try:
            output.write_bytes(text)
        except OSError as e:
            from cacheinspect.context.errors import ContextPathError

            raise ContextPathError(f"{output}: {e.strerror or e}") from None


def _base_refs(build: Build) -> list[str]:
    """The base images the needed stages start from (not other stages, not scratch)."""
    return sorted(
        {st.base for st in build.stages if st.base_stage is None and st.base != "scratch"}
        & {st.base for st in build.needed}
    )


async def _resolve(refs: list[str], opts: Any, platform: str) -> list[ImageKeys]:
    import asyncio

    from cacheinspect.context.keys import resolve_image

    return list(await asyncio.gather(*(resolve_image(r, opts, platform) for r in refs)))


def _evidence(
    build: Build,
    got: list[ImageKeys],
    *,
    platform: str,
    network: str,
    add_hosts: list[str],
    lean: bool = False,
) -> dict[str, Any]:
    """Host A's evidence about each step's own definition: its CacheMap JSON (``ops``) and the configs
    of the base images it resolved (``images``, *got*), so host B can name a changed field. An image that
    does not resolve here is left out (its steps' keys are then marked unknown). The JSON holds every
    RUN's environment, build-arg values included: ``--lean`` keeps only the digests."""
    from cacheinspect.context.keys import compute_keys, step_evidence

    images = {k.ref: k for k in got}
    _, keys, _ = compute_keys(build, images, platform=platform, network=network, add_hosts=add_hosts)
    configs = {
        k.ref: {"Env": list(k.config.env), "WorkingDir": k.config.workdir, "User": k.config.user}
        | ({"Shell": list(k.config.shell)} if k.config.shell else {})
        for k in got
        if k.config is not None
    }
    ops = step_evidence(keys)
    if lean:
        for o in ops:
            o.pop("cachemap", None)
    return {"ops": ops, "images": configs}


def _read_fp(path: Path) -> dict[str, Any]:
    from cacheinspect.context.fingerprint import load_fingerprint

    return load_fingerprint(read_input(path, "fingerprint"), name=str(path))


def read_input(path: Path, what: str) -> bytes:
    """A local input file through the one bounded-read rule (:mod:`cacheinspect.safeio`): a FIFO or a
    device is refused before it can block or never end, the bytes read are capped."""
    from cacheinspect.context.errors import ContextPathError
    from cacheinspect.errors import UsageError
    from cacheinspect.safeio import read_local_file

    if not path.exists() and not path.is_symlink():
        raise ContextPathError(f"{path}: No such file or directory")
    try:
        return read_local_file(path, what=what)
    except UsageError as e:
        raise ContextPathError(e.message) from None


@context_app.command("diff", epilog="Example: cacheinspect context diff host-a.fp.json host-b.fp.json")
def diff_cmd(
    fp_a: Annotated[Path, typer.Argument(metavar="FP_A", help="A fingerprint (e.g. host A's).")],
    fp_b: Annotated[Path, typer.Argument(metavar="FP_B", help="Another fingerprint (e.g. host B's).")],
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    exit_code: Annotated[
        bool,
        typer.Option("--exit-code", help="Exit 1 when the fingerprints differ (like git diff --exit-code)."),
    ] = False,
) -> None:
    """Compare two context fingerprints: the steps whose roots differ and every differing file field."""
    from cacheinspect.context.fingerprint import diff_fingerprints
    from cacheinspect.context.report import diff_roots, render_fingerprint_diff

    a, b = _read_fp(fp_a), _read_fp(fp_b)
    diffs = diff_fingerprints(a, b)
    roots = diff_roots(a, b)
    sys.stdout.write(_escaped(render_fingerprint_diff(diffs, roots, fmt.value), fmt.value))
    if exit_code and (diffs or roots):
        raise typer.Exit(1)


@context_app.command(
    "check",
    epilog=(
        "Example: cacheinspect context check registry.example.com/app:buildcache . -f Dockerfile "
        "--build-arg VERSION=1.2 --exit-code"
    ),
)
def check_cmd(
    cache: Annotated[
        str,
        typer.Argument(
            metavar="CACHE",
            help="Host A's cache: registry cache, image with inline cache, layout or config file.",
        ),
    ],
    context: ContextDir = Path("."),
    dockerfile: DockerfileOpt = None,
    target: TargetOpt = None,
    build_arg: BuildArgOpt = None,
    fmt: Annotated[AuditFormat, typer.Option("--format", help="Output format.")] = AuditFormat.table,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when a step is predicted to miss.")
    ] = False,
    fingerprint_file: Annotated[
        Path | None,
        typer.Option(
            "--fingerprint",
            metavar="FILE",
            help="Host A's fingerprint (context fingerprint -o FILE): explains every changed file and field.",
        ),
    ] = None,
    no_referrers: Annotated[
        bool, typer.Option("--no-referrers", help="Do not look for a pushed fingerprint next to the cache.")
    ] = False,
    buildkit_version: Annotated[
        str | None,
        typer.Option(
            "--buildkit-version",
            metavar="VERSION",
            help="Force the checksum rules of this BuildKit version (default: the rule set that reproduces "
            "the cache's roots).",
        ),
    ] = None,
    platform: PlatformOpt = "linux/amd64",
    network: NetworkOpt = "default",
    add_host: AddHostOpt = None,
    build_context: BuildContextOpt = None,
    assume_base_unchanged: Annotated[
        bool,
        typer.Option(
            "--assume-base-unchanged",
            help="Do not resolve base images; take them to be the ones in the cache (offline use).",
        ),
    ] = False,
    windows_client: WindowsOpt = False,
    image: ImageRef = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    ca_file: CaFile = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 30.0,
) -> None:
    """Predict, before building, which steps will hit host A's CACHE here, and why a miss misses.

    Every COPY/ADD from CONTEXT gets its BuildKit checksum computed here and looked up among the
    cache's roots; RUN, WORKDIR, FROM and COPY --from follow from the cache graph where that is
    decidable, else they are unknown. A miss is explained per file and field from host A's fingerprint
    (--fingerprint FILE, or one pushed with context fingerprint --push), else by searching single
    changes (mode, one xattr, CRLF/LF, umask, one file more or less) that reproduce A's checksum exactly.
    """
    from cacheinspect.context.check import check_target, image_refs, render_check
    from cacheinspect.context.client import client_view, read_dockerignore
    from cacheinspect.context.walk import hash_tree, walk_context
    from cacheinspect.sources.targets import local_only

    rules = rules_from(buildkit_version) if buildkit_version else None
    df_path, _, paths, build = load_build(context, dockerfile, target, build_arg, has_format=True)
    excludes = read_dockerignore(context, df_path)
    progress = _progress if sys.stderr.isatty() else None
    phase(f"walking {context}")
    tree = walk_context(context, progress=progress)
    view = client_view(tree, paths, excludes, windows=windows_client)
    phase("hashing what the COPY/ADD steps send")
    hash_tree(view, progress=progress)
    phase(f"loading {cache} and replaying the cache lookup")
    fp = _read_fp(fingerprint_file) if fingerprint_file is not None else None
    net, hosts = _network(network), _add_hosts(add_host)
    named_views = {}
    for name, where in _named_contexts(build_context).items():
        if not where.is_dir():
            from cacheinspect.context.errors import ContextPathError

            raise ContextPathError(f"--build-context {name}: {where}: no such directory")
        other = walk_context(where, progress=progress)
        nview = client_view(
            other, None, read_dockerignore(where, where / "Dockerfile"), windows=windows_client
        )
        hash_tree(nview, progress=progress)
        named_views[name] = nview
    opts = registry_options(
        username, password_stdin, insecure, plain_http, ca_file, concurrency, timeout, [cache, image]
    )
    # a local cache whose images need no registry (assumed unchanged, or none): no event loop at all
    local = local_only(cache, image) and (assume_base_unchanged or not image_refs(build, named_views))
    report = run(
        check_target(
            cache,
            build,
            view,
            opts,
            image=image,
            platform=platform,
            rules=rules,
            fingerprint=fp,
            fingerprint_label=str(fingerprint_file) if fingerprint_file is not None else None,
            lookup_referrers=not no_referrers and fp is None,
            assume_base_unchanged=assume_base_unchanged,
            full_tree=tree,
            context_label=str(context),
            progress=progress,
            network=net,
            add_hosts=hosts,
            named_views=named_views,
        ),
        local=local,
    )
    for st in report.steps:
        if st.cause.startswith("BuildKit fails this step: "):
            from cacheinspect.context.errors import ContextError

            reason = st.cause.removeprefix("BuildKit fails this step: ")
            raise ContextError(f"{df_path}:{st.line}: {st.keyword}: {reason}")
    sys.stdout.write(_escaped(render_check(report, fmt.value, dockerfile=str(df_path)), fmt.value))
    if exit_code and report.misses:
        raise typer.Exit(1)
