"""`registry ls`, `probe --read-only`, `probe` and `probe --from-log` against real BuildKit, on both engines.

Ground truth is BuildKit's own doing: the shapes are the ones it was asked to export (checked against the
raw manifests it pushed), the advice of `probe` is handed to BuildKit as its `--cache-to` and must push and
then import (the `CACHED` lines of a fresh builder), and `--from-log` reads the log of an export BuildKit
really failed. Registries: the test bed's CNCF distribution 2.8, go-containerregistry's `crane registry
serve` 0.20.7 ($TESTBED_CRANE), and the emulated ECR / Harbor rules (tests/registryops/emulations.py, a rule
proxy in front of the test bed registry; named as emulations, with their sources).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.registryops.emulations import EMULATIONS
from tests.registryops.helpers import cli, cli_json
from tests.support.faultproxy import FaultProxy, start_fault_proxy
from tests.support.registry import free_port

from .conftest import CACHECONFIG, Testbed, copy_case, parse_steps

pytestmark = pytest.mark.e2e

#: tag -> --cache-to attributes: every shape BuildKit writes (v0.12+ has image-manifest; both engines do)
EXPORTS = {
    "cache-im": "image-manifest=true,oci-mediatypes=true",
    "cache-idx": "image-manifest=false,oci-mediatypes=true",
    "cache-dl": "image-manifest=false,oci-mediatypes=false",
    "cache-zstd": "image-manifest=true,oci-mediatypes=true,compression=zstd,force-compression=true",
}
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@pytest.fixture(scope="module")
def crane(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``crane registry serve`` of the test bed (its pinned 0.20.7); yields ``127.0.0.1:PORT``."""
    binary = testbed.env.get("TESTBED_CRANE")
    if not binary:
        from tests.registryops.conftest import find_crane

        binary = find_crane()
    disk = tmp_path_factory.mktemp("crane-e2e")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "registry", "serve", "--address", f"127.0.0.1:{port}", "--disk", str(disk)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "crane registry serve did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _raw_manifest(host: str, repo: str, tag: str) -> dict[str, Any]:
    r = httpx.get(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=30)
    r.raise_for_status()
    doc: dict[str, Any] = json.loads(r.content)
    doc.setdefault("mediaType", r.headers.get("content-type", "").split(";")[0])
    return doc


def _shape_of(host: str, repo: str, tag: str) -> tuple[str, int]:
    """The shape and distinct layer bytes of a pushed tag, from its raw manifest (not via cacheinspect)."""
    doc = _raw_manifest(host, repo, tag)
    children = doc.get("manifests") or []
    if any(c["mediaType"] == CACHECONFIG for c in children):
        layers = {c["digest"]: c["size"] for c in children if c["mediaType"] != CACHECONFIG}
        shape = "docker-manifest-list" if "docker" in doc["mediaType"] else "oci-index"
        return shape, sum(layers.values())
    if doc.get("config", {}).get("mediaType") == CACHECONFIG:
        return "image-manifest", sum({x["digest"]: x["size"] for x in doc["layers"]}.values())
    if children:  # an image index: its platform images (attestations have no layers we count apart)
        layers = {}
        for c in children:
            child = _raw_manifest(host, repo, c["digest"])
            layers.update({x["digest"]: x["size"] for x in child.get("layers") or []})
        return "inline", sum(layers.values())
    return "inline", sum({x["digest"]: x["size"] for x in doc["layers"]}.values())


