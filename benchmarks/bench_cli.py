"""Whole ``cacheinspect`` processes at 1k, 10k, 100k, 1M records and 1M empty records, next to the floor.

Issue 12's "Done when": for each size, the wall time, peak RSS and output bytes of ``inspect -f json``,
``inspect`` (the table) and ``audit --no-check-blobs``, next to the floor
``python -c 'd = json.loads(bytes); sys.stdout.write(json.dumps(d))'`` on the same file in the same run,
and the growth exponent between sizes (``log(t2/t1) / log(n2/n1)``; 1.0 is linear). Targets:
``inspect -f json`` at 100k records <= 3x the floor's time and <= 2.5x its peak RSS, JSON output <= 3x
the input, exponent <= 1.1; every command on 1M empty records under 5 s (there ``diff`` of two copies
and ``graph -f dot`` are timed too).

Then start-up: ``--help`` and ``--version`` against ``python -c 'import json'`` from the same venv
(whole process, median of 20), target <= 3x; and the CPU of one small real run of every command
against the same floor (issue 17), target <= 4x.

Each process writes its stdout to a file (so output bytes are counted and a terminal is not the
bottleneck); peak RSS is the child's ``ru_maxrss`` from ``wait4``. Times are medians of
``BENCH_CLI_ROUNDS`` (default 3; 1 for the 1M sizes). ``BENCH_CLI_SIZES=1000,10000`` limits the sizes.
The synthetic configs are cached under ``build/bench-data/`` (the 1M one takes a minute to make).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TITLE = "whole CLI processes vs the json.loads+json.dumps floor (synthetic mode=max configs)"
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "build" / "bench-data"
SIZES = tuple(int(x) for x in os.environ.get("BENCH_CLI_SIZES", "1000,10000,100000,1000000").split(","))
ROUNDS = int(os.environ.get("BENCH_CLI_ROUNDS", "3"))
FLOOR = "import json, sys; d = json.loads(open(sys.argv[1], 'rb').read()); sys.stdout.write(json.dumps(d))"


def _exe() -> list[str]:
    script = Path(sys.executable).with_name("cacheinspect")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cacheinspect"]


def config_file(n: int, *, empty: bool = False) -> Path:
    """The synthetic config of *n* records (cached on disk)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / (f"empty-{n}.json" if empty else f"max-{n}.json")
    if not path.exists():
        if empty:
            data = b'{"records":[' + b",".join([b"{}"] * n) + b"]}"
        else:
            sys.path.insert(0, str(ROOT))
            from tests.synth import encode_go, synth_config

            data = encode_go(synth_config(n, seed=n))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def measure(cmd: list[str], out: Path) -> tuple[float, int, int, int]:
    """(seconds, peak RSS bytes, output bytes, exit code) of one whole process."""
    with open(out, "wb") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.DEVNULL, cwd=ROOT)
        _, status, rusage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, rusage.ru_maxrss * 1024, out.stat().st_size, p.returncode


def _median_run(cmd: list[str], out: Path, rounds: int) -> dict[str, float]:
    runs = [measure(cmd, out) for _ in range(rounds)]
    # audit exits 1 on findings (synthetic configs have no timestamps etc.); anything else is shown
    return {
        "s": statistics.median(r[0] for r in runs),
        "rss": statistics.median(r[1] for r in runs),
        "bytes": runs[-1][2],
        "rc": max(r[3] for r in runs),
    }


def _startup() -> list[dict[str, Any]]:
    n = 20
    exe = _exe()

    def med(cmd: list[str]) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    floor = med([sys.executable, "-c", "import json"])
    rows = [
        {
            "size": "start-up",
            "command": "python -c 'import json'",
            "median s": f"{floor:.3f}",
            "vs floor": "1.00x",
        }
    ]
    for args in (["--help"], ["--version"], ["inspect", "--help"]):
        t = med([*exe, *args])
        ok = "ok" if t <= 3 * floor else "MISSED"
        rows.append(
            {
                "size": "start-up",
                "command": "cacheinspect " + " ".join(args),
                "median s": f"{t:.3f}",
                "vs floor": f"{t / floor:.2f}x (median of {n}; target <= 3x: {ok})",
            }
        )
    return rows


