"""Policy readers and prune command lines, with expected values read off the upstream sources."""

from __future__ import annotations

import math

import pytest

from cacheinspect.errors import UsageError
from cacheinspect.gc.policy import (
    Disk,
    parse_buildkitd_toml,
    parse_buildx_inspect,
    parse_daemon_json,
    parse_policy_file,
    parse_prune_command,
)
from cacheinspect.gc.versions import Semantics, semantics_for

D26 = Semantics((0, 13, 0), (26, 1, 0))
D28 = Semantics((0, 22, 0), (28, 2, 0))
D296 = Semantics((0, 31, 0), (29, 6, 0))
H = 3600 * 10**9
GB = 10**9


def test_docker26_default_policy_from_disk() -> None:
    # moby v26 worker/gc_unix.go: keep = (disk/10 / GiB + 1) * 1e9; gc.go: rule 1 keeps
    # max(round(keep/100 * e*pi*phi), 512e6), filter one comma-joined string
    disk = Disk(100 * 2**30, 50 * 2**30)
    pol = parse_daemon_json({"builder": {"gc": {"enabled": True}}}, D26, disk=disk)
    keep = (100 * 2**30 // 10 // 2**30 + 1) * 10**9
    assert [r.reserved_space for r in pol.rules[1:]] == [keep] * 3
    assert pol.rules[0].reserved_space == max(
        round(keep / 100 * (math.e * math.pi * (1 + math.sqrt(5)) / 2)), 512_000_000
    )
    assert pol.rules[0].filters == ("type==source.local,type==exec.cachemount,type==source.git.checkout",)
    assert pol.rules[0].keep_duration_ns == 48 * H and pol.rules[1].keep_duration_ns == 60 * 24 * H
    assert pol.rules[3].all


def test_docker26_gc_off_unless_enabled_and_keepstorage_fallback() -> None:
    assert not parse_daemon_json({"builder": {"gc": {}}}, D26).enabled
    assert parse_daemon_json(
        {"builder": {"gc": {}}}, D28, disk=Disk(10**12, 10**11)
    ).enabled  # IsEnabled: nil means true since 28.2
    doc = {
        "builder": {
            "gc": {"enabled": True, "defaultKeepStorage": "1GB", "policy": [{"filter": ["type=regular"]}]}
        }
    }
    # Docker < 28: keepStorage "0" falls back to defaultKeepStorage; a missing one stops dockerd
    # (tests/gc/test_review_fixes.py)
    doc0 = {
        "builder": {
            "gc": {**doc["builder"]["gc"], "policy": [{"filter": ["type=regular"], "keepStorage": "0"}]}
        }
    }
    (r,) = parse_daemon_json(doc0, D26).rules
    assert r.reserved_space == 2**30 and r.filters == ("type==regular",)
    (r28,) = parse_daemon_json(doc, D28).rules
    assert r28.reserved_space == 0 and not r28.explicit_size  # Docker >= 28: no size = no target


def test_docker_policy_filters_join_and_until() -> None:
    doc = {
        "builder": {
            "GC": {
                "Enabled": True,
                "Policy": [{"Filter": ["until=48h", "type=exec.cachemount", "id=x"], "KeepStorage": "5GB"}],
            }
        }
    }
    (r,) = parse_daemon_json(doc, D26).rules
    assert r.keep_duration_ns == 48 * H
    assert set(r.filters[0].split(",")) == {"type==exec.cachemount", "id~=x"}
    assert r.reserved_space == 5 * 2**30


def test_docker_default_percentages_and_fixed_filter() -> None:
    disk = Disk(200 * 2**30, 10 * 2**30)
    buggy = parse_daemon_json({}, Semantics((0, 25, 0), (28, 5, 0)), disk=disk).rules[2]
    fixed = parse_daemon_json({}, Semantics((0, 25, 1), (28, 5, 1)), disk=disk).rules[2]
    # 28.5.0: avail = Total / percentage; 28.5.1: Total * percentage / 100; rounded up to GB
    assert buggy.max_used_space == (200 * 2**30 // 80 // 2**30 + 1) * GB
    assert fixed.max_used_space == (200 * 2**30 * 80 // 100 // 2**30 + 1) * GB
    rule1 = parse_daemon_json({}, D296, disk=disk).rules[0]
    assert rule1.filters == ("type==source.local", "type==exec.cachemount", "type==source.git.checkout")


def test_buildkitd_toml_v013_and_v017() -> None:
    text = """
[worker.oci]
  gc = true
  gckeepstorage = "20GB"
  [[worker.oci.gcpolicy]]
    keepBytes = "512MB"
    keepDuration = "48h"
    filters = ["type==source.local", "type==exec.cachemount"]
  [[worker.oci.gcpolicy]]
    all = true
    keepBytes = 1024000000
  [[worker.oci.gcpolicy]]
    reservedSpace = "10%"
    maxUsedSpace = "80GB"
"""
    disk = Disk(100 * 2**30, 0)
    p13 = parse_buildkitd_toml(text, D26, disk=disk)
    assert [r.reserved_space for r in p13.rules] == [512 * 2**20, 1024000000, 0]
    assert p13.rules[0].keep_duration_ns == 48 * H and p13.rules[1].all
    assert p13.rules[2].max_used_space == 0  # unknown to v0.13
    p17 = parse_buildkitd_toml(text, Semantics((0, 17, 0)), disk=disk)
    assert p17.rules[2].reserved_space == (100 * 2**30 * 10 // 100 // 2**30 + 1) * GB
    assert p17.rules[2].max_used_space == 80 * 2**30
    off = parse_buildkitd_toml("[worker.oci]\ngc = false\n", D26)
    assert not off.enabled and off.rules == ()


def test_buildkitd_default_v017_caps() -> None:
    # DetectDefaultGCCap: reserve min(10%, 10GB), max min(80%, 100GB), free 20%
    disk = Disk(1000 * 2**30, 0)
    r = parse_buildkitd_toml("[worker.oci]\n", Semantics((0, 20, 0)), disk=disk).rules[2]
    assert (r.reserved_space, r.max_used_space) == (10 * GB, 100 * GB)
    assert r.min_free_space == (1000 * 2**30 * 20 // 100 // 2**30 + 1) * GB


def test_buildx_inspect_policy_lines() -> None:
    text = """Name:          default
Driver:        docker
GC Policy rule#0:
 All:           false
 Filters:       type==source.local,type==exec.cachemount,type==source.git.checkout
 Keep Duration: 48h0m0s
 Keep Bytes:    488.3MiB
GC Policy rule#1:
 All:           true
 Keep Bytes:    9.313GiB
"""
    p = parse_buildx_inspect(text)
    assert len(p.rules) == 2
    assert p.rules[0].keep_duration_ns == 48 * H
    assert p.rules[0].reserved_space == int(488.3 * 2**20)
    assert p.rules[1].all and p.rules[0].filters == (
        "type==source.local,type==exec.cachemount,type==source.git.checkout",
    )
    assert parse_policy_file(text, D26, source="x").frontend == "buildx-inspect"


def test_prune_buildx_mapping() -> None:
    (r,) = parse_prune_command(
        "docker builder prune -af --filter type=exec.cachemount --filter until=24h --keep-storage 10MB", D26
    ).rules
    assert r.all and r.filters == ("type==exec.cachemount",) and r.keep_duration_ns == 24 * H
    assert r.reserved_space == 10 * 2**20
    (r2,) = parse_prune_command("docker buildx prune --reserved-space=1GB --max-used-space 5GB -f", D28).rules
    assert (r2.reserved_space, r2.max_used_space) == (2**30, 5 * 2**30)
    with pytest.raises(UsageError, match=r"v0\.17\.0"):
        parse_prune_command("docker buildx prune --max-used-space 5GB", D26)
    with pytest.raises(UsageError, match="only one value"):
        parse_prune_command("docker builder prune --filter type=regular --filter type=source.local", D26)
    with pytest.raises(UsageError, match="expects a duration"):
        parse_prune_command("docker buildx prune --filter until=2026-01-01T00:00:00Z", D26)


def test_prune_engine_api_mapping() -> None:
    now = 1_800_000_000 * 10**9
    (r,) = parse_prune_command(
        "docker builder prune --filter until=2027-01-14T08:00:00Z --filter type=regular",
        D26,
        via="api",
        now_ns=now,
    ).rules
    assert r.filters == ("type==regular",) and r.keep_duration_ns == 24 * H  # GetTimestamp -> time.Since
    with pytest.raises(UsageError, match="invalid filter 'mutable'"):
        parse_prune_command("docker builder prune --filter mutable=true", D26, via="api")


def test_prune_buildctl_mapping() -> None:
    (old,) = parse_prune_command(
        "buildctl --addr unix:///run/bk.sock prune --keep-storage 10 -f type==regular -f type==source.local",
        D26,
    ).rules
    assert old.reserved_space == 10_000_000 and old.filters == ("type==regular", "type==source.local")
    (new,) = parse_prune_command(
        "buildctl prune --keep-storage 10 --keep-storage-min 2 --free-storage 1.5", D28
    ).rules
    assert (new.reserved_space, new.max_used_space, new.min_free_space) == (2_000_000, 10_000_000, 1_500_000)


def test_version_selection() -> None:
    assert semantics_for(None, "26.1.5+dfsg1").buildkit == (0, 13, 0)
    assert semantics_for("v0.0.0+unknown", "28.2.2").buildkit == (0, 22, 0)
    assert semantics_for("v0.17", None).space_model == "v0.17"
    assert semantics_for(None, None, detected=D26) == D26
