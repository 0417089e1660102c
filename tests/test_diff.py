"""diff semantics: BuildKit's OR-alternatives matching, and what a second host had to run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.cache.diff import diff_report
from cacheinspect.cache.graph import CacheGraph, build_graph
from cacheinspect.cache.load import load_config_file

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def _d(c: str) -> str:
    return "sha256:" + c * 64


def graph(tmp: Path, name: str, cfg: dict[str, Any]) -> CacheGraph:
    p = tmp / f"{name}.json"
    p.write_text(json.dumps(cfg))
    return build_graph(load_config_file(p))


def base_cfg(manifest_key: str) -> dict[str, Any]:
    # records: 0 = base image manifest key, 1 = ChainID key, 2 = COPY on that base, 3 = next step
    return {
        "layers": [{"blob": _d("a"), "parent": -1}, {"blob": _d("b"), "parent": 0}],
        "records": [
            {"digest": manifest_key},
            {"digest": _d("c")},
            {"digest": _d("2"), "layers": [{"layer": 0}], "inputs": [[{"link": 0}, {"link": 1}]]},
            {"digest": _d("3"), "layers": [{"layer": 1}], "inputs": [[{"link": 2}]]},
        ],
    }


def test_alternatives_are_or_one_shared_base_key_is_a_hit(tmp_path: Path) -> None:
    # Only the manifest key of the base image differs; the ChainID key is shared, so BuildKit hits.
    a = graph(tmp_path, "a", base_cfg(_d("1")))
    b = graph(tmp_path, "b", base_cfg(_d("9")))
    d = diff_report(a, b)
    assert d["divergences"] == []
    assert d["records"]["only_in_b"] == 1  # just the new root
    # with both base keys different it is a base-image change at the first step
    cfg = base_cfg(_d("9"))
    cfg["records"][1]["digest"] = _d("8")
    (div,) = diff_report(a, graph(tmp_path, "b2", cfg))["divergences"]
    assert div["cause"] == "base-image-changed"
    assert [x["record"] for x in div["downstream"]] == [_d("3")]


@pytest.mark.parametrize(
    ("a", "b"), [("threestage-min", "threestage-edit-min"), ("threestage-max", "threestage-edit-max")]
)
def test_reported_runs_equal_the_build_log(a: str, b: str) -> None:
    """B = the rebuild after an edit, from A's cache: every step the log shows as RAN is reported, once."""
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    ga = build_graph(asyncio.run(load_cache(LayoutSource(FIX / a))))
    gb = build_graph(asyncio.run(load_cache(LayoutSource(FIX / b))))
    d = diff_report(ga, gb)
    reported = [
        x["record"] for div in d["divergences"] for x in [{"record": div["record"]}, *div["downstream"]]
    ]
    ran = [s for s in json.loads((FIX / b / "case.json").read_text())["steps"] if s["status"] == "RAN"]
    assert len(reported) == len(set(reported)) == len(ran)
    causes = [div["cause"] for div in d["divergences"]]
    assert "context-changed" in causes  # the edited file
    if a.endswith("-min"):  # builder stages had to run: A holds only their keys
        assert causes[0] == "results-missing"


def test_a_cache_against_itself_has_no_difference(tmp_path: Path) -> None:
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    g = build_graph(asyncio.run(load_cache(LayoutSource(FIX / "threestage-max"))))
    d = diff_report(g, g)
    assert not d["different"]
    assert d["divergences"] == []
    assert d["records"]["only_in_a"] == d["records"]["only_in_b"] == 0


def test_repeated_records_match_through_one_representative(tmp_path: Path) -> None:
    """A config repeating the same records (the 1M-empty-records case) must not give every record of B
    a set of every twin in A: that was n^2 memory (23 GB at 1M). Twins of one identity hit together."""
    from cacheinspect.cache.diff import match_records

    n = 2000
    recs: list[dict[str, Any]] = [{"digest": _d("1")} for _ in range(n)]
    recs += [{"digest": _d("2"), "inputs": [[{"link": i}]]} for i in range(n)]
    a = graph(tmp_path, "a", {"records": recs})
    b = graph(tmp_path, "b", {"records": recs})
    m = match_records(a, b)
    assert all(len(s) == 1 for s in m)  # one representative of each identity
    assert len({next(iter(s)) for s in m}) == 2  # two identities: the root and the step on it
    report = diff_report(a, b)
    assert report["records"]["only_in_b"] == 0
    assert report["divergences"] == []
    assert report["different"] is False


