"""CLI conventions of issue 12 item 5 and the last-resort handler of issue 8."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cacheinspect import __version__
from cacheinspect.cli import main
from tests.synth import encode_go, synth_config, write_image_layout

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_usage_errors_are_one_error_line() -> None:
    for args in (["inspect"], ["inspect", "-f", "xml", "x"], ["audit", "--bogus", "x"]):
        p = cli(*args)
        assert p.returncode == 2
        lines = p.stderr.splitlines()
        assert lines[0].startswith("error: "), p.stderr
        assert len(lines) <= 2 and all(ln.startswith(("error: ", "hint: ")) for ln in lines), p.stderr


def test_a_crash_is_named_a_bug_with_its_own_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    import cacheinspect.cli as cli_mod

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise RuntimeError("kaput\n\x1b[31m")

    @app.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli_mod, "_app", app)
    with pytest.raises(SystemExit) as e:
        cli_mod.main(["boom"])
    assert e.value.code == cli_mod.EXIT_BUG == 70


def test_a_crash_prints_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    import cacheinspect.cli as cli_mod

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise RuntimeError("kaput\n\x1b[31m")

    @app.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli_mod, "_app", app)
    with pytest.raises(SystemExit):
        cli_mod.main(["boom"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err
    assert "bug" in err and __version__ in err and "RuntimeError" in err


def test_version_command_and_completion() -> None:
    assert cli("version").stdout == f"cacheinspect {__version__}\n"
    bash = cli("completion", "bash")
    assert bash.returncode == 0 and "_CACHEINSPECT_COMPLETE" in bash.stdout


def test_completion_answers_commands() -> None:
    import os

    env = {
        **os.environ,
        "_CACHEINSPECT_COMPLETE": "complete_bash",
        "COMP_WORDS": "cacheinspect au",
        "COMP_CWORD": "1",
    }
    p = cli(env=env)
    assert "audit" in p.stdout


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = cli("inspect", str(FIX / "variant-gzip"), "-f", "json", "-o", str(out))
    assert p.returncode == 0 and p.stdout == ""
    assert json.loads(out.read_text())["schema"] == "cacheinspect.inspect/v2"
    assert cli("inspect", str(FIX / "variant-gzip"), "-o", str(tmp_path / "no" / "x")).returncode == 2


def test_raw_prints_bytes_as_fetched(tmp_path: Path) -> None:
    root = FIX / "variant-gzip"
    desc = json.loads((root / "index.json").read_text())["manifests"][0]
    manifest = (root / "blobs" / "sha256" / desc["digest"].split(":")[1]).read_bytes()
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", str(root), "--raw", "manifest"],
        capture_output=True,
        timeout=60,
    )
    assert p.stdout == manifest
    cfg_desc = next(d for d in json.loads(manifest)["manifests"] if "cacheconfig" in d["mediaType"])
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", str(root), "--raw", "config"],
        capture_output=True,
        timeout=60,
    )
    assert p.stdout == (root / "blobs" / "sha256" / cfg_desc["digest"].split(":")[1]).read_bytes()
    f = tmp_path / "c.json"
    f.write_bytes(b'{"records": []}\n')
    assert cli("inspect", str(f), "--raw", "config").stdout == '{"records": []}\n'


def _two_platform_image(root: Path) -> None:
    write_image_layout(
        root,
        [
            {
                "platform": plat,
                "layers": [f"sha256:{c * 64}"],
                "history": [f"RUN build-{plat}"],
                "inline": [{"digest": "sha256:" + "1" * 64, "layers": [{"layer": 0}]}],
            }
            for plat, c in (("linux/amd64", "a"), ("linux/arm64", "b"))
        ],
    )


def test_platform_selects_one_image_of_an_inline_cache(tmp_path: Path) -> None:
    _two_platform_image(tmp_path / "img")
    both = json.loads(cli("inspect", str(tmp_path / "img"), "-f", "json").stdout)
    assert sorted(both["summary"]["platforms"]) == ["linux/amd64", "linux/arm64"]
    one = json.loads(
        cli("inspect", str(tmp_path / "img"), "-f", "json", "--platform", "linux/arm64/v8").stdout
    )
    assert one["summary"]["platforms"] == ["linux/arm64"]
    assert [x["digest"] for x in one["layers"]] == ["sha256:" + "b" * 64]
    missing = cli("inspect", str(tmp_path / "img"), "--platform", "linux/s390x")
    assert missing.returncode == 4 and "linux/amd64" in missing.stderr


def test_large_tables_are_summarised(tmp_path: Path) -> None:
    f = tmp_path / "big.json"
    f.write_bytes(encode_go(synth_config(300, seed=3)))
    out = cli("inspect", str(f), "--records", "10", "--layers", "5").stdout
    rows = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert len(rows) == 10
    assert "290 more records not shown: the first 10 in build order are listed (--records all" in out
    everything = cli("inspect", str(f), "--records", "all", "--layers", "all").stdout
    assert len([ln for ln in everything.splitlines() if ln.startswith("#")]) == 300
    assert "not shown" not in everything
    assert cli("inspect", str(f), "--records", "many").returncode == 2


def test_markdown_diff_renders_nested_lists() -> None:
    out = cli("diff", str(FIX / "crosshost-a"), str(FIX / "crosshost-b-mode"), "-f", "markdown").stdout
    assert "1. `COPY app.conf /etc/app.conf`" in out
    assert "   - cause: `context-changed`" in out
    assert "     - `COPY data/ /data/`" in out


def test_verbose_logs_requests_without_secrets(registry_basic: Any, push_fixture: Any) -> None:
    repo, tag, _ = push_fixture("variant-gzip", registry_basic)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cacheinspect",
            "inspect",
            f"{registry_basic.host}/{repo}:{tag}",
            "-v",
            "-u",
            registry_basic.username,
            "--password-stdin",
            "--ca-file",
            str(registry_basic.ca_file),
            "--no-records",
        ],
        input=registry_basic.password,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert any(f"/v2/{repo}/manifests/{tag} -> 200 (auth: Basic)" in ln for ln in lines), p.stderr
    assert registry_basic.password not in p.stderr


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["lint", "--format"], "cacheinspect lint"),
        (["-q", "lint", "--format"], "cacheinspect lint"),
        (["--color", "never", "context", "check", "--format"], "cacheinspect context check"),
        (["context", "--bogus"], "cacheinspect context"),
        (["--format"], "cacheinspect"),
    ],
)
def test_a_parse_error_names_the_help_of_its_own_command(
    args: list[str], path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """click reports a missing option value without a context: the hint still names the command."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ")
    assert err[1] == f"hint: '{path} --help' shows the usage"
