"""``python -m tests.fuzz.surfaces --cases N --workers 2 [--surface NAME] [--seed S] [--case K]``.

Prints one line per surface (cases, exit 70, hangs, runs over 1 GiB, raw control characters, generator
errors, peak RSS, CPU-bound seconds, the exit codes seen) and up to five failing cases per surface with
their argv and kept workdir. Exit 1 if any failure figure is not zero.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.fuzz.surfaces import CPU_SECONDS, WALL_FACTOR, SurfaceStats, discover, run_cases


def report(stats: dict[str, SurfaceStats], seconds: float) -> str:
    lines = []
    head = (
        f"{'surface':<14}{'cases':>8}{'exit70':>8}{'hangs':>7}{'>1GiB':>7}{'ctrl':>6}{'generr':>8}"
        f"{'peakMiB':>9}  exits"
    )
    lines.append(head)
    total = SurfaceStats()
    for name in sorted(stats):
        st = stats[name]
        total.merge(st)
        exits = ", ".join(f"{k}:{v}" for k, v in sorted(st.exits.items()))
        lines.append(
            f"{name:<14}{st.cases:>8}{st.exit70:>8}{st.hangs:>7}{st.over_1g:>7}{st.control:>6}"
            f"{st.generator_errors:>8}{st.peak_rss / 2**20:>9.0f}  {exits}"
        )
    lines.append(
        f"{'total':<14}{total.cases:>8}{total.exit70:>8}{total.hangs:>7}{total.over_1g:>7}{total.control:>6}"
        f"{total.generator_errors:>8}{total.peak_rss / 2**20:>9.0f}  "
        f"({seconds:.0f} s wall; hang = over {CPU_SECONDS} s CPU or {CPU_SECONDS * WALL_FACTOR} s wall)"
    )
    for name in sorted(stats):
        for r in stats[name].examples:
            what = [
                w
                for w, on in (
                    ("exit70", r.bug),
                    ("hang", r.hang),
                    (">1GiB", r.over_rss),
                    (f"control {r.controls}", bool(r.controls)),
                    ("generator error", r.generator_error),
                )
                if on
            ]
            lines.append(
                f"FAIL {name} case {r.index} ({', '.join(what)}; exit {r.exit_code}, signal {r.signal}, "
                f"{r.rss_bytes / 2**20:.0f} MiB, {r.seconds:.1f} s): argv {r.argv!r}"
                + (f" workdir {r.workdir}" if r.workdir else "")
            )
            tail = r.stderr_tail.strip().splitlines()[-3:]
            for t in tail:
                lines.append(f"    stderr: {t!r}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.surfaces", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000, help="cases in all, dealt round-robin over surfaces")
    ap.add_argument("--workers", type=int, default=2, help="forked worker processes")
    ap.add_argument("--surface", action="append", help="only this surface (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="the seed every case's input derives from")
    ap.add_argument("--case", type=int, default=None, help="run only this case index (reproduce one)")
    ap.add_argument("--list", action="store_true", help="list the surfaces and exit")
    ap.add_argument(
        "--progress", type=int, default=1000, help="per-worker figures on stderr every N cases (0: none)"
    )
    args = ap.parse_args()
    if args.list:
        print("\n".join(sorted(discover())))
        return 0
    t0 = time.monotonic()
    stats = run_cases(
        args.cases,
        workers=args.workers,
        surfaces=args.surface,
        seed=args.seed,
        only_case=args.case,
        progress=args.progress,
    )
    print(report(stats, time.monotonic() - t0))
    return 1 if any(st.bad for st in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
