"""cacheinspect: open up BuildKit build caches stored in OCI registries.

The library is what the CLI runs; everything a script needs is importable from here::

    import asyncio
    from cacheinspect import RegistryOptions, build_graph, inspect_report, load_target

    cache = asyncio.run(load_target("ghcr.io/acme/app:buildcache", RegistryOptions()))
    report = inspect_report(build_graph(cache))      # the same dict as `inspect --format json`

I/O lives in :func:`load_target`, :func:`audit_ref` and the sources; everything after loading is pure.

Where things live (one subpackage per capability, data flowing one way)::

    registry/   HTTP: references, credentials, auth, client, the registry Source      (I/O)
    sources/    the Source protocol, OCI layout directories, what a CLI target names (I/O)
    cache/      cache shapes, decoding, validation, graph, diff, audit, reports      (pure after load)
    render/     formatters: report dict -> str                                       (pure)
    cli/        the typer shell, one module per command group

Names are resolved lazily (PEP 562), so ``import cacheinspect`` (and the CLI's ``--help``) does not pay
for httpx, asyncio or msgspec until something uses them.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from cacheinspect._version import __version__

if _typing.TYPE_CHECKING:
    from cacheinspect.cache.audit import (
        AuditPolicy,
        AuditResult,
        audit_ref,
        audit_refs,
        parse_duration,
        policy_findings,
    )
    from cacheinspect.cache.config import CacheConfig, decode_config, decode_inline
    from cacheinspect.cache.diff import diff_report, divergences
    from cacheinspect.cache.findings import CODES, Finding
    from cacheinspect.cache.graph import CacheGraph, Record, Result, build_graph
    from cacheinspect.cache.load import LoadedCache, load_cache, load_config_file, load_target
    from cacheinspect.cache.open import open_source
    from cacheinspect.cache.report import inspect_report, iter_inspect_json
    from cacheinspect.context.check import CheckReport, check_context
    from cacheinspect.context.fingerprint import diff_fingerprints, fingerprint, load_fingerprint
    from cacheinspect.dockerfile import DockerfileError, parse_dockerfile
    from cacheinspect.dockerfile.resolve import resolve as resolve_dockerfile
    from cacheinspect.errors import (
        AuthError,
        CacheInspectError,
        DigestMismatchError,
        IntegrityError,
        MalformedContentError,
        NotFoundError,
        RateLimitedError,
        ReferenceError_,
        RegistryError,
        SizeLimitError,
        UsageError,
    )
    from cacheinspect.gc.policy import parse_policy_file, parse_prune_command
    from cacheinspect.gc.readers import read_dump
    from cacheinspect.gc.simulate import SimulationResult
    from cacheinspect.gc.simulate import simulate as simulate_gc
    from cacheinspect.lint.engine import LintReport, lint_text
    from cacheinspect.reference import Reference, parse_reference
    from cacheinspect.registry.options import RegistryOptions
    from cacheinspect.registry.source import RegistrySource
    from cacheinspect.sources.base import Source
    from cacheinspect.sources.layout import LayoutSource
    from cacheinspect.sources.targets import parse_target

#: public name -> the module that defines it
_WHERE: dict[str, str] = {
    **dict.fromkeys(
        ["AuditPolicy", "AuditResult", "audit_ref", "audit_refs", "parse_duration", "policy_findings"],
        "cache.audit",
    ),
    **dict.fromkeys(["CacheConfig", "decode_config", "decode_inline"], "cache.config"),
    **dict.fromkeys(["diff_report", "divergences"], "cache.diff"),
    **dict.fromkeys(["CODES", "Finding"], "cache.findings"),
    **dict.fromkeys(["CacheGraph", "Record", "Result", "build_graph"], "cache.graph"),
    **dict.fromkeys(["LoadedCache", "load_cache", "load_config_file", "load_target"], "cache.load"),
    **dict.fromkeys(["inspect_report", "iter_inspect_json"], "cache.report"),
    **dict.fromkeys(["CheckReport", "check_context"], "context.check"),
    **dict.fromkeys(["diff_fingerprints", "fingerprint", "load_fingerprint"], "context.fingerprint"),
    **dict.fromkeys(["DockerfileError", "parse_dockerfile"], "dockerfile"),
    "resolve_dockerfile": "dockerfile.resolve:resolve",
    **dict.fromkeys(["parse_policy_file", "parse_prune_command"], "gc.policy"),
    "read_dump": "gc.readers",
    "SimulationResult": "gc.simulate",
    "simulate_gc": "gc.simulate:simulate",
    **dict.fromkeys(["LintReport", "lint_text"], "lint.engine"),
    **dict.fromkeys(
        [
            "AuthError",
            "CacheInspectError",
            "DigestMismatchError",
            "IntegrityError",
            "MalformedContentError",
            "NotFoundError",
            "RateLimitedError",
            "ReferenceError_",
            "RegistryError",
            "SizeLimitError",
            "UsageError",
        ],
        "errors",
    ),
    "RegistryOptions": "registry.options",
    **dict.fromkeys(["Reference", "parse_reference"], "reference"),
    "RegistrySource": "registry.source",
    "Source": "sources.base",
    "LayoutSource": "sources.layout",
    "open_source": "cache.open",
    "parse_target": "sources.targets",
}

__all__ = [
    "CODES",
    "AuditPolicy",
    "AuditResult",
    "AuthError",
    "CacheConfig",
    "CacheGraph",
    "CacheInspectError",
    "CheckReport",
    "DigestMismatchError",
    "DockerfileError",
    "Finding",
    "IntegrityError",
    "LayoutSource",
    "LintReport",
    "LoadedCache",
    "MalformedContentError",
    "NotFoundError",
    "RateLimitedError",
    "Record",
    "Reference",
    "ReferenceError_",
    "RegistryError",
    "RegistryOptions",
    "RegistrySource",
    "Result",
    "SimulationResult",
    "SizeLimitError",
    "Source",
    "UsageError",
    "__version__",
    "audit_ref",
    "audit_refs",
    "build_graph",
    "check_context",
    "decode_config",
    "decode_inline",
    "diff_fingerprints",
    "diff_report",
    "divergences",
    "fingerprint",
    "inspect_report",
    "iter_inspect_json",
    "lint_text",
    "load_cache",
    "load_config_file",
    "load_fingerprint",
    "load_target",
    "open_source",
    "parse_dockerfile",
    "parse_duration",
    "parse_policy_file",
    "parse_prune_command",
    "parse_reference",
    "parse_target",
    "policy_findings",
    "read_dump",
    "resolve_dockerfile",
    "simulate_gc",
]


def __getattr__(name: str) -> _typing.Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'cacheinspect' has no attribute {name!r}")
    mod, _, attr = mod.partition(":")  # "module:attr" for names exported under an alias
    value = getattr(_importlib.import_module(f"cacheinspect.{mod}"), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
