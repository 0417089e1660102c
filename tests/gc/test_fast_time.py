"""The inline Engine API timestamp parser of the msgspec reader equals the general one on every shape; the
reader leaves the cyclic collector as it found it."""

from __future__ import annotations

import random

import pytest

from cacheinspect.gc.readers import _fast_time, _ns


def _stamp(rng: random.Random) -> str:
    y = rng.choice([1, 1970, 2000, 2024, 2026, 9999])
    mo, d, h, mi, s = (
        rng.randrange(0, 14),
        rng.randrange(0, 33),
        rng.randrange(0, 26),
        rng.randrange(0, 62),
        rng.randrange(0, 63),
    )
    frac = "" if rng.random() < 0.2 else "." + str(rng.randrange(10**9)).rjust(9, "0")[: rng.randrange(0, 11)]
    v = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}Z"
    r = rng.random()
    if r < 0.05:
        v = v.replace("T", " ")
    elif r < 0.1:
        i = rng.randrange(len(v))
        v = v[:i] + rng.choice("x0:.Z٣ ") + v[i + 1 :]
    return v


@pytest.mark.parametrize("seed", range(4))
def test_inline_parser_equals_general_parser(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5000):
        v = _stamp(rng)
        assert _ns(v) == _fast_time(v), v


def test_trimmed_fractions_and_zero_time() -> None:
    # Go's RFC3339Nano trims trailing zeros; 0001-01-01 is the zero time.Time ("never used")
    assert _ns("2026-12-01T09:39:19.5Z") == _ns("2026-12-01T09:39:19.500000000Z") == 1796117959_500_000_000
    assert _ns("0001-01-01T00:00:00.1Z") is None


def test_gc_pause_is_restored_even_on_a_bad_dump() -> None:
    import gc

    from cacheinspect.errors import MalformedContentError
    from cacheinspect.gc.readers import read_dump

    assert gc.isenabled()
    with pytest.raises(MalformedContentError):
        read_dump(b'{"BuildCache": [{"ID": 5}]}', source="bad.json")
    assert gc.isenabled()
    gc.disable()
    try:
        read_dump(b'{"BuildCache": []}', source="empty.json")
        assert not gc.isenabled()  # a caller's own setting is left as it was
    finally:
        gc.enable()
