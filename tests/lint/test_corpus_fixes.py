"""Rule fixes found by reading the classified corpus (``tests/lint/corpus``), each as the smallest
Dockerfile that shows it, next to the real file it came from.

Each test fails on the linter as it was before the fix: the false alarm fired, or the miss was quiet.
"""

from __future__ import annotations

from cacheinspect.lint.engine import lint_text


def codes(text: str) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in lint_text(text).findings]


# --- CM001: `cargo auditable install` is `cargo install`, not `cargo build` ------------------------
# kanidm/kanidm tools/Dockerfile: `cargo auditable install --root /out --target-dir=/target` with /target a
# cache mount. cargo install builds in the target dir and copies the binary to <root>/bin (cargo book,
# "cargo install": "--root dir: Directory to install packages into"); the build tree is scratch.


def test_cargo_auditable_install_outside_the_mount_is_not_an_output_in_the_mount() -> None:
    text = (
        "FROM rust:1.80\n"
        "RUN --mount=type=cache,target=/target \\\n"
        "    cargo auditable install --root /out --target-dir=/target fido-mds-tool\n"
        "FROM debian:12\nCOPY --from=0 /out/bin/fido-mds-tool /usr/local/bin/\n"
    )
    assert [c for c in codes(text) if c[0] in ("CM001", "CM002")] == []


def test_cargo_auditable_install_into_the_mount_is_still_flagged() -> None:
    # the same wrapper installing into a mounted --root: the binary is lost (kanidm tools/orca/Dockerfile
    # does this with plain `cargo install` and CARGO_HOME=/cargo mounted)
    text = (
        "FROM rust:1.80\n"
        "RUN --mount=type=cache,target=/out \\\n"
        "    cargo auditable install --root /out fido-mds-tool\n"
    )
    assert ("CM001", 3) in codes(text)


def test_cargo_auditable_build_is_still_a_build() -> None:
    text = "FROM rust:1.80\nWORKDIR /src\nRUN --mount=type=cache,target=/src/target cargo auditable build --release\n"
    assert ("CM001", 3) in codes(text)


# --- CM005: an unreadable script may make zypper/dnf/apk keep packages ---------------------------
# kanidm/kanidm rlm_kanidm/Dockerfile: `RUN /zypper_fixing.sh` (scripts/zypper_fixing.sh runs `zypper mr -k
# repo-oss …`, -k being --keep-packages, zypper(8) modifyrepo), then zypper installs under a
# /var/cache/zypp mount. The linter cannot read the script, as for apt's docker-clean: it says so in a
# note instead of claiming the packages are dropped.


def test_zypper_after_an_unreadable_script_is_not_claimed() -> None:
    text = (
        "FROM opensuse/tumbleweed\nADD zypper_fixing.sh /zypper_fixing.sh\n"
        "RUN --mount=type=cache,target=/var/cache/zypp /zypper_fixing.sh\n"
        "RUN --mount=type=cache,target=/var/cache/zypp zypper install -y gcc\n"
    )
    res = lint_text(text)
    assert [f.code for f in res.findings] == []
    assert any("CM005 not checked" in n and "zypper" in n for n in res.skipped)
    # without the script the same install is flagged (repositories default to keeppackages=0)
    plain = "FROM opensuse/tumbleweed\nRUN --mount=type=cache,target=/var/cache/zypp zypper install -y gcc\n"
    assert codes(plain) == [("CM005", 2)]


def test_dnf_and_apk_after_an_unreadable_script_are_not_claimed() -> None:
    dnf = (
        "FROM fedora:40\nCOPY setup.sh /\nRUN /setup.sh\n"
        "RUN --mount=type=cache,target=/var/cache/dnf dnf install -y gcc\n"
    )
    apk = (
        "FROM alpine:3.20\nCOPY setup.sh /\nRUN sh /setup.sh\n"
        "RUN --mount=type=cache,target=/var/cache/apk apk add gcc\n"
    )
    assert codes(dnf) == []
    assert codes(apk) == []
    assert codes(dnf.replace("RUN /setup.sh\n", "")) == [("CM005", 3)]
    assert codes(apk.replace("RUN sh /setup.sh\n", "")) == [("CM005", 3)]


# --- CM003: uv accepts pip's --no-cache-dir --------------------------------------------------------
# Aphoh/rbeval Dockerfile: `RUN --mount=type=cache,target=/root/.cache/uv uv pip install --system
# --no-cache-dir …` (uv 0.4.10). uv takes --no-cache-dir as a hidden alias of --no-cache
# (astral-sh/uv#1380, "uv-cache: Add hidden alias for --no-cache-dir", Feb 2024): the mount stays empty.


def test_uv_no_cache_dir_under_a_uv_cache_mount() -> None:
    text = (
        "FROM python:3.12\nCOPY --from=ghcr.io/astral-sh/uv:0.4.10 /uv /bin/uv\n"
        "RUN --mount=type=cache,target=/root/.cache/uv uv pip install --system --no-cache-dir flask\n"
    )
    assert codes(text) == [("CM003", 3)]
    assert codes(text.replace(" --no-cache-dir", "")) == []


