"""`context check` against real BuildKit: predict on host B, build on host B, compare every step.

Each scenario plays the whole story on the live test bed: host A builds a context and exports its cache
(registry ``mode=max``, or an image with inline cache), a copy of the context is changed the way a second
host's checkout differs (a mode, an xattr, CRLF, a umask, a file more or less, ...), ``cacheinspect
context check`` predicts every step from A's cache, then host B (after a prune: a fresh host) builds the
changed copy with ``--cache-from`` and its ``--progress=plain`` log is the ground truth: ``CACHED``/
``LOADED`` is a hit, ``RAN`` a miss (``tests/e2e/conftest.py`` ``parse_steps``). The prediction must equal
the log for every step; ``FROM`` lines are compared through their verdict only, because BuildKit prints
a base image as resolved (``DONE``) whether or not the steps on it hit.

Host A's build is shared by the scenarios of one group (one build per Dockerfile), so the whole module
costs about one BuildKit build per scenario. The expected first miss of each scenario is written in the
table from what the change does to BuildKit's inputs (not from the tool's output), and the log has to
agree with it too, so a scenario that stopped testing anything would fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.e2e.conftest import ROOT, Testbed, parse_steps

pytestmark = pytest.mark.e2e

Export = Literal["max", "min", "inline", "image-manifest", "local"]


# ------------------------------------------------------------------------------------------ contexts
@dataclass(frozen=True)
class Group:
    """One host-A build: a Dockerfile, its context and how the cache is exported."""

    name: str
    dockerfile: str
    files: Mapping[str, str | bytes]
    export: Export = "max"
    symlinks: Mapping[str, str] = field(default_factory=dict)
    tars: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)


def _tar(path: Path, members: Mapping[str, bytes]) -> None:
    """A reproducible tarball (fixed mtime/owner) so host A and an unchanged host B send the same bytes."""
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            import io

            tf.addfile(info, io.BytesIO(data))


def materialise(group: Group, dest: Path) -> Path:
    """Write a group's context with normalised modes (files 0644, dirs 0755), like a umask-022 checkout."""
    dest.mkdir(parents=True)
    (dest / "Dockerfile").write_text(group.dockerfile)
    for rel, content in group.files.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    for rel, members in group.tars.items():
        _tar(dest / rel, members)
    for rel, target in group.symlinks.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target)
    for p in [dest, *dest.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


BUSY = "ARG BASE\nFROM ${BASE}\n"

G_CONF = Group(
    name="conf",
    dockerfile=BUSY
    + "COPY app.conf /etc/app.conf\n"
    + "RUN cat /etc/app.conf > /etc/app.effective\n"
    + "COPY data/ /data/\n"
    + "RUN ls -l /data > /data.list\n",
    files={
        "app.conf": "listen = 8080\nlog = info\n",
        "data/one.txt": "one\n",
        "data/two.txt": "two\n",
        "data/sub/three.txt": "three\n",
    },
    symlinks={"data/current": "one.txt"},
)

G_MISC = Group(
    name="misc",
    dockerfile=BUSY
    + "COPY <<EOF /heredoc.txt\nhello from a heredoc\nEOF\n"
    + "COPY conf/*.ini /conf/\n"
    + "COPY a.txt b.txt /multi/\n"
    + "COPY --chmod=600 --link tool.sh /bin/tool.sh\n"
    + "ADD bundle.tar /bundle/\n"
    + "ARG SRC=a.txt\n"
    + "COPY ${SRC} /arg.txt\n"
    + "RUN ls -lR /conf /multi /bundle > /list\n",
    files={
        "conf/x.ini": "x = 1\n",
        "conf/y.ini": "y = 2\n",
        "conf/readme.txt": "not copied\n",
        "a.txt": "A\n",
        "b.txt": "B\n",
        "tool.sh": "#!/bin/sh\necho tool\n",
    },
    tars={"bundle.tar": {"inside.txt": b"inside the tarball\n"}},
)

G_IGNORE = Group(
    name="ignore",
    dockerfile=BUSY + "COPY . /src\nRUN find /src | sort > /src.list\n",
    files={
        ".dockerignore": "**/*.log\n!src/keep.log\nbuild/\n.dockerignore\nDockerfile\n",
        "src/app.py": "print('hi')\n",
        "src/debug.log": "noise\n",
        "src/keep.log": "kept on purpose\n",
        "src/deep/er/trace.log": "noise\n",
        "build/out.bin": "binary\n",
    },
)

G_INLINE = Group(
    name="inline",
    dockerfile=BUSY + "RUN echo foo > /foo\nCOPY bar bar\nRUN echo baz > /baz\n",
    files={"bar": "bar\n"},
    export="inline",
)

G_STAGES = Group(
    name="stages",
    dockerfile="ARG BASE\nFROM ${BASE} AS builder\n"
    + "COPY src/ /src/\n"
    + "RUN cat /src/x.txt /src/y.txt > /out.txt\n"
    + "FROM ${BASE}\n"
    + "COPY app.conf /etc/app.conf\n"
    + "COPY --from=builder /out.txt /out.txt\n"
    + "RUN cat /out.txt /etc/app.conf > /all\n",
    files={"src/x.txt": "x\n", "src/y.txt": "y\n", "app.conf": "a = 1\n"},
)

G_MOUNTS = Group(
    name="mounts",
    dockerfile=BUSY
    + "COPY req.txt /req.txt\n"
    + "RUN --mount=type=bind,source=req.txt,target=/r.txt cat /r.txt > /out\n"
    + "RUN --mount=type=bind,source=dir,target=/d --mount=type=cache,target=/cache ls /d > /out2\n"
    + "RUN --mount=type=bind,target=/ctx ls /ctx > /out3\n",
    files={"req.txt": "req\n", "dir/a": "a\n", "other.txt": "only the last mount reads this\n"},
)

G_STAGES_MIN = Group(
    name="stages-min",
    dockerfile=G_STAGES.dockerfile,
    files=G_STAGES.files,
    export="min",
)

G_CONF_MANIFEST = Group(
    name="conf-image-manifest",
    dockerfile=G_CONF.dockerfile,
    files=G_CONF.files,
    symlinks=G_CONF.symlinks,
    export="image-manifest",
)
G_CONF_LOCAL = Group(
    name="conf-local",
    dockerfile=G_CONF.dockerfile,
    files=G_CONF.files,
    symlinks=G_CONF.symlinks,
    export="local",
)

# issue 16: every field of a step's own definition, one per scenario (the step keys decide these)
G_DEFS = Group(
    name="defs",
    dockerfile=BUSY
    + "ARG VERSION=1.1\n"
    + "ENV MODE=prod\n"
    + "WORKDIR /app\n"
    + "COPY app.conf conf/\n"
    + "USER 1000:1000\n"
    + 'RUN echo "v=$VERSION mode=$MODE" > /tmp/v\n'
    + "USER root\n"
    + 'SHELL ["/bin/sh", "-c"]\n'
    + 'RUN ["/bin/sh", "-c", "echo exec > /exec"]\n'
    + "RUN --mount=type=cache,target=/cache,sharing=shared echo cached > /m\n"
    + "COPY --chmod=644 --chown=1000:1000 tool.sh /usr/local/bin/\n"
    + "COPY --link data/ /data/\n"
    + "COPY <<EOF /hello.txt\nhello\nEOF\n"
    + "RUN echo done > /done\n",
    files={
        "app.conf": "a = 1\n",
        "tool.sh": "#!/bin/sh\necho tool\n",
        "data/x.txt": "x\n",
        "data/y.txt": "y\n",
    },
)
# COPY --exclude is in the built-in frontend from BuildKit v0.18 on (labs before)
G_EXCLUDE = Group(
    name="exclude",
    dockerfile=BUSY + "COPY --exclude=*.tmp stuff/ /stuff/\nRUN ls /stuff > /list\n",
    files={"stuff/a.txt": "a\n", "stuff/b.tmp": "tmp\n"},
)
# issue 15: COPY through a symlinked directory; a named build context
G_LINKDIR = Group(
    name="linkdir",
    dockerfile=BUSY + "COPY cfg/app.conf /etc/app.conf\nRUN cat /etc/app.conf > /x\n",
    files={"real/app.conf": "listen = 1\n"},
    symlinks={"cfg": "real"},
)

GROUPS = {g.name: g for g in (G_CONF_MANIFEST, G_CONF_LOCAL, G_DEFS, G_EXCLUDE, G_LINKDIR)} | {
    g.name: g for g in (G_CONF, G_MISC, G_IGNORE, G_INLINE, G_STAGES, G_STAGES_MIN, G_MOUNTS)
}


# ------------------------------------------------------------------------------------------ mutations
def chmod(rel: str, mode: int) -> Callable[[Path], None]:
    return lambda ctx: (ctx / rel).chmod(mode)


def setxattr(rel: str, name: str, value: bytes) -> Callable[[Path], None]:
    return lambda ctx: os.setxattr(ctx / rel, name, value, follow_symlinks=False)


def write(rel: str, content: str | bytes) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        p = ctx / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        mode = p.stat().st_mode & 0o7777 if p.exists() else 0o644
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        p.chmod(mode)

    return go


def crlf(rel: str) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        p = ctx / rel
        p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))

    return go