def small_commands(tmp: Path, exe: list[str]) -> dict[str, list[str]]:
    """One small real run of every command, on fixtures and tiny files written under *tmp*: the floor
    first. Registry commands that need a live registry are measured by ``bench_registry``; ``registry
    probe --from-log`` is their local work."""
    import shutil

    fix = ROOT / "fixtures"
    ctx = tmp / "ctx"
    shutil.copytree(ROOT / "testbed" / "cases" / "crosshost", ctx)
    for p in [ctx, *ctx.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY app.conf /etc/app.conf\nCOPY data/ /data/\n")
    df = tmp / "Dockerfile.lint"
    df.write_text("FROM alpine\nRUN --mount=type=cache,target=/root/.cache pip install -r req.txt\n")
    policy = tmp / "daemon.json"
    policy.write_text('{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "20GB"}}}\n')
    log = tmp / "build.log"
    log.write_text(
        "#12 exporting cache to registry\n#12 preparing build cache for export\n"
        "#12 ERROR: invalid configuration for remote cache, OCI mediatypes are required for image-manifest "
        "cache format\n"
    )
    dump = ROOT / "tests" / "gc" / "data" / "buildx-du-verbose.txt"
    fp_a, fp_b = tmp / "a.fp.json", tmp / "b.fp.json"
    with open(fp_a, "wb") as fh:  # host A's fingerprint, then host B's after one file changed
        subprocess.run([*exe, "context", "fingerprint", str(ctx)], stdout=fh, check=False)
    (ctx / "app.conf").write_text("changed\n")
    with open(fp_b, "wb") as fh:
        subprocess.run([*exe, "context", "fingerprint", str(ctx)], stdout=fh, check=False)
    (ctx / "app.conf").write_text((ROOT / "testbed" / "cases" / "crosshost" / "app.conf").read_text())
    layout = f"oci-layout://{fix / 'threestage-max'}"
    return {
        "python -c 'import json' (floor)": [sys.executable, "-c", "import json"],
        # what any fetch pays before its first request: the async HTTP client the design card fixes
        "python -c 'import asyncio, httpx' (reference, no target)": [
            sys.executable,
            "-c",
            "import asyncio, httpx",
        ],
        "inspect oci-layout://fixtures/threestage-max": [*exe, "inspect", layout],
        "graph oci-layout://fixtures/threestage-max": [*exe, "graph", layout],
        "diff threestage-max threestage-min": [
            *exe,
            "diff",
            layout,
            f"oci-layout://{fix / 'threestage-min'}",
        ],
        "audit oci-layout://fixtures/threestage-max": [*exe, "audit", layout],
        "context fingerprint (3 files)": [*exe, "context", "fingerprint", str(ctx)],
        "context check (3 files, local layout)": [
            *exe,
            "context",
            "check",
            str(fix / "crosshost-a"),
            str(ctx),
            "--assume-base-unchanged",
        ],
        "context diff (two fingerprints)": [*exe, "context", "diff", str(fp_a), str(fp_b)],
        "lint (2 lines)": [*exe, "lint", str(df)],
        "du (buildx du dump)": [*exe, "du", str(dump)],
        "gc simulate (buildx du dump)": [*exe, "gc", "simulate", str(dump)],
        "gc lint --policy daemon.json": [*exe, "gc", "lint", "--policy", str(policy)],
        "registry probe --from-log": [*exe, "registry", "probe", "--from-log", str(log)],
    }


#: The children run as an installed CLI does: with bytecode. ``PYTHONDONTWRITEBYTECODE`` (set in some
#: CI and sandbox shells) would make every run compile every module it imports, 2-3x the CPU of a start.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_of(cmd: list[str]) -> float:
    """User + system CPU seconds of one whole child process (``wait4``), its output discarded."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=CHILD_ENV
    )
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def _small_runs() -> list[dict[str, Any]]:
    """One small real run of every command (issue 17): CPU seconds (user + sys, ``wait4``) of the whole
    process, median of ``BENCH_SMALL_ROUNDS`` (default 9), against ``python -c 'import json'`` measured in
    the same rounds (interleaved, so a busy machine weighs on both), after one warm-up run that writes
    the bytecode; target <= 4x. Then the fetch of one cache from a real loopback registry (distribution
    2.8, plain HTTP): ``inspect --raw manifest``, ``--raw config`` and ``inspect`` (issue 17 compared the
    first two with ``skopeo inspect --raw``)."""
    import contextlib
    import tempfile

    n = int(os.environ.get("BENCH_SMALL_ROUNDS", "9"))
    with tempfile.TemporaryDirectory(prefix="bench-small-") as tmp, contextlib.ExitStack() as stack:
        exe = _exe()
        commands = small_commands(Path(tmp), exe)
        registry = stack.enter_context(_registry_cache(Path(tmp)))
        if registry is not None:
            commands |= {
                "inspect REF --raw manifest (loopback registry)": [
                    *exe,
                    "inspect",
                    registry,
                    "--raw",
                    "manifest",
                ],
                "inspect REF --raw config (loopback registry)": [
                    *exe,
                    "inspect",
                    registry,
                    "--raw",
                    "config",
                ],
                "inspect REF (loopback registry)": [*exe, "inspect", registry],
            }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # a first run writes the bytecode an installed package ships
            cpu_of(cmd)
        for _ in range(n):
            for name, cmd in commands.items():
                samples[name].append(cpu_of(cmd))
    cpu = {name: statistics.median(ts) for name, ts in samples.items()}
    floor = cpu["python -c 'import json' (floor)"]
    return [
        {
            "size": "small real run (CPU)",
            "command": name,
            "median s": f"{t:.3f}",
            "vs floor": f"{t / floor:.2f}x"
            + (
                ""
                if name.endswith(("(floor)", "no target)"))
                else f" (CPU, median of {n}; target <= 4x: {'ok' if t <= 4 * floor else 'MISSED'})"
            ),
        }
        for name, t in cpu.items()
    ]


@contextlib.contextmanager
def _registry_cache(tmp: Path) -> Iterator[str | None]:
    """A loopback docker-registry holding fixtures/threestage-max: its REF, or None without one."""
    sys.path.insert(0, str(ROOT))
    from tests.support.layout import push_named_fixture
    from tests.support.registry import RegistryStartError, start_registry

    try:
        with start_registry("plain", tmp / "registry") as reg:
            pushed = push_named_fixture(reg, "threestage-max", tag="cache")
            yield f"{reg.host}/{pushed.repo}:cache"
    except RegistryStartError as e:
        sys.stderr.write(f"bench_cli: no loopback registry rows: {e}\n")
        yield None


def run() -> list[dict[str, Any]]:
    exe = _exe()
    tmp = DATA / "out"
    DATA.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    cases = [(n, False) for n in SIZES] + ([(1_000_000, True)] if 1_000_000 in SIZES else [])
    prev: dict[str, tuple[int, float]] = {}
    for n, empty in cases:
        path = config_file(n, empty=empty)
        size = path.stat().st_size
        rounds = 1 if n >= 1_000_000 else ROUNDS
        label = f"{n:,} {'empty ' if empty else ''}records ({size / 1e6:.1f} MB)"
        commands = {
            "floor: json.loads + json.dumps": [sys.executable, "-c", FLOOR, str(path)],
            "inspect -f json": [*exe, "inspect", "-f", "json", str(path)],
            "inspect (table)": [*exe, "inspect", str(path)],
            "audit --no-check-blobs": [*exe, "audit", "--no-check-blobs", "-q", str(path)],
        }
        if empty:  # "every command": also the two that build two graphs / draw every record
            twin = DATA / "empty-1000000-b.json"
            if not twin.exists():
                twin.write_bytes(path.read_bytes())
            commands["diff (two copies)"] = [*exe, "diff", str(path), str(twin)]
            commands["graph -f dot"] = [*exe, "graph", "-f", "dot", str(path)]
        results = {name: _median_run(cmd, tmp, rounds) for name, cmd in commands.items()}
        floor = results["floor: json.loads + json.dumps"]
        refused = results["inspect -f json"]["rc"] == 6  # over the input cap (load.py): nothing to time
        for name, r in results.items():
            growth = ""
            if not empty and name in prev and not refused:
                pn, pt = prev[name]
                growth = f"{math.log(r['s'] / pt) / math.log(n / pn):.2f}"
            if not empty and not refused:
                prev[name] = (n, r["s"])
            target = ""
            if name == "inspect -f json" and n == 100_000 and not empty:
                ok = (
                    r["s"] <= 3 * floor["s"]
                    and r["rss"] <= 2.5 * floor["rss"]
                    and r["bytes"] <= 3 * size
                    and (not growth or float(growth) <= 1.1)
                )
                target = f"<=3x time, <=2.5x RSS, <=3x bytes, exp<=1.1: {'ok' if ok else 'MISSED'}"
            if empty and not name.startswith("floor"):
                target = f"< 5 s: {'ok' if r['s'] < 5 else 'MISSED'}"
            if refused and not name.startswith("floor"):
                target = f"exit {r['rc']}: the file is over the input cap, refused before decoding"
            rows.append(
                {
                    "size": label,
                    "command": name,
                    "median s": f"{r['s']:.2f}",
                    "vs floor": f"{r['s'] / floor['s']:.2f}x",
                    "peak RSS MB": f"{r['rss'] / 1e6:.0f}",
                    "RSS vs floor": f"{r['rss'] / floor['rss']:.2f}x",
                    "output bytes": f"{r['bytes']:,}",
                    "output / input": f"{r['bytes'] / size:.2f}x",
                    "growth exponent": growth,
                    "target": target,
                }
            )
    tmp.unlink(missing_ok=True)
    return rows + _startup() + _small_runs()


if __name__ == "__main__":
    from tabulate import tabulate

    print(TITLE)
    print(tabulate(run(), headers="keys", disable_numparse=True))
