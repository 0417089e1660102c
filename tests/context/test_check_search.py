"""The single-change search: each kind of host difference is found, and only an exact reproduction counts.

Host A's root is computed from a tree with one known change applied (the way A's checkout differs);
the search, given B's tree, must name exactly that change, or nothing when two things differ.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cacheinspect.context.checksum import RuleSet, Selector, checksum, root_digest
from cacheinspect.context.search import Explanation, search_single_change
from cacheinspect.context.tree import ContextTree, Entry

RULES = RuleSet.V0_10


def tree_b() -> ContextTree:
    return ContextTree(
        {
            "/app.conf": Entry.file(b"listen = 8080\n"),
            "/data": Entry.dir(),
            "/data/one.txt": Entry.file(b"one\n"),
            "/data/two.txt": Entry.file(b"two\r\nlines\r\n"),
            "/data/sub": Entry.dir(),
            "/data/sub/three.txt": Entry.file(b"three\n", xattrs={"user.origin": b"b"}),
            "/data/current": Entry.symlink("one.txt"),
        }
    )


def root_of(tree: ContextTree, sel: Selector) -> str:
    return root_digest([checksum(tree, sel, RULES)])


def a_with(change: Callable[[ContextTree], ContextTree]) -> ContextTree:
    return change(tree_b())


DATA = Selector("/data")


@pytest.mark.parametrize(
    ("sel", "change", "want"),
    [
        (
            Selector("/app.conf"),
            lambda t: t.replace_entries({"/app.conf": Entry.file(b"listen = 8080\n", mode=0o600)}),
            Explanation("/app.conf", "mode", "0644", "0600"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/sub/three.txt": Entry.file(b"three\n")}),
            Explanation("/data/sub/three.txt", "xattr user.origin", "present", "absent"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/two.txt": Entry.file(b"two\nlines\n")}),
            Explanation("/data/two.txt", "content", "CRLF line endings", "LF line endings"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/one.txt": None}),
            Explanation("/data/one.txt", "exists", "yes", "no"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/current": Entry.symlink("two.txt")}),
            Explanation("/data/current", "linkname", "one.txt", "two.txt"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/sub": Entry.dir(mode=0o700)}),
            Explanation("/data/sub", "mode", "0755", "0700"),
        ),
        (
            DATA,
            lambda t: t.replace_entries({"/data/sub": None}),
            Explanation("/data/sub", "exists", "yes", "no"),
        ),
    ],
    ids=["mode", "xattr", "crlf", "file-added-here", "symlink", "dir-mode", "dir-added-here"],
)
def test_single_change_is_found(
    sel: Selector, change: Callable[[ContextTree], ContextTree], want: Explanation
) -> None:
    b = tree_b()
    res = search_single_change(b, [sel], root_of(a_with(change), sel), RULES)
    assert res.explanations == (want,)


def test_umask_of_a_whole_tree() -> None:
    b = ContextTree(
        {
            "/data": Entry.dir(mode=0o775),
            "/data/a": Entry.file(b"a\n", mode=0o664),
            "/data/b": Entry.file(b"b\n", mode=0o664),
            "/data/s": Entry.dir(mode=0o775),
            "/data/s/c": Entry.file(b"c\n", mode=0o664),
        }
    )
    a = ContextTree(
        {
            "/data": Entry.dir(),
            "/data/a": Entry.file(b"a\n"),
            "/data/b": Entry.file(b"b\n"),
            "/data/s": Entry.dir(),
            "/data/s/c": Entry.file(b"c\n"),
        }
    )
    res = search_single_change(b, [DATA], root_of(a, DATA), RULES)
    assert [(e.path, e.field) for e in res.explanations] == [("/data", "mode")]
    assert "umask 0002" in res.explanations[0].here


def test_file_left_out_by_dockerignore_here() -> None:
    full = tree_b()
    full.add("/data/keep.log", Entry.file(b"kept\n"))
    view = tree_b()  # keep.log excluded here
    res = search_single_change(view, [DATA], root_of(full, DATA), RULES, full_tree=full)
    assert res.explanations == (
        Explanation("/data/keep.log", "exists", "no (left out by .dockerignore here)", "yes"),
    )


def test_two_changes_are_not_explained_by_one() -> None:
    def two(t: ContextTree) -> ContextTree:
        return t.replace_entries({"/data/one.txt": Entry.file(b"ONE\n"), "/data/sub/three.txt": None})

    res = search_single_change(tree_b(), [DATA], root_of(a_with(two), DATA), RULES)
    assert res.explanations == () and res.tried > 10 and not res.stopped


def test_budget_stops_the_search() -> None:
    res = search_single_change(tree_b(), [DATA], "sha256:" + "0" * 64, RULES, budget=20)
    assert res.explanations == () and res.stopped


def test_rules_are_chosen_by_which_reproduces_a_root_of_the_cache() -> None:
    """A wildcard COPY hashes differently under v0.26+ (paths below the prefix) than under v0.10-v0.24
    (basenames): the rule set whose root is in the cache is the one BuildKit used, and is reported."""
    from cacheinspect.context.check import choose_rules
    from cacheinspect.context.fingerprint import CopyStep, compute_roots

    tree = ContextTree(
        {
            "/conf": Entry.dir(),
            "/conf/a.ini": Entry.file(b"a\n"),
            "/conf/b.ini": Entry.file(b"b\n"),
        }
    )
    step = CopyStep("stage-0", 2, "COPY conf/*.ini /conf/", ("conf/*.ini",))
    for rules in (RuleSet.V0_26, RuleSet.V0_10):
        (sr,) = compute_roots(tree, [step], rules)
        assert sr.root is not None
        chosen, roots, reason = choose_rules(tree, [step], {sr.root})
        assert roots[("stage-0", 2)].root == sr.root
        if rules is RuleSet.V0_26:
            assert chosen is RuleSet.V0_26 and reason.startswith("v0.26+ reproduces 1 of 1")
        else:
            assert chosen is RuleSet.V0_10 and "v0.10-v0.13" in reason
    forced, _, why = choose_rules(tree, [step], set(), RuleSet.V0_25)
    assert forced is RuleSet.V0_25 and why == "forced with --buildkit-version"


def test_a_long_search_reports_progress() -> None:
    files = {f"/data/f{i:04d}": Entry.file(b"x\n") for i in range(1000)}
    b = ContextTree({"/data": Entry.dir(), **files})
    a = b.replace_entries({"/data/f0000": Entry.file(b"x\n"), "/data/f0001": Entry.file(b"y\n")})
    calls: list[tuple[str, int, int]] = []
    res = search_single_change(
        b,
        [DATA],
        root_of(a, DATA),
        RULES,
        budget=10**12,  # every candidate (the default budget stops a wide directory early)
        progress=lambda k, d, t: calls.append((k, d, t)),
    )
    assert res.explanations == () and res.tried > 10_000
    assert calls[0] == ("search", 10_000, 0)
    assert calls[-1] == ("search", res.tried, res.tried)
