"""Fuzz surface ``lint``: ``cacheinspect lint`` on hostile Dockerfiles.

Each case writes one to three Dockerfiles built from realistic stages (cache mounts, heredocs, COPY
--from, pip/npm/apt/go commands), then made hostile by one or more of: deep nesting (``${a:-${a:-…}}``,
``COPY [[[…]]]`` valid and broken, ``$(…)``/quotes thousands deep in RUN), binary (random bytes, NUL,
UTF-16, invalid UTF-8 inside instructions that have findings), size (thousands of ARG/ENV/RUN lines,
heredocs of thousands of lines, lines at BuildKit's 64 KiB limit), pathological expansions (the
doubling ``ENV e1=${e0}${e0}``, backtracking shell patterns ``${a#*a*a…b}``, ``${a//?/$big}``), control
and bidi characters in paths, stage names, mount targets and file names, FIFOs, links to ``/dev/zero``
and directories in place of a Dockerfile. Every output format is asked for, sometimes with ``-o``,
``--target``, ``--build-arg`` and stdin. Inputs stay under 10 MB.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

NAME = "lint"

_NASTY = ["\x1b[31m", "\x1b]0;t\x07", "\u202e", "\u2066", "\x9b", "\r", "\t", "\x7f", "\u2028", "é"]
_BAD_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]

_STAGE = """\
FROM python:3.12 AS py{i}
ARG VERSION={i}
ENV APP_HOME=/srv/app{i} PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR $APP_HOME
COPY requirements{i}.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \\
    pip install -r requirements{i}.txt \\
    && python -m compileall -q .
