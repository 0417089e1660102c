"""Every fixture made by real BuildKit decodes, and inspect/diff/audit agree with what the fixture holds.

Expected numbers are derived here from the fixtures' own bytes with plain ``json`` (independently of
cacheinspect's decoder) and from the build logs recorded in each ``case.json``; nothing is hard-coded.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIX = Path(__file__).resolve().parent.parent / "fixtures"
CASES = sorted(p.name for p in FIX.iterdir() if (p / "case.json").is_file())
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"


def blob(root: Path, digest: str) -> bytes:
    alg, hexpart = digest.split(":")
    return (root / "blobs" / alg / hexpart).read_bytes()


def raw_cache(name: str) -> dict[str, Any]:
    """What the fixture holds, read with plain json: layer descriptors, records, platforms, shape."""
    root = FIX / name
    desc = json.loads((root / "index.json").read_text())["manifests"][0]
    top = json.loads(blob(root, desc["digest"]))
    entries = top.get("manifests")
    if entries and any(d["mediaType"] == MT_CACHE for d in entries):
        cfg_desc = next(d for d in entries if d["mediaType"] == MT_CACHE)
        cfg = json.loads(blob(root, cfg_desc["digest"]))
        layers = [d for d in entries if d["mediaType"] != MT_CACHE]
        return {
            "layers": layers,
            "records": cfg["records"],
            "config_layers": cfg["layers"],
            "platforms": [],
            "inline": False,
        }
    if top.get("config", {}).get("mediaType") == MT_CACHE:
        cfg = json.loads(blob(root, top["config"]["digest"]))
        return {
            "layers": top["layers"],
            "records": cfg["records"],
            "config_layers": cfg["layers"],
            "platforms": [],
            "inline": False,
        }
    manifests = (
        [top]
        if entries is None
        else [
            json.loads(blob(root, d["digest"]))
            for d in entries
            if (d.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest"
        ]
    )
    layers: list[dict[str, Any]] = []
    records: list[Any] = []
    platforms = []
    for m in manifests:
        img = json.loads(blob(root, m["config"]["digest"]))
        platforms.append(f"{img['os']}/{img['architecture']}")
        layers += m["layers"]
        records += json.loads(base64.b64decode(img["moby.buildkit.cache.v0"]))
    return {
        "layers": layers,
        "records": records,
        "config_layers": None,
        "platforms": platforms,
        "inline": True,
    }


def cli(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args], capture_output=True, text=True, timeout=120
    )
    if check is not None:
        assert p.returncode == check, p.stderr + p.stdout
    assert "Traceback" not in p.stderr
    return p


def inspect_json(name: str, *extra: str) -> dict[str, Any]:
    return json.loads(cli("inspect", str(FIX / name), "-f", "json", *extra).stdout)


def case(name: str) -> dict[str, Any]:
    return json.loads((FIX / name / "case.json").read_text())


def test_fixture_set_is_complete() -> None:
    want = {
        "threestage-max",
        "threestage-min",
        "threestage-inline",
        "threestage-edit-max",
        "threestage-edit-min",
        "crosshost-a",
        "crosshost-b-mode",
        "crosshost-b-xattr",
        "crosshost-a-busybox",
        "crosshost-b-base",
        "crosshost-b-buildarg",
        "variant-image-manifest",
        "variant-docker-mediatypes",
        "variant-zstd",
        "variant-gzip",
        "variant-local",
        "multiplatform-max",
        "v08-inline",
        "damaged-max",
    }
    assert want <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_every_fixture_decodes_to_what_it_holds(name: str) -> None:
    raw = raw_cache(name)
    rep = inspect_json(name)
    s = rep["summary"]
    assert s["records"] == len(raw["records"])
    assert s["layers"] == len({d["digest"] for d in raw["layers"]})
    assert s["layer_descriptors"] == len(raw["layers"])
    assert s["bytes"] == sum({d["digest"]: d["size"] for d in raw["layers"]}.values())
    with_results = sum(1 for r in raw["records"] if r.get("layers") or r.get("chains"))
    assert s["records_with_results"] == with_results
    assert rep["kind"] == ("inline" if raw["inline"] else "layout")
    assert sorted(s["platforms"]) == sorted(set(raw["platforms"]))
    if raw["config_layers"] is not None:
        assert s["layer_nodes"] == len(raw["config_layers"])
    assert not [f for f in rep["findings"] if f["severity"] == "error"], rep["findings"]


@pytest.mark.parametrize(
    ("name", "shape", "media"),
    [
        ("variant-image-manifest", "image-manifest", "application/vnd.oci.image.manifest.v1+json"),
        (
            "variant-docker-mediatypes",
            "docker-manifest-list",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ),
        ("variant-gzip", "oci-index", "application/vnd.oci.image.index.v1+json"),
        ("variant-local", "oci-index", "application/vnd.oci.image.index.v1+json"),
    ],
)
def test_export_shapes(name: str, shape: str, media: str) -> None:
    rep = inspect_json(name)
    assert rep["shape"] == shape
    assert rep["media_type"] == media


def test_zstd_layers_keep_their_media_type() -> None:
    raw = raw_cache("variant-zstd")
    rep = inspect_json("variant-zstd")
    assert {x["media_type"] for x in rep["layers"]} == {d["mediaType"] for d in raw["layers"]}
    assert all("zstd" in x["media_type"] for x in rep["layers"])


def test_v08_inline_cache() -> None:
    assert case("v08-inline")["buildkit_version"].startswith("v0.8")
    rep = inspect_json("v08-inline")
    assert rep["kind"] == "inline"
    assert rep["summary"]["mode"] == "inline"
    # labels come from the image history: every result-carrying record is labelled
    assert all(r["step"] for r in rep["records"] if r["results"])


def test_multiplatform_max_cache_has_a_stack_per_platform() -> None:
    raw = raw_cache("multiplatform-max")
    rep = inspect_json("multiplatform-max")
    # one stage built for two platforms: a registry cache does not say which stack is which platform,
    # and a min export of this build would hold the same stacks, so the estimate must not claim max
    assert rep["summary"]["stages"] == 1
    assert rep["summary"]["mode"] == "min-or-max"
    parents = {lay.get("parent", 0) for lay in raw["config_layers"]}
    leaves = [i for i in range(len(raw["config_layers"])) if i not in parents]
    assert len(leaves) >= len(case("multiplatform-max")["platforms"])


def test_min_and_max_mode_estimates() -> None:
    # A max export gives every step a result, and so does a mode=min export of a build that took every
    # step from an imported cache (byte-identical configs on v0.13 and v0.25: tests/e2e/test_mode_evidence.py):
    # no shape proves max. The min export's builder steps have no result and nothing explains that.
    assert inspect_json("threestage-max")["summary"]["mode"] == "min-or-max"
    assert inspect_json("threestage-min")["summary"]["mode"] == "min"
    assert inspect_json("threestage-inline")["summary"]["mode"] == "inline"


def test_image_history_labels_a_registry_cache() -> None:
    inline = raw_cache("threestage-inline")
    rep = inspect_json("threestage-max", "--image", str(FIX / "threestage-inline"))
    labelled = [r for r in rep["records"] if r["step"]]
    # The image's own layers are the final stage's; each one labels the record whose result tops it.
    assert len(labelled) == len(inline["layers"])
    assert any(r["step"].startswith("COPY") for r in labelled)


def test_threestage_stages() -> None:
    rep = inspect_json("threestage-max")
    dockerfile = case("threestage-max")["dockerfile"]
    n_stages = sum(1 for line in dockerfile.splitlines() if line.startswith("FROM "))
    steps = [ln for ln in dockerfile.splitlines() if ln.startswith(("COPY", "RUN", "ADD"))]
    assert rep["summary"]["stages"] == n_stages
    assert sum(len(s["records"]) for s in rep["stages"]) == len(steps)


# -- diff ---------------------------------------------------------------------------------------------
def diff_json(a: str, b: str) -> dict[str, Any]:
    return json.loads(cli("diff", str(FIX / a), str(FIX / b), "-f", "json").stdout)


def test_min_vs_max_reports_the_builder_stage_layers() -> None:
    mn, mx = raw_cache("threestage-min"), raw_cache("threestage-max")
    d = diff_json("threestage-min", "threestage-max")
    assert d["records"]["shared"] == len(mx["records"]) == len(mn["records"])
    want = sum(1 for r in mx["records"] if r.get("layers")) - sum(1 for r in mn["records"] if r.get("layers"))
    assert len(d["records"]["results_only_in_b"]) == want
    assert not d["records"]["results_only_in_a"]
    assert len(d["blobs"]["only_in_b"]) == len(
        {x["digest"] for x in mx["layers"]} - {x["digest"] for x in mn["layers"]}
    )
    stages = {x["stage_label"] for x in d["records"]["results_only_in_b"]}
    assert len(stages) == 2  # deps and assets: the builder stages mode=min leaves as keys
    assert any("mode=max" in h for h in d["hints"])
    # the exit code follows --exit-code only
    assert cli("diff", str(FIX / "threestage-min"), str(FIX / "threestage-max")).returncode == 0
    cli("diff", str(FIX / "threestage-min"), str(FIX / "threestage-max"), "--exit-code", check=1)


def test_recompressed_layers_are_not_missing() -> None:
    d = diff_json("variant-gzip", "variant-zstd")
    n = len({x["digest"] for x in raw_cache("variant-gzip")["layers"]})
    assert len(d["blobs"]["recompressed"]) == n
    assert d["blobs"]["only_in_a"] == d["blobs"]["only_in_b"] == []
    assert d["divergences"] == []


def _ran(name: str) -> list[str]:
    """Steps the second host's build log shows as run (FROM pulls are not cache steps)."""
    return [
        s["vertex"].split("] ", 1)[1]
        for s in case(name)["steps"]
        if s["status"] == "RAN" and "] FROM " not in s["vertex"]
    ]


