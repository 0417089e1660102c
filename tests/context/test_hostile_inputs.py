"""Issue 17: `context fingerprint/check/diff` on hostile input files end in one ``error:`` line with a
documented exit code (2 usage, 6 integrity), never a hang, a MemoryError or exit 70; output is escaped.

The subprocess timeout is a watchdog, not a timing assertion: before the fix a FIFO blocked forever and a
link to /dev/zero was read until MemoryError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def cli(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", *map(str, args)],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(p: subprocess.CompletedProcess[bytes], codes: tuple[int, ...] = (2,)) -> str:
    err = p.stderr.decode()
    assert p.returncode in codes, (p.returncode, err)
    lines = err.splitlines()
    assert len(lines) in (1, 2) and lines[0].startswith("error: "), err
    assert "internal error" not in err
    return lines[0]


def _ctx(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (ctx / "a").write_text("a\n")
    return ctx


def _hostile(path: Path, kind: str) -> None:
    if path.exists():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "zero"])
@pytest.mark.parametrize("which", ["Dockerfile", ".dockerignore", "Dockerfile.dockerignore"])
@pytest.mark.parametrize("cmd", ["fingerprint", "check"])
def test_fifo_or_dev_zero_input_is_refused(tmp_path: Path, kind: str, which: str, cmd: str) -> None:
    ctx = _ctx(tmp_path)
    _hostile(ctx / which, kind)
    args = ["context", cmd, ctx] if cmd == "fingerprint" else ["context", cmd, FIX / "crosshost-a", ctx]
    line = one_error_line(cli(*args, *(["--assume-base-unchanged"] if cmd == "check" else [])))
    assert "FIFO" in line if kind == "fifo" else "device" in line


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_fifo_or_dev_zero_fingerprint_is_refused(tmp_path: Path, kind: str) -> None:
    ctx = _ctx(tmp_path)
    fp = tmp_path / "a.fp.json"
    _hostile(fp, kind)
    one_error_line(cli("context", "diff", fp, fp))
    one_error_line(
        cli("context", "check", FIX / "crosshost-a", ctx, "--assume-base-unchanged", "--fingerprint", fp)
    )


def _real_fp(tmp_path: Path) -> dict[str, object]:
    ctx = _ctx(tmp_path)
    p = cli("context", "fingerprint", ctx)
    assert p.returncode == 0, p.stderr
    doc: dict[str, object] = json.loads(p.stdout)
    return doc


BAD_FINGERPRINTS = {
    "deep arrays": lambda d: "[" * 100_000 + "]" * 100_000,
    "deep inside files": lambda d: json.dumps({**d, "files": {"/a": {"xattrs": 1}}}).replace(
        '"xattrs": 1', '"xattrs": ' + "[" * 500 + "]" * 500
    ),
    "NaN size": lambda d: json.dumps({**d, "files": {"/a": {"type": "file", "size": float("nan")}}}),
    "Infinity": lambda d: json.dumps(d).replace('"lean": false', '"lean": Infinity'),
    "1e999": lambda d: json.dumps(d).replace('"lean": false', '"lean": 1e999'),
    "huge int": lambda d: json.dumps(d).replace('"line": 2', '"line": 1' + "0" * 400),
    "lone surrogate path": lambda d: json.dumps({**d, "files": {"/\ud800": {"type": "file"}}}),
    "lone surrogate digest": lambda d: json.dumps(d).replace('"sha256:', '"\\ud800sha256:', 1),
    "record not an object": lambda d: json.dumps({**d, "files": {"/a": [1]}}),
    "step not an object": lambda d: json.dumps({**d, "steps": [None]}),
    "step line a string": lambda d: json.dumps(d).replace('"line": 2', '"line": "2"'),
    "size a string": lambda d: json.dumps({**d, "files": {"/a": {"type": "file", "size": "big"}}}),
}


@pytest.mark.parametrize("name", sorted(BAD_FINGERPRINTS))
def test_malformed_fingerprint_is_one_error_line(tmp_path: Path, name: str) -> None:
    doc = _real_fp(tmp_path)
    fp = tmp_path / "bad.fp.json"
    fp.write_text(BAD_FINGERPRINTS[name](doc), encoding="utf-8", errors="surrogatepass")
    good = tmp_path / "good.fp.json"
    good.write_text(json.dumps(doc))
    for args in (("context", "diff", fp, good), ("context", "diff", good, fp, "-f", "json")):
        line = one_error_line(cli(*args))
        assert str(fp) in line


def test_real_fingerprint_still_loads_and_diffs(tmp_path: Path) -> None:
    """The checks accept what the tool writes (a non-UTF-8 name included, kept as surrogateescape)."""
    ctx = _ctx(tmp_path)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    os.symlink("a", os.path.join(os.fsencode(ctx), b"l\xff"))
    a = tmp_path / "a.json"
    assert cli("context", "fingerprint", ctx, "-o", a).returncode == 0
    (ctx / "a").write_text("b\n")
    b = tmp_path / "b.json"
    assert cli("context", "fingerprint", ctx, "-o", b).returncode == 0
    p = cli("context", "diff", a, b, "--exit-code")
    assert p.returncode == 1, p.stderr
    assert b"/a" in p.stdout and b"content" in p.stdout
    p = cli("context", "diff", a, a, "--exit-code")
    assert p.returncode == 0, p.stderr


def test_fingerprint_escapes_bidi_and_c1_in_names(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (ctx / "evil\u202efdp.sh").write_text("x")
    (ctx / "c1\u009bx").write_text("x")
    p = cli("context", "fingerprint", ctx)
    assert p.returncode == 0, p.stderr
    assert "\u202e".encode() not in p.stdout and "\u009b".encode() not in p.stdout
    files = json.loads(p.stdout)["files"]
    assert "/evil\u202efdp.sh" in files and "/c1\u009bx" in files  # the same JSON values


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "github"])
def test_check_output_escapes_names_and_instructions(tmp_path: Path, fmt: str) -> None:
    """Control characters, C1, bidi and non-UTF-8 bytes in names and instructions: escaped, exit 0/1."""
    from tests.fuzz.surfaces import control_chars

    ctx = _ctx(tmp_path)
    bad = b"n\x1b]0;t\x07\xc2\x9b\xe2\x80\xae\xff\x7f"
    (ctx / "Dockerfile").write_bytes(b"FROM scratch\nCOPY . /\nRUN echo " + bad + b"\nCOPY a /" + bad + b"\n")
    (Path(os.fsdecode(os.path.join(os.fsencode(ctx), bad)))).write_bytes(b"x")
    p = cli("context", "check", FIX / "crosshost-a", ctx, "--assume-base-unchanged", "--format", fmt)
    assert p.returncode in (0, 1), p.stderr
    assert control_chars(p.stdout) == [] and control_chars(p.stderr) == []
    if fmt == "json":
        json.loads(p.stdout)


def test_diff_output_escapes_paths(tmp_path: Path) -> None:
    from tests.fuzz.surfaces import control_chars

    doc = _real_fp(tmp_path)
    other = json.loads(json.dumps(doc))
    other["files"]["/evil\u202e\x1b[2J\x9b\udcff"] = {"type": "file", "mode": "0644", "size": 1}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(doc))
    b.write_text(json.dumps(other))
    for fmt in ("table", "json", "markdown"):
        p = cli("context", "diff", a, b, "-f", fmt)
        assert p.returncode == 0, p.stderr
        assert control_chars(p.stdout) == [], fmt
        assert b"evil" in p.stdout