# -- what changed: the step's own definition or an input (issue 16, deliverable 3) ---------------------
def _layout_graph(name: str) -> CacheGraph:
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    return build_graph(asyncio.run(load_cache(LayoutSource(FIX / name))))


def _fixture_fingerprint(name: str) -> dict[str, Any]:
    """The ``ops`` evidence host *name* would have published: its Dockerfile, build args and network from
    the fixture's recorded build command (testbed/make-fixtures.sh), the base config from its image."""
    from cacheinspect.context.check import step_evidence
    from cacheinspect.dockerfile import parse_dockerfile, resolve
    from cacheinspect.dockerfile.model import BaseImage
    from cacheinspect.dockerfile.stepkeys import BuildOptions, step_keys
    from tests.context.test_stepkeys_fixtures import _build_cmd, _case, _flags, _image_env

    case = _case(name)
    bargs, network, _ = _flags(_build_cmd(case))
    build = resolve(parse_dockerfile(case["dockerfile"].encode()), build_args=bargs)
    images = {st.base: BaseImage(env=_image_env(name)) for st in build.stages if st.base != "scratch"}
    keys = step_keys(build, BuildOptions(network=network, images=images, build_args=bargs))
    return {"ops": step_evidence(keys)}


def test_a_changed_build_arg_is_the_step_definition_and_names_the_field() -> None:
    """crosshost-b-buildarg = crosshost-a-busybox built with --build-arg FLAVOR=fancy (A: the default
    plain): the RUN consuming FLAVOR has a new key; the COPY after it keeps its own key, its parent ran."""
    a, b = _layout_graph("crosshost-a-busybox"), _layout_graph("crosshost-b-buildarg")
    (div,) = diff_report(a, b)["divergences"]
    assert div["step"].startswith("RUN ")
    assert div["cause"] == "definition-changed"
    assert div["change"] == "definition"
    assert div["fields"] == []  # no fingerprints: the field cannot be named
    (down,) = div["downstream"]
    assert down["step"] == "COPY data/ /data/"
    assert down["change"] == "input"
    fa, fb = _fixture_fingerprint("crosshost-a-busybox"), _fixture_fingerprint("crosshost-b-buildarg")
    (div,) = diff_report(a, b, fingerprint_a=fa, fingerprint_b=fb)["divergences"]
    assert div["fields"] == ["env FLAVOR=fancy in B, plain in A"]
    assert div["downstream"][0]["change"] == "input" and div["downstream"][0]["fields"] == []


def test_a_changed_file_mode_is_an_input_change() -> None:
    """crosshost-b-mode = crosshost-a with app.conf chmod 600: every step keeps its own key; the first
    COPY's content root changed, the two COPYs after it ran because their parent did."""
    a, b = _layout_graph("crosshost-a"), _layout_graph("crosshost-b-mode")
    fa, fb = _fixture_fingerprint("crosshost-a"), _fixture_fingerprint("crosshost-b-mode")
    (div,) = diff_report(a, b, fingerprint_a=fa, fingerprint_b=fb)["divergences"]
    assert div["step"] == "COPY app.conf /etc/app.conf"
    assert div["cause"] == "context-changed"
    assert div["change"] == "input"
    assert div["fields"] == []
    assert [(x["step"], x["change"]) for x in div["downstream"]] == [
        ("COPY data/ /data/", "input"),
        ("COPY VERSION /VERSION", "input"),
    ]


