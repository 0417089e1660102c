"""The typer-free path for real runs (cli/_fastrun.py) is typer's path, only faster (issue 17).

Every command line of the table runs in this process twice: once through typer
(``CACHEINSPECT_FASTPATH=0``) and once as the CLI does by default; stdout, stderr, the exit code and any
``-o`` file must be the same. The table holds a working line per command (test_grammar's :func:`BASE`)
with the common flags in every spelling, and bad lines: an unknown option, a missing value, a bad
choice, ``--``, repeated options, clustered and attached short options, out-of-range numbers, a missing
and an extra argument. A second test compares what each path hands to the command itself (parameters,
the common flags, which were given) without running it; a third checks that the fast path really
takes the good lines, so the comparison is not typer against typer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.cli import _fastrun, _grammar, main
from tests.cli.test_grammar import BASE, COMMANDS, fingerprints, run

__all__ = ["fingerprints"]  # the fixture, imported for pytest

#: Commands with -f/--format choices, the choice to try, and one that is not.
FORMATS = {
    "inspect": "json",
    "graph": "mermaid",
    "diff": "json",
    "audit": "json",
    "context check": "json",
    "context diff": "json",
    "lint": "sarif",
    "du": "json",
    "gc simulate": "json",
    "gc lint": "json",
    "registry probe": "json",
    "registry ls": "json",
    "registry prune": "json",
}


#: Commands that take any number of arguments.
MANY = {"audit", "lint"}
#: Commands whose first argument is required (without it they read the daemon, the current directory...).
NEEDS_ARGUMENT = {
    "inspect",
    "graph",
    "diff",
    "audit",
    "context check",
    "context diff",
    "registry ls",
    "registry prune",
    "completion",
}


def _lines(base: dict[str, list[str | Path]], out: Path) -> list[tuple[str, list[str], bool | None]]:
    """(label, argv, whether the fast path must take it: True, must leave it to typer: False, or
    may do either: None, when the line parses and the grammar or the command refuses it)."""
    rows: list[tuple[str, list[str], bool | None]] = []
    for cmd in COMMANDS:
        b = [str(a) for a in base[cmd]]
        name_len = len(cmd.split())
        head, rest = b[:name_len], b[name_len:]
        lines: list[tuple[str, list[str], bool | None]] = [("base", b, True)]
        if cmd not in ("version", "completion"):
            lines += [
                ("-q", [*b, "-q"], True),
                ("global -q", ["-q", *b], True),
                ("global --color=never -v", ["--color=never", "-v", *b], True),
                ("--quiet --color never", [*b, "--quiet", "--color", "never"], True),
                ("--color=always", [*b, "--color=always"], True),
                ("-o FILE", [*b, "-o", str(out)], True),
                ("--output=FILE", [*b, f"--output={out}"], True),
                ("options first", [*head, "--color", "never", *rest], True),
                ("unknown option", [*b, "--no-such-option"], False),
                ("unknown short option", [*b, "-Z"], False),
                ("missing value", [*b, "--color"], False),
                ("bad choice", [*b, "--color", "sometimes"], False),
                ("clustered short options", [*b, "-qv"], False),
                ("-h among the arguments", [*b, "-h"], False),
                ("extra arguments", [*b, "extra-1", "extra-2", "extra-3"], None if cmd in MANY else False),
                ("-q and -v", [*b, "-q", "-v"], None),
                ("flag with a value", [*b, "--quiet=yes"], False),
                ("-o a directory", [*b, "-o", str(out.parent)], None),
            ]
        if cmd in FORMATS:
            f = FORMATS[cmd]
            short = "--format" if cmd.startswith("context") else "-f"  # context's -f is --file
            lines += [
                ("-f", [*b, short, f], True),
                ("--format=", [*b, f"--format={f}"], True),
                ("repeated -f (the last wins)", [*b, short, "table", short, f], True),
                ("bad format", [*b, short, "yaml"], False),
                ("attached short value", [*b, f"-f{f}"], False),
            ]
        if rest and not any(a.startswith("-") for a in rest):
            lines.append(("--", [*head, "--", *rest], True))
        if cmd in NEEDS_ARGUMENT:
            lines.append(("missing argument", head, False))
        rows += [(f"{cmd}: {label}", argv, fast) for label, argv, fast in lines]
    ref = str(base["inspect"][1])
    rows += [
        ("inspect: --records N", ["inspect", ref, "--records", "3"], True),
        ("inspect: --records bad", ["inspect", ref, "--records", "x"], True),
        ("inspect: --no-records --records", ["inspect", ref, "--no-records", "--records", "2"], True),
        ("inspect: --raw config -f json", ["inspect", ref, "--raw", "config", "-f", "json"], True),
        ("inspect: --target without --dockerfile", ["inspect", ref, "--target", "x"], True),
        ("inspect: --concurrency 0", ["inspect", ref, "--concurrency", "0"], False),
        ("inspect: --concurrency +3", ["inspect", ref, "--concurrency", "+3"], False),
        ("inspect: --timeout 0.5", ["inspect", ref, "--timeout", "0.5"], True),
        ("inspect: --timeout 1e3", ["inspect", ref, "--timeout", "1e3"], False),
        ("inspect: --ca-file missing", ["inspect", ref, "--ca-file", "/no/such.pem"], False),
        ("inspect: --platform bad", ["inspect", ref, "--platform", "linux/"], True),
        ("inspect: --check-blobs twice", ["inspect", ref, "--check-blobs", "--check-blobs"], True),
        (
            "audit: --check-blobs --no-check-blobs",
            [*map(str, base["audit"]), "--check-blobs", "--no-check-blobs"],
            False,
        ),
        ("audit: --no-check-blobs", [*map(str, base["audit"]), "--no-check-blobs"], True),
        ("audit: two refs", [*map(str, base["audit"]), ref], True),
        ("lint: no file (./Dockerfile)", ["lint"], True),
        (
            "lint: two files, --build-arg twice",
            [
                "lint",
                *map(str, base["lint"][1:]),
                *map(str, base["lint"][1:]),
                "--build-arg",
                "A=1",
                "--build-arg",
                "B",
            ],
            True,
        ),
        ("gc simulate: --now -2h", ["gc", "simulate", *map(str, base["du"][1:2]), "--now", "-2h"], True),
        (
            "context check: --buildkit-version 13",
            [*map(str, base["context check"]), "--buildkit-version", "13"],
            True,
        ),
        ("group alone", ["gc"], False),
        ("unknown command", ["nosuch"], False),
        ("a global option alone", ["-q"], False),
        ("-- before the command", ["--", "lint"], False),
    ]
    return rows


@pytest.fixture(scope="module")
def table(
    fingerprints: tuple[Path, Path, str, Path], tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[str, list[str], bool | None]]:
    out = tmp_path_factory.mktemp("fastpath") / "out.txt"
    return _lines(BASE(fingerprints), out)


def _both(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> list[tuple[int, str, str, bytes | None]]:
    out = [Path(a.partition("=")[2] or a) for a in argv if a.endswith("out.txt")]
    results = []
    for fast in ("0", "1"):
        monkeypatch.setenv("CACHEINSPECT_FASTPATH", fast)
        for p in out:
            p.unlink(missing_ok=True)
        code, stdout, stderr = run(capsys, *argv)
        results.append((code, stdout, stderr, out[0].read_bytes() if out and out[0].exists() else None))
    return results


def test_both_paths_print_the_same(
    table: list[tuple[str, list[str], bool | None]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    differ = []
    for label, argv, _ in table:
        typer_run, fast_run = _both(capsys, monkeypatch, argv)
        if typer_run != fast_run:
            differ.append(f"{label}: {argv}\n  typer: {typer_run!r:.400}\n  fast:  {fast_run!r:.400}")
    assert differ == []


def test_both_paths_hand_the_command_the_same_values(
    table: list[tuple[str, list[str], bool | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What reaches the grammar (and so the command): parameters with their Python values, the common
    flags, and which parameters came from the command line; the command itself does not run."""
    seen: list[Any] = []

    class Stop(Exception):
        pass

    def capture(name: Any, path: Any, params: Any, injected: Any, given: Any, flag: Any, body: Any) -> Any:
        params.update(injected)  # as run_grammar does while the rules run
        try:
            given_names = sorted(k for k in params if given(k))
            flags = {k: flag(k) for k in params}
        finally:
            for k in injected:
                params.pop(k, None)
        seen.append((name, path, dict(params), dict(injected), given_names, flags))
        raise Stop

    monkeypatch.setattr(_grammar, "run_grammar", capture)
    taken = 0
    for label, argv, _ in table:
        if _fastrun.plan(argv) is None:
            continue
        taken += 1
        got = []
        for fast in ("0", "1"):
            monkeypatch.setenv("CACHEINSPECT_FASTPATH", fast)
            seen.clear()
            with contextlib.suppress(SystemExit):
                main(argv)
            got.append(list(seen))
        assert got[0] == got[1], label
        assert len(got[0]) == (0 if argv == ["version"] else 1), label  # `version`: cli._fast's
    assert taken >= 100


