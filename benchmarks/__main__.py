"""Run every ``benchmarks/bench_*.py`` (or the sections named on the command line), a table for each.

python -m benchmarks              # all (make bench)
python -m benchmarks cli          # one section: decode | cli | head | context | lint | gc
python -m benchmarks head decode  # several

A section is a module ``benchmarks/bench_<name>.py`` with ``run() -> list[dict]`` (one table row per
dict) and an optional ``TITLE``; adding the file is all it takes to wire it in.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate


def _modules(only: list[str]) -> list[str]:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in only}
        unknown = wanted - set(names)
        if unknown:
            raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))} (have {', '.join(names)})")
        names = [n for n in names if n in wanted]
    return names


def _title(module: Any) -> str:
    title = getattr(module, "TITLE", None)
    if title:
        return str(title)
    doc = (module.__doc__ or module.__name__).strip()
    return doc.splitlines()[0]


def _compile_package() -> None:
    """Byte-compile cacheinspect first, as ``pip install`` does at install time.

    Whole-process timings would otherwise include compiling the package's sources on every start
    where ``PYTHONDONTWRITEBYTECODE`` is set (an editable install then never caches its bytecode):
    about 40-70 ms of the ``audit`` start-up measured on these machines, which no installed user pays.
    """
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "cacheinspect"), quiet=1)


def main(argv: list[str]) -> int:
    failed = 0
    _compile_package()
    for name in _modules(argv):
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        print(f"\n== {name}: {_title(module)}", flush=True)
        try:
            rows: list[dict[str, Any]] = module.run()
        except Exception as e:  # one broken benchmark must not hide the others' numbers
            failed += 1
            print(f"FAILED: {type(e).__name__}: {e}", flush=True)
            continue
        # disable_numparse: tabulate would otherwise turn digest-like or "1e3"-like strings into numbers.
        print(tabulate(rows, headers="keys", disable_numparse=True), flush=True)
        print(f"({time.perf_counter() - started:.1f}s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