def test_one_fingerprint_or_a_lean_one_names_no_field_and_says_why() -> None:
    a, b = _layout_graph("crosshost-a-busybox"), _layout_graph("crosshost-b-buildarg")
    fa = _fixture_fingerprint("crosshost-a-busybox")
    (div,) = diff_report(a, b, fingerprint_a=fa)["divergences"]
    assert div["fields"] == [] and "fingerprint of B has no step definitions" in div["detail"]
    lean = {"ops": [{k: v for k, v in o.items() if k != "cachemap"} for o in fa["ops"]]}
    fb = _fixture_fingerprint("crosshost-b-buildarg")
    (div,) = diff_report(a, b, fingerprint_a=lean, fingerprint_b=fb)["divergences"]
    assert div["change"] == "definition" and div["fields"] == []
    # hostile evidence: wrong types everywhere name nothing, and never fail
    junk = {"ops": [1, "x", {"digest": "no"}, {"digest": {"v0.13": 5}, "cachemap": 7}, None]}
    (div,) = diff_report(a, b, fingerprint_a=junk, fingerprint_b=junk)["divergences"]
    assert div["change"] == "definition" and div["fields"] == []


def test_a_second_definition_change_below_the_first_is_named_in_the_downstream() -> None:
    """A synthetic chain: B changes step 2's own key (the origin) and step 3's own key too; step 4 keeps
    its key. Step 3 is downstream, but its own definition changed as well: it says so."""
    import tempfile

    a_cfg: dict[str, Any] = {
        "records": [
            {"digest": _d("1")},
            {"digest": _d("2"), "inputs": [[{"link": 0}]]},
            {"digest": _d("3"), "inputs": [[{"link": 1}]]},
            {"digest": _d("4"), "inputs": [[{"link": 2}]]},
        ]
    }
    b_cfg = json.loads(json.dumps(a_cfg))
    b_cfg["records"][1]["digest"] = _d("5")
    b_cfg["records"][2]["digest"] = _d("6")
    with tempfile.TemporaryDirectory() as t:
        (div,) = diff_report(graph(Path(t), "a", a_cfg), graph(Path(t), "b", b_cfg))["divergences"]
    assert (div["record"], div["change"]) == (_d("5"), "definition")
    assert [(x["record"], x["change"]) for x in div["downstream"]] == [
        (_d("6"), "definition"),
        (_d("4"), "input"),
    ]


def test_same_key_on_another_parent_is_an_input_change(tmp_path: Path) -> None:
    """A has the step's own key, but on a parent B does not have there (B's parent matched elsewhere in
    A): the step's definition is unchanged, an input is."""
    a_cfg: dict[str, Any] = {
        "layers": [{"blob": _d("a"), "parent": -1}],
        "records": [
            {"digest": _d("1")},
            {"digest": _d("2"), "inputs": [[{"link": 0}]]},
            {"digest": _d("7"), "layers": [{"layer": 0}], "inputs": [[{"link": 0}]]},
            {"digest": _d("3"), "inputs": [[{"link": 1}]]},
        ],
    }
    b_cfg: dict[str, Any] = {
        "records": [
            {"digest": _d("1")},
            {"digest": _d("7"), "inputs": [[{"link": 0}]]},
            {"digest": _d("3"), "inputs": [[{"link": 1}]]},
        ]
    }
    (div,) = diff_report(graph(tmp_path, "a", a_cfg), graph(tmp_path, "b", b_cfg))["divergences"]
    assert (div["record"], div["cause"], div["change"]) == (_d("3"), "input-changed", "input")


def test_cli_reads_both_fingerprints_and_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cacheinspect.cli import main

    paths = []
    for name in ("crosshost-a-busybox", "crosshost-b-buildarg"):
        doc = {"schema": "cacheinspect.context-fingerprint/v1", "files": {}, "steps": []}
        p = tmp_path / f"{name}.fp.json"
        p.write_text(json.dumps(doc | _fixture_fingerprint(name)))
        paths.append(str(p))
    a, b = str(FIX / "crosshost-a-busybox"), str(FIX / "crosshost-b-buildarg")
    with pytest.raises(SystemExit) as e:
        main(["diff", a, b, "--fingerprint-a", paths[0], "--fingerprint-b", paths[1]])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert "changed: its own definition" in out
    assert "field: env FLAVOR=fancy in B, plain in A" in out
    with pytest.raises(SystemExit) as e:
        main(["diff", a, b, "--fingerprint-a", str(tmp_path / "nope.json")])
    err = capsys.readouterr().err
    assert e.value.code not in (0, 1, 70)
    assert err.startswith("error: ") and "nope.json" in err and "Traceback" not in err
