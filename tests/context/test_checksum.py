"""The engine on synthetic trees, one header field or rule at a time.

Expected digests are built in the tests from BuildKit's recipe (cache/contenthash: filehash.go,
tarsum.go v1TarHeaderSelect, checksum.go) as literal byte strings, never from the engine's output.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from cacheinspect.context import (
    EMPTY_DIGEST,
    Checksummer,
    ContextTree,
    Entry,
    EntryType,
    RuleSet,
    Selector,
    SourceNotFoundError,
    TooManyLinksError,
    UnreadableEntryError,
    checksum,
    dedupe_selectors,
    entry_digest,
    entry_header,
    root_digest,
    selector_digest,
)


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def hdr(mode: int, size: int = 0, typeflag: str = "0", linkname: str = "", xattrs: bytes = b"", uid: int = 0,
        gid: int = 0, dev: tuple[int, int] = (0, 0)) -> bytes:  # fmt: skip
    return (
        f"namemode{mode}uid{uid}gid{gid}size{size}typeflag{typeflag}linkname{linkname}"
        f"unamegnamedevmajor{dev[0]}devminor{dev[1]}"
    ).encode() + xattrs


# ------------------------------------------------------------------------------------------ one entry


def test_the_documented_example() -> None:
    e = Entry.file(b"listen = 8080\n")
    assert entry_header(e) + b"listen = 8080\n" == (
        b"namemode420uid0gid0size14typeflag0linknameunamegnamedevmajor0devminor0listen = 8080\n"
    )
    # and through the whole chain to the root record the fixture crosshost-a holds
    t = ContextTree({"/app.conf": e})
    assert root_digest([checksum(t, "/app.conf")]) == (
        "sha256:95f63722801cf5b2efcfaf9510d3942c1258b88a86716767bbaca2c26e4b9196"
    )


@pytest.mark.parametrize(
    ("mode", "decimal"),
    [
        (0o644, 420),
        (0o600, 384),
        (0o755, 493),
        (0o4755, 2541),
        (0o2755, 1517),
        (0o1777, 1023),
        (0o7777, 4095),
    ],
)
def test_mode_is_perm_plus_setuid_setgid_sticky(mode: int, decimal: int) -> None:
    assert entry_digest(Entry.file(b"x", mode=mode)) == sha(hdr(decimal, 1) + b"x")


def test_types_sizes_linkname_devices() -> None:
    assert entry_digest(Entry.dir(0o755)) == sha(hdr(493, 0, "5"))
    assert entry_digest(Entry.symlink("../t")) == sha(hdr(511, 0, "2", "../t"))
    assert entry_digest(Entry(EntryType.FIFO, mode=0o644)) == sha(hdr(420, 0, "6"))
    dev = Entry(EntryType.CHARDEV, mode=0o666, devmajor=1, devminor=3)
    assert entry_digest(dev) == sha(hdr(438, 0, "3", dev=(1, 3)))
    blk = Entry(EntryType.BLOCKDEV, mode=0o660, devmajor=8, devminor=1)
    assert entry_digest(blk) == sha(hdr(432, 0, "4", dev=(8, 1)))
    # a socket loses its type bit in the client: a regular file of its size, no content
    assert entry_digest(Entry(EntryType.SOCKET, mode=0o755)) == sha(hdr(493, 0, "0"))
    # an empty file has no content to hash
    assert entry_digest(Entry.file(b"")) == sha(hdr(420, 0))
    # a directory's size never counts, nor a symlink's linkname for other types
    assert entry_digest(Entry(EntryType.DIR, mode=0o755, size=4096)) == sha(hdr(493, 0, "5"))


def test_uid_gid_count_when_present() -> None:
    # zero for the local context (the client resets them); real ids count for snapshots
    assert entry_digest(Entry.file(b"x", uid=1000, gid=100)) == sha(hdr(420, 1, uid=1000, gid=100) + b"x")


def test_xattr_filtering_and_order() -> None:
    xattrs = {
        "user.b": b"2",
        "security.selinux": b"system_u:object_r:etc_t:s0",
        "system.posix_acl_access": b"\x02\x00",
        "trusted.t": b"tv",
        "user.a": b"1",
        "security.capability": b"\x01\x00\x00\x02",
        "com.apple.quarantine": b"q",
    }
    e = Entry.file(b"x", xattrs=xattrs)
    want = (
        b"com.apple.quarantineq"
        + b"security.capability\x01\x00\x00\x02"
        + b"trusted.ttv"
        + b"user.a1"
        + b"user.b2"
    )
    assert entry_digest(e) == sha(hdr(420, 1, xattrs=want) + b"x")
    # SELinux labels and ACLs alone change nothing (moby/buildkit#1330)
    only_ignored = Entry.file(b"x", xattrs={"security.selinux": b"l", "system.posix_acl_access": b"a"})
    assert entry_digest(only_ignored) == entry_digest(Entry.file(b"x"))


def test_xattr_names_sort_by_bytes_like_go() -> None:
    # Go sort.Strings compares bytes: b"user.\xee\x80\x80" (U+E000) < b"user.\xff" (not UTF-8)
    xattrs = {os.fsdecode(b"user.\xff"): b"1", "user.\ue000": b"2"}
    want = "user.\ue000".encode() + b"2" + b"user.\xff" + b"1"
    assert entry_digest(Entry.file(b"x", xattrs=xattrs)) == sha(hdr(420, 1, xattrs=want) + b"x")


def test_unreadable_entry_raises() -> None:
    t = ContextTree({"/a": Entry(EntryType.UNREADABLE, error="Permission denied")})
    with pytest.raises(UnreadableEntryError) as exc:
        checksum(t, "/a")
    assert exc.value.path == "/a"
    with pytest.raises(UnreadableEntryError):
        checksum(t, "/")


# ------------------------------------------------------------------------------------------ directories


def dir_digest(header: str, children: list[tuple[str, str]]) -> str:
    body = b"\0" + header.encode() + b"".join(b"\0" + n.encode() + d.encode() for n, d in children)
    return sha(body)


def test_directory_digest_and_byte_order_of_names() -> None:
    files = {n: Entry.file(n.encode()) for n in ["b", "B", "a.b", "a", "é"]}
    t = ContextTree({"/d": Entry.dir(), **{f"/d/{n}": e for n, e in files.items()}})
    order = sorted(files, key=lambda s: s.encode())  # B a a.b b é
    want = dir_digest(sha(hdr(493, 0, "5")), [(n, entry_digest(files[n])) for n in order])
    assert checksum(t, "/d") == want
    assert checksum(t, "/d/") == want  # the source path is cleaned


def test_nested_directories_and_the_local_root_header() -> None:
    f = Entry.file(b"1")
    t = ContextTree({"/d/sub/f": f})
    sub = dir_digest(sha(hdr(493, 0, "5")), [("f", entry_digest(f))])
    d = dir_digest(sha(hdr(493, 0, "5")), [("sub", sub)])
    assert checksum(t, "/d") == d
    # the local context root's own header is fixed to sha256(""): its mode never counts
    assert checksum(t, "/") == dir_digest(EMPTY_DIGEST, [("d", d)])
    t.add("", Entry.dir(0o700))
    assert checksum(t, "/") == dir_digest(EMPTY_DIGEST, [("d", d)])
    # a snapshot root (COPY --from) hashes its real header
    snap = ContextTree({"/d/sub/f": f}, local=False)
    assert checksum(snap, "/") == dir_digest(sha(hdr(493, 0, "5")), [("d", d)])


def test_symlink_inside_a_directory_is_hashed_as_a_link() -> None:
    t = ContextTree({"/d/l": Entry.symlink("/nowhere"), "/x": Entry.file(b"x")})
    assert checksum(t, "/d") == dir_digest(sha(hdr(493, 0, "5")), [("l", sha(hdr(511, 0, "2", "/nowhere")))])


# ------------------------------------------------------------------------------------------ symlinks


def test_following_links_inside_the_context() -> None:
    a = Entry.file(b"a")
    t = ContextTree(
        {
            "/a": a,
            "/l1": Entry.symlink("l2"),
            "/l2": Entry.symlink("/a"),
            "/up": Entry.symlink("../../../a"),  # ".." stops at the context root
            "/dir/f": Entry.file(b"f"),
            "/ldir": Entry.symlink("dir"),
        }
    )
    for rules in RuleSet:
        assert checksum(t, "/l1", rules) == entry_digest(a)
        assert checksum(t, "/up", rules) == entry_digest(a)
        assert checksum(t, "/ldir/f", rules) == entry_digest(t.get("/dir/f"))  # type: ignore[arg-type]
        assert checksum(t, "/ldir", rules) == checksum(t, "/dir", rules)
        # without following, the link itself
        assert checksum(t, Selector("/l1", follow_links=False), rules) == sha(hdr(511, 0, "2", "l2"))


def test_v013_resolves_a_trailing_link_against_the_unresolved_parent() -> None:
    """checksumFollow (v0.13) joins a relative target to path.Dir of the *requested* path; v0.14's
    getFollowLinksCallback resolves like the kernel. /lnk -> real/sub, real/sub/x -> ../y."""
    t = ContextTree(
        {
            "/real/sub/x": Entry.symlink("../y"),
            "/real/y": Entry.file(b"real y"),
            "/y": Entry.file(b"top y"),
            "/lnk": Entry.symlink("real/sub"),
        }
    )
    assert checksum(t, "/lnk/x", RuleSet.V0_10) == entry_digest(t.get("/y"))  # type: ignore[arg-type]
    assert checksum(t, "/lnk/x", RuleSet.V0_14) == entry_digest(t.get("/real/y"))  # type: ignore[arg-type]


def test_missing_source_and_link_loops() -> None:
    t = ContextTree({"/a": Entry.symlink("b"), "/b": Entry.symlink("a"), "/dangling": Entry.symlink("nope")})
    for rules in RuleSet:
        with pytest.raises(SourceNotFoundError) as exc:
            checksum(t, "/missing", rules)
        assert exc.value.path == "/missing"
        with pytest.raises(SourceNotFoundError):
            checksum(t, "/dangling", rules)
        with pytest.raises(TooManyLinksError):
            checksum(t, "/a", rules)


# ------------------------------------------------------------------------------------------ wildcards

JS = {
    "/assets/js/f1.js": Entry.file(b"1"),
    "/assets/js/f2.js": Entry.file(b"2"),
    "/assets/css/s.css": Entry.file(b"s"),
}


def test_wildcard_v013_joins_basename_and_digest() -> None:
    t = ContextTree(JS)
    h_js = sha(hdr(493, 0, "5"))
    d1, d2 = entry_digest(JS["/assets/js/f1.js"]), entry_digest(JS["/assets/js/f2.js"])
    # a matched directory: its header, then everything below it
    want = sha(b"js" + h_js.encode() + b"\0f1.js" + d1.encode() + b"\0f2.js" + d2.encode())
    assert checksum(t, Selector.from_source("assets/j*")) == want
    assert checksum(t, Selector.from_source("assets/j*"), RuleSet.V0_14) == want
    # one match with the pattern's own basename: that entry's digest
    assert checksum(t, Selector.from_source("assets/js/f1.j[s]")) == sha(b"f1.js" + d1.encode())
    assert checksum(t, Selector.from_source("assets/js/f1.js"), RuleSet.V0_10) == d1  # not a wildcard
    # no match: sha256("")
    assert checksum(t, Selector.from_source("*.nothing")) == EMPTY_DIGEST
    # * does not cross /
    assert checksum(t, Selector.from_source("assets/*.js")) == EMPTY_DIGEST


def test_wildcard_v026_hashes_paths_below_the_prefix() -> None:
    t = ContextTree(JS)
    h_js = sha(hdr(493, 0, "5"))
    d1, d2 = entry_digest(JS["/assets/js/f1.js"]), entry_digest(JS["/assets/js/f2.js"])
    want = sha(b"\0js" + h_js.encode() + b"\0js\0f1.js" + d1.encode() + b"\0js\0f2.js" + d2.encode())
    assert checksum(t, Selector.from_source("assets/j*"), RuleSet.V0_26) == want


def test_wildcard_symlinks_followed_top_level_only_from_v025() -> None:
    a = Entry.file(b"a")
    t = ContextTree({"/d/a": a, "/d/l": Entry.symlink("a"), "/x/inner": Entry.symlink("../d/a")})
    d_a, link = entry_digest(a), sha(hdr(511, 0, "2", "../d/a"))
    h = sha(hdr(493, 0, "5"))
    # a top-level match that is a link: followed by every version
    for rules in (RuleSet.V0_10, RuleSet.V0_25):
        assert checksum(t, Selector.from_source("d/?"), rules) == sha(
            b"a" + d_a.encode() + b"\0l" + d_a.encode()
        )
    # a link inside a matched directory: followed up to v0.24, kept as a link from v0.25
    assert checksum(t, Selector.from_source("?")) != checksum(t, Selector.from_source("?"), RuleSet.V0_25)
    assert checksum(t, Selector.from_source("x*"), RuleSet.V0_25) == sha(
        b"x" + h.encode() + b"\0inner" + link.encode()
    )
    assert checksum(t, Selector.from_source("x*"), RuleSet.V0_14) == sha(
        b"x" + h.encode() + b"\0inner" + d_a.encode()
    )


# ------------------------------------------------------------------------------------------ patterns


def test_exclude_patterns_hash_entries_one_by_one() -> None:
    """COPY --exclude=*.log dir /dst: includedPaths over the dir; dir headers come with their content."""
    f, g = Entry.file(b"f"), Entry.file(b"g")
    t = ContextTree({"/dir/f.txt": f, "/dir/x.log": Entry.file(b"l"), "/dir/sub/g.txt": g})
    h = sha(hdr(493, 0, "5"))
    sel = Selector.from_source("dir", excludes=["*.log"])
    want = sha(
        b"dir"
        + h.encode()
        + b"\0f.txt"
        + entry_digest(f).encode()
        + b"\0sub"
        + h.encode()
        + b"\0g.txt"
        + entry_digest(g).encode()
    )
    assert checksum(t, sel) == want


def test_parents_pattern_and_the_root_header_dropped() -> None:
    """COPY --parents a/*/f.txt: selector / with include pattern; the source "/" ends in a separator so
    the root's own header is left out; parents of a match come first."""
    f = Entry.file(b"f")
    t = ContextTree({"/a/b/f.txt": f, "/a/c/other": Entry.file(b"o"), "/z": Entry.file(b"z")})
    sel = Selector.from_source("a/*/f.txt", parents=True)
    assert sel.path == "/" and sel.include_patterns == ("a/*/f.txt",)
    h = sha(hdr(493, 0, "5"))
    want = sha(b"a" + h.encode() + b"\0b" + h.encode() + b"\0f.txt" + entry_digest(f).encode())
    assert checksum(t, sel) == want
    pivot = Selector.from_source("a/./b/f.txt", parents=True)
    assert (pivot.path, pivot.include_patterns) == ("/a", ("b/f.txt",))


