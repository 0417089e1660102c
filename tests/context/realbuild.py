"""A build context that exercises every rule of the engine, made deterministically, and the roots the
real BuildKit v0.13 (dockerd 26.1.5, buildx 0.13.1, test bed) exported for it.

``tests/e2e/test_context_engine.py`` builds it for real and compares; the unit test
``test_realbuild_roots.py`` compares offline against ``ROOTS`` below, which were copied from those
real builds' ``--cache-to type=local,mode=max`` exports (input-less records), not from our output.
The privileged variants (``trusted.*`` and ``security.capability`` need root) are e2e-only.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

__all__ = [
    "DOCKERFILE_A",
    "DOCKERFILE_B",
    "DOCKERFILE_Q1",
    "DOCKERFILE_Q2",
    "ROOTS_A",
    "ROOTS_B",
    "ROOTS_Q2",
    "make_context",
    "make_quirks_context",
]

DOCKERIGNORE = """# comment
ignored/**
**/*.log
!data/keep.log
data/secret*
**/node_modules
!keep/**/node_modules
./abs/z.txt
/excl
!excl/ok.txt
Dockerfile.b
.dockerignore
"""

DOCKERFILE_A = """FROM scratch
COPY a.txt /1
COPY link.txt /2
COPY ldir/inner.txt /3
COPY sub /4
COPY *.txt /5/
COPY su? /6/
COPY data /7
COPY setuid.bin tmpd /8/
COPY c.conf b.txt /9/
COPY h1.txt h2.txt /10/
COPY l1 /11
COPY ldir /12
COPY ldir/*.txt /13/
COPY ./sub/../a.txt /14
COPY special /15
COPY names /16
COPY big.bin /17
COPY mods keep /18/
COPY abs /19
COPY names/[a-b]* /20/
COPY excl /21
"""
PRIVILEGED_A = "COPY priv /22\n"
DOCKERFILE_B = DOCKERFILE_A + "COPY . /23\nCOPY *.log /24/\n"


def _w(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def make_context(ctx: Path, *, privileged: bool = False) -> Path:
    """Create the context under ``ctx`` (which must not exist). ``privileged`` adds ``priv/`` with a
    ``trusted.*`` xattr and a ``security.capability`` (root only) and the step that copies it."""
    ctx.mkdir(parents=True)
    _w(ctx / "a.txt", "alpha\n")
    _w(ctx / "b.txt", "bravo\r\n")
    _w(ctx / "c.conf", "listen = 8080\n")
    os.setxattr(ctx / "c.conf", "user.foo", b"bar")
    _w(ctx / "setuid.bin", "#!/bin/sh\n", 0o4755)
    _w(ctx / "tmpd" / "x", "x\n")
    (ctx / "tmpd").chmod(0o1777)
    os.symlink("a.txt", ctx / "link.txt")
    _w(ctx / "sub" / "inner.txt", "inner\n")
    os.symlink("../b.txt", ctx / "sub" / "rel")
    os.symlink("sub", ctx / "ldir")
    os.symlink("l2", ctx / "l1")
    os.symlink("a.txt", ctx / "l2")
    _w(ctx / "h1.txt", "h\n")
    os.link(ctx / "h1.txt", ctx / "h2.txt")
    for name, text in [
        ("a.log", "1"),
        ("keep.log", "2"),
        ("secret1", "3"),
        ("ok.txt", "4"),
        ("sub/s.txt", "s"),
    ]:
        _w(ctx / "data" / name, text + "\n")
    _w(ctx / "ignored" / "z", "5\n")
    _w(ctx / "top.log", "6\n")
    _w(ctx / "keep.log", "7\n")
    (ctx / "special" / "emptydir").mkdir(parents=True)
    os.mkfifo(ctx / "special" / "fifo")
    _w(ctx / "special" / "empty", b"")
    _w(ctx / "special" / "crlf.txt", "x\r\ny\r\n")
    (ctx / "special").chmod(0o755)
    os.setxattr(ctx / "special", "user.d", b"dirattr")
    for n in ["B", "a", "é", "a.b", "a-b", "a b", "[x]", "Z"]:
        _w(ctx / "names" / n, n + "\n")
    _w(ctx / "big.bin", random.Random(1).randbytes(3_000_000))
    _w(ctx / "mods" / "node_modules" / "x" / "f", "1\n")
    _w(ctx / "keep" / "deep" / "node_modules" / "y" / "f", "2\n")
    _w(ctx / "mods" / "m.txt", "3\n")
    _w(ctx / "abs" / "z.txt", "z\n")
    _w(ctx / "abs" / "y.txt", "y\n")
    _w(ctx / "excl" / "ok.txt", "ok\n")
    _w(ctx / "excl" / "no.txt", "no\n")
    _w(ctx / ".dockerignore", DOCKERIGNORE)
    _w(ctx / "Dockerfile.a", DOCKERFILE_A + (PRIVILEGED_A if privileged else ""))
    _w(ctx / "Dockerfile.b", DOCKERFILE_B)
    if privileged:
        _w(ctx / "priv" / "t.txt", "t\n")
        os.setxattr(ctx / "priv" / "t.txt", "trusted.t", b"tv")
        _w(ctx / "priv" / "cap.bin", "cap\n", 0o755)
        # security.capability v2 for cap_net_raw+ep (what `setcap cap_net_raw+ep` writes)
        os.setxattr(
            ctx / "priv" / "cap.bin",
            "security.capability",
            bytes.fromhex("0100000200200000000000000000000000000000"),
        )
    for p in [ctx, *ctx.rglob("*")]:
        if p.is_dir() and not p.is_symlink() and p.name not in ("tmpd",):
            p.chmod(0o755)
    return ctx


# line -> root record, copied from the real builds' exports (non-privileged context, 2026-12-01)
ROOTS_A: dict[int, str] = {
    2: "sha256:d9887b8c1d21b3b1cafd75b153d61478fc040b7280a694762e1f227e9559f0bf",
    3: "sha256:d9887b8c1d21b3b1cafd75b153d61478fc040b7280a694762e1f227e9559f0bf",
    4: "sha256:b8a2c1295fd14de6a2fb4cb2b435f8c8ba954a9ddbe93a27b4637ab945a88e5a",
    5: "sha256:43a60a4b77eefde5ca8f1ca67d366b1f4ba4b58c3179d5a8795c740ab091f2aa",
    6: "sha256:74718b24585707e95d4ecd0fa22eb6ed2a84855b2551009cecf2b8d50828c29a",
    7: "sha256:267d5a20d0ee324b0d596a73a6b975b40bae70ce9237f4210cea09512423d5e5",
    8: "sha256:10b76ebfb1fdf52be2d8716a3b373d881093dc0922557b1e3d98770eddee2b43",
    9: "sha256:f5b778ba6c9770e136b113e3aadc2c8358c93d852d99114047ea7fe7e0660211",
    10: "sha256:b827aac70be87144a6df9cadf2cdb78c99e7885d43460f0c78ce68d416d4c228",
    11: "sha256:b4e4959508415a6b6f21e7293d3582f6f0abad3fa3657b928aa1fa0f9ea1aa7c",
    12: "sha256:d9887b8c1d21b3b1cafd75b153d61478fc040b7280a694762e1f227e9559f0bf",
    13: "sha256:43a60a4b77eefde5ca8f1ca67d366b1f4ba4b58c3179d5a8795c740ab091f2aa",
    14: "sha256:64018d0ab5ea87d6be5e584de3da4eee89ff9ed46713b24fa39702985adc133f",
    15: "sha256:d9887b8c1d21b3b1cafd75b153d61478fc040b7280a694762e1f227e9559f0bf",
    16: "sha256:479c27a8d22130367ce4e23c3933dab97fa4b1d789552940af0028a1cd9d7fa9",
    17: "sha256:86cebcff956691ec85438b75ac01b7fd04000d3f4ef65bd0b72529631ee99fd3",
    18: "sha256:afb0d6283717f81961883937517163258f49089f4dbd4771e50c108b922b5142",
    19: "sha256:c5e0915d19c4ccd3a9e813f574cce720f692281cb6a8aa55a29599a578e3cab7",
    20: "sha256:3611265cbd76ecdcd0ef7c4b1dfe1dddd289ab0c25c9f02c89485a5615aa4dea",
    21: "sha256:c203c70cea649d190faf24a9245dfd80245501873d5eb139bd82e43a0ed08ad4",
    22: "sha256:84018cbabd0b24842104afd128066923146a00c697f47e66e0c7292c74c395d7",
}
ROOTS_B: dict[int, str] = {
    **ROOTS_A,
    23: "sha256:e6d1bcd34c1cc01a0d53dc4eade16d2cec6df1ef2b33c8e0b348aadf57707505",
    24: "sha256:b58f6cd83b69bbc0eba0437bb72d34b4814b12891064666e9cb8efea631847fb",
}


# A second context for v0.13's symlink quirk: checksumFollow joins a relative link target to the
# directory of the path as *requested* (/lnk/x -> ../y is looked up as /y, not /real/y), and the
# client sends only the kernel-resolved target (real/y), so DOCKERFILE_Q1 fails with "/y": not found
# while with COPY . (everything sent) the step reads the top-level y. A link to ".." is the root.
DOCKERFILE_Q1 = "FROM scratch\nCOPY lnk/x /z\n"
DOCKERFILE_Q2 = "FROM scratch\nCOPY lnk/x /z\nCOPY absy /w\nCOPY . /all\nCOPY up /u\n"
ROOTS_Q2: dict[int, str] = {
    2: "sha256:a9e70332b907064621f2e2ba35fe5b30fc198a8d514bc7eb2db7d05d415e831c",
    3: "sha256:a9e70332b907064621f2e2ba35fe5b30fc198a8d514bc7eb2db7d05d415e831c",
    4: "sha256:9101158511623f2ed3d89818b9ddd246163891e2c313dddbc57369ced493e84f",
    5: "sha256:9101158511623f2ed3d89818b9ddd246163891e2c313dddbc57369ced493e84f",
}


def make_quirks_context(ctx: Path) -> Path:
    (ctx / "real" / "sub").mkdir(parents=True)
    _w(ctx / "real" / "y", "real y\n")
    _w(ctx / "y", "top y\n")
    os.symlink("../y", ctx / "real" / "sub" / "x")
    os.symlink("real/sub", ctx / "lnk")
    os.symlink("/y", ctx / "absy")
    os.symlink("..", ctx / "up")
    _w(ctx / "Dockerfile.1", DOCKERFILE_Q1)
    _w(ctx / "Dockerfile.2", DOCKERFILE_Q2)
    for p in [ctx, ctx / "real", ctx / "real" / "sub"]:
        p.chmod(0o755)
    return ctx
