"""`context fingerprint`/`check`/`diff` on bad and odd input: one-line errors with file:line, no crash.

Expected behaviour is BuildKit's client: it turns the COPY paths and ``.dockerignore`` into fsutil
patterns before sending (an invalid one fails the build: ``syntax error in pattern``), and it sends
file names as bytes, so a name that is not UTF-8 is part of the context like any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.cli.context import load_build
from cacheinspect.context.fingerprint import load_fingerprint

FIX = Path(__file__).resolve().parent.parent.parent / "fixtures"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    return p


def _ctx(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "a").write_text("a\n")
    return ctx


@pytest.mark.parametrize("cmd", ["fingerprint", "check"])
def test_copy_source_that_is_no_valid_pattern_names_its_line(tmp_path: Path, cmd: str) -> None:
    # `COPY [ "a"` is not JSON, so shell form: sources "[" (an unterminated class) -> BuildKit fails
    ctx = _ctx(tmp_path, 'FROM scratch\nCOPY a /a\nCOPY [ "a"\n')
    args = ["context", cmd, ctx] if cmd == "fingerprint" else ["context", cmd, FIX / "crosshost-a", ctx]
    p = cli(*args, *(["--assume-base-unchanged"] if cmd == "check" else []))
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: {ctx}/Dockerfile:3: COPY: syntax error in pattern '['"


def test_invalid_dockerignore_pattern_is_an_error(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM scratch\nCOPY . /app/\n")
    (ctx / ".dockerignore").write_text("# comment\na[\n")
    p = cli("context", "fingerprint", ctx)
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: {ctx}/.dockerignore: syntax error in pattern 'a['"


def test_non_utf8_file_name_round_trips_through_a_fingerprint(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM scratch\nCOPY . /app/\n")
    name = os.fsdecode(b"\xff\xfename")
    (ctx / name).write_bytes(b"x")
    out = tmp_path / "fp.json"
    p = cli("context", "fingerprint", ctx, "-o", out)
    assert p.returncode == 0, p.stderr
    doc = load_fingerprint(out.read_bytes(), name=str(out))
    assert doc["files"]["/" + name]["size"] == 1
    (ctx / name).write_bytes(b"yy")
    out2 = tmp_path / "fp2.json"
    assert cli("context", "fingerprint", ctx, "-o", out2).returncode == 0
    d = cli("context", "diff", out, out2, "--format", "json", "--exit-code")
    assert d.returncode == 1, d.stderr
    assert {(f["path"], f["field"]) for f in json.loads(d.stdout)["files"]} == {
        ("/" + name, "size"),
        ("/" + name, "content"),
    }
    c = cli("context", "check", FIX / "crosshost-a", ctx, "--assume-base-unchanged", "--format", "json")
    assert c.returncode == 0, c.stderr
    assert json.loads(c.stdout)["schema"] == "cacheinspect.context-check/v1"


def test_load_build_returns_the_resolved_build(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM scratch AS one\nARG SRC=b\nCOPY ${SRC} /x\nFROM scratch AS two\nCOPY a /a\n")
    loaded = load_build(ctx, None, "one", ["SRC=a"])
    assert loaded.df_path == ctx / "Dockerfile"
    assert loaded.build.target.name == "one"
    assert loaded.build.build_args == {"SRC": "a"}
    assert [s.sources for s in loaded.steps] == [("a",)]
    assert loaded.paths == ["a"]
