"""Fingerprint round trip through a real registry (distribution 2.8), in every auth flavour.

Host A pushes its context fingerprint next to its cache (``context fingerprint --push``): an OCI 1.1
artifact whose subject is the cache's manifest, found through the ``sha256-<hex>`` tag because
distribution 2.8 has no referrers API. Host B, whose context differs in several files and fields, runs
``context check`` with no local fingerprint: the check finds A's in the registry and names every change.
Nothing is written without ``--push``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from cacheinspect.context.push import ARTIFACT_TYPE
from cacheinspect.registry.push import fallback_tag
from tests.support.layout import PushFixture
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "testbed" / "cases"


def context_copy(dest: Path) -> Path:
    shutil.copytree(CASES / "crosshost", dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def docker_config(tmp: Path, reg: RunningRegistry) -> Path:
    return reg.docker_config(tmp / "docker-config")


def cli(reg: RunningRegistry, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return reg.run_cli(["context", *args], cfg, cwd=ROOT)


def tags(reg: RunningRegistry, repo: str) -> list[str]:
    with reg.admin_client() as c:
        r = c.get(f"/v2/{repo}/tags/list")
        r.raise_for_status()
        return sorted(r.json().get("tags") or [])


def test_fingerprint_round_trip(registry: RunningRegistry, push_fixture: PushFixture, tmp_path: Path) -> None:
    repo, tag, digest = push_fixture("crosshost-a", registry)
    ref = f"{registry.host}/{repo}:{tag}"
    cfg = docker_config(tmp_path, registry)
    a = context_copy(tmp_path / "a")

    # no write without --push: a check and a plain fingerprint leave the repository as it was
    before = tags(registry, repo)
    assert cli(registry, cfg, "check", ref, str(a)).returncode == 0
    assert cli(registry, cfg, "fingerprint", str(a), "-o", str(tmp_path / "fp.json")).returncode == 0
    assert tags(registry, repo) == before == [tag]

    p = cli(registry, cfg, "fingerprint", str(a), "--push", ref)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert f"found through tag {fallback_tag(digest)}" in p.stderr

    # what is in the registry: the tag-schema index and an artifact whose subject is the cache
    with registry.admin_client() as c:
        r = c.get(
            f"/v2/{repo}/manifests/{fallback_tag(digest)}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
        r.raise_for_status()
        (entry,) = r.json()["manifests"]
        assert entry["artifactType"] == ARTIFACT_TYPE
        m = c.get(
            f"/v2/{repo}/manifests/{entry['digest']}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
        assert m["artifactType"] == ARTIFACT_TYPE and m["subject"]["digest"] == digest
        layer = c.get(f"/v2/{repo}/blobs/{m['layers'][0]['digest']}", follow_redirects=True).json()
        assert layer["schema"] == "cacheinspect.context-fingerprint/v1"

    # host B: several files and fields differ; the check finds A's fingerprint and names each one
    b = context_copy(tmp_path / "b")
    (b / "app.conf").chmod(0o4755)
    os.setxattr(b / "app.conf", "user.origin", b"host-b")
    (b / "data" / "b.txt").unlink()
    (b / "data" / "c.txt").write_text("c\n")
    (b / "VERSION").write_bytes((a / "VERSION").read_bytes().replace(b"\n", b"\r\n"))
    p = cli(registry, cfg, "check", ref, str(b), "--format", "json", "--exit-code")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert "referrer" in doc["fingerprint"]
    named = {
        (e["path"], e["field"]): (e["here"], e["in_cache"]) for s in doc["steps"] for e in s["explanations"]
    }
    assert named[("/app.conf", "mode")] == ("4755", "0644")
    assert named[("/app.conf", "xattr user.origin")][1] == "absent"
    assert named[("/data/b.txt", "exists")] == ("no", "yes")
    assert named[("/data/c.txt", "exists")] == ("yes", "no")
    assert ("/VERSION", "content") in named and ("/VERSION", "size") in named

    # a second push adds to the index (read-modify-write), it does not replace it
    (a / "VERSION").write_text("2.0.0\n")
    assert cli(registry, cfg, "fingerprint", str(a), "--push", ref).returncode == 0
    with registry.admin_client() as c:
        r = c.get(
            f"/v2/{repo}/manifests/{fallback_tag(digest)}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
        assert len(r.json()["manifests"]) == 2
