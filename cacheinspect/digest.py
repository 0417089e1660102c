"""Digest parsing and verification (pure).

Every manifest and blob fetched *by digest* is hashed and compared before anything reads it
(distribution-spec "Content Digests"); a mismatch is an :class:`IntegrityError`, never a warning.
"""

from __future__ import annotations

import hashlib
import re

from cacheinspect._lazyre import lazy
from cacheinspect.errors import DigestMismatchError, ReferenceError_

__all__ = ["ALGORITHMS", "compute", "parse", "short", "verify"]

#: Algorithms we can verify, with the hex length the OCI image spec registers for each.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

# fullmatch + ASCII: "$" would accept a trailing newline, and \w-like classes would accept Unicode.
_DIGEST_RE = lazy(r"(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)", re.ASCII)


def parse(digest: str) -> tuple[str, str]:
    """Split ``alg:hex`` and check it, raising a one-line :class:`ReferenceError_` when malformed."""
    m = _DIGEST_RE.fullmatch(digest)
    if not m:
        raise ReferenceError_(f"malformed digest {digest!r}: expected 'sha256:<64 hex>'")
    alg, hexpart = m.group("alg"), m.group("hex")
    want = ALGORITHMS.get(alg)
    if want is None:
        raise ReferenceError_(f"unsupported digest algorithm {alg!r} in {digest!r} (sha256, sha512)")
    if len(hexpart) != want or not re.fullmatch(r"[0-9a-f]+", hexpart, re.ASCII):
        raise ReferenceError_(f"malformed digest {digest!r}: {alg} takes {want} lowercase hex characters")
    return alg, hexpart


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """``alg:hex`` of *data*."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify(data: bytes, digest: str, *, what: str = "content") -> None:
    """Raise :class:`DigestMismatchError` unless *data* hashes to *digest*."""
    alg, _ = parse(digest)
    got = compute(data, alg)
    if got != digest:
        raise DigestMismatchError(
            f"{what} {short(digest)} failed verification: the bytes hash to {short(got)}"
        )


def short(digest: str | None, n: int = 12) -> str:
    """``sha256:0123456789ab`` style abbreviation for tables and messages ("-" for none)."""
    if not digest:
        return "-"
    alg, _, hexpart = digest.partition(":")
    return f"{alg}:{hexpart[:n]}" if hexpart else digest
