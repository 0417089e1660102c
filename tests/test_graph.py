"""Decoding, importer-mirroring validation and the record graph, on synthetic and hand-made configs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cacheinspect.cache.config import decode_config
from cacheinspect.cache.graph import IMPORT_CAP, CacheGraph, build_graph, parse_time
from cacheinspect.cache.load import LoadedCache, load_cache, load_config_file
from cacheinspect.errors import CacheInspectError, MalformedContentError
from cacheinspect.sources.layout import LayoutSource
from tests.synth import encode_go, synth_config, write_cache_layout


def load_layout(path: Path) -> LoadedCache:
    return asyncio.run(load_cache(LayoutSource(path)))


def graph_of(tmp_path: Path, cfg: dict[str, Any], **kw: Any) -> CacheGraph:
    write_cache_layout(tmp_path, cfg, **kw)
    return build_graph(load_layout(tmp_path))


def codes(g: CacheGraph) -> set[str]:
    return {f.code for f in g.findings}


@pytest.mark.parametrize("shape", ["oci-index", "docker-manifest-list", "image-manifest"])
def test_synthetic_max_cache_decodes_in_every_registry_shape(tmp_path: Path, shape: str) -> None:
    cfg = synth_config(60, seed=1)
    meta = write_cache_layout(tmp_path, cfg, shape=shape)
    cache = load_layout(tmp_path)
    g = build_graph(cache)
    assert cache.shape == shape
    assert cache.config_digest == meta["config_digest"]
    assert len(g.records) == len(cfg["records"])
    assert len(cache.blobs) == len({lay["blob"] for lay in cfg["layers"]})
    with_results = sum(1 for r in cfg["records"] if r.get("layers"))
    assert sum(1 for r in g.records if r.live_results) == with_results
    assert not [f for f in g.findings if f.severity == "error"]
    # every step has a result: what mode=max exports, and also (byte for byte, seen on v0.13 and v0.25)
    # what mode=min exports after a build that took every step from an imported cache
    assert g.mode == "min-or-max"


def test_missing_parent_means_layer_zero_and_minus_one_means_none(tmp_path: Path) -> None:
    # Go omits parent: 0 (omitempty). Layer 1 has no "parent" key: its parent is layer 0.
    cfg = {
        "layers": [{"blob": "sha256:" + "a" * 64, "parent": -1}, {"blob": "sha256:" + "b" * 64}],
        "records": [
            {"digest": "sha256:" + "1" * 64},
            {"digest": "sha256:" + "2" * 64, "layers": [{"layer": 1}], "inputs": [[{"link": 0}]]},
        ],
    }
    raw = json.dumps(cfg).encode()
    assert b'"parent"' in raw and raw.count(b'"parent"') == 1
    g = graph_of(tmp_path, cfg, config_bytes=raw)
    (res,) = g.records[1].results
    assert res.blobs == ("sha256:" + "a" * 64, "sha256:" + "b" * 64)


def test_go_encoding_round_trip_keeps_stacks(tmp_path: Path) -> None:
    cfg = synth_config(40, seed=3)
    assert b'"parent":0' not in encode_go(cfg)
    g = graph_of(tmp_path, cfg)
    layers = cfg["layers"]
    for rec, raw in zip(g.records, cfg["records"], strict=True):
        for res, rr in zip(rec.results, raw.get("layers", []), strict=True):
            # Walk parents in the source dict and compare with what the graph resolved.
            want: list[str] = []
            i = rr["layer"]
            while i != -1:
                want.append(layers[i]["blob"])
                i = layers[i]["parent"]
            assert list(res.blobs) == list(reversed(want))


def test_results_key_is_layers_and_chains_are_explicit_stacks(tmp_path: Path) -> None:
    a, b, c = ("sha256:" + x * 64 for x in "abc")
    cfg = {
        "layers": [{"blob": a, "parent": -1}, {"blob": b, "parent": 0}, {"blob": c, "parent": -1}],
        "records": [
            {"digest": "sha256:" + "1" * 64},
            {
                "digest": "sha256:" + "2" * 64,
                "chains": [{"layers": [0, 2], "createdAt": "2026-01-02T03:04:05.123456789Z"}],
                "inputs": [[{"link": 0}]],
            },
        ],
    }
    g = graph_of(tmp_path, cfg, config_bytes=json.dumps(cfg).encode())
    (res,) = g.records[1].results
    assert res.via == "chain" and res.blobs == (a, c)
    assert parse_time(res.created_at) is not None


def test_go_zero_time_and_lowercase_createdat(tmp_path: Path) -> None:
    cfg = {
        "layers": [{"blob": "sha256:" + "a" * 64, "parent": -1}],
        "records": [
            {"digest": "sha256:" + "1" * 64},
            {
                "digest": "sha256:" + "2" * 64,
                "layers": [{"layer": 0, "createdAt": "0001-01-01T00:00:00Z"}],
                "inputs": [[{"link": 0}]],
            },
            {
                "digest": "sha256:" + "3" * 64,
                "layers": [{"layer": 0, "createdat": "2026-05-01T00:00:00Z"}],
                "inputs": [[{"link": 1}]],
            },
        ],
    }
    g = graph_of(tmp_path, cfg, config_bytes=json.dumps(cfg).encode())
    assert g.records[1].results[0].created_at is None
    assert g.records[2].results[0].created_at == "2026-05-01T00:00:00Z"
    oldest, newest = g.times()
    assert oldest == newest == parse_time("2026-05-01T00:00:00Z")


def test_identities_do_not_depend_on_array_order(tmp_path: Path) -> None:
    cfg = synth_config(50, seed=7)
    g1 = graph_of(tmp_path / "a", cfg)
    # Same records, reversed arrays, every index remapped.
    n = len(cfg["records"])
    rev = {
        "layers": cfg["layers"],
        "records": [
            {**r, "inputs": [[{**x, "link": n - 1 - x["link"]} for x in inp] for inp in r.get("inputs", [])]}
            for r in reversed(cfg["records"])
        ],
    }
    for r in rev["records"]:
        if not r["inputs"]:
            del r["inputs"]
    g2 = graph_of(tmp_path / "b", rev)
    assert {r.identity for r in g1.records} == {r.identity for r in g2.records}
    # and identities separate records with the same digest but different parents
    assert len(g1.by_identity) == len(g1.records)


def _base_cfg() -> dict[str, Any]:
    return {
        "layers": [{"blob": "sha256:" + "a" * 64, "parent": -1}, {"blob": "sha256:" + "b" * 64, "parent": 0}],
        "records": [
            {"digest": "sha256:" + "1" * 64},
            {"digest": "sha256:" + "2" * 64, "layers": [{"layer": 0}], "inputs": [[{"link": 0}]]},
            {"digest": "sha256:" + "3" * 64, "layers": [{"layer": 1}], "inputs": [[{"link": 1}]]},
        ],
    }


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda c: c["records"][1]["inputs"].__setitem__(0, [{"link": 2}]), "looping-record"),
        (lambda c: c["records"][2]["inputs"].__setitem__(0, [{"link": 9}]), "invalid-record-link"),
        (lambda c: c["records"][2]["inputs"].append([]), "empty-input"),
        (lambda c: c["layers"][0].__setitem__("parent", 1), "looping-layer"),
        (lambda c: c["layers"][1].__setitem__("parent", 5), "invalid-layer-index"),
        (lambda c: c["records"][2]["layers"][0].__setitem__("layer", 7), "invalid-layer-index"),
    ],
)
def test_importer_failures_are_findings(tmp_path: Path, mutate: Any, code: str) -> None:
    cfg = _base_cfg()
    g0 = graph_of(tmp_path / "ok", cfg, config_bytes=json.dumps(cfg).encode())
    assert code not in codes(g0)
    mutate(cfg)
    g = graph_of(tmp_path / "bad", cfg, config_bytes=json.dumps(cfg).encode())
    found = [f for f in g.findings if f.code == code]
    assert found and found[0].severity == "error"


def test_blob_absent_from_manifest_drops_the_result(tmp_path: Path) -> None:
    cfg = _base_cfg()
    b = cfg["layers"][1]["blob"]
    g = graph_of(tmp_path, cfg, config_bytes=json.dumps(cfg).encode(), omit_blobs=frozenset({b}))
    assert "layer-blob-not-in-manifest" in codes(g)
    assert g.records[2].results[0].dropped
    assert not g.records[1].results[0].dropped
    assert not g.records[2].live_results
    assert g.live[2] == 0 and g.live[1] == 1  # the graph's precomputed flags say the same
    assert list(g.live) == [int(r.has_live_results) for r in g.records]


def test_config_over_import_cap(tmp_path: Path) -> None:
    cfg = synth_config(40, seed=2)
    data = encode_go(cfg)
    padded = data[:-1] + b"," + b'"pad":"' + b"x" * (IMPORT_CAP + 1 - len(data)) + b'"}'
    assert len(padded) > IMPORT_CAP
    g = graph_of(tmp_path, cfg, config_bytes=padded)
    f = next(f for f in g.findings if f.code == "config-over-import-cap")
    assert f.details["size"] == len(padded)
    small = graph_of(tmp_path / "small", cfg)
    assert "config-over-import-cap" not in codes(small)


def test_min_shaped_cache_is_estimated_min(tmp_path: Path) -> None:
    cfg = synth_config(30, seed=4)
    # strip results from every record that is not on the longest stack: keys only, like mode=min
    keep = max(
        cfg["records"], key=lambda r: len(r.get("inputs", [])) and r.get("layers", [{}])[0].get("layer", 0)
    )
    for r in cfg["records"]:
        if r is not keep and r.get("inputs"):
            r.pop("layers", None)
    g = graph_of(tmp_path, cfg)
    assert g.mode == "min"
    assert "mode-min" in codes(g)


def test_bare_config_file(tmp_path: Path) -> None:
    cfg = synth_config(20, seed=5)
    p = tmp_path / "cfg.json"
    p.write_bytes(encode_go(cfg))
    cache = load_config_file(p)
    g = build_graph(cache)
    assert cache.kind == "file" and len(g.records) == len(cfg["records"])
    assert "layer-blob-not-in-manifest" not in codes(g)


def test_garbage_config_is_an_integrity_error(tmp_path: Path) -> None:
    with pytest.raises(MalformedContentError, match=r"\$\.records"):
        decode_config(b'{"records": 5}')
    with pytest.raises(MalformedContentError, match="not JSON"):
        decode_config(b"\x00\x01")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "layers",
                    "records",
                    "blob",
                    "parent",
                    "digest",
                    "inputs",
                    "link",
                    "selector",
                    "layer",
                    "chains",
                    "createdAt",
                ]
            ),
            kids,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json)
def test_random_configs_never_raise_foreign_errors(doc: Any) -> None:
    _decode_and_build(json.dumps(doc).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_shaped_configs_never_raise_foreign_errors(data: st.DataObject) -> None:
    cfg = synth_config(25, seed=data.draw(st.integers(0, 5)))
    for _ in range(data.draw(st.integers(1, 4))):
        which = data.draw(st.sampled_from(["layer-parent", "link", "result", "drop-input"]))
        if which == "layer-parent":
            lay = data.draw(st.sampled_from(cfg["layers"]))
            lay["parent"] = data.draw(st.integers(-3, len(cfg["layers"]) + 2))
        elif which == "link":
            r = data.draw(st.sampled_from([r for r in cfg["records"] if r.get("inputs") and r["inputs"][0]]))
            r["inputs"][0][0]["link"] = data.draw(st.integers(-2, len(cfg["records"]) + 2))
        elif which == "result":
            r = data.draw(st.sampled_from([r for r in cfg["records"] if r.get("layers")]))
            r["layers"][0]["layer"] = data.draw(st.integers(-2, len(cfg["layers"]) + 2))
        else:
            r = data.draw(st.sampled_from([r for r in cfg["records"] if r.get("inputs")]))
            r["inputs"][0] = []
    _decode_and_build(json.dumps(cfg).encode())


def _decode_and_build(raw: bytes) -> None:
    from cacheinspect.cache.load import LoadedCache
    from cacheinspect.cache.report import inspect_report

    try:
        config = decode_config(raw)
    except CacheInspectError:
        return
    cache = LoadedCache(
        ref="x",
        kind="file",
        location="file",
        shape="config",
        media_type="",
        config=config,
        config_size=len(raw),
    )
    g = build_graph(cache)
    assert list(g.live) == [int(r.has_live_results) for r in g.records]
    json.dumps(inspect_report(g))


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name for p in (Path(__file__).parent.parent / "fixtures").iterdir() if (p / "index.json").exists()
    ),
)
def test_live_flags_agree_with_each_record(name: str) -> None:
    """``CacheGraph.live`` (computed once while building, for diff's speed) says what
    ``Record.has_live_results`` says, on every fixture: damaged ones drop results, min ones have none."""
    g = build_graph(load_layout(Path(__file__).parent.parent / "fixtures" / name))
    assert list(g.live) == [int(r.has_live_results) for r in g.records]
    assert len(g.live) == len(g.records)


def test_unknown_media_type_and_compression_variants(tmp_path: Path) -> None:
    cfg = _base_cfg()
    write_cache_layout(tmp_path, cfg, config_bytes=json.dumps(cfg).encode())
    man_path = next(
        p
        for p in (tmp_path / "blobs" / "sha256").iterdir()
        if b'"manifests"' in p.read_bytes() and b"cacheconfig" in p.read_bytes()
    )
    man = json.loads(man_path.read_bytes())
    a, b = man["manifests"][0], man["manifests"][1]
    a["mediaType"] = "application/x-something"
    b["annotations"]["containerd.io/uncompressed"] = a["annotations"]["containerd.io/uncompressed"]
    new = json.dumps(man).encode()
    import hashlib

    dg = hashlib.sha256(new).hexdigest()
    (tmp_path / "blobs" / "sha256" / dg).write_bytes(new)
    idx = json.loads((tmp_path / "index.json").read_text())
    idx["manifests"][0].update(digest=f"sha256:{dg}", size=len(new))
    (tmp_path / "index.json").write_text(json.dumps(idx))
    g = build_graph(load_layout(tmp_path))
    f = {x.code: x for x in g.findings}
    assert f["unknown-media-type"].subject == a["digest"]
    assert f["compression-variants"].details["layers"] == {
        a["annotations"]["containerd.io/uncompressed"]: sorted([a["digest"], b["digest"]])
    }


def _inline_records(n_layers: int, *, bad_link: bool = False) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = [{"digest": "sha256:" + "0" * 64}]
    for k in range(n_layers):
        recs.append({"digest": f"sha256:{k + 1:064x}", "layers": [{"layer": k}], "inputs": [[{"link": k}]]})
    if bad_link:
        recs[-1]["inputs"] = [[{"link": -1}]]
    return recs


def test_multiplatform_merge_keeps_out_of_range_links_invalid(tmp_path: Path) -> None:
    from tests.synth import write_image_layout

    blobs = ["sha256:" + c * 64 for c in "ab"]
    write_image_layout(
        tmp_path,
        [
            {
                "platform": "linux/amd64",
                "layers": blobs,
                "history": ["COPY a /a", "COPY b /b"],
                "inline": _inline_records(2),
            },
            {
                "platform": "linux/arm64",
                "layers": blobs,
                "history": ["COPY a /a", "COPY b /b"],
                "inline": _inline_records(2, bad_link=True),
            },
        ],
    )
    g = build_graph(load_layout(tmp_path))
    bad = [f for f in g.findings if f.code == "invalid-record-link"]
    assert len(bad) == 1
    assert bad[0].details["link"] == -1


def test_platforms_and_blobs_come_only_from_images_with_inline_cache(tmp_path: Path) -> None:
    from tests.synth import write_image_layout

    write_image_layout(
        tmp_path,
        [
            {
                "platform": "linux/amd64",
                "layers": ["sha256:" + "a" * 64],
                "history": ["COPY a /a"],
                "inline": _inline_records(1),
            },
            {
                "platform": "linux/arm64",
                "layers": ["sha256:" + "c" * 64, "sha256:" + "d" * 64],
                "history": ["x", "y"],
                "inline": None,
            },
        ],
    )
    cache = load_layout(tmp_path)
    assert cache.platforms == ["linux/amd64"]
    assert set(cache.blobs) == {"sha256:" + "a" * 64}
    assert "no-inline-cache" in codes(build_graph(cache))


def test_labels_go_by_position_when_a_blob_repeats(tmp_path: Path) -> None:
    from tests.synth import write_image_layout

    empty = "sha256:" + "4" * 64
    layers = ["sha256:" + "a" * 64, empty, "sha256:" + "b" * 64, empty]
    history = ["COPY a /a", "WORKDIR /x", "COPY b /b", "RUN true"]
    write_image_layout(
        tmp_path,
        [{"platform": "linux/amd64", "layers": layers, "history": history, "inline": _inline_records(4)}],
    )
    g = build_graph(load_layout(tmp_path))
    steps = {r.results[0].node: r.step for r in g.records if r.results}
    assert steps == dict(enumerate(history))


def test_stray_layer_nodes_are_not_validated(tmp_path: Path) -> None:
    # BuildKit follows only nodes a result reaches: a stray node with a bad parent breaks nothing.
    cfg = _base_cfg()
    cfg["layers"].append({"blob": "sha256:" + "e" * 64, "parent": 7})
    g = graph_of(tmp_path, cfg, config_bytes=json.dumps(cfg).encode())
    assert "invalid-layer-index" not in codes(g)
    cfg["records"][2]["layers"] = [{"layer": 2}]  # now a result reaches it
    g = graph_of(tmp_path / "reached", cfg, config_bytes=json.dumps(cfg).encode())
    assert "invalid-layer-index" in codes(g)


def test_only_records_on_the_loop_are_looping(tmp_path: Path) -> None:
    cfg = {
        "records": [
            {"digest": "sha256:" + "0" * 64, "inputs": [[{"link": 0}]]},  # links to itself
            {"digest": "sha256:" + "1" * 64, "inputs": [[{"link": 0}]]},  # depends on the loop
            {"digest": "sha256:" + "2" * 64, "inputs": [[{"link": 1}]]},
        ]
    }
    g = graph_of(tmp_path, cfg, config_bytes=json.dumps(cfg).encode())
    loops = [f for f in g.findings if f.code == "looping-record"]
    assert [f.subject for f in loops] == ["0"]
    assert "2 more record(s) depend on the loop" in loops[0].message


def test_go_zero_time_in_either_spelling_is_unknown(tmp_path: Path) -> None:
    from cacheinspect.cache.config import CacheResult

    assert CacheResult(createdAt="0001-01-01T00:00:00Z", createdat="2026-01-01T00:00:00Z").created_at == (
        "2026-01-01T00:00:00Z"
    )
    cfg = {
        "layers": [
            {"blob": "sha256:" + "a" * 64, "parent": -1, "annotations": {"createdAt": "0001-01-01T00:00:00Z"}}
        ],
        "records": [{"digest": "sha256:" + "1" * 64}],
    }
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    assert load_config_file(p).blobs["sha256:" + "a" * 64].created_at is None


def test_a_bare_builder_stage_beside_one_with_layers_is_not_called_min(tmp_path: Path) -> None:
    """BuildKit v0.13's mode=max export after --cache-from sometimes leaves a whole builder stage key-only.

    tests/data/v013-warm-max-bare-builder-stage.config.json is the cache config of such a real export
    (tests/e2e/test_mode_evidence.py's warm max of the threestage case, dockerd 26.1 / BuildKit v0.13, one
    run in about 15): stage 1 has no layer, stage 2 (another builder) and the final stage have theirs. A
    mode=min export has builder layers only when they came from an imported cache, so this shape is a
    partly warm min or such a max, never a proof of min; the cold min exports keep their verdict.
    """
    data = Path(__file__).parent / "data" / "v013-warm-max-bare-builder-stage.config.json"
    g = build_graph(load_config_file(data))
    assert g.mode == "min-or-max"
    assert "mode-min" not in codes(g)
    bare = [r for r in g.records if r.inputs and not r.has_results]
    assert len(bare) == 4  # the shape is still there: the key-only records were not the reason
    for name in ("threestage-min", "threestage-edit-min", "v025-threestage-min", "v025-threestage-edit-min"):
        fix = Path(__file__).resolve().parents[1] / "fixtures" / name
        cache = asyncio.run(load_cache(LayoutSource(fix)))
        assert build_graph(cache).mode == "min", name
