"""`inspect --dockerfile` names the image steps that ran with a cache mount (issue 10 item 3).

Ground truth from the real BuildKit: the step's history entry does not mention the mount, and the path
the RUN wrote into the mount is empty in the image it built (exported with --output type=local).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Testbed

pytestmark = pytest.mark.e2e

DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG FLAVOR=plain
RUN mkdir -p /pip-packages
RUN --mount=type=cache,target=/pip-packages,id=pkgs \\
    echo "installed $FLAVOR" > /pip-packages/uwsgi.py
RUN echo done > /done
"""


def test_cache_mount_steps_are_named_and_their_output_is_absent(testbed: Testbed, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    ref = testbed.ref(testbed.unique_repo("mounts"), "v1")
    base = testbed.ref("base/busybox", "1")
    testbed.prune()
    testbed.build(ctx, "--build-arg", f"BASE={base}", "--cache-to", "type=inline", "-t", ref, "--push")
    out = tmp_path / "out"
    testbed.build(ctx, "--build-arg", f"BASE={base}", "--output", f"type=local,dest={out}")
    # BuildKit's own effect: the RUN wrote into the mount, the image has nothing there.
    assert (out / "pip-packages").is_dir()
    assert list((out / "pip-packages").iterdir()) == []
    assert (out / "done").read_text() == "done\n"
    # ... and nothing in the image's history says a mount was used.
    hist = testbed.docker("image", "inspect", ref, "--format", "{{json .}}", check=False)
    if hist.returncode != 0:  # not in the local store after a prune: pull it
        testbed.docker("pull", "-q", ref)
    created = testbed.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).stdout
    assert "uwsgi.py" in created and "--mount" not in created

    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cacheinspect",
            "inspect",
            ref,
            "--dockerfile",
            str(ctx / "Dockerfile"),
            "--build-arg",
            f"BASE={base}",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DOCKER_CONFIG": os.devnull},
    )
    assert p.returncode == 0, p.stderr
    found = [f for f in json.loads(p.stdout)["findings"] if f["code"] == "cache-mount-step"]
    assert [f["details"]["line"] for f in found] == [5], found
    assert found[0]["details"]["mounts"][0]["target"] == "/pip-packages"
    assert "uwsgi.py" in found[0]["message"]
