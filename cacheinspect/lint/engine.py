"""Lint one Dockerfile: parse, resolve, check. Pure: text in, findings out.

Parse errors are never swallowed: :func:`lint_text` raises the front end's
:class:`~cacheinspect.dockerfile.DockerfileError` (``file:line: message``) before any check runs, so a
finding can never stand in for a Dockerfile BuildKit would reject.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Mapping

import msgspec

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve
from cacheinspect.lint.checks import Finding, check_build
from cacheinspect.lint.images import BaseImages, BaseLookup, lookup
from cacheinspect.lint.rules import Severity

__all__ = ["SCHEMA_LINT", "FileResult", "LintReport", "lint_text"]

SCHEMA_LINT = "cacheinspect.lint/v1"
_PAUSE_GC_ABOVE = 64 << 10  # characters of Dockerfile


class FileResult(msgspec.Struct):
    """One linted Dockerfile: its findings and what could not be checked (never silently skipped)."""

    file: str
    findings: list[Finding] = msgspec.field(default_factory=list)
    #: what could not be checked and why ("stage 'build': FROM ${BASE} …"): never silent
    skipped: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"file": self.file, "findings": [f.to_json() for f in self.findings]}
        if self.skipped:
            out["skipped"] = list(self.skipped)
        return out


class LintReport(msgspec.Struct):
    """Every linted file, in the order given."""

    files: list[FileResult] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"schema": SCHEMA_LINT, "files": [f.to_json() for f in self.files]}

    def worst(self) -> Severity | None:
        sev = [f.severity for r in self.files for f in r.findings]
        return max(sev) if sev else None


def lint_text(
    data: str | bytes,
    *,
    filename: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    base_config: BaseLookup | None = None,
) -> FileResult:
    """Findings for one Dockerfile. With *target*, only the stages that target needs are checked.

    *base_config* says what is known of a base image's config (default: the table of official images
    in :mod:`cacheinspect.lint.images`). A global ARG without default that a FROM needs does not stop
    the lint: that stage's base is taken as an unknown image and the result says what was skipped.

    Raises :class:`DockerfileError` for input BuildKit would refuse (including bytes that are not text).
    """
    if isinstance(data, bytes):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            # PowerShell's `>` writes UTF-16; BuildKit reads UTF-8 only (a UTF-8 BOM is skipped), so
            # the build fails on line 1. Say so instead of calling the file binary.
            raise DockerfileError(
                "UTF-16 text (byte order mark): BuildKit reads a Dockerfile as UTF-8; "
                "convert it (iconv -f UTF-16 -t UTF-8)",
                file=filename,
                line=1,
            )
        if b"\0" in data:
            raise DockerfileError(
                "binary file (NUL byte): not a Dockerfile", file=filename, line=_line_of(data, b"\0")
            )
        text = data.decode("utf-8", errors="surrogateescape")
    else:
        text = data
    # The cyclic garbage collector is paused while one file is linted: the front end and the checks
    # build hundreds of thousands of small acyclic objects on a big Dockerfile, and the collections
    # they triggered were a third of lint's CPU, growing faster than the input (the decoder of cache
    # configs does the same, cache/config.py). Whatever cycle there is is collected right after. Small
    # files keep the collector: a pause costs more than it saves there.
    was_enabled = gc.isenabled()
    if len(text) >= _PAUSE_GC_ABOVE:
        gc.disable()
    try:
        df = parse_dockerfile(text, filename=filename)
        bases = base_config if base_config is not None else lookup()
        args = dict(build_args or {})
        skipped: list[str] = []
        build = None
        for _attempt in range(64):  # one retry per FROM that names a valueless global ARG
            try:
                build = resolve(df, build_args=args, target=target, images=BaseImages(bases))
                break
            except DockerfileError as e:
                unset = _valueless_in_hint(e.hint or "", args)
                if not unset:
                    raise
                # BuildKit refuses the build until --build-arg gives them; everything that does not depend
                # on the base image can still be checked: the stage is taken FROM an unknown image
                for name in unset:
                    stand_in = _UNSET_PREFIX + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                    args[name] = stand_in
                    skipped.append(
                        f"the global ARG {name} has no default (BuildKit refuses the build without "
                        f"--build-arg {name}=…): the FROM lines that use it were linted with the stand-in "
                        f"{stand_in!r}, an unknown image, so nothing that depends on that image's ENV, "
                        "WORKDIR or USER was checked there"
                    )
        if build is None:
            build = resolve(df, build_args=args, target=target, images=BaseImages(bases))
        stages = [*build.needed] if target is not None else None
        if stages is not None and build.target not in stages:
            stages.append(build.target)
        findings, notes = check_build(
            build, df, filename=filename, text=text, stages=stages, base_config=bases
        )
    finally:
        if was_enabled:
            gc.enable()
    return FileResult(filename, findings, skipped + notes)


#: the stand-in for a global ARG without default: valid as a whole image name and inside a tag
_UNSET_PREFIX = "unset-arg-"


def _valueless_in_hint(hint: str, given: Mapping[str, str]) -> list[str]:
    """The ARG names of resolve's hint "the global ARG A, B has no default; pass …" not given yet."""
    m = _HINT.match(hint)
    if not m:
        return []
    return [n for n in (x.strip() for x in m.group(1).split(",")) if n and n not in given]


_HINT = re.compile(r"the global ARG (.+?) has no default;")


def _line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1
