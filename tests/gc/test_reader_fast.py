"""The msgspec fast path of the Engine API reader (bytes in) gives the records and errors of the general
reader (text in), which names bad fields by JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cacheinspect.errors import MalformedContentError
from cacheinspect.gc.readers import _engine_fast, read_dump

DATA = Path(__file__).parent / "data" / "engine-df.json"


def test_fast_path_taken_and_equal_to_general_reader() -> None:
    data = DATA.read_bytes()
    fast = _engine_fast(data)
    assert fast is not None and len(fast) > 0
    assert fast == read_dump(data.decode())
    assert read_dump(data) == fast


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Size", "big"),
        ("Size", 10**19),
        ("UsageCount", True),
        ("LastUsedAt", "yesterday"),
        ("Parent", "abc"),
        (" Parents", [1]),
    ],
)
def test_off_shape_falls_back_with_same_result(key: str, value: object) -> None:
    doc = json.loads(DATA.read_bytes())
    doc["BuildCache"][0][key] = value
    data = json.dumps(doc).encode()
    assert _engine_fast(data) is None
    try:
        want: object = read_dump(data.decode())
    except MalformedContentError as e:
        want = e.message
    try:
        got: object = read_dump(data)
    except MalformedContentError as e:
        got = e.message
    assert got == want


def test_docker_cli_df_shape_not_taken_by_fast_path() -> None:
    doc = json.loads(DATA.read_bytes())
    for item in doc["BuildCache"]:
        item["CacheType"] = item["Type"]
    assert _engine_fast(json.dumps(doc).encode()) is None
