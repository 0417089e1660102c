"""`context check` against caches real BuildKit exported (fixtures/), with expectations from BuildKit.

The crosshost fixtures are host A (``crosshost-a``: FROM scratch, three COPYs; ``crosshost-a-busybox``:
a busybox base, a COPY, a RUN consuming ``ARG FLAVOR``, a COPY) and host B builds that imported them,
whose ``case.json`` records what B's ``--progress=plain`` log showed per step. The check, run on B's
context before building, must predict exactly those steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.cache.graph import build_graph
from cacheinspect.cache.load import load_config_file
from cacheinspect.context.check import (
    SCHEMA,
    ImageKeys,
    check_context,
    heredoc_root,
    image_keys,
    render_check,
)
from cacheinspect.context.client import client_view
from cacheinspect.context.fingerprint import copy_steps
from cacheinspect.context.tree import Entry, EntryType
from cacheinspect.context.walk import hash_tree, walk_context
from cacheinspect.dockerfile import parse_dockerfile, resolve

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
CASES = ROOT / "testbed" / "cases"
BUSYBOX_DIFF_ID = "sha256:b5998269a0363fdce648d611506c97a5f73cb484d2a2a21a6ed86e2fa2355b6f"


def case(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIX / name / "case.json").read_text())
    return data


def context_copy(name: str, dest: Path) -> Path:
    """testbed/cases/NAME with the modes make-fixtures.sh gave it (files 0644, dirs 0755)."""
    target = dest / name
    shutil.copytree(CASES / name, target)
    for p in [target, *target.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return target


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "context", "check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def observed(name: str) -> list[str]:
    """hit/miss per non-FROM step of a fixture's recorded B build (CACHED/LOADED = hit, RAN = miss)."""
    out = []
    for s in case(name)["steps"]:
        text = s["vertex"].split("] ", 1)[1]
        if text.startswith("FROM "):
            continue
        out.append("hit" if s["status"] in ("CACHED", "LOADED") else "miss")
    return out


def predicted(doc: dict[str, Any]) -> list[str]:
    return [s["verdict"] for s in doc["steps"] if not s["instruction"].startswith("FROM")]


# ------------------------------------------------------------------------------------------ image keys
def test_image_keys_are_the_roots_buildkit_exported() -> None:
    """Both keys of the busybox base (manifest key and ChainID key) are roots of A's real export."""
    man = case("crosshost-b-buildarg")["steps"][0]["vertex"].split("@", 1)[1]
    keys = image_keys("base/busybox:1", [man], "linux/amd64", [BUSYBOX_DIFF_ID])
    graph = build_graph(_layout("crosshost-a-busybox"))
    roots = {r.digest for r in graph.roots}
    assert len(keys.keys) == 2 and keys.keys <= roots


def test_heredoc_root_matches_real_exports() -> None:
    """Content roots BuildKit v0.13 exported on the test bed for three heredoc COPYs: the document is
    written with mode 0644 whatever --chmod says (the chmod is applied by the copy), and `<<-` documents
    are hashed after their leading tabs are stripped."""
    # COPY <<EOF /heredoc.txt / hello / EOF
    hello = "sha256:c24a47b576469b52903dd7e5045a62fee5855b447dee1771d67b829458d2c08e"
    assert heredoc_root("hello\n") == hello
    # COPY --chmod=755 <<EOF /h.sh / echo hi / EOF
    echo = "sha256:438c7c2dfb16d7734e2178082ff374d4507b4e597ad4aa3c5a5102b442a17c3a"
    assert heredoc_root("echo hi\n") == echo
    # COPY <<-EOT /t.txt / <TAB>tabbed / <TAB>EOT
    df = resolve(parse_dockerfile("FROM scratch\nCOPY <<-EOT /t.txt\n\ttabbed\n\tEOT\n"))
    (src,) = df.target.instrs[0].sources
    assert (
        heredoc_root(src.content or "")
        == "sha256:9090e0f9f924d2148f15fc8082a4a6b37c01b5684bfa44a4a7f957b38723a06f"
    )


