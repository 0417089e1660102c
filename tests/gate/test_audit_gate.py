"""Issue 8 items 3-5 and 7: audit results CI can act on, ``--image`` verified, credentials, diff, apt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from cacheinspect.errors import AuthError
from cacheinspect.registry.auth import RegistryAuth
from cacheinspect.registry.credentials import Credential
from tests.gate.build import (
    MT_CACHE,
    Layout,
    audit_json,
    chain_config,
    cli,
    codes,
    inline_image,
    layer_blobs,
    registry_cache,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def test_missing_layout_tag_is_cache_not_found_and_allow_missing_passes() -> None:
    code, doc = audit_json(f"oci-layout://{FIX / 'variant-gzip'}:no-such-tag")
    assert code == 1 and codes(doc) == ["cache-not-found"], doc
    code, doc = audit_json(f"oci-layout://{FIX / 'variant-gzip'}:no-such-tag", "--allow-missing")
    assert code == 0 and doc["results"][0]["findings"][0]["severity"] == "info", doc


def test_digest_mismatch_is_an_integrity_failure(tmp_path: Path) -> None:
    lay = registry_cache(tmp_path / "l")
    idx = json.loads((lay / "index.json").read_text())
    body = json.loads((lay / "blobs" / "sha256" / idx["manifests"][0]["digest"][7:]).read_bytes())
    cfg = next(d for d in body["manifests"] if d["mediaType"] == MT_CACHE)
    (lay / "blobs" / "sha256" / cfg["digest"][7:]).write_bytes(b'{"records":[]}')  # not its digest
    code, doc = audit_json(str(lay))
    assert code == 1 and codes(doc) == ["integrity-failure"], doc


def test_not_a_cache_stays_not_a_cache(tmp_path: Path) -> None:
    f = tmp_path / "package.json"
    f.write_text('{"name": "x"}')
    code, doc = audit_json(str(f))
    assert code == 1 and codes(doc) == ["not-a-cache"]


def test_unreachable_ref_is_a_finding_and_the_others_are_still_checked() -> None:
    p = cli("audit", str(FIX / "variant-gzip"), "127.0.0.1:9/repo:tag", "-f", "json", "-q", "--timeout", "2")
    assert p.returncode == 5, p.stderr  # the worst case: the gate could not vouch for one ref
    doc = json.loads(p.stdout)
    assert [r["ok"] for r in doc["results"]] == [True, False]
    assert codes(doc, 1) == ["unreachable"] and doc["results"][1]["exit_code"] == 5
    for fmt in ("table", "markdown", "github"):
        q = cli("audit", str(FIX / "variant-gzip"), "127.0.0.1:9/repo:tag", "-f", fmt, "-q", "--timeout", "2")
        assert q.returncode == 5 and "unreachable" in q.stdout, (fmt, q.stdout)


def test_unwritable_step_summary_is_a_warning(tmp_path: Path) -> None:
    for target in (tmp_path / "no" / "such" / "dir" / "summary.md", tmp_path):
        p = cli(
            "audit", str(FIX / "variant-gzip"), "-f", "github", "-q", env={"GITHUB_STEP_SUMMARY": str(target)}
        )
        assert p.returncode == 0, p.stderr
        assert p.stderr.startswith("warning: cannot append to GITHUB_STEP_SUMMARY")


def test_fifo_step_summary_does_not_hang(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "summary"
    os.mkfifo(fifo)
    p = cli(
        "audit",
        str(FIX / "variant-gzip"),
        "-f",
        "github",
        "-q",
        env={"GITHUB_STEP_SUMMARY": str(fifo)},
        timeout=30,
    )
    assert p.returncode == 0 and p.stderr.startswith("warning:")


def test_unrelated_image_is_a_finding_and_supplies_nothing() -> None:
    # an image built elsewhere: without the check it made --require-platform pass and set the platforms
    code, doc = audit_json(
        str(FIX / "variant-gzip"),
        "--image",
        f"oci-layout://{FIX / 'threestage-inline'}",
        "--require-platform",
        "linux/amd64",
    )
    assert code == 1
    assert "image-unrelated" in codes(doc) and "platform-unknown" in codes(doc), doc
    assert doc["results"][0]["summary"].get("platforms", []) in ([], None)


def test_related_image_is_used(tmp_path: Path) -> None:
    # the image's layers are the cache's blobs (same bytes): its platform and labels are taken
    cache = registry_cache(tmp_path / "cache")
    image = inline_image(tmp_path / "image", salt="")
    code, doc = audit_json(str(cache), "--image", str(image), "--require-platform", "linux/amd64")
    assert code == 0 and "image-unrelated" not in codes(doc), doc
    code, doc = audit_json(
        str(cache), "--image", str(inline_image(tmp_path / "other")), "--require-platform", "linux/amd64"
    )
    assert code == 1 and "image-unrelated" in codes(doc), doc


def test_layout_blob_size_checked_against_descriptor(tmp_path: Path) -> None:
    lay = Layout(tmp_path / "l")
    ls = layer_blobs(lay, 2)
    ls[0]["size"] += 5  # the descriptor lies about the layer's size
    cfg = chain_config([d["digest"] for d in ls])
    p = lay.finish({"schemaVersion": 2, "manifests": [*ls, lay.desc(cfg, MT_CACHE)]})
    code, doc = audit_json(str(p))
    assert code == 1 and "blob-size-mismatch" in codes(doc), doc


def test_verify_blobs_finds_a_corrupt_layer(tmp_path: Path) -> None:
    dst = tmp_path / "l"
    shutil.copytree(FIX / "variant-gzip", dst)
    assert audit_json(str(dst), "--verify-blobs")[0] == 0
    idx = json.loads((dst / "index.json").read_text())
    body = json.loads((dst / "blobs" / "sha256" / idx["manifests"][0]["digest"][7:]).read_bytes())
    layer = next(d for d in body["manifests"] if d["mediaType"] != MT_CACHE)
    path = dst / "blobs" / "sha256" / layer["digest"][7:]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    assert audit_json(str(dst))[0] == 0  # existence and size alone cannot see it
    code, doc = audit_json(str(dst), "--verify-blobs")
    assert code == 1 and codes(doc) == ["blob-digest-mismatch"], doc


def test_diff_of_unrelated_caches_names_no_cause() -> None:
    p = cli("diff", str(FIX / "variant-gzip"), str(FIX / "threestage-max"), "-f", "json")
    doc = json.loads(p.stdout)
    assert doc["unrelated"] is True and doc["divergences"] == []
    assert any("share no step" in h for h in doc["hints"])
    # the same build on two hosts is not unrelated
    q = json.loads(cli("diff", str(FIX / "crosshost-a"), str(FIX / "crosshost-b-xattr"), "-f", "json").stdout)
    assert q["unrelated"] is False


@pytest.mark.anyio
async def test_loopback_registry_cannot_send_credentials_to_a_remote_plain_http_realm() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "t"})
        if request.headers.get("authorization") == "Bearer t":
            return httpx.Response(200)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="http://evil.example/token",service="s"'}
        )

    async def creds(repo: str) -> Credential | None:
        return Credential(username="u", password="secret")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def send(request: httpx.Request) -> httpx.Response:
        r = await client.send(request, auth=None)
        await r.aread()
        return r

    auth = RegistryAuth(registry="127.0.0.1:5000", credentials=creds, send=send, allow_plain_http_realm=True)
    async with client:
        with pytest.raises(AuthError, match="non-HTTPS token service"):
            await client.get("http://127.0.0.1:5000/v2/repo/manifests/a", auth=auth)
    assert not [c for c in calls if c.url.host == "evil.example"]


@pytest.mark.parametrize("script", ["testbed/apt-deps.sh", "testbed/buildkit.sh"])
def test_apt_waits_for_the_dpkg_lock(script: str) -> None:
    text = (ROOT / script).read_text()
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("apt-get") and (" install " in s or " update" in s):
            assert "DPkg::Lock::Timeout=" in s, line
