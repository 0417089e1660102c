"""Fuzz surface ``stepkeys``: ``context check`` computing step keys from hostile Dockerfiles and reading
host A's step evidence (the fingerprint's ``ops`` CacheMap JSON and base image ``images`` configs).

Dockerfiles combine every instruction and flag the step-key port handles (ARG/ENV/WORKDIR/USER/SHELL,
RUN shell/exec/heredoc with ``--mount`` of every type, ``--network``, ``--security``, COPY/ADD with
``--chmod``/``--chown``/``--link``/``--exclude``, heredocs) with hostile values: control and bidi
characters, huge numbers, ``..`` paths, deep variable nesting. The fingerprint carries ``ops`` whose
``cachemap`` is random JSON, base64 junk, deep nesting or wrong types, and ``images`` configs with wrong
types. ``check`` runs offline against a real BuildKit-exported layout with ``--assume-base-unchanged
--no-referrers`` (contract: issue 17, ``tests/fuzz/surfaces``).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

NAME = "stepkeys"

_ROOT = Path(__file__).resolve().parents[3]
_LAYOUTS = [_ROOT / "fixtures" / n for n in ("crosshost-a", "crosshost-a-busybox", "threestage-max")]
_WORDS = ["a", "x.txt", "/app", "..", "$V", "${V:-d}", "\x1b[31m", "\u202e", "é", "9" * 30, "*", "[", "~", ""]


def _w(rng: random.Random) -> str:
    return "".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) or "a"


def _dockerfile(rng: random.Random) -> str:
    lines = [rng.choice(["FROM scratch", "FROM busybox", "ARG B=scratch\nFROM ${B} AS s0"])]
    for _ in range(rng.randint(1, 25)):
        k = rng.random()
        if k < 0.1:
            lines.append(f"ARG V={_w(rng)}")
        elif k < 0.2:
            lines.append(f"ENV V{rng.randint(0, 3)}={_w(rng)}")
        elif k < 0.3:
            lines.append(f"WORKDIR {_w(rng)}")
        elif k < 0.35:
            lines.append(f"USER {rng.choice(['1000', 'app', '0:0', _w(rng), '4294967296'])}")
        elif k < 0.4:
            lines.append(rng.choice(['SHELL ["/bin/bash", "-c"]', 'SHELL ["x"]']))
        elif k < 0.6:
            flags = []
            if rng.random() < 0.5:
                t = rng.choice(["cache", "bind", "tmpfs", "secret", "ssh"])
                opts = {
                    "cache": ["", ",sharing=locked", ",uid=1,gid=2,mode=0700", ",id=x"],
                    "bind": ["", ",source=data", ",rw"],
                    "tmpfs": ["", ",size=99"],
                    "secret": ["", ",id=s", ",env=E", ",required"],
                    "ssh": ["", ",id=k", ",mode=0600"],
                }[t]
                flags.append(f"--mount=type={t},target=/m{rng.randint(0, 9)}" + rng.choice(opts))
            if rng.random() < 0.3:
                flags.append(f"--network={rng.choice(['host', 'none', 'default'])}")
            if rng.random() < 0.1:
                flags.append("--security=insecure")
            body = rng.choice(
                [f"echo {_w(rng)}", '["sh", "-c", "x"]', "<<EOF\n#!/bin/sh\necho hi\nEOF", "<<E\nx\nE"]
            )
            lines.append(f"RUN {' '.join(flags)} {body}")
        else:
            kw = rng.choice(["COPY", "ADD"])
            flags = []
            for f, v in (
                ("chmod", rng.choice(["644", "u+x", "0755", "0"] * 5 + ["99999999999"])),
                ("chown", rng.choice(["1:2", "app", "0"])),
            ):
                if rng.random() < 0.3:
                    flags.append(f"--{f}={v}")
            if rng.random() < 0.3:
                flags.append("--link")
            if rng.random() < 0.2:
                flags.append(f"--exclude={_w(rng)}")
            srcs = ["app.conf", "data/", ".", "*.txt", "<<EOF\nhello\nEOF"]
            src = rng.choice([*srcs, "https://example.invalid/x"] if kw == "ADD" else srcs)
            if src.startswith("<<"):
                head, _, rest = src.partition("\n")
                lines.append(f"{kw} {' '.join(flags)} {head} /{_w(rng)}\n{rest}")
            else:
                lines.append(f"{kw} {' '.join(flags)} {src} {rng.choice(['/d/', 'rel', '.', '/' + _w(rng)])}")
    return "\n".join(lines) + "\n"


def _junk(rng: random.Random, depth: int = 0) -> object:
    k = rng.random()
    if depth > 6 or k < 0.3:
        return rng.choice([None, True, 1e308, -1, 2**70, "", "\x1b]0;t\x07", "\ud800"])
    if k < 0.6:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["Type", "Exec", "meta", "env", "Actions", "args", "x"]): _junk(rng, depth + 1)
        for _ in range(3)
    }


def _cachemap(rng: random.Random) -> object:
    k = rng.random()
    if k < 0.3:
        return json.dumps(
            {"Type": "buildkit.exec.v0", "Exec": {"meta": {"args": [_w(rng)], "env": [_w(rng), 7]}}}
        )
    if k < 0.6:
        acts = [base64.b64encode(json.dumps(_junk(rng)).encode()).decode(), "!!not base64", 5]
        return json.dumps({"Type": "buildkit.file.v0", "Actions": acts})
    if k < 0.75:
        return "[" * rng.choice([10, 2000]) + "]" * 5
    return _junk(rng)


def case(rng: random.Random, workdir: Path) -> list[str]:
    ctx = workdir / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "app.conf").write_text("listen = 8080\n")
    (ctx / "data" / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_bytes(_dockerfile(rng).encode("utf-8", "surrogateescape"))
    fp = {
        "schema": "cacheinspect.context-fingerprint/v1",
        "files": {},
        "steps": [],
        "ops": [
            {
                "stage": "stage-0",
                "line": rng.randint(-1, 30),
                "keyword": rng.choice(["RUN", "COPY", 3]),
                "instruction": _w(rng),
                "rules": rng.choice(["v0.13", "v0.25", "v9", None]),
                "cachemap": _cachemap(rng),
            }
            for _ in range(rng.randint(0, 6))
        ],
        "images": rng.choice(
            [{"busybox": {"Env": _junk(rng), "WorkingDir": _junk(rng), "User": 5}}, [], "x", None]
        ),
    }
    (workdir / "fp.json").write_text(json.dumps(fp))
    argv = [
        "context",
        "check",
        str(rng.choice(_LAYOUTS)),
        str(ctx),
        "--assume-base-unchanged",
        "--no-referrers",
    ]
    argv += ["--fingerprint", str(workdir / "fp.json"), "--format", rng.choice(["json", "table", "github"])]
    if rng.random() < 0.3:
        argv += ["--network", rng.choice(["host", "none", "bogus"])]
    if rng.random() < 0.2:
        argv += ["--add-host", rng.choice(["db:10.0.0.1", "nohost", "\x1b:1"])]
    return argv
