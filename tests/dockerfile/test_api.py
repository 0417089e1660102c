"""The public names of ``cacheinspect.dockerfile`` (build/notes/DOCKERFILE-API.md) and their contracts."""

from __future__ import annotations

import pytest

import cacheinspect.dockerfile as dockerfile
from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve
from cacheinspect.errors import EXIT_USAGE, UsageError

CONTRACT = {
    "DockerfileError",
    "parse_dockerfile",
    "resolve",
    "parse_mount",
    "Dockerfile",
    "Node",
    "Heredoc",
    "Flag",
    "Build",
    "Stage",
    "Instr",
    "Mount",
    "CopySource",
}


def test_exports_match_the_contract() -> None:
    assert set(dockerfile.__all__) == CONTRACT
    for name in CONTRACT:
        assert getattr(dockerfile, name) is not None


def test_error_is_a_usage_error_with_location() -> None:
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile("FROM scratch\nCOPY --nope a b\n", filename="build/Dockerfile.ci")
    e = info.value
    assert isinstance(e, UsageError)
    assert e.exit_code == EXIT_USAGE
    assert (e.file, e.line, e.column) == ("build/Dockerfile.ci", 2, 6)
    assert str(e) == "build/Dockerfile.ci:2: unknown flag: --nope"
    assert e.diagnostics() == str(e)


def test_bytes_and_text_give_the_same_result() -> None:
    text = "FROM scratch AS a\nENV X=é\n"
    assert parse_dockerfile(text).nodes == parse_dockerfile(text.encode()).nodes


def test_empty_input_is_rejected() -> None:
    for empty in ("", b""):
        with pytest.raises(DockerfileError, match="the Dockerfile cannot be empty"):
            parse_dockerfile(empty)


def test_unknown_dialect() -> None:
    with pytest.raises(DockerfileError, match="unknown dialect"):
        parse_dockerfile("FROM scratch\n", dialect="v0.9")


def test_instr_state_is_before_the_instruction() -> None:
    build = resolve(parse_dockerfile("FROM scratch\nENV A=1\nWORKDIR /w\nUSER u\nRUN true\n"))
    env, wd, user, run = build.target.instrs
    assert env.env == {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    assert (wd.workdir, user.workdir, run.workdir) == ("/", "/w", "/w")
    assert (user.user, run.user) == ("", "u")
    assert run.env["A"] == "1"
    assert build.target.env["A"] == "1" and build.target.workdir == "/w" and build.target.user == "u"


def test_stage_lookup() -> None:
    build = resolve(parse_dockerfile("FROM scratch AS One\nFROM scratch\n"))
    assert build.stage("ONE") is build.stages[0]
    assert build.stage(1) is build.target
    assert build.needed == [build.target]
