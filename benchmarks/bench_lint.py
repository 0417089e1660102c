"""`cacheinspect lint` speed: one generated 5,000-line Dockerfile, 1,000 Dockerfiles in one CLI run, and
the growth of a whole `lint` process with the input (issue 17).

The Dockerfiles are generated: stages of realistic instructions (ARG/ENV/WORKDIR/USER, COPY, RUN with
cache mounts and without, continuation lines, a heredoc, pip/npm/go/apt/cargo commands chained with
``&&``, a COPY --from between stages), so every rule and the shell reader run. Timings are wall clock,
best of ``BENCH_LINT_ROUNDS`` (default 3); the CLI rows include interpreter start-up.

Growth rows: seven series (realistic lines, ARG lines, lines of one RUN heredoc, findings, a chain of
stages each ``FROM`` the previous one with an ENV, an ARG and a RUN, subshells ``( … )`` in one RUN and
``sh -c '…'`` child shells in one RUN, one more variable per line), each at three sizes doubling, run as a whole ``cacheinspect lint -f json`` process; the CPU (user + system) of the best
round is compared with a floor measured in the same run at the same size: a whole Python process that
reads the same file and splits every line into words. ``exponent`` is the least-squares slope of
log(CPU) over log(size) for the whole process; ``exponent of work`` the same for the CPU above a
start-up run measured in the same run (``lint`` of a two-line Dockerfile: interpreter, imports), the
stricter figure, since a constant start-up flattens the whole-process slope. Issue 17 asks for ≤ 1.1.
Env knobs: BENCH_LINT_LINES (5000), BENCH_LINT_FILES (1000), BENCH_LINT_ROUNDS (3),
BENCH_LINT_GROWTH_BASE (4000: the smallest size of each series), BENCH_LINT_GROWTH_ROUNDS (2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TITLE = "lint: a 5,000-line Dockerfile and 1,000 Dockerfiles (in process and as a whole CLI process)"
LINES = int(os.environ.get("BENCH_LINT_LINES", "5000"))
FILES = int(os.environ.get("BENCH_LINT_FILES", "1000"))
ROUNDS = int(os.environ.get("BENCH_LINT_ROUNDS", "3"))

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
RUN rm -f /etc/apt/apt.conf.d/docker-clean; echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,target=/var/lib/apt \\
    apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev && rm -rf /var/lib/apt/lists/*
RUN <<EOF
set -e
useradd -m -u 10{i:02d} app{i}
mkdir -p /data && chown app{i} /data
EOF
USER app{i}
RUN --mount=type=cache,target=/root/.cache/pip pip install --user flask
FROM node:20 AS web{i}
WORKDIR /web
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/web/node_modules npm ci && npm run build
RUN if [ "$VERSION" = "1" ]; then npm install -g pnpm; else echo skip; fi
FROM golang:1.22 AS go{i}
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /out/app{i} ./cmd/app
FROM py{i}
COPY --from=web{i} /web/dist /srv/static
COPY --from=py{i} /pip-packages{i} /usr/lib/python3/dist-packages
CMD ["gunicorn", "app:app"]
"""


def generate(lines: int) -> str:
    """A Dockerfile of about *lines* lines made of numbered copies of :data:`_STAGE`."""
    out: list[str] = []
    i = 0
    while sum(s.count("\n") for s in out) < lines:
        out.append(_STAGE.format(i=i % 100))
        i += 1
    text = "".join(out)
    return "\n".join(text.splitlines()[:lines]) + "\n"


GROWTH_BASE = int(os.environ.get("BENCH_LINT_GROWTH_BASE", "4000"))
GROWTH_ROUNDS = int(os.environ.get("BENCH_LINT_GROWTH_ROUNDS", "2"))


def _stages_file(n: int) -> str:
    """About *n* lines of whole numbered stages (never cut inside a heredoc or continuation)."""
    per = _STAGE.count("\n")
    return "".join(_STAGE.format(i=k % 100) for k in range(max(1, round(n / per))))


