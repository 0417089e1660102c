"""`registry prune --yes` never deletes a manifest something not planned still needs (real distribution 2.8).

Each case is one way a DELETE by digest reaches further than the tag it was planned for: two planned
tags on one manifest, a kept image index whose child *is* the planned manifest, a tag put on the
planned digest between plan and delete. What is left is read from the registry's storage directory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registryops.helpers import cli, cli_json, distribution_tags
from tests.support.layout import push_named_fixture
from tests.support.registry import RunningRegistry, start_registry

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[RunningRegistry]:
    with start_registry("plain", tmp_path / "reg") as r:
        yield r


def _storage(r: RunningRegistry) -> Path:
    return r.workdir / "storage"


def _manifest_exists(r: RunningRegistry, repo: str, digest: str) -> bool:
    with r.admin_client() as c:
        resp = c.head(
            f"/v2/{repo}/manifests/{digest}",
            headers={
                "Accept": ",".join(
                    (
                        MT_OCI_INDEX,
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                    )
                )
            },
        )
        return resp.status_code == 200


def test_two_planned_tags_on_one_manifest_are_both_reported_deleted(reg: RunningRegistry) -> None:
    """The first DELETE by digest takes both tags: the second is deleted too, not a failure (exit 0)."""
    repo = "team/twins"
    push_named_fixture(reg, "threestage-max", repo=repo, tag="cache-old-a")
    push_named_fixture(reg, "threestage-max", repo=repo, tag="cache-old-b")
    push_named_fixture(reg, "threestage-min", repo=repo, tag="cache-keep")
    p = cli(
        [
            "registry",
            "prune",
            f"{reg.host}/{repo}",
            "--tag-pattern",
            "cache-old-*",
            "--yes",
            "-f",
            "json",
            "-q",
        ]
    )
    assert p.returncode == 0, (p.stdout, p.stderr)
    doc = json.loads(p.stdout)
    rows = {t["tag"]: t for t in doc["tags"]}
    assert rows["cache-old-a"]["deleted"] is True and rows["cache-old-b"]["deleted"] is True
    assert set(distribution_tags(_storage(reg), repo)) == {"cache-keep"}


def _tag_first_child(r: RunningRegistry, repo: str, index_tag: str, tag: str) -> str:
    """Tag *tag* on the first child manifest of the image index *index_tag* (as `crane tag` would)."""
    with r.admin_client() as c:
        got = c.get(f"/v2/{repo}/manifests/{index_tag}", headers={"Accept": MT_OCI_INDEX})
        got.raise_for_status()
        child = json.loads(got.content)["manifests"][0]
        body = c.get(f"/v2/{repo}/manifests/{child['digest']}", headers={"Accept": child["mediaType"]})
        body.raise_for_status()
        put = c.put(
            f"/v2/{repo}/manifests/{tag}", content=body.content, headers={"Content-Type": child["mediaType"]}
        )
        put.raise_for_status()
        return str(child["digest"])


def test_a_manifest_a_kept_index_names_as_child_is_not_deleted(reg: RunningRegistry) -> None:
    """`app` is a real BuildKit image index (image with inline cache + attestation); `cache-amd64` tags
    its image child. Deleting that digest would break the kept `app`, so the plan keeps it."""
    repo = "team/child"
    push_named_fixture(reg, "threestage-inline", repo=repo, tag="app")
    child = _tag_first_child(reg, repo, "app", "cache-amd64")
    args = ["registry", "prune", f"{reg.host}/{repo}", "--tag-pattern", "cache-amd64", "--include-inline"]
    dry = cli_json(args)
    entry = next(t for t in dry["tags"] if t["tag"] == "cache-amd64")
    assert entry["shape"] == "inline"
    assert entry["action"] == "keep" and entry["reason"] == "a child manifest of kept tag app"
    p = cli([*args, "--yes", "-q"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert _manifest_exists(reg, repo, child)
    assert set(distribution_tags(_storage(reg), repo)) == {"app", "cache-amd64"}


def test_a_tag_put_on_the_digest_after_the_plan_stops_its_delete(reg: RunningRegistry) -> None:
    """Between plan and delete someone tags `release` on the planned manifest: the delete is skipped."""
    from cacheinspect.registry.client import RegistryClient
    from cacheinspect.registry.reference import parse_reference
    from cacheinspect.registryops.inventory import PruneSelection, plan_prune
    from cacheinspect.registryops.remote import execute_prune, list_tags, read_tags

    repo = "team/race"
    pushed = push_named_fixture(reg, "threestage-min", repo=repo, tag="cache-old")
    push_named_fixture(reg, "threestage-max", repo=repo, tag="cache-new")
    ref = parse_reference(f"{reg.host}/{repo}")

    async def plan_then_tag_then_delete() -> list[tuple[str, bool]]:
        from datetime import UTC, datetime

        async with RegistryClient() as client:
            tags = await read_tags(client, ref, (await list_tags(client, ref)).tags)
            plan = plan_prune(tags, PruneSelection(tag_pattern="cache-old"), datetime.now(UTC))
            assert [e.tag for e in plan.deletes] == ["cache-old"]
            push_named_fixture(reg, "threestage-min", repo=repo, tag="release")  # same manifest
            done = await execute_prune(client, ref, plan.deletes)
            return [(d.tag, d.deleted) for d in done]

    assert asyncio.run(plan_then_tag_then_delete()) == [("cache-old", False)]
    tags = distribution_tags(_storage(reg), repo)
    assert tags.get("release") == pushed.digest and tags.get("cache-old") == pushed.digest


def test_a_tag_whose_cache_config_is_missing_is_listed_unreadable_not_dropped(reg: RunningRegistry) -> None:
    """The config blob answers 404 but the tag is there: `ls` lists it as unreadable (it was silently
    left out, so its manifest and blobs protected nothing), and `prune --yes` refuses."""
    from tests.support.faultproxy import start_fault_proxy

    repo = "team/noconfig"
    pushed = push_named_fixture(reg, "variant-image-manifest", repo=repo, tag="cache-broken")
    push_named_fixture(reg, "threestage-min", repo=repo, tag="cache-old")
    with reg.admin_client() as c:
        manifest = c.get(
            f"/v2/{repo}/manifests/{pushed.digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
    config = manifest["config"]["digest"]
    with start_fault_proxy(reg) as proxy:
        proxy.respond(rf"/v2/{repo}/blobs/{config}$", 404, method="GET")
        doc = cli_json(["registry", "ls", f"{proxy.host}/{repo}"])
        rows = {t["tag"]: t for t in doc["tags"]}
        assert rows["cache-broken"]["shape"] == "unknown" and rows["cache-broken"]["error"]
        p = cli(["registry", "prune", f"{proxy.host}/{repo}", "--keep", "0", "--yes"])
        assert p.returncode == 2 and "could not be read" in p.stderr
    assert set(distribution_tags(_storage(reg), repo)) == {"cache-broken", "cache-old"}


def test_tag_names_the_listing_skipped_stop_a_real_prune(reg: RunningRegistry) -> None:
    """The tag list carries a name that is not a tag (skipped, never read): which manifest it points
    at is unknown, so `prune --yes` refuses like it does for unreadable tags."""
    from tests.support.faultproxy import Rule, start_fault_proxy

    repo = "team/badnames"
    push_named_fixture(reg, "threestage-min", repo=repo, tag="cache-old")
    body = json.dumps({"name": repo, "tags": ["cache-old", "bad\nname"]}).encode()
    with start_fault_proxy(reg) as proxy:
        proxy.add(Rule("respond", rf"/v2/{repo}/tags/list$", "GET", None, status=200, body=body))
        dry = cli_json(["registry", "prune", f"{proxy.host}/{repo}", "--keep", "0"])
        assert [t["tag"] for t in dry["tags"] if t["action"] == "delete"] == ["cache-old"]
        p = cli(["registry", "prune", f"{proxy.host}/{repo}", "--keep", "0", "--yes"])
        assert p.returncode == 2 and "not valid tag names" in p.stderr, (p.stdout, p.stderr)
    assert set(distribution_tags(_storage(reg), repo)) == {"cache-old"}


def test_an_image_with_inline_cache_is_an_image_prune_keeps_unless_asked(reg: RunningRegistry) -> None:
    """`--keep 0 --yes` over a repository with a release image built with `--cache-to type=inline`
    (a real BuildKit push) deletes the cache tags, not the image; `--include-inline` opts in."""
    repo = "team/release"
    push_named_fixture(reg, "threestage-inline", repo=repo, tag="v1.0")
    push_named_fixture(reg, "threestage-min", repo=repo, tag="cache-old")
    dry = cli_json(["registry", "prune", f"{reg.host}/{repo}", "--keep", "0"])
    rows = {t["tag"]: t for t in dry["tags"]}
    assert rows["v1.0"]["shape"] == "inline" and rows["v1.0"]["action"] == "keep"
    assert "--include-inline" in rows["v1.0"]["reason"]
    p = cli(["registry", "prune", f"{reg.host}/{repo}", "--keep", "0", "--yes", "-q"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert set(distribution_tags(_storage(reg), repo)) == {"v1.0"}
    p = cli(["registry", "prune", f"{reg.host}/{repo}", "--keep", "0", "--include-inline", "--yes", "-q"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert distribution_tags(_storage(reg), repo) == {}
