"""The README is honest: its example blocks are real output, its first section gets a new user to a first
answer, and every local path it names exists.

Example blocks (a fence opening with ``$ cacheinspect ARGS``) in the README and in the docs pages the README
moved its reference into are run; every line shown (bar the ``…`` elisions) must be in what the command
prints.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
#: The docs pages that hold what the README used to (their examples were README examples).
MOVED = ["docs/registry-cache.md"]
EXAMPLE = re.compile(r"```\n\$ cacheinspect ([^\n]*)\n(.*?)```", re.S)
BLOCKS = [(name, *m) for name in ["README.md", *MOVED] for m in EXAMPLE.findall((ROOT / name).read_text())]


def test_readme_has_examples() -> None:
    assert sum(1 for b in BLOCKS if b[0] == "README.md") >= 6
    assert sum(1 for b in BLOCKS if b[0] != "README.md") >= 3


@pytest.mark.parametrize(("page", "args", "body"), BLOCKS, ids=[f"{b[0]}: {b[1][:40]}" for b in BLOCKS])
def test_readme_example_is_real_output(page: str, args: str, body: str) -> None:
    argv = shlex.split(args.split("  #")[0])
    out = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *argv], capture_output=True, text=True, cwd=ROOT, timeout=60
    ).stdout
    shown = [line for line in body.splitlines() if line.strip() and line.strip() != "…"]
    assert [line for line in shown if line not in out] == []


def _sections() -> list[str]:
    return re.findall(r"^## (.+)$", README, re.M)


def test_the_readme_opens_with_the_first_five_minutes() -> None:
    """Install, then the offline tour, then the local registry, then CI; the user guide after that."""
    assert _sections()[:2] == ["First five minutes", "User guide"]
    first = README[README.index("## First five minutes") : README.index("## User guide")]
    subs = re.findall(r"^### (.+)$", first, re.M)
    assert (
        subs[0] == "Install" and "offline" in subs[1] and "make try-registry" in subs[2] and "CI" in subs[3]
    )
    install = first[: first.index(subs[1])]
    for said in ("pipx install .", "pip install .", ". .venv/bin/activate", "make demo"):
        assert said in install, said
    # the tour's first command needs nothing but the install
    tour = first[first.index(subs[1]) :]
    assert EXAMPLE.search(tour), "the tour shows real output"


def test_reference_material_lives_in_docs() -> None:
    """Benchmarks and internals are linked, not inlined: no performance table in the README."""
    assert "| growth exponent |" not in README and "## Performance" not in README
    for page in ("docs/performance.md", "docs/registry-cache.md", "docs/library.md", "docs/development.md"):
        assert f"]({page})" in README, page
        assert (ROOT / page).is_file(), page


def test_every_local_path_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?<![\w./-])((?:fixtures|testbed|docs|tests)/[\w./-]*\w)", README))
    assert named
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_every_docs_link_resolves() -> None:
    for page in ["README.md", *MOVED]:
        base = (ROOT / page).parent
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (ROOT / page).read_text()):
            if "://" in target:
                continue
            assert (base / target).exists(), f"{page}: {target}"
