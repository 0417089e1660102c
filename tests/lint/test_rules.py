"""Every rule: Dockerfiles that must fire (with the line BuildKit would point at) and the corrected
forms that must stay completely quiet.

The flagged cases are the shapes the rules exist for (seed 002, issue 10, BuildKit's own docs); each
``GOOD`` case is the fix the rule's documentation recommends, or a correct idiom peer linters get
wrong, so a rule can never ship without its negative test.
"""

from __future__ import annotations

import pytest

from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.rules import RULES


def codes(text: str, **kw: object) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in lint_text(text, filename="Dockerfile", **kw).findings]  # type: ignore[arg-type]


# (id, Dockerfile, expected (code, line) list — exactly, in order)
BAD: list[tuple[str, str, list[tuple[str, int]]]] = [
    (
        "seed-002-pip-target",
        "FROM python:3.10\nRUN mkdir /pip-packages\n"
        "RUN --mount=type=cache,target=/pip-packages \\\n      pip install --target=/pip-packages uwsgi\n",
        [("CM001", 4)],
    ),
    (
        "seed-002-ls-does-not-rescue",
        "FROM python:3.10\nRUN --mount=type=cache,target=/pip-packages \\\n"
        "      pip install --target=/pip-packages uwsgi \\\n      && ls -1 /pip-packages\n",
        [("CM001", 3)],
    ),
    (
        "npm-ci-into-mounted-node-modules",
        "FROM node:20\nWORKDIR /app\nCOPY package*.json ./\n"
        "RUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/app/node_modules npm ci\n",
        [("CM001", 4)],
    ),
    (
        "yarn-into-mounted-node-modules",
        "FROM node:20\nWORKDIR /app\nRUN --mount=type=cache,target=/app/node_modules yarn install --frozen-lockfile\n",
        [("CM001", 3)],
    ),
    (
        "go-build-o-into-cache",
        "FROM golang:1.22\nWORKDIR /src\n"
        "RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/out go build -o /out/app .\n",
        [("CM001", 3)],
    ),
    (
        "cargo-target-not-copied",
        "FROM rust:1\nWORKDIR /src\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/src/target cargo build --release\n",
        [("CM001", 3)],
    ),
    (
        "cp-into-target",
        "FROM busybox\nRUN --mount=type=cache,target=/cache cp /etc/passwd /cache/passwd\n",
        [("CM001", 2)],
    ),
    (
        "redirect-into-target",
        "FROM busybox\nRUN --mount=type=cache,target=/cache echo built > /cache/out.txt\n",
        [("CM001", 2)],
    ),
    (
        "sh-c-is-looked-through",
        "FROM python:3.12\nRUN --mount=type=cache,target=/deps sh -c 'pip install -t /deps flask'\n",
        [("CM001", 2)],
    ),
    (
        "copy-from-reads-cache-only-path",
        "FROM node:20 AS build\nWORKDIR /app\n"
        "RUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/app/node_modules npm ci\n"
        "FROM node:20\nCOPY --from=build /app/node_modules /app/node_modules\n",
        [("CM001", 3), ("CM002", 5)],
    ),
    (
        "copy-from-reads-a-cache-dir",
        "FROM golang:1.22 AS build\n"
        "RUN --mount=type=cache,target=/root/.cache/go-build go build -o /app .\n"
        "FROM scratch\nCOPY --from=build /root/.cache/go-build /cache\n",
        [("CM002", 4)],
    ),
    (
        "later-run-reads-cache-only-path",
        "FROM python:3.12\nRUN --mount=type=cache,target=/wheels pip wheel -w /wheels flask\n"
        "RUN pip install --no-index -f /wheels flask\n",
        [("CM001", 2), ("CM009", 3), ("CM002", 3)],
    ),
    (
        "pip-no-cache-dir-under-mount",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install --no-cache-dir flask\n",
        [("CM003", 2)],
    ),
    (
        "pip-no-cache-dir-env-zero-still-disables",
        "FROM python:3.12\nENV PIP_NO_CACHE_DIR=0\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n",
        [("CM003", 3)],
    ),
    (
        "pip-no-cache-dir-build-arg",
        "FROM python:3.12\nARG PIP_NO_CACHE_DIR=1\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n",
        [("CM003", 3)],
    ),
    (
        "apk-no-cache-under-mount",
        "FROM alpine:3.20\nRUN --mount=type=cache,target=/etc/apk/cache apk add --no-cache gcc\n",
        [("CM003", 2)],
    ),
    (
        "npm-cache-clean-under-mount",
        "FROM node:20\nRUN --mount=type=cache,target=/root/.npm npm ci && npm cache clean --force\n",
        [("CM003", 2)],
    ),
    (
        "apt-lists-removed-under-mount",
        "FROM debian:12\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "    apt-get update && apt-get install -y gcc && rm -rf /var/lib/apt/lists/*\n",
        [("CM003", 4)],
    ),
    (
        "other-user-home",
        "FROM python:3.12\nRUN useradd -m -u 1000 app\nUSER app\n"
        "RUN --mount=type=cache,target=/root/.cache/pip,uid=1000 pip install --user flask\n",
        [("CM004", 4)],
    ),
    (
        "pip-cache-dir-elsewhere",
        "FROM python:3.12\nENV PIP_CACHE_DIR=/tmp/pip\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n",
        [("CM004", 3)],
    ),
    (
        "gocache-elsewhere",
        "FROM golang:1.22\nENV GOCACHE=/gocache\nRUN --mount=type=cache,target=/root/.cache/go-build go build ./...\n",
        [("CM004", 3)],
    ),
    (
        "npm-config-cache-elsewhere",
        "FROM node:20\nENV npm_config_cache=/tmp/npm\nRUN --mount=type=cache,target=/root/.npm npm ci\n",
        [("CM004", 3)],
    ),
    (
        "yarn1-root-uses-usr-local-share",
        "FROM node:20\nRUN --mount=type=cache,target=/root/.cache/yarn yarn install && yarn build\n",
        [("CM004", 2)],
    ),
    (
        "apt-without-docker-clean-removal",
        "FROM debian:12\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "    apt-get update && apt-get install -y gcc\n",
        [("CM005", 3)],
    ),
    (
        "apt-binary-without-keep-downloaded",
        "FROM debian:12\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "    apt update && apt install -y gcc\n",
        [("CM005", 4)],
    ),
    (
        "dnf-keepcache-off",
        "FROM fedora:40\nRUN --mount=type=cache,target=/var/cache/dnf,sharing=locked dnf install -y gcc\n",
        [("CM005", 2)],
    ),
    (
        "apt-not-locked",
        "FROM debian:12\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
        "RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt,sharing=private \\\n"
        "    apt-get update && apt-get install -y gcc\n",
        [("CM006", 3)],  # one finding per line per rule (both mounts are on line 3)
    ),
    (
        "non-root-user-root-owned-mount",
        "FROM python:3.12\nRUN useradd -m -u 1000 app\nUSER app\n"
        "RUN --mount=type=cache,target=/home/app/.cache/pip pip install --user flask\n",
        [("CM007", 4)],
    ),
    (
        "non-root-user-wrong-uid",
        "FROM python:3.12\nUSER 1000:1000\n"
        "RUN --mount=type=cache,target=/cache,uid=1001,gid=1001 touch /cache/x\n",
        [("CM007", 3), ("CM001", 3)],
    ),
    (
        "same-id-different-uid",
        "FROM python:3.12\nRUN --mount=type=cache,id=pip,target=/root/.cache/pip pip install -r a.txt\n"
        "RUN --mount=type=cache,id=pip,target=/root/.cache/pip,uid=1000 pip install -r b.txt\n",
        [("CM008", 3)],
    ),
    (
        "default-id-different-mode",
        "FROM busybox AS a\nRUN --mount=type=cache,target=/c,mode=0777 ls /c\n"
        "FROM busybox AS b\nRUN --mount=type=cache,target=/c ls /c\n",
        [("CM008", 4)],
    ),
    (
        "cmd-runs-from-cache-only-path",
        "FROM python:3.12\nRUN --mount=type=cache,target=/opt/tools pip install --target=/opt/tools uwsgi\n"
        'CMD ["/opt/tools/bin/uwsgi", "--ini", "/etc/uwsgi.ini"]\n',
        [("CM001", 2), ("CM002", 3)],
    ),
    (
        "bind-from-stage-reads-cache-only-path",
        "FROM node:20 AS deps\nWORKDIR /app\nRUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/app/node_modules npm ci\n"
        "FROM node:20\nRUN --mount=type=bind,from=deps,source=/app/node_modules,target=/nm cp -r /nm /srv/node_modules\n",
        [("CM001", 3), ("CM002", 5)],
    ),
    (
        "cd-then-npm-ci-into-mounted-node-modules",
        "FROM node:20\nRUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/src/node_modules cd /src && npm ci\n",
        [("CM001", 2)],
    ),
    (
        "sudo-u-other-user-home",
        "FROM python:3.12\nRUN useradd -m -u 1000 app\n"
        "RUN --mount=type=cache,target=/root/.cache/pip,uid=1000 sudo -u app pip install --user flask\n",
        [("CM004", 3)],
    ),
    (
        "poetry-virtualenv-lands-in-the-cache",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pypoetry poetry install --no-root\n",
        [("CM001", 2)],
    ),
    (
        "go-install-into-mounted-gopath",
        "FROM golang:1.22\nENV GOPATH=/go\nRUN --mount=type=cache,target=/go go install golang.org/x/tools/cmd/stringer@latest\n",
        [("CM001", 3)],
    ),
    (
        "tilde-is-not-expanded-in-a-mount-target",
        "FROM node:20\nWORKDIR /app\nRUN --mount=type=cache,id=pnpm,target=~/.pnpm-store pnpm install\n",
        [("CM004", 3)],
    ),
    (
        "install-without-mount-pip",
        "FROM python:3.12\nRUN pip install -r requirements.txt\n",
        [("CM009", 2)],
    ),
    (
        "mount-hides-copied-settings",
        "FROM maven:3\nCOPY settings.xml /root/.m2/settings.xml\nRUN --mount=type=cache,target=/root/.m2 mvn package\n",
        [("CM010", 3)],
    ),
    (
        "mount-hides-touched-file-seed-002",
        "FROM python:3.10\nRUN mkdir /pip-packages && touch /pip-packages/foo\n"
        "RUN --mount=type=cache,target=/pip-packages ls -1 /pip-packages\n",
        [("CM010", 3)],
    ),
    (
        "pnpm-fetch-then-offline-install",
        "FROM node:20\nENV PNPM_HOME=/pnpm\nWORKDIR /app\nCOPY pnpm-lock.yaml .\n"
        "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm fetch\nCOPY . .\n"
        "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --offline\n",
        [("CM011", 7)],
    ),
    (
        "wheels-in-cache-installed-by-later-run-with-same-mount",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip --mount=type=cache,target=/wheels pip wheel -w /wheels flask\n"
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=cache,target=/wheels pip install --no-index -f /wheels flask\n",
        [("CM011", 3)],
    ),
]

GOOD: list[tuple[str, str]] = [
    (
        "seed-002-fix",
        "FROM python:3.10\nRUN --mount=type=cache,target=/root/.cache \\\n    pip install --target=/pip-packages uwsgi\n",
    ),
    (
        "pip-cache-dir",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt\n",
    ),
    (
        "pip-target-copied-out",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip --mount=type=cache,target=/deps pip install -t /deps flask && cp -r /deps/. /app/\n",
    ),
    (
        "wheels-in-cache-installed-in-same-run",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip --mount=type=cache,target=/wheels \\\n"
        "    pip wheel -w /wheels flask && pip install --no-index -f /wheels flask\n",
    ),
    ("npm-cache", "FROM node:20\nWORKDIR /app\nRUN --mount=type=cache,target=/root/.npm npm ci\n"),
    (
        "node-modules-in-cache-used-to-build",
        "FROM node:20\nWORKDIR /app\nRUN --mount=type=cache,target=/root/.npm --mount=type=cache,target=/app/node_modules \\\n"
        "    npm ci && npm run build\n",
    ),
    (
        "yarn1-root-cache",
        "FROM node:20\nRUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install\n",
    ),
    (
        "yarn-cache-folder",
        "FROM node:20\nRUN --mount=type=cache,target=/yarn yarn install --cache-folder /yarn\n",
    ),
    (
        "pnpm-docs-form",
        "FROM node:20\nENV PNPM_HOME=/pnpm\nRUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --frozen-lockfile\n",
    ),
    (
        "go-docs-form",
        "FROM golang:1.22\nWORKDIR /src\n"
        "RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \\\n"
        "    GOPATH=/go go build -o /out/app .\n",
    ),
    (
        "go-image-gopath",
        "FROM golang:1.22\nENV GOPATH=/go\n"
        "RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build -o /app .\n",
    ),
    (
        "cargo-target-copied-out",
        "FROM rust:1\nENV CARGO_HOME=/usr/local/cargo\nWORKDIR /src\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/usr/local/cargo/git \\\n"
        "    --mount=type=cache,target=/src/target \\\n"
        "    cargo build --release && cp target/release/app /usr/local/bin/app\n",
    ),
    (
        "apt-docs-form",
        "FROM debian:12\nRUN rm -f /etc/apt/apt.conf.d/docker-clean; echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n"
        "  --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "  apt update && apt-get --no-install-recommends install -y gcc\n",
    ),
    (
        "apt-rm-in-same-run-before-install",
        "FROM debian:12\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "    rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update && apt-get install -y gcc\n",
    ),
    ("apk-cache", "FROM alpine:3.20\nRUN --mount=type=cache,target=/etc/apk/cache apk add gcc\n"),
    (
        "dnf-keepcache",
        "FROM fedora:40\nRUN --mount=type=cache,target=/var/cache/dnf,sharing=locked dnf install -y --setopt=keepcache=1 gcc\n",
    ),
    (
        "non-root-with-uid",
        "FROM python:3.12\nRUN useradd -m -u 1000 app\nUSER app\n"
        "RUN --mount=type=cache,target=/home/app/.cache/pip,uid=1000 pip install --user flask\n",
    ),
    (
        "non-root-with-world-writable-mode",
        "FROM python:3.12\nRUN useradd -m -u 1000 app\nUSER app\n"
        "RUN --mount=type=cache,target=/home/app/.cache/pip,mode=0777 pip install --user flask\n",
    ),
    (
        "same-id-same-options",
        "FROM python:3.12\nRUN --mount=type=cache,id=pip,target=/root/.cache/pip,uid=1000 pip install -r a.txt\n"
        "RUN --mount=type=cache,id=pip,target=/root/.cache/pip,uid=1000,sharing=locked pip install -r b.txt\n",
    ),
    (
        "maven-repository",
        "FROM maven:3\nCOPY settings.xml /root/.m2/settings.xml\nRUN --mount=type=cache,target=/root/.m2/repository mvn package\n",
    ),
    (
        "gradle",
        "FROM gradle:8\nRUN --mount=type=cache,target=/root/.gradle/caches gradle build --no-daemon\n",
    ),
    (
        "uv",
        "FROM python:3.12\nENV UV_LINK_MODE=copy\nRUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen\n",
    ),
    (
        "poetry-in-project",
        "FROM python:3.12\nENV POETRY_VIRTUALENVS_IN_PROJECT=true\nRUN --mount=type=cache,target=/root/.cache/pypoetry poetry install\n",
    ),
    ("ccache", "FROM gcc:13\nRUN --mount=type=cache,target=/root/.cache/ccache CC='ccache gcc' make\n"),
    (
        "docker-docs-go-env-w",
        "FROM golang:1.21.1-alpine AS base-build\nWORKDIR /build\nRUN go env -w GOMODCACHE=/root/.cache/go-build\n"
        "COPY go.mod go.sum ./\nRUN --mount=type=cache,target=/root/.cache/go-build go mod download\n",
    ),
    (
        "go-env-w-gocache",
        "FROM golang:1.22\nRUN go env -w GOCACHE=/gocache\nRUN --mount=type=cache,target=/gocache go build -o /app .\n",
    ),
    (
        "npm-config-set-cache",
        "FROM node:20\nRUN npm config set cache /npm-cache --global\nRUN --mount=type=cache,target=/npm-cache npm ci\n",
    ),
    (
        "pip-conf-copied",
        "FROM python:3.12\nCOPY pip.conf /etc/pip.conf\nRUN --mount=type=cache,target=/pip-cache pip install flask\n",
    ),
    (
        "buildkit-cache-dance-apt",
        "FROM ubuntu:22.04\nENV DEBIAN_FRONTEND=noninteractive\nRUN \\\n"
        "--mount=type=cache,target=/var/cache/apt,sharing=locked \\\n--mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
        "rm -f /etc/apt/apt.conf.d/docker-clean && \\\n"
        "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' >/etc/apt/apt.conf.d/keep-cache && \\\n"
        "apt-get update && \\\napt-get install -y gcc\n",
    ),
    (
        "docker-docs-go-modules-alpine",
        "FROM golang:1.22-alpine AS base\nWORKDIR /src\nCOPY go.mod go.sum .\n"
        "RUN --mount=type=cache,target=/go/pkg/mod/ \\\n    go mod download -x\nCOPY . .\n"
        "FROM base AS build-client\nRUN --mount=type=cache,target=/go/pkg/mod/ \\\n    go build -o /bin/client ./cmd/client\n"
        'FROM scratch AS client\nCOPY --from=build-client /bin/client /bin/\nENTRYPOINT [ "/bin/client" ]\n',
    ),
    (
        "pnpm-6-store",
        "FROM node:14\nRUN --mount=type=cache,target=/root/.npm npm install -g pnpm@6\nRUN --mount=type=cache,target=/root/.pnpm-store pnpm install\n",
    ),
    (
        "pnpm-store-dir-configured-in-heredoc",
        "FROM node:lts-alpine AS builder\nWORKDIR /app\nCOPY . .\n"
        "RUN --mount=type=cache,target=/app/node_modules --mount=type=cache,target=/app/.pnpm-store <<EOF\n"
        "  npm install -g pnpm\n  pnpm config set store-dir /app/.pnpm-store\n  pnpm install --no-optional\n  pnpm run build\nEOF\n",
    ),
    (
        "node-modules-cache-subdir-for-build",
        "FROM node:20-alpine AS builder\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        "RUN --mount=type=cache,target=/root/.npm npm ci\nCOPY . .\n"
        "RUN --mount=type=cache,target=/app/node_modules/.cache npm run build\n"
        "FROM nginx:alpine\nCOPY --from=builder /app/dist /usr/share/nginx/html\n",
    ),
    ("no-tools-at-all", 'FROM busybox\nRUN echo hello > /hello && ls -l /\nCMD ["cat", "/hello"]\n'),
    (
        "tmpfs-and-secret",
        "FROM busybox\nRUN --mount=type=tmpfs,target=/tmp --mount=type=secret,id=tok cat /run/secrets/tok\n",
    ),
    (
        "copy-from-real-output",
        "FROM python:3.12 AS build\nRUN --mount=type=cache,target=/root/.cache/pip pip install --target=/pip-packages uwsgi\n"
        "FROM python:3.12\nCOPY --from=build /pip-packages /pip-packages\n",
    ),
    (
        "dynamic-words-stay-quiet",
        "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install --target=$(cat /dest) flask\n",
    ),
    (
        "non-posix-shell",
        'FROM mcr.microsoft.com/windows/servercore\nSHELL ["powershell", "-Command"]\n'
        "RUN --mount=type=cache,target=C:/cache pip install --no-cache-dir flask\n",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in BAD])
def test_flagged(text: str, expected: list[tuple[str, int]]) -> None:
    assert codes(text) == expected


@pytest.mark.parametrize("text", [pytest.param(t, id=i) for i, t in GOOD])
def test_fixed_forms_stay_quiet(text: str) -> None:
    assert codes(text) == []


def test_every_rule_has_a_flagged_and_a_quiet_case() -> None:
    flagged = {c for _i, _t, e in BAD for c, _l in e}
    assert flagged == {r.code for r in RULES}
    assert len(GOOD) >= len(RULES)


def test_rule_examples_fire_and_use_instead_is_quiet() -> None:
    """The documentation's own example fires its rule; its "use instead" form fires nothing of it."""
    for rule in RULES:
        prefix = "" if rule.example.startswith("FROM") else "FROM python:3.12\nRUN useradd -m -u 1000 app\n"
        bad = [c for c, _ in codes(prefix + rule.example + "\n")]
        good = [
            c
            for c, _ in codes(
                ("" if rule.use_instead.startswith("FROM") else prefix) + rule.use_instead + "\n"
            )
        ]
        assert rule.code in bad, rule.code
        assert rule.code not in good, rule.code


def test_finding_fields() -> None:
    f = lint_text(BAD[0][1], filename="x/Dockerfile").findings[0]
    assert (f.file, f.line, f.column, f.severity.name) == ("x/Dockerfile", 4, 28, "error")
    assert f.instruction.startswith("RUN --mount=type=cache,target=/pip-packages pip install")
    assert "/root/.cache/pip" in f.fix


def test_target_limits_the_stages() -> None:
    text = "FROM python:3.12 AS a\nRUN pip install x\nFROM python:3.12 AS b\nRUN pip install y\n"
    assert codes(text) == [("CM009", 2), ("CM009", 4)]
    assert codes(text, target="a") == [("CM009", 2)]


def test_build_arg_is_seen_by_the_run() -> None:
    text = "FROM python:3.12\nARG PIP_NO_CACHE_DIR\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\n"
    assert codes(text) == []
    assert codes(text, build_args={"PIP_NO_CACHE_DIR": "1"}) == [("CM003", 3)]


def test_heredoc_run_is_analysed() -> None:
    text = "FROM python:3.12\nRUN --mount=type=cache,target=/deps <<EOF\nset -e\npip install --target /deps flask\nEOF\n"
    assert codes(text) == [("CM001", 1 + 3)]


def test_inline_ignore_comment() -> None:
    text = (
        "FROM python:3.12\n# cacheinspect: ignore=CM009\nRUN pip install a\n"
        "# cacheinspect: ignore=CM001\nRUN pip install b\n"
        "# some comment\n# cacheinspect: ignore\nRUN --mount=type=cache,target=/d pip install --no-cache-dir -t /d c\n"
    )
    assert codes(text) == [("CM009", 5)]


def test_group_writable_mount_for_the_users_group() -> None:
    text = (
        "FROM python:3.12\nUSER 1000:1000\n"
        "RUN --mount=type=cache,target=/cache,gid=1000,mode=0775 touch /cache/x && cp /cache/x /tmp/x\n"
    )
    assert codes(text) == []


@pytest.mark.parametrize(
    ("base", "command", "targets"),
    [
        # each target is the tool's documented default cache directory for root on Linux
        ("python:3.12", "pip install flask", ["/root/.cache/pip"]),
        ("python:3.12", "uv pip install flask", ["/root/.cache/uv"]),
        ("python:3.12", "poetry install --no-root", ["/root/.cache/pypoetry"]),
        ("node:20", "npm ci", ["/root/.npm"]),
        ("node:20", "yarn install --frozen-lockfile", ["/usr/local/share/.cache/yarn"]),
        ("node:20", "pnpm install --frozen-lockfile", ["/root/.local/share/pnpm/store"]),
        # the official images' ENV (cacheinspect.lint.images table): golang GOPATH=/go, rust
        # CARGO_HOME=/usr/local/cargo
        ("golang:1.22", "go build ./...", ["/root/.cache/go-build", "/go/pkg/mod"]),
        ("rust:1", "cargo build --release", ["/usr/local/cargo/registry", "/usr/local/cargo/git"]),
        ("debian:12", "cargo build --release", ["/root/.cargo/registry", "/root/.cargo/git"]),
        ("debian:12", "apt-get update && apt-get install -y gcc", ["/var/cache/apt", "/var/lib/apt"]),
        ("alpine:3.20", "apk add --no-cache gcc", ["/etc/apk/cache"]),
        ("fedora:40", "dnf install -y gcc", ["/var/cache/dnf"]),
        ("maven:3", "mvn -B package", ["/root/.m2/repository"]),
        ("gradle:8", "gradle build --no-daemon", ["/root/.gradle/caches"]),
        ("gcc:13", "ccache gcc -c a.c", ["/root/.cache/ccache"]),
    ],
)
def test_install_without_mount_suggests_the_tools_own_cache(
    base: str, command: str, targets: list[str]
) -> None:
    (finding,) = lint_text(f"FROM {base}\nRUN {command}\n").findings
    assert finding.code == "CM009"
    for target in targets:
        assert f"--mount=type=cache,target={target}" in finding.fix
    if command.startswith("apt"):
        assert "sharing=locked" in finding.fix and "docker-clean" in finding.fix


def test_install_suggestion_for_a_non_root_user_carries_its_home_and_uid() -> None:
    text = "FROM python:3.12\nRUN useradd -m -u 1001 svc\nUSER svc\nRUN pip install --user flask\n"
    (finding,) = lint_text(text).findings
    assert "--mount=type=cache,target=/home/svc/.cache/pip,uid=1001" in finding.fix
