"""Step labels from image history go only to the record whose whole layer stack is the image's (issue 15).

A builder-stage ``RUN`` whose layer is byte-identical to the final image's ``COPY --from`` layer has the
same top blob as the final step. Expectations come from BuildKit's own output: the cache config's
records and their results, the image's manifest and its history's ``created_by``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CACHECONFIG, Testbed

pytestmark = pytest.mark.e2e

#: final stage FROM the base (the builder's RUN layer sits one higher: other stacks), or FROM the
#: builder's own parent stage (both stacks are the same blobs: the COPY is the record fed by the RUN)
SHAPES = {"other-stack": "${BASE}", "same-stack": "prep"}


def ci(*args: str) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DOCKER_CONFIG": os.devnull},
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    doc: dict[str, Any] = json.loads(p.stdout)
    return doc


def top_blob(cfg: dict[str, Any], rec: dict[str, Any]) -> str | None:
    for res in rec.get("layers") or []:
        return str(cfg["layers"][res["layer"]]["blob"])
    return None


@pytest.mark.parametrize("shape", list(SHAPES))
def test_builder_run_with_the_copy_layer_keeps_no_copy_label(
    testbed: Testbed, tmp_path: Path, shape: str
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    # RUN true gives the base /dev, /proc, /sys, so the builder's RUN layer holds /out and nothing else:
    # the same tar as the final stage's COPY --from of /out.
    (ctx / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE} AS prep\nRUN true\n"
        "FROM prep AS builder\nRUN mkdir -p /out && echo built > /out/result\n"
        f"FROM {SHAPES[shape]}\nCOPY --from=builder /out /out\n"
    )
    repo = testbed.unique_repo(f"labels-{shape}")
    testbed.prune()
    testbed.build(
        ctx,
        "--build-arg",
        f"BASE={testbed.env['TESTBED_BASE_IMAGE']}",
        "--provenance=false",
        "--cache-to",
        f"type=registry,ref={testbed.ref(repo, 'c')},mode=max",
    )
    # the image separately, after the cache push (one --push per build: distribution 2.8 races)
    testbed.build(
        ctx,
        "--build-arg",
        f"BASE={testbed.env['TESTBED_BASE_IMAGE']}",
        "--provenance=false",
        "-t",
        testbed.ref(repo, "img"),
        "--push",
    )
    # BuildKit's facts: the image's top layer and its history text, the cache records ending in that blob
    _, _, image = testbed.get_manifest(repo, "img")
    copy_layer = image["layers"][-1]["digest"]
    history = json.loads(testbed.get_blob(repo, image["config"]["digest"]))["history"]
    copy_label = [h for h in history if not h.get("empty_layer")][-1]["created_by"]
    copy_label = copy_label.removesuffix("# buildkit").strip()
    assert copy_label.startswith("COPY ")
    _, _, man = testbed.get_manifest(repo, "c")
    descs = [*man.get("manifests", []), *([man["config"]] if "config" in man else [])]
    (cfg_desc,) = [d for d in descs if d["mediaType"] == CACHECONFIG]
    cfg = json.loads(testbed.get_blob(repo, cfg_desc["digest"]))
    same = [i for i, r in enumerate(cfg["records"]) if top_blob(cfg, r) == copy_layer]
    assert len(same) == 2, "BuildKit did not give the builder's RUN the COPY's layer: no scenario"
    fed = {lk["link"] for i in same for inp in cfg["records"][i]["inputs"] for lk in inp}
    (run_rec,) = [i for i in same if i in fed]  # the builder's RUN feeds the COPY (its source)
    (copy_rec,) = [i for i in same if i not in fed]

    image_ref = testbed.ref(repo, "img")
    rep = ci("inspect", testbed.ref(repo, "c"), "--image", image_ref)
    steps = {r["index"]: r["step"] for r in rep["records"]}
    assert steps[copy_rec] == copy_label
    assert steps[run_rec] != copy_label
    named = [s for s in rep["stages"] if s["label"] == copy_label]
    assert all(copy_rec in s["records"] for s in named), "a stage without the COPY is named after it"
    graph = ci("graph", testbed.ref(repo, "c"), "--image", image_ref)
    assert [n["index"] for n in graph["nodes"] if n["step"] == copy_label] == [copy_rec]
