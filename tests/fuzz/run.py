"""``make fuzz``: the long run (default 100,000 cases). ``python -m tests.fuzz.run --cases N``.

Prints one progress line per 10,000 cases and closes with the figures: cases, crashes, hangs over 10 s,
audit passes the importer rejects, and peak RSS. Exit 1 if any of them is not zero.
"""

from __future__ import annotations

import argparse
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed

from tests.fuzz.harness import HANG_SECONDS, Plan, Stats, run_case
from tests.fuzz.mutate import fixture_seeds, synth_seed
from tests.fuzz.strategies import plans


def seeds() -> list:  # type: ignore[type-arg]
    return [*fixture_seeds(), synth_seed(6, 1), synth_seed(30, 2), synth_seed(120, 3)]


def fuzz(
    cases: int, *, cli_every: int, sub_every: int, seed: int | None = None, quiet: bool = False
) -> Stats:
    all_seeds = seeds()
    stats = Stats()
    t0 = time.monotonic()

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],
    )
    @given(plan=plans(len(all_seeds)))
    def one(plan: Plan) -> None:
        k = stats.cases
        before = {w: len(getattr(stats, w)) for w in ("crashes", "hangs", "false_pass", "false_fail")}
        run_case(stats, all_seeds, plan, k=k, cli_every=cli_every, sub_every=sub_every)
        if not quiet:
            for w, n in before.items():
                for x in getattr(stats, w)[n:]:
                    print(f"{w}: {x}", file=sys.stderr, flush=True)
        if not quiet and stats.cases % 10_000 == 0:
            print(stats.line(time.monotonic() - t0), flush=True)

    if seed is not None:
        one = hseed(seed)(one)
    one()
    stats.seconds = time.monotonic() - t0  # type: ignore[attr-defined]
    return stats


def _shard(args: tuple[int, int, int, int | None]) -> dict[str, object]:
    import resource

    cases, cli_every, sub_every, seed = args
    st = fuzz(cases, cli_every=cli_every, sub_every=sub_every, seed=seed)
    return {
        "stats": st,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--cli-every", type=int, default=50)
    ap.add_argument("--subprocess-every", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: derandomized)")
    ap.add_argument("--workers", type=int, default=1, help="processes, each with its own seed and share")
    args = ap.parse_args()
    t0 = time.monotonic()
    if args.workers <= 1:
        stats = fuzz(args.cases, cli_every=args.cli_every, sub_every=args.subprocess_every, seed=args.seed)
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    else:
        import multiprocessing

        share = -(-args.cases // args.workers)
        jobs = [
            (share, args.cli_every, args.subprocess_every, (args.seed or 0) + i + 1)
            for i in range(args.workers)
        ]
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            parts = pool.map(_shard, jobs)
        stats = Stats()
        for part in parts:
            st = part["stats"]
            assert isinstance(st, Stats)
            stats.cases += st.cases
            for w in ("crashes", "hangs", "false_pass", "false_fail"):
                getattr(stats, w).extend(getattr(st, w))
            stats.calls.update(st.calls)
            stats.verdicts.update(st.verdicts)
        rss = max(float(p["rss_mib"]) for p in parts)  # type: ignore[arg-type]
        child = max(float(p["child_rss_mib"]) for p in parts)  # type: ignore[arg-type]
    for what in ("crashes", "hangs", "false_pass", "false_fail"):
        for x in getattr(stats, what)[:5]:
            print(f"{what}: {x}", file=sys.stderr)
    print(f"entry points: {dict(sorted(stats.calls.items()))}")
    print(f"oracle verdicts: {dict(stats.verdicts)}")
    seconds = time.monotonic() - t0
    print(
        f"fuzz: {stats.cases} cases, {sum(stats.calls.values())} entry-point calls, {len(stats.crashes)} crashes, "
        f"{len(stats.hangs)} hangs over {HANG_SECONDS} s, {len(stats.false_pass)} audit passes the importer "
        f"rejects, {len(stats.false_fail)} audit failures the importer accepts, peak RSS {rss:.0f} MiB per "
        f"worker x {max(1, args.workers)} (subprocess CLI {child:.0f} MiB), {seconds:.0f} s"
    )
    bad = stats.crashes or stats.hangs or stats.false_pass or stats.false_fail
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
