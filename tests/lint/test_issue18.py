"""Issue 18: the rule fixes found on real Dockerfiles, each as the smallest Dockerfile that shows it.

What each tool/BuildKit does is stated next to the case; the real-build proofs are in
``tests/e2e/test_lint_effects.py``, the real-file figures in ``tests/lint/test_corpus.py``.
"""

from __future__ import annotations

from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.images import from_config, lookup, table_config
from cacheinspect.lint.rules import Severity


def codes(text: str, **kw: object) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in lint_text(text, **kw).findings]  # type: ignore[arg-type]


# --- CM004 with base-image knowledge --------------------------------------------------------------


def test_gopath_comes_from_the_golang_image() -> None:
    # the golang image sets GOPATH=/go: GOMODCACHE=$GOPATH/pkg/mod is /go/pkg/mod, the mount is right
    text = (
        "FROM golang:1.25\nENV GOMODCACHE=$GOPATH/pkg/mod\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    assert codes(text) == []
    # the same ENV on an image that does not set GOPATH: GOMODCACHE is /pkg/mod, the mount misses
    assert codes(text.replace("golang:1.25", "debian:12")) == [("CM004", 3)]


def test_a_fetched_image_config_is_used_for_expansion() -> None:
    cfg = from_config({"Env": ["GOPATH=/work", "PATH=/usr/bin"], "WorkingDir": "/src", "User": ""})
    bases = lookup({"corp/go:1": cfg})
    text = "FROM corp/go:1\nENV GOMODCACHE=$GOPATH/pkg/mod\nRUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    assert codes(text, base_config=bases) == [("CM004", 3)]
    assert codes(text.replace("/go/pkg/mod go", "/work/pkg/mod go"), base_config=bases) == []
    # unknown image without a fetched config: GOPATH is unknown, so nothing is claimed, and that is said
    r = lint_text(text)
    assert r.findings == []
    assert any("CM004 not checked for the mount /go/pkg/mod" in n and "$GOPATH" in n for n in r.skipped)


def test_table_only_knows_official_images() -> None:
    assert table_config("golang:1.22-alpine") is not None
    assert table_config("docker.io/library/rust@sha256:" + "0" * 64) is not None
    assert table_config("ghcr.io/acme/golang:1") is None
    assert table_config("mycorp/builder") is None


def test_npm_set_cache_is_npm_config_set() -> None:
    text = "FROM node:21-alpine\nWORKDIR /app\nRUN --mount=type=cache,target=/app/.npm \\\n  npm set cache /app/.npm && npm ci\n"
    assert codes(text) == []


def test_a_placeholder_scratch_arg_is_not_the_real_base() -> None:
    # ARG TOOLCHAIN=scratch / FROM ${TOOLCHAIN}: the build passes a real toolchain image; its CARGO_HOME
    # is unknown, so a mount under /usr/local/cargo is not called wrong
    text = (
        "ARG TOOLCHAIN=scratch\nFROM ${TOOLCHAIN}\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry cargo build --release\n"
    )
    assert codes(text) == []
    # a literal FROM scratch has no ENV at all: CARGO_HOME is ~/.cargo, the mount misses
    assert codes("FROM scratch\n" + text.split("\n", 2)[2]) == [("CM004", 2)]


def test_gocache_mount_one_level_too_deep() -> None:
    # go writes GOCACHE/00…ff directly (cmd/go/internal/cache): a mount at $GOCACHE/go-build is never used
    text = "FROM golang:1.22\nENV GOCACHE=/.cache\nRUN --mount=type=cache,target=/.cache/go-build go build ./...\n"
    assert codes(text) == [("CM004", 3)]
    assert codes(text.replace("target=/.cache/go-build", "target=/.cache")) == []


def test_npm_cache_subdirectory_mount_catches_nothing() -> None:
    # npm keeps its cache in ~/.npm/_cacache: a mount at ~/.npm/cache is never written
    text = "FROM node:16-alpine\nWORKDIR /app\nRUN --mount=type=cache,target=/root/.npm/cache npm ci\n"
    assert codes(text) == [("CM004", 3)]
    assert codes(text.replace("/root/.npm/cache", "/root/.npm/_cacache")) == []


def test_rustup_cargo_home_is_the_users_home() -> None:
    # rustup-init on debian installs into ~/.cargo (no CARGO_HOME in the image): /usr/local/cargo is wrong
    text = (
        "FROM debian:12\nRUN curl -sSf https://sh.rustup.rs | sh -s -- -y\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry /root/.cargo/bin/cargo build --release\n"
    )
    assert codes(text) == [("CM004", 3)]
    assert codes(text.replace("FROM debian:12\n", "FROM debian:12\nENV CARGO_HOME=/usr/local/cargo\n")) == []


def test_cargo_target_dir_moves_the_build_tree() -> None:
    text = (
        "FROM rust:1\nWORKDIR /app\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/app/target \\\n"
        "    cargo build --release --target-dir /app/out\n"
    )
    assert codes(text) == [("CM004", 3)]
    assert codes(text.replace(" --target-dir /app/out", "") + "RUN true\n") == [("CM001", 4)]


def test_pnpm_7_store_is_not_dot_pnpm_store() -> None:
    text = "FROM node:20\nWORKDIR /app\nRUN --mount=type=cache,target=/root/.pnpm-store pnpm install\n"
    assert codes(text) == [("CM004", 3)]
    assert codes(text.replace("/root/.pnpm-store", "/root/.local/share/pnpm/store")) == []


def test_microdnf_caches_in_var_cache_yum() -> None:
    # microdnf dnf-main.c: CACHEDIR "/var/cache/yum", keep_cache FALSE: the mount is right, but empty
    text = "FROM registry.access.redhat.com/ubi8-minimal\nRUN --mount=type=cache,target=/var/cache/yum microdnf install -y gettext\n"
    assert codes(text) == [("CM005", 2)]


# --- CM001: unknown part of a path under a known target ------------------------------------------


def test_copy_out_with_an_unknown_path_part_is_a_copy_out() -> None:
    text = (
        "FROM rust:1\nWORKDIR /src\nARG T\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=./target "
        'cargo build --release && mv "./target/$T/release/app" /app\n'
    )
    assert codes(text) == []
    assert codes(text.replace('"./target/$T/release/app"', '"$T/app"')) == [("CM001", 4)]


# --- CM003 ----------------------------------------------------------------------------------------


def test_conditional_cleanups_are_deliberate() -> None:
    base = "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip "
    assert codes(base + "pip install -r r.txt || pip install --no-cache-dir -r r.txt\n") == []
    assert (
        codes(base + 'pip install flask && if [ "$CI" = true ]; then rm -rf /root/.cache/pip/*; fi\n') == []
    )
    assert codes(base + "pip install flask && rm -rf /root/.cache/pip/*\n") == [("CM003", 2)]


def test_one_finding_per_line_per_rule() -> None:
    text = "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install --no-cache-dir a && pip install --no-cache-dir b\n"
    assert codes(text) == [("CM003", 2)]


def test_rm_of_a_download_kept_in_a_cache_mount() -> None:
    text = (
        "FROM debian:12\nRUN --mount=type=cache,target=/downloads \\\n"
        "    curl -fsSLo /downloads/node.tgz https://example.invalid/node.tgz && tar xzf /downloads/node.tgz -C /opt \\\n"
        "    && rm /downloads/node.tgz\n"
    )
    assert codes(text) == [("CM003", 4)]
    assert codes(text.replace(" \\\n    && rm /downloads/node.tgz", "")) == []


def test_zypper_clean_and_keeppackages() -> None:
    text = "FROM opensuse/leap:15\nRUN --mount=type=cache,target=/var/cache/zypp zypper -n in gcc && zypper clean -a\n"
    assert sorted(codes(text)) == [("CM003", 2), ("CM005", 2)]
    kept = "FROM opensuse/leap:15\nRUN zypper mr --all --keep-packages\nRUN --mount=type=cache,target=/var/cache/zypp zypper -n in gcc\n"
    assert codes(kept) == []


# --- CM005 ----------------------------------------------------------------------------------------


def test_docker_clean_removed_by_the_base_image_history() -> None:
    cfg = from_config({"Env": []}, ["/bin/sh -c rm -f /etc/apt/apt.conf.d/docker-clean"])
    text = "FROM corp/debian\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update && apt-get install -y gcc\n"
    assert codes(text, base_config=lookup({"corp/debian": cfg})) == []
    assert codes(text) == [("CM005", 2)]


def test_docker_clean_after_an_unreadable_script_is_not_claimed() -> None:
    text = (
        "FROM debian:12\nCOPY setup.sh /\nRUN /setup.sh\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update && apt-get install -y gcc\n"
    )
    r = lint_text(text)
    assert [f.code for f in r.findings] == []
    assert any("CM005 not checked" in n and "/setup.sh" in n for n in r.skipped)


def test_apk_keeps_packages_only_with_etc_apk_cache() -> None:
    text = "FROM alpine:3.20\nRUN --mount=type=cache,target=/var/cache/apk apk add gcc\n"
    assert codes(text) == [("CM005", 2)]
    assert codes(text.replace("apk add", "ln -s /var/cache/apk /etc/apk/cache && apk add")) == []


# --- CM006 ----------------------------------------------------------------------------------------


def test_cm006_is_info_for_one_apt_stage_and_a_warning_for_two_parallel_ones() -> None:
    one = "FROM debian:12\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\nRUN --mount=type=cache,target=/var/lib/apt apt-get update\n"
    (f,) = lint_text(one).findings
    assert (f.code, f.severity) == ("CM006", Severity.info)
    two = (
        "FROM debian:12 AS a\nRUN --mount=type=cache,target=/var/lib/apt apt-get update\n"
        "FROM debian:12 AS b\nRUN --mount=type=cache,target=/var/lib/apt apt-get update\n"
        "FROM scratch\nCOPY --from=a /etc/hostname /a\nCOPY --from=b /etc/hostname /b\n"
    )
    assert {(f.code, f.line, f.severity) for f in lint_text(two).findings} == {
        ("CM006", 2, Severity.warning),
        ("CM006", 4, Severity.warning),
    }
    chained = two.replace("FROM debian:12 AS b", "FROM a AS b")  # b builds on a: never at once
    assert {f.severity for f in lint_text(chained).findings} == {Severity.info}


# --- global ARG without default, unknown mount targets ------------------------------------------


def test_valueless_global_arg_lints_the_rest() -> None:
    r = lint_text("ARG BASE\nFROM ${BASE}\nRUN --mount=type=cache,target=/d pip install -t /d flask\n")
    assert [(f.code, f.line) for f in r.findings] == [("CM001", 3)]
    assert len(r.skipped) == 1 and "ARG BASE has no default" in r.skipped[0]


def test_a_mount_target_from_an_unseen_variable_is_not_guessed() -> None:
    # zitadel login-dev-base: FROM login-pnpm (an image we do not know), target=${PNPM_HOME}
    r = lint_text(
        "FROM login-pnpm\nRUN --mount=type=cache,target=${PNPM_HOME} pnpm install --frozen-lockfile\n"
    )
    assert r.findings == []
    assert any("${PNPM_HOME}" in n for n in r.skipped)


# --- CM011 cache mount as state between RUNs ------------------------------------------------------


def test_pnpm_fetch_then_offline_install() -> None:
    text = (
        "FROM node:20\nENV PNPM_HOME=/pnpm\nWORKDIR /app\nCOPY pnpm-lock.yaml .\n"
        "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm fetch\nCOPY . .\n"
        "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --offline\n"
    )
    assert codes(text) == [("CM011", 7)]
    # fetch and offline install in one RUN, or --prefer-offline: nothing depends on an earlier RUN
    one = text.replace(
        "pnpm fetch\nCOPY . .\nRUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm", "pnpm fetch && pnpm"
    )
    assert codes(one) == []
    assert codes(text.replace("--offline", "--prefer-offline")) == []


def test_offline_install_without_the_mount_reads_nothing() -> None:
    text = (
        "FROM node:20\nENV PNPM_HOME=/pnpm\nWORKDIR /app\n"
        "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm fetch\nCOPY . .\n"
        "RUN pnpm install --offline\n"
    )
    assert ("CM011", 6) in codes(text)


def test_build_result_read_from_the_mount_by_a_later_run() -> None:
    # Lunarequest/foxpost Containerfile: cargo build into a target mount, cp out in the next RUN
    text = (
        "FROM rust:1-buster\nWORKDIR /app\nCOPY . /app\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/app/target cargo build --release\n"
        "RUN --mount=type=cache,target=/app/target cp /app/target/release/blog /usr/bin/\n"
    )
    assert codes(text) == [("CM011", 5)]
    fixed = (
        "FROM rust:1-buster\nWORKDIR /app\nCOPY . /app\n"
        "RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/app/target "
        "cargo build --release && cp /app/target/release/blog /usr/bin/\n"
    )
    assert codes(fixed) == []


def test_apt_install_on_package_lists_an_earlier_run_left_in_the_mount() -> None:
    # mastodon/mastodon Dockerfile: `apt-get update` in one stage's RUN with /var/lib/apt cache-mounted,
    # `apt-get install` without an update in a later RUN on the same mount. The lists exist only in the
    # mount (Debian images ship /var/lib/apt/lists empty): on a builder where the first RUN is a cache
    # hit and the mount is empty, apt-get says "Unable to locate package".
    text = (
        "FROM debian:12 AS base\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
        "--mount=type=cache,target=/var/lib/apt,sharing=locked "
        "rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update && apt-get install -y curl\n"
        "FROM base AS build\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
        "--mount=type=cache,target=/var/lib/apt,sharing=locked apt-get install -y gcc\n"
    )
    assert codes(text) == [("CM011", 4)]  # line 4: the RUN with apt-get install alone
    # an update in the same RUN, or lists that are not mounted (they are in the image): no finding
    assert codes(text.replace("apt-get install -y gcc", "apt-get update && apt-get install -y gcc")) == []
    no_lists = text.replace("--mount=type=cache,target=/var/lib/apt,sharing=locked ", "")
    assert codes(no_lists) == []
    # the same mount with another id is another cache: nothing was left in it by this file
    other = text.replace(
        "--mount=type=cache,target=/var/lib/apt,sharing=locked apt-get install",
        "--mount=type=cache,id=other,target=/var/lib/apt,sharing=locked apt-get install",
    )
    assert codes(other) == []


def test_xx_apt_get_updates_the_lists_itself() -> None:
    # moby/moby Dockerfile: `xx-apt-get install` after `apt-get update` in an earlier RUN on the same
    # lists mount. tonistiigi/xx src/xx-apt runs `apt-get update` itself when dpkg does not list the
    # target architecture as foreign (always so for a native build): nothing is read from the mount alone
    text = (
        "FROM debian:12 AS base\n"
        "RUN --mount=type=cache,id=lib,target=/var/lib/apt,sharing=locked apt-get update && apt-get install -y cmake\n"
        "RUN --mount=type=cache,id=lib,target=/var/lib/apt,sharing=locked xx-apt-get install -y gcc\n"
    )
    assert [c for c in codes(text) if c[0] == "CM011"] == []
    assert ("CM011", 3) in codes(text.replace("xx-apt-get", "apt-get"))
