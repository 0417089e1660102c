"""`cacheinspect lint` as a process: files, stdin, formats, --fail-on, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.lint.rules import RULES

SEED = "FROM python:3.10\nRUN --mount=type=cache,target=/pip-packages \\\n    pip install --target=/pip-packages uwsgi\n"
INFO_ONLY = "FROM python:3.12\nRUN pip install flask\n"
CLEAN = "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n"


def run(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=60,
        cwd=cwd,
    )


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_default_file_is_dockerfile(tmp_path: Path) -> None:
    write(tmp_path, "Dockerfile", SEED)
    p = run(cwd=tmp_path)
    assert p.returncode == 1
    out = p.stdout.decode()
    assert out.startswith("Dockerfile:3:26: CM001 error output-in-cache-mount\n")
    assert out.endswith("1 finding (1 error) in 1 file\n")


def test_stdin(tmp_path: Path) -> None:
    p = run("-", "-f", "json", stdin=SEED.encode())
    doc = json.loads(p.stdout)
    assert doc["files"][0]["file"] == "<stdin>"
    assert p.returncode == 1


@pytest.mark.parametrize(
    ("text", "fail_on", "code"),
    [
        (SEED, "error", 1),
        (SEED, "never", 0),
        (INFO_ONLY, "warning", 0),
        (INFO_ONLY, "info", 1),
        (CLEAN, "info", 0),
    ],
)
def test_fail_on(tmp_path: Path, text: str, fail_on: str, code: int) -> None:
    f = write(tmp_path, "Dockerfile", text)
    assert run(str(f), "--fail-on", fail_on).returncode == code


def test_json_schema_is_exactly_v1(tmp_path: Path) -> None:
    a = write(tmp_path, "a.Dockerfile", SEED)
    b = write(tmp_path, "b.Dockerfile", CLEAN)
    doc = json.loads(run(str(a), str(b), "-f", "json").stdout)
    assert set(doc) == {"schema", "files"}
    assert doc["schema"] == "cacheinspect.lint/v1"
    assert [set(f) for f in doc["files"]] == [{"file", "findings"}] * 2
    assert doc["files"][1]["findings"] == []
    (finding,) = doc["files"][0]["findings"]
    assert set(finding) == {"code", "severity", "line", "column", "instruction", "message", "fix"}
    assert (finding["code"], finding["severity"], finding["line"]) == ("CM001", "error", 3)


def test_github_annotations(tmp_path: Path) -> None:
    f = write(tmp_path, "Dockerfile", SEED)
    line = run(str(f), "-f", "github").stdout.decode().splitlines()[0]
    assert line.startswith(f"::error file={f},line=3,col=26,title=CM001 output-in-cache-mount::")
    assert "\n" not in line


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"FROM scratch\nRUN <<EOF\necho never ends\n", ":2: unterminated heredoc"),
        (b"FROM scratch\nCOPY --frm=x a b\n", ":2: unknown flag: --frm"),
        (b"FROM scratch\n\x00\x01\x02binary", ":2: binary file"),
        (b"RUN echo before any FROM\n", ":1:"),
    ],
)
def test_bad_input_is_one_line_with_location_and_exit_2(tmp_path: Path, content: bytes, needle: str) -> None:
    f = write(tmp_path, "Dockerfile", content)
    p = run(str(f))
    err = p.stderr.decode()
    assert p.returncode == 2
    assert err.startswith(f"error: {f}") and needle in err, err
    assert err.count("\n") == 1, err


def test_unreadable_and_missing(tmp_path: Path) -> None:
    p = run(str(tmp_path / "nope"))
    assert p.returncode == 2
    assert (
        p.stderr.decode()
        == f"error: cannot read Dockerfile {str(tmp_path / 'nope')!r}: No such file or directory\n"
    )
    p = run(str(tmp_path))
    assert p.returncode == 2 and "is a directory" in p.stderr.decode()


def test_a_finding_never_hides_a_parse_error(tmp_path: Path) -> None:
    good = write(tmp_path, "a.Dockerfile", SEED)
    bad = write(tmp_path, "b.Dockerfile", "FROM scratch\nRUN --mount=type=cache,target=/x,bogus=1 true\n")
    p = run(str(good), str(bad), "-f", "json")
    assert p.returncode == 2
    assert json.loads(p.stdout)["files"][0]["findings"][0]["code"] == "CM001"
    assert p.stderr.decode().startswith(f"error: {bad}:2:")


def test_build_arg_and_target(tmp_path: Path) -> None:
    text = "FROM python:3.12 AS a\nARG PIP_NO_CACHE_DIR\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\nFROM a AS b\n"
    f = write(tmp_path, "Dockerfile", text)
    assert run(str(f)).returncode == 0
    p = run(str(f), "--build-arg", "PIP_NO_CACHE_DIR=1", "--target", "b", "-f", "json")
    assert [x["code"] for x in json.loads(p.stdout)["files"][0]["findings"]] == ["CM003"]
    assert run(str(f), "--target", "nope").returncode == 2


def test_help_lists_every_rule() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", "--help"], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0
    flat = " ".join(p.stdout.split())
    for rule in RULES:
        assert f"{rule.code} {rule.name} ({rule.severity})" in flat