def _layout(name: str) -> Any:
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    return asyncio.run(load_cache(LayoutSource(FIX / name)))


# ------------------------------------------------------------------------------------------ fixtures
@pytest.mark.parametrize(
    ("b_case", "mutate", "explained"),
    [
        ("crosshost-b-mode", lambda c: (c / "app.conf").chmod(0o600), ("/app.conf", "mode", "0600", "0644")),
        (
            "crosshost-b-xattr",
            lambda c: os.setxattr(c / "app.conf", "user.foo", b"bar"),
            ("/app.conf", "xattr user.foo", "present", "absent"),
        ),
    ],
)
def test_check_predicts_the_recorded_b_builds(
    b_case: str, mutate: Any, explained: tuple[str, str, str, str], tmp_path: Path
) -> None:
    ctx = context_copy("crosshost", tmp_path)
    mutate(ctx)
    p = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert predicted(doc) == observed(b_case)
    first = doc["steps"][0]
    assert first["verdict"] == "miss"
    assert [tuple(e.values()) for e in first["explanations"]] == [explained]
    assert [d["line"] for d in first["downstream"]] == [s["line"] for s in doc["steps"][1:]]


def test_unchanged_context_hits_everything(tmp_path: Path) -> None:
    ctx = context_copy("crosshost", tmp_path)
    p = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json", "--exit-code")
    assert p.returncode == 0, p.stderr
    assert predicted(json.loads(p.stdout)) == ["hit", "hit", "hit"]


def test_build_arg_reaching_a_run_is_a_miss(tmp_path: Path) -> None:
    """crosshost-b-buildarg: FLAVOR=fancy changes the RUN (history: FLAVOR=plain); COPY before it hits."""
    ctx = context_copy("crosshost-busybox", tmp_path)
    args = ["--build-arg", "BASE=127.0.0.1:1/base/busybox:1", "--build-arg", "FLAVOR=fancy"]
    p = cli(str(FIX / "crosshost-a-busybox"), str(ctx), "--format", "json", "--assume-base-unchanged", *args)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert predicted(doc) == observed("crosshost-b-buildarg")
    run = next(s for s in doc["steps"] if s["instruction"].startswith("RUN"))
    assert "FLAVOR=fancy here, FLAVOR=plain" in run["cause"]


def test_exit_code_and_formats(tmp_path: Path) -> None:
    ctx = context_copy("crosshost", tmp_path)
    (ctx / "app.conf").chmod(0o600)
    p = cli(str(FIX / "crosshost-a"), str(ctx), "--exit-code")
    assert p.returncode == 1
    assert re.search(r"^4 +/app.conf +mode +0600 +0644$", p.stdout, re.M), p.stdout
    gh = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "github")
    assert gh.stdout.startswith("::error file=") and ",line=4," in gh.stdout
    md = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "markdown")
    assert "| stage-0 | 4 | `COPY app.conf /etc/app.conf` | **miss** |" in md.stdout


