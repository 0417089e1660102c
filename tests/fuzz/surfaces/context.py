"""Fuzz surface ``context``: ``context fingerprint``, ``check`` and ``diff`` on hostile input.

Hostile contexts (names with control, bidi and non-UTF-8 bytes, deep or wide trees, symlinks to
``/dev/zero``, loops and absolute targets, FIFOs, unreadable entries), ``.dockerignore`` files (glob
patterns built to backtrack, invalid brackets, negations, binary, a FIFO or a link to ``/dev/zero``),
Dockerfiles naming those paths with wildcards and flags, and fingerprint files (deep nesting, ``NaN``,
huge numbers, lone surrogate escapes, wrong types, bidi paths). ``check`` runs offline against a real
BuildKit-exported layout from ``fixtures/`` with ``--assume-base-unchanged --no-referrers``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

NAME = "context"

_ROOT = Path(__file__).resolve().parents[3]
_LAYOUTS = [_ROOT / "fixtures" / n for n in ("crosshost-a", "crosshost-a-busybox", "threestage-max")]

_NASTY = [
    "\x1b[31m",
    "\x1b]0;title\x07",
    "\u202e",
    "\u2066",
    "\x9b",
    "\r",
    "\n",
    "\t",
    "\x7f",
    "\\",
    " ",
    "*",
    "?",
    "[",
    "]",
    "!",
    "#",
    "$",
    "{",
    "}",
    "..",
    "é",
    "\u2028",
]


def _name(rng: random.Random) -> bytes:
    """A file name as bytes: plain, nasty characters, non-UTF-8 bytes, or long."""
    r = rng.random()
    if r < 0.45:
        return rng.choice([b"a", b"b", b"src", b"app.py", b"x.txt", b"lib", b"node_modules", b"aaaa"])
    if r < 0.75:
        s = "".join(rng.choice([*_NASTY, "a", "b", "c"]) for _ in range(rng.randint(1, 8)))
        b = s.encode()
    elif r < 0.9:
        b = bytes(rng.choice([0x80, 0xFF, 0xC3, 0xED, 0x61, 0x1B]) for _ in range(rng.randint(1, 6)))
    else:
        b = b"a" * rng.choice([40, 100, 255])
    b = b.replace(b"/", b"_").replace(b"\0", b"_")
    return b if b not in (b".", b"..") else b"dot"


def _write_tree(rng: random.Random, root: Path) -> list[bytes]:
    """A hostile context under root; the relative paths created (as bytes)."""
    made: list[bytes] = []
    dirs = [b""]
    broot = os.fsencode(root)
    shape = rng.random()
    n = rng.choice([0, 1, 3, 8, 20, 60]) if shape < 0.85 else rng.choice([300, 800])
    for _ in range(n):
        parent = rng.choice(dirs)
        rel = (parent + b"/" + _name(rng)).lstrip(b"/")
        path = os.path.join(broot, rel)
        if os.path.lexists(path):
            continue
        kind = rng.random()
        try:
            if kind < 0.55:
                with open(path, "wb") as f:
                    size = rng.choice([0, 1, 10, 100, 5000, 200_000])
                    f.write(rng.choice([b"x", b"\r\n", b"\0", b"\x1b[2J"]) * size)
                if rng.random() < 0.2:
                    os.chmod(path, rng.choice([0o755, 0o600, 0o4755, 0o000, 0o1777]))
            elif kind < 0.75:
                os.mkdir(path)
                dirs.append(rel)
                if rng.random() < 0.05:
                    # a deep chain below it
                    p = path
                    for _ in range(rng.choice([20, 60])):
                        p = os.path.join(p, b"d")
                        os.mkdir(p)
            elif kind < 0.9:
                target = rng.choice(
                    [
                        b"/dev/zero",
                        b"/etc/passwd",
                        b"..",
                        b"../../..",
                        b".",
                        b"nowhere",
                        b"/",
                        rel,
                        b"/proc/self/fd/0",
                    ]
                    + [m for m in made[-3:]]
                )
                os.symlink(target, path)
            elif kind < 0.95:
                os.mkfifo(path)
            else:
                os.mkdir(path)
                os.chmod(path, 0o000)
            made.append(rel)
        except OSError:
            continue
    return made


def _pattern(rng: random.Random, names: list[bytes]) -> str:
    r = rng.random()
    if r < 0.3 and names:
        p = rng.choice(names).decode("utf-8", "surrogateescape")
    elif r < 0.5:
        # backtracking bait: many stars against long names
        p = "*a" * rng.randint(2, 25) + rng.choice(["b", "", "*", "?"])
    elif r < 0.65:
        p = "**/" * rng.randint(1, 12) + rng.choice(["a", "*", "*.txt", "**"])
    else:
        alphabet = [
            "*",
            "**",
            "?",
            "[a-z]",
            "[!a]",
            "[^a]",
            "[",
            "]",
            "\\",
            "/",
            "a",
            "b",
            ".",
            "..",
            "!",
            " ",
            "#",
        ]
        p = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.2:
        p = "!" + p
    return p


def _dockerignore(rng: random.Random, path: Path, names: list[bytes]) -> None:
    r = rng.random()
    if r < 0.07:
        os.mkfifo(path)
    elif r < 0.12:
        os.symlink("/dev/zero", path)
    elif r < 0.16:
        path.write_bytes(os.urandom(rng.choice([10, 1000])))
    elif r < 0.18:
        path.write_bytes(b"*" * 100_000 + b"a")
    else:
        lines = [_pattern(rng, names) for _ in range(rng.randint(0, 12))]
        if rng.random() < 0.1:
            lines += ["# comment", "", "   ", "\ufeff*"]
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))


def _src(rng: random.Random, names: list[bytes]) -> str:
    r = rng.random()
    if r < 0.5 and names:
        s = rng.choice(names).decode("utf-8", "surrogateescape")
    elif r < 0.7:
        s = rng.choice([".", "*", "**", "a*", "*a*a*a*a*a*a*b", "[a-", "../x", "/", "d/../..", "?", "\\*"])
    else:
        s = _pattern(rng, names).lstrip("!")
    return s


def _dockerfile(rng: random.Random, path: Path, names: list[bytes]) -> None:
    r = rng.random()
    if r < 0.02:
        os.mkfifo(path)
        return
    if r < 0.04:
        os.symlink("/dev/zero", path)
        return
    if r < 0.05:
        path.write_bytes(os.urandom(200))
        return
    lines = [rng.choice(["FROM scratch", "FROM busybox", "FROM scratch AS a", "ARG X=1\nFROM scratch"])]
    for _ in range(rng.randint(0, 5)):
        srcs = [_src(rng, names) for _ in range(rng.randint(1, 3))]
        flags = rng.choice(
            [
                "",
                "",
                "",
                "--chmod=755 ",
                "--link ",
                "--exclude=*a* ",
                "--chown=1:1 ",
                "--chmod=9999 ",
                "--parents ",
            ]
        )
        kw = rng.choice(["COPY", "ADD", "COPY", "RUN echo", "WORKDIR"])
        if kw in ("COPY", "ADD"):
            if rng.random() < 0.2:
                lines.append(f"{kw} {flags}{json.dumps([*srcs, '/dst/'])}")
            else:
                lines.append(f"{kw} {flags}{' '.join(srcs)} /dst/")
        else:
            lines.append(f"{kw} {srcs[0]}")
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")


def _deep(rng: random.Random) -> str:
    n = rng.choice([1000, 10_000, 200_000])
    o, c = rng.choice([("[", "]"), ('{"a":', "}")])
    return o * n + "1" + c * n


_SCHEMA = "cacheinspect.context-fingerprint/v1"


def _fp_record(rng: random.Random) -> object:
    r = rng.random()
    if r < 0.1:
        return rng.choice([None, 1, "sha256:" + "0" * 64, [], True, float("nan")])
    rec: dict[str, object] = {
        "type": rng.choice(["file", "dir", "symlink", "unreadable", "fifo", 7, None]),
        "mode": rng.choice(["0644", "0755", "9999", 420, None, "\x1b[31m"]),
        "size": rng.choice([0, 1, -1, 10**30, 1.5, "big", None]),
        "linkname": rng.choice(["", "/dev/zero", "\u202e", "a\nb"]),
        "xattrs": rng.choice([{}, {"user.x": "sha256:" + "1" * 64}, {"\x1b]0;t\x07": 1}, [], None]),
        "content": rng.choice(["sha256:" + "2" * 64, None, "", 5]),
        "digest": rng.choice(["sha256:" + "3" * 64, "sha256:" + "4" * 64, None, {}]),
    }
    if rng.random() < 0.1:
        rec["error"] = rng.choice(["permission denied", "\x1b[2J", "\u202eevil"])
    return rec


def _fp_path(rng: random.Random) -> str:
    return "/" + "".join(rng.choice([*_NASTY, "a", "b", "/"]) for _ in range(rng.randint(0, 6)))


def _fingerprint_text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.1:
        return _deep(rng)
    if r < 0.15:
        return rng.choice(["NaN", "[NaN]", "1" + "0" * 400, "{}", "null", '"x"', "", "{", "\ufeff{}"])
    files = {_fp_path(rng): _fp_record(rng) for _ in range(rng.randint(0, 8))}
    steps: list[object] = []
    for _ in range(rng.randint(0, 3)):
        steps.append(
            rng.choice(
                [
                    {
                        "stage": "stage-0",
                        "line": rng.choice([1, 0, -5, 10**40, "x"]),
                        "instruction": rng.choice(["COPY a /a", "", "\x1b[31mCOPY", 5]),
                        "sources": rng.choice([["a"], [], "a", None]),
                        "selectors": rng.choice([[], [{"path": "/a"}], "x", [None]]),
                        "checksums": rng.choice([["sha256:" + "5" * 64], [], [1], None]),
                        "root": rng.choice(["sha256:" + "6" * 64, None, 3]),
                        **({"error": "\u202ebad"} if rng.random() < 0.1 else {}),
                    },
                    None,
                    "step",
                    [],
                ]
            )
        )
    doc: dict[str, object] = {
        "schema": _SCHEMA if rng.random() < 0.9 else rng.choice(["other", 1, None]),
        "tool": "cacheinspect 0.1.0",
        "buildkit_rules": rng.choice(["v0.10-v0.13", "v0.25", "bogus", 5]),
        "lean": rng.choice([False, True, "yes"]),
        "dockerignore": rng.choice([[], ["*"], "x", [1]]),
        "steps": steps if rng.random() < 0.95 else {},
        "files": files if rng.random() < 0.95 else [],
    }
    text = json.dumps(doc, allow_nan=True, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.15:
        # a lone surrogate escape, NaN/Infinity literals or a huge integer spliced into a value
        text = text.replace('"sha256:', rng.choice(['"\\ud800sha256:', '"\\udfff\\u202e']), 1)
    if rng.random() < 0.1:
        text = text.replace("0", "1" + "0" * 500, 1)
    if rng.random() < 0.05:
        text = text.replace('"size": 0', '"size": Infinity', 1).replace('"size": 1', '"size": -Infinity', 1)
    return text


def _fingerprint_file(rng: random.Random, path: Path) -> None:
    r = rng.random()
    if r < 0.05:
        os.mkfifo(path)
    elif r < 0.08:
        os.symlink("/dev/zero", path)
    elif r < 0.1:
        path.write_bytes(b"\xff\xfe" + os.urandom(100))
    else:
        path.write_bytes(_fingerprint_text(rng).encode("utf-8", "surrogatepass"))


def case(rng: random.Random, workdir: Path) -> list[str]:
    """One hostile context + .dockerignore + Dockerfile (+ fingerprints) and a context command on them."""
    cmd = rng.choices(["fingerprint", "check", "diff"], weights=[4, 3, 3])[0]
    if cmd == "diff":
        a, b = workdir / "a.fp.json", workdir / "b.fp.json"
        _fingerprint_file(rng, a)
        if rng.random() < 0.3:
            b.write_bytes(a.read_bytes() if a.is_file() and not a.is_symlink() else b"{}")
        else:
            _fingerprint_file(rng, b)
        argv = ["context", "diff", str(a), str(b)]
        argv += rng.choice([[], ["-f", "json"], ["-f", "markdown"], ["-f", "table"], ["--exit-code"]])
        return argv
    ctx = workdir / "ctx"
    ctx.mkdir()
    names = _write_tree(rng, ctx)
    df = ctx / "Dockerfile"
    if not os.path.lexists(df):
        _dockerfile(rng, df, names)
    ign = ctx / ".dockerignore"
    if not os.path.lexists(ign) and rng.random() < 0.7:
        _dockerignore(rng, ign, names)
    if rng.random() < 0.1 and not os.path.lexists(ctx / "Dockerfile.dockerignore"):
        _dockerignore(rng, ctx / "Dockerfile.dockerignore", names)
    if cmd == "fingerprint":
        argv = ["context", "fingerprint", str(ctx)]
        if rng.random() < 0.3:
            argv += ["-o", str(workdir / "out.json")]
        if rng.random() < 0.2:
            argv += ["--lean"]
        if rng.random() < 0.2:
            argv += ["--buildkit-version", rng.choice(["v0.25", "v0.14", "v0.26", "bogus", "v9.9"])]
        if rng.random() < 0.1:
            argv += ["--windows-client"]
        return argv
    layout = rng.choice(_LAYOUTS)
    argv = ["context", "check", str(layout), str(ctx), "--assume-base-unchanged", "--no-referrers"]
    argv += rng.choice([[], ["--format", "json"], ["--format", "markdown"], ["--format", "github"]])
    if rng.random() < 0.4:
        fp = workdir / "a.fp.json"
        _fingerprint_file(rng, fp)
        argv += ["--fingerprint", str(fp)]
    if rng.random() < 0.1:
        argv += ["--buildkit-version", rng.choice(["v0.13", "v0.25", "nope"])]
    return argv