def umask_002(ctx: Path) -> None:
    """A checkout made with umask 0002: every file 0664, every directory 0775."""
    for p in [ctx, *ctx.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o775 if p.is_dir() else 0o664)


def remove(rel: str) -> Callable[[Path], None]:
    return lambda ctx: (ctx / rel).unlink()


def retarget(rel: str, target: str) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        (ctx / rel).unlink()
        (ctx / rel).symlink_to(target)

    return go


def touch_and_chown(ctx: Path) -> None:
    """What BuildKit does not hash for a local context: mtimes and owners (the client zeroes uid/gid)."""
    for p in [ctx, *ctx.rglob("*")]:
        os.utime(p, (1_600_000_000, 1_600_000_000), follow_symlinks=False)
        os.lchown(p, 1000, 1000)


def retar(rel: str, members: Mapping[str, bytes]) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        _tar(ctx / rel, members)
        (ctx / rel).chmod(0o644)

    return go


def edit_dockerfile(old: str, new: str) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        p = ctx / "Dockerfile"
        text = p.read_text()
        assert old in text
        p.write_text(text.replace(old, new))

    return go


def both(*fs: Callable[[Path], None]) -> Callable[[Path], None]:
    def go(ctx: Path) -> None:
        for f in fs:
            f(ctx)

    return go


def nothing(ctx: Path) -> None:
    pass


