"""`cacheinspect lint` speed: one generated 5,000-line Dockerfile, and 1,000 Dockerfiles in one CLI run.

The Dockerfiles are generated: stages of realistic instructions (ARG/ENV/WORKDIR/USER, COPY, RUN with
cache mounts and without, continuation lines, a heredoc, pip/npm/go/apt/cargo commands chained with
``&&``, a COPY --from between stages), so every rule and the shell reader run. Timings are wall clock,
best of ``BENCH_LINT_ROUNDS`` (default 3); the CLI rows include interpreter start-up.
Env knobs: BENCH_LINT_LINES (5000), BENCH_LINT_FILES (1000), BENCH_LINT_ROUNDS (3).
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
    return rows


if __name__ == "__main__":
    from tabulate import tabulate

    print(tabulate(run(), headers="keys", disable_numparse=True))
