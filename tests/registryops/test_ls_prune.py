"""`registry ls` and `registry prune` against a real CNCF distribution 2.8 holding real BuildKit exports
(the fixtures: OCI layouts written by BuildKit, replayed byte for byte), several sharing blobs.

Expected figures are counted from the registry's storage directory (tag links, manifest and blob files on
disk), not through its API and not from cacheinspect's output; the prune test then runs the registry's own
garbage collector and checks the bytes it freed, and that every kept cache still passes `audit`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.registryops.conftest import CraneRegistry
from tests.registryops.helpers import (
    cli,
    cli_json,
    distribution_blob,
    distribution_blob_size,
    distribution_tags,
)
from tests.support.layout import FIXTURES_DIR, push_layout, push_named_fixture
from tests.support.registry import RunningRegistry, find_registry_binary, start_registry

REPO = "team/app"
#: tag -> fixture (real BuildKit exports); threestage-max twice: two tags on one manifest.
TAGS = {
    "cache-main": "threestage-max",
    "cache-main-copy": "threestage-max",
    "cache-pr-1": "threestage-edit-max",
    "cache-pr-2": "threestage-min",
    "cache-im": "variant-image-manifest",
    "cache-docker": "variant-docker-mediatypes",
    "app-inline": "threestage-inline",
}
CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"
INDEXES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def _fill(reg: RunningRegistry) -> None:
    for tag, fixture in TAGS.items():
        push_named_fixture(reg, fixture, repo=REPO, tag=tag)


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[RunningRegistry]:
    with start_registry("plain", tmp_path / "reg") as reg:
        _fill(reg)
        yield reg


def _storage(reg: RunningRegistry) -> Path:
    return reg.workdir / "storage"


def _held(storage: Path, manifest_digest: str) -> tuple[dict[str, int], set[str]]:
    """(blob -> size on disk, layer blobs) a manifest names, read from the storage directory."""
    doc = json.loads(distribution_blob(storage, manifest_digest))
    blobs: dict[str, int] = {}
    layers: set[str] = set()
    children = doc.get("manifests") or []
    if any(c["mediaType"] == CACHE_CONFIG for c in children):
        for c in children:
            blobs[c["digest"]] = distribution_blob_size(storage, c["digest"])
            if c["mediaType"] != CACHE_CONFIG:
                layers.add(c["digest"])
        return blobs, layers
    for c in children:
        b, lay = _held(storage, c["digest"])
        blobs.update(b)
        layers |= lay
    if doc.get("config"):
        blobs[doc["config"]["digest"]] = distribution_blob_size(storage, doc["config"]["digest"])
    for lay in doc.get("layers") or []:
        blobs[lay["digest"]] = distribution_blob_size(storage, lay["digest"])
        layers.add(lay["digest"])
    return blobs, layers


def _expected_usage(storage: Path) -> dict[str, dict[str, int]]:
    tags = distribution_tags(storage, REPO)
    held = {t: _held(storage, d) for t, d in tags.items()}
    holders: dict[str, int] = {}
    for blobs, _ in held.values():
        for b in blobs:
            holders[b] = holders.get(b, 0) + 1
    out = {}
    for t, (blobs, layers) in held.items():
        unique = sum(s for b, s in blobs.items() if holders[b] == 1)
        out[t] = {
            "layer_bytes": sum(blobs[b] for b in layers),
            "unique_bytes": unique,
            "shared_bytes": sum(blobs.values()) - unique,
        }
    return out


def test_ls_byte_figures_equal_the_registry_storage(filled: RunningRegistry) -> None:
    doc = cli_json(["registry", "ls", f"{filled.host}/{REPO}"])
    expected = _expected_usage(_storage(filled))
    assert set(expected) == set(TAGS)
    got = {t["tag"]: t for t in doc["tags"]}
    assert set(got) == set(TAGS)  # every fixture is a cache (the inline one: an image with inline cache)
    for tag, exp in expected.items():
        assert {k: got[tag][k] for k in exp} == exp, tag
    # shapes as the fixtures were exported (index.json media types)
    assert got["cache-main"]["shape"] == "oci-index"
    assert got["cache-docker"]["shape"] == "docker-manifest-list"
    assert got["cache-im"]["shape"] == "image-manifest"
    assert got["app-inline"]["shape"] == "inline"
    # the two tags on one manifest hold nothing alone
    assert got["cache-main"]["unique_bytes"] == 0 == got["cache-main-copy"]["unique_bytes"]
    assert doc["tags_listed"] == len(TAGS)
    # the table carries the same figures (as sizes) and no control characters
    p = cli(["registry", "ls", f"{filled.host}/{REPO}", "-q"])
    assert p.returncode == 0 and all(t in p.stdout for t in TAGS)


def test_ls_tag_listing_on_distribution_which_ignores_n(filled: RunningRegistry) -> None:
    """distribution 2.8 answers the whole list whatever ``n`` says and sends no Link: the walk asks once
    more from the last tag, sees nothing new and stops, with every tag."""
    import asyncio

    from cacheinspect.registry.client import RegistryClient
    from cacheinspect.registry.reference import parse_reference
    from cacheinspect.registryops.remote import list_tags

    async def go() -> tuple[list[str], int]:
        async with RegistryClient() as c:
            lst = await list_tags(c, parse_reference(f"{filled.host}/{REPO}"), page_size=2)
            return lst.tags, lst.pages

    tags, pages = asyncio.run(go())
    assert sorted(tags) == sorted(TAGS)
    assert pages == 2


def _gc(reg: RunningRegistry) -> None:
    subprocess.run(
        [find_registry_binary(), "garbage-collect", str(reg.config_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _blob_bytes(storage: Path) -> dict[str, int]:
    root = storage / "docker/registry/v2/blobs/sha256"
    return {f"sha256:{p.parent.name}": p.stat().st_size for p in root.glob("*/*/data")}


def test_prune_deletes_only_the_plan_and_kept_caches_still_pass_audit(tmp_path: Path) -> None:
    workdir = tmp_path / "reg"
    with start_registry("plain", workdir) as reg:
        _fill(reg)
        storage = _storage(reg)
        before_tags = distribution_tags(storage, REPO)
        # Dry run: nothing changes. Every cache tag but the 2 newest matching cache-*; cache-main-copy
        # shares its manifest with cache-main, so neither may go unless both do.
        args = ["registry", "prune", f"{reg.host}/{REPO}", "--tag-pattern", "cache-pr-*"]
        dry = cli_json(args)
        assert dry["dry_run"] is True
        assert distribution_tags(storage, REPO) == before_tags
        planned = sorted(t["tag"] for t in dry["tags"] if t["action"] == "delete")
        assert planned == ["cache-pr-1", "cache-pr-2"]
        # what the plan says comes back: blobs of the deleted tags that no kept tag holds (from storage)
        kept_blobs: set[str] = set()
        freed_expected: dict[str, int] = {}
        for t, d in before_tags.items():
            if t not in planned:
                kept_blobs |= set(_held(storage, d)[0])
        for t in planned:
            for b, s in _held(storage, before_tags[t])[0].items():
                if b not in kept_blobs:
                    freed_expected[b] = s
        assert dry["reclaimed_bytes"] == sum(freed_expected.values())
        assert dry["reclaimed_blobs"] == len(freed_expected)

        # Same-manifest protection: deleting cache-main alone would drop cache-main-copy on distribution.
        same = cli_json(["registry", "prune", f"{reg.host}/{REPO}", "--tag-pattern", "cache-main"])
        entry = next(t for t in same["tags"] if t["tag"] == "cache-main")
        assert entry["action"] == "keep" and "cache-main-copy" in entry["reason"]

        done = cli_json([*args, "--yes"])
        assert all(t["deleted"] for t in done["tags"] if t["action"] == "delete")
        after_tags = distribution_tags(storage, REPO)
        assert sorted(set(before_tags) - set(after_tags)) == planned
        assert all(after_tags[t] == before_tags[t] for t in after_tags)
        blobs_before = _blob_bytes(storage)
    # the registry's own GC (offline, as distribution documents it) frees exactly the planned blobs
    _gc(reg)
    blobs_after = _blob_bytes(storage)
    gone = set(blobs_before) - set(blobs_after)
    planned_manifests = {before_tags[t] for t in planned}
    assert gone - planned_manifests == set(freed_expected)
    with start_registry("plain", workdir) as reg2:
        for tag in after_tags:
            p = cli(["audit", f"{reg2.host}/{REPO}:{tag}", "-q"])
            assert p.returncode == 0, (tag, p.stdout, p.stderr)


def test_prune_refuses_where_deletes_are_disabled(registry_nodelete: RunningRegistry) -> None:
    push_named_fixture(registry_nodelete, "threestage-min", repo="team/nodelete", tag="cache-old")
    p = cli(["registry", "prune", f"{registry_nodelete.host}/team/nodelete", "--keep", "0", "--yes"])
    assert p.returncode == 5
    err = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "refuses manifest deletes" in err[0] and "nothing was deleted" in err[0]
    assert distribution_tags(registry_nodelete.workdir / "storage", "team/nodelete") != {}


def test_prune_needs_a_rule(filled: RunningRegistry) -> None:
    p = cli(["registry", "prune", f"{filled.host}/{REPO}"])
    assert p.returncode == 2 and p.stderr.startswith("error: registry prune needs at least one of")


class _CraneAdmin:
    """What the fixture pusher needs of a registry, for crane (anonymous, plain HTTP)."""

    def __init__(self, crane: CraneRegistry) -> None:
        self.crane = crane

    def admin_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.crane.url, timeout=30)


def test_ls_and_prune_on_crane(crane_registry: CraneRegistry) -> None:
    """crane keeps blobs on --disk (DIR/sha256/HEX) and manifests in memory; it pages by n/last and a
    DELETE by digest leaves the tag in place (the prune then deletes the tag too)."""
    repo = "team/crane"
    admin = _CraneAdmin(crane_registry)
    for tag, fixture in TAGS.items():
        push_layout(admin, FIXTURES_DIR / fixture, repo, tag)  # type: ignore[arg-type]
    disk = {f"sha256:{p.name}": p.stat().st_size for p in (crane_registry.disk / "sha256").iterdir()}
    doc = cli_json(["registry", "ls", f"{crane_registry.host}/{repo}"])
    got = {t["tag"]: t for t in doc["tags"]}
    assert set(got) == set(TAGS)
    with admin.admin_client() as c:
        held = {}
        for tag in TAGS:
            r = c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ",".join(INDEXES + MANIFESTS)})
            held[tag] = _held_from(json.loads(r.content), c, repo, disk)
    holders: dict[str, int] = {}
    for blobs, _ in held.values():
        for b in blobs:
            holders[b] = holders.get(b, 0) + 1
    for tag, (blobs, layers) in held.items():
        unique = sum(s for b, s in blobs.items() if holders[b] == 1)
        assert got[tag]["layer_bytes"] == sum(blobs[b] for b in layers), tag
        assert got[tag]["unique_bytes"] == unique, tag
        assert got[tag]["shared_bytes"] == sum(blobs.values()) - unique, tag

    done = cli_json(
        ["registry", "prune", f"{crane_registry.host}/{repo}", "--tag-pattern", "cache-pr-*", "--yes"]
    )
    assert sorted(t["tag"] for t in done["tags"] if t["deleted"]) == ["cache-pr-1", "cache-pr-2"]
    with admin.admin_client() as c:
        left = sorted(c.get(f"/v2/{repo}/tags/list").json()["tags"])
    assert left == sorted(set(TAGS) - {"cache-pr-1", "cache-pr-2"})
    for tag in left:
        p = cli(["audit", f"{crane_registry.host}/{repo}:{tag}", "-q"])
        assert p.returncode == 0, (tag, p.stdout, p.stderr)


MANIFESTS = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def _held_from(
    doc: dict[str, Any], c: httpx.Client, repo: str, disk: dict[str, int]
) -> tuple[dict[str, int], set[str]]:
    """(blob -> size in crane's disk store, layer blobs) of a manifest; children fetched from the API."""
    blobs: dict[str, int] = {}
    layers: set[str] = set()
    children = doc.get("manifests") or []
    if any(ch["mediaType"] == CACHE_CONFIG for ch in children):
        for ch in children:
            blobs[ch["digest"]] = disk[ch["digest"]]
            if ch["mediaType"] != CACHE_CONFIG:
                layers.add(ch["digest"])
        return blobs, layers
    for ch in children:
        r = c.get(f"/v2/{repo}/manifests/{ch['digest']}", headers={"Accept": ",".join(INDEXES + MANIFESTS)})
        b, lay = _held_from(json.loads(r.content), c, repo, disk)
        blobs.update(b)
        layers |= lay
    if doc.get("config"):
        blobs[doc["config"]["digest"]] = disk[doc["config"]["digest"]]
    for lay in doc.get("layers") or []:
        blobs[lay["digest"]] = disk[lay["digest"]]
        layers.add(lay["digest"])
    return blobs, layers


def test_an_unreadable_tag_is_listed_and_stops_a_real_prune(registry_plain: RunningRegistry) -> None:
    """One tag's manifest cannot be read (the proxy answers 400 for it): ls lists it as unreadable, and
    prune --yes refuses, since the blobs it holds are unknown."""
    from tests.support.faultproxy import start_fault_proxy

    repo = "team/unreadable"
    push_named_fixture(registry_plain, "threestage-min", repo=repo, tag="cache-old")
    push_named_fixture(registry_plain, "threestage-max", repo=repo, tag="cache-bad")
    with start_fault_proxy(registry_plain) as proxy:
        proxy.respond(rf"/v2/{repo}/manifests/cache-bad$", 400, method="GET")
        doc = cli_json(["registry", "ls", f"{proxy.host}/{repo}"])
        bad = next(t for t in doc["tags"] if t["tag"] == "cache-bad")
        assert bad["shape"] == "unknown" and bad["error"]
        p = cli(["registry", "prune", f"{proxy.host}/{repo}", "--keep", "0", "--yes"])
        assert p.returncode == 2 and "could not be read" in p.stderr
    assert set(distribution_tags(registry_plain.workdir / "storage", repo)) == {"cache-old", "cache-bad"}


def test_ls_through_basic_and_token_auth(registry: RunningRegistry, tmp_path: Path) -> None:
    repo = f"team/auth-{registry.flavour}"
    push_named_fixture(registry, "variant-image-manifest", repo=repo, tag="cache")
    cfg = registry.docker_config(tmp_path / "cfg")
    extra = ["--ca-file", str(registry.ca_file)] if registry.ca_file else []
    doc = cli_json(["registry", "ls", f"{registry.host}/{repo}", *extra], docker_config=cfg)
    assert [(t["tag"], t["shape"]) for t in doc["tags"]] == [("cache", "image-manifest")]
