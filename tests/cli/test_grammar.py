"""One CLI grammar (issue 19, item 2): every command × the common flags, generated.

Each command has one working invocation on committed inputs (:data:`BASE`); every common flag is tried on
it and must keep its meaning: ``-o FILE`` moves stdout into FILE unchanged, ``-q``/``-v``/``--color`` change
nothing on stdout (no colour off a terminal), and the global spelling before the subcommand
(``cacheinspect -v inspect ...``) is the same as after it. A test checks that :data:`BASE` covers every
command the app has, so a new command joins the grammar tests the day it lands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.cli import main
from tests.support.layout import push_named_fixture
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
GC = ROOT / "tests" / "gc" / "data"
CASES = ROOT / "testbed" / "cases"
NOW = "2026-12-01T10:00:00Z"  # the gc commands' clock: two runs of one test must print the same


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """``cacheinspect ARGV`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def fingerprints(
    tmp_path_factory: pytest.TempPathFactory, registry_plain: RunningRegistry
) -> tuple[Path, Path, str, Path]:
    """Inputs of :func:`BASE`: two context fingerprints, a repository of the real registry holding a
    pushed fixture cache (the ``registry`` commands), and a BuildKit log of a failed cache export."""
    d = tmp_path_factory.mktemp("fp")
    a, b = d / "a.fp.json", d / "b.fp.json"
    for p in (a, b):
        with pytest.raises(SystemExit) as e:
            main(["context", "fingerprint", str(CASES / "crosshost"), "-o", str(p)])
        assert not e.value.code
    pushed = push_named_fixture(registry_plain, "threestage-max", tag="cache")
    log = d / "build.log"
    log.write_text(
        "#12 exporting cache to registry\n"
        "#12 writing manifest sha256:6f0c8f2a0a1bbf2f2b0a3c7a1d0e4f1e9c2b7d7f1a0e5c3b2d1e0f9a8b7c6d5e4 0.1s done\n"
        "#12 ERROR: error writing manifest blob: failed commit on ref "
        '"sha256:6f0c8f2a0a1bbf2f2b0a3c7a1d0e4f1e9c2b7d7f1a0e5c3b2d1e0f9a8b7c6d5e4": unexpected status: 400 Bad Request\n'
    )
    return a, b, f"{registry_plain.host}/{pushed.repo}", log


def BASE(fps: tuple[Path, Path, str, Path]) -> dict[str, list[str | Path]]:
    """A working command line per command (exit 0 or 1), on committed inputs (offline, except the
    ``registry`` commands, which read a real loopback registry)."""
    fp_a, fp_b, repo, log = fps
    return {
        "inspect": ["inspect", FIX / "threestage-max"],
        "graph": ["graph", FIX / "threestage-max"],
        "diff": ["diff", FIX / "threestage-min", FIX / "threestage-max"],
        "audit": ["audit", FIX / "threestage-min"],
        "context check": ["context", "check", FIX / "crosshost-a", CASES / "crosshost", "--no-referrers"],
        "context fingerprint": ["context", "fingerprint", CASES / "crosshost"],
        "context diff": ["context", "diff", fp_a, fp_b],
        "lint": ["lint", CASES / "threestage" / "Dockerfile"],
        "du": ["du", GC / "engine-df.json", "--now", NOW],
        "gc simulate": [
            "gc",
            "simulate",
            GC / "engine-df.json",
            "--disk-size",
            "100GB",
            "--disk-free",
            "50GB",
            "--now",
            NOW,
        ],
        "gc lint": ["gc", "lint", "--policy", GC / "daemon-traps.json"],
        "registry probe": ["registry", "probe", "--from-log", log],
        "registry ls": ["registry", "ls", repo],
        "registry prune": ["registry", "prune", repo, "--keep", "0"],
        "version": ["version"],
        "completion": ["completion", "bash"],
    }


COMMANDS = [
    "inspect",
    "graph",
    "diff",
    "audit",
    "context check",
    "context fingerprint",
    "context diff",
    "lint",
    "du",
    "gc simulate",
    "gc lint",
    "registry probe",
    "registry ls",
    "registry prune",
    "version",
    "completion",
]
#: Commands without -f/--format, and why.
NO_FORMAT = {
    "context fingerprint": "writes its one JSON document",
    "version": "prints one line",
    "completion": "prints a shell script",
}
#: Commands that can fail on findings, and the flag that decides it.
FAILS_ON = {
    "audit": "--fail-on",
    "lint": "--fail-on",
    "gc lint": "--fail-on",
    "diff": "--exit-code",
    "context check": "--exit-code",
    "context diff": "--exit-code",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _leaf_commands() -> set[str]:
    from typer.main import get_command

    from cacheinspect.cli import build_app

    out: set[str] = set()

    def walk(cmd: Any, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())
        else:
            out.add(path)

    walk(get_command(build_app()), "")
    return out


def test_the_grammar_tests_cover_every_command() -> None:
    assert _leaf_commands() == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_common_flags(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *command.split(), "--help")
    assert code == 0
    for flag in ("-o, --output FILE", "-q, --quiet", "-v, --verbose", "--color auto|always|never"):
        assert flag in out, f"{command} --help lacks {flag}"
    if command not in NO_FORMAT:
        assert "--format" in out
        if command != "context check":  # -f is the Dockerfile there, as in docker build
            assert "-f, --format" in out
    if command in FAILS_ON:
        assert FAILS_ON[command] in out


@pytest.mark.parametrize("command", COMMANDS)
def test_output_flag_moves_stdout_into_the_file(
    command: str,
    capsys: pytest.CaptureFixture[str],
    fingerprints: tuple[Path, Path, str, Path],
    tmp_path: Path,
) -> None:
    argv = BASE(fingerprints)[command]
    code, out, _ = run(capsys, *argv)
    assert code in (0, 1) and out
    for spelling in ("-o", "--output"):
        dest = tmp_path / f"out{spelling}.txt"
        code2, out2, _ = run(capsys, *argv, spelling, dest)
        assert (code2, out2) == (code, "")
        assert dest.read_text() == out
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", [["-q"], ["--quiet"], ["-v"], ["--verbose"], ["--color", "never"]])
def test_common_flags_leave_stdout_alone_after_and_before_the_command(
    command: str,
    flag: list[str],
    capsys: pytest.CaptureFixture[str],
    fingerprints: tuple[Path, Path, str, Path],
) -> None:
    argv = BASE(fingerprints)[command]
    base = run(capsys, *argv)[:2]
    assert run(capsys, *argv, *flag)[:2] == base
    assert run(capsys, *flag, *argv)[:2] == base  # global spelling: cacheinspect -v inspect ...


@pytest.mark.parametrize("command", COMMANDS)
def test_color_always_only_adds_colour(
    command: str, capsys: pytest.CaptureFixture[str], fingerprints: tuple[Path, Path, str, Path]
) -> None:
    argv = BASE(fingerprints)[command]
    code, out, _ = run(capsys, *argv)
    code2, out2, _ = run(capsys, *argv, "--color", "always")
    assert code2 == code and ANSI.sub("", out2) == out


@pytest.mark.parametrize("command", COMMANDS)
def test_quiet_and_verbose_together_are_a_usage_error(
    command: str, capsys: pytest.CaptureFixture[str], fingerprints: tuple[Path, Path, str, Path]
) -> None:
    argv = BASE(fingerprints)[command]
    for combo in (["-q", "-v"], ["--quiet", "--verbose"]):
        code, out, err = run(capsys, *argv, *combo)
        assert code == 2 and out == ""
        assert err.splitlines()[0] == "error: -q/--quiet and -v/--verbose contradict each other: give one"
    code, _, err = run(capsys, "-q", *argv, "-v")
    assert code == 2 and "contradict" in err


def test_color_always_colours_severities_in_tables(capsys: pytest.CaptureFixture[str]) -> None:
    """The severities the fixture's audit reports (info mode-min, error mode-mismatch), coloured."""
    argv = ["audit", FIX / "threestage-min", "--expect-mode", "max", "--color", "always"]
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert "\x1b[31merror\x1b[0m  " in out and "\x1b[36minfo\x1b[0m  " in out
    code, out, _ = run(capsys, *argv[:-2], "--color", "always", "-f", "json")
    assert "\x1b[" not in out  # machine formats never


def test_no_color_and_never_beat_auto(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cacheinspect.cli._grammar import color_enabled

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert color_enabled(Tty(), "auto")
    assert not color_enabled(Tty(), "never")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_enabled(Tty(), "auto")
    assert color_enabled(Tty(), "always")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect", FIX / "threestage-max", "--records", "5", "--no-records"], "--records and --no-records"),
        (["inspect", FIX / "threestage-max", "--layers", "all", "--no-layers"], "--layers and --no-layers"),
        (["inspect", FIX / "threestage-max", "--insecure", "--plain-http"], "--insecure and --plain-http"),
        (
            ["audit", FIX / "threestage-max", "--check-blobs", "--no-check-blobs"],
            "--check-blobs and --no-check-blobs",
        ),
        (["audit", FIX / "threestage-max", "--no-check-blobs", "--verify-blobs"], "--no-check-blobs"),
        (["inspect", FIX / "threestage-max", "--target", "build"], "--target needs --dockerfile"),
        (["inspect", FIX / "threestage-max", "--build-arg", "A=1"], "--build-arg needs --dockerfile"),
        (["inspect", FIX / "threestage-max", "--raw", "config", "-f", "json"], "--raw"),
        (["inspect", FIX / "threestage-max", "--platform", "banana"], "--platform 'banana'"),
        (["graph", FIX / "threestage-max", "--platform", "linux"], "--platform 'linux'"),
        (
            ["diff", FIX / "threestage-min", FIX / "threestage-max", "--platform", "linux/banana"],
            "architecture",
        ),
        (["audit", FIX / "threestage-max", "--require-platform", "banana/amd64"], "operating system"),
        (["context", "check", FIX / "crosshost-a", CASES / "crosshost", "--platform", "x"], "--platform 'x'"),
        (["context", "check", FIX / "crosshost-a", CASES / "crosshost", "--buildkit-version", "13"], "v0.13"),
        (["context", "fingerprint", CASES / "crosshost", "--buildkit-version", "13"], "v0.13"),
        (["gc", "simulate", GC / "engine-df.json", "--buildkit-version", "13"], "v0.13"),
        (["gc", "lint", "--policy", GC / "daemon-traps.json", "--buildkit-version", "v13"], "v0.13"),
        (["gc", "lint", "--policy", GC / "daemon-traps.json", "--docker-version", "banana"], "Docker Engine"),
        (["audit", FIX / "threestage-max", "--max-age", "7x"], "invalid duration"),
        (["gc", "simulate", GC / "engine-df.json", "--now", "banana"], "--now"),
    ],
    ids=lambda v: " ".join(map(str, v)).replace(str(ROOT) + "/", "")[:60] if isinstance(v, list) else None,
)
def test_conflicts_and_malformed_values_are_usage_errors(
    argv: list[str | Path], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith("error: ") and message in first, err
    assert all(line.startswith(("error: ", "hint: ")) for line in err.splitlines())


def test_a_flag_without_effect_says_so_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Both caches of the diff are registry-cache layouts: one note, not two."""
    code, _, err = run(
        capsys, "diff", FIX / "threestage-min", FIX / "threestage-max", "--platform", "linux/amd64"
    )
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("note: --platform")]
    assert len(notes) == 1 and "records no platforms" in notes[0]
    code, _, err = run(capsys, "-q", "inspect", FIX / "threestage-max", "--platform", "linux/amd64")
    assert code == 0 and err == ""
    # an inline cache records platforms: --platform picks one, and nothing is said
    code, _, err = run(capsys, "inspect", FIX / "threestage-inline", "--platform", "linux/amd64")
    assert code == 0 and "note:" not in err


def test_context_check_dash_f_with_a_format_name_suggests_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "context", "check", FIX / "crosshost-a", CASES / "crosshost", "-f", "json")
    assert code == 2
    assert err.splitlines()[1] == (
        "hint: -f names the Dockerfile here (as in docker build); did you mean --format json?"
    )


def test_gc_lint_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    """The fixture has an error (GC000) and warnings: never passes, error fails, the default fails."""
    argv = ["gc", "lint", "--policy", GC / "daemon-traps.json"]
    assert run(capsys, *argv)[0] == 1
    assert run(capsys, *argv, "--fail-on", "error")[0] == 1
    assert run(capsys, *argv, "--fail-on", "never")[0] == 0
    assert run(capsys, *argv, "--fail-on", "bogus")[0] == 2


def test_help_examples_are_not_wrapped_mid_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """No help line ends in a hyphen that cut a word (`--allow-` / `missing`, `oci-` / `layout://`)."""
    for command in ["", *COMMANDS]:
        code, out, _ = run(capsys, *command.split(), "--help")
        assert code == 0
        cut = [line for line in out.splitlines() if re.search(r"\w-$", line)]
        assert cut == [], f"{command or 'cacheinspect'} --help: {cut}"


@pytest.mark.parametrize(
    "argv",
    [
        ["gc", "simulate", GC / "engine-df.json"],  # fails inside: the default policy needs a disk
        # a Dockerfile BuildKit rejects (ADD --checksum on a local source): exit 2
        ["lint", ROOT / "tests" / "dockerfile" / "cases" / "add-checksum-needs-remote.Dockerfile"],
        ["inspect", FIX / "threestage-max", "--records", "x"],  # a bad value found inside the command
    ],
)
def test_a_failed_run_leaves_the_output_file_alone(
    argv: list[str | Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dest = tmp_path / "report.txt"
    dest.write_text("the previous report\n")
    code, _, err = run(capsys, *argv, "-o", dest)
    assert code == 2, err
    assert dest.read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt"]
