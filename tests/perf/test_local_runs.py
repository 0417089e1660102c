"""Local sources run without an event loop (issue 17: the CPU of one small real run of every command).

A layout or a config file never suspends, so ``inspect``, ``graph``, ``diff``, ``audit`` and ``context
check`` on them must not import asyncio (nor httpx); the same commands on a registry ref still do, with
the same result. Nothing logs in these runs, so logging is not imported either (``cacheinspect._log``),
and a small context is walked without a thread pool. Each run is a fresh interpreter, as a user's is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.sources.targets import local_only

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
MAX = f"oci-layout://{FIX / 'threestage-max'}"
MIN = f"oci-layout://{FIX / 'threestage-min'}"


def _run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, the heavy modules the run imported)."""
    code = (
        "import sys\n"
        "from cacheinspect.cli import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "heavy = ('asyncio', 'httpx', 'typer', 'logging', 'concurrent.futures')\n"
        "sys.stderr.write(repr(sorted(m for m in heavy if m in sys.modules)))\n"
        "sys.exit(rc)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    return p.returncode, p.stdout, p.stderr.splitlines()[-1] if p.stderr else ""


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", MAX],
        ["inspect", MAX, "-f", "json"],
        ["graph", MAX],
        ["diff", MAX, MIN],
        ["audit", MAX],
        ["audit", MAX, MIN],
        ["inspect", str(FIX / "threestage-max")],
    ],
)
def test_local_runs_import_no_event_loop(args: list[str]) -> None:
    rc, out, loaded = _run(*args)
    assert rc in (0, 1), out
    assert out  # a real report came out
    assert loaded == "[]"


def test_context_check_on_a_local_cache_with_base_images_assumed(tmp_path: Path) -> None:
    import shutil

    ctx = tmp_path / "ctx"
    shutil.copytree(ROOT / "testbed" / "cases" / "crosshost", ctx)
    rc, out, loaded = _run("context", "check", str(FIX / "crosshost-a"), str(ctx), "--assume-base-unchanged")
    assert rc == 0, out
    assert "hit" in out
    assert loaded == "[]"


def test_a_registry_ref_still_gets_the_event_loop() -> None:
    # nothing listens on port 1: the error is the network's, reached through the loop-driven path
    rc, _, loaded = _run("inspect", "127.0.0.1:1/nothing/here:tag", "--timeout", "2")
    assert rc == 5
    assert "asyncio" in loaded


def test_which_targets_are_local(tmp_path: Path) -> None:
    cfg = tmp_path / "cache.json"
    cfg.write_text('{"records": []}')
    assert local_only(MAX, str(FIX / "threestage-min"), str(cfg), None)
    assert not local_only(MAX, "ghcr.io/acme/app:buildcache")
    assert not local_only("not a valid ref!")  # the loop-driven path reports the error as before
    assert local_only()
