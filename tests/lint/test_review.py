"""Regressions from the adversarial review (11/2026): false positives found by linting ~450 real
Dockerfiles (docker-library, moby, buildkit, buildx, docker/cli, compose, jupyter, uv, …), crashes on
generated input, and the SARIF locations GitHub code scanning needs.

Each Dockerfile here is the real project's shape, reduced; what BuildKit/sh do with it is stated in
the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.errors import CacheInspectError
from cacheinspect.lint.engine import LintReport, lint_text
from cacheinspect.lint.render import sarif_document


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", "lint", *args], capture_output=True, timeout=60, check=False
    )


def codes(text: str) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in lint_text(text).findings]


# --- false positives ---------------------------------------------------------------------------------


def test_rm_of_some_files_in_a_cache_mount_does_not_empty_it() -> None:
    # moby/moby Dockerfile (dockercli stage): rm -f ./.git/*.lock removes stale lock files only;
    # the glob does not match the objects, so the git cache survives
    text = (
        "FROM golang:1.22\nWORKDIR /go/src/cli\n"
        "RUN --mount=type=cache,id=git,sharing=locked,target=./.git \\\n"
        "    rm -f ./.git/*.lock && git fetch origin\n"
    )
    assert [c for c, _ in codes(text)] == []


def test_rm_of_every_file_in_a_cache_mount_still_empties_it() -> None:
    text = "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask && rm -rf /root/.cache/pip/*\n"
    assert codes(text) == [("CM003", 2)]


def test_rm_of_apt_packages_by_pattern_still_empties_the_apt_cache() -> None:
    # the .deb files are the cache: archives/*.deb is apt-get clean by hand
    text = (
        "FROM debian:bookworm\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update && "
        "apt-get install -y gcc && rm -f /var/cache/apt/archives/*.deb\n"
    )
    assert ("CM003", 3) in codes(text)


def test_rm_of_other_files_next_to_a_cache_mount_is_quiet() -> None:
    text = "FROM python:3.12\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask && rm -rf /root/.cache/*.tmp\n"
    assert codes(text) == []


def test_cp_of_a_glob_reads_that_directory_not_the_root() -> None:
    # docker/build-push-action dev.Dockerfile: cp -rf /vendor/* . reads /vendor; it used to be read as
    # "/", which covers the lost node_modules cache mount of the base stage (a CM002 on a correct file)
    text = (
        "FROM node:20 AS deps\nWORKDIR /src\n"
        "RUN --mount=type=bind,target=.,rw --mount=type=cache,target=/src/node_modules \\\n"
        "    yarn install --immutable && mkdir /vendor && cp yarn.lock /vendor\n"
        "FROM deps AS validate\n"
        "RUN --mount=type=bind,target=.,rw cp -rf /vendor/* . && git status --porcelain\n"
        "FROM deps AS build\n"
        "RUN --mount=type=cache,target=/src/node_modules yarn run build\n"
    )
    # no CM002 from the glob; the build stage reading the deps stage's mounted node_modules is CM011
    assert [c for c, _ in codes(text) if c != "CM009"] == ["CM011"]


def test_a_later_run_that_builds_with_the_mounted_node_modules_reads_cache_state() -> None:
    # the install into a node_modules cache mount is used by a later RUN that mounts the same cache
    # and runs the build (docker/build-push-action dev.Dockerfile): the output is used, so no CM001,
    # but only through the mount — when the install step is a cache hit (imported cache on a fresh
    # builder) the build RUN finds no node_modules: CM011 (issue 18)
    text = (
        "FROM node:20\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
        "RUN --mount=type=cache,target=/app/node_modules yarn install --immutable\n"
        "COPY . .\nRUN --mount=type=cache,target=/app/node_modules yarn run build\n"
    )
    assert codes(text) == [("CM011", 6)]
    assert codes(text.replace("yarn run build", "echo built")) == [("CM001", 4)]


def test_a_read_from_the_lost_directory_by_glob_is_still_found() -> None:
    text = (
        "FROM node:20 AS deps\nWORKDIR /app\n"
        "RUN --mount=type=cache,target=/app/node_modules npm ci\n"
        "FROM deps\nRUN cp -r /app/node_modules/* /srv/\n"
    )
    assert ("CM002", 5) in codes(text)


def test_an_arg_after_an_env_of_the_same_name_is_what_run_sees() -> None:
    # convert.go dispatchArg: an ARG with a value is AddEnv'd onto the state, replacing the ENV
    text = (
        "FROM python:3.12\nENV PIP_CACHE_DIR=/root/.cache/pip\nARG PIP_CACHE_DIR=/tmp/pc\n"
        "RUN --mount=type=cache,target=/root/.cache/pip pip install flask\n"
    )
    assert codes(text) == [("CM004", 4)]
    text_env_last = (
        "FROM python:3.12\nARG PIP_CACHE_DIR=/tmp/pc\nENV PIP_CACHE_DIR=/root/.cache/pip\n"
        "RUN --mount=type=cache,target=/root/.cache/pip pip install flask\n"
    )
    assert codes(text_env_last) == []


def test_sccache_is_not_ccache_and_mkdir_is_not_a_compile() -> None:
    # huggingface/text-generation-inference Dockerfile_trtllm: CMAKE_*_COMPILER_LAUNCHER=sccache
    # (Mozilla's sccache, another tool and cache) was read as ccache, and reported on `mkdir`
    text = (
        "FROM nvidia/cuda:12.4.0-devel-ubuntu22.04\n"
        "RUN export CMAKE_C_COMPILER_LAUNCHER=sccache && mkdir /opt/x && make -j8\n"
    )
    assert codes(text) == []
    ccache = "FROM gcc:13\nENV CC=/usr/lib/ccache/gcc\nRUN mkdir /opt/x && make -j8\n"
    found = lint_text(ccache).findings
    assert [(f.code, f.line) for f in found] == [("CM009", 3)]
    assert found[0].message.startswith("ccache make ")


def test_jupyter_workdir_from_image_home_lints() -> None:
    text = 'FROM quay.io/jupyter/base-notebook\nUSER ${NB_UID}\nWORKDIR "${HOME}"\nRUN pip install flask\n'
    assert [c for c, _ in codes(text)] == ["CM009"]


# --- crashes on generated input ----------------------------------------------------------------------


def test_deeply_nested_shell_expansion_is_read_as_unknown() -> None:
    text = "FROM python:3.12\nRUN echo " + "${a:-" * 5000 + "x" + "}" * 5000 + "\n"
    assert codes(text) == []


def test_utf16_dockerfile_gets_a_clear_error() -> None:
    data = "FROM busybox\nRUN true\n".encode("utf-16")  # with BOM, as PowerShell's > writes it
    with pytest.raises(CacheInspectError, match="UTF-16") as e:
        lint_text(data)
    assert e.value.exit_code == 2


# --- CLI ---------------------------------------------------------------------------------------------


def test_from_with_a_valueless_global_arg_lints_the_rest_and_says_what_was_skipped(tmp_path: Path) -> None:
    # containerd integration/images: ARG BASE / FROM $BASE — BuildKit fails without --build-arg, but
    # what does not depend on the base image can still be linted (issue 18); the skip is reported
    f = tmp_path / "Dockerfile"
    f.write_text("ARG BASE\nFROM $BASE\nRUN --mount=type=cache,target=/d pip install -t /d flask\n")
    p = _run(str(f), "--fail-on", "never")
    assert p.returncode == 0
    assert "CM001" in p.stdout.decode()
    note = p.stderr.decode()
    assert note.startswith(f"note: {f}: the global ARG BASE has no default")
    assert "--build-arg BASE=" in note
    assert _run(str(f), "--build-arg", "BASE=busybox", "--fail-on", "never").stderr == b""


# --- SARIF locations ---------------------------------------------------------------------------------


def _sarif_uri(path: str, root: str | None) -> dict[str, str]:
    report = LintReport([lint_text("FROM python:3.12\nRUN pip install x\n", filename=path)])
    loc = sarif_document(report, root=root)["runs"][0]["results"][0]["locations"][0]
    result: dict[str, str] = loc["physicalLocation"]["artifactLocation"]
    return result


def test_sarif_absolute_path_under_the_working_directory_is_relative() -> None:
    assert _sarif_uri("/work/repo/docker/Dockerfile", "/work/repo") == {
        "uri": "docker/Dockerfile",
        "uriBaseId": "%SRCROOT%",
    }


def test_sarif_path_outside_the_working_directory_is_an_absolute_file_uri() -> None:
    # SARIF 2.1.0 §3.4.4: uriBaseId only with a relative reference; "/etc/x" + %SRCROOT% is not one
    assert _sarif_uri("/other/Dockerfile", "/work/repo") == {"uri": "file:///other/Dockerfile"}
    assert _sarif_uri("../up/Dockerfile", "/work/repo") == {"uri": "file:///work/up/Dockerfile"}
    assert _sarif_uri("/a b/Dockerfile", None) == {"uri": "file:///a%20b/Dockerfile"}


def test_sarif_relative_path_keeps_its_base() -> None:
    assert _sarif_uri("./sub/Dockerfile", "/work/repo") == {"uri": "sub/Dockerfile", "uriBaseId": "%SRCROOT%"}
    assert json.loads(json.dumps(_sarif_uri("Dockerfile", None))) == {
        "uri": "Dockerfile",
        "uriBaseId": "%SRCROOT%",
    }
