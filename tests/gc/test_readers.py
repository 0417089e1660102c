"""Readers of record dumps: files captured on the test bed (dockerd 26.1, buildx 0.13) and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cacheinspect.errors import MalformedContentError
from cacheinspect.gc.readers import read_dump
from cacheinspect.gc.units import parse_go_duration, parse_ram_in_bytes, parse_rfc3339_ns

DATA = Path(__file__).parent / "data"
# `docker buildx du --verbose` prints "Last used: 25 seconds ago"; the capture was taken at about:
CAPTURED = parse_rfc3339_ns("2026-12-01T09:39:53Z")


def _engine() -> list[dict[str, object]]:
    doc = json.loads((DATA / "engine-df.json").read_text())
    return list(doc["BuildCache"])


def test_engine_api_dump_exact() -> None:
    recs = read_dump((DATA / "engine-df.json").read_bytes())
    raw = _engine()
    assert len(recs) == len(raw) == 15
    by = {r.id: r for r in recs}
    for item in raw:
        r = by[str(item["ID"])]
        assert r.size == item["Size"] and r.type == item["Type"] and r.shared == item["Shared"]
        assert r.parents == tuple(item.get(" Parents", []))  # type: ignore[arg-type]
    assert any(r.parents for r in recs)
    # nanoseconds survive (Python's datetime would cut them to microseconds)
    first = raw[0]
    assert by[str(first["ID"])].last_used_ns == parse_rfc3339_ns(str(first["LastUsedAt"]))


def test_parents_spellings() -> None:
    base = {"ID": "c", "Type": "regular", "Size": 1, "CreatedAt": "2026-01-01T00:00:00Z"}
    for key in (" Parents", "Parents"):
        (r,) = read_dump(json.dumps([{**base, key: ["p"]}]))
        assert r.parents == ("p",)
    (r,) = read_dump(json.dumps([{**base, "Parent": "p"}]))
    assert r.parents == ("p",)


def test_same_records_from_every_dump() -> None:
    engine = {r.id: r for r in read_dump((DATA / "engine-df.json").read_bytes())}
    cli = {r.id: r for r in read_dump((DATA / "docker-system-df-v.json").read_bytes())}
    text = {r.id: r for r in read_dump((DATA / "buildx-du-verbose.txt").read_bytes(), now_ns=CAPTURED)}
    assert set(engine) == set(cli) == set(text)
    for rid, r in engine.items():
        for other in (cli[rid], text[rid]):
            assert other.approximate and other.type == r.type and other.shared == r.shared
            assert abs(other.size - r.size) <= max(r.size * 0.01, 10)  # HumanSize keeps 3-4 digits
            assert set(other.parents) == set(r.parents)
            assert other.usage_count == r.usage_count
        assert cli[rid].last_used_ns == r.last_used_ns  # Go time.String() keeps nanoseconds
        assert text[rid].created_ns == r.created_ns


def test_buildctl_json_tags() -> None:
    # `buildctl du --format '{{json .}}'` marshals []*client.UsageInfo (moby/buildkit client/diskusage.go)
    doc = [
        {
            "id": "abc",
            "mutable": True,
            "inUse": False,
            "size": 4096,
            "createdAt": "2026-12-01T09:17:14.57908658Z",
            "lastUsedAt": None,
            "usageCount": 0,
            "parents": ["p1"],
            "description": "cached mount /c",
            "recordType": "exec.cachemount",
            "shared": False,
        }
    ]
    (r,) = read_dump(json.dumps(doc))
    assert (r.id, r.type, r.size, r.parents, r.mutable, r.last_used_ns) == (
        "abc", "exec.cachemount", 4096, ("p1",), True, None,
    )  # fmt: skip
    lines = "\n".join(json.dumps(d) for d in doc * 2).replace('"abc"', '"x"', 1)
    assert len(read_dump(lines)) == 2


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ('{"BuildCache": [{"ID": "a", "Size": "big"}]}', "$.BuildCache[0].Size"),
        ('{"BuildCache": [{"ID": "a"}, {"Size": 1}]}', "$.BuildCache[1].ID: missing"),
        ('[{"ID": "a", "LastUsedAt": "yesterday"}]', "$[0].LastUsedAt"),
        ('{"BuildCache": [\n{"ID": "a",,}]}', "line 2 column"),
        ("ID:\tabc\nSize:\tlots\n", "record starting at line 1: Size"),
        ("ID:\tabc\nthis is not a key value line\n", "line 2"),
    ],
)
def test_malformed_dump_names_line_or_field(data: str, where: str) -> None:
    with pytest.raises(MalformedContentError) as e:
        read_dump(data, source="dump.json", now_ns=CAPTURED)
    assert where in e.value.message and e.value.message.startswith("dump.json")


def test_units_like_go() -> None:
    assert parse_ram_in_bytes("10MB") == 10 * 1024 * 1024  # go-units RAMInBytes is binary
    assert parse_ram_in_bytes("1.5GiB") == 3 * 1024**3 // 2
    assert parse_ram_in_bytes("1048576") == 1048576
    assert parse_go_duration("1h30m") == 5400 * 10**9
    assert parse_go_duration("48h") == 48 * 3600 * 10**9
    assert parse_rfc3339_ns("2026-12-01 09:17:14.57908658 +0000 UTC") == parse_rfc3339_ns(
        "2026-12-01T09:17:14.579086580Z"
    )


def test_buildx_text_parents_list_form() -> None:
    # newer buildx prints several parents as a "Parents:" block of "- id" lines
    text = "ID:\tc1\nParents:\n - p1\n - p2\nCreated at:\t2026-12-01 09:17:14.5 +0000 UTC\nMutable:\tfalse\n"
    text += "Reclaimable:\tfalse\nShared:\tfalse\nSize:\t1.5MB\nUsage count:\t3\nLast used:\t2 hours ago\nType:\tregular\n"
    (r,) = read_dump(text, now_ns=CAPTURED)
    assert r.parents == ("p1", "p2") and r.in_use and r.size == 1_500_000 and r.usage_count == 3
    assert r.last_used_ns == CAPTURED - 2 * 3600 * 10**9