def test_the_fast_path_takes_the_good_lines_and_leaves_the_bad_ones(
    table: list[tuple[str, list[str], bool | None]],
) -> None:
    must = [(label, argv) for label, argv, fast in table if fast and _fastrun.plan(argv) is None]
    assert must == []
    left = [label for label, argv, fast in table if fast is False and _fastrun.plan(argv) is not None]
    assert left == []


def test_the_tables_are_what_typer_defines() -> None:
    """Fails after a CLI change until ``python -m cacheinspect.cli._gen_help`` is run; meanwhile the
    CLI sees the CRC differ and lets typer parse everything (slower, never wrong)."""
    from cacheinspect.cli import _fastspec, _helpcheck
    from cacheinspect.cli._gen_help import spec_all

    assert _helpcheck.current_sources() == _fastspec.SOURCES
    spec = spec_all()
    assert spec["ROOT"] == _fastspec.ROOT
    assert set(spec["GROUPS"]) == _fastspec.GROUPS
    assert spec["COMMANDS"] == _fastspec.all_commands()
    assert all(c["fast"] for c in _fastspec.all_commands().values()), "every command is on the fast path"


def test_stale_tables_send_every_line_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    from cacheinspect.cli import _helpcheck

    assert _fastrun.plan(["lint"]) is not None
    monkeypatch.setattr(_helpcheck, "current_sources", lambda: -2)
    assert _fastrun.plan(["lint"]) is None


def test_a_real_run_does_not_import_typer(tmp_path: Path) -> None:
    import subprocess
    import sys

    df = tmp_path / "Dockerfile"
    df.write_text("FROM alpine\nRUN echo hi\n")
    code = (
        "import sys\nfrom cacheinspect.cli import main\n"
        f"try:\n    main(['lint', {str(df)!r}])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(repr(sorted(m for m in ('typer', 'httpx', 'ssl', 'tabulate') if m in sys.modules)))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stderr == "[]"
