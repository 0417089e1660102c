"""BuildKit's build-context checksums, computed locally and exactly (``moby/buildkit`` ``cache/contenthash``).

Pure core, I/O at the edges:

* :mod:`.tree` — the context model (:class:`ContextTree` of :class:`Entry`), no I/O.
* :mod:`.walk` — the edge: :func:`walk_context` reads a directory like the client's fsutil does,
  :func:`hash_tree` reads the contents that will be sent.
* :mod:`.client` — :func:`client_view`: what the client sends (COPY paths, ``.dockerignore``).
* :mod:`.checksum` — entry, directory and selector checksums under a :class:`RuleSet`;
  :func:`root_digest` gives the exported root record ``sha256(D + "@-1")``.
* :mod:`.patternmatcher` — a faithful port of moby/patternmatcher (``.dockerignore`` semantics).
* :mod:`.fingerprint` — ``cacheinspect.context-fingerprint/v1`` documents and their diff.

>>> from cacheinspect.context import ContextTree, Entry, Selector, checksum, root_digest
>>> t = ContextTree({"/app.conf": Entry.file(b"listen = 8080\\n")})
>>> root_digest([checksum(t, Selector("/app.conf"))])
'sha256:95f63722801cf5b2efcfaf9510d3942c1258b88a86716767bbaca2c26e4b9196'
"""

from __future__ import annotations

from cacheinspect.context.checksum import (
    DEFAULT_RULES,
    EMPTY_DIGEST,
    Checksummer,
    RuleSet,
    Selector,
    checksum,
    counted_xattrs,
    dedupe_selectors,
    entry_digest,
    entry_header,
    root_digest,
    selector_digest,
    selectors_digest,
)
from cacheinspect.context.client import client_view, context_paths, follow_links, read_dockerignore
from cacheinspect.context.errors import (
    ContextError,
    ContextPathError,
    SourceNotFoundError,
    TooManyLinksError,
    UnreadableEntryError,
)
from cacheinspect.context.fingerprint import (
    SCHEMA,
    CopyStep,
    StepRoots,
    compute_roots,
    copy_steps,
    diff_fingerprints,
    fingerprint,
    fingerprint_tree,
    load_fingerprint,
)
from cacheinspect.context.patternmatcher import PatternError, PatternMatcher, read_ignorefile
from cacheinspect.context.tree import ContextTree, Entry, EntryType, key_path
from cacheinspect.context.walk import hash_tree, walk_context

__all__ = [
    "DEFAULT_RULES",
    "EMPTY_DIGEST",
    "SCHEMA",
    "Checksummer",
    "ContextError",
    "ContextPathError",
    "ContextTree",
    "CopyStep",
    "Entry",
    "EntryType",
    "PatternError",
    "PatternMatcher",
    "RuleSet",
    "Selector",
    "SourceNotFoundError",
    "StepRoots",
    "TooManyLinksError",
    "UnreadableEntryError",
    "checksum",
    "client_view",
    "compute_roots",
    "context_paths",
    "copy_steps",
    "counted_xattrs",
    "dedupe_selectors",
    "diff_fingerprints",
    "entry_digest",
    "entry_header",
    "fingerprint",
    "fingerprint_tree",
    "follow_links",
    "hash_tree",
    "key_path",
    "load_fingerprint",
    "read_dockerignore",
    "read_ignorefile",
    "root_digest",
    "selector_digest",
    "selectors_digest",
    "walk_context",
]
