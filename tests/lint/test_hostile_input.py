"""`cacheinspect lint` against hostile input (issue 17): every bad input is one `error:` line with a
documented exit code, never exit 70; every output format is parseable and escaped. The control-character
escape test guards what already held; every other test here failed before its fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile

FORMATS = ("table", "json", "sarif", "github")
# what a terminal acts on: C0 except \t \n, DEL, C1, bidi overrides/isolates, U+2028/9
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def lint(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", *args],
        input=stdin,
        capture_output=True,
        timeout=120,  # a hang is the failure this guards against, not a speed bound
        cwd=cwd,
    )


# -- invalid UTF-8 and control characters reach every format escaped ---------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_utf8_in_an_instruction_with_a_finding(tmp_path: Path, fmt: str) -> None:
    # CM009 (pip install without a cache mount) fires on this RUN; its `instruction` holds the bytes
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.12\nRUN pip install \xff\xfe flask\n")
    p = lint("-f", fmt, "--fail-on", "never", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode("utf-8")  # valid UTF-8, whatever the input held
    assert not RAW_CONTROL.search(out)
    if fmt == "json":
        findings = json.loads(out)["files"][0]["findings"]
        assert findings and findings[0]["instruction"] == "RUN pip install \ufffd\ufffd flask"
    if fmt == "sarif":
        results = json.loads(out)["runs"][0]["results"]
        assert results and results[0]["properties"]["instruction"] == "RUN pip install \ufffd\ufffd flask"


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_in_names_and_paths_are_escaped(tmp_path: Path, fmt: str) -> None:
    # a file name and a cache path holding ESC/OSC, a C1 CSI, a bidi override and U+2028
    evil = "\x1b]0;pwned\x07\x9b31m\u202e\u2028"
    name = f"Dockerfile{evil}"
    (tmp_path / name).write_text(
        f"FROM python:3.12\nRUN --mount=type=cache,target=/pip{evil} pip install --target=/pip{evil} uwsgi\n"
    )
    p = lint("-f", fmt, "--fail-on", "never", name, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode("utf-8")
    assert "pip" in out and not RAW_CONTROL.search(out), out
    if fmt in ("json", "sarif"):
        json.loads(out)  # escapes keep it a JSON document with the same values


def test_errors_about_several_files_are_escaped(tmp_path: Path) -> None:
    p = lint("nope\x1b[2J", "also\x1b[2Jmissing", cwd=tmp_path)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert err.count("error: ") == 2 and "\x1b" not in err and "\\x1b[2J" in err


# -- deep JSON forms ---------------------------------------------------------------------------------


def test_deeply_nested_json_form_is_not_a_string_array() -> None:
    # valid JSON 5,000 levels deep: encoding/json decodes it (its cap is 10,000), and BuildKit then
    # refuses the non-string element; Python's recursive decoder raised RecursionError (exit 70)
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(DockerfileError, match="arrays must be comprised of strings only"):
        parse_dockerfile(f'FROM alpine\nCOPY ["a", {deep}]\n')


def test_json_form_deeper_than_go_allows_is_the_shell_form() -> None:
    # past encoding/json's 10,000 levels ("exceeded max depth") the line is not JSON: BuildKit takes
    # the shell form, two words here
    deep = "[" * 12000 + "]" * 12000
    df = parse_dockerfile(f"FROM alpine\nCOPY {deep} /dst\n")
    assert df.nodes[1].json_form is False and df.nodes[1].args == [deep, "/dst"]


def test_unterminated_deep_json_form_is_the_shell_form() -> None:
    df = parse_dockerfile("FROM alpine\nCMD " + "[" * 3000 + "\n")
    assert df.nodes[1].json_form is False and df.nodes[1].args == ["[" * 3000]


@pytest.mark.parametrize(
    "rest",
    ['["a", 1]', '["a", {"b": [true, null, -1.5e3]}]', '["a", ["\\u00e9", "x\\"y"]]'],
)
def test_json_validator_agrees_with_the_decoder(rest: str) -> None:
    from cacheinspect.dockerfile.parser import _json_value_end

    assert _json_value_end(rest) == len(rest)
    json.loads(rest)


@pytest.mark.parametrize("rest", ["[1,]", "[01]", '{"a":1,}', "[,1]", '["\\u12"]', "[NaN]", '["a"'])
def test_json_validator_refuses_what_the_decoder_refuses(rest: str) -> None:
    from cacheinspect.dockerfile.parser import _json_value_end

    assert _json_value_end(rest) is None
    from cacheinspect.dockerfile.parser import _DECODER

    with pytest.raises(ValueError, match=r"\w"):
        _DECODER.decode(rest)


# -- reads are bounded, writes fail cleanly -----------------------------------------------------------


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Dockerfile")
    p = lint(cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.decode().count("\n") == 1 and "is a FIFO" in p.stderr.decode()


def test_a_link_to_dev_zero_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").symlink_to("/dev/zero")
    p = lint(cwd=tmp_path)
    assert p.returncode == 2 and "is a device" in p.stderr.decode()


def test_stdin_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cacheinspect import safeio
    from cacheinspect.cli import main

    monkeypatch.setattr(safeio, "DEFAULT_MAX_INPUT_BYTES", 64)

    class _Stdin:
        buffer = __import__("io").BytesIO(b"FROM alpine\n" + b"#" * 1000)

    monkeypatch.setattr(sys, "stdin", _Stdin())
    with pytest.raises(SystemExit) as e:
        main(["lint", "-"])
    assert e.value.code == 2


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("to_file", [True, False])
def test_a_full_disk_is_a_write_error(tmp_path: Path, fmt: str, to_file: bool) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\nRUN pip install flask\n")
    if to_file:
        p = lint("-f", fmt, "-o", "/dev/full", cwd=tmp_path)
    else:
        with open("/dev/full", "wb") as full:
            p = subprocess.run(
                [sys.executable, "-m", "cacheinspect", "lint", "-f", fmt],
                stdout=full,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
                timeout=120,
            )
    assert p.returncode == 2, p.stderr
    err = p.stderr.decode()
    assert err.startswith("error: cannot write ") and "No space left on device" in err
    assert err.count("\n") == 1


def test_output_file(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\nRUN pip install flask\n")
    p = lint("-f", "json", "-o", "out.json", "--fail-on", "never", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == b""
    assert json.loads((tmp_path / "out.json").read_text())["files"][0]["findings"]


# -- the ignore comment is parsed in linear time ------------------------------------------------------


def test_a_long_ignore_comment_is_read_in_linear_time(tmp_path: Path) -> None:
    # "# cacheinspect: ignore=" and 60,000 spaces: the old expression backtracked cubically (2,000
    # spaces took 9 s); the child's timeout turns a regression into a failure, not a hang
    comment = "# cacheinspect: ignore=" + " " * 60000 + "!"
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.12\n{comment}\nRUN pip install flask\n")
    p = lint("-f", "json", "--fail-on", "never", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["files"][0]["findings"]  # not an ignore comment: the finding stays


@pytest.mark.parametrize(
    "comment",
    [
        "cacheinspect: ignore",
        "  cacheinspect : ignore  ",
        "cacheinspect:ignore=CM009",
        "cacheinspect: ignore = cm009, CM004 ",
        "cacheinspect: ignore=CM004",
        "cacheinspect: ignore=",
        "cacheinspect: ignore= ",
        "cacheinspect: ignore=CM009!",
        "cacheinspect: ignored",
        "cacheinspect: ignore CM009",
        "cacheinspect: ignore=\tCM009\n",
        "not cacheinspect: ignore",
    ],
)
def test_ignore_comment_verdicts_are_unchanged(comment: str) -> None:
    # the expression the parser replaced, as the oracle on short comments
    old = re.compile(r"^\s*cacheinspect\s*:\s*ignore(?:\s*=\s*([A-Za-z0-9,\s]+))?\s*$")
    from cacheinspect.lint.checks import _ignore_codes

    m = old.match(comment)
    expected = m is not None and (
        m.group(1) is None or "CM009" in {c.strip().upper() for c in m.group(1).split(",")}
    )
    codes = _ignore_codes(comment)
    assert (codes is None or (codes is not False and "CM009" in codes)) == expected


@pytest.mark.parametrize(
    "line",
    [
        "# syntax=docker/dockerfile:1" + " " * 60000 + "x",  # the directive's lazy value before \s*$
        "#" + " " * 60000 + "x",  # strings.TrimSpace as a search for [spaces]+\Z
        "ENV A=b" + " " * 60000 + "c",
    ],
)
def test_long_runs_of_spaces_are_read_in_linear_time(tmp_path: Path, line: str) -> None:
    # each of these took minutes (quadratic backtracking); a regression times the child out
    (tmp_path / "Dockerfile").write_text(f"{line}\nFROM python:3.12\nRUN pip install flask\n")
    p = lint("-f", "json", "--fail-on", "never", cwd=tmp_path)
    assert p.returncode in (0, 2), p.stderr
    assert p.stderr.count(b"\n") <= 1


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_del_in_an_ascii_document_is_escaped(tmp_path: Path, fmt: str) -> None:
    # an all-ASCII document took msgspec's fast path, which writes DEL (0x7f) raw (found by the fuzz)
    name = "D\x7fockerfile"
    (tmp_path / name).write_text("FROM python:3.12\nRUN pip install flask\n")
    p = lint("-f", fmt, "--fail-on", "never", name, cwd=tmp_path)
    assert p.returncode == 0 and b"\x7f" not in p.stdout
    doc = json.loads(p.stdout)  # the same value, escaped (SARIF's URI percent-encodes it: %7F)
    if fmt == "json":
        assert b"\\u007f" in p.stdout and doc["files"][0]["file"] == name
