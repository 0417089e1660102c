"""``lint --resolve-base``: the base image's config comes from a real registry (docker-registry on
loopback, the same client ``context check`` uses), and decides the verdict.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.layout import push_blob, push_manifest
from tests.support.registry import RunningRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _push_image(reg: RunningRegistry, config: dict[str, object], history: list[str]) -> str:
    repo = f"corp/go-{uuid.uuid4().hex[:8]}"
    blob = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created_by": h} for h in history],
        }
    ).encode()
    with reg.admin_client() as c:
        digest = push_blob(c, repo, blob)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": len(blob),
                },
                "layers": [],
            }
        ).encode()
        push_manifest(c, repo, "1", manifest, OCI_MANIFEST)
    assert digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    return f"127.0.0.1:{reg.port}/{repo}:1"


def _lint(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "Dockerfile"
    f.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", "-f", "json", "--fail-on", "never", *args, str(f)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _codes(p: subprocess.CompletedProcess[str]) -> list[tuple[str, int]]:
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    return [(f["code"], f["line"]) for f in doc["files"][0]["findings"]]


def test_resolved_env_expands_gopath(registry_plain: RunningRegistry, tmp_path: Path) -> None:
    ref = _push_image(registry_plain, {"Env": ["GOPATH=/work", "PATH=/usr/bin"], "WorkingDir": "/src"}, [])
    text = (
        f"FROM {ref}\nENV GOMODCACHE=$GOPATH/pkg/mod\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    # unresolved: GOPATH may come from the image, so nothing is claimed, and a note says why not
    assert _codes(_lint(tmp_path, text)) == []
    # resolved: GOPATH=/work, so go uses /work/pkg/mod and the mount at /go/pkg/mod misses
    assert _codes(_lint(tmp_path, text, "--resolve-base")) == [("CM004", 3)]
    fixed = text.replace("target=/go/pkg/mod", "target=/work/pkg/mod")
    assert _codes(_lint(tmp_path, fixed, "--resolve-base")) == []


def test_resolved_history_that_removed_docker_clean(registry_plain: RunningRegistry, tmp_path: Path) -> None:
    ref = _push_image(
        registry_plain, {"Env": ["PATH=/usr/bin"]}, ["/bin/sh -c rm -f /etc/apt/apt.conf.d/docker-clean"]
    )
    text = (
        f"FROM {ref}\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update && apt-get install -y gcc\n"
    )
    assert _codes(_lint(tmp_path, text)) == [("CM005", 2)]
    assert _codes(_lint(tmp_path, text, "--resolve-base")) == []


def test_an_unreachable_base_falls_back_to_the_table(tmp_path: Path) -> None:
    # nothing listens there: the fetch fails quietly and lint goes on without that config
    text = "FROM 127.0.0.1:9/corp/go:1\nENV GOMODCACHE=$GOPATH/pkg/mod\nRUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    assert _codes(_lint(tmp_path, text, "--resolve-base", "--timeout", "1")) == []