def test_json_schema_is_the_issue_s(tmp_path: Path) -> None:
    ctx = context_copy("crosshost", tmp_path)
    (ctx / "app.conf").chmod(0o600)
    doc = json.loads(cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json").stdout)
    assert doc["schema"] == SCHEMA == "cacheinspect.context-check/v1"
    assert {"schema", "cache", "context", "buildkit_rules", "steps"} <= set(doc)
    for s in doc["steps"]:
        assert {"stage", "line", "instruction", "verdict", "cause", "explanations", "downstream"} <= set(s)
        assert s["verdict"] in ("hit", "miss", "unknown")
        for e in s["explanations"]:
            assert set(e) == {"path", "field", "here", "in_cache"}


def test_fingerprint_file_names_every_changed_file_and_field(tmp_path: Path) -> None:
    """Host A fingerprints its context; host B changes four things in it; all four are named."""
    a = context_copy("crosshost", tmp_path / "a")
    fp = tmp_path / "a.fp.json"
    subprocess.run(
        [sys.executable, "-m", "cacheinspect", "context", "fingerprint", str(a), "-o", str(fp)],
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    b = context_copy("crosshost", tmp_path / "b")
    (b / "app.conf").chmod(0o600)
    os.setxattr(b / "data" / "a.txt", "user.origin", b"b")
    (b / "data" / "new.txt").write_text("new\n")
    (b / "VERSION").write_text("9.9.9\n")
    doc = json.loads(
        cli(str(FIX / "crosshost-a"), str(b), "--format", "json", "--fingerprint", str(fp)).stdout
    )
    named = {(e["path"], e["field"]) for s in doc["steps"] for e in s["explanations"]}
    assert {
        ("/app.conf", "mode"),
        ("/data/a.txt", "xattr user.origin"),
        ("/data/new.txt", "exists"),
        ("/VERSION", "content"),
    } <= named
    assert doc["fingerprint"] == str(fp)
    assert [s["verdict"] for s in doc["steps"]] == ["miss", "miss", "miss"]


def test_unreadable_file_is_unknown_never_hit(tmp_path: Path) -> None:
    """A file the client cannot read makes its step unknown (BuildKit would fail the build on it)."""
    ctx = context_copy("crosshost", tmp_path)
    df = resolve(parse_dockerfile((ctx / "Dockerfile").read_text()))
    _, paths = copy_steps(df)
    tree = walk_context(ctx)
    view = client_view(tree, paths, [])
    hash_tree(view)
    view.add(
        "/data/a.txt", Entry(EntryType.UNREADABLE, error="Permission denied", source=str(ctx / "data/a.txt"))
    )
    graph = build_graph(_layout("crosshost-a"))
    report = check_context(graph, df, view, images={})
    verdicts = {s.line: s.verdict for s in report.steps}
    assert verdicts[5] == "unknown" and "unreadable" in report.steps[1].cause
    assert verdicts[6] == "unknown"  # builds on an unknown step
    assert verdicts[4] == "hit"
    assert "unknown" in render_check(report, "table")


def test_unresolvable_base_image_is_unknown_not_a_guess(tmp_path: Path) -> None:
    ctx = context_copy("crosshost-busybox", tmp_path)
    df = resolve(parse_dockerfile((ctx / "Dockerfile").read_text()), build_args={"BASE": "nowhere/busybox:1"})
    _, paths = copy_steps(df)
    view = client_view(walk_context(ctx), paths, [])
    hash_tree(view)
    graph = build_graph(_layout("crosshost-a-busybox"))
    images = {"nowhere/busybox:1": ImageKeys(ref="nowhere/busybox:1", error="no such host")}
    report = check_context(graph, df, view, images=images)
    assert [s.verdict for s in report.steps] == ["unknown"] * 4
    assert "could not be resolved" in report.steps[0].cause


def test_config_file_cache_kind(tmp_path: Path) -> None:
    """CACHE may be a bare cache-config file (gha/s3 exports): the check reads it like any other."""
    lc = _layout("crosshost-a")
    import msgspec

    cfg = tmp_path / "cache.json"
    cfg.write_bytes(msgspec.json.encode(lc.config))
    assert load_config_file(cfg).config.records
    ctx = context_copy("crosshost", tmp_path / "ctx")
    (ctx / "VERSION").chmod(0o600)
    doc = json.loads(cli(str(cfg), str(ctx), "--format", "json").stdout)
    assert predicted(doc) == ["hit", "hit", "miss"]


def test_bad_input_is_a_one_line_error_with_file_and_line(tmp_path: Path) -> None:
    ctx = context_copy("crosshost", tmp_path)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY missing.txt /x\n")
    p = cli(str(FIX / "crosshost-a"), str(ctx))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == f"error: {ctx / 'Dockerfile'}:2: COPY: /missing.txt: not found in the build context\n"
    p = cli(str(FIX / "crosshost-a"), str(tmp_path / "nope"))
    assert p.returncode == 2 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1


def test_lean_fingerprint_still_names_the_file(tmp_path: Path) -> None:
    a = context_copy("crosshost", tmp_path / "a")
    fp = tmp_path / "lean.json"
    subprocess.run(
        [sys.executable, "-m", "cacheinspect", "context", "fingerprint", str(a), "--lean", "-o", str(fp)],
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    b = context_copy("crosshost", tmp_path / "b")
    (b / "data" / "b.txt").write_text("other\n")
    doc = json.loads(
        cli(str(FIX / "crosshost-a"), str(b), "--format", "json", "--fingerprint", str(fp)).stdout
    )
    named = [(e["path"], e["field"]) for s in doc["steps"] for e in s["explanations"]]
    assert named == [("/data/b.txt", "digest")]


def test_chown_by_name_after_a_miss_is_unknown(tmp_path: Path) -> None:
    """COPY --chown=NAME has a content key on /etc/passwd and /etc/group of the state it copies into:
    after a missed step it may still hit, so it is unknown, not a miss."""
    ctx = context_copy("crosshost-busybox", tmp_path)
    df = ctx / "Dockerfile"
    df.write_text(df.read_text().replace("COPY data/ /data/", "COPY --chown=app data/ /data/"))
    args = ["--build-arg", "BASE=127.0.0.1:1/base/busybox:1", "--build-arg", "FLAVOR=fancy"]
    p = cli(str(FIX / "crosshost-a-busybox"), str(ctx), "--format", "json", "--assume-base-unchanged", *args)
    doc = json.loads(p.stdout)
    assert predicted(doc) == ["hit", "miss", "unknown"]
    assert "--chown=app" in doc["steps"][-1]["cause"]


# ------------------------------------------------------------------------------------------ step keys
def test_unchanged_build_hits_by_its_own_keys(tmp_path: Path) -> None:
    """crosshost-a: host B builds the same Dockerfile and context (crosshost-a's B side is A itself): every
    step hits by its computed record digest, and the JSON report carries the keys."""
    ctx = context_copy("crosshost", tmp_path)
    p = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert predicted(doc) == ["hit", "hit", "hit"]
    assert all(len(s["keys"]) == 1 for s in doc["steps"])
    assert doc["step_key_rules"] in ("v0.13", "v0.25")


def test_changed_copy_destination_is_a_definition_miss(tmp_path: Path) -> None:
    """A COPY whose destination differs has another key (STEP-KEYS.md §2): the step misses with that
    reason, though its context root is in the cache, and the steps after it miss because of it."""
    ctx = context_copy("crosshost", tmp_path)
    df = ctx / "Dockerfile"
    df.write_text(df.read_text().replace("COPY data/ /data/", "COPY data/ /srv/data/"))
    p = cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json")
    doc = json.loads(p.stdout)
    assert predicted(doc) == ["hit", "miss", "miss"]
    assert "the step's definition differs from host A's" in doc["steps"][1]["cause"]
    assert doc["steps"][1]["explanations"] == []


def test_syntax_directive_keys_are_a_guess_proved_by_a_match(tmp_path: Path) -> None:
    """With `# syntax=` another frontend builds the ops: the built-in frontend's keys are only a guess,
    which a match in A's cache proves (hit); a changed step is then not claimed as a definition miss."""
    ctx = context_copy("crosshost", tmp_path)
    df = ctx / "Dockerfile"
    df.write_text("# syntax=docker/dockerfile:1\n" + df.read_text())
    doc = json.loads(cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json").stdout)
    assert predicted(doc) == ["hit", "hit", "hit"]
    assert "proves the assumption" in doc["steps"][0]["cause"]
    df.write_text(df.read_text().replace("COPY data/ /data/", "COPY data/ /srv/data/"))
    doc = json.loads(cli(str(FIX / "crosshost-a"), str(ctx), "--format", "json").stdout)
    assert predicted(doc)[1] != "hit"
    assert "definition differs" not in doc["steps"][1]["cause"]
