"""Fuzz surface ``diffkeys``: ``diff`` of two real caches reading both hosts' fingerprints
(``--fingerprint-a``/``--fingerprint-b``) to name a changed step definition's field.

The caches are bundled BuildKit exports whose divergence is a definition change (crosshost-b-buildarg)
or an input change (crosshost-b-mode). The fingerprints' ``ops`` entries carry the caches' real record
digests (so the evidence lookup and the pairing of A's and B's steps run) with hostile ``cachemap`` JSON
(the stepkeys surface's generator), wrong types, control and bidi characters, and sometimes the file is a
FIFO, a link to /dev/zero or not JSON (contract: issue 17, ``tests/fuzz/surfaces``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.fuzz.surfaces.context import _fingerprint_file
from tests.fuzz.surfaces.stepkeys import _cachemap, _junk, _w

NAME = "diffkeys"

_FIX = Path(__file__).resolve().parents[3] / "fixtures"
_PAIRS = [("crosshost-a-busybox", "crosshost-b-buildarg"), ("crosshost-a", "crosshost-b-mode")]


def _digests() -> list[str]:
    """Every record digest of the pairs' caches (read once per worker, from the cache configs)."""
    import asyncio

    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    out: set[str] = set()
    for pair in _PAIRS:
        for name in pair:
            g = build_graph(asyncio.run(load_cache(LayoutSource(_FIX / name))))
            out.update(r.digest for r in g.records)
    return sorted(out)


_DIGESTS: list[str] = []


def _exec(rng: random.Random) -> dict[str, object]:
    """A well-formed exec CacheMap with hostile values: it passes the fingerprint's checks and reaches
    the field naming (the junk of ``_cachemap`` mostly stops at the loader)."""
    env = [f"{_w(rng)}={_w(rng)}" for _ in range(rng.randint(0, 4))]
    meta = {"args": [_w(rng)], "env": env, "cwd": _w(rng), "user": rng.choice(["", "0", _w(rng)])}
    return {"Type": "buildkit.exec.v0", "Exec": {"meta": meta, "network": rng.randint(0, 3)}}


def _fp(rng: random.Random, path: Path) -> None:
    if rng.random() < 0.15:
        _fingerprint_file(rng, path)  # FIFO, /dev/zero, binary, or a fingerprint without ops
        return
    hostile = rng.random() < 0.25  # junk the loader stops (else well-typed values that reach the diff)
    ops = [
        {
            "stage": rng.choice(["stage-0", "", 3]),
            "line": rng.choice([rng.randint(-1, 12), "7", None]),
            "keyword": rng.choice(["RUN", "COPY", 3, None]),
            "instruction": rng.choice([_w(rng), 5, None]),
            "rules": rng.choice(["v0.13", "v0.13", "v0.25", None]),
            "cachemap": _cachemap(rng) if hostile else json.dumps(_exec(rng)),
            "digest": {"v0.13": rng.choice(_DIGESTS), "v0.25": rng.choice(_DIGESTS)}
            if not hostile
            else rng.choice(
                [
                    {"v0.13": rng.choice(_DIGESTS), "v0.25": rng.choice(_DIGESTS)},
                    {"v0.13": rng.choice(_DIGESTS)},
                    {"v0.13": _junk(rng)},
                    "sha256:x",
                    [],
                ]
            ),
        }
        for _ in range(rng.randint(0, 8))
    ]
    doc = {"schema": "cacheinspect.context-fingerprint/v1", "files": {}, "steps": [], "ops": ops}
    path.write_bytes(json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))


def case(rng: random.Random, workdir: Path) -> list[str]:
    """Two real caches, two hostile fingerprints (sometimes one), one ``diff``."""
    if not _DIGESTS:
        _DIGESTS.extend(_digests())
    a, b = rng.choice(_PAIRS)
    argv = ["diff", str(_FIX / a), str(_FIX / b)]
    for side in ("a", "b"):
        if rng.random() < 0.9:
            p = workdir / f"{side}.fp.json"
            _fp(rng, p)
            argv += [f"--fingerprint-{side}", str(p)]
    argv += rng.choice([[], ["-f", "json"], ["-f", "markdown"], ["-f", "table"], ["--exit-code"]])
    return argv
