"""The builder's local cache: records, GC policies, and exactly what a prune or GC run deletes.

``records``/``readers``/``daemon`` read build-cache records (Engine API, dump files); ``policy`` reads GC
policies and prune command lines; ``simulate`` replays BuildKit's ``cacheManager.Prune``; ``lint`` flags
the traps. Everything but ``daemon`` is pure.
"""

from __future__ import annotations

from cacheinspect.gc.lint import RULES, Finding, lint_policy, lint_prune_command
from cacheinspect.gc.policy import Disk, Policy, PruneRule, parse_policy_file, parse_prune_command
from cacheinspect.gc.readers import read_dump
from cacheinspect.gc.records import CacheRecord, RecordSet
from cacheinspect.gc.simulate import SCHEMA, SimulationResult, simulate
from cacheinspect.gc.versions import Semantics, semantics_for

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