@pytest.mark.parametrize(
    ("a", "b", "cause"),
    [
        ("crosshost-a", "crosshost-b-mode", "context-changed"),
        ("crosshost-a", "crosshost-b-xattr", "context-changed"),
        ("crosshost-a-busybox", "crosshost-b-base", "base-image-changed"),
        ("crosshost-a-busybox", "crosshost-b-buildarg", "definition-changed"),
    ],
)
def test_cross_host_divergence_matches_the_build_log(a: str, b: str, cause: str) -> None:
    assert case(b)["cache_from"] == a
    d = diff_json(a, b)
    (div,) = d["divergences"]
    assert div["cause"] == cause
    reported = [div["step"], *(x["step"] for x in div["downstream"])]
    ran = _ran(b)
    assert len(reported) == len(ran)
    for label, vertex in zip(reported, ran, strict=True):
        if vertex.startswith("COPY"):
            assert label == vertex
        else:  # the log shows RUN with build args expanded, history with $VAR and the args appended
            assert label.split(" ", 1)[0] == vertex.split(" ", 1)[0]


# -- audit --------------------------------------------------------------------------------------------
def test_audit_passes_a_healthy_cache_and_fails_a_damaged_layout(tmp_path: Path) -> None:
    cli("audit", str(FIX / "threestage-max"), "-q")
    gone = case("damaged-max")["delete_blob"]
    copy = tmp_path / "damaged"
    shutil.copytree(FIX / "damaged-max", copy)
    alg, hexpart = gone.split(":")
    (copy / "blobs" / alg / hexpart).unlink()
    p = cli("audit", str(copy), "-f", "json", "-q", check=1)
    doc = json.loads(p.stdout)
    (res,) = doc["results"]
    missing = [f for f in res["findings"] if f["code"] == "blob-missing"]
    assert [f["subject"] for f in missing] == [gone]