# --- CM007 only where something writes the mount ---------------------------------------------------
# A root-owned mount matters only when the RUN writes it. node:22-alpine projects mount
# /home/node/.npm-backend under USER node and run `npm ci`: npm writes ~/.npm, never that directory,
# so "writing to it fails with permission denied" cannot happen (the mount is merely useless).


def test_a_mount_nobody_writes_gets_no_owner_warning() -> None:
    text = (
        "FROM node:22-alpine\nWORKDIR /usr/src/app/backend\nUSER node\n"
        "RUN --mount=type=cache,target=/home/node/.npm-backend npm ci\n"
    )
    assert "CM007" not in [c for c, _ in codes(text)]
    # the same mount where npm does write: root-owned 0755, USER node cannot write it
    assert ("CM007", 4) in codes(text.replace(".npm-backend", ".npm"))
    # npm told to use it: written again
    assert ("CM007", 4) in codes(text.replace("npm ci", "npm ci --cache /home/node/.npm-backend"))


def test_an_unknown_program_may_write_the_mount() -> None:
    # a program the linter does not model may write anywhere under HOME: the warning stays
    text = "FROM node:22\nUSER node\nRUN --mount=type=cache,target=/home/node/.cache ./build.sh\n"
    assert ("CM007", 3) in codes(text)


# --- xx-go is go; CM004 instead of CM007 for a mount the tool misses -------------------------------
# tonistiigi/fsutil Dockerfile: USER 1000:1000, `--mount=target=/tmp/.cache,type=cache` and
# `GOCACHE=/tmp/gocache xx-go test …`. xx-go (tonistiigi/xx) runs go with the target's GOOS/GOARCH:
# go writes /tmp/gocache, the mount stays unused (CM004); its owner is then beside the point.


def test_xx_go_is_go_and_a_missed_mount_is_cm004_not_cm007() -> None:
    text = (
        "FROM golang:1.25-alpine\nUSER 1000:1000\n"
        "RUN --mount=target=/tmp/.cache,type=cache \\\n"
        "    CGO_ENABLED=0 GOCACHE=/tmp/gocache xx-go test ./...\n"
    )
    assert codes(text) == [("CM004", 3)]
    fixed = text.replace("GOCACHE=/tmp/gocache", "GOCACHE=/tmp/.cache")
    # go now writes the root-owned mount as uid 1000: the owner matters
    assert codes(fixed) == [("CM007", 3)]
    assert codes(fixed.replace("type=cache", "type=cache,uid=1000")) == []


# --- CM006: concurrency is per RUN, not per stage --------------------------------------------------
# BuildKit solves the LLB graph: a RUN waits only for its own state's inputs. The common two-stage
# file (build stage runs apt; the final stage runs apt first and COPY --from=build afterwards) runs
# both apt steps at once (the final stage's RUN does not depend on the build stage), so two unlocked
# apt caches collide inside one build. Before, any COPY --from anywhere in the stage made it "depend"
# on the other stage and CM006 stayed info.

_TWO_APT = (
    "FROM debian:12 AS build\n"
    "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
    "RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt \\\n"
    "    apt-get update && apt-get install -y gcc\n"
    "RUN echo built > /out\n"
    "FROM debian:12\n"
    "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
    "RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt \\\n"
    "    apt-get update && apt-get install -y curl\n"
    "COPY --from=build /out /out\n"
)


def _cm006(text: str) -> list[tuple[int, str]]:
    return [(f.line, str(f.severity)) for f in lint_text(text).findings if f.code == "CM006"]


def test_apt_before_a_copy_from_runs_in_parallel_with_that_stage() -> None:
    assert _cm006(_TWO_APT) == [(3, "warning"), (8, "warning")]


def test_apt_after_a_copy_from_waits_for_that_stage() -> None:
    # the COPY --from before the apt RUN: the final RUN needs the whole build stage first
    text = _TWO_APT.replace("COPY --from=build /out /out\n", "").replace(
        "FROM debian:12\n", "FROM debian:12\nCOPY --from=build /out /out\n"
    )
    assert _cm006(text) == [(3, "info"), (9, "info")]
    # a stage built on the other one: sequential too
    assert _cm006(_TWO_APT.replace("FROM debian:12\n", "FROM build\n")) == [(3, "info"), (8, "info")]
    # locked: nothing to say
    assert (
        _cm006(
            _TWO_APT.replace("/var/cache/apt ", "/var/cache/apt,sharing=locked ").replace(
                "/var/lib/apt ", "/var/lib/apt,sharing=locked "
            )
        )
        == []
    )


def test_per_run_concurrency_on_an_image_the_linter_knows_nothing_about() -> None:
    # FROM busybox (no base-image row): the same verdict as FROM debian
    text = _TWO_APT.replace("debian:12", "busybox")
    assert [s for _l, s in _cm006(text)] == ["warning", "warning"]
