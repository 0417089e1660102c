"""cacheinspect: open up BuildKit build caches stored in OCI registries.

The library is what the CLI runs; everything a script needs is importable from here::

    import asyncio
    from cacheinspect import RegistryOptions, build_graph, inspect_report, load_target

    cache = asyncio.run(load_target("ghcr.io/acme/app:buildcache", RegistryOptions()))
    report = inspect_report(build_graph(cache))      # the same dict as `inspect --format json`

I/O lives in :func:`load_target`, :func:`audit_ref` and the sources; everything after loading is pure.
"""

from __future__ import annotations

from ._version import __version__
from .audit import AuditPolicy, AuditResult, audit_ref, parse_duration, policy_findings
from .cacheconfig import CacheConfig, decode_config, decode_inline
from .diff import diff_report, divergences
from .errors import (
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
from .findings import CODES, Finding
from .graph import CacheGraph, Record, Result, build_graph
from .layout import LayoutSource
from .load import LoadedCache, load_cache, load_config_file
from .reference import Reference, parse_reference, parse_target
from .registry import RegistryOptions, RegistrySource
from .report import inspect_report
from .source import Source
from .targets import load_target, open_source

__all__ = [
    "CODES",
    "AuditPolicy",
    "AuditResult",
    "AuthError",
    "CacheConfig",
    "CacheGraph",
    "CacheInspectError",
    "DigestMismatchError",
    "Finding",
    "IntegrityError",
    "LayoutSource",
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
    "SizeLimitError",
    "Source",
    "UsageError",
    "__version__",
    "audit_ref",
    "build_graph",
    "decode_config",
    "decode_inline",
    "diff_report",
    "divergences",
    "inspect_report",
    "load_cache",
    "load_config_file",
    "load_target",
    "open_source",
    "parse_duration",
    "parse_reference",
    "parse_target",
    "policy_findings",
]
