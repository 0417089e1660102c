"""The surfaces runner's own oracle: each failure class it reports is detected (a runner that saw
nothing would pass every fuzz run). ``cacheinspect.cli.main`` is replaced in the parent before the
fork, so the forked child runs the misbehaviour; the limits are lowered to keep this quick."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import cacheinspect.cli
from tests.fuzz import surfaces
from tests.fuzz.surfaces import CaseResult, run_one


def _spin() -> None:
    while True:
        pass


BEHAVIOURS: dict[str, Callable[[], None]] = {
    "clean": lambda: print("ok"),
    "exit70": lambda: sys.exit(70),
    "leak": lambda: (_ for _ in ()).throw(RuntimeError("escaped main")),
    "sleep": lambda: time.sleep(60),
    "spin": _spin,
    "memory": lambda: print(len(bytearray(300 << 20))),
    "control": lambda: print("\x1b[31mred \u202e \x9b"),
    "findings": lambda: sys.exit(1),
}


def _run(behaviour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CaseResult:
    act = BEHAVIOURS[behaviour]

    def fake_main(argv: list[str] | None = None) -> None:
        act()
        raise SystemExit(0)

    def case(rng: random.Random, workdir: Path) -> list[str]:
        (workdir / "input").write_text(str(rng.random()))
        return ["context", "diff", "input", "input"]

    monkeypatch.setattr(cacheinspect.cli, "main", fake_main)
    monkeypatch.setattr(surfaces, "CPU_SECONDS", 1)
    monkeypatch.setattr(surfaces, "WALL_FACTOR", 3)
    monkeypatch.setattr(surfaces, "RSS_CAP", 200 << 20)
    return run_one(case, "test", 0, 0, tmp_path, keep=True)


@pytest.mark.parametrize(
    ("behaviour", "bug", "hang", "over", "controls"),
    [
        ("clean", False, False, False, False),
        ("findings", False, False, False, False),
        ("exit70", True, False, False, False),
        ("leak", True, False, False, False),
        ("sleep", False, True, False, False),
        ("spin", False, True, False, False),
        ("memory", False, False, True, False),
        ("control", False, False, False, True),
    ],
)
def test_runner_detects_each_failure_class(
    behaviour: str,
    bug: bool,
    hang: bool,
    over: bool,
    controls: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = _run(behaviour, tmp_path, monkeypatch)
    assert (r.bug, r.hang, r.over_rss, bool(r.controls)) == (bug, hang, over, controls), r
    assert r.failed == (bug or hang or over or controls)
    assert r.argv == ["context", "diff", "input", "input"]
    if r.failed:
        assert r.workdir is not None and Path(r.workdir, "input").exists()  # kept for inspection
    if behaviour == "control":
        assert r.controls == ["U+001B", "U+009B", "U+202E"]
