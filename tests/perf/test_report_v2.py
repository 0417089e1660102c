"""The v2 inspect schema: linear output, stacks by reference; v1 kept behind --schema v1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.synth import encode_go, synth_config

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def inspect_json(*args: str) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", "-f", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _stack(cfg: dict[str, Any], node: int) -> list[str]:
    """A result's stack from the config itself, with plain json (Go's omitempty: no parent means 0)."""
    out = []
    while node != -1:
        out.append(cfg["layers"][node]["blob"])
        node = cfg["layers"][node].get("parent", 0)
    return out[::-1]


def test_v2_stacks_resolve_to_the_configs_own_chains(tmp_path: Path) -> None:
    raw = encode_go(synth_config(400, seed=7))
    f = tmp_path / "c.json"
    f.write_bytes(raw)
    cfg = json.loads(raw)
    rep = inspect_json(str(f))
    assert rep["schema"] == "cacheinspect.inspect/v2"
    assert [r["index"] for r in rep["records"]] == list(range(len(cfg["records"])))
    assert [(n["blob"], n["parent"]) for n in rep["nodes"]] == [
        (x["blob"], x.get("parent", 0)) for x in cfg["layers"]
    ]
    for r, want in zip(rep["records"], cfg["records"], strict=True):
        assert r["digest"] == want["digest"]
        assert [[x["record"] for x in alts] for alts in r["inputs"]] == [
            [x["link"] for x in alts] for alts in want.get("inputs", [])
        ]
        for res, w in zip(r["results"], want.get("layers", []), strict=True):
            stack = _stack(cfg, w["layer"])
            assert res["node"] == w["layer"] and res["top"] == stack[-1] and res["height"] == len(stack)


@pytest.mark.parametrize("n", [500, 2000])
def test_v2_output_is_linear_in_the_input(tmp_path: Path, n: int) -> None:
    raw = encode_go(synth_config(n, seed=n))
    f = tmp_path / "c.json"
    f.write_bytes(raw)
    out = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", "-f", "json", str(f)],
        capture_output=True,
        timeout=120,
    ).stdout
    assert len(out) <= 3 * len(raw)


def test_v1_is_kept_behind_a_flag() -> None:
    v1 = inspect_json(str(FIX / "threestage-max"), "--schema", "v1")
    assert v1["schema"] == "cacheinspect.inspect/v1"
    assert all(isinstance(res["layers"], list) for r in v1["records"] for res in r["results"])
    v2 = inspect_json(str(FIX / "threestage-max"))
    assert v1["summary"] == v2["summary"] and v1["layers"] == v2["layers"] and v1["stages"] == v2["stages"]
    by_index = {r["index"]: r for r in v2["records"]}
    nodes = v2["nodes"]
    for r in v1["records"]:
        for old, new in zip(r["results"], by_index[r["index"]]["results"], strict=True):
            if new["via"] == "layer":
                stack, i = [], new["node"]
                while i != -1:
                    stack.append(nodes[i]["blob"])
                    i = nodes[i]["parent"]
                assert stack[::-1] == old["layers"]


def test_streamed_json_is_the_library_report() -> None:
    import asyncio

    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import load_target
    from cacheinspect.cache.report import inspect_report, iter_inspect_json
    from cacheinspect.registry.options import RegistryOptions

    g = build_graph(asyncio.run(load_target(str(FIX / "damaged-max"), RegistryOptions())))
    streamed = json.loads(b"".join(iter_inspect_json(g)))
    assert streamed == json.loads(json.dumps(inspect_report(g)))
    assert len(repr(g)) < 200  # asyncio.run formats the result's repr (cpython#112559)
