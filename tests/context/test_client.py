"""What the client sends (fsutil FollowPaths/FollowLinks + filter walk), on synthetic trees."""

from __future__ import annotations

from cacheinspect.context import ContextTree, Entry, EntryType, client_view, context_paths, follow_links
from cacheinspect.context.client import trim_build_files_from_excludes


def tree() -> ContextTree:
    return ContextTree(
        {
            "/Dockerfile": Entry.file(b"FROM scratch\n"),
            "/app.conf": Entry.symlink("conf/real.conf"),
            "/conf/real.conf": Entry.file(b"x"),
            "/conf/other": Entry.file(b"o"),
            "/data/a.txt": Entry.file(b"a"),
            "/data/b.log": Entry.file(b"b"),
            "/data/keep/k.log": Entry.file(b"k"),
            "/docs/readme": Entry.file(b"r"),
            "/ln": Entry.symlink("data"),
        }
    )


def paths(t: ContextTree) -> list[str]:
    return [p for p, _ in t.items() if p]


def test_context_paths() -> None:
    assert context_paths(["app.conf", "data/", "/data", "./x/../y"]) == ["app.conf", "data", "y"]
    assert context_paths(["app.conf", "."]) is None  # "." sends everything
    assert context_paths([]) is None  # no COPY from the context: nothing filters


def test_follow_links_adds_symlink_targets() -> None:
    t = tree()
    assert follow_links(t, ["app.conf"]) == ["app.conf", "conf/real.conf"]
    assert follow_links(t, ["ln/a.txt"]) == ["data/a.txt", "ln"]
    assert follow_links(t, ["*.conf"]) == ["*.conf", "conf/real.conf"]


def test_only_named_paths_and_their_parents_are_sent() -> None:
    got = client_view(tree(), ["app.conf", "data/a.txt"])
    assert paths(got) == ["/app.conf", "/conf", "/conf/real.conf", "/data", "/data/a.txt"]


def test_dockerignore_with_exception_keeps_the_excluded_parent_directory() -> None:
    got = client_view(
        tree(), ["."], ["data", "!data/keep/k.log", "**/*.log", "!data/keep/k.log", "Dockerfile"]
    )
    assert paths(got) == ["/app.conf", "/conf", "/conf/other", "/conf/real.conf", "/data", "/data/keep",
                          "/data/keep/k.log", "/docs", "/docs/readme", "/ln"]  # fmt: skip
    d = got.get("/data")
    assert d is not None and d.type is EntryType.DIR


def test_windows_client_modes() -> None:
    t = ContextTree(
        {"/f": Entry.file(b"f", mode=0o600), "/ro": Entry.file(b"r", mode=0o444), "/d/x": Entry.file(b"x")}
    )
    t.add("/f", Entry.file(b"f", mode=0o600, xattrs={"user.a": b"1"}))
    got = client_view(t, ["."], windows=True)
    assert {p: e.mode for p, e in got.items() if p} == {"/d": 0o755, "/d/x": 0o755, "/f": 0o755, "/ro": 0o555}
    f = got.get("/f")
    assert f is not None and f.xattrs == {}


def test_docker_cli_keeps_dockerfile_and_dockerignore() -> None:
    assert trim_build_files_from_excludes(["*"], "Dockerfile") == ["*", "!.dockerignore", "!Dockerfile"]
    assert trim_build_files_from_excludes(["docs"], "Dockerfile") == ["docs"]


def test_hardlinks_point_at_the_first_sent_path() -> None:
    t = ContextTree(
        {"/a": Entry.file(b"h", inode=7), "/b": Entry.file(b"h", inode=7), "/c": Entry.file(b"h", inode=7)}
    )
    got = client_view(t, ["."], ["a"])
    c = got.get("/c")
    assert got.get("/a") is None and c is not None and c.hardlink_of == "/b"