@pytest.mark.parametrize("where", ["distribution", "crane"])
def test_ls_and_read_only_probe_read_every_shape_buildkit_pushed(
    testbed: Testbed, where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    host = testbed.registry if where == "distribution" else request.getfixturevalue("crane")
    context = copy_case("threestage", tmp_path)
    repo = testbed.unique_repo("regops-ls")
    testbed.prune()
    for tag, attrs in EXPORTS.items():
        testbed.build(context, "--cache-to", f"type=registry,ref={host}/{repo}:{tag},mode=max,{attrs}")
    testbed.build(context, "--cache-to", "type=inline", "-t", f"{host}/{repo}:app-inline", "--push")
    expected = {t: _shape_of(host, repo, t) for t in [*EXPORTS, "app-inline"]}
    # what BuildKit was asked for is what it pushed (zstd: the image-manifest shape with zstd layers)
    assert {t: s for t, (s, _) in expected.items()} == {
        "cache-im": "image-manifest",
        "cache-idx": "oci-index",
        "cache-dl": "docker-manifest-list",
        "cache-zstd": "image-manifest",
        "app-inline": "inline",
    }
    doc = cli_json(["registry", "ls", f"{host}/{repo}"])
    got = {t["tag"]: t for t in doc["tags"]}
    assert set(got) == set(expected)
    for tag, (shape, layer_bytes) in expected.items():
        assert got[tag]["shape"] == shape, tag
        assert got[tag]["layer_bytes"] == layer_bytes, tag
        assert got[tag]["records"] and got[tag]["records"] > 0
        assert got[tag]["newest"] is not None
    for tag, (shape, _) in expected.items():
        ro = cli_json(["registry", "probe", "--read-only", f"{host}/{repo}:{tag}"])
        assert ro["ok"] is True and ro["shape"] == shape, ro
        assert ro["referrers"] == "no-api"  # neither distribution 2.8 nor crane 0.20.7 serves the API


def _buildkit_version(testbed: Testbed) -> str:
    v = testbed.buildkit_version or ("v0.13" if testbed.engine == "v0.13" else "v0.25.2")
    return v


@pytest.mark.parametrize("rules", ["none", "crane", "ecr", "harbor", "quay"])
def test_probe_advice_is_what_buildkit_then_pushes_and_imports(
    testbed: Testbed, rules: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The probe's --cache-to line, given to the real BuildKit, pushes and is imported by a fresh builder.
    Behind an emulated ECR / Harbor / Quay the index shape BuildKit writes by default (v0.13) or on
    request fails for real, and `probe --from-log` reads that failure from BuildKit's own log."""
    context = copy_case("threestage", tmp_path)
    repo = testbed.unique_repo(f"regops-advice-{rules}")
    upstream = request.getfixturevalue("crane") if rules == "crane" else testbed.registry
    with start_fault_proxy(f"http://{upstream}") as proxy:
        if rules in EMULATIONS:
            EMULATIONS[rules](proxy)
            _index_export_fails_and_the_log_says_why(testbed, proxy, context, repo, rules, tmp_path)
        probe = cli_json(
            ["registry", "probe", f"{proxy.host}/{repo}", "--buildkit-version", _buildkit_version(testbed)]
        )
        advice = probe["advice"]["cache_to"]
        assert probe["advice"]["shape"] == "image-manifest"
        assert probe["left_behind"] == []
        ref = f"{proxy.host}/{repo}:buildcache"
        cache_to = advice.replace(f"{proxy.host}/{repo}:TAG", ref)
        testbed.prune()
        testbed.build(context, "--cache-to", cache_to)
        assert _shape_of(upstream, repo, "buildcache")[0] == "image-manifest"
        testbed.prune()
        log = testbed.build(context, "--cache-from", f"type=registry,ref={ref}")
    steps = {s["vertex"]: s["status"] for s in parse_steps(log)}
    copies = {v: s for v, s in steps.items() if " COPY " in f" {v.split('] ', 1)[-1]} "}
    assert copies and all(s in ("CACHED", "LOADED") for s in copies.values()), f"{steps}\n{log[-3000:]}"


def _index_export_fails_and_the_log_says_why(
    testbed: Testbed, proxy: FaultProxy, context: Path, repo: str, rules: str, tmp_path: Path
) -> None:
    testbed.prune()
    ref = f"{proxy.host}/{repo}:idx"
    log = testbed.build(
        context, "--cache-to", f"type=registry,ref={ref},mode=max,image-manifest=false", check=False
    )
    refused = [r for r in proxy.requests if r.method == "PUT" and r.rule == "respond"]
    assert refused, log[-3000:]
    logfile = tmp_path / "build.log"
    logfile.write_text(log)
    p = cli(["registry", "probe", "--from-log", str(logfile), "-f", "json"])
    assert p.returncode == 1, (p.stdout, p.stderr)
    d = json.loads(p.stdout)
    assert d["failed"] and d["operation"] == "manifest PUT" and d["shape"] == "index"
    status = 404 if rules == "harbor" else 400
    assert d["request"]["status"] == status
    if d["request"]["url"] is not None:  # containerd of v0.25 names the request; v0.13's only the status
        assert d["request"]["url"].endswith(f"/v2/{repo}/manifests/idx") and proxy.host in d["request"]["url"]
    rule_ids = [r["id"] for r in d["rules"]]
    assert rule_ids[0] == ("harbor-index" if rules == "harbor" else "index-refused")
    assert "image-manifest=true" in d["rules"][0]["fix"]