# ------------------------------------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class Scenario:
    """A change on host B and what BuildKit must do about it.

    ``first_miss`` is the instruction (text after the step counter in the log) expected to be the first
    RAN step, or None when everything must hit. ``explained`` lists (path, field) pairs the check must
    name without a fingerprint (single-change search), where one change reproduces A's checksum.
    """

    id: str
    group: str
    mutate: Callable[[Path], None]
    first_miss: str | None
    explained: tuple[tuple[str, str], ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    base: str = "TESTBED_BASE_IMAGE"
    cause_contains: str = ""
    #: instructions the check must call `unknown` (BuildKit decides them by content while building)
    unknown: tuple[str, ...] = ()
    #: the engines the scenario means something on (the test says why it skips on another)
    engines: tuple[str, ...] = ("v0.13", "v0.25")


#: (scenario, [(line, instruction, predicted, log text, observed)]) of the run, printed at the end (-s).
RESULTS: list[tuple[str, list[tuple[int, str, str, str, str]]]] = []

D = "defs"
RUN_V = 'RUN echo "v=$VERSION mode=$MODE" > /tmp/v'
LOG_V = 'RUN echo "v=1.1 mode=prod" > /tmp/v'  # how BuildKit's log prints it (variables expanded)
RUN_MOUNT = "RUN --mount=type=cache,target=/cache,sharing=shared echo cached > /m"
DEF_SCENARIOS = [
    Scenario("defs-unchanged", D, nothing, None),
    Scenario(
        "defs-arg-value",
        D,
        nothing,
        LOG_V.replace("1.1", "1.2"),
        build_args={"VERSION": "1.2"},
        cause_contains="VERSION",
    ),
    Scenario(
        "defs-arg-added-unused",
        D,
        edit_dockerfile("ARG VERSION=1.1\n", "ARG VERSION=1.1\nARG UNUSED=x\n"),
        LOG_V,
        cause_contains="definition differs",
    ),
    Scenario("defs-env", D, edit_dockerfile("ENV MODE=prod", "ENV MODE=dev"), LOG_V.replace("prod", "dev")),
    Scenario("defs-workdir", D, edit_dockerfile("WORKDIR /app", "WORKDIR /srv"), "WORKDIR /srv"),
    Scenario("defs-user", D, edit_dockerfile("USER 1000:1000", "USER 1001:1001"), LOG_V),
    Scenario(
        "defs-shell",
        D,
        edit_dockerfile('SHELL ["/bin/sh", "-c"]', 'SHELL ["/bin/sh", "-ec"]'),
        RUN_MOUNT,  # the exec-form RUN right after SHELL does not use it
    ),
    Scenario("defs-run-text", D, edit_dockerfile("echo done", "echo finished"), "RUN echo finished > /done"),
    # the shell form with SHELL ["/bin/sh", "-c"] is the same argv as this exec form: the same key
    Scenario(
        "defs-exec-to-same-shell-form",
        D,
        edit_dockerfile('RUN ["/bin/sh", "-c", "echo exec > /exec"]', "RUN echo exec > /exec"),
        None,
    ),
    Scenario(
        "defs-exec-argv",
        D,
        edit_dockerfile(
            'RUN ["/bin/sh", "-c", "echo exec > /exec"]', 'RUN ["sh", "-c", "echo exec > /exec"]'
        ),
        'RUN ["sh", "-c", "echo exec > /exec"]',
    ),
    Scenario(
        "defs-run-network-none",
        D,
        edit_dockerfile("RUN echo done", "RUN --network=none echo done"),
        "RUN --network=none echo done > /done",
    ),
    Scenario(
        "defs-mount-sharing",
        D,
        edit_dockerfile("sharing=shared", "sharing=locked"),
        "RUN --mount=type=cache,target=/cache,sharing=locked echo cached > /m",
    ),
    Scenario("defs-copy-dest", D, edit_dockerfile("conf/", "config/"), "COPY app.conf config/"),
    Scenario(
        "defs-chmod",
        D,
        edit_dockerfile("--chmod=644", "--chmod=755"),
        "COPY --chmod=755 --chown=1000:1000 tool.sh /usr/local/bin/",
    ),
    Scenario(
        "defs-chown",
        D,
        edit_dockerfile("--chown=1000:1000", "--chown=1001:1001"),
        "COPY --chmod=644 --chown=1001:1001 tool.sh /usr/local/bin/",
    ),
    Scenario("defs-link-dropped", D, edit_dockerfile("COPY --link data/", "COPY data/"), "COPY data/ /data/"),
    Scenario("defs-heredoc-text", D, edit_dockerfile("hello\nEOF", "bye\nEOF"), "COPY <<EOF /hello.txt"),
    # issue 15: COPY --link mid-file. The step before it changed: its copy is still taken from the cache
    # (only the merge re-runs, BuildKit prints DONE after extracting); its own source changed: a miss
    Scenario(
        "defs-link-previous-changed",
        D,
        write("tool.sh", "#!/bin/sh\necho tool 2\n"),
        "COPY --chmod=644 --chown=1000:1000 tool.sh /usr/local/bin/",
    ),
    Scenario("defs-link-source-changed", D, write("data/y.txt", "Y\n"), "COPY --link data/ /data/"),
    # a base image that differs only in Env: same layers (FROM hits by ChainID), every RUN misses
    Scenario("defs-base-env", D, nothing, LOG_V, base="BASE_ENV_VARIANT"),
    Scenario("exclude-unchanged", "exclude", nothing, None, engines=("v0.25",)),
    Scenario(
        "exclude-excluded-edited", "exclude", write("stuff/b.tmp", "changed\n"), None, engines=("v0.25",)
    ),
    Scenario(
        "exclude-pattern-changed",
        "exclude",
        edit_dockerfile("--exclude=*.tmp", "--exclude=*.txt"),
        "COPY --exclude=*.txt stuff/ /stuff/",
        engines=("v0.25",),
    ),
    Scenario("linkdir-unchanged", "linkdir", nothing, None),
    Scenario(
        "linkdir-file-changed",
        "linkdir",
        chmod("real/app.conf", 0o600),
        "COPY cfg/app.conf /etc/app.conf",
    ),
]

SCENARIOS = [
    Scenario(
        "chmod-600", "conf", chmod("app.conf", 0o600), "COPY app.conf /etc/app.conf", (("/app.conf", "mode"),)
    ),
    Scenario(
        "setuid", "conf", chmod("app.conf", 0o4644), "COPY app.conf /etc/app.conf", (("/app.conf", "mode"),)
    ),
    Scenario(
        "xattr-user",
        "conf",
        setxattr("app.conf", "user.origin", b"host-b"),
        "COPY app.conf /etc/app.conf",
        (("/app.conf", "xattr user.origin"),),
    ),
    Scenario(
        "content-edit",
        "conf",
        write("app.conf", "listen = 9090\nlog = info\n"),
        "COPY app.conf /etc/app.conf",
    ),
    Scenario("crlf", "conf", crlf("app.conf"), "COPY app.conf /etc/app.conf", (("/app.conf", "content"),)),
    Scenario(
        "umask-664-tree",
        "conf",
        umask_002,
        "COPY app.conf /etc/app.conf",
        (("/app.conf", "mode"), ("/data", "mode")),
    ),
    Scenario(
        "dir-file-added",
        "conf",
        write("data/four.txt", "four\n"),
        "COPY data/ /data/",
        (("/data/four.txt", "exists"),),
    ),
    Scenario("dir-file-removed", "conf", remove("data/two.txt"), "COPY data/ /data/"),
    Scenario("symlink-retargeted", "conf", retarget("data/current", "two.txt"), "COPY data/ /data/"),
    Scenario(
        "two-files-changed",
        "conf",
        both(write("data/one.txt", "ONE\n"), write("data/sub/three.txt", "THREE\n")),
        "COPY data/ /data/",
        cause_contains="publish a fingerprint on host A",
    ),
    Scenario("base-image-moved", "conf", nothing, "COPY app.conf /etc/app.conf", base="TESTBED_BASE_IMAGE2"),
    Scenario(
        "wildcard-match-added",
        "misc",
        write("conf/z.ini", "z = 3\n"),
        "COPY conf/*.ini /conf/",
        (("/conf/z.ini", "exists"),),
    ),
    Scenario("wildcard-nonmatch-edited", "misc", write("conf/readme.txt", "still not copied\n"), None),
    Scenario(
        "multi-source-chmod", "misc", chmod("b.txt", 0o600), "COPY a.txt b.txt /multi/", (("/b.txt", "mode"),)
    ),
    Scenario(
        "heredoc-edited",
        "misc",
        edit_dockerfile("hello from a heredoc", "hello from host B"),
        "COPY <<EOF /heredoc.txt",
    ),
    Scenario(
        "add-local-tar",
        "misc",
        retar("bundle.tar", {"inside.txt": b"changed inside the tarball\n"}),
        "ADD bundle.tar /bundle/",
    ),
    Scenario("chmod-link-owner-mtime", "misc", touch_and_chown, None),
    # --chmod sets the mode in the image, but the source's own mode is still hashed: a miss
    Scenario(
        "chmod-flag-source-mode",
        "misc",
        chmod("tool.sh", 0o755),
        "COPY --chmod=600 --link tool.sh /bin/tool.sh",
        (("/tool.sh", "mode"),),
    ),
    Scenario("build-arg-source", "misc", nothing, "COPY b.txt /arg.txt", build_args={"SRC": "b.txt"}),
    Scenario(
        "dockerignore-exception-dropped",
        "ignore",
        write(".dockerignore", "**/*.log\nbuild/\n.dockerignore\nDockerfile\n"),
        "COPY . /src",
        (("/src/keep.log", "exists"),),
    ),
    Scenario(
        "dockerignored-files-added",
        "ignore",
        both(write("src/new.log", "more noise\n"), write("build/new.bin", "x\n")),
        None,
    ),
    Scenario(
        # the .log is left out, but the directories holding it are not: BuildKit sends them (empty)
        "dockerignored-file-in-new-dir",
        "ignore",
        write("src/a/b/c.log", "deep\n"),
        "COPY . /src",
        (("/src/a", "exists"),),
    ),
    Scenario("inline-chmod", "inline", chmod("bar", 0o600), "COPY bar bar", (("/bar", "mode"),)),
    Scenario("inline-unchanged", "inline", nothing, None),
    Scenario("stages-final-stage-changed", "stages", chmod("app.conf", 0o600), "COPY app.conf /etc/app.conf"),
    # RUN --mount=type=bind of the context: a content key over the mounted paths
    Scenario("mount-unchanged", "mounts", nothing, None),
    Scenario(
        "mount-dir-changed",
        "mounts",
        chmod("dir/a", 0o600),
        "RUN --mount=type=bind,source=dir,target=/d --mount=type=cache,target=/cache ls /d > /out2",
    ),
    Scenario(
        "mount-whole-context-changed",
        "mounts",
        write("other.txt", "changed\n"),
        "RUN --mount=type=bind,target=/ctx ls /ctx > /out3",
    ),
    # the other cache shapes: an image-manifest=true registry cache, a type=local OCI layout
    Scenario(
        "image-manifest-cache",
        "conf-image-manifest",
        write("data/four.txt", "4\n"),
        "COPY data/ /data/",
        (("/data/four.txt", "exists"),),
    ),
    Scenario(
        "local-layout-cache",
        "conf-local",
        chmod("app.conf", 0o600),
        "COPY app.conf /etc/app.conf",
        (("/app.conf", "mode"),),
    ),
    # mode=min: the builder stage is exported as keys without layers
    Scenario("min-unchanged", "stages-min", nothing, None),
    Scenario("min-final-stage-changed", "stages-min", chmod("app.conf", 0o600), "COPY src/ /src/"),
    Scenario(
        # the builder's context differs but /out.txt comes out the same: BuildKit hits COPY --from by
        # content, which no tool can know before running the builder
        "stages-builder-same-output",
        "stages",
        chmod("src/x.txt", 0o600),
        "COPY src/ /src/",
        (("/src/x.txt", "mode"),),
        unknown=("COPY --from=builder /out.txt /out.txt", "RUN cat /out.txt /etc/app.conf > /all"),
    ),
    Scenario(
        "stages-builder-new-output",
        "stages",
        write("src/y.txt", "changed\n"),
        "COPY src/ /src/",
        unknown=("COPY --from=builder /out.txt /out.txt", "RUN cat /out.txt /etc/app.conf > /all"),
    ),
    *DEF_SCENARIOS,
]


# ------------------------------------------------------------------------------------------ fixtures
@dataclass
class HostA:
    group: Group
    context: Path
    cache: str  # what `context check` reads (a registry cache ref, or the inline-cache image)
    cache_from: str  # the --cache-from argument host B uses
    log: str


class HostAs:
    """Host-A builds made lazily, once per group, shared by the scenarios of the module."""

    def __init__(self, bed: Testbed, root: Path) -> None:
        self.bed = bed
        self.root = root
        self.built: dict[str, HostA] = {}

    def get(self, name: str) -> HostA:
        if name not in self.built:
            group = GROUPS[name]
            ctx = materialise(group, self.root / f"a-{name}")
            repo = self.bed.unique_repo(f"ctxcheck-{name}")
            base = self.bed.env["TESTBED_BASE_IMAGE"]
            self.bed.prune()
            if group.export in ("max", "min", "image-manifest"):
                cache = self.bed.ref(repo, "cache")
                to = f"type=registry,ref={cache},mode={group.export}"
                if group.export == "image-manifest":
                    to = f"type=registry,ref={cache},mode=max,image-manifest=true,oci-mediatypes=true"
                log = self.bed.build(ctx, "--build-arg", f"BASE={base}", "--cache-to", to)
                cache_from = f"type=registry,ref={cache}"
            elif group.export == "local":
                cache = str(self.root / f"cache-{name}")
                to = f"type=local,dest={cache},mode=max"
                log = self.bed.build(ctx, "--build-arg", f"BASE={base}", "--cache-to", to)
                cache_from = f"type=local,src={cache}"
            else:
                cache = self.bed.ref(repo, "img")
                log = self.bed.build(
                    ctx, "--build-arg", f"BASE={base}", "--cache-to", "type=inline", "-t", cache, "--push"
                )
                cache_from = f"type=registry,ref={cache}"
            self.built[name] = HostA(group, ctx, cache, cache_from, log)
        return self.built[name]


_ENV_VARIANTS: dict[str, str] = {}


def env_variant_base(bed: Testbed, tmp: Path) -> str:
    """The bed's base image plus one ENV: the same layers (ChainID), another config and manifest."""
    if bed.engine not in _ENV_VARIANTS:
        ctx = tmp / "env-variant"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nENV EXTRA=from-the-base\n")
        ref = bed.ref(bed.unique_repo("base-env"), "1")
        bed.build(ctx, "--build-arg", f"BASE={bed.env['TESTBED_BASE_IMAGE']}", "-t", ref, "--push")
        _ENV_VARIANTS[bed.engine] = ref
    return _ENV_VARIANTS[bed.engine]


@pytest.fixture(scope="module", autouse=True)
def _results_table() -> Iterator[None]:
    """With CONTEXTCHECK_RESULTS=FILE, write the predicted-vs-observed table of the run there."""
    yield
    out = os.environ.get("CONTEXTCHECK_RESULTS")
    if out:
        rows = ["| scenario | line | instruction | predicted | BuildKit log |", "|---|---|---|---|---|"]
        for sid, table in RESULTS:
            for line, ins, pred, text, obs in table:
                ins, text = ins.replace("|", "\\|"), text.replace("|", "\\|")
                rows.append(f"| {sid} | {line} | `{ins}` | {pred} | {obs} (`{text}`) |")
        Path(out).write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def host_a(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> HostAs:
    return HostAs(testbed, tmp_path_factory.mktemp("ctxcheck"))


def copy_context(src: Path, dest: Path) -> Path:
    """``cp -a``: modes, symlinks and xattrs as they are (shutil.copytree keeps them too)."""
    shutil.copytree(src, dest, symlinks=True, copy_function=shutil.copy2)
    return dest


def run_check(
    bed: Testbed, cache: str, ctx: Path, build_args: Mapping[str, str], *extra: str
) -> dict[str, Any]:
    # the bed builds with --network=host (Testbed.build): it is part of every RUN's key
    args = [sys.executable, "-m", "cacheinspect", "context", "check", cache, str(ctx), "--format", "json"]
    args += ["--network", "host"]
    for k, v in build_args.items():
        args += ["--build-arg", f"{k}={v}"]
    args += list(extra)
    env = {**bed.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"context check failed ({proc.returncode}): {proc.stderr}"
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def observed(log: str) -> dict[tuple[str, int], tuple[str, str]]:
    """(stage label, step counter) -> (instruction text, hit|miss) for a plain log, FROM lines left out.

    A single-stage build prints no stage label; a multi-stage one labels every step (``[builder 2/3]``,
    ``[stage-1 2/4]``). The counter is the position in the stage (FROM is 1).
    """
    import re

    out: dict[tuple[str, int], tuple[str, str]] = {}
    # COPY --link: when the step before it changed, BuildKit downloads the copy's own layer from the
    # cache under the step ("#N sha256:… 147B / 147B done") and only re-runs the merge: the copy is a hit
    # (issue 15). When the copy itself ran, the step shows no download of its own, only the extraction of
    # the layers below it for the merge: a miss.
    downloaded = set(re.findall(r"(?m)^#(\d+) sha256:[0-9a-f]{64} \S+ / \S+", log))
    log = re.sub(
        r"(?m)^#(\d+) merging( [\d.]+s)?( done)?\n",
        lambda m: "" if m.group(1) in downloaded else m.group(0),
        log,
    )
    for s in parse_steps(log):
        # "[2/4] ...", "[builder 2/4] ...", padded from 10 steps on: "[stage-0  2/14] ..."
        m = re.match(r"^\[(?:(\S+)\s+)?\s*(\d+)/(\d+)\] (.*)$", s["vertex"])
        assert m, s
        stage, text = m.group(1) or "", m.group(4)
        if text.startswith("FROM "):
            continue
        status = s["status"]
        assert status in ("CACHED", "LOADED", "RAN"), s
        out[(stage, int(m.group(2)))] = (text, "hit" if status in ("CACHED", "LOADED") else "miss")
    return out


def predicted(doc: dict[str, Any], single_stage: bool) -> dict[tuple[str, int], tuple[int, str, str]]:
    """(stage label, step counter) -> (line, instruction, verdict), in the log's numbering."""
    out: dict[tuple[str, int], tuple[int, str, str]] = {}
    counter: dict[str, int] = {}
    for s in doc["steps"]:
        if s["instruction"].split()[0].upper() == "FROM":
            continue
        stage = "" if single_stage else s["stage"]
        counter[stage] = counter.get(stage, 1) + 1
        out[(stage, counter[stage])] = (s["line"], s["instruction"], s["verdict"])
    return out


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_prediction_equals_buildkit(sc: Scenario, host_a: HostAs, testbed: Testbed, tmp_path: Path) -> None:
    if testbed.engine not in sc.engines:
        pytest.skip(
            f"{sc.id} means something on {', '.join(sc.engines)} only (COPY --exclude: BuildKit v0.18+)"
        )
    a = host_a.get(sc.group)
    ctx = copy_context(a.context, tmp_path / "b")
    sc.mutate(ctx)
    base = env_variant_base(testbed, tmp_path) if sc.base == "BASE_ENV_VARIANT" else testbed.env[sc.base]
    args = {"BASE": base, **sc.build_args}
    doc = run_check(testbed, a.cache, ctx, args)

    testbed.prune()
    build_args = [x for k, v in args.items() for x in ("--build-arg", f"{k}={v}")]
    log = testbed.build(ctx, *build_args, "--cache-from", a.cache_from)
    seen = observed(log)
    want = predicted(doc, single_stage=all(stage == "" for stage, _ in seen))

    # the table's expectation holds in BuildKit's own log (the scenario tests what it says it tests)
    misses = [text for text, v in seen.values() if v == "miss"]
    if sc.first_miss is None:
        assert misses == [], f"BuildKit missed {misses} in a scenario that must hit:\n{log[-3000:]}"
    else:
        # a multi-stage log prints stages interleaved: there the miss only has to be among them
        single = all(stage == "" for stage, _ in seen)
        ok = misses and (misses[0] == sc.first_miss if single else sc.first_miss in misses)
        assert ok, f"BuildKit's misses: {misses}\n{log[-3000:]}"

    # every step: prediction == what BuildKit did; `unknown` only where the table says BuildKit's
    # answer cannot be known before building (and what BuildKit then did is recorded)
    assert set(want) == set(seen), (sorted(want), sorted(seen))
    table = [(*want[k], *seen[k]) for k in sorted(want, key=lambda k: (want[k][0], k))]
    bad = [
        row
        for row in table
        if (row[2] != "unknown" and row[2] != row[4]) or ((row[2] == "unknown") != (row[1] in sc.unknown))
    ]
    assert not bad, (
        "\n".join(f"line {ln}: {ins!r} predicted {v}, BuildKit {ov} ({ot!r})" for ln, ins, v, ot, ov in table)
        + f"\n{json.dumps(doc['steps'], indent=1)}"
    )
    RESULTS.append((sc.id, table))
    froms = [s for s in doc["steps"] if s["instruction"].startswith("FROM")]
    assert froms and all(
        s["verdict"] == ("miss" if sc.base == "TESTBED_BASE_IMAGE2" else "hit") for s in froms
    )

    # the explanation the single-change search must find, named per file and field
    named = {(e["path"], e["field"]) for s in doc["steps"] for e in s["explanations"]}
    for item in sc.explained:
        assert item in named, (item, json.dumps(doc["steps"], indent=1))
    if sc.cause_contains:
        assert any(sc.cause_contains in s["cause"] for s in doc["steps"]), json.dumps(doc["steps"], indent=1)


def test_pushed_fingerprint_explains_a_multi_change_build(
    host_a: HostAs, testbed: Testbed, tmp_path: Path
) -> None:
    """Host A pushes its fingerprint next to its real cache; host B changes five things; the check finds
    the fingerprint through the registry, names every change, and still predicts what BuildKit does."""
    a = host_a.get("conf")
    base = testbed.env["TESTBED_BASE_IMAGE"]
    env = {**testbed.env, "PYTHONPATH": str(ROOT)}
    push = subprocess.run(
        [
            sys.executable,
            "-m",
            "cacheinspect",
            "context",
            "fingerprint",
            str(a.context),
            "--push",
            a.cache,
            "--build-arg",
            f"BASE={base}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert push.returncode == 0, push.stderr
    ctx = copy_context(a.context, tmp_path / "b")
    (ctx / "app.conf").chmod(0o640)
    os.setxattr(ctx / "data" / "one.txt", "user.origin", b"host-b")
    (ctx / "data" / "two.txt").unlink()
    (ctx / "data" / "new.txt").write_text("new\n")
    crlf("data/sub/three.txt")(ctx)
    doc = run_check(testbed, a.cache, ctx, {"BASE": base})
    assert "referrer" in (doc["fingerprint"] or "")
    named = {(e["path"], e["field"]) for s in doc["steps"] for e in s["explanations"]}
    assert {
        ("/app.conf", "mode"),
        ("/data/one.txt", "xattr user.origin"),
        ("/data/two.txt", "exists"),
        ("/data/new.txt", "exists"),
        ("/data/sub/three.txt", "content"),
    } <= named, named
    testbed.prune()
    log = testbed.build(ctx, "--build-arg", f"BASE={base}", "--cache-from", a.cache_from)
    seen = observed(log)
    want = predicted(doc, single_stage=True)
    assert {k: v[2] for k, v in want.items()} == {k: v[1] for k, v in seen.items()}


def _push_fingerprint(bed: Testbed, a: HostA, base: str) -> None:
    env = {**bed.env, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "cacheinspect", "context", "fingerprint", str(a.context), "--push", a.cache]
    args += ["--build-arg", f"BASE={base}", "--network", "host"]
    push = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert push.returncode == 0, push.stderr


@pytest.mark.parametrize(
    ("change", "build_args", "line_text", "want"),
    [
        (nothing, {"VERSION": "1.2"}, RUN_V, "env VERSION=1.2 here, 1.1 on A"),
        (
            edit_dockerfile("conf/", "config/"),
            {},
            "COPY app.conf config/",
            "dest /app/config/ here, /app/conf/ on A",
        ),
        (
            edit_dockerfile("RUN echo done", "RUN --network=none echo done"),
            {},
            "RUN --network=none echo done > /done",
            "network none here, host on A",
        ),
        (edit_dockerfile("--chmod=644", "--chmod=755"), {}, "COPY --chmod=755", "chmod 0755 here, 0644 on A"),
    ],
    ids=["arg-value", "copy-dest", "run-network", "chmod"],
)
def test_fingerprint_names_the_changed_field(
    change: Callable[[Path], None],
    build_args: Mapping[str, str],
    line_text: str,
    want: str,
    host_a: HostAs,
    testbed: Testbed,
    tmp_path: Path,
) -> None:
    """Host A publishes each step's CacheMap JSON with its fingerprint; host B's miss names the field, and
    BuildKit's log shows that very step as the first one it ran."""
    a = host_a.get("defs")
    base = testbed.env["TESTBED_BASE_IMAGE"]
    _push_fingerprint(testbed, a, base)
    ctx = copy_context(a.context, tmp_path / "b")
    change(ctx)
    args = {"BASE": base, **build_args}
    doc = run_check(testbed, a.cache, ctx, args)
    step = next(s for s in doc["steps"] if s["instruction"].startswith(line_text))
    assert step["verdict"] == "miss" and "definition differs" in step["cause"], step
    assert want in step["cause"], step["cause"]
    testbed.prune()
    log = testbed.build(
        ctx, *[x for k, v in args.items() for x in ("--build-arg", f"{k}={v}")], "--cache-from", a.cache_from
    )
    misses = [t for t, v in observed(log).values() if v == "miss"]
    # the log prints a RUN with its variables expanded
    assert misses and misses[0].startswith(
        line_text.replace("$VERSION", build_args.get("VERSION", "1.1"))[:16]
    ), misses


def test_fingerprint_names_a_file_behind_a_symlinked_directory(
    host_a: HostAs, testbed: Testbed, tmp_path: Path
) -> None:
    """Issue 15: `COPY cfg/app.conf` where cfg -> real: with host A's fingerprint the miss names
    /real/app.conf (where both hosts' files are), and BuildKit runs that COPY."""
    a = host_a.get("linkdir")
    base = testbed.env["TESTBED_BASE_IMAGE"]
    _push_fingerprint(testbed, a, base)
    ctx = copy_context(a.context, tmp_path / "b")
    (ctx / "real" / "app.conf").chmod(0o600)
    doc = run_check(testbed, a.cache, ctx, {"BASE": base})
    named = {(e["path"], e["field"]) for s in doc["steps"] for e in s["explanations"]}
    assert ("/real/app.conf", "mode") in named, json.dumps(doc["steps"], indent=1)
    testbed.prune()
    log = testbed.build(ctx, "--build-arg", f"BASE={base}", "--cache-from", a.cache_from)
    misses = [t for t, v in observed(log).values() if v == "miss"]
    assert misses and misses[0] == "COPY cfg/app.conf /etc/app.conf", misses


def test_new_copy_line_blames_the_instruction(host_a: HostAs, testbed: Testbed, tmp_path: Path) -> None:
    """Issue 15: a new `COPY d.txt` line is a new instruction, not "/d.txt exists here, not in the cache"."""
    a = host_a.get("defs")
    base = testbed.env["TESTBED_BASE_IMAGE"]
    _push_fingerprint(testbed, a, base)
    ctx = copy_context(a.context, tmp_path / "b")
    write("d.txt", "d\n")(ctx)
    edit_dockerfile("RUN echo done", "COPY d.txt /d.txt\nRUN echo done")(ctx)
    doc = run_check(testbed, a.cache, ctx, {"BASE": base})
    step = next(s for s in doc["steps"] if s["instruction"] == "COPY d.txt /d.txt")
    assert step["verdict"] == "miss" and "definition differs" in step["cause"], step
    assert not any(e["path"] == "/d.txt" for e in step["explanations"]), step
    testbed.prune()
    log = testbed.build(ctx, "--build-arg", f"BASE={base}", "--cache-from", a.cache_from)
    misses = [t for t, v in observed(log).values() if v == "miss"]
    assert misses and misses[0] == "COPY d.txt /d.txt", misses


def test_copy_from_image_with_assume_base_unchanged(testbed: Testbed, tmp_path: Path) -> None:
    """Issue 15: --assume-base-unchanged is honoured for COPY --from=<image> as for FROM (an unchanged
    build predicts hit for every step, as BuildKit then does)."""
    base, other = testbed.env["TESTBED_BASE_IMAGE"], testbed.env["TESTBED_BASE_IMAGE2"]
    ctx = tmp_path / "a"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\nCOPY --from={other} /etc/passwd /copied-passwd\nRUN wc -l /copied-passwd > /n\n"
    )
    cache = testbed.ref(testbed.unique_repo("ctxcheck-fromimage"), "cache")
    testbed.prune()
    testbed.build(ctx, "--cache-to", f"type=registry,ref={cache},mode=max")
    doc = run_check(testbed, cache, ctx, {}, "--assume-base-unchanged")
    testbed.prune()
    log = testbed.build(ctx, "--cache-from", f"type=registry,ref={cache}")
    seen = observed(log)
    assert [v for _, v in seen.values()] == ["hit", "hit"], log[-2000:]
    assert [s["verdict"] for s in doc["steps"]] == ["hit", "hit", "hit"], json.dumps(doc["steps"], indent=1)


@pytest.mark.parametrize("changed", [False, True], ids=["unchanged", "other-file-changed"])
def test_named_build_context(changed: bool, testbed: Testbed, tmp_path: Path) -> None:
    """Issue 15: `--build-context other=DIR` then `COPY --from=other`: the step's content key is computed
    over DIR, and the verdict equals BuildKit's."""
    base = testbed.env["TESTBED_BASE_IMAGE"]
    ctx = tmp_path / "a"
    other = tmp_path / "other"
    ctx.mkdir()
    other.mkdir()
    (ctx / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nCOPY --from=other x.txt /x.txt\nRUN cat /x.txt > /y\n"
    )
    (other / "x.txt").write_text("x\n")
    for p in (ctx / "Dockerfile", other / "x.txt"):
        p.chmod(0o644)
    cache = testbed.ref(testbed.unique_repo("ctxcheck-named"), "cache")
    testbed.prune()
    testbed.build(
        ctx,
        "--build-arg",
        f"BASE={base}",
        "--build-context",
        f"other={other}",
        "--cache-to",
        f"type=registry,ref={cache},mode=max",
    )
    if changed:
        (other / "x.txt").write_text("changed\n")
    doc = run_check(testbed, cache, ctx, {"BASE": base}, "--build-context", f"other={other}")
    testbed.prune()
    log = testbed.build(
        ctx,
        "--build-arg",
        f"BASE={base}",
        "--build-context",
        f"other={other}",
        "--cache-from",
        f"type=registry,ref={cache}",
    )
    seen = [v for _, v in observed(log).values()]
    want = ["miss", "miss"] if changed else ["hit", "hit"]
    assert seen == want, log[-2000:]
    assert [s["verdict"] for s in doc["steps"] if not s["instruction"].startswith("FROM")] == want, (
        json.dumps(doc["steps"], indent=1)
    )


#: (engine, group) -> (records equal, records total) of the recomputation, printed with -s
RECOMPUTED: dict[tuple[str, str], tuple[int, int]] = {}


def _cache_records(bed: Testbed, cache: str) -> list[dict[str, Any]]:
    """The records of a registry cache (its cache config), read with plain json from the registry."""
    repo, _, tag = cache.split("/", 1)[1].rpartition(":")
    _, _, top = bed.get_manifest(repo, tag)
    entries = top.get("manifests") or []
    cfg_digest = next(
        (d["digest"] for d in entries if d["mediaType"] == "application/vnd.buildkit.cacheconfig.v0"), None
    )
    if cfg_digest is None:  # image-manifest=true: the cache config is the manifest's config
        cfg_digest = top["config"]["digest"]
    return list(json.loads(bed.get_blob(repo, cfg_digest))["records"])


@pytest.mark.parametrize(
    "group", ["conf", "misc", "stages", "mounts", "defs", "exclude", "linkdir", "stages-min"]
)
def test_every_op_record_recomputed(group: str, host_a: HostAs, testbed: Testbed) -> None:
    """Issue 16: every op record (a record with inputs) of host A's real export has the digest computed
    here from the Dockerfile, the flags and the base image's config alone; a mode=max export has no
    record for an op that is not computed."""
    if group == "exclude" and testbed.engine == "v0.13":
        pytest.skip("COPY --exclude is in the built-in frontend from BuildKit v0.18 on")
    a = host_a.get(group)
    doc = run_check(testbed, a.cache, a.context, {"BASE": testbed.env["TESTBED_BASE_IMAGE"]})
    computed = {k for s in doc["steps"] for k in s.get("keys") or []}
    records = _cache_records(testbed, a.cache)
    ops = {r["digest"] for r in records if r.get("inputs")}
    RECOMPUTED[(testbed.engine, group)] = (len(ops & computed), len(ops))
    assert ops <= computed, sorted(ops - computed)
    if a.group.export == "max":
        # (a heredoc's mkfile op has no inputs: its record is a root of the export)
        assert computed <= {r["digest"] for r in records}, sorted(computed - {r["digest"] for r in records})
    assert all(s["verdict"] == "hit" for s in doc["steps"]), json.dumps(doc["steps"], indent=1)


@pytest.fixture(scope="module", autouse=True)
def _recomputed_figure() -> Iterator[None]:
    """With STEPKEYS_FIGURE=FILE, write the per-engine recomputation figure (docs/stepkeys.md)."""
    yield
    out = os.environ.get("STEPKEYS_FIGURE")
    if out and RECOMPUTED:
        lines = ["| engine | group | records equal / total |", "|---|---|---|"]
        for (engine, group), (eq, tot) in sorted(RECOMPUTED.items()):
            lines.append(f"| {engine} | {group} | {eq} / {tot} |")
        for engine in sorted({e for e, _ in RECOMPUTED}):
            eq = sum(v[0] for (e, _), v in RECOMPUTED.items() if e == engine)
            tot = sum(v[1] for (e, _), v in RECOMPUTED.items() if e == engine)
            lines.append(f"| {engine} | **all** | **{eq} / {tot}** |")
        Path(out).write_text("\n".join(lines) + "\n")
