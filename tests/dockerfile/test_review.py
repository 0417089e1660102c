"""Regressions from the adversarial review (11/2026): inputs real projects have, or a generator can
produce, that crashed or were refused although BuildKit builds them.

Expectations come from BuildKit's behaviour: ``dockerfile2llb/convert.go`` takes a stage's ENV and
WORKDIR from the base image's config (which a pure front end cannot see), and Go's recursion has no
practical depth limit.
"""

from __future__ import annotations

import pytest

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve


def _resolve(text: str) -> object:
    return resolve(parse_dockerfile(text))


# --- deep structures: located errors or success, never RecursionError --------------------------------


def test_three_thousand_chained_stages_resolve() -> None:
    # a generated Dockerfile: every stage copies from the one before (allReachableStages recursion)
    text = "FROM busybox AS s0\n" + "".join(
        f"FROM busybox AS s{i}\nCOPY --from=s{i - 1} /x /x\n" for i in range(1, 3000)
    )
    build = resolve(parse_dockerfile(text))
    assert len(build.needed) == 3000


def test_cycle_in_a_long_chain_is_still_found() -> None:
    text = "FROM busybox AS s0\nCOPY --from=s1999 /x /x\n" + "".join(
        f"FROM busybox AS s{i}\nCOPY --from=s{i - 1} /x /x\n" for i in range(1, 2000)
    )
    with pytest.raises(DockerfileError, match="circular dependency detected on stage: s0"):
        _resolve(text)


def test_deeply_nested_expansion_is_a_located_error() -> None:
    text = "FROM busybox\nENV A=" + "${X:-" * 2000 + "y" + "}" * 2000 + "\n"
    with pytest.raises(DockerfileError) as e:
        _resolve(text)
    assert e.value.line == 2
    assert "nested too deeply" in str(e.value)


def test_moderately_nested_expansion_still_expands() -> None:
    text = "FROM busybox\nENV A=" + "${X:-" * 50 + "y" + "}" * 50 + "\n"
    build = resolve(parse_dockerfile(text))
    assert build.target.instrs[0].values == [("A", "y")]


# --- the base image's config is unknown: no error BuildKit would not raise ---------------------------


def test_workdir_from_image_env_is_not_an_error() -> None:
    # jupyter/docker-stacks base-notebook: HOME comes from the base image's ENV
    build = resolve(parse_dockerfile('FROM jupyter/docker-stacks-foundation\nUSER 1000\nWORKDIR "${HOME}"\n'))
    assert build.target.instrs[-1].keyword == "WORKDIR"


def test_empty_workdir_keeps_the_current_one() -> None:
    # util/system/path.go NormalizePath: "New workdir is empty. Use the current workdir" — the test
    # bed's BuildKit v0.13 builds FROM busybox + WORKDIR $NOPE + RUN pwd and prints "/"
    for dialect in ("latest", "v0.13"):
        build = resolve(
            parse_dockerfile(
                'FROM scratch\nWORKDIR /a\nWORKDIR "${HOME}"\nWORKDIR ""\nRUN true\n', dialect=dialect
            )
        )
        assert build.target.instrs[-1].workdir == "/a"


def test_empty_workdir_from_image_env_makes_the_workdir_unknown() -> None:
    # with HOME from the image, target=. is under that unknown WORKDIR, so "/" is not refused
    _resolve('FROM python:3.12\nWORKDIR "${HOME}"\nRUN --mount=type=bind,target=. true\n')
    with pytest.raises(DockerfileError, match='invalid mount target "/"'):
        _resolve('FROM scratch\nWORKDIR "${HOME}"\nRUN --mount=type=bind,target=. true\n')


def test_relative_mount_target_against_image_workdir_is_not_an_error() -> None:
    # crazy-max/diun hack/docs.Dockerfile: the mkdocs image's WORKDIR is /docs, so target=. is /docs
    build = _resolve("FROM squidfunk/mkdocs-material AS base\nRUN --mount=type=bind,target=. mkdocs build\n")
    assert build.target.instrs[0].mounts[0].type == "bind"  # type: ignore[attr-defined]


def test_relative_mount_target_on_root_workdir_is_an_error() -> None:
    # convert_runmount.go: a target that resolves to "/" is refused — when the WORKDIR is known
    for text in (
        "FROM scratch\nRUN --mount=type=bind,target=. true\n",
        "FROM busybox\nWORKDIR /\nRUN --mount=type=bind,target=. true\n",
        "FROM busybox\nRUN --mount=type=bind,target=/ true\n",
    ):
        with pytest.raises(DockerfileError, match='invalid mount target "/"'):
            _resolve(text)


def test_volume_from_image_env_is_not_an_error() -> None:
    build = _resolve("FROM postgres\nVOLUME $PGDATA\n")
    assert build.target.instrs[0].keyword == "VOLUME"
    with pytest.raises(DockerfileError, match="VOLUME specified can not be an empty string"):
        _resolve("FROM scratch\nVOLUME $PGDATA\n")