# ------------------------------------------------------------------------------------------ selectors and roots


def test_dedupe_and_sort_like_the_file_op() -> None:
    sels = [
        Selector("/b"),
        Selector("/a/x"),
        Selector("/a"),
        Selector("/a/"),
        Selector("/ab"),
        Selector("/b"),
    ]
    assert [s.path for s in dedupe_selectors(sels)] == ["/a", "/ab", "/b"]
    wild = Selector.from_source("*.txt")
    assert [s.path for s in dedupe_selectors([Selector("/z"), wild])] == ["/*.txt", "/z"]


def test_root_record_digest() -> None:
    cs = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    d = sha(("\0".join(cs)).encode())
    assert root_digest(cs) == sha((d + "@-1").encode())
    assert root_digest(cs[:1]) == sha((sha(cs[0].encode()) + "@-1").encode())  # one selector: hashed again
    assert selector_digest(["/a", "/b"]) == sha(b"/b\0/a")


def test_rule_set_parsing() -> None:
    assert RuleSet.parse("v0.13") is RuleSet.V0_10
    assert RuleSet.parse("0.12.5") is RuleSet.V0_10
    assert RuleSet.parse("v0.14") is RuleSet.V0_14
    assert RuleSet.parse("v0.24.1") is RuleSet.V0_14
    assert RuleSet.parse("v0.25") is RuleSet.V0_25
    assert RuleSet.parse("v0.32") is RuleSet.V0_26
    assert RuleSet.parse("v0.26+") is RuleSet.V0_26
    for bad in ("v0.8", "latest", "1.0"):
        with pytest.raises(ValueError, match=r"BuildKit|version"):
            RuleSet.parse(bad)


def test_checksummer_reuses_directory_digests() -> None:
    t = ContextTree({f"/d/{i}": Entry.file(str(i).encode()) for i in range(50)})
    cs = Checksummer(t)
    first = cs.checksum(Selector("/d"))
    assert cs.checksum(Selector("/")) == dir_digest(EMPTY_DIGEST, [("d", first)])
