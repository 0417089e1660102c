"""The export mode is decided only from what a mode=min export lacks (issue 15), proved on both engines.

BuildKit's facts, each read from the caches these builds export (never from cacheinspect's output):
- the README's CI recipe (``--cache-from`` and ``--cache-to …,mode=max`` on one ref) after a ``chmod`` of
  one input exports key-only records: alternatives kept from the imported cache;
- a mode=min export of a build that took every step from an imported mode=max cache has the same cache
  config, byte for byte, as that mode=max export;
- v0.13's warm mode=max export leaves a varying subset of imported steps key-only (runs of them too).
What only a min export lacks, a builder stage without any layer, is covered by
test_e2e_cacheinspect.py::test_live_min_and_max_exports (a cold min export fails the max gate).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CACHECONFIG, Testbed, copy_case

pytestmark = pytest.mark.e2e


def ci(*args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DOCKER_CONFIG": os.devnull},
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def cache_config(bed: Testbed, repo: str, tag: str) -> tuple[str, dict[str, Any]]:
    """(digest, decoded) of the cache config the registry holds under REPO:TAG, in any export shape."""
    _, _, doc = bed.get_manifest(repo, tag)
    descs = [*doc.get("manifests", []), *([doc["config"]] if "config" in doc else [])]
    (desc,) = [d for d in descs if d["mediaType"] == CACHECONFIG]
    return desc["digest"], json.loads(bed.get_blob(repo, desc["digest"]))


def keyonly(cfg: dict[str, Any]) -> list[int]:
    """Indexes of non-root records that carry no result, straight from BuildKit's JSON."""
    return [
        i
        for i, r in enumerate(cfg["records"])
        if r.get("inputs") and not r.get("layers") and not r.get("chains")
    ]


def mode_of(bed: Testbed, repo: str, tag: str) -> str:
    p = ci("inspect", bed.ref(repo, tag), "-f", "json")
    assert p.returncode == 0, p.stderr
    return str(json.loads(p.stdout)["summary"]["mode"])


def gate(bed: Testbed, repo: str, tag: str, mode: str) -> int:
    return ci("audit", bed.ref(repo, tag), "--expect-mode", mode, "-q").returncode


def test_ci_recipe_after_a_chmod_passes_the_max_gate(testbed: Testbed, tmp_path: Path) -> None:
    repo = testbed.unique_repo("mode-recipe")
    ctx = copy_case("threestage", tmp_path)
    recipe = ["--cache-from", f"type=registry,ref={testbed.ref(repo, 'c')}"]
    recipe += ["--cache-to", f"type=registry,ref={testbed.ref(repo, 'c')},mode=max"]
    testbed.prune()
    testbed.build(ctx, *recipe)
    for css in (ctx / "assets" / "css").iterdir():
        css.chmod(0o600)
    testbed.prune()
    testbed.build(ctx, *recipe)
    _, cfg = cache_config(testbed, repo, "c")
    assert keyonly(cfg), "BuildKit exported no key-only record: the scenario did not happen"
    assert mode_of(testbed, repo, "c") != "min"
    assert gate(testbed, repo, "c", "max") == 0


def test_warm_min_export_is_the_max_export_so_the_mode_cannot_be_told(
    testbed: Testbed, tmp_path: Path
) -> None:
    rx, ry, rz = (testbed.unique_repo(f"mode-warm-{x}") for x in "xyz")
    ctx = copy_case("threestage", tmp_path)
    testbed.prune()
    testbed.build(ctx, "--cache-to", f"type=registry,ref={testbed.ref(rx, 'c')},mode=max")
    for repo, mode in ((ry, "min"), (rz, "max")):
        testbed.prune()
        testbed.build(
            ctx,
            "--cache-from",
            f"type=registry,ref={testbed.ref(rx, 'c')}",
            "--cache-to",
            f"type=registry,ref={testbed.ref(repo, 'c')},mode={mode}",
        )
    dx, _ = cache_config(testbed, rx, "c")
    dy, _ = cache_config(testbed, ry, "c")
    assert dx == dy, "BuildKit's warm mode=min config differs from the mode=max one"
    for repo in (rx, ry, rz):  # the warm max (rz) holds key-only records on v0.13; it is still no min
        assert mode_of(testbed, repo, "c") == "min-or-max"
        assert gate(testbed, repo, "c", "max") == 0
        assert gate(testbed, repo, "c", "min") == 0
    assert mode_of(testbed, rx, "c") == mode_of(testbed, ry, "c")
