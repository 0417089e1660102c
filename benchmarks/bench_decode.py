"""Decode + validate + graph for synthetic mode=max-shaped configs, next to the ``json.loads`` floor.

Targets (issue 4): at most 2x the floor, and linear growth (10x records costs at most ~12x time).
Each figure is the best of several rounds in this same process, so machine noise hits both columns.
cacheinspect pauses the cyclic GC while it decodes and builds configs over 1 MiB (see
``cacheconfig.paused_gc``); the
floor is shown both as users run ``json.loads`` (GC on) and with the GC paused too, for a like-for-like
ratio. Growth is shown next to json.loads's own: past the CPU caches, pointer-chasing over millions of
Python objects costs more per object, for json.loads as for us.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

from cacheinspect.cache.config import decode_config
from cacheinspect.cache.graph import build_graph
from cacheinspect.cache.load import BlobInfo, LoadedCache
from tests.synth import encode_go, synth_config

TITLE = "decode + validate + graph vs json.loads (synthetic mode=max configs)"
SIZES = (1_000, 10_000, 100_000)


def _best(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _ours(raw: bytes, blobs: dict[str, BlobInfo]) -> None:
    config = decode_config(raw)
    cache = LoadedCache(
        ref="bench",
        kind="registry",
        location="registry",
        shape="oci-index",
        media_type="",
        config=config,
        config_size=len(raw),
        blobs=blobs,
    )
    build_graph(cache)


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev: tuple[int, float, float] | None = None
    for n in SIZES:
        raw = encode_go(synth_config(n, seed=n))
        blobs = {lay["blob"]: BlobInfo(digest=lay["blob"]) for lay in json.loads(raw)["layers"]}
        rounds = 7 if n <= 10_000 else 3
        floor = _best(lambda raw=raw: json.loads(raw), rounds)  # type: ignore[misc]
        gc.disable()  # the like-for-like floor: json.loads with the collector paused, at every size
        try:
            floor_nogc = _best(lambda raw=raw: json.loads(raw), rounds)  # type: ignore[misc]
        finally:
            gc.enable()
        ours = _best(lambda raw=raw, blobs=blobs: _ours(raw, blobs), rounds)  # type: ignore[misc]
        growth = f"{ours / prev[1]:.1f}x for {n / prev[0]:.0f}x records" if prev else "-"
        floor_growth = f"{floor / prev[2]:.1f}x" if prev else "-"
        rows.append(
            {
                "records": n,
                "config bytes": len(raw),
                "json.loads ms": round(floor * 1000, 2),
                "json.loads ms (gc paused)": round(floor_nogc * 1000, 2),
                "cacheinspect ms": round(ours * 1000, 2),
                "ratio": round(ours / floor, 2),
                "ratio vs gc-paused floor": round(ours / floor_nogc, 2),
                "growth": growth,
                "json.loads growth": floor_growth,
                "target": "ratio <= 2.0, growth <= 12x",
            }
        )
        prev = (n, ours, floor)
    return rows


if __name__ == "__main__":
    from tabulate import tabulate

    print(TITLE)
    print(tabulate(run(), headers="keys", disable_numparse=True))
