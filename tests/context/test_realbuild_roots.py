"""The roots real BuildKit v0.13 exported for tests/context/realbuild.py's context, reproduced offline.

One context covers: file and directory symlinks, a symlink chain, a symlink inside a copied
directory, ``..`` in a source, wildcards over files, directories and symlinks, setuid and sticky
modes, user.* xattrs on a file and a directory, hard links, a fifo, an empty file and directory,
CRLF content, unicode and bracketed names in byte order, a 3 MB file, and a .dockerignore with
comments, ``**``, ``!`` exceptions, leading ``/`` and ``./``, an excluded parent with an exception,
and the Dockerfile and .dockerignore themselves excluded (buildx, unlike the classic CLI, does not put
them back).
Dockerfile.a names paths (the client sends only those, fsutil FollowPaths); Dockerfile.b adds
``COPY .`` (the whole context is sent) and an empty wildcard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cacheinspect.context import (
    RuleSet,
    client_view,
    compute_roots,
    copy_steps,
    hash_tree,
    read_dockerignore,
    walk_context,
)
from cacheinspect.dockerfile import parse_dockerfile, resolve

from .realbuild import (
    DOCKERFILE_A,
    DOCKERFILE_B,
    DOCKERFILE_Q1,
    DOCKERFILE_Q2,
    ROOTS_A,
    ROOTS_B,
    ROOTS_Q2,
    make_context,
    make_quirks_context,
)


def roots(ctx: Path, dockerfile: str, rules: RuleSet = RuleSet.V0_10) -> dict[int, str | None]:
    steps, paths = copy_steps(resolve(parse_dockerfile(dockerfile)))
    view = hash_tree(client_view(walk_context(ctx), paths, read_dockerignore(ctx)))
    return {r.step.line: r.root for r in compute_roots(view, steps, rules)}


@pytest.mark.parametrize(
    ("dockerfile", "expected"), [(DOCKERFILE_A, ROOTS_A), (DOCKERFILE_B, ROOTS_B)], ids=["a", "b"]
)
def test_roots_equal_the_real_build(tmp_path: Path, dockerfile: str, expected: dict[int, str]) -> None:
    ctx = make_context(tmp_path / "ctx")
    assert roots(ctx, dockerfile) == expected


def test_plain_paths_agree_under_every_rule_set(tmp_path: Path) -> None:
    """The symlink and wildcard rule changes after v0.13 touch only corner cases: plain files and
    directories without symlinks give the same roots under all four rule sets."""
    ctx = make_context(tmp_path / "ctx")
    plain = [2, 5, 8, 9, 10, 11, 16, 17, 18, 19, 20, 22]  # no symlink on the way, no wildcard
    base = roots(ctx, DOCKERFILE_A)
    for rules in RuleSet:
        got = roots(ctx, DOCKERFILE_A, rules)
        assert {k: got[k] for k in plain} == {k: base[k] for k in plain}, rules


def test_v013_symlink_quirk_as_the_real_build(tmp_path: Path) -> None:
    ctx = make_quirks_context(tmp_path / "q")
    assert roots(ctx, DOCKERFILE_Q2) == ROOTS_Q2
    # only the named path is sent: BuildKit v0.13 failed with `"/y": not found`
    got = {}
    steps, paths = copy_steps(resolve(parse_dockerfile(DOCKERFILE_Q1)))
    view = hash_tree(client_view(walk_context(ctx), paths, []))
    for r in compute_roots(view, steps):
        got[r.step.line] = (r.root, r.error_path)
    assert got == {2: (None, "/y")}
    # v0.14+ resolves like the kernel and reads real/y, which the client did send
    v014 = compute_roots(view, steps, RuleSet.V0_14)
    assert v014[0].root is not None and v014[0].root != ROOTS_Q2[2]
