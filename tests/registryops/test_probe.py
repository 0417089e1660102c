"""`registry probe` against real registries (CNCF distribution 2.8 in every flavour, deletes disabled,
go-containerregistry's crane 0.20.7) and against emulated registry rules (a rule proxy: see emulations.py).

Expected verdicts come from the registries themselves (what they store and list afterwards) and from the
issues the emulations cite, never from the probe's own output.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import parse_reference
from cacheinspect.registryops.remote import probe_registry
from cacheinspect.registryops.shapes import SHAPES, build_probe_caches, zstd_raw_frame
from tests.registryops.conftest import CraneRegistry
from tests.registryops.emulations import EMULATIONS
from tests.registryops.helpers import cli, cli_json, tags_of
from tests.support.faultproxy import FaultProxy, Rule
from tests.support.layout import FIXTURES_DIR, push_named_fixture
from tests.support.registry import RunningRegistry

REGISTRY_SHAPES = ("image-manifest", "oci-index", "docker-manifest-list")


def _login(reg: RunningRegistry, tmp_path: Path) -> Path:
    return reg.docker_config(tmp_path / "docker-config")


def _ca(reg: RunningRegistry) -> list[str]:
    return ["--ca-file", str(reg.ca_file)] if reg.ca_file else []


def test_probe_every_distribution_flavour_accepts_every_shape_and_leaves_nothing(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"probe/{registry.flavour}"
    doc = cli_json(
        ["registry", "probe", f"{registry.host}/{repo}", *_ca(registry)],
        docker_config=_login(registry, tmp_path),
    )
    assert [s["shape"] for s in doc["shapes"]] == list(SHAPES)
    assert all(s["accepted"] for s in doc["shapes"]), doc["shapes"]
    # distribution 2.8 has no referrers API (404): the OCI 1.1 tag schema is what works there
    assert doc["referrers"] == "tag-fallback"
    assert doc["deletes_allowed"] is True
    assert doc["left_behind"] == []
    assert all(s["removed"] for s in doc["shapes"])
    with registry.admin_client() as c:
        assert tags_of(c, repo) == []
    assert doc["advice"]["cache_to"].endswith("image-manifest=true,oci-mediatypes=true")


def test_probe_refuses_to_write_where_deletes_are_disabled(registry_nodelete: RunningRegistry) -> None:
    repo = "probe/nodelete"
    p = cli(["registry", "probe", f"{registry_nodelete.host}/{repo}"])
    assert p.returncode == 5
    err = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "refuses manifest deletes" in err[0] and "UNSUPPORTED" in err[0]
    with registry_nodelete.client() as c:
        assert c.get(f"/v2/{repo}/tags/list").status_code == 404  # nothing was written: no repository


def test_probe_leave_scratch_reports_the_tags_the_registry_kept(registry_nodelete: RunningRegistry) -> None:
    repo = "probe/leave"
    doc = cli_json(["registry", "probe", f"{registry_nodelete.host}/{repo}", "--leave-scratch"])
    assert doc["deletes_allowed"] is False
    assert doc["deletes_answer"]["status"] == 405
    assert doc["deletes_answer"]["errors"][0]["code"] == "UNSUPPORTED"
    with registry_nodelete.client() as c:
        listed = tags_of(c, repo)
    assert sorted(doc["left_behind"]) == listed
    assert {s["tag"] for s in doc["shapes"]} <= set(listed)


def test_probe_crane_registry(crane_registry: CraneRegistry) -> None:
    repo = "probe/crane"
    doc = cli_json(["registry", "probe", f"{crane_registry.host}/{repo}"])
    assert all(s["accepted"] for s in doc["shapes"]), doc["shapes"]
    assert doc["referrers"] == "tag-fallback"  # crane 0.20.7 serves no referrers API
    assert doc["deletes_allowed"] is True
    assert doc["left_behind"] == []
    with httpx.Client(base_url=crane_registry.url) as c:
        assert tags_of(c, repo) == []


@pytest.mark.parametrize("name", sorted(EMULATIONS))
def test_probe_emulated_registry_rules(name: str, rule_proxy: FaultProxy) -> None:
    """Emulated ECR / Harbor / Quay (see emulations.py for the cited issues): the index shapes are refused
    with the documented answer, the image-manifest shape is taken, and the advice is image-manifest."""
    EMULATIONS[name](rule_proxy)
    repo = f"probe/emulated-{name}"
    doc = cli_json(["registry", "probe", f"{rule_proxy.host}/{repo}", "--buildkit-version", "v0.13"])
    by = {s["shape"]: s for s in doc["shapes"]}
    for shape in ("oci-index", "docker-manifest-list"):
        s = by[shape]
        assert not s["accepted"] and s["failed_at"] == "manifest PUT"
        sent = [r for r in rule_proxy.requests if r.method == "PUT" and r.path.endswith(s["tag"])]
        assert len(sent) == 1 and sent[0].rule == "respond"
        ans = s["answer"]
        if name == "ecr":
            assert ans["status"] == 400
            assert ans["errors"][0]["code"] == "UNSUPPORTED"
            assert ans["errors"][0]["message"].startswith("Unsupported manifest type:")
            assert sent[0].headers["content-type"] in ans["errors"][0]["message"]
        elif name == "harbor":
            assert ans["status"] == 404
        else:
            assert ans["status"] == 400 and ans["errors"][0]["code"] == "MANIFEST_INVALID"
            assert "'platform' is a required property" in ans["errors"][0]["detail"]
    for shape in ("image-manifest", "inline", "zstd"):
        assert by[shape]["accepted"], by[shape]
    assert doc["advice"]["shape"] == "image-manifest"
    assert doc["advice"]["cache_to"].endswith(",mode=max,image-manifest=true,oci-mediatypes=true")
    assert doc["left_behind"] == []
    # BuildKit before v0.12 can only write the index shapes: on these registries only inline cache works
    old = cli_json(["registry", "probe", f"{rule_proxy.host}/{repo}", "--buildkit-version", "v0.11.6"])
    assert old["advice"]["cache_to"] == "type=inline"


def test_probe_table_shows_the_registry_answer_escaped(rule_proxy: FaultProxy) -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": "no\x1b]0;pwned\x07 index\nerror: forged"}]})

    rule_proxy.add(
        Rule("respond", r"/manifests/cacheinspect-probe-.*-oci-index$", "PUT", status=400, body=body.encode())
    )
    p = cli(["registry", "probe", f"{rule_proxy.host}/probe/escape"])
    assert p.returncode == 0
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "DENIED: no\\x1b]0;pwned\\x07 index\\nerror: forged" in p.stdout
    assert not any(line.startswith("error:") for line in p.stdout.splitlines())


def test_a_probe_that_fails_half_way_leaves_no_scratch_tag(registry_plain: RunningRegistry) -> None:
    """The probe is aborted (an exception after three shapes were pushed): every scratch manifest it
    wrote is deleted on the way out."""
    repo = "probe/aborted"
    ref = parse_reference(f"{registry_plain.host}/{repo}")
    seen: list[str] = []

    def log(msg: str) -> None:
        seen.append(msg)
        if len(seen) == 4:
            raise RuntimeError("interrupted")

    async def go() -> None:
        async with RegistryClient(RegistryOptions()) as client:
            await probe_registry(client, ref, log=log, nonce="feedc0ffee01")

    with pytest.raises(RuntimeError):
        asyncio.run(go())
    assert len(seen) == 4
    with registry_plain.client() as c:
        assert c.get(f"/v2/{repo}/tags/list").json().get("tags") in (None, [])
        # the manifests themselves are gone too, not only the tags: the first three were pushed
        accept = {"Accept": ",".join(c_.media_type for c_ in build_probe_caches("x"))}
        for cache in build_probe_caches("feedc0ffee01")[:3]:
            assert c.get(f"/v2/{repo}/manifests/{cache.digest}", headers=accept).status_code == 404


def test_a_manifest_put_without_answer_is_that_shape_failing(rule_proxy: FaultProxy) -> None:
    rule_proxy.add(Rule("hang", r"/manifests/cacheinspect-probe-.*-inline$", "PUT"))
    doc = cli_json(["registry", "probe", f"{rule_proxy.host}/probe/hang", "--timeout", "0.5"])
    inline = next(s for s in doc["shapes"] if s["shape"] == "inline")
    assert not inline["accepted"] and inline["failed_at"] == "manifest PUT"
    assert inline["answer"]["status"] is None
    assert doc["left_behind"] == []


def test_zstd_probe_layer_is_a_real_zstd_frame(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1100  # > one 128 KiB raw block
    f = tmp_path / "x.zst"
    f.write_bytes(zstd_raw_frame(data))
    out = subprocess.run(["zstd", "-d", "-c", str(f)], capture_output=True, check=True).stdout
    assert out == data


def test_probe_caches_are_caches_the_decoder_reads() -> None:
    """Every pushed shape decodes as the cache it stands for (the same loader `inspect` uses)."""
    import base64

    from cacheinspect.cache.config import decode_config, decode_inline

    caches = {c.shape: c for c in build_probe_caches("abc123")}
    assert set(caches) == set(SHAPES)
    digests = {c.digest for c in caches.values()}
    assert len(digests) == len(SHAPES)
    assert build_probe_caches("abc124")[0].digest != caches["image-manifest"].digest
    for shape in ("image-manifest", "oci-index", "docker-manifest-list", "zstd"):
        cfg = next(b for b in caches[shape].blobs if b.digest == caches[shape].config_digest)
        assert len(decode_config(cfg.data).records or []) == 1
    icfg = json.loads(
        next(b for b in caches["inline"].blobs if b.digest == caches["inline"].config_digest).data
    )
    assert len(decode_inline(icfg["moby.buildkit.cache.v0"])) == 1
    assert base64.b64decode(icfg["moby.buildkit.cache.v0"])


def test_read_only_probe_of_a_sound_and_a_damaged_cache(registry_plain: RunningRegistry) -> None:
    """damaged-max is a real BuildKit export whose case.json names a blob deleted after the push."""
    good = push_named_fixture(registry_plain, "threestage-max")
    bad = push_named_fixture(registry_plain, "damaged-max")
    doc = cli_json(["registry", "probe", "--read-only", f"{registry_plain.host}/{good.repo}:{good.tag}"])
    assert doc["ok"] and doc["shape"] == "oci-index" and doc["problems"] == []
    assert doc["advice"]["shape"] == "oci-index"
    assert doc["referrers"] == "no-api"
    with registry_plain.client() as c:
        assert tags_of(c, good.repo) == [good.tag]  # nothing written
    missing = json.loads((FIXTURES_DIR / "damaged-max" / "case.json").read_text())["delete_blob"]
    missing = [missing] if isinstance(missing, str) else missing
    p = cli(["registry", "probe", "--read-only", f"{registry_plain.host}/{bad.repo}:{bad.tag}", "-f", "json"])
    assert p.returncode == 1
    problems = json.loads(p.stdout)["problems"]
    assert len(problems) == len(missing) and all("404" in x for x in problems)


def test_probe_with_pull_only_credentials_writes_nothing(
    registry_token: RunningRegistry, tmp_path: Path
) -> None:
    """bob may only pull allowed/*: the token service grants no delete (nor push), so nothing is written."""
    cfg = tmp_path / "bob"
    cfg.mkdir()
    import base64

    secret = base64.b64encode(f"bob:{registry_token.users['bob']}".encode()).decode()
    (cfg / "config.json").write_text(json.dumps({"auths": {registry_token.host: {"auth": secret}}}))
    repo = "allowed/bob-probe"
    p = cli(["registry", "probe", f"{registry_token.host}/{repo}", *_ca(registry_token)], docker_config=cfg)
    assert p.returncode == 5, p.stderr
    err = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "does not let these credentials delete manifests" in err[0]
    with registry_token.admin_client() as c:
        assert tags_of(c, repo) == []


def test_ctrl_c_during_a_probe_still_removes_the_scratch_tags(rule_proxy: FaultProxy) -> None:
    """SIGINT while the probe waits on a manifest PUT that never answers: the process exits 130 after
    deleting every scratch manifest it had written."""
    import os
    import signal
    import sys
    import time

    repo = "probe/sigint"
    hang = rule_proxy.add(Rule("hang", r"/manifests/cacheinspect-probe-.*-inline$", "PUT"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cacheinspect", "registry", "probe", f"{rule_proxy.host}/{repo}", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        while hang.hits == 0:  # wait until the probe is stuck mid-way (three shapes already pushed)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    puts = [
        r for r in rule_proxy.requests if r.method == "PUT" and "/manifests/cacheinspect-probe-" in r.path
    ]
    deletes = [r for r in rule_proxy.requests if r.method == "DELETE"]
    # the deletes check, then one DELETE per stored shape on the way out
    assert len(puts) == 4 and len(deletes) >= 4
    with httpx.Client(base_url=rule_proxy.url) as c:
        assert tags_of(c, repo) == []


def test_leave_scratch_lists_only_tags_the_registry_really_kept(registry_nodelete: RunningRegistry) -> None:
    """Deletes refused and the OCI index refused: the index tag was never stored, so it is not among
    the scratch tags said to be left behind (the list is what the registry lists)."""
    from tests.support.faultproxy import start_fault_proxy

    repo = "probe/leave-refused"
    with start_fault_proxy(registry_nodelete) as proxy:
        proxy.add(Rule("respond", r"/manifests/cacheinspect-probe-.*-oci-index$", "PUT", status=400))
        doc = cli_json(["registry", "probe", f"{proxy.host}/{repo}", "--leave-scratch"])
    by = {s["shape"]: s for s in doc["shapes"]}
    assert by["oci-index"]["accepted"] is False
    with registry_nodelete.client() as c:
        listed = tags_of(c, repo)
    assert by["oci-index"]["tag"] not in listed
    assert sorted(doc["left_behind"]) == listed
