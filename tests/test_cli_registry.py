"""inspect / diff / audit end to end over real registries, in every auth flavour.

The same fixture read from a registry and from its layout on disk must give the same report (only the
ref and kind differ); credentials come the ways users give them (docker config, --password-stdin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.layout import PushFixture
from tests.support.registry import RunningRegistry

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def docker_config(tmp: Path, reg: RunningRegistry, *, password: str | None = None) -> Path:
    return reg.docker_config(tmp / "docker-config", password=password)


def run(
    args: list[str], reg: RunningRegistry, cfg: Path, *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return reg.run_cli(args, cfg, stdin=stdin)


def layout_report(name: str, *extra: str) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", str(FIX / name), "-f", "json", *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(p.stdout)


def comparable(rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "shape": rep["shape"],
        "summary": rep["summary"],
        "layers": rep["layers"],
        "identities": sorted(r["identity"] for r in rep["records"]),
        "findings": sorted(f["code"] for f in rep["findings"]),
        "config": rep["config"],
    }


@pytest.mark.parametrize(
    "name",
    [
        "threestage-max",
        "variant-image-manifest",
        "variant-docker-mediatypes",
        "threestage-inline",
        "multiplatform-max",
    ],
)
def test_registry_and_layout_agree(
    registry: RunningRegistry, push_fixture: PushFixture, tmp_path: Path, name: str
) -> None:
    repo, tag, _ = push_fixture(name, registry)
    cfg = docker_config(tmp_path, registry)
    p = run(["inspect", f"{registry.host}/{repo}:{tag}", "-f", "json"], registry, cfg)
    assert p.returncode == 0, p.stderr
    online = json.loads(p.stdout)
    offline = layout_report(name)
    assert online["kind"] == ("inline" if offline["kind"] == "inline" else "registry")
    assert comparable(online) == comparable(offline)


def test_damaged_cache_in_registry(
    registry: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    gone = json.loads((FIX / "damaged-max" / "case.json").read_text())["delete_blob"]
    repo, tag, _ = push_fixture("damaged-max", registry)
    ref = f"{registry.host}/{repo}:{tag}"
    cfg = docker_config(tmp_path, registry)
    p = run(["audit", ref, "-f", "json", "-q"], registry, cfg)
    assert p.returncode == 1, p.stderr
    findings = json.loads(p.stdout)["results"][0]["findings"]
    assert [f["subject"] for f in findings if f["code"] == "blob-missing"] == [gone]
    p = run(["inspect", ref, "--check-blobs", "-f", "json", "-q"], registry, cfg)
    assert p.returncode == 0
    assert [f["subject"] for f in json.loads(p.stdout)["findings"] if f["code"] == "blob-missing"] == [gone]
    # and an undamaged copy passes the same gate
    repo2, tag2, _ = push_fixture("damaged-max", registry, damage=False)
    assert run(["audit", f"{registry.host}/{repo2}:{tag2}", "-q"], registry, cfg).returncode == 0


def test_diff_mixes_registry_and_layout(
    registry_token: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    repo, tag, _ = push_fixture("crosshost-b-mode", registry_token)
    cfg = docker_config(tmp_path, registry_token)
    p = run(
        ["diff", str(FIX / "crosshost-a"), f"{registry_token.host}/{repo}:{tag}", "-f", "json"],
        registry_token,
        cfg,
    )
    assert p.returncode == 0, p.stderr
    (div,) = json.loads(p.stdout)["divergences"]
    assert div["cause"] == "context-changed"


def test_image_labels_from_a_registry_image(
    registry_basic: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    cache_repo, cache_tag, _ = push_fixture("threestage-max", registry_basic)
    img_repo, img_tag, _ = push_fixture("threestage-inline", registry_basic)
    cfg = docker_config(tmp_path, registry_basic)
    p = run(
        [
            "inspect",
            f"{registry_basic.host}/{cache_repo}:{cache_tag}",
            "--image",
            f"{registry_basic.host}/{img_repo}:{img_tag}",
            "-f",
            "json",
        ],
        registry_basic,
        cfg,
    )
    assert p.returncode == 0, p.stderr
    online = json.loads(p.stdout)
    offline = layout_report("threestage-max", "--image", str(FIX / "threestage-inline"))
    assert [r["step"] for r in online["records"]] == [r["step"] for r in offline["records"]]
    assert any(r["step"] for r in online["records"])


@pytest.mark.parametrize("flavour", ["basic", "token"])
def test_wrong_password_is_exit_3(
    flavour: str, request: pytest.FixtureRequest, push_fixture: PushFixture, tmp_path: Path
) -> None:
    reg: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    repo, tag, _ = push_fixture("variant-gzip", reg)
    cfg = docker_config(tmp_path, reg, password="not-the-password")
    p = run(["inspect", f"{reg.host}/{repo}:{tag}"], reg, cfg)
    assert p.returncode == 3, p.stderr
    assert p.stderr.startswith("error:")
    assert "not-the-password" not in p.stderr + p.stdout


def test_password_stdin(registry_token: RunningRegistry, push_fixture: PushFixture, tmp_path: Path) -> None:
    repo, tag, _ = push_fixture("variant-gzip", registry_token)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    ref = f"{registry_token.host}/{repo}:{tag}"
    assert run(["inspect", ref], registry_token, empty).returncode == 3
    assert registry_token.username
    assert registry_token.password
    p = run(
        ["inspect", ref, "-u", registry_token.username, "--password-stdin", "-f", "json"],
        registry_token,
        empty,
        stdin=registry_token.password + "\n",
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["kind"] == "registry"


def test_missing_tag_and_repo_are_exit_4(
    registry_plain: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    repo, _, _ = push_fixture("variant-gzip", registry_plain)
    cfg = docker_config(tmp_path, registry_plain)
    assert run(["inspect", f"{registry_plain.host}/{repo}:no-such-tag"], registry_plain, cfg).returncode == 4
    assert run(["inspect", f"{registry_plain.host}/no/such-repo:x"], registry_plain, cfg).returncode == 4
    p = run(["audit", f"{registry_plain.host}/{repo}:no-such-tag", "-f", "json", "-q"], registry_plain, cfg)
    assert p.returncode == 1
    # issue 8: a 404 is a first run, told apart from "not a cache" (and --allow-missing passes it)
    assert json.loads(p.stdout)["results"][0]["findings"][0]["code"] == "cache-not-found"


def test_explicit_credentials_go_only_to_the_first_refs_registry(
    registry_basic: RunningRegistry,
    registry_token: RunningRegistry,
    push_fixture: PushFixture,
    tmp_path: Path,
) -> None:
    """diff A B -u alice: alice's password for A's registry must never reach B's (review finding)."""
    a_repo, a_tag, _ = push_fixture("crosshost-a", registry_basic)
    b_repo, b_tag, _ = push_fixture("crosshost-b-mode", registry_token, repo="public/crosshost-b")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    # one CA bundle for both registries' certificates
    bundle = tmp_path / "ca.pem"
    assert registry_basic.ca_file and registry_token.ca_file
    bundle.write_bytes(registry_basic.ca_file.read_bytes() + registry_token.ca_file.read_bytes())
    before = len(registry_token.issuer.requests)
    env = {**os.environ, "DOCKER_CONFIG": str(empty)}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cacheinspect",
            "diff",
            f"{registry_basic.host}/{a_repo}:{a_tag}",
            f"{registry_token.host}/{b_repo}:{b_tag}",
            "-u",
            str(registry_basic.username),
            "--password-stdin",
            "--ca-file",
            str(bundle),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        input=f"{registry_basic.password}\n",
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    seen = registry_token.issuer.requests[before:]
    assert seen
    assert all(r.user is None for r in seen), [r.user for r in seen]
    assert json.loads(p.stdout)["divergences"][0]["cause"] == "context-changed"