RUN --mount=type=cache,target=/pip-packages{i} pip install --target=/pip-packages{i} uwsgi && ls /pip-packages{i}
RUN pip install --no-cache-dir gunicorn=={i}.0
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    apt-get update && apt-get install -y gcc && rm -rf /var/lib/apt/lists/*
RUN <<EOF
set -e
useradd -m -u 10{i} app{i}
mkdir -p /data && chown app{i} /data
EOF
USER app{i}
FROM node:20 AS web{i}
WORKDIR /web
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/web/node_modules npm ci && npm run build
FROM py{i}
COPY --from=web{i} /web/dist /srv/static
COPY --from=py{i} /pip-packages{i} /usr/lib/python3/dist-packages
CMD ["gunicorn", "app:app"]
"""


def _nasty(rng: random.Random, n: int = 4) -> str:
    return "".join(rng.choice([*_NASTY, "a", "/", "-", "$", "{", "}", "*"]) for _ in range(rng.randint(1, n)))


def _base(rng: random.Random) -> str:
    return "".join(_STAGE.format(i=k) for k in range(rng.randint(1, 3)))


def _deep(rng: random.Random) -> str:
    n = rng.choice([50, 500, 3000, 12000, 30000])
    kind = rng.randrange(6)
    if kind == 0:
        return f"FROM alpine\nENV a=x\nENV b={'${a:-' * n}z{'}' * n}\n"
    if kind == 1:
        return f"FROM alpine\nCOPY {'[' * n}{']' * n} /x\n"
    if kind == 2:
        return f'FROM alpine\nCOPY ["a", {"[" * n}{"]" * n}]\n'
    if kind == 3:
        return f"FROM alpine\nCMD {'[' * n}\n"
    if kind == 4:
        return "FROM python\nRUN --mount=type=cache,target=/c " + "$(" * n + "pip install x" + ")" * n + "\n"
    return 'FROM alpine\nRUN echo "' + "'\"" * (n // 2) + "\n"


def _huge(rng: random.Random) -> str:
    # up to 12,000 lines (≈ 1 MB): linear work of a few CPU seconds, well inside the runner's limits
    n = rng.choice([2000, 6000, 12000])
    kind = rng.randrange(7)
    if kind == 0:
        return "FROM alpine\n" + "".join(f"ARG a{i}=v{i}\n" for i in range(n))
    if kind == 1:
        return "FROM python\n" + "".join(
            f"RUN --mount=type=cache,target=/c{i} pip install --no-cache-dir p{i} > /c{i}/x\n"
            for i in range(n // 4)
        )
    if kind == 2:
        body = "".join(
            f"cd /d{i} && export V{i}=$V{i - 1}x && pip install --target=/c/x{i} p{i}\n" for i in range(n)
        )
        return f"FROM python\nRUN --mount=type=cache,target=/c <<EOF\n{body}EOF\n"
    if kind == 3:
        return "FROM alpine\nRUN echo " + "a" * rng.choice([65530, 65534, 65535, 70000]) + "\n"
    if kind == 4:
        return "FROM alpine\n" + "".join(f"ENV e{i}=${{e{i - 1}}}x\n" for i in range(n))
    if kind == 5:
        return "".join(
            f"FROM alpine AS s{i}\nCOPY --from=s{i - 1} /a /a\n" if i else "FROM alpine AS s0\n"
            for i in range(n // 8)
        )
    return "FROM alpine\nCOPY " + "*" * rng.choice([100, 3000, 30000]) + "a /x\n"


def _expansion(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        levels = rng.choice([20, 40, 63])
        return "FROM scratch\nENV e0=ab\n" + "".join(
            f"ENV e{i}=${{e{i - 1}}}${{e{i - 1}}}\n" for i in range(1, levels)
        )
    if kind == 1:
        op = rng.choice(["#", "##", "%", "%%", "/", "//"])
        pat = "*a" * rng.choice([20, 30, 200, 3000]) + "b"
        tail = "/x}" if "/" in op else "}"
        return f"FROM alpine\nENV a={'a' * rng.choice([40, 4000])}\nENV b=${{a{op}{pat}{tail}\nWORKDIR /${{a{op}{pat}{tail}\n"
    if kind == 2:
        return f"FROM alpine\nENV a={'a' * 5000}\nENV r={'r' * 5000}\nENV b=${{a//?/$r}}\n"
    if kind == 3:
        return "FROM alpine\nENV a=x\nLABEL l=" + "${a}" * 15000 + "\n"
    if kind == 4:
        return "FROM alpine\nARG A\nENV b=${A:?" + _nasty(rng, 20) + "}\n"
    return (
        "FROM alpine\nENV a=x\nCOPY ${a//"
        + _nasty(rng)
        + "/"
        + _nasty(rng)
        + "} ${a%%\\"
        + rng.choice(["x", "*", ""])
        + "} /d/\n"
    )


def _heredoc(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return "FROM alpine\nRUN <<EOF\necho never ends\n"
    if kind == 1:
        docs = rng.randint(2, 300)
        head = " ".join(f"<<E{i}" for i in range(docs))
        return f"FROM alpine\nRUN cat {head}\n" + "".join(f"x{i}\nE{i}\n" for i in range(docs))
    if kind == 2:
        return f"FROM alpine\nCOPY <<EOF /etc/{_nasty(rng)}\n${{HOME}} {_nasty(rng, 30)}\nEOF\n"
    return (
        "FROM alpine\nRUN <<-'EOF' bash\n\t#!/bin/bash\n\t"
        + "\n\t".join(_nasty(rng, 10) for _ in range(50))
        + "\n\tEOF\n"
    )


def _controls(rng: random.Random) -> str:
    n = _nasty(rng)
    stage = f"s{n}" if rng.random() < 0.2 else "s0"
    return (
        f"FROM python:3.12 AS {stage}\n"
        f"RUN --mount=type=cache,target=/pip{n},id={n} pip install --target=/pip{n} uwsgi\n"
        f"RUN --mount=type=cache,target=/c{n} touch /c{n}/x{n}\n"
        f"FROM {stage}\nRUN cat /c{n}/x{n}\n"
        f"COPY --from={stage} /pip{n} /x{n}\n"
        f"WORKDIR /w{n}\nUSER u{n}\nRUN pip install {n} > /c{n}/o\n"
    )


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """Byte-level damage: flips, invalid UTF-8 inserts, NULs, truncation, duplicated spans."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not b:
            break
        pos = rng.randrange(len(b))
        r = rng.random()
        if r < 0.3:
            b[pos : pos + 1] = rng.choice(_BAD_BYTES)
        elif r < 0.45:
            b[pos] = rng.randrange(256)
        elif r < 0.55:
            b.insert(pos, 0)
        elif r < 0.7:
            b[pos:pos] = _nasty(rng).encode("utf-8", "surrogatepass")
        elif r < 0.8:
            end = min(len(b), pos + rng.randint(1, 200))
            b[pos:pos] = b[pos:end] * rng.randint(2, 50)
        elif r < 0.9:
            del b[pos:]
        else:
            b[pos:pos] = rng.choice(
                [b"\\\n", b"\n\n", b" \\", b"<<EOF", b"${", b"}", b"[", b'"', b"'", b"--mount="]
            )
    return bytes(b[: 9 << 20])


def _dockerfile(rng: random.Random) -> bytes:
    gen = rng.choice([_base, _deep, _huge, _expansion, _heredoc, _controls, _base, _controls])
    text = gen(rng)
    if rng.random() < 0.3:
        text = _base(rng) + text
    data = text.encode("utf-8", "surrogatepass")
    r = rng.random()
    if r < 0.35:
        data = _mutate(rng, data)
    elif r < 0.4:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4000)))
    elif r < 0.43:
        data = b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    if rng.random() < 0.15:
        directive = rng.choice(
            [b"# escape=`\n", b"# syntax=docker/dockerfile:1\n", b"# check=skip=all\n", b"# escape=x\n"]
        )
        data = directive + data
    return data[: 9 << 20]


def case(rng: random.Random, workdir: Path) -> list[str]:
    """Write one to three hostile Dockerfiles (or FIFOs / links / directories) and return the argv."""
    names: list[str] = []
    for k in range(rng.choice([1, 1, 1, 2, 3])):
        name = (
            f"Dockerfile{k}"
            if rng.random() < 0.8
            else f"D{_nasty(rng)}{k}".replace("/", "_").replace("\x00", "")
        )
        path = workdir / name
        r = rng.random()
        if r < 0.03:
            os.mkfifo(path)
        elif r < 0.06:
            path.symlink_to("/dev/zero")
        elif r < 0.08:
            path.mkdir()
        elif r < 0.1:
            pass  # missing
        else:
            path.write_bytes(_dockerfile(rng))
        names.append(name)
    if rng.random() < 0.05:
        names.append("-")
    argv = ["lint", "-f", rng.choice(["table", "json", "sarif", "github"])]
    argv += ["--fail-on", rng.choice(["error", "warning", "info", "never"])]
    if rng.random() < 0.2:
        argv += ["--target", rng.choice(["py0", "web1", "s0", "nope", _nasty(rng)])]
    if rng.random() < 0.2:
        argv += [
            "--build-arg",
            rng.choice(["VERSION=1", f"A={_nasty(rng)}", "A", "=x", f"a0={'x' * 100000}"]),
        ]
    if rng.random() < 0.1:
        argv += ["-o", rng.choice(["out.txt", "/dev/full", "sub/none/out", "."])]
    return [*argv, *names]