def _args_file(n: int) -> str:
    return "FROM alpine\n" + "".join(f"ARG a{i}=v{i}\n" for i in range(n))


def _heredoc_file(n: int) -> str:
    body = "".join(
        f"cd /src/m{i} && export V{i}=$V{i - 1}x && pip install --target=/cache/x{i} p{i} > /tmp/log{i}\n"
        for i in range(n)
    )
    return f"FROM python:3.12\nRUN --mount=type=cache,target=/cache <<EOF\n{body}EOF\n"


def _findings_file(n: int) -> str:
    # one CM001 (output written into the cache mount) per RUN, each with its own cache target
    return "FROM python:3.12\n" + "".join(
        f"RUN --mount=type=cache,target=/c{i} pip install --no-cache-dir --target=/c{i}/site p{i}\n"
        for i in range(n)
    )


def _stage_chain_file(n: int) -> str:
    # n stages, each FROM the one before, each adding an ENV and an ARG and running a RUN that uses them
    out = ["FROM alpine AS s0\n"]
    for i in range(n):
        if i:
            out.append(f"FROM s{i - 1} AS s{i}\n")
        out.append(
            f"ENV E{i}=v{i}\nARG A{i}=a{i}\n"
            f"RUN --mount=type=cache,target=/c{i} pip install --target=/c{i}/x p$E{i}\n"
        )
    return "".join(out)


def _subshells_file(n: int) -> str:
    # one RUN: n lines, each exporting one more variable and running one subshell ( … )
    body = "".join(
        f"export V{i}=$V{max(i - 1, 0)}x; (cd /m{i} && pip install --target=/cache/x{i} p{i})\n"
        for i in range(n)
    )
    return f"FROM python:3.12\nRUN --mount=type=cache,target=/cache <<EOF\n{body}EOF\n"


def _child_shells_file(n: int) -> str:
    # one RUN: n lines, each setting a shell variable, exporting another and running one `sh -c '…'`
    body = "".join(
        f"L{i}=l{i}; export V{i}=v{i}; sh -c 'cd /m{i} && pip install --target=/cache/x{i} p{i}'\n"
        for i in range(n)
    )
    return f"FROM python:3.12\nRUN --mount=type=cache,target=/cache <<EOF\n{body}EOF\n"


_FLOOR = "import sys\nwith open(sys.argv[1], encoding='utf-8') as f:\n    [ln.split() for ln in f]\n"


