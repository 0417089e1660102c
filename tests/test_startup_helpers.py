"""The core start-up helpers of issue 17: lazy regexps, loggers made on first use, RE2 in one place."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cacheinspect._lazyre import lazy
from cacheinspect._re2 import LARGE, Re2Error, compile_go


def test_a_lazy_pattern_compiles_on_first_use_and_behaves_as_re() -> None:
    rx = lazy(r"(?P<k>[a-z]+)=(\d+)", re.ASCII)
    assert "match" not in vars(rx)  # nothing compiled yet
    m = rx.fullmatch("abc=12")
    assert m is not None and m.group("k") == "abc" and m.group(2) == "12"
    assert "match" in vars(rx)  # now the compiled pattern's methods are its own attributes
    assert rx.sub("-", "a=1 b=2") == "- -"
    assert rx.pattern == r"(?P<k>[a-z]+)=(\d+)" and rx.flags & re.ASCII and rx.groups == 2
    assert [m.group(1) for m in rx.finditer("x=1,y=2")] == ["x", "y"]
    b = lazy(rb"\\u[dD][89a-fA-F]")
    assert b.search(rb'"\ud800"') is not None


def test_a_bad_lazy_pattern_fails_where_it_is_used() -> None:
    rx = lazy("(")
    with pytest.raises(re.error):
        rx.match("x")


def test_re2_compiles_go_syntax_and_reports_its_refusals() -> None:
    rx = compile_go(rb"^a.*b$")
    assert rx.search(b"axxb") is not None
    with pytest.raises(Re2Error, match=r"^missing \)"):  # RE2's own words, not a bytes repr
        compile_go("(")
    # a pattern RE2's default memory cap refuses compiles under the larger cap Go's sizes need
    big = "a{100}" * 20000
    with pytest.raises(Re2Error):
        compile_go(big)
    assert compile_go(big, max_mem=LARGE).fullmatch("a" * 2_000_000) is not None


def _modules(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_a_logger_is_configured_when_first_asked_for() -> None:
    out = _modules(
        "import sys\n"
        "from cacheinspect import _log\n"
        "seen = []\n"
        "_log.configure_on_first_use(lambda: seen.append('configured'))\n"
        "print('logging' in sys.modules, seen)\n"
        "log = _log.get('cacheinspect.x')\n"
        "print('logging' in sys.modules, seen, log.name)\n"
        "_log.get()\n"
        "print(seen)\n"
    )
    assert out.splitlines() == [
        "False []",  # nothing imported or configured before a logger is wanted
        "True ['configured'] cacheinspect.x",
        "['configured']",  # once
    ]


def test_with_logging_already_loaded_the_configuration_runs_at_once() -> None:
    out = _modules(
        "import logging\n"
        "from cacheinspect import _log\n"
        "seen = []\n"
        "_log.configure_on_first_use(lambda: seen.append(1))\n"
        "print(seen)\n"
    )
    assert out == "[1]"
