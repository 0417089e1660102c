"""gc simulate with a size target over 1k/10k/100k generated records: time, growth exponent, CLI process."""

from __future__ import annotations

import json
import math
import os
import random
import statistics
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

TITLE = (
    "gc simulate: size-target prune over generated records (v0.13 and v0.22 ranking); whole `gc simulate` "
    "1k-1M vs its JSON floor; `du` by parent-chain length"
)
#: the floor of a command that reads a JSON dump and writes JSON: what bench_cli calls the floor
FLOOR = "import json, sys; d = json.loads(open(sys.argv[1], 'rb').read()); sys.stdout.write(json.dumps(d))"

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


def distinct_counts(n: int) -> list[CacheRecord]:
    """Every usage count distinct and rising with lastUsed: the staircase is one record, while a scan over
    the usage counts present (the first simulator) costs O(n) per deletion."""
    return [
        CacheRecord(f"w{i:07d}", size=1000 + i % 7, last_used_ns=NOW - (n - i) * S, usage_count=i + 1)
        for i in range(n)
    ]


def _rule(recs: list[CacheRecord]) -> PruneRule:
    total = sum(r.size for r in recs if not r.shared)
    return PruneRule(reserved_space=total // 4)  # delete until 25% of the unshared total is left


def _time(recs: list[CacheRecord], sem: Semantics) -> tuple[float, float, int]:
    """Wall and CPU seconds (the CPU time stays meaningful when other jobs load the 2 cores)."""
    pol = Policy((_rule(recs),), "prune", "bench")
    t, c = time.perf_counter(), time.process_time()
    res = simulate(recs, pol, now_ns=NOW, semantics=sem)
    return time.perf_counter() - t, time.process_time() - c, len(res.deleted)


def _row(
    label: str, n: int, deleted: int, secs: float, cpu: float, prev: tuple[int, float] | None
) -> dict[str, Any]:
    """One table row; the growth exponent is fitted on CPU seconds against the previous size."""
    growth = f"{math.log(cpu / prev[1]) / math.log(n / prev[0]):.2f}" if prev else "-"
    return {
        "semantics": label,
        "records": n,
        "deleted": deleted,
        "seconds": f"{secs:.3f}",
        "cpu s": f"{cpu:.3f}",
        "us/deletion": f"{cpu / max(deleted, 1) * 1e6:.1f}",
        "growth exponent": growth,
    }


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


def _proc(cmd: list[str]) -> tuple[float, float, int]:
    """CPU seconds (user + system of the child, from its own rusage: ``os.times`` counts 10 ms ticks, a
    third of the floor at 1k records), wall seconds and stdout bytes of one whole process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env={**os.environ})
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:6])}: exit {proc.returncode}: {err.read()[-300:]!r}")
        return usage.ru_utime + usage.ru_stime, secs, out.tell()


def _exponent(prev: tuple[int, float] | None, n: int, v: float) -> str:
    if prev is None or prev[1] <= 0 or v <= 0:
        return "-"
    return f"{math.log(v / prev[1]) / math.log(n / prev[0]):.2f}"


def cli_vs_floor(sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)) -> list[dict[str, Any]]:
    """Whole `gc simulate DUMP --prune '... --keep-storage X' -f json` against the JSON floor of the same
    dump (json.loads + json.dumps), per size; ``--daemon-started never`` (one run) and the default
    (no start time known for a dump: both restart cases simulated when a deletion frees a parent)."""
    import compileall

    # bytecode as a pip install leaves it (PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module
    # of every run: a third of a small run)
    compileall.compile_dir(str(ROOT / "cacheinspect"), quiet=1)
    rows: list[dict[str, Any]] = []
    prev: dict[str, tuple[int, float] | None] = {"floor": None, "cli": None, "cli2": None}
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            recs = records(n)
            dump = Path(d) / "du.json"
            _engine_dump(recs, dump)
            keep = sum(r.size for r in recs if not r.shared) // 4
            base = [
                sys.executable, "-m", "cacheinspect", "gc", "simulate", str(dump),
                "--prune", f"docker builder prune -f --keep-storage {keep}", "--buildkit-version", "v0.13",
                "--now", "@1800000000", "-f", "json",
            ]  # fmt: skip
            # interleaved, median of 3 (one run at 1M): the 2 cores are shared with other jobs
            runs = [
                (
                    _proc([sys.executable, "-c", FLOOR, str(dump)]),
                    _proc([*base, "--daemon-started", "never"]),
                    _proc(base),
                )
                for _ in range(3 if n < 1_000_000 else 1)
            ]
            floor = statistics.median(r[0][0] for r in runs)
            one, secs = statistics.median(r[1][0] for r in runs), statistics.median(r[1][1] for r in runs)
            both, secs2 = statistics.median(r[2][0] for r in runs), statistics.median(r[2][1] for r in runs)
            rows.append(
                {
                    "semantics": "CLI gc simulate -f json",
                    "records": n,
                    "deleted": "",
                    "seconds": f"{secs:.3f} / {secs2:.3f}",
                    "cpu s": f"floor {floor:.3f}; one run {one:.3f} ({one / floor:.1f}x); "
                    f"restart unknown {both:.3f} ({both / floor:.1f}x)",
                    "us/deletion": "",
                    "growth exponent": f"floor {_exponent(prev['floor'], n, floor)}, one run "
                    f"{_exponent(prev['cli'], n, one)}, restart unknown {_exponent(prev['cli2'], n, both)}",
                }
            )
            prev = {"floor": (n, floor), "cli": (n, one), "cli2": (n, both)}
            dump.unlink()
    return rows


def du_chain(lengths: tuple[int, ...] = (1_000, 5_000, 10_000, 100_000)) -> list[dict[str, Any]]:
    """`du` of one parent chain of n records: output bytes and CPU, with their growth exponents (the
    tree prefix grew by 3 characters per level: 5,000 records printed 75 MB, 100,000 ran out of memory)."""
    rows: list[dict[str, Any]] = []
    prev_b: tuple[int, float] | None = None
    prev_c: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory() as d:
        for n in lengths:
            recs = [
                CacheRecord(f"r{i:07d}", size=1000, parents=(f"r{i - 1:07d}",) if i else (), last_used_ns=NOW)
                for i in range(n)
            ]
            dump = Path(d) / "chain.json"
            _engine_dump(recs, dump)
            cpu, secs, out = _proc([sys.executable, "-m", "cacheinspect", "du", str(dump)])
            floor, _, _ = _proc([sys.executable, "-c", FLOOR, str(dump)])
            rows.append(
                {
                    "semantics": "CLI du (one parent chain)",
                    "records": n,
                    "deleted": "",
                    "seconds": f"{secs:.3f}",
                    "cpu s": f"{cpu:.3f} (floor {floor:.3f}, {cpu / floor:.1f}x); output {out / 1e6:.2f} MB",
                    "us/deletion": "",
                    "growth exponent": f"output {_exponent(prev_b, n, out)}, cpu {_exponent(prev_c, n, cpu)}",
                }
            )
            prev_b, prev_c = (n, float(out)), (n, cpu)
    return rows


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [*du_chain(), *cli_vs_floor()]
    for sem in (Semantics((0, 13, 0)), Semantics((0, 22, 0))):
        prev: tuple[int, float] | None = None
        for n in (1_000, 10_000, 100_000):
            secs, cpu, deleted = _time(records(n), sem)
            rows.append(_row(sem.buildkit_text, n, deleted, secs, cpu, prev))
            prev = (n, cpu)
    prev = None
    for n in (10_000, 100_000):
        secs, cpu, deleted = _time(distinct_counts(n), Semantics((0, 22, 0)))
        rows.append(_row("v0.22, all usage counts distinct", n, deleted, secs, cpu, prev))
        prev = (n, cpu)
    # BuildKit's own algorithm (tests/gc/reference.py re-sorts every candidate for every deletion, as
    # sortDeleteRecords does): the growth the simulator avoids
    from tests.gc.reference import prune_with_target

    prev = None
    for n in (1_000, 2_000, 4_000):
        recs = records(n)
        keep = _rule(recs).reserved_space
        t, c = time.perf_counter(), time.process_time()
        order, _ = prune_with_target(recs, keep, one_based=False, candidate=lambda r: not r.shared)
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        rows.append(_row("daemon's algorithm (literal port)", n, len(order), secs, cpu, prev))
        prev = (n, cpu)
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
        before = os.times()
        proc = subprocess.run(cmd, capture_output=True, cwd=ROOT, env={**os.environ}, check=True)
        secs = time.perf_counter() - t
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        row = _row("CLI v0.13", 100_000, len(json.loads(proc.stdout)["deleted"]), secs, cpu, None)
        row["growth exponent"] = "whole process (read 100k-record dump, simulate, JSON)"
        rows.append(row)
    return rows


if __name__ == "__main__":
    from tabulate import tabulate

    # `python -m benchmarks.bench_gc cli [SIZE...]`: only the whole-command table (docs/gc.md)
    if sys.argv[1:2] == ["cli"]:
        sizes = tuple(int(a) for a in sys.argv[2:]) or (1_000, 10_000, 100_000, 1_000_000)
        print(tabulate(cli_vs_floor(sizes), headers="keys", disable_numparse=True))
    else:
        print(tabulate(run(), headers="keys", disable_numparse=True))
