"""A pure Dockerfile front end with BuildKit's rules (``moby/buildkit`` ``frontend/dockerfile``).

Layers as in BuildKit: :mod:`.parser` (``parser/``: directives, continuations, heredocs, flags, JSON
forms) → :mod:`.instructions` (``instructions/parse.go``: per-instruction checks) →
:mod:`.resolve` (``dockerfile2llb/convert.go``: stages, target, ARG/ENV expansion) and :mod:`.mount`
(``instructions/commands_runmount.go``). Everything takes text and returns data; nothing runs.

>>> df = parse_dockerfile("FROM scratch AS base\\nARG V=1\\nENV X=${V}\\n")
>>> resolve(df).target.instrs[1].values
[('X', '1')]
"""

from __future__ import annotations

from cacheinspect.dockerfile.model import (
    Build,
    CopySource,
    Dockerfile,
    DockerfileError,
    Flag,
    Heredoc,
    Instr,
    Mount,
    Node,
    Stage,
)
from cacheinspect.dockerfile.mount import parse_mount
from cacheinspect.dockerfile.parse import parse_dockerfile
from cacheinspect.dockerfile.resolve import resolve

__all__ = [
    "Build",
    "CopySource",
    "Dockerfile",
    "DockerfileError",
    "Flag",
    "Heredoc",
    "Instr",
    "Mount",
    "Node",
    "Stage",
    "parse_dockerfile",
    "parse_mount",
    "resolve",
]
