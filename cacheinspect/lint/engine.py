"""Lint one Dockerfile: parse, resolve, check. Pure: text in, findings out.

Parse errors are never swallowed: :func:`lint_text` raises the front end's
:class:`~cacheinspect.dockerfile.DockerfileError` (``file:line: message``) before any check runs, so a
finding can never stand in for a Dockerfile BuildKit would reject.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve
from cacheinspect.lint.checks import Finding, check_build
from cacheinspect.lint.rules import Severity

__all__ = ["SCHEMA_LINT", "FileResult", "LintReport", "lint_text"]

SCHEMA_LINT = "cacheinspect.lint/v1"
_PAUSE_GC_ABOVE = 64 << 10  # characters of Dockerfile


@dataclass(slots=True)
class FileResult:
    file: str
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "findings": [f.to_json() for f in self.findings]}


@dataclass(slots=True)
class LintReport:
    files: list[FileResult] = field(default_factory=list)

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
) -> FileResult:
    """Findings for one Dockerfile. With *target*, only the stages that target needs are checked.

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
        build = resolve(df, build_args=dict(build_args or {}), target=target)
        stages = [*build.needed] if target is not None else None
        if stages is not None and build.target not in stages:
            stages.append(build.target)
        findings = check_build(build, df, filename=filename, text=text, stages=stages)
    finally:
        if was_enabled:
            gc.enable()
    return FileResult(filename, findings)


def _line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1