def test_audit_policies() -> None:
    cli("audit", str(FIX / "threestage-min"), "--expect-mode", "max", "-q", check=1)
    cli("audit", str(FIX / "threestage-max"), "--expect-mode", "max", "-q")
    p = cli(
        "audit",
        str(FIX / "multiplatform-max"),
        "--require-platform",
        "linux/amd64",
        "-q",
        "-f",
        "json",
        check=1,
    )
    assert "platform-unknown" in {f["code"] for f in json.loads(p.stdout)["results"][0]["findings"]}
    cli("audit", str(FIX / "threestage-inline"), "--require-platform", "linux/amd64", "-q")
    p = cli(
        "audit",
        str(FIX / "threestage-inline"),
        "--require-platform",
        "linux/s390x",
        "-q",
        "-f",
        "json",
        check=1,
    )
    assert "platform-missing" in {f["code"] for f in json.loads(p.stdout)["results"][0]["findings"]}
    n = inspect_json("threestage-max")["summary"]["layers"]
    cli("audit", str(FIX / "threestage-max"), "--min-layers", str(n), "-q")
    cli("audit", str(FIX / "threestage-max"), "--min-layers", str(n + 1), "-q", check=1)
    # fixtures were made in the past: a zero max-age is always stale, a century never is
    cli("audit", str(FIX / "threestage-max"), "--max-age", "1s", "-q", check=1)
    cli("audit", str(FIX / "threestage-max"), "--max-age", "5200w", "-q")
    cli("audit", str(FIX / "threestage-max"), "--max-age", "soon", "-q", check=2)