def test_audit_runs_hosts_in_parallel_and_refs_of_one_host_in_turn(
    registry_plain: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    """Issue 12: refs on different hosts are audited concurrently (their requests interleave); refs on
    one host take turns, so the per-host --concurrency limit holds (one's requests end before the
    next's begin). Two latency relays in front of one registry are two hosts, each 50 ms away."""
    from tests.support.latency import LatencyRelay

    repo1, tag1, _ = push_fixture("threestage-max", registry_plain)
    repo2, tag2, _ = push_fixture("threestage-max", registry_plain)
    cfg = docker_config(tmp_path, registry_plain)
    with (
        LatencyRelay("127.0.0.1", registry_plain.port, delay=0.05) as a,
        LatencyRelay("127.0.0.1", registry_plain.port, delay=0.05) as b,
    ):
        refs = [f"{a.host}/{repo1}:{tag1}", f"{b.host}/{repo2}:{tag2}", f"{a.host}/{repo2}:{tag2}"]
        p = run(["audit", "-q", "-f", "json", *refs], registry_plain, cfg)
    assert p.returncode == 0, p.stderr
    assert [r["ref"] for r in json.loads(p.stdout)["results"]] == refs  # in the order given

    def span(seen: list[tuple[float, bytes]], repo: str) -> tuple[float, float]:
        times = [t for t, line in seen if f"/v2/{repo}/".encode() in line]
        assert times, f"no request for {repo} went through this relay"
        return min(times), max(times)

    a1, b2, a2 = span(a.seen, repo1), span(b.seen, repo2), span(a.seen, repo2)
    assert a1[0] < b2[1] and b2[0] < a1[1], "the two hosts' audits did not overlap"
    assert a1[1] < a2[0], "two refs of one host were audited at the same time"


def test_audit_verify_blobs_on_a_registry_finds_a_layer_changed_in_storage(
    registry_plain: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    repo, tag, _ = push_fixture("variant-gzip", registry_plain)
    ref = f"{registry_plain.host}/{repo}:{tag}"
    cfg = docker_config(tmp_path, registry_plain)
    assert run(["audit", "-q", "--verify-blobs", ref], registry_plain, cfg).returncode == 0
    index = json.loads((FIX / "variant-gzip" / "index.json").read_text())["manifests"][0]["digest"]
    top = json.loads((FIX / "variant-gzip" / "blobs" / "sha256" / index[7:]).read_bytes())
    layer = next(d["digest"] for d in top["manifests"] if "layer" in d["mediaType"])
    stored = (
        registry_plain.workdir / "storage/docker/registry/v2/blobs/sha256" / layer[7:9] / layer[7:] / "data"
    )
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    try:
        assert run(["audit", "-q", ref], registry_plain, cfg).returncode == 0  # HEADs cannot see it
        p = run(["audit", "-q", "-f", "json", "--verify-blobs", ref], registry_plain, cfg)
        assert p.returncode == 1, p.stderr
        found = [(f["code"], f["subject"]) for f in json.loads(p.stdout)["results"][0]["findings"]]
        assert ("blob-digest-mismatch", layer) in found
    finally:
        data[-1] ^= 0xFF  # other tests push the same fixture: put the bytes back
        stored.write_bytes(bytes(data))


def test_audit_verify_blobs_reports_a_transfer_that_keeps_breaking_off(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    """A layer whose download is cut short on every attempt is an integrity-failure of that blob (the
    other checks still report), never a pass and never a digest mismatch it did not see."""
    repo, tag, _ = push_fixture("variant-gzip", registry_plain)
    index = json.loads((FIX / "variant-gzip" / "index.json").read_text())["manifests"][0]["digest"]
    top = json.loads((FIX / "variant-gzip" / "blobs" / "sha256" / index[7:]).read_bytes())
    layer = next(d["digest"] for d in top["manifests"] if "layer" in d["mediaType"])
    rule = fault_proxy.truncate(rf"/blobs/{layer}$")
    cfg = docker_config(tmp_path, registry_plain)
    p = run(
        ["audit", "-q", "-f", "json", "--verify-blobs", f"{fault_proxy.host}/{repo}:{tag}"],
        registry_plain,
        cfg,
    )
    assert p.returncode == 1, p.stderr
    findings = json.loads(p.stdout)["results"][0]["findings"]
    bad = [f for f in findings if f["subject"] == layer]
    assert [f["code"] for f in bad] == ["integrity-failure"], findings
    assert "could not be verified" in bad[0]["message"] and "cut short" in bad[0]["message"]
    assert rule.hits == 5  # the first try and --retries' 4 more
