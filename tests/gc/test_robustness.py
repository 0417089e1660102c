"""Garbage in, a one-line error out: the dump readers, policy readers and prune-command parser never
raise anything but a CacheInspectError (which the CLI prints as one ``error:`` line with its exit code)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cacheinspect.errors import CacheInspectError
from cacheinspect.gc.policy import Disk, parse_policy_file, parse_prune_command
from cacheinspect.gc.readers import read_dump
from cacheinspect.gc.versions import Semantics

SEMS = (Semantics((0, 13, 0), (26, 1, 0)), Semantics((0, 22, 0), (28, 2, 0)), Semantics((0, 32, 0)))
DISK = Disk(100 * 10**9, 40 * 10**9)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=30)
)
_json = st.recursive(
    _json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=25,
)
_keys = st.sampled_from(
    ["ID", "Parents", " Parents", "Parent", "Type", "Size", "InUse", "Shared", "CreatedAt", "LastUsedAt",
     "UsageCount", "Description", "id", "parents", "recordType", "size", "inUse", "shared", "createdAt",
     "lastUsedAt", "usageCount", "Reclaimable", "BuildCache"]
)  # fmt: skip
_record = st.dictionaries(_keys, _json, max_size=10)


def _ok(fn: object, *args: object, **kw: object) -> None:
    message = ""
    try:
        fn(*args, **kw)  # type: ignore[operator]
    except CacheInspectError as e:
        message = e.message
    assert "\n" not in message.strip(), message


@SETTINGS
@given(st.one_of(_json, st.dictionaries(st.just("BuildCache"), st.lists(_record, max_size=5)), _record))
def test_json_dumps(doc: object) -> None:
    _ok(read_dump, json.dumps(doc), source="dump", now_ns=10**18)


@SETTINGS
@given(st.lists(_record, min_size=1, max_size=4))
def test_json_lines(lines: list[dict[str, object]]) -> None:
    _ok(read_dump, "\n".join(json.dumps(x) for x in lines), source="dump", now_ns=10**18)


_buildx_line = st.one_of(
    st.sampled_from(["ID:", "Parent:", "Parents:", "Created at:", "Mutable:", "Reclaimable:", "Shared:",
                     "Size:", "Description:", "Usage count:", "Last used:", "Type:", "Reclaimable:\t",
                     "Total:"]).flatmap(lambda k: st.text(max_size=20).map(lambda v: f"{k}\t{v}")),
    st.text(max_size=30),
)  # fmt: skip


@SETTINGS
@given(st.lists(_buildx_line, max_size=12))
def test_buildx_text(lines: list[str]) -> None:
    _ok(read_dump, "\n".join(lines), source="dump", now_ns=10**18)
    _ok(read_dump, "\n".join(lines), source="dump", now_ns=None)


_words = st.sampled_from(
    ["docker", "builder", "buildx", "buildctl", "prune", "-f", "-a", "-af", "--all", "--force", "--filter",
     "--keep-storage", "--reserved-space", "--max-used-space", "--min-free-space", "--keep-duration",
     "--keep-storage-min", "--free-storage", "type=regular", "until=24h", "until=", "type!=regular",
     "id=abc", "10MB", "1.5", "-", "--", "=", "--filter=type=exec.cachemount", "'", '"', "-H", "x",
     "unused-for=1h", "parent=x", "label=a", "--verbose", "--all=false", "--builder", "2026-01-01"]
)  # fmt: skip


@SETTINGS
@given(st.lists(_words, max_size=9), st.sampled_from(SEMS), st.sampled_from(["buildx", "api"]))
def test_prune_commands(words: list[str], sem: Semantics, via: str) -> None:
    _ok(parse_prune_command, " ".join(words), sem, via=via, now_ns=10**18)


@SETTINGS
@given(st.text(max_size=60), st.sampled_from(SEMS), st.sampled_from(["buildx", "api"]))
def test_prune_command_text(text: str, sem: Semantics, via: str) -> None:
    _ok(parse_prune_command, "docker builder prune " + text, sem, via=via, now_ns=10**18)


_gc_rule = st.dictionaries(
    st.sampled_from(["all", "filter", "keepStorage", "reservedSpace", "maxUsedSpace", "minFreeSpace",
                     "keepDuration"]),
    st.one_of(_json, st.lists(st.sampled_from(["type=regular", "until=24h", "x", "=", "id="]), max_size=3)),
    max_size=4,
)  # fmt: skip


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["enabled", "policy", "defaultKeepStorage", "defaultReservedSpace",
                         "defaultMaxUsedSpace", "defaultMinFreeSpace"]),
        st.one_of(_json, st.lists(_gc_rule, max_size=3)),
        max_size=4,
    ),
    st.sampled_from(SEMS),
)  # fmt: skip
def test_daemon_json(gc: dict[str, object], sem: Semantics) -> None:
    text = json.dumps({"builder": {"gc": gc}})
    _ok(parse_policy_file, text, sem, source="daemon.json", disk=DISK, now_ns=10**18)


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(SEMS))
def test_policy_text(text: str, sem: Semantics) -> None:
    _ok(parse_policy_file, text, sem, source="policy", disk=DISK, now_ns=10**18)
    _ok(parse_policy_file, "[worker.oci]\n" + text, sem, source="policy", disk=DISK, now_ns=10**18)
    _ok(parse_policy_file, "GC Policy rule#0:\n" + text, sem, source="policy", disk=DISK, now_ns=10**18)


_toml_value = st.sampled_from(
    ['"10GB"', '"10%"', '"x%"', "1024", "-5", "true", '"48h"', '"3600"', '""', "[]", '["type==regular"]',
     '["type=="]', '"type==regular"', "[1]", "{a = 1}", "1.5", '"1.5.5GB"', '"-1GB"']
)  # fmt: skip
_toml_key = st.sampled_from(
    ["gc", "gckeepstorage", "reservedSpace", "maxUsedSpace", "minFreeSpace", "enabled", "keepBytes",
     "keepDuration", "filters", "all"]
)  # fmt: skip


@SETTINGS
@given(
    st.sampled_from(["oci", "containerd"]),
    st.dictionaries(_toml_key, _toml_value, max_size=4),
    st.lists(st.dictionaries(_toml_key, _toml_value, max_size=4), max_size=3),
    st.sampled_from(SEMS),
)
def test_buildkitd_toml(
    worker: str, top: dict[str, str], rules: list[dict[str, str]], sem: Semantics
) -> None:
    text = f"[worker.{worker}]\n" + "".join(f"{k} = {v}\n" for k, v in top.items())
    for r in rules:
        text += f"[[worker.{worker}.gcpolicy]]\n" + "".join(f"{k} = {v}\n" for k, v in r.items())
    _ok(parse_policy_file, text, sem, source="buildkitd.toml", disk=DISK, now_ns=10**18)
