"""Fingerprinting a 50,000-file / 500 MB build context vs the floor `tar -cf - CONTEXT | sha256sum`.

Both are timed as whole processes in the same run, on the same (page-cached) tree: one warm-up of
each, then the median of RUNS runs. The ratio is `cacheinspect context fingerprint` (full mode,
``COPY . /app/``: every file hashed) over the tar pipeline; the target is <= 1.5. Peak RSS is the
largest ``ru_maxrss`` that ``wait4`` reports for each command (the process and the children it waited
for: tar and sha256sum, or cacheinspect and its hashing workers), over that command's runs.

Then the single-change search (issue 17): ``context check`` of host B's context against host A's cache
(``fixtures/crosshost-a``, real BuildKit export of ``testbed/cases/crosshost``) when B has N new files
in the copied directory ``data/`` (flat: all in ``data/``; nested: ``data/nXXX/mY/``), so the step misses
and no single change explains it, next to ``context fingerprint`` of the same tree, N = 1k/3k/10k
(CHECK_SIZES). CPU seconds (user+sys of the process and its children, ``wait4``), median of RUNS;
target: check <= 2x fingerprint, growth exponent <= 1.1.

python -m benchmarks context      (CONTEXT_FILES / CONTEXT_MB / RUNS / CHECK_SIZES in the environment)
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TITLE = "context fingerprint vs tar | sha256sum (50,000 files, 500 MB)"

__all__ = ["TITLE", "copied_directory_context", "generate_context", "run", "run_check"]

ROOT = Path(__file__).resolve().parent.parent


def generate_context(root: Path, files: int = 50_000, total_mb: int = 500, seed: int = 7) -> int:
    """A deterministic tree: 100 files per directory, two levels, sizes spread around the mean
    (some empty, some 10x), random-looking content. Returns the bytes written."""
    rnd = random.Random(seed)
    mean = total_mb * 1_000_000 // files
    block = rnd.randbytes(1 << 20)
    written = 0
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app/\n")
    for i in range(files):
        d = root / f"d{i // 10_000:02d}" / f"s{(i // 100) % 100:03d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        r = rnd.random()
        size = 0 if r < 0.02 else int(mean * (10 if r > 0.99 else rnd.uniform(0.1, 1.818)))
        size = min(size, len(block) - 1)
        off = rnd.randrange(0, len(block) - size) if size else 0
        with open(d / f"f{i:05d}.dat", "wb") as f:
            f.write(i.to_bytes(4, "big") + block[off : off + size])
        written += size + 4
    return written


def _time(cmd: list[str] | str, shell: bool = False) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process and the children it waited for (wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def copied_directory_context(dest: Path, n: int, *, nested: bool) -> Path:
    """testbed/cases/crosshost as host A had it (files 0644, dirs 0755) plus n new files in ``data/``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "testbed" / "cases" / "crosshost", dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for i in range(n):
        d = dest / "data" / (f"n{i // 100:03d}" + f"/m{(i // 10) % 10}" if nested else "")
        if i % 10 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_text(f"file {i}\n" * 3)
    return dest


def _cpu(cmd: list[str]) -> float:
    """CPU seconds (user + sys) of one process and the children it waited for."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{cmd} exited {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime


def run_check() -> list[dict[str, Any]]:
    import math

    sizes = [int(x) for x in os.environ.get("CHECK_SIZES", "1000,3000,10000").split(",")]
    runs = int(os.environ.get("RUNS", "3"))
    exe = shutil.which("cacheinspect", path=str(Path(sys.executable).parent)) or "cacheinspect"
    cache = ROOT / "fixtures" / "crosshost-a"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        for shape in ("flat", "nested"):
            prev: dict[str, tuple[int, float]] = {}
            for n in sizes:
                ctx = copied_directory_context(Path(tmp) / "ctx", n, nested=shape == "nested")
                fp = [exe, "context", "fingerprint", str(ctx), "-o", os.devnull]
                check = [
                    exe,
                    "context",
                    "check",
                    str(cache),
                    str(ctx),
                    "--assume-base-unchanged",
                    "--no-referrers",
                ]
                _cpu(fp)  # warm the page cache
                t = {"fingerprint": [], "check": []}  # type: dict[str, list[float]]
                for _ in range(runs):
                    t["fingerprint"].append(_cpu(fp))
                    t["check"].append(_cpu(check))
                med = {k: statistics.median(v) for k, v in t.items()}
                for name in ("fingerprint", "check"):
                    growth = ""
                    if name in prev:
                        pn, pt = prev[name]
                        growth = f"{math.log(med[name] / pt) / math.log(n / pn):.2f}"
                    prev[name] = (n, med[name])
                    ratio = med[name] / med["fingerprint"]
                    rows.append(
                        {
                            "command": f"context {name}: {n:,} new files, {shape}",
                            "CPU s": f"{med[name]:.2f}",
                            "x fingerprint": f"{ratio:.2f}"
                            + (
                                f" (target <= 2: {'ok' if ratio <= 2 else 'MISSED'})"
                                if name == "check"
                                else ""
                            ),
                            "growth exponent": growth,
                        }
                    )
    return rows


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(t for t, _ in runs), max(r for _, r in runs)


def run() -> list[dict[str, Any]]:
    files = int(os.environ.get("CONTEXT_FILES", "50000"))
    mb = int(os.environ.get("CONTEXT_MB", "500"))
    runs = int(os.environ.get("RUNS", "3"))
    exe = shutil.which("cacheinspect", path=str(Path(sys.executable).parent)) or "cacheinspect"
    with tempfile.TemporaryDirectory(prefix="bench-context-") as tmp:
        ctx = Path(tmp) / "ctx"
        ctx.mkdir()
        nbytes = generate_context(ctx, files, mb)
        tar = f"tar -cf - -C {tmp} ctx | sha256sum"
        fp = [exe, "context", "fingerprint", str(ctx), "-o", os.devnull]
        lean = [*fp, "--lean"]
        _time(tar, shell=True)  # warm the page cache (and check both work)
        _time(fp)
        # interleaved, so that a burst of load on a shared machine hits both kinds alike
        t_tar: list[tuple[float, float]] = []
        t_fp: list[tuple[float, float]] = []
        t_lean: list[tuple[float, float]] = []
        for _ in range(runs):
            t_tar.append(_time(tar, shell=True))
            t_fp.append(_time(fp))
            t_lean.append(_time(lean))
        floor, rss_tar = _median(t_tar)
        rows = []
        for name, (t, rss) in [
            ("tar -cf - CONTEXT | sha256sum (floor)", (floor, rss_tar)),
            ("cacheinspect context fingerprint", _median(t_fp)),
            ("cacheinspect context fingerprint --lean", _median(t_lean)),
        ]:
            rows.append(
                {
                    "command": name,
                    "median s": f"{t:.2f}",
                    "x floor": f"{t / floor:.2f}",
                    "peak RSS MB": f"{rss:.0f}",
                }
            )
        print(
            f"context: {files} files, {nbytes / 1e6:.0f} MB, {runs} runs each, {os.cpu_count()} CPUs",
            flush=True,
        )
    return rows + run_check()


if __name__ == "__main__":
    from tabulate import tabulate

    print(tabulate(run(), headers="keys", disable_numparse=True))
