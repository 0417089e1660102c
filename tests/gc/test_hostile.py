"""Issue 17 for `du`, `gc simulate` and `gc lint`: hostile input gives one `error:` line with a documented
exit code (never 70), reads are bounded, output is escaped and linear in the input."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from cacheinspect.cli import main
from cacheinspect.errors import EXIT_INTEGRITY, EXIT_USAGE

DATA = Path(__file__).parent / "data"
PRUNE = "docker builder prune -f --keep-storage 1000"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def one_error(err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: ") and "internal error" not in err, err
    assert len([ln for ln in lines if not ln.startswith("hint: ")]) == 1, err


def dump(records: list[dict[str, object]]) -> str:
    return json.dumps({"BuildCache": records})


def rec(rid: str, **kw: object) -> dict[str, object]:
    return {"ID": rid, "Type": "regular", "Size": 10, "LastUsedAt": "2026-01-01T00:00:00Z", **kw}


# -- exit codes, never 70 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["du"], ["gc", "simulate", "--prune", PRUNE, "--buildkit-version", "v0.13"]])
@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError in json.loads
        '{"BuildCache": [' + "{" * 5000 + "}" * 5000 + "]}",
        '{"BuildCache": [{"ID": "a", "Size": 1' + "0" * 400 + "}]}",  # past int64 (and float)
        '{"BuildCache": [{"ID": "a", "Size": 1' + "0" * 5000 + "}]}",  # past Python's int digit limit
        '{"BuildCache": [{"ID": "a", "UsageCount": "' + "9" * 400 + '"}]}',
    ],
    ids=["deep-array", "deep-objects", "size-1e400", "size-5000-digits", "usage-400-digits"],
)
def test_hostile_dump_is_a_malformed_content_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: list[str], content: str
) -> None:
    f = tmp_path / "d.json"
    f.write_text(content)
    code, _, err = run([*cmd[:1], *([cmd[1]] if len(cmd) > 1 else []), str(f), *cmd[2:]], capsys)
    assert code == EXIT_INTEGRITY, err
    one_error(err)


def test_buildx_text_age_past_the_calendar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "du.txt"
    f.write_text("ID:\tabc\nSize:\t1kB\nLast used:\t" + "9" * 11 + " years ago\n\n")
    code, _, err = run(["du", str(f), "--now", "@1800000000"], capsys)
    assert code in (0, EXIT_INTEGRITY), err
    assert "internal error" not in err
    f.write_text("ID:\tabc\nSize:\t1kB\nLast used:\t" + "9" * 40 + " years ago\n\n")
    code, _, err = run(["du", str(f), "--now", "@1800000000"], capsys)
    assert code == EXIT_INTEGRITY
    one_error(err)


@pytest.mark.parametrize(
    "policy",
    [
        '{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "1' + "0" * 400 + 'GB"}}}',
        '{"builder": {"gc": {"enabled": true, "policy": [{"keepStorage": "1GB", "filter": ["until='
        + "9" * 400
        + 'h"]}]}}}',
        '{"a": ' + "[" * 10000 + "]" * 10000 + "}",
        "[worker.oci]\ngckeepstorage = 1" + "0" * 400 + "\n",
        "[worker.oci]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        "[worker.oci]\n[[worker.oci.gcpolicy]]\nkeepDuration = " + "9" * 30 + "\n",
        "\xff\xfe garbage \x00\x01 not a policy",
        "this is not a policy at all = = =",
    ],
    ids=[
        "keepstorage-1e400",
        "until-400-nines",
        "deep-json",
        "toml-int-1e400",
        "deep-toml",
        "toml-dur",
        "binary",
        "garbage",
    ],
)
def test_hostile_policy_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str) -> None:
    f = tmp_path / "policy"
    f.write_bytes(policy.encode("latin-1") if "\xff" in policy else policy.encode())
    for argv in (
        ["gc", "lint", "--policy", str(f), "--docker-version", "26.1"],
        ["gc", "lint", "--policy", str(f)],
        ["gc", "simulate", str(DATA / "engine-df.json"), "--policy", str(f), "--docker-version", "28.5",
         "--disk-size", "100GB", "--disk-free", "50GB"],
    ):  # fmt: skip
        code, _, err = run(argv, capsys)
        assert code in (EXIT_USAGE, 1), (argv, err)  # 1: a GC000 finding "dockerd refuses this file"
        assert "internal error" not in err
        if code == EXIT_USAGE:
            one_error(err)


@pytest.mark.parametrize(
    "prune",
    [
        "docker builder prune --filter until=" + "9" * 400 + "h",
        "docker builder prune --keep-storage 1" + "0" * 400,
        "buildctl prune --keep-storage 1" + "0" * 400,
        "/build/prune?filters=" + "{" * 50000,
        "/build/prune?keep-storage=" + "9" * 400,
        'docker builder prune -f --filter "until=' + "9" * 400 + '"',
    ],
)
def test_hostile_prune_line_exit_2(capsys: pytest.CaptureFixture[str], prune: str) -> None:
    code, _, err = run(["gc", "simulate", str(DATA / "engine-df.json"), "--prune", prune,
                        "--docker-version", "28.5"], capsys)  # fmt: skip
    assert code == EXIT_USAGE, err
    one_error(err)
    code, _, err = run(["gc", "lint", "--prune", prune], capsys)
    assert code in (EXIT_USAGE, 1) and "internal error" not in err


def test_now_past_float_range(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["du", str(DATA / "engine-df.json"), "--now", "@1" + "0" * 400], capsys)
    assert code == EXIT_USAGE
    one_error(err)


def test_write_error_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    for argv in (["du", str(DATA / "engine-df.json")],
                 ["gc", "simulate", str(DATA / "engine-df.json"), "--prune", PRUNE]):  # fmt: skip
        code, _, err = run([*argv, "-o", "/dev/full"], capsys)
        assert code == EXIT_USAGE and "No space left" in err
        one_error(err)


# -- bounded reads ----------------------------------------------------------------------------------------
def test_fifo_and_dev_zero_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    done: list[int] = []

    def go() -> None:
        for p in (fifo, zero):
            for argv in (["du", str(p)], ["gc", "lint", "--policy", str(p)],
                         ["gc", "simulate", str(DATA / "engine-df.json"), "--policy", str(p)]):  # fmt: skip
                try:
                    main(argv)
                except SystemExit as e:
                    done.append(int(e.code or 0))

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "a FIFO or /dev/zero was read without bound"
    assert done == [EXIT_USAGE] * 6
    err = capsys.readouterr().err
    assert "is a FIFO" in err and "is a device" in err


# -- escapes ----------------------------------------------------------------------------------------------
EVIL = "abc\x1b]0;pwned\x07\x1b[31mred\u202eevil\u009b"


def test_du_and_simulate_tables_escape_ids_and_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "d.json"
    f.write_text(dump([rec(EVIL, Type="regular\x1b[2J"), rec("kid", Parents=[EVIL], Description="\u202ex")]))
    for argv in (["du", str(f)], ["du", str(f), "-f", "markdown"],
                 ["gc", "simulate", str(f), "--prune", "docker builder prune -f", "--buildkit-version", "v0.25"],
                 ["gc", "simulate", str(f), "--prune", "docker builder prune -f --keep-storage 1",
                  "--buildkit-version", "v0.13", "-f", "markdown"]):  # fmt: skip
        code, out, err = run(argv, capsys)
        assert code == 0, err
        for bad in ("\x1b", "\x07", "\u202e", "\u009b"):
            assert bad not in out, (argv, out)
        assert "\\x1b]0;pwned" in out


def test_du_json_escapes_bidi_but_keeps_the_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "d.json"
    f.write_text(dump([rec(EVIL, Description="x\u202ey")]))
    for argv in (
        ["du", str(f), "-f", "json"],
        [
            "gc",
            "simulate",
            str(f),
            "-f",
            "json",
            "--prune",
            "docker builder prune -f",
            "--buildkit-version",
            "v0.13",
        ],
    ):
        code, out, _ = run(argv, capsys)
        assert code == 0 and "\u202e" not in out and "\x1b" not in out and "\u009b" not in out
        doc = json.loads(out)
        ids = [r["id"] for r in doc["records"]] if "records" in doc else doc["deleted"]
        assert ids == [EVIL]


# -- linear output ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2000])
def test_du_of_a_parent_chain_is_linear(tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int) -> None:
    recs = [rec(f"r{i:06d}", Parents=[f"r{i - 1:06d}"] if i else None) for i in range(n)]
    f = tmp_path / "d.json"
    f.write_text(dump(recs))
    code, out, _ = run(["du", str(f)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert all(f"r{i:06d}" in out for i in (0, n // 2, n - 1))
    # before: row i carried 3*i characters of tree prefix (2,000 records: 6 MB); now a bounded prefix
    assert max(len(ln) for ln in lines) < 400
    assert len(out) < 400 * (n + 10)
    assert f"[depth {n - 1}]" in out


def test_du_long_cell_does_not_pad_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = [rec("x" * 100_000)] + [rec(f"r{i}") for i in range(500)]
    f = tmp_path / "d.json"
    f.write_text(dump(recs))
    for fmt in ("table", "markdown"):
        code, out, _ = run(["du", str(f), "-f", fmt], capsys)
        assert code == 0 and len(out) < 100_000 + 500 * 400
