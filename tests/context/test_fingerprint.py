"""Fingerprints, their diff, and the `context` CLI (fingerprint, diff, one-line errors)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.context import (
    SCHEMA,
    ContextError,
    CopyStep,
    diff_fingerprints,
    fingerprint,
    load_fingerprint,
)

ROOT = Path(__file__).resolve().parents[2]
CROSSHOST = ROOT / "testbed" / "cases" / "crosshost"
# crosshost-a's three roots (the fixture's input-less records): app.conf, data/, VERSION
A_ROOTS = {
    4: "sha256:95f63722801cf5b2efcfaf9510d3942c1258b88a86716767bbaca2c26e4b9196",
    5: "sha256:e74732d1c596b1d5108e430bfa056b494dfdf54b4bdff6d8653ae0556fe492ac",
    6: "sha256:0fa342ca95774ac63c6483305f325a2f9bb1b0f5693de409d05ceacfb11ae059",
}


def crosshost(tmp: Path) -> Path:
    ctx = tmp / "crosshost"
    shutil.copytree(CROSSHOST, ctx)
    for p in [ctx, *ctx.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return ctx


def cli(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "cacheinspect", *args], capture_output=True, text=True)
    if check is not None:
        assert proc.returncode == check, proc.stderr
    return proc


def test_fingerprint_document(tmp_path: Path) -> None:
    ctx = crosshost(tmp_path)
    os.setxattr(ctx / "app.conf", "user.foo", b"bar")
    steps = [CopyStep("stage-0", 4, "COPY app.conf /etc/app.conf", ("app.conf",))]
    doc = fingerprint(ctx, steps)
    assert doc["schema"] == SCHEMA and doc["buildkit_rules"] == "v0.10-v0.13" and doc["lean"] is False
    rec = doc["files"]["/app.conf"]
    assert rec["type"] == "file" and rec["mode"] == "0644" and rec["size"] == 14 and rec["linkname"] == ""
    assert rec["content"] == "sha256:" + __import__("hashlib").sha256(b"listen = 8080\n").hexdigest()
    assert set(rec["xattrs"]) == {"user.foo"}
    assert "uid" not in rec and "mtime" not in rec
    assert list(doc["files"]) == ["/app.conf"]  # only what the client sends
    # the root of crosshost-b-xattr's first COPY (the fixture's record), as a self-check
    assert (
        doc["steps"][0]["root"] == "sha256:0df555f36571589ca9ac9c1f51ffd9cf3f31ce364f4f10dab8fa5967af918f48"
    )
    lean = fingerprint(ctx, steps, lean=True)
    assert lean["files"] == {"/app.conf": rec["digest"]}


def test_diff_names_every_changed_field(tmp_path: Path) -> None:
    a_ctx = crosshost(tmp_path / "a")
    b_ctx = crosshost(tmp_path / "b")
    (b_ctx / "app.conf").chmod(0o600)
    os.setxattr(b_ctx / "data" / "a.txt", "user.x", b"1")
    (b_ctx / "data" / "b.txt").write_bytes(b"changed\n")
    (b_ctx / "data" / "new.txt").write_bytes(b"new\n")
    (b_ctx / "VERSION").unlink()
    os.symlink("app.conf", b_ctx / "VERSION")
    steps = [CopyStep("s", 4, "COPY app.conf data/ VERSION /", ("app.conf", "data/", "VERSION"))]
    a, b = fingerprint(a_ctx, steps), fingerprint(b_ctx, steps)
    got = {(p, f) for p, f, _, _ in diff_fingerprints(a, b)}
    assert got == {
        ("/app.conf", "mode"),
        ("/data/a.txt", "xattr user.x"),
        ("/data/b.txt", "size"),
        ("/data/b.txt", "content"),
        ("/data/new.txt", "exists"),
        ("/VERSION", "type"),
        ("/VERSION", "mode"),  # a symlink is 0777
        ("/VERSION", "size"),
        ("/VERSION", "linkname"),
    }
    assert ("/app.conf", "mode", "0644", "0600") in diff_fingerprints(a, b)
    # a lean side still names the file, by digest
    lean = fingerprint(b_ctx, steps, lean=True)
    assert {p for p, f, _, _ in diff_fingerprints(a, lean) if f == "digest"} >= {"/app.conf", "/data/b.txt"}


def test_load_fingerprint_rejects_other_documents() -> None:
    with pytest.raises(ContextError, match="not JSON"):
        load_fingerprint(b"{", name="x.json")
    with pytest.raises(ContextError, match=r"not a cacheinspect\.context-fingerprint/v1"):
        load_fingerprint(b'{"schema": "other"}', name="x.json")


def test_cli_fingerprint_reproduces_the_fixture_roots(tmp_path: Path) -> None:
    ctx = crosshost(tmp_path)
    out = tmp_path / "fp.json"
    cli("context", "fingerprint", str(ctx), "-o", str(out))
    doc: dict[str, Any] = json.loads(out.read_text())
    assert {s["line"]: s["root"] for s in doc["steps"]} == A_ROOTS
    stdout = cli("context", "fingerprint", str(ctx), "-f", str(ctx / "Dockerfile"), "--lean").stdout
    assert json.loads(stdout)["lean"] is True


def test_cli_diff(tmp_path: Path) -> None:
    a_ctx, b_ctx = crosshost(tmp_path / "a"), crosshost(tmp_path / "b")
    (b_ctx / "app.conf").chmod(0o600)
    cli("context", "fingerprint", str(a_ctx), "-o", str(tmp_path / "a.json"))
    cli("context", "fingerprint", str(b_ctx), "-o", str(tmp_path / "b.json"))
    table = cli("context", "diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")).stdout
    assert (
        "/app.conf" in table
        and "0644" in table
        and "0600" in table
        and "COPY app.conf /etc/app.conf" in table
    )
    proc = cli(
        "context",
        "diff",
        str(tmp_path / "a.json"),
        str(tmp_path / "b.json"),
        "--format",
        "json",
        "--exit-code",
        check=1,
    )
    doc = json.loads(proc.stdout)
    assert doc["files"] == [{"path": "/app.conf", "field": "mode", "a": "0644", "b": "0600"}]
    assert [s["line"] for s in doc["steps"]] == [4]
    cli("context", "diff", str(tmp_path / "a.json"), str(tmp_path / "a.json"), "--exit-code")


@pytest.mark.parametrize(
    ("setup", "args", "needle"),
    [
        (None, ["context", "fingerprint", "/nonexistent/ctx"], "error: /nonexistent/ctx: no such directory"),
        ("bad-dockerfile", ["context", "fingerprint", "{ctx}"], "Dockerfile:2:"),
        (
            "missing-source",
            ["context", "fingerprint", "{ctx}"],
            "Dockerfile:3: COPY: /nope: not found in the build context",
        ),
        (
            None,
            ["context", "diff", "/nonexistent/a.json", "/nonexistent/b.json"],
            "error: /nonexistent/a.json:",
        ),
        (None, ["context", "fingerprint", ".", "--buildkit-version", "v0.8"], "error: --buildkit-version:"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, setup: str | None, args: list[str], needle: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    if setup == "bad-dockerfile":
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY --nope=1 a /\n")
    elif setup == "missing-source":
        (ctx / "Dockerfile").write_text("FROM scratch\n\nCOPY nope /x\n")
    proc = cli(*[a.replace("{ctx}", str(ctx)) for a in args], check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_cli_symlink_loop_is_a_one_line_error_with_file_and_line(tmp_path: Path) -> None:
    ctx = crosshost(tmp_path)
    (ctx / "data" / "a.txt").unlink()
    os.symlink("a.txt", ctx / "data" / "a.txt")  # a self-referencing link: COPY data/ follows nothing inside
    proc = cli("context", "fingerprint", str(ctx), check=None)
    assert proc.returncode == 0, proc.stderr  # a link inside a copied directory is hashed as a link
    (ctx / "VERSION").unlink()
    os.symlink("VERSION", ctx / "VERSION")  # COPY VERSION follows it: too many links, as in BuildKit
    proc = cli("context", "fingerprint", str(ctx), check=2)
    assert proc.stderr.strip().splitlines() == [f"error: {ctx}/Dockerfile:6: COPY: /VERSION: too many links"]


def test_cli_unreadable_file_is_a_one_line_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cacheinspect.cli import main
    from cacheinspect.context import walk as walk_mod

    ctx = crosshost(tmp_path)
    real_open = os.open

    def deny(path: str, flags: int, *a: Any) -> int:
        if str(path).endswith("data/b.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a)

    monkeypatch.setattr(walk_mod.os, "open", deny)
    monkeypatch.setattr(walk_mod, "_parallel_ok", lambda n, b: False)
    with pytest.raises(SystemExit) as exc:
        main(["context", "fingerprint", str(ctx)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {ctx}/data/b.txt: unreadable (Permission denied)"
    ]
