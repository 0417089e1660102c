"""Fuzz surface ``registry_log``: ``registry probe --from-log FILE`` on hostile BuildKit logs.

Logs built from the lines BuildKit really writes around a cache export (``#N exporting cache to
registry``, ``writing layer/config/cache manifest``, ``ERROR: error writing manifest blob: failed commit
on ref …: unexpected status from PUT request to URL: STATUS``), mutated: control, bidi and ANSI/OSC
sequences in URLs and messages, non-UTF-8 bytes, NULs, CR-only line ends, very long lines, many steps,
huge status numbers, registry hosts of every rule; and files that are not logs at all (a FIFO, a link to
``/dev/zero``, a directory, a missing file, binary noise). Output: ``-f table`` and ``-f json``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

NAME = "registry_log"

_HOSTS = [
    "123.dkr.ecr.us-east-1.amazonaws.com",
    "harbor.example.com",
    "quay.io",
    "gcr.io",
    "acme.jfrog.io",
    "nexus.local:8082",
    "gitea.example",
    "pulp.example",
    "127.0.0.1:5000",
    "evil\x1b]0;t\x07",
    "h\u202eost",
    "",
]
_NASTY = [
    "\x1b[31m",
    "\x1b]8;;http://x\x07",
    "\u202e",
    "\x9b",
    "\r",
    "\x00",
    "\x7f",
    "\u2028",
    "é",
    "\\",
    '"',
]
_STATUS = [
    "400 Bad Request",
    "404 Not Found",
    "500 Internal Server Error",
    "401 Unauthorized",
    "413",
    "999",
    "4000",
]


def _digest(rng: random.Random) -> str:
    return "sha256:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))


def _nasty(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(0, 3)):
        i = rng.randint(0, len(s))
        s = s[:i] + rng.choice(_NASTY) + s[i:]
    return s


def _log(rng: random.Random) -> bytes:
    step = rng.randint(1, 99)
    lines = [f"#{step} exporting cache to registry", f"#{step} preparing build cache for export"]
    for _ in range(rng.choice([0, 1, 3, 50])):
        lines.append(f"#{step} writing layer {_digest(rng)} 0.1s done")
    kind = rng.choice(["cache manifest", "cache image manifest", "manifest", "config"])
    d = _digest(rng)
    lines.append(f"#{step} writing {kind} {d}")
    host = rng.choice(_HOSTS)
    url = f"https://{host}/v2/{_nasty(rng, 'team/app')}/manifests/{_nasty(rng, 'cache')}"
    status = rng.choice(_STATUS)
    msg = rng.choice(
        [
            f'error writing manifest blob: failed commit on ref "{d}": unexpected status from PUT request to {url}: {status}',
            f'error writing layer blob: failed commit on ref "{d}": unexpected status: {status}',
            "invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format",
            f"{_nasty(rng, 'blob upload invalid')}: Unsupported manifest type",
            "'platform' is a required property",
        ]
    )
    lines.append(f"#{step} ERROR: {_nasty(rng, msg)}")
    if rng.random() < 0.5:
        lines.append(f"ERROR: failed to solve: {_nasty(rng, msg)}")
    if rng.random() < 0.2:
        lines.append("x" * rng.choice([70_000, 1_000_000]))
    if rng.random() < 0.1:
        lines += [f"#{i} ERROR: {_nasty(rng, 'x')}" for i in range(rng.choice([1000, 20000]))]
    sep = rng.choice(["\n", "\r\n", "\r"])
    data = sep.join(lines).encode("utf-8", "surrogatepass")
    if rng.random() < 0.2:
        data = bytes(b if rng.random() > 0.02 else rng.choice([0x80, 0xFF, 0x00, 0x1B, 0x9B]) for b in data)
    return data


def case(rng: random.Random, workdir: Path) -> list[str]:
    """One hostile log file (or a non-file) and the argv reading it."""
    path = workdir / "build.log"
    r = rng.random()
    if r < 0.8:
        path.write_bytes(_log(rng))
    elif r < 0.85:
        os.mkfifo(path)
    elif r < 0.9:
        path.symlink_to("/dev/zero")
    elif r < 0.93:
        path.mkdir()
    elif r < 0.96:
        pass  # missing
    else:
        path.write_bytes(rng.randbytes(rng.choice([1, 100, 100_000])))
    return ["registry", "probe", "--from-log", str(path), "-f", rng.choice(["table", "json"])]
