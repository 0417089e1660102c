"""``parse_dockerfile``: bytes or text in, a checked :class:`Dockerfile` out."""

from __future__ import annotations

from cacheinspect.dockerfile.instructions import check_nodes
from cacheinspect.dockerfile.model import Dockerfile, DockerfileError
from cacheinspect.dockerfile.parser import DIALECTS, parse_nodes

__all__ = ["parse_dockerfile"]


def parse_dockerfile(
    text: str | bytes, *, filename: str = "Dockerfile", dialect: str = "latest"
) -> Dockerfile:
    """Parse a Dockerfile as BuildKit does and run the checks of ``instructions.Parse``.

    Bytes are decoded as UTF-8; invalid bytes are kept (``surrogateescape``) the way Go keeps them in
    a string: byte-wise scanners (flags) see the bytes, BuildKit's lexer and the OCI runtime spec turn
    each into U+FFFD (what a RUN sees). A NUL byte is just a character, as for BuildKit; binary junk
    fails as an unknown instruction. An empty file is rejected as BuildKit rejects it.

    ``dialect`` picks whose rules apply: ``"latest"`` (BuildKit master, what
    ``# syntax=docker/dockerfile:1`` gets) or ``"v0.13"`` (the frontend built into Docker 26);
    docs/dockerfile.md lists the differences.
    """
    if dialect not in DIALECTS:
        raise DockerfileError(
            f"unknown dialect {dialect!r} (expected one of {', '.join(DIALECTS)})", file=filename
        )
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text == "":
        raise DockerfileError("the Dockerfile cannot be empty", file=filename)
    df = parse_nodes(text, filename, dialect)
    df.__dict__["_checked"] = (id(df.nodes), dialect, check_nodes(df.nodes, filename, dialect))
    return df
