"""The builder's local cache: records, GC policies, and exactly what a prune or GC run deletes.

``records``/``readers``/``daemon`` read build-cache records (Engine API, dump files); ``policy`` reads GC
policies and prune command lines; ``simulate`` replays BuildKit's ``cacheManager.Prune``; ``lint`` flags
the traps. Everything but ``daemon`` is pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cacheinspect.gc.policy import Disk, Policy, PruneRule, parse_policy_file, parse_prune_command
from cacheinspect.gc.readers import read_dump
from cacheinspect.gc.records import CacheRecord, RecordSet
from cacheinspect.gc.simulate import SCHEMA, SimulationResult, simulate
from cacheinspect.gc.versions import Semantics, semantics_for

if TYPE_CHECKING:
    from cacheinspect.gc.lint import RULES, Finding, lint_policy, lint_prune_command

_LAZY = frozenset({"RULES", "Finding", "lint_policy", "lint_prune_command"})


def __getattr__(name: str) -> Any:
    """``gc lint``'s names, imported on first use: ``du`` and ``gc simulate`` start without its rules."""
    if name in _LAZY:
        from cacheinspect.gc import lint

        return getattr(lint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RULES",
    "SCHEMA",
    "CacheRecord",
    "Disk",
    "Finding",
    "Policy",
    "PruneRule",
    "RecordSet",
    "Semantics",
    "SimulationResult",
    "lint_policy",
    "lint_prune_command",
    "parse_policy_file",
    "parse_prune_command",
    "read_dump",
    "semantics_for",
    "simulate",
]