def _child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process run to completion."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _slope(xs: list[float], ys: list[float]) -> float:
    import math

    lx = [math.log(x) for x in xs]
    ly = [math.log(max(y, 1e-6)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def growth_rows(root: Path) -> list[dict[str, Any]]:
    """The four growth series as table rows (see the module docstring)."""
    series = [
        ("lines (realistic stages)", _stages_file, 1),
        ("ARG lines", _args_file, 1),
        ("RUN heredoc lines", _heredoc_file, 1),
        ("findings (one RUN each)", _findings_file, 1),
        ("stages, each FROM the previous (ENV+ARG+RUN)", _stage_chain_file, 1),
        ("subshells ( … ) in one RUN (one export each)", _subshells_file, 1),
        ("sh -c child shells in one RUN (one export each)", _child_shells_file, 1),
    ]
    rows: list[dict[str, Any]] = []
    tiny = root / "growth-tiny.Dockerfile"
    tiny.write_text("FROM python:3.12\nRUN pip install flask\n")
    tiny_argv = [sys.executable, "-m", "cacheinspect", "lint", "--fail-on", "never", "-f", "json", str(tiny)]
    startup = min(_child_cpu(tiny_argv) for _ in range(max(GROWTH_ROUNDS, 3)))
    for name, make, _ in series:
        sizes = [GROWTH_BASE, GROWTH_BASE * 2, GROWTH_BASE * 4]
        cpu: list[float] = []
        floor: list[float] = []
        for n in sizes:
            path = root / f"growth-{len(rows)}-{n}.Dockerfile"
            path.write_text(make(n))
            lint_argv = [
                sys.executable,
                "-m",
                "cacheinspect",
                "lint",
                "--fail-on",
                "never",
                "-f",
                "json",
                str(path),
            ]
            cpu.append(min(_child_cpu(lint_argv) for _ in range(GROWTH_ROUNDS)))
            floor.append(
                min(_child_cpu([sys.executable, "-c", _FLOOR, str(path)]) for _ in range(GROWTH_ROUNDS))
            )
        exp = _slope([float(n) for n in sizes], cpu)
        work = [max(c - startup, 1e-3) for c in cpu]
        exp_over = _slope([float(n) for n in sizes], work)
        for k, n in enumerate(sizes):
            rows.append(
                {
                    "case": f"growth: {name}" if k == 0 else "",
                    "size": f"{n:,}",
                    "lint CPU s": f"{cpu[k]:.2f}",
                    "floor CPU s": f"{floor[k]:.3f}",
                    "x floor": f"{cpu[k] / floor[k]:.1f}",
                    "exponent": f"{exp:.2f}" if k == 0 else "",
                    "exponent of work": f"{exp_over:.2f}" if k == 0 else "",
                    "<= 1.1": ("yes" if max(exp, exp_over) <= 1.1 else "NO") if k == 0 else "",
                    "start-up CPU s": f"{startup:.2f}" if k == 0 else "",
                }
            )
    return rows


def _best(fn: Any) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _cli(args: list[str]) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", "--fail-on", "never", "-f", "json", *args],
        capture_output=True,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"lint failed ({p.returncode}): {p.stderr.decode()[-500:]}")


def run() -> list[dict[str, Any]]:
    from cacheinspect.lint.engine import lint_text

    big = generate(LINES)
    small = generate(60)
    rows: list[dict[str, Any]] = []

    def row(case: str, files: int, lines_each: int, seconds: float, findings: int | None = None) -> None:
        rows.append(
            {
                "case": case,
                "files": files,
                "lines/file": lines_each,
                "total s": f"{seconds:.3f}",
                "per file ms": f"{seconds / files * 1000:.2f}",
                "lines/s": f"{files * lines_each / seconds:,.0f}",
                "findings": "" if findings is None else findings,
            }
        )

    n_big = len(lint_text(big).findings)
    row(f"{LINES}-line Dockerfile, in process", 1, LINES, _best(lambda: lint_text(big)), n_big)
    one_stage = "FROM python:3.12\n" + "".join(
        f"RUN --mount=type=cache,target=/root/.cache/pip pip install pkg{k} && echo {k} > /tmp/x{k}\n"
        for k in range(LINES - 1)
    )
    row(f"{LINES}-line, one stage of RUNs, in process", 1, LINES, _best(lambda: lint_text(one_stage)))
    n_small = len(lint_text(small).findings)
    row(
        f"{FILES} x {small.count(chr(10))}-line Dockerfiles, in process",
        FILES,
        small.count("\n"),
        _best(lambda: [lint_text(small, filename=f"f{k}") for k in range(FILES)]),
        n_small * FILES,
    )
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "big.Dockerfile").write_text(big)
        paths = []
        for k in range(FILES):
            p = root / f"{k}.Dockerfile"
            p.write_text(small.replace("python:3.12", f"python:3.{k % 13}"))
            paths.append(str(p))
        row(
            f"{LINES}-line Dockerfile, whole CLI process",
            1,
            LINES,
            _best(lambda: _cli([str(root / "big.Dockerfile")])),
        )
        row(
            f"{FILES} Dockerfiles, one whole CLI process",
            FILES,
            small.count("\n"),
            _best(lambda: _cli(paths)),
        )
        row(
            "1 small Dockerfile, whole CLI process (start-up)",
            1,
            small.count("\n"),
            _best(lambda: _cli(paths[:1])),
        )
        rows += growth_rows(root)
    return rows


if __name__ == "__main__":
    from tabulate import tabulate

    print(tabulate(run(), headers="keys", disable_numparse=True))
