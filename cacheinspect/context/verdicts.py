"""What ``context check`` answers: the verdict of each step and the report, and the keys an image
source has in BuildKit (:func:`image_keys`, :func:`heredoc_root`). Plain data, shared by the replay,
the step keys and the renderer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from cacheinspect.dockerfile.model import BaseImage

from .checksum import RuleSet, entry_digest, root_digest
from .search import Explanation
from .tree import Entry, EntryType

SCHEMA = "cacheinspect.context-check/v1"
Verdict = Literal["hit", "miss", "unknown"]
_SOURCE = "buildkit.source.v0:"
_VERTEX_KEYWORDS = ("RUN", "COPY", "ADD", "WORKDIR")
#: Rule sets in the order a tie is broken: the dockerd 26.1 line first.
RULE_ORDER = (RuleSet.V0_10, RuleSet.V0_14, RuleSet.V0_25, RuleSet.V0_26)


def _sha(s: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(s.encode() if isinstance(s, str) else s).hexdigest()


# ------------------------------------------------------------------------------------------- images
class ImageKeys(msgspec.Struct, frozen=True):
    """The cache keys an image source gets here; ``error`` says why the image could not be resolved."""

    ref: str
    keys: frozenset[str] = frozenset()
    digest: str | None = None
    error: str | None = None
    assumed: bool = False  # --assume-base-unchanged: take A's image keys for it
    #: the image config's Env, WorkingDir, User, Shell (what a step key on it needs)
    config: BaseImage | None = None


def _chain_id(diff_ids: Sequence[str]) -> str:
    """``identity.ChainID``: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chain = diff_ids[0]
    for d in diff_ids[1:]:
        chain = _sha(f"{chain} {d}")
    return chain


def image_keys(
    ref: str, manifest_digests: Iterable[str], platform: str, diff_ids: Sequence[str]
) -> ImageKeys:
    """Both keys BuildKit gives an image source (verified against v0.13 exports on the test bed).

    ``manifest_digests``: the digest the reference resolves to and, for an index, the platform
    manifest's (one of them is what BuildKit hashes; listing both costs nothing: a sha256 never
    matches by accident).
    """
    parts = platform.split("/")
    os_, arch = parts[0], parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    keys: set[str] = set()
    digests = list(manifest_digests)
    for d in digests:
        obj: dict[str, str] = {"Digest": d, "OS": os_, "Arch": arch}
        if variant:
            obj["Variant"] = variant
        k = _sha(json.dumps(obj, separators=(",", ":")))
        keys.add(_sha(_sha(_SOURCE + k) + "@0"))
    if diff_ids:
        keys.add(_sha(_sha(_SOURCE + _chain_id(diff_ids)) + "@0"))
    return ImageKeys(ref=ref, keys=frozenset(keys), digest=digests[0] if digests else None)


def heredoc_root(content: str, mode: int = 0o644) -> str:
    """The content key of ``COPY <<EOF``: dockerfile2llb writes the document with ``llb.Mkfile`` (mode
    0644, root-owned) into a scratch state and copies it; the copy's source key is the checksum of that
    file, so ``root_digest([entry digest])`` (verified against v0.13 exports)."""
    data = content.encode("utf-8", "surrogateescape")
    e = Entry(EntryType.FILE, mode=mode, size=len(data), content=data)
    return root_digest([entry_digest(e)])


# ------------------------------------------------------------------------------------------- report
class StepVerdict(msgspec.Struct):
    """The prediction for one step (``FROM``, ``RUN``, ``COPY``, ``ADD``, ``WORKDIR``) of the build."""

    stage: str
    line: int
    instruction: str
    keyword: str
    verdict: Verdict = "unknown"
    cause: str = ""
    explanations: list[Explanation] = msgspec.field(default_factory=list)
    downstream: list[StepVerdict] = msgspec.field(default_factory=list)
    root_here: str | None = None
    root_in_cache: str | None = None
    records: list[int] = msgspec.field(default_factory=list)
    #: the record digests this step's ops get here (the last one is the step's own key), None: not computed
    keys: list[str] | None = None

    def ref(self) -> dict[str, Any]:
        return {"stage": self.stage, "line": self.line, "instruction": self.instruction}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "line": self.line,
            "instruction": self.instruction,
            "verdict": self.verdict,
            "cause": self.cause,
            "explanations": [e.to_json() for e in self.explanations],
            "downstream": [d.ref() for d in self.downstream],
        }
        if self.root_here is not None or self.root_in_cache is not None:
            out["root_here"] = self.root_here
            out["root_in_cache"] = self.root_in_cache
        if self.keys is not None:
            out["keys"] = self.keys
        return out


class CheckReport(msgspec.Struct):
    """`context check`'s result: one verdict per COPY/ADD/RUN step, with the rules and inputs it used."""

    cache: str
    context: str
    buildkit_rules: str
    rules_reason: str
    steps: list[StepVerdict]
    fingerprint: str | None = None
    #: which struct tags the step keys were computed with (v0.13: BuildKit <= v0.17; v0.25: v0.18+)
    op_rules: str = "v0.13"

    @property
    def misses(self) -> list[StepVerdict]:
        return [s for s in self.steps if s.verdict == "miss"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "cache": self.cache,
            "context": self.context,
            "buildkit_rules": self.buildkit_rules,
            "buildkit_rules_reason": self.rules_reason,
            "fingerprint": self.fingerprint,
            "step_key_rules": self.op_rules,
            "steps": [s.to_json() for s in self.steps],
        }
        return out


# ------------------------------------------------------------------------------------------- rules
