"""Output polish (issue 19): each case is the output the issue quoted, now rendered right."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cacheinspect.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
CASES = ROOT / "testbed" / "cases"
GC = ROOT / "tests" / "gc" / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def _outside_code_spans(md: str) -> str:
    return re.sub(r"`[^`]*`", "", md)


def test_diff_markdown_escapes_globs_outside_code_spans(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", FIX / "crosshost-a", FIX / "crosshost-b-mode", "-f", "markdown")
    assert code == 0
    prose = _outside_code_spans(out)
    assert "user.\\*/trusted.\\*" in prose
    assert re.findall(r"(?<!\\)[*_]", prose.replace("**", "")) == []  # no bare emphasis marker left


def test_context_check_markdown_keeps_the_key_whole_and_says_what_it_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "context",
        "check",
        FIX / "crosshost-a",
        CASES / "crosshost",
        "--format",
        "markdown",
        "--no-referrers",
    )
    assert code == 0
    rules = [line for line in out.splitlines() if "rules" in line]
    assert rules and rules[0].startswith("- buildkit rules: "), rules
    assert "COPY/ADD content roots" in rules[0]


def test_context_check_github_annotation_path_is_relative_to_the_workspace(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ROOT))
    code, out, _ = run(
        capsys,
        "context",
        "check",
        FIX / "crosshost-b-mode",
        CASES / "crosshost",  # absolute: the Dockerfile path is absolute too
        "--format",
        "github",
        "--no-referrers",
    )
    assert code == 0
    files = re.findall(r"file=([^,]*),", out)
    assert files and set(files) == {"testbed/cases/crosshost/Dockerfile"}, out


def test_inspect_markdown_summary_has_a_header_row(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "inspect", FIX / "threestage-max", "-f", "markdown", "--no-records", "--no-layers"
    )
    assert code == 0
    header = out.splitlines()[2]
    assert re.fullmatch(r"\| field +\| value +\|", header), header


def test_gc_simulate_uses_one_unit_for_sizes_and_docker_durations(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "gc",
        "simulate",
        GC / "engine-df.json",
        "--prune",
        "docker builder prune -f --filter type=source.local --filter until=1m --keep-storage 500kB",
        "--buildkit-version",
        "v0.13",
        "--now",
        "2026-12-01T10:00:00Z",
    )
    assert code == 0
    assert re.findall(r"\d B\b", out) == [], out  # 1519933825 B next to 32.8kB was the complaint
    assert "unused for 1m" in out and not re.search(r"\d\.\d+h\b", out)


def test_gc_duration_and_size_forms() -> None:
    from cacheinspect.gc.units import format_duration, format_pair

    assert [format_duration(s * 10**9) for s in (60, 90, 172800, 5400)] == ["1m", "1m30s", "48h", "1h30m"]
    assert format_duration(500 * 10**6) == "500ms"
    assert format_pair(512000, 512400) == ("512kB (512000 bytes)", "512kB (512400 bytes)")
    assert format_pair(536576, 512000) == ("537kB", "512kB")


def test_testbed_process_scans_say_nothing_about_vanished_pids(tmp_path: Path) -> None:
    """The test bed reads /proc/PID/cmdline of processes that may exit meanwhile: every such read in
    testbed/buildkit.sh must silence its own failed redirection (2>/dev/null before the <)."""
    script = (ROOT / "testbed" / "buildkit.sh").read_text()
    reads = [line.strip() for line in script.splitlines() if "/cmdline" in line and "<" in line]
    assert len(reads) >= 2
    for line in reads:
        cmd = line.split("&&")[-1].strip()
        cmd = re.sub(r"^if |; then$", "", cmd)
        cmd = cmd.replace("$pid", "999999999").replace("$p/", "/proc/999999999/")
        cmd = cmd.replace('"$name"', "x").replace("$dir", str(tmp_path))
        p = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} || true"], capture_output=True, text=True)
        assert p.stderr == "", (line, p.stderr)
