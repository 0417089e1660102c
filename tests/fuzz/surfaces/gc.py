"""Fuzz surface ``gc``: `du`, `gc simulate` and `gc lint` with hostile dumps, policies and prune lines.

``case(rng, workdir)`` writes one input set and returns the argv; the runner (``python -m
tests.fuzz.surfaces``) runs it in a forked worker and checks the oracle-free contract: no exit 70, no
hang, bounded memory, no raw control characters in the output. Inputs mix valid shapes (Engine API
JSON, buildctl JSON lines, `docker system df -v` JSON, `buildx du --verbose` text, daemon.json,
buildkitd.toml, buildx inspect, prune command lines and Engine API requests) with the classes seen
breaking these commands: deep nesting, integers past float/int64 range, control and bidi characters in
ids/types/descriptions, long parent chains, non-UTF-8 bytes, FIFOs and links to /dev/zero, truncation
and byte flips.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
from typing import cast

NAME = "gc"

_EVIL = ["\x1b]0;t\x07", "\x1b[31m", "\u202e", "\u009b", "\x00", "\r", "\n", "\u2028", "\x7f", "é", "\ud7ff"]
_TYPES = ["regular", "source.local", "exec.cachemount", "internal", "frontend", "source.git.checkout"]
_HUGE = ["1" + "0" * 400, "9" * 400, "1" + "0" * 5000, "-" + "9" * 30, "1e400", "NaN", "Infinity", "0.5"]


def _s(rng: random.Random, n: int = 12) -> str:
    base = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(1, n)))
    if rng.random() < 0.3:
        i = rng.randint(0, len(base))
        base = base[:i] + rng.choice(_EVIL) + base[i:]
    return base


def _time(rng: random.Random) -> str:
    if rng.random() < 0.85:
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:0{rng.randint(0, 9)}.{rng.randint(0, 10**9 - 1):09d}Z"
    return rng.choice(
        [
            "2026-12-01T09:17:15.103638201Z",
            f"20{rng.randint(10, 40)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T0{rng.randint(0, 9)}:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-13-45T99:99:99Z",
            _s(rng),
            "",
        ]
    )


def _num(rng: random.Random) -> object:
    """An integer or number a Go decoder refuses or that overflows a float (JSON-encodable here)."""
    return rng.choice(
        [10**400, 10**400 - 1, -(10**30), 2**63, 2**64, float("inf"), float("nan"), 0.5, -1, "7"]
    )


def _records(rng: random.Random, n: int) -> list[dict[str, object]]:
    ids = [_s(rng, 25) for _ in range(n)]
    chain = rng.random() < 0.3
    out = []
    for i, rid in enumerate(ids):
        parents = [ids[i - 1]] if chain and i else ([rng.choice(ids)] if rng.random() < 0.4 else None)
        out.append(
            {
                "ID": rid,
                " Parents": parents,
                "Type": rng.choice(_TYPES) if rng.random() < 0.9 else _s(rng),
                "Description": _s(rng, 40),
                "InUse": rng.random() < 0.1,
                "Shared": rng.random() < 0.2,
                "Size": rng.randint(0, 10**8) if rng.random() < 0.95 else _num(rng),
                "CreatedAt": _time(rng),
                "LastUsedAt": _time(rng) if rng.random() < 0.9 else None,
                "UsageCount": rng.randint(0, 50) if rng.random() < 0.95 else _num(rng),
            }
        )
    return out


def _nest(rng: random.Random, depth: int) -> str:
    o, c = rng.choice([("[", "]"), ('{"a":', "}")])
    return o * depth + "1" + c * depth


def _dump(rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    n = rng.choice([1, 3, 20, 200, rng.randint(1, 5000)])
    recs = _records(rng, n)
    if kind == 0:
        text = json.dumps({"BuildCache": recs}, ensure_ascii=rng.random() < 0.5)
    elif kind == 1:  # buildctl du --format '{{json .}}' (lower-case keys), one per line sometimes
        low = [{"id": r["ID"], "parents": r[" Parents"], "recordType": r["Type"], "size": r["Size"],
                "lastUsedAt": r["LastUsedAt"], "usageCount": r["UsageCount"]} for r in recs]  # fmt: skip
        text = "\n".join(json.dumps(x) for x in low) if rng.random() < 0.5 else json.dumps(low)
    elif kind == 2:  # docker system df -v --format json
        text = json.dumps([{"ID": r["ID"], "CacheType": r["Type"], "Size": rng.choice(["8.19kB", "1.2GB", _s(rng), "1" + "0" * 400 + "GB"]),
                            "CreatedAt": r["CreatedAt"], "LastUsedAt": r["LastUsedAt"], "UsageCount": r["UsageCount"],
                            "Parent": ", ".join(cast("list[str]", r[" Parents"] or []))} for r in recs])  # fmt: skip
    elif kind == 3:  # buildx du --verbose text
        blocks = []
        for r in recs[:500]:
            age = rng.choice(
                ["2 hours ago", "About a minute ago", f"{rng.choice(_HUGE)} years ago", "now", _s(rng)]
            )
            blocks.append(f"ID:\t{r['ID']}\nType:\t{r['Type']}\nSize:\t{rng.choice(['1kB', '2.5MB', _s(rng)])}\n"
                          f"Last used:\t{age}\nUsage count:\t{rng.choice(['1', '9' * 30, _s(rng)])}\n")  # fmt: skip
        text = "\n".join(blocks)
    elif kind == 4:
        text = '{"BuildCache": [' + _nest(rng, rng.choice([100, 1000, 100_000])) + "]}"
    elif kind == 5:
        text = json.dumps({"BuildCache": recs}).replace(
            '"Size": 0', '"Size": 1' + "0" * rng.choice([20, 400, 5000])
        )
    else:
        text = json.dumps({"BuildCache": recs})
    data = text.encode("utf-8", "surrogatepass")
    if kind >= 7:  # byte flips and truncation
        b = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        data = bytes(b[: rng.randint(0, len(b))]) if rng.random() < 0.3 else bytes(b)
    return data


def _policy(rng: random.Random) -> bytes:
    size = rng.choice(["10GB", "0", "", "512MB", "10%", "1" + "0" * 400 + "GB", "-1", _s(rng), 1000, 10**30])
    dur = rng.choice(["48h", "1h30m", "9" * 400 + "h", "1" + "0" * 30, "", _s(rng), 3600])
    flt = rng.choice(
        ["type=exec.cachemount", "until=24h", f"until={'9' * 400}", "id=" + _s(rng), "label=x", _s(rng)]
    )
    kind = rng.randrange(6)
    if kind == 0:
        gc = {"enabled": rng.choice([True, False, None, "yes"]), "defaultKeepStorage": size,
              "defaultReservedSpace": size, "defaultMaxUsedSpace": size, "defaultMinFreeSpace": size}  # fmt: skip
        if rng.random() < 0.7:
            gc["policy"] = [{"keepStorage": size, "reservedSpace": size, "maxUsedSpace": size,
                             "minFreeSpace": size, "all": rng.random() < 0.5, "filter": [flt]}
                            for _ in range(rng.randint(0, 4))]  # fmt: skip
        text = json.dumps({"builder": {"gc": gc}})
    elif kind == 1:
        q = json.dumps
        text = (f"[worker.oci]\ngc = {rng.choice(['true', 'false'])}\ngckeepstorage = {q(size) if isinstance(size, str) else size}\n"
                f"[[worker.oci.gcpolicy]]\nkeepDuration = {q(dur) if isinstance(dur, str) else dur}\n"
                f"filters = [{q(flt)}]\nreservedSpace = {q(size) if isinstance(size, str) else size}\n")  # fmt: skip
    elif kind == 2:
        text = "".join(f"GC Policy rule#{i}:\n\tAll:\t{rng.choice(['true', 'false'])}\n\tFilters:\t{flt}\n"
                       f"\tKeep Duration:\t{dur}\n\tReserved Space:\t{size}\n" for i in range(rng.randint(1, 4)))  # fmt: skip
    elif kind == 3:
        text = '{"builder": ' + _nest(rng, rng.choice([100, 5000, 50_000])) + "}"
    elif kind == 4:
        text = "[worker.oci]\nx = " + "[" * rng.choice([100, 5000]) + "]" * rng.choice([100, 5000]) + "\n"
    else:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000)))
    return text.encode("utf-8", "surrogatepass")


def _prune(rng: random.Random) -> str:
    size = rng.choice(["10MB", "1000", "1" + "0" * 400, "9" * 30, _s(rng), "1.5GB", "-5"])
    kind = rng.randrange(4)
    if kind == 0:
        flags = rng.sample(
            ["-f", "-a", f"--keep-storage {size}", f"--filter until={rng.choice(['24h', '9' * 400 + 'h', _s(rng)])}",
             f"--filter type={rng.choice(_TYPES)}", f"--max-used-space {size}", f"--reserved-space {size}",
             f"--min-free-space {size}", f"--filter id={_s(rng)}", "--bogus"], rng.randint(0, 5))  # fmt: skip
        return f"docker {rng.choice(['builder', 'buildx'])} prune " + " ".join(flags)
    if kind == 1:
        return f"buildctl prune --keep-storage {size} --keep-duration {rng.choice(['1h', '9' * 400 + 'h'])}"
    params = "&".join(
        rng.sample(
            [
                f"keep-storage={size}",
                f"reserved-space={size}",
                f"max-used-space={size}",
                "all=1",
                f"min-free-space={size}",
                "filters=" + rng.choice(['{"type":{"regular":true}}', "{" * 10000, _s(rng)]),
                "a=1;b=2",
                "x=%zz",
            ],
            rng.randint(0, 5),
        )
    )
    url = f"http://localhost/v1.{rng.randint(20, 55)}/build/prune?{params}"
    return f"curl -s -X POST --unix-socket /var/run/docker.sock '{url}'" if kind == 2 else url


def _file(rng: random.Random, workdir: pathlib.Path, name: str, data: bytes) -> str:
    p = workdir / name
    r = rng.random()
    if r < 0.03:
        os.mkfifo(p)
    elif r < 0.06:
        p.symlink_to("/dev/zero")
    elif r < 0.08:
        p.mkdir()
    else:
        p.write_bytes(data)
    return str(p)


def case(rng: random.Random, workdir: pathlib.Path) -> list[str]:
    """Write one hostile input set under workdir; return the cacheinspect argv."""
    fmt = ["-f", rng.choice(["table", "json", "markdown"])]
    ver = rng.choice([["--buildkit-version", "v0.13"], ["--docker-version", "28.5"], ["--docker-version", "26.1"],
                      ["--buildkit-version", "v0.25"], []])  # fmt: skip
    disk = (
        ["--disk-size", "100GB", "--disk-free", rng.choice(["40GB", "1" + "0" * 400])]
        if rng.random() < 0.7
        else []
    )
    cmd = rng.randrange(3)
    if cmd == 0:
        return [
            "du",
            _file(rng, workdir, "dump", _dump(rng)),
            *fmt,
            "--now",
            rng.choice(["@1800000000", "+72h", "@1e400"]),
        ]
    if cmd == 1:
        argv = [
            "gc",
            "simulate",
            _file(rng, workdir, "dump", _dump(rng)),
            *fmt,
            *ver,
            *disk,
            "--now",
            "@1800000000",
        ]
        if rng.random() < 0.5:
            argv += ["--prune", _prune(rng)]
        else:
            argv += ["--policy", _file(rng, workdir, "policy", _policy(rng))]
        if rng.random() < 0.3:
            argv += ["--daemon-started", rng.choice(["never", "@1700000000", "-2h", _s(rng)])]
        return argv
    argv = ["gc", "lint", *fmt, *ver[:2]]
    if rng.random() < 0.6:
        argv += ["--policy", _file(rng, workdir, "policy", _policy(rng))]
    if rng.random() < 0.5 or "--policy" not in argv:
        argv += ["--prune", _prune(rng)]
    return argv
