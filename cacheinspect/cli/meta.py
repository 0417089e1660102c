"""`version` and `completion`: what every CLI of this kind (crane, regctl, oras) has."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

from cacheinspect.cli import _fastdecl as typer  # typer itself only where used: see _fastdecl

__all__ = ["register"]


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to *app*."""

    @app.command(epilog="Example: cacheinspect version")
    def version() -> None:
        """Print the version (the same as --version)."""
        from cacheinspect._version import __version__

        sys.stdout.write(f"cacheinspect {__version__}\n")

    @app.command(
        epilog=(
            "Examples:\n\n"
            "  source <(cacheinspect completion bash)          # this shell\n\n"
            "  cacheinspect completion zsh > ~/.zfunc/_cacheinspect\n\n"
            "  cacheinspect completion fish > ~/.config/fish/completions/cacheinspect.fish"
        )
    )
    def completion(
        shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")],
    ) -> None:
        """Print the shell completion script for SHELL (commands, options and their choices)."""
        from typer._completion_shared import get_completion_script

        sys.stdout.write(
            get_completion_script(
                prog_name="cacheinspect", complete_var="_CACHEINSPECT_COMPLETE", shell=shell.value
            ).rstrip("\n")
            + "\n"
        )
