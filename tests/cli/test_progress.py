"""Progress on a terminal (issue 19, item 4): one line on stderr, erased at the end, silenced by -q, never
in the output.

stderr is a real pseudo-terminal here; ``CACHEINSPECT_PROGRESS_DELAY=0`` draws the line at once instead
of after a second, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
CASES = ROOT / "testbed" / "cases"


def on_a_terminal(*argv: str, delay: str = "0") -> tuple[int, str, str]:
    """Run cacheinspect with stderr on a pty: (exit code, stdout, what the terminal received)."""
    master, slave = pty.openpty()
    env = {**os.environ, "CACHEINSPECT_PROGRESS_DELAY": delay, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "cacheinspect", *argv],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    out = p.stdout.read() if p.stdout else b""
    code = p.wait(timeout=120)
    if p.stdout:
        p.stdout.close()
    term = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        term += chunk
    os.close(master)
    return code, out.decode(), term.decode(errors="replace")


def test_a_progress_line_on_the_terminal_erased_at_the_end() -> None:
    code, out, term = on_a_terminal("inspect", str(FIX / "threestage-max"), "--no-records")
    assert code == 0
    assert "cacheinspect inspect: loading and decoding" in term
    assert term.endswith("\r\x1b[K")  # erased: the prompt comes back on a clean line
    assert "cacheinspect inspect" not in out and "\x1b[K" not in out  # never in the output


def test_context_check_names_its_phases() -> None:
    code, _, term = on_a_terminal("context", "check", str(FIX / "crosshost-a"), str(CASES / "crosshost"))
    assert code == 0
    assert "cacheinspect context check: walking" in term


def test_quiet_silences_progress() -> None:
    code, out, term = on_a_terminal("-q", "inspect", str(FIX / "threestage-max"), "--no-records")
    assert code == 0 and out
    assert term == ""


def test_no_line_off_a_terminal() -> None:
    env = {**os.environ, "CACHEINSPECT_PROGRESS_DELAY": "0"}
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", str(FIX / "threestage-max")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0 and p.stderr == ""


def test_severities_are_coloured_on_a_terminal_unless_no_color() -> None:
    """stdout on a pty: audit's severity column is coloured; NO_COLOR turns it off."""
    argv = [
        sys.executable,
        "-m",
        "cacheinspect",
        "audit",
        str(FIX / "threestage-min"),
        "--expect-mode",
        "max",
    ]
    for no_color, coloured in ((None, True), ("1", False)):
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm", "CACHEINSPECT_PROGRESS_DELAY": "60"}
        env.pop("NO_COLOR", None)
        if no_color:
            env["NO_COLOR"] = no_color
        p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        assert p.wait(timeout=120) == 1
        os.close(master)
        text = data.decode()
        assert ("\x1b[31merror\x1b[0m" in text) is coloured, text
        assert "mode-mismatch" in text
