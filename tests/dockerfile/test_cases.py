"""Golden Dockerfiles: every ``cases/NAME.Dockerfile`` parsed and resolved, compared with ``NAME.json``.

The expectations were written by hand from BuildKit's source (``frontend/dockerfile/parser``,
``instructions/parse.go``, ``dockerfile2llb/convert.go``) and docs, not generated. An expectation lists
only what it checks: dict keys are compared recursively, lists element by element (same length).
Keys: ``dialect``, ``build_args``, ``target``, ``platform`` (inputs); ``error`` ({line, message}: the
BuildKit message after ``Dockerfile:LINE: ``); ``directives``, ``escape``, ``nodes``, ``warnings``
(lines); ``stages``, ``target_stage``, ``needed`` (stage indexes), ``global_args``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cacheinspect.dockerfile import DockerfileError, Stage, parse_dockerfile, resolve

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.stem for p in CASES.glob("*.Dockerfile"))


def _plain(value: Any, expected: Any = None) -> Any:
    if isinstance(value, Stage) and not isinstance(expected, dict):
        return value.index  # a reference to a stage is compared by index
    if isinstance(value, msgspec.Struct):
        return {name: getattr(value, name) for name in value.__struct_fields__}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)  # Instr.env/vars/args_in_scope are read-only snapshots
    return value


def _match(expected: Any, actual: Any, where: str) -> None:
    actual = _plain(actual, expected)
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for key, exp in expected.items():
            assert key in actual, f"{where}: no field {key!r} in {sorted(actual)}"
            _match(exp, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        actual = list(actual)
        assert len(actual) == len(expected), (
            f"{where}: {len(actual)} items, expected {len(expected)}: {actual!r}"
        )
        for i, (exp, act) in enumerate(zip(expected, actual, strict=True)):
            _match(exp, act, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_there_are_enough_cases() -> None:
    assert len(NAMES) >= 40


@pytest.mark.parametrize("name", NAMES)
def test_case(name: str) -> None:
    text = (CASES / f"{name}.Dockerfile").read_bytes()
    exp: dict[str, Any] = json.loads((CASES / f"{name}.json").read_text())
    dialect = exp.get("dialect", "latest")
    if "error" in exp:

        def run() -> None:
            df = parse_dockerfile(text, dialect=dialect)
            resolve(
                df,
                build_args=exp.get("build_args"),
                target=exp.get("target"),
                platform=exp.get("platform", "linux/amd64"),
            )

        with pytest.raises(DockerfileError) as info:
            run()
        assert info.value.reason == exp["error"]["message"]
        assert info.value.line == exp["error"]["line"]
        assert str(info.value).startswith("Dockerfile")
        return
    df = parse_dockerfile(text, dialect=dialect)
    for key in ("directives", "escape"):
        if key in exp:
            _match(exp[key], getattr(df, key), key)
    if "nodes" in exp:
        _match(exp["nodes"], df.nodes, "nodes")
    if "warnings" in exp:
        assert [w.line for w in df.warnings] == exp["warnings"]
    build = resolve(
        df,
        build_args=exp.get("build_args"),
        target=exp.get("target"),
        platform=exp.get("platform", "linux/amd64"),
    )
    if "stages" in exp:
        _match(exp["stages"], build.stages, "stages")
    if "target_stage" in exp:
        assert build.target.index == exp["target_stage"]
    if "needed" in exp:
        assert [s.index for s in build.needed] == exp["needed"]
    if "global_args" in exp:
        _match(exp["global_args"], build.global_args, "global_args")
