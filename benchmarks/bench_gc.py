"""gc simulate with a size target over 1k/10k/100k generated records: time, growth exponent, CLI process."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cacheinspect.gc.policy import Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import simulate
from cacheinspect.gc.units import format_ns
from cacheinspect.gc.versions import Semantics

TITLE = "gc simulate: size-target prune over generated records (BuildKit v0.13 and v0.22 ranking)"

S = 1_000_000_000
NOW = 1_800_000_000 * S
ROOT = Path(__file__).resolve().parents[1]


def records(n: int, seed: int = 7) -> list[CacheRecord]:
    """A cache-like population: chains of layers (each build's steps on a base), contexts and mounts,
    distinct lastUsed times over 60 days, usage counts skewed to small numbers, 10% shared."""
    rng = random.Random(seed)
    out: list[CacheRecord] = []
    chain: list[str] = []
    for i in range(n):
        kind = rng.random()
        rid = f"r{i:07d}"
        if kind < 0.15:
            typ, parents = "source.local", ()
        elif kind < 0.25:
            typ, parents = "exec.cachemount", ()
        else:
            typ = "regular"
            if not chain or rng.random() < 0.2:
                chain = []
            parents = (chain[-1],) if chain else ()
            chain.append(rid)
        out.append(
            CacheRecord(
                rid,
                type=typ,
                size=int(rng.lognormvariate(11, 2)),
                parents=parents,
                shared=rng.random() < 0.1,
                last_used_ns=NOW - rng.randrange(60 * 86400 * S),
                usage_count=min(int(rng.expovariate(0.3)) + 1, 40),
            )
        )
    return out


def _rule(recs: list[CacheRecord]) -> PruneRule:
    total = sum(r.size for r in recs if not r.shared)
    return PruneRule(reserved_space=total // 4)  # delete until 25% of the unshared total is left


def _time(recs: list[CacheRecord], sem: Semantics) -> tuple[float, int]:
    pol = Policy((_rule(recs),), "prune", "bench")
    t = time.perf_counter()
    res = simulate(recs, pol, now_ns=NOW, semantics=sem)
    return time.perf_counter() - t, len(res.deleted)


def _engine_dump(recs: list[CacheRecord], path: Path) -> None:
    items = [
        {
            "ID": r.id,
            " Parents": list(r.parents) or None,
            "Type": r.type,
            "Description": "",
            "InUse": False,
            "Shared": r.shared,
            "Size": r.size,
            "CreatedAt": format_ns(r.last_used_ns),
            "LastUsedAt": format_ns(r.last_used_ns),
            "UsageCount": r.usage_count,
        }
        for r in recs
    ]
    path.write_text(json.dumps({"BuildCache": items}))


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for sem in (Semantics((0, 13, 0)), Semantics((0, 22, 0))):
        prev: tuple[int, float] | None = None
        for n in (1_000, 10_000, 100_000):
            recs = records(n)
            secs, deleted = _time(recs, sem)
            growth = f"{math.log(secs / prev[1]) / math.log(n / prev[0]):.2f}" if prev else "-"
            rows.append(
                {
                    "semantics": sem.buildkit_text,
                    "records": n,
                    "deleted": deleted,
                    "seconds": f"{secs:.3f}",
                    "us/deletion": f"{secs / max(deleted, 1) * 1e6:.1f}",
                    "growth exponent": growth,
                }
            )
            prev = (n, secs)
    # BuildKit's own algorithm (tests/gc/reference.py re-sorts every candidate for every deletion, as
    # sortDeleteRecords does): the growth the simulator avoids
    from tests.gc.reference import prune_with_target

    prev = None
    for n in (1_000, 2_000, 4_000):
        recs = records(n)
        keep = _rule(recs).reserved_space
        t = time.perf_counter()
        order, _ = prune_with_target(recs, keep, one_based=False, candidate=lambda r: not r.shared)
        secs = time.perf_counter() - t
        growth = f"{math.log(secs / prev[1]) / math.log(n / prev[0]):.2f}" if prev else "-"
        rows.append(
            {
                "semantics": "daemon's algorithm (literal port)",
                "records": n,
                "deleted": len(order),
                "seconds": f"{secs:.3f}",
                "us/deletion": f"{secs / max(len(order), 1) * 1e6:.1f}",
                "growth exponent": growth,
            }
        )
        prev = (n, secs)
    with tempfile.TemporaryDirectory() as d:
        dump = Path(d) / "du.json"
        recs = records(100_000)
        _engine_dump(recs, dump)
        keep = sum(r.size for r in recs if not r.shared) // 4
        cmd = [
            sys.executable, "-m", "cacheinspect", "gc", "simulate", str(dump),
            "--prune", f"docker builder prune -f --keep-storage {keep}", "--buildkit-version", "v0.13",
            "--now", "@1800000000", "-f", "json",
        ]  # fmt: skip
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, cwd=ROOT, env={**os.environ}, check=True)
        secs = time.perf_counter() - t
        deleted = len(json.loads(proc.stdout)["deleted"])
        rows.append(
            {
                "semantics": "CLI v0.13",
                "records": 100_000,
                "deleted": deleted,
                "seconds": f"{secs:.3f}",
                "us/deletion": f"{secs / max(deleted, 1) * 1e6:.1f}",
                "growth exponent": "whole process (read 100k-record dump, simulate, JSON)",
            }
        )
    return rows


if __name__ == "__main__":
    from tabulate import tabulate

    print(tabulate(run(), headers="keys", disable_numparse=True))
