"""Issue 8: ``audit`` passes exactly what BuildKit's importer uses (each case from the issue's list).

Expected outcomes come from BuildKit's Go sources (v0.13 ``cache/remotecache/import.go``,
``v1/parse.go``, ``util/imageutil.DetectManifestBlobMediaType``; Go 1.21 ``encoding/json`` and
``time``) as cited in docs/importer-parity.md, never from cacheinspect's output. Every test runs the
CLI in a subprocess so that it also ran against the code before the fix (where each of them failed).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.gate.build import (
    MT_CACHE,
    MT_MANIFEST,
    T0,
    Layout,
    audit_json,
    chain_config,
    codes,
    inline_image,
    layer_blobs,
    registry_cache,
    sha,
)


def _cache(tmp: Path, mutate: object = None) -> Path:
    lay = Layout(tmp / "l")
    ls = layer_blobs(lay, 2)
    cfg = chain_config([d["digest"] for d in ls])
    if callable(mutate):
        out = mutate(cfg)
        cfg = out if out is not None else cfg
    data = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    return lay.finish(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [*ls, lay.desc(data, MT_CACHE)],
        }
    )


def test_valid_cache_passes(tmp_path: Path) -> None:
    code, doc = audit_json(str(_cache(tmp_path)))
    assert code == 0, doc


@pytest.mark.parametrize(
    "bad_time",
    [
        "2026-1-20T10:00:00Z",  # one-digit month
        "2026-11-20 10:00:00Z",  # space for T
        "2026-11-20T10:00:00",  # no zone
        "2026-11-20T24:00:00Z",  # hour 24
        "2026-02-29T00:00:00Z",  # not a leap year
        "2026-11-20T10:00:00,5Z",  # comma (Go 1.20 refuses)
        "2026-11-20T10:00:00+24:00",  # zone hour out of range (Go 1.20 refuses)
        "2026-11-20t10:00:00Z",  # lower-case t
    ],
)
def test_created_at_not_rfc3339_fails_the_gate(tmp_path: Path, bad_time: str) -> None:
    # time.Time.UnmarshalJSON fails -> json.Unmarshal fails -> BuildKit drops the whole cache
    def bad(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["records"][1]["layers"][0]["createdAt"] = bad_time

    code, doc = audit_json(str(_cache(tmp_path, bad)))
    assert code == 1 and "malformed-content" in codes(doc), doc


@pytest.mark.parametrize(
    "good_time", ["2026-11-20T10:00:00.123456789123Z", "2026-11-20T10:00:00+05:30", "2024-02-29T00:00:00Z"]
)
def test_rfc3339_variants_go_accepts(tmp_path: Path, good_time: str) -> None:
    def ok(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["records"][1]["layers"][0]["createdAt"] = good_time

    assert audit_json(str(_cache(tmp_path, ok)))[0] == 0


def test_keys_in_another_case_are_read_like_go(tmp_path: Path) -> None:
    # Go matches "Records"/"LINK" to the fields; a link out of range there is BuildKit's "invalid record ID"
    def upcase(cfg: dict) -> bytes:  # type: ignore[type-arg]
        cfg["records"][1]["inputs"] = [[{"LINK": 7}]]
        return json.dumps({"Layers": cfg["layers"], "RECORDS": cfg["records"]}).encode()

    code, doc = audit_json(str(_cache(tmp_path, upcase)))
    assert code == 1 and "invalid-record-link" in codes(doc), doc


def test_folding_runes_match_like_go(tmp_path: Path) -> None:
    # encoding/json folds U+017F (long s) onto S and U+212A (Kelvin) onto K: "\u017felector", "lin\u212a"
    def fold(cfg: dict) -> bytes:  # type: ignore[type-arg]
        raw = json.dumps(cfg)
        return raw.replace('"link": 0', '"lin\\u212a": 9').encode()

    code, doc = audit_json(str(_cache(tmp_path, fold)))
    assert code == 1 and "invalid-record-link" in codes(doc), doc


def test_duplicate_keys_merge_like_go(tmp_path: Path) -> None:
    # A repeated "records" decodes again into the same slice: element 1 keeps its bad inputs (link 9)
    # because the second array's element 1 has no "inputs" key. Go: invalid record ID; msgspec alone
    # would keep only the second array and pass.
    def dup(cfg: dict) -> bytes:  # type: ignore[type-arg]
        bad = json.loads(json.dumps(cfg["records"]))
        bad[1]["inputs"] = [[{"link": 9}]]
        second = [{k: v for k, v in r.items() if k != "inputs"} for r in cfg["records"]]
        return (
            '{"layers":'
            + json.dumps(cfg["layers"])
            + ',"records":'
            + json.dumps(bad)
            + ',"records":'
            + json.dumps(second)
            + "}"
        ).encode()

    code, doc = audit_json(str(_cache(tmp_path, dup)))
    assert code == 1 and "invalid-record-link" in codes(doc), doc


def test_sizes_outside_int64_fail(tmp_path: Path) -> None:
    def big(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["layers"].append({"blob": sha(b"stray"), "parent": 2**63})

    code, doc = audit_json(str(_cache(tmp_path, big)))
    assert code == 1 and "malformed-content" in codes(doc), doc


def test_null_into_scalars_is_the_zero_value(tmp_path: Path) -> None:
    # Go leaves a scalar alone on null: "parent": null is parent 0, "link": null is link 0
    def nulls(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["layers"][1]["parent"] = None
        cfg["records"][1]["inputs"][0][0]["link"] = None
        cfg["records"][0]["digest"] = cfg["records"][0]["digest"]

    code, doc = audit_json(str(_cache(tmp_path, nulls)))
    assert code == 0, doc


def test_invalid_utf8_is_replaced_not_refused(tmp_path: Path) -> None:
    def bad_utf8(cfg: dict) -> bytes:  # type: ignore[type-arg]
        cfg["records"][1]["inputs"][0][0]["selector"] = "SEL"
        return json.dumps(cfg).encode().replace(b"SEL", b"\xff\xfe")

    code, doc = audit_json(str(_cache(tmp_path, bad_utf8)))
    assert code == 0, doc


def test_several_cache_configs_the_last_one_counts(tmp_path: Path) -> None:
    # import.go keeps the last cacheconfig descriptor of the index
    lay = Layout(tmp_path / "a")
    ls = layer_blobs(lay, 2)
    good = json.dumps(chain_config([d["digest"] for d in ls])).encode()
    broken = json.dumps(
        {"layers": [], "records": [{"digest": sha(b"x"), "inputs": [[{"link": 5}]]}]}
    ).encode()
    idx = {"schemaVersion": 2, "manifests": [*ls, lay.desc(good, MT_CACHE), lay.desc(broken, MT_CACHE)]}
    code, doc = audit_json(str(lay.finish(idx)))
    assert code == 1 and "invalid-record-link" in codes(doc), doc
    lay = Layout(tmp_path / "b")
    ls = layer_blobs(lay, 2)
    good = json.dumps(chain_config([d["digest"] for d in ls])).encode()
    idx = {"schemaVersion": 2, "manifests": [*ls, lay.desc(broken, MT_CACHE), lay.desc(good, MT_CACHE)]}
    code, doc = audit_json(str(lay.finish(idx)))
    assert code == 0 and "several-cache-configs" in codes(doc), doc


def test_config_descriptor_declaring_over_1mib_fails(tmp_path: Path) -> None:
    # readBlob refuses on desc.Size before reading a byte
    p = registry_cache(tmp_path / "l", config_desc={"size": (1 << 20) + 1})
    code, doc = audit_json(str(p))
    assert code == 1 and "config-over-import-cap" in codes(doc), doc


def test_index_that_also_carries_config_is_ambiguous(tmp_path: Path) -> None:
    # DetectManifestBlobMediaType: "invalid ambiguous manifest and manifest list"
    p = registry_cache(tmp_path / "l")
    idx = json.loads((p / "index.json").read_text())
    root = p / "blobs" / "sha256" / idx["manifests"][0]["digest"][7:]
    body = json.loads(root.read_bytes())
    body["config"] = {"mediaType": MT_CACHE, "digest": sha(b"none"), "size": 1}
    lay = Layout(tmp_path / "m")
    for b in (p / "blobs" / "sha256").iterdir():
        lay.put(b.read_bytes())
    code, doc = audit_json(str(lay.finish(body)))
    assert code == 1 and "malformed-content" in codes(doc), doc


def test_media_type_contradicting_the_body_fails(tmp_path: Path) -> None:
    p = registry_cache(tmp_path / "l", mediaType=MT_MANIFEST)
    code, doc = audit_json(str(p))
    assert code == 1 and "malformed-content" in codes(doc), doc


def test_inline_layer_count_differing_from_diff_ids_is_ignored(tmp_path: Path) -> None:
    # "invalid image with mismatching manifest and config": BuildKit skips that image's cache
    code, doc = audit_json(str(inline_image(tmp_path / "l", diff_ids=1)))
    assert code == 1 and codes(doc) == ["not-a-cache"], doc
    assert "rootfs.diff_ids" in doc["results"][0]["findings"][0]["message"]


def test_inline_history_created_not_a_time_fails(tmp_path: Path) -> None:
    hist = [{"created": "last tuesday", "created_by": "RUN a"}, {"created": T0, "created_by": "RUN b"}]
    code, doc = audit_json(str(inline_image(tmp_path / "l", history=hist)))
    assert code == 1 and "malformed-content" in codes(doc), doc


def test_inline_history_shorter_than_layers_fails(tmp_path: Path) -> None:
    # parseCreatedLayerInfo: one date per non-empty history entry, indexed by layer -> out of range
    hist = [
        {"created": T0, "created_by": "RUN a"},
        {"created": T0, "created_by": "ENV x", "empty_layer": True},
    ]
    code, doc = audit_json(str(inline_image(tmp_path / "l", history=hist)))
    assert code == 1 and "inline-history-short" in codes(doc), doc


@pytest.mark.parametrize("style", ["excess", "nopad", "urlsafe", "empty"])
def test_inline_base64_is_go_std_encoding(tmp_path: Path, style: str) -> None:
    lay_dir = tmp_path / "probe"
    inline_image(lay_dir)  # for the records of a valid cache
    raw = None
    for b in (lay_dir / "blobs" / "sha256").iterdir():
        try:
            j = json.loads(b.read_bytes())
        except ValueError:
            continue
        if isinstance(j, dict) and "moby.buildkit.cache.v0" in j:
            raw = base64.b64decode(j["moby.buildkit.cache.v0"])
    assert raw is not None
    s = base64.b64encode(raw + b" " * (3 - len(raw) % 3 if len(raw) % 3 else 1)).decode()
    assert s.endswith("=")
    value = {
        "excess": s + "==",
        "nopad": s.rstrip("="),
        "urlsafe": s.replace("+", "-").replace("/", "_") + ("" if "+" in s or "/" in s else "-AAA"),
        "empty": "",
    }[style]
    code, doc = audit_json(str(inline_image(tmp_path / "l", cache_value=value)))
    assert code == 1 and "malformed-content" in codes(doc), doc


def test_broken_attestation_manifest_fails_the_import(tmp_path: Path) -> None:
    # allDistributionManifests reads every index entry, attestations included
    code, doc = audit_json(str(inline_image(tmp_path / "l", attestation=b'{"schemaVersion":2,"config":')))
    assert code == 1 and "malformed-content" in codes(doc), doc
    assert audit_json(str(inline_image(tmp_path / "ok", attestation=b'{"schemaVersion":2}')))[0] == 0


def test_missing_blob_ends_the_chain_walk(tmp_path: Path) -> None:
    # getRemoteChain returns nil at a blob the manifest lacks without reading its parent, so a bad
    # parent below it is never reached: the result is dropped silently (a warning), the cache is used.
    lay = Layout(tmp_path / "l")
    ls = layer_blobs(lay, 2)
    cfg = chain_config([d["digest"] for d in ls])
    cfg["layers"].append({"blob": sha(b"not listed"), "parent": 99})
    cfg["records"].append(
        {"digest": sha(b"s9@0"), "inputs": [[{"link": 0}]], "layers": [{"layer": 2, "createdAt": T0}]}
    )
    idx = {"schemaVersion": 2, "manifests": [*ls, lay.desc(cfg, MT_CACHE)]}
    code, doc = audit_json(str(lay.finish(idx)))
    assert code == 0, doc
    assert "layer-blob-not-in-manifest" in codes(doc)


def test_empty_string_inline_cache_is_not_no_cache(tmp_path: Path) -> None:
    # "" decodes to an empty, non-nil []byte: json.Unmarshal of nothing fails the import
    code, doc = audit_json(str(inline_image(tmp_path / "l", cache_value="")))
    assert code == 1 and "malformed-content" in codes(doc), doc
