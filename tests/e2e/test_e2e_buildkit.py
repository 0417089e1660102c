"""End-to-end: real BuildKit (dockerd 26.1's builder) exporting caches to the loopback registry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CACHECONFIG, ROOT, Testbed, cache_parts, copy_case, exported_media_type, parse_steps

pytestmark = pytest.mark.e2e


def layer_blobs(bed: Testbed, repo: str, tag: str, log: str) -> tuple[set[str], dict[str, object]]:
    """Distinct layer blob digests listed by a registry cache, and its cache config; the cache is in the
    shape the build's log says BuildKit wrote (index on v0.13, image manifest from v0.21)."""
    media_type, _, doc = bed.get_manifest(repo, tag)
    assert media_type == exported_media_type(log), media_type
    config_desc, layers = cache_parts(doc)
    config = json.loads(bed.get_blob(repo, config_desc["digest"]))
    return {d["digest"] for d in layers}, config


def test_threestage_max_exports_more_layer_blobs_than_min(testbed: Testbed, tmp_path: Path) -> None:
    # one repository per --cache-to: BuildKit exports them concurrently, and concurrent uploads of one
    # blob into one repository race in distribution 2.8 (500 on HEAD, then the manifest PUT fails)
    repo_max, repo_min = testbed.unique_repo("threestage-max"), testbed.unique_repo("threestage-min")
    context = copy_case("threestage", tmp_path)
    testbed.prune()
    log = testbed.build(
        context,
        "--cache-to",
        f"type=registry,ref={testbed.ref(repo_max, 'cache')},mode=max",
        "--cache-to",
        f"type=registry,ref={testbed.ref(repo_min, 'cache')},mode=min",
    )
    max_blobs, max_config = layer_blobs(testbed, repo_max, "cache", log)
    min_blobs, min_config = layer_blobs(testbed, repo_min, "cache", log)
    # every chain node of each config points at a blob its index lists
    for blobs, config in ((max_blobs, max_config), (min_blobs, min_config)):
        assert {layer["blob"] for layer in config["layers"]} <= blobs  # type: ignore[index]
    assert len(max_blobs) > len(min_blobs), (sorted(max_blobs), sorted(min_blobs))
    # one build: the final image's stack (all that min keeps) is part of the max export too
    assert min_blobs <= max_blobs


def test_threestage_edit_rebuild_hits_until_the_edited_copy(testbed: Testbed, tmp_path: Path) -> None:
    repo = testbed.unique_repo("threestage-edit")
    context = copy_case("threestage", tmp_path)
    testbed.prune()
    testbed.build(context, "--cache-to", f"type=registry,ref={testbed.ref(repo, 'max')},mode=max")
    with (context / "assets" / "js" / "file1.js").open("a") as fh:
        fh.write('console.log("edited");\n')
    testbed.prune()
    log = testbed.build(context, "--cache-from", f"type=registry,ref={testbed.ref(repo, 'max')}")
    steps = {s["vertex"]: s["status"] for s in parse_steps(log)}
    why = f"{steps}\n--- build log ---\n{log}"
    assert steps["[deps 1/2] COPY package.json package-lock.json /app/"] == "CACHED", why
    assert steps["[assets 2/4] COPY assets/css /src/css"] in ("CACHED", "LOADED"), why
    assert steps["[assets 3/4] COPY assets/js /src/js"] == "RAN", why
    assert steps["[stage-2 2/4] COPY --from=assets /src/js /app/public/js"] == "RAN", why


@pytest.mark.parametrize("variant", ["mode", "xattr"])
def test_crosshost_context_metadata_misses_at_copy(testbed: Testbed, tmp_path: Path, variant: str) -> None:
    repo = testbed.unique_repo(f"crosshost-{variant}")
    host_a = copy_case("crosshost", tmp_path / "a")
    testbed.prune()
    testbed.build(host_a, "--cache-to", "type=inline", "-t", testbed.ref(repo, "a"), "--push")

    # control: host B with an identical checkout hits every step from A's inline cache
    host_b_same = copy_case("crosshost", tmp_path / "b-same")
    testbed.prune()
    control_log = testbed.build(host_b_same, "--cache-from", f"type=registry,ref={testbed.ref(repo, 'a')}")
    control = parse_steps(control_log)
    # (a hit whose layers must be pulled for the image export prints as LOADED, not CACHED)
    assert len(control) == 3, control_log
    assert all(s["status"] in ("CACHED", "LOADED") for s in control), f"{control}\n{control_log}"

    host_b = copy_case("crosshost", tmp_path / "b")
    if variant == "mode":
        (host_b / "app.conf").chmod(0o600)
    else:
        subprocess.run(["setfattr", "-n", "user.foo", "-v", "bar", str(host_b / "app.conf")], check=True)
    testbed.prune()
    log = testbed.build(host_b, "--cache-from", f"type=registry,ref={testbed.ref(repo, 'a')}")
    steps = parse_steps(log)
    assert [s["vertex"] for s in steps] == [
        "[1/3] COPY app.conf /etc/app.conf",
        "[2/3] COPY data/ /data/",
        "[3/3] COPY VERSION /VERSION",
    ]
    # the COPY of the changed file misses, and so does everything after it
    assert [s["status"] for s in steps] == ["RAN", "RAN", "RAN"], f"{steps}\n{log}"


def test_pull_layout_copies_a_live_cache_byte_for_byte(testbed: Testbed, tmp_path: Path) -> None:
    """testbed/pull_layout.py (what make-fixtures uses) turns a live cache into a complete OCI layout."""
    repo = testbed.unique_repo("variants")
    testbed.prune()
    testbed.build(
        copy_case("variants", tmp_path),
        "--cache-to",
        f"type=registry,ref={testbed.ref(repo, 'max')},mode=max,image-manifest=true",
    )
    dest = tmp_path / "layout"
    subprocess.run(
        [sys.executable, str(ROOT / "testbed" / "pull_layout.py"), testbed.ref(repo, "max"), str(dest)],
        check=True,
        capture_output=True,
    )
    index = json.loads((dest / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "latest"}
    blobs = dest / "blobs" / "sha256"
    for blob in blobs.iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    manifest = json.loads((blobs / entry["digest"].removeprefix("sha256:")).read_bytes())
    assert entry["mediaType"] == manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == CACHECONFIG
    wanted = {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}
    assert {f"sha256:{b.name}" for b in blobs.iterdir()} == wanted | {entry["digest"]}
