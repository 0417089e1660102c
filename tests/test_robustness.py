"""Bad input never becomes a traceback or a silent pass (cases found in review, each reproduced first)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.render.text import render_audit, table
from tests.synth import write_cache_layout

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args], capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_non_utf8_config_decodes_as_go_does(tmp_path: Path) -> None:
    # issue 8: Go's encoding/json replaces invalid UTF-8 in strings with U+FFFD instead of failing
    f = tmp_path / "cfg.json"
    f.write_bytes(b'{"records":[{"digest":"\xff"}]}')
    p = cli("inspect", str(f), "-f", "json")
    assert p.returncode == 0, p.stderr
    assert [r["digest"] for r in json.loads(p.stdout)["records"]] == ["\ufffd"]


def test_non_utf8_layout_index(tmp_path: Path) -> None:
    shutil.copytree(FIX / "variant-gzip", tmp_path / "l")
    (tmp_path / "l" / "index.json").write_bytes(b'{"manifests":[{"digest":"\xff"}]}')
    assert cli("inspect", str(tmp_path / "l")).returncode == 6


def test_json_that_is_not_a_cache_config(tmp_path: Path) -> None:
    f = tmp_path / "package.json"
    f.write_text('{"name": "x"}')
    assert cli("inspect", str(f)).returncode == 6
    p = cli("audit", str(f), "-f", "json", "-q")
    assert p.returncode == 1
    assert json.loads(p.stdout)["results"][0]["findings"][0]["code"] == "not-a-cache"


def test_malformed_digest_inside_a_layout_is_content_not_usage(tmp_path: Path) -> None:
    cfg = {"layers": [{"blob": "sha256:ZZ", "parent": -1}], "records": [{"digest": "sha256:" + "1" * 64}]}
    write_cache_layout(tmp_path / "bad", cfg, config_bytes=json.dumps(cfg).encode())
    (tmp_path / "bad" / "blobs" / "sha256" / "ZZ").unlink(missing_ok=True)
    assert cli("inspect", str(tmp_path / "bad"), "--check-blobs", "-q").returncode == 6
    # one bad ref does not stop a multi-ref audit: the good one is still reported
    p = cli("audit", str(FIX / "variant-gzip"), str(tmp_path / "bad"), "-f", "json", "-q")
    assert p.returncode == 1
    results = json.loads(p.stdout)["results"]
    assert [r["ok"] for r in results] == [True, False]


@pytest.mark.parametrize("value", ["", "999999999999999d"])
def test_bad_max_age_is_a_usage_error(value: str) -> None:
    assert cli("audit", str(FIX / "variant-gzip"), "--max-age", value, "-q").returncode == 2


def test_empty_chain_result_does_not_crash_diff(tmp_path: Path) -> None:
    base = {
        "layers": [{"blob": "sha256:" + "a" * 64, "parent": -1}],
        "records": [
            {"digest": "sha256:" + "1" * 64},
            {"digest": "sha256:" + "2" * 64, "chains": [{"layers": []}], "inputs": [[{"link": 0}]]},
        ],
    }
    other = json.loads(json.dumps(base))
    del other["records"][1]["chains"]
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(other))
    for a, b in (("a", "b"), ("b", "a")):
        assert cli("diff", str(tmp_path / f"{a}.json"), str(tmp_path / f"{b}.json")).returncode == 0


def test_markdown_cells_escape_pipes_and_newlines() -> None:
    out = table([['RUN echo "a|b" | tee /x', "line1\nline2"]], ["step", "x"], "markdown")
    rows = out.strip().splitlines()
    assert len(rows) == 3  # header, rule, one row: nothing split the row
    assert rows[2].count(" | ") == 1  # one column separator; the pipes in the step are escaped


def test_github_format_cannot_be_made_to_emit_a_command() -> None:
    doc = {
        "ok": False,
        "results": [
            {
                "ref": "x\n::add-mask::secret",
                "ok": False,
                "findings": [
                    {"code": "blob-missing", "severity": "error", "message": "m\n::stop-commands::t"}
                ],
            }
        ],
    }
    for line in render_audit(doc, "github").splitlines():
        assert line.startswith(("::error ", "cacheinspect audit: ")), line


def test_platform_matching_knows_default_variants() -> None:
    from cacheinspect.platforms import platform_matches as _platform_matches

    assert _platform_matches("linux/arm64", "linux/arm64/v8")
    assert _platform_matches("linux/arm64/v8", "linux/arm64")
    assert _platform_matches("linux/arm", "linux/arm/v7")
    assert not _platform_matches("linux/arm/v6", "linux/arm/v7")
    assert not _platform_matches("linux/amd64", "linux/arm64")


def test_an_empty_cache_fails_any_expected_mode(tmp_path: Path) -> None:
    f = tmp_path / "empty.json"
    f.write_text('{"layers": [], "records": []}')
    for mode in ("min", "max"):
        assert cli("audit", str(f), "--expect-mode", mode, "-q").returncode == 1


def test_digest_with_trailing_newline_is_rejected() -> None:
    from cacheinspect.digest import parse
    from cacheinspect.errors import ReferenceError_

    assert parse("sha256:" + "a" * 64) == ("sha256", "a" * 64)
    with pytest.raises(ReferenceError_):
        parse("sha256:" + "a" * 64 + "\n")