def test_audit_github_format_and_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cacheinspect",
            "audit",
            str(FIX / "threestage-min"),
            "--expect-mode",
            "max",
            "-q",
            "-f",
            "github",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    assert any(
        line.startswith("::error title=cacheinspect mode-mismatch::") for line in p.stdout.splitlines()
    )
    assert "mode-mismatch" in summary.read_text()


def test_audit_flags_a_config_over_the_import_cap(tmp_path: Path) -> None:
    from tests.synth import encode_go, synth_config, write_cache_layout

    cfg = synth_config(4000, seed=9)
    assert len(encode_go(cfg)) > 1 << 20
    write_cache_layout(tmp_path / "big", cfg)
    p = cli("audit", str(tmp_path / "big"), "-f", "json", "-q", "--no-check-blobs", check=1)
    codes = {f["code"] for f in json.loads(p.stdout)["results"][0]["findings"]}
    assert "config-over-import-cap" in codes


# -- graph ---------------------------------------------------------------------------------------------
def test_graph_formats() -> None:
    raw = raw_cache("threestage-max")
    g = json.loads(cli("graph", str(FIX / "threestage-max"), "-f", "json").stdout)
    assert len(g["nodes"]) == len(raw["records"])
    assert len(g["edges"]) == sum(len(inp) for r in raw["records"] for inp in r.get("inputs", []))
    dot = cli("graph", str(FIX / "threestage-max"), "-f", "dot").stdout
    assert dot.startswith("digraph cache {")
    assert dot.count(" -> ") == len(g["edges"])
    mer = cli("graph", str(FIX / "threestage-max"), "-f", "mermaid").stdout
    assert mer.startswith("flowchart TD")
    assert mer.count("-->") == len(g["edges"])


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["inspect", "UPPER/Case:tag"], 2, "error:"),
        (["inspect", "repo@sha256:abc"], 2, "digest"),
        (["inspect", "./no/such/dir"], 2, "no such"),
        (["inspect", f"oci-layout://{FIX / 'threestage-max'}:nope"], 4, "not found"),
        (["inspect", "--format", "yaml", str(FIX / "threestage-max")], 2, "yaml"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(args: list[str], code: int, needle: str) -> None:
    p = cli(*args, check=code)
    assert needle.lower() in p.stderr.lower()


def test_malformed_config_file_is_an_integrity_error(tmp_path: Path) -> None:
    bad = tmp_path / "cfg.json"
    bad.write_text('{"records": [{"digest": 5}]}')
    p = cli("inspect", str(bad), check=6)
    assert p.stderr.startswith("error:")
    assert "$.records[0].digest" in p.stderr
    man = tmp_path / "manifest.json"
    man.write_text('{"schemaVersion": 2, "manifests": []}')
    cli("inspect", str(man), check=2)
