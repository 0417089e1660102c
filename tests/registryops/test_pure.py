"""The pure cores: --cache-to advice per BuildKit version (from registry.go at each tag) and prune plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cacheinspect.errors import UsageError
from cacheinspect.registryops.advice import advise, parse_buildkit_version
from cacheinspect.registryops.inventory import PruneSelection, TagInfo, parse_age, plan_prune, usage

ALL = {"image-manifest": True, "oci-index": True, "docker-manifest-list": True, "inline": True, "zstd": True}
NO_INDEX = {**ALL, "oci-index": False, "docker-manifest-list": False}
ONLY_LIST = {**ALL, "image-manifest": False, "oci-index": False, "zstd": False}


@pytest.mark.parametrize(
    ("version", "accepted", "expected"),
    [
        # v0.11 has no image-manifest attribute: an index is all it writes
        ("v0.11.6", ALL, "type=registry,ref=R,mode=max"),
        ("v0.11.6", NO_INDEX, "type=inline"),
        # v0.12-v0.20: image-manifest exists, default false: spell it out
        ("v0.13", ALL, "type=registry,ref=R,mode=max,image-manifest=true,oci-mediatypes=true"),
        (
            "0.20.2",
            {**ALL, "image-manifest": False},
            "type=registry,ref=R,mode=max,image-manifest=false,oci-mediatypes=true",
        ),
        # v0.21: oci-mediatypes=false needs image-manifest=false (moby/buildkit#5965)
        ("v0.21.0", ONLY_LIST, "type=registry,ref=R,mode=max,oci-mediatypes=false,image-manifest=false"),
        ("v0.25.2", ALL, "type=registry,ref=R,mode=max,image-manifest=true,oci-mediatypes=true"),
    ],
)
def test_advice(version: str, accepted: dict[str, bool], expected: str) -> None:
    assert advise(accepted, parse_buildkit_version(version), "R").cache_to == expected


def test_advice_reasons() -> None:
    a = advise(ONLY_LIST, parse_buildkit_version("v0.21.1"), "R")
    assert any("5965" in r for r in a.reasons)
    assert advise({k: False for k in ALL}, parse_buildkit_version("v0.25"), "R").cache_to is None
    z = advise({**ALL, "zstd": False}, parse_buildkit_version("v0.25"), "R")
    assert any("do not add compression=zstd" in r for r in z.reasons)


@pytest.mark.parametrize("bad", ["", "latest", "v1", "0.x", "v0.13; rm -rf /", "9" * 50])
def test_bad_versions(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_buildkit_version(bad)


def test_parse_age() -> None:
    assert parse_age("7d") == 7 * 86400
    assert parse_age("1d12h") == 36 * 3600
    for bad in ("", "7", "d", "7y", "-1d", "1.5h", "9" * 5000 + "d", "9" * 30 + "w"):
        with pytest.raises(UsageError):
            parse_age(bad)


def test_older_than_reads_durations_like_audit_max_age() -> None:
    """Same flag value, same meaning: `prune --older-than` takes what `audit --max-age` takes."""
    from cacheinspect.cache.audit import parse_duration

    for text in ("7D", " 12h ", "2W", "90m", "1d12h"):
        assert parse_age(text) == parse_duration(text).total_seconds()


def test_bad_version_error_names_the_flag() -> None:
    with pytest.raises(UsageError) as e:
        parse_buildkit_version("latest")
    assert e.value.message.startswith("--buildkit-version ")


NOW = datetime(2026, 1, 31, tzinfo=UTC)


def _tag(
    tag: str,
    days_old: float | None,
    blobs: dict[str, int],
    digest: str | None = None,
    shape: str = "oci-index",
) -> TagInfo:
    t = TagInfo(tag, digest or f"sha256:{tag}", "", shape, dict(blobs), set(blobs))
    t.newest = None if days_old is None else NOW - timedelta(days=days_old)
    return t


def test_plan_keep_older_than_pattern_and_shared_bytes() -> None:
    tags = [
        _tag("cache-main", 0, {"a": 10, "b": 20}),
        _tag("cache-pr-1", 3, {"a": 10, "c": 5}),
        _tag("cache-pr-2", 10, {"d": 7, "c": 5}),
        _tag("cache-pr-3", 20, {"e": 1}),
        _tag("app", 30, {"b": 20, "f": 100}, shape="image"),
    ]
    # keep the 2 newest of cache-pr-*: pr-1, pr-2 stay; pr-3 goes; e (1 byte) is its alone
    plan = plan_prune(tags, PruneSelection(keep=2, tag_pattern="cache-pr-*"), NOW)
    assert [e.tag for e in plan.deletes] == ["cache-pr-3"]
    assert (plan.reclaimed_bytes, plan.reclaimed_blobs) == (1, 1)
    # older than 7 days, every cache: pr-2 and pr-3 go; d is pr-2's alone, c is shared with pr-1 (kept)
    plan = plan_prune(tags, PruneSelection(older_than=7 * 86400), NOW)
    assert [e.tag for e in plan.deletes] == ["cache-pr-2", "cache-pr-3"]
    assert plan.reclaimed_bytes == 7 + 1
    # both rules: only what both let go
    plan = plan_prune(tags, PruneSelection(keep=3, older_than=7 * 86400), NOW)
    assert [e.tag for e in plan.deletes] == ["cache-pr-3"]
    # the image is never a candidate, and protects its blobs
    plan = plan_prune(tags, PruneSelection(keep=0), NOW)
    assert "app" not in [e.tag for e in plan.deletes] and plan.reclaimed_bytes == 10 + 5 + 7 + 1
    u = usage(tags)
    assert (u["cache-main"].unique_bytes, u["cache-main"].shared_bytes) == (0, 30)
    assert u["app"].unique_bytes == 100


def test_plan_never_deletes_a_manifest_a_kept_tag_points_at() -> None:
    tags = [
        _tag("cache-a", 1, {"x": 5}, digest="sha256:same"),
        _tag("keep-me", 0, {"x": 5}, digest="sha256:same", shape="image"),
    ]
    plan = plan_prune(tags, PruneSelection(keep=0), NOW)
    assert plan.deletes == [] and plan.reclaimed_bytes == 0
    assert "keep-me" in next(e for e in plan.entries if e.tag == "cache-a").reason


def test_selection_needs_a_rule() -> None:
    with pytest.raises(UsageError):
        PruneSelection()
