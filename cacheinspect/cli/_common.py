"""Flags, option types and helpers every command group shares.

Imported by each command module; kept free of the HTTP stack and the decoder so that building the
typer app for ``--help`` or completion stays cheap (those are imported inside the commands).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cacheinspect.errors import UsageError

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions

__all__ = [
    "AuditFormat",
    "CaFile",
    "Concurrency",
    "FailOn",
    "GraphFormatOpt",
    "ImageRef",
    "Insecure",
    "ModeOpt",
    "OutFormat",
    "PasswordStdin",
    "PlainHttp",
    "Progress",
    "Timeout",
    "Username",
    "registry_options",
    "run",
]

T = TypeVar("T")


class OutFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class AuditFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"


class ModeOpt(StrEnum):
    max = "max"
    min = "min"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"


class GraphFormatOpt(StrEnum):
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


# -- shared registry options ---------------------------------------------------------------------------
_R = "Registry access"
Username = Annotated[
    str | None,
    typer.Option(
        "--username",
        "-u",
        metavar="USER",
        help="Registry user (pair with --password-stdin).",
        rich_help_panel=_R,
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password or token from stdin.", rich_help_panel=_R)
]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Skip TLS certificate verification.", rich_help_panel=_R)
]
PlainHttp = Annotated[
    bool,
    typer.Option(
        "--plain-http",
        help="Use plain HTTP (loopback registries fall back to it by themselves).",
        rich_help_panel=_R,
    ),
]
CaFile = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        metavar="PEM",
        help="Extra CA bundle (PEM) to trust.",
        exists=True,
        dir_okay=False,
        rich_help_panel=_R,
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency",
        metavar="N",
        min=1,
        max=256,
        help="Requests in flight per registry host.",
        rich_help_panel=_R,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0.1,
        help="Seconds per request before it is retried.",
        rich_help_panel=_R,
    ),
]
ImageRef = Annotated[
    str | None,
    typer.Option(
        "--image",
        metavar="REF",
        help="An image built with this cache: its history labels the cache's steps (e.g. 'COPY a /a').",
    ),
]


def registry_options(
    username: str | None,
    password_stdin: bool,
    insecure: bool,
    plain_http: bool,
    ca_file: Path | None,
    concurrency: int,
    timeout: float,
    refs: list[str | None],
) -> RegistryOptions:
    """Registry options from the shared flags.

    ``--username``/``--password-stdin`` are bound to the registry of the first registry reference among
    *refs*: a diff against another registry, or an ``--image`` on Docker Hub, must not receive them.
    """
    from cacheinspect.registry.options import RegistryOptions
    from cacheinspect.registry.reference import Reference
    from cacheinspect.sources.targets import parse_target

    password: str | None = None
    if password_stdin:
        if username is None:
            raise UsageError("--password-stdin needs --username")
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password")
    elif username is not None:
        raise UsageError("--username needs --password-stdin (passwords are never taken as arguments)")
    credentials_for = None
    if username is not None:
        for r in refs:
            t = parse_target(r) if r else None
            if isinstance(t, Reference):
                credentials_for = t.registry
                break
    return RegistryOptions(
        credentials_for=credentials_for,
        username=username,
        password=password,
        insecure=insecure,
        plain_http=plain_http,
        ca_file=ca_file,
        concurrency=concurrency,
        timeout=timeout,
    )


def run(coro: Awaitable[T]) -> T:
    """Run one library coroutine to completion (asyncio is imported here, not at start-up)."""
    import asyncio

    async def wrap() -> T:
        return await coro

    return asyncio.run(wrap())


class Progress:
    """A one-line progress indicator on stderr: redrawn in place on a terminal, sparse lines otherwise."""

    def __init__(self, what: str, *, enabled: bool = True) -> None:
        self.what = what
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.tty:
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r{self.what}: {done}/{total}{end}")
            sys.stderr.flush()
            return
        decile = done * 10 // total
        if (total >= 20 or done == total) and decile != self._last_decile:
            self._last_decile = decile
            sys.stderr.write(f"{self.what}: {done}/{total}\n")
