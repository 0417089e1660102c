"""Predict, before building, which steps of a Dockerfile will hit host A's cache here (``context check``).

BuildKit looks a step up in an imported cache by its *key*: the step's own definition digest plus, per
input, the key of what feeds it (``solver/index.go``; inputs are ANDed, the alternatives of one input
ORed). The definition digests are the same on every host; what differs between hosts are the inputs,
and for a local build context the input is a content key: the root record ``sha256(D + "@-1")`` that
this package computes exactly (CONTEXT-CHECKSUM.md). So the check replays BuildKit's lookup over A's
cache graph, step by step in build order, without needing the definition digests at all:

* ``FROM image``: an image source has two keys, ``sha256(sha256("buildkit.source.v0:" + K) + "@0")``
  with K the digest of ``{"Digest": manifest, "OS", "Arch"[, "Variant"]}`` or the image's ChainID
  (``source/containerimage/pull.go`` ``mainManifestKey``/``cacheKeyFromConfig``; ``solver/llbsolver/
  ops/source.go``). Both are computed from the image as it resolves here and looked for among A's roots.
* ``COPY``/``ADD`` from the context: the step matches a record of A whose inputs are the previous step's
  record and the root computed here. ``COPY <<EOF`` (a heredoc) has a content key too: the file
  BuildKit writes for it (mode 0644, uid/gid 0) is hashed the same way, so it is checked exactly.
* ``RUN``, ``WORKDIR``: a record with one input, the previous step (a ``RUN`` root mount is writable,
  so it has no content key: ``ops/exec.go`` ``NoContentBasedHash``).
* ``COPY --from=stage``: the source stage's last record, *or* a content key of the copied files. When
  the source stage misses, BuildKit may still hit by content (the files can come out the same), which
  cannot be known before building: the verdict is ``unknown``, never a guess.

Which record is which is decided by the graph structure alone (which record links to which); a step
whose record is found is a ``hit`` when A exported results for it, or when it has only a key (mode=min
builder stages) and nothing downstream needs its result. The check assumes the instructions are the
ones host A built (the same Dockerfile and build args): a changed instruction changes its definition
digest, which cannot be computed here.

This module is the entry point (:func:`check_context`, :func:`check_target`) and re-exports the rest:
the verdicts and image keys live in :mod:`.verdicts`, rule choice and graph lookup in :mod:`.lookup`,
the step-by-step replay and its explanations in :mod:`.replay`, step keys and their evidence in
:mod:`.keys`, and :func:`render_check` with the other renderers in :mod:`.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cacheinspect.cache.graph import CacheGraph
from cacheinspect.dockerfile import Build
from cacheinspect.dockerfile.stepkeys import StepKey

from .checksum import RuleSet
from .fingerprint import CopyStep, StepRoots, compute_roots, copy_steps
from .keys import (
    base_image,
    compute_keys,
    resolve_image,
    step_evidence,
)
from .lookup import (
    _Graph,
    _stage_label,
    choose_rules,
)
from .replay import (
    _Checker,
)
from .report import render_check
from .tree import ContextTree
from .verdicts import (
    SCHEMA,
    CheckReport,
    ImageKeys,
    StepVerdict,
    heredoc_root,
    image_keys,
)

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions

    from .walk import Progress


__all__ = [
    "SCHEMA",
    "CheckReport",
    "ImageKeys",
    "StepVerdict",
    "base_image",
    "check_context",
    "check_target",
    "choose_rules",
    "compute_keys",
    "heredoc_root",
    "image_keys",
    "image_refs",
    "render_check",
    "resolve_image",
    "step_evidence",
]


def check_context(
    graph: CacheGraph,
    build: Build,
    view: ContextTree,
    *,
    images: Mapping[str, ImageKeys],
    rules: RuleSet | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    full_tree: ContextTree | None = None,
    cache_label: str = "",
    context_label: str = "",
    fingerprint_label: str | None = None,
    search_budget: int | None = None,
    progress: Progress | None = None,
    keys: Sequence[StepKey] | None = None,
    op_rules: str | None = None,
    named_views: Mapping[str, ContextTree] | None = None,
    guesses: Sequence[StepKey] | None = None,
) -> CheckReport:
    """Predict every step of ``build`` against A's cache ``graph`` (pure).

    ``keys`` are the steps' own keys (:func:`cacheinspect.dockerfile.stepkeys.step_keys` of this very
    ``build``): with them a step hits only when its computed record digest follows its inputs in A's
    cache; a step without one falls back to the graph's structure and is ``unknown`` where that finds it.
    ``named_views``: the hashed trees of ``--build-context NAME=DIR`` (``COPY --from=NAME``).

    ``view`` is the hashed tree the client sends here (``client_view`` + ``hash_tree``); ``full_tree``
    the whole walked context (for "left out by .dockerignore" explanations); ``images`` the keys of
    every base image and ``COPY --from`` image as they resolve here (:func:`image_keys`).
    """
    steps, _ = copy_steps(build)
    g = _Graph(graph)
    chosen, roots, reason = choose_rules(view, steps, g.roots(), rules)
    if rules is None and fingerprint is not None and reason.startswith("no rule set"):
        try:
            fp_rules = RuleSet(str(fingerprint.get("buildkit_rules")))
        except ValueError:
            fp_rules = None
        if fp_rules is not None:
            chosen, roots, _ = choose_rules(view, steps, g.roots(), fp_rules)
            reason = "no root here is in the cache (everything differs); the rules host A's fingerprint was made with"
    checker = _Checker(
        graph,
        build,
        view,
        images=images,
        rules=chosen,
        roots=roots,
        fingerprint=fingerprint,
        full_tree=full_tree,
        search_budget=search_budget,
        progress=progress,
        keys=keys,
        op_rules=op_rules,
        named_roots=_named_roots(build, named_views or {}, chosen),
        named_contexts=frozenset(named_views or {}),
        guesses=guesses,
    )
    verdicts = checker.run()
    return CheckReport(
        cache=cache_label,
        context=context_label,
        buildkit_rules=chosen.value,
        rules_reason=reason,
        steps=verdicts,
        fingerprint=fingerprint_label,
        op_rules=checker.op_rules,
    )


def _named_roots(
    build: Build, views: Mapping[str, ContextTree], rules: RuleSet
) -> dict[tuple[str, int], StepRoots]:
    """Content roots of ``COPY --from=NAME`` for each named local context, computed over its own tree."""
    out: dict[tuple[str, int], StepRoots] = {}
    for name, view in views.items():
        steps: list[CopyStep] = []
        for st in build.needed:
            for ins in st.instrs:
                if ins.keyword in ("COPY", "ADD") and ins.from_ == name and ins.from_stage is None:
                    srcs = tuple(s.path for s in ins.sources if not s.is_heredoc)
                    steps.append(
                        CopyStep(
                            _stage_label(st),
                            ins.line,
                            ins.node.original.strip(),
                            srcs,
                            ins.parents,
                            tuple(ins.excludes),
                        )
                    )
        for r in compute_roots(view, steps, rules):
            out[(r.step.stage, r.step.line)] = r
    return out


def image_refs(build: Build, named_views: Mapping[str, ContextTree] | None = None) -> list[str]:
    """The images the needed stages start from or copy from (not stages, not scratch, not a named
    context): what :func:`check_target` resolves in a registry unless told to assume them unchanged."""
    refs: set[str] = set()
    for st in build.needed:
        if st.base_stage is None and st.base != "scratch":
            refs.add(st.base)
        for ins in st.instrs:
            named = ins.from_ in (named_views or {})
            if ins.keyword in ("COPY", "ADD") and ins.from_ and ins.from_stage is None and not named:
                refs.add(ins.from_)
    return sorted(refs)


async def check_target(
    cache_ref: str,
    build: Build,
    view: ContextTree,
    options: RegistryOptions,
    *,
    image: str | None = None,
    platform: str = "linux/amd64",
    rules: RuleSet | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    fingerprint_label: str | None = None,
    lookup_referrers: bool = True,
    assume_base_unchanged: bool = False,
    full_tree: ContextTree | None = None,
    context_label: str = "",
    progress: Progress | None = None,
    network: str = "default",
    add_hosts: Sequence[str] = (),
    named_views: Mapping[str, ContextTree] | None = None,
) -> CheckReport:
    """Load A's cache, resolve the images, find A's fingerprint (referrers API) if none was given,
    and run :func:`check_context` (``progress`` reports a long single-change search)."""
    from cacheinspect._aio import gather
    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import load_target

    cache = await load_target(cache_ref, options, image=image)
    refs = image_refs(build, named_views)
    images: dict[str, ImageKeys] = {}
    if assume_base_unchanged:
        images = {r: ImageKeys(ref=r, assumed=True) for r in refs}
    else:
        got = await gather(*(resolve_image(r, options, platform) for r in refs))
        images = {k.ref: k for k in got}
    graph = None
    if fingerprint is None and lookup_referrers and cache.location == "registry" and cache.manifest_digest:
        from .push import find_fingerprint

        graph = build_graph(cache)
        roots = {r.digest for r in graph.roots}
        found = await find_fingerprint(cache_ref, cache.manifest_digest, options, roots=roots)
        if found is not None:
            fingerprint, fingerprint_label = found
    build, keys, guesses = compute_keys(
        build,
        images,
        platform=platform,
        network=network,
        add_hosts=add_hosts,
        named_contexts=named_views or {},
        fingerprint=fingerprint,
    )
    return check_context(
        graph if graph is not None else build_graph(cache),
        build,
        view,
        images=images,
        rules=rules,
        fingerprint=fingerprint,
        full_tree=full_tree,
        cache_label=cache_ref,
        context_label=context_label,
        fingerprint_label=fingerprint_label,
        progress=progress,
        keys=keys,
        named_views=named_views,
        guesses=guesses,
    )


# ------------------------------------------------------------------------------------------- render
