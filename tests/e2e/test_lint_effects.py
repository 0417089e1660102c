"""End-to-end: for every lint rule whose effect BuildKit can show on this test bed, build the flagged
Dockerfile for real and observe the effect, then build the fix the rule suggests and see it gone.

The "package manager" is a busybox ``sh`` script installed as ``pip`` (``FAKE_PIP`` below): it keeps
downloads in pip's cache directory (``$PIP_CACHE_DIR``, else ``${XDG_CACHE_HOME:-$HOME/.cache}/pip``),
honours ``--no-cache-dir``/``PIP_NO_CACHE_DIR``, turns its cache off when the directory is not
writable (as pip does), installs into ``--target`` or a site-packages directory, and records in
``<target>/<pkg>/SOURCE`` whether the package came from its cache or was downloaded. Every package name
is unique per test, so the first build always downloads; a second build (forced to re-run the step by
``--build-arg BUST=2``) shows whether the cache mount kept anything. What the image gets is read from
``--output type=local``. The lint verdict of both forms is asserted next to the effect.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cacheinspect.lint.engine import FileResult, lint_text

from .conftest import Testbed, parse_steps

pytestmark = pytest.mark.e2e

FAKE_PIP = r"""#!/bin/sh
set -e
cmd=$1; shift
target=/usr/local/lib/site-packages
cache=${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pip}
nocache=${PIP_NO_CACHE_DIR:+1}
pkgs=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-cache-dir) nocache=1;;
    --target=*) target=${1#--target=};;
    --target|-t) shift; target=$1;;
    --cache-dir) shift; cache=$1;;
    *) pkgs="$pkgs $1";;
  esac
  shift
done
if [ -z "$nocache" ]; then
  if ! mkdir -p "$cache" 2>/dev/null || ! [ -w "$cache" ]; then
    echo "WARNING: The directory '$cache' is not owned or is not writable by the current user. The cache has been disabled." >&2
    nocache=1
  fi
fi
mkdir -p "$target"
for p in $pkgs; do
  if [ -z "$nocache" ] && [ -f "$cache/$p.whl" ]; then src=cache; else src=download; echo "Downloading $p"; fi
  if [ -z "$nocache" ] && [ "$src" = download ]; then echo "$p wheel" > "$cache/$p.whl"; fi
  mkdir -p "$target/$p"; echo "$src" > "$target/$p/SOURCE"
  echo "Successfully installed $p ($src)"
done
"""

ADD_APP_USER = "RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && mkdir -p /home/app && busybox chown 1000:1000 /home/app\n"


class Bed:
    def __init__(self, testbed: Testbed, tmp_path: Path) -> None:
        self.bed = testbed
        self.dir = tmp_path
        self.ctx = tmp_path / "ctx"
        self.ctx.mkdir()
        (self.ctx / "fakepip").write_text(FAKE_PIP)
        (self.ctx / "fakepip").chmod(0o755)
        self.base = testbed.env["TESTBED_BASE_IMAGE"]
        self.n = 0

    def header(self) -> str:
        return f"FROM {self.base} AS build\nCOPY fakepip /usr/local/bin/pip\n"

    def build(self, text: str, *args: str, check: bool = True) -> tuple[Path, str]:
        """Build *text*; returns the exported root and the log."""
        self.n += 1
        df = self.dir / f"Dockerfile.{self.n}"
        df.write_text(text)
        out = self.dir / f"out.{self.n}"
        log = self.bed.build(
            self.ctx, "-f", str(df), "--output", f"type=local,dest={out}", *args, check=check
        )
        return out, log

    def twice(self, text: str) -> tuple[Path, Path]:
        """Two builds of *text*; the second re-runs the step (new BUST) with the cache mounts of the first."""
        first, _ = self.build(text, "--build-arg", "BUST=1")
        second, _ = self.build(text, "--build-arg", "BUST=2")
        return first, second


@pytest.fixture
def bed(testbed: Testbed, tmp_path: Path) -> Bed:
    return Bed(testbed, tmp_path)


def lint_codes(text: str) -> list[str]:
    return [f.code for f in lint_text(text, filename="Dockerfile").findings]


def pkg() -> str:
    return f"pkg{uuid.uuid4().hex[:10]}"


def source(root: Path, target: str, name: str) -> str:
    return (root / target.lstrip("/") / name / "SOURCE").read_text().strip()


# --- CM001 / CM002: the output vanishes with the cache mount (seed 002) ----------------------------


def test_seed_002_pip_target_into_the_cache_mount_leaves_the_image_empty(bed: Bed) -> None:
    p = pkg()
    flagged = (
        bed.header()
        + "RUN mkdir /pip-packages\n"
        + f"RUN --mount=type=cache,target=/pip-packages \\\n      pip install --target=/pip-packages {p} && ls -1 /pip-packages\n"
        + "FROM scratch\nCOPY --from=build /pip-packages /out\n"
    )
    assert lint_codes(flagged) == ["CM001", "CM002"]
    out, log = bed.build(flagged)
    assert f"Successfully installed {p} (download)" in log  # the install ran and the log says so
    assert (out / "out").is_dir() and list((out / "out").iterdir()) == []  # … and the image has nothing

    fixed = (
        bed.header()
        + f"RUN --mount=type=cache,target=/root/.cache \\\n      pip install --target=/pip-packages {p}\n"
        + "FROM scratch\nCOPY --from=build /pip-packages /out\n"
    )
    assert lint_codes(fixed) == []
    out, _ = bed.build(fixed)
    assert source(out, "/out", p) == "download"  # installed, and in the image this time


def test_cm001_redirect_into_the_mount_is_lost(bed: Bed) -> None:
    flagged = bed.header() + "RUN --mount=type=cache,target=/build sh -c 'echo binary > /build/app'\n"
    assert lint_codes(flagged) == ["CM001"]
    out, _ = bed.build(flagged)
    assert not (out / "build" / "app").exists()

    fixed = (
        bed.header()
        + "RUN --mount=type=cache,target=/build sh -c 'echo binary > /build/app && cp /build/app /app'\n"
    )
    assert lint_codes(fixed) == []
    out, _ = bed.build(fixed)
    assert (out / "app").read_text() == "binary\n"


def test_cm002_a_later_run_cannot_read_what_only_the_mount_had(bed: Bed) -> None:
    p = pkg()
    flagged = (
        bed.header()
        + f"RUN --mount=type=cache,target=/wheels pip install --target=/wheels {p}\n"
        + f"RUN cp -r /wheels/{p} /app\n"
    )
    assert "CM002" in lint_codes(flagged)
    _, log = bed.build(flagged, check=False)
    assert f"cp: can't stat '/wheels/{p}': No such file or directory" in log

    fixed = (
        bed.header()
        + f"RUN --mount=type=cache,target=/root/.cache/pip pip install --target=/wheels {p}\n"
        + f"RUN cp -r /wheels/{p} /app\n"
    )
    assert lint_codes(fixed) == []
    out, _ = bed.build(fixed)
    assert (out / "app" / "SOURCE").is_file()


# --- CM003: the tool's cache turned off or wiped under its own mount ---------------------------------


@pytest.mark.parametrize(
    "step",
    [
        "pip install --no-cache-dir {p}",
        "PIP_NO_CACHE_DIR=0 pip install {p}",  # pip turns the cache off for any valid value
        "pip install {p} && rm -rf /root/.cache/pip/*",
    ],
)
def test_cm003_cache_defeated_under_its_mount_downloads_again(bed: Bed, step: str) -> None:
    p = pkg()
    flagged = (
        bed.header() + "ARG BUST\n" + f"RUN --mount=type=cache,target=/root/.cache/pip {step.format(p=p)}\n"
    )
    assert lint_codes(flagged) == ["CM003"]
    _, second = bed.twice(flagged)
    assert source(second, "/usr/local/lib/site-packages", p) == "download"

    fixed = bed.header() + "ARG BUST\n" + f"RUN --mount=type=cache,target=/root/.cache/pip pip install {p}\n"
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert source(second, "/usr/local/lib/site-packages", p) == "cache"


# --- CM004: the mount is not where the tool looks -------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "mount"),
    [
        (ADD_APP_USER + "USER app\n", "target=/root/.cache/pip,uid=1000"),  # another USER, another HOME
        ("ENV PIP_CACHE_DIR=/tmp/pipcache\n", "target=/root/.cache/pip"),  # the cache dir moved
    ],
)
def test_cm004_mount_misses_the_tools_cache(bed: Bed, setup: str, mount: str) -> None:
    p = pkg()
    target = "/tmp/lib"
    flagged = (
        bed.header()
        + setup
        + "ARG BUST\n"
        + f"RUN --mount=type=cache,{mount} pip install --target={target} {p}\n"
    )
    assert lint_codes(flagged) == ["CM004"]
    finding = lint_text(flagged).findings[0]
    _, second = bed.twice(flagged)
    assert source(second, target, p) == "download"

    # the fix is the one the finding names
    fix_mount = finding.fix.split("--mount=type=cache,", 1)[1]
    fixed = (
        bed.header()
        + setup
        + "ARG BUST\n"
        + f"RUN --mount=type=cache,{fix_mount} pip install --target={target} {p}\n"
    )
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert source(second, target, p) == "cache"


# --- CM007: a root-owned mount for a non-root USER ------------------------------------------------


def test_cm007_non_root_user_cannot_write_a_default_cache_mount(bed: Bed) -> None:
    p = pkg()
    setup = ADD_APP_USER + "USER app\nARG BUST\n"
    flagged = (
        bed.header()
        + setup
        + f"RUN --mount=type=cache,target=/home/app/.cache/pip pip install --target=/home/app/lib {p}\n"
    )
    assert lint_codes(flagged) == ["CM007"]
    _, log = bed.build(flagged, "--build-arg", "BUST=1")
    assert "is not owned or is not writable by the current user" in log
    _, probe = bed.build(
        bed.header()
        + setup
        + "RUN --mount=type=cache,target=/home/app/.cache/pip touch /home/app/.cache/pip/x\n",
        check=False,
    )
    assert "Permission denied" in probe
    second, _ = bed.build(flagged, "--build-arg", "BUST=2")
    assert source(second, "/home/app/lib", p) == "download"

    fixed = (
        bed.header()
        + setup
        + f"RUN --mount=type=cache,target=/home/app/.cache/pip,uid=1000 pip install --target=/home/app/lib {p}\n"
    )
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert source(second, "/home/app/lib", p) == "cache"


# --- CM008: one id, two caches -------------------------------------------------------------------


@pytest.mark.parametrize("other", ["uid=1000", "mode=0777", "uid=0"])
def test_cm008_same_id_with_other_options_is_another_cache(bed: Bed, other: str) -> None:
    cid = f"lint-{uuid.uuid4().hex[:10]}"
    flagged = (
        bed.header()
        + f"RUN --mount=type=cache,id={cid},target=/c sh -c 'echo one > /c/data'\n"
        + f"RUN --mount=type=cache,id={cid},target=/c,{other} sh -c 'cat /c/data > /seen || echo missing > /seen'\n"
    )
    # CM001 too: the second RUN mounts the other cache, so nothing ever reads /c/data (the build shows it)
    assert lint_codes(flagged) == ["CM001", "CM008"]
    out, _ = bed.build(flagged)
    assert (out / "seen").read_text() == "missing\n"

    fixed = flagged.replace("target=/c sh", f"target=/c,{other} sh")
    # one cache now; this test device passes data from one RUN to the next through it, which is what
    # CM011 flags (it works here only because both RUNs run on this builder, in this build)
    assert lint_codes(fixed) == ["CM011"]
    out, _ = bed.build(fixed)
    assert (out / "seen").read_text() == "one\n"


# --- CM009: no cache mount at all ----------------------------------------------------------------


def test_cm009_install_without_a_cache_mount_downloads_every_time(bed: Bed) -> None:
    p = pkg()
    flagged = bed.header() + "ARG BUST\n" + f"RUN pip install {p}\n"
    assert lint_codes(flagged) == ["CM009"]
    finding = lint_text(flagged).findings[0]
    _, second = bed.twice(flagged)
    assert source(second, "/usr/local/lib/site-packages", p) == "download"

    fixed = bed.header() + "ARG BUST\n" + finding.fix.replace(" pip install", f" pip install {p}") + "\n"
    assert lint_codes(fixed) == []
    first, second = bed.twice(fixed)
    assert source(first, "/usr/local/lib/site-packages", p) == "download"
    assert source(second, "/usr/local/lib/site-packages", p) == "cache"


# --- CM010: the mount hides what the image had -----------------------------------------------------


def test_cm010_mount_hides_files_of_the_image(bed: Bed) -> None:
    flagged = (
        bed.header()
        + "RUN mkdir /pip-packages && touch /pip-packages/foo\n"
        + "RUN --mount=type=cache,target=/pip-packages sh -c 'ls -1 /pip-packages > /listing'\n"
    )
    assert lint_codes(flagged) == ["CM010"]
    out, _ = bed.build(flagged)
    assert "foo" not in (out / "listing").read_text().split()
    assert (out / "pip-packages" / "foo").exists()  # back in the image after the RUN (seed 002, 5)

    fixed = (
        bed.header()
        + "RUN mkdir /pip-packages && touch /pip-packages/foo\n"
        + "RUN --mount=type=cache,target=/root/.cache/pip sh -c 'ls -1 /pip-packages > /listing'\n"
    )
    assert lint_codes(fixed) == []
    out, _ = bed.build(fixed)
    assert (out / "listing").read_text().split() == ["foo"]


# --- issue 18: the changed and new rules ----------------------------------------------------------
#
# More emulated tools (busybox sh, installed next to the fake pip; each is an emulation of the named
# tool's documented behaviour, not the tool): FAKE_GO keeps its build cache flat in GOCACHE (two-hex-digit
# directories, as cmd/go/internal/cache does) and reports a hit or a compile; FAKE_CARGO builds into
# --target-dir / CARGO_TARGET_DIR / ./target (with --target TRIPLE: target/TRIPLE/release) and says
# "fresh" when its fingerprint from an earlier build is there; FAKE_CURL "downloads" (writes -o FILE).
# What BuildKit contributes — which directory a cache mount keeps, what a later RUN and the image see —
# is real.

FAKE_GO = r"""#!/bin/sh
set -e
if [ "$1" = mod ]; then  # go mod download KEY: the module cache, GOMODCACHE or $GOPATH/pkg/mod
  mc=${GOMODCACHE:-${GOPATH:-$HOME/go}/pkg/mod}
  if [ -f "$mc/cache/download/$3" ]; then echo "cache hit"; else echo "downloaded"; mkdir -p "$mc/cache/download"; echo zip > "$mc/cache/download/$3"; fi
  exit 0
fi
cache=${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}
key=$2
d="$cache/$(echo "$key" | cut -c1-2)"
if [ -f "$d/$key-a" ]; then echo "cache hit"; else echo "compiled"; mkdir -p "$d"; echo obj > "$d/$key-a"; fi
"""

FAKE_CARGO = r"""#!/bin/sh
set -e
shift
tdir=${CARGO_TARGET_DIR:-./target}
triple=""
while [ $# -gt 0 ]; do
  case $1 in
    --target-dir) shift; tdir=$1;;
    --target) shift; triple=$1;;
  esac
  shift
done
out="$tdir/${triple:+$triple/}release"
if [ -f "$out/.fingerprint" ]; then echo fresh; else echo compiled; fi
mkdir -p "$out"; echo fp > "$out/.fingerprint"; echo binary > "$out/app"
"""

FAKE_CURL = r"""#!/bin/sh
set -e
while [ $# -gt 0 ]; do case $1 in -o) shift; out=$1;; esac; shift; done
echo "downloaded" > "$out"
"""


def _tools(bed: Bed) -> str:
    for name, text in (("fakego", FAKE_GO), ("fakecargo", FAKE_CARGO), ("fakecurl", FAKE_CURL)):
        (bed.ctx / name).write_text(text)
        (bed.ctx / name).chmod(0o755)
    return (
        bed.header()
        + "COPY fakego /usr/local/bin/go\nCOPY fakecargo /usr/local/bin/cargo\nCOPY fakecurl /usr/local/bin/curl\n"
    )


def test_cm011_a_later_run_reading_the_mount_fails_on_a_fresh_builder(bed: Bed) -> None:
    """A fresh CI builder with the exported cache: the writer RUN is a cache hit (imported, not run),
    a COPY between the two changed, so the reader runs alone and finds an empty mount. Copying out in
    the writer RUN survives that. (Pruning only the cache mount on the same builder is not the same:
    BuildKit then re-runs the writer too — observed on both engines.)"""
    stamp = bed.ctx / "stamp"
    flagged = (
        bed.header()
        + "RUN --mount=type=cache,target=/cache sh -c 'echo binary > /cache/app'\n"
        + "COPY stamp /stamp\n"
        + "RUN --mount=type=cache,target=/cache cp /cache/app /app\n"
    )
    fixed = (
        bed.header()
        + "RUN --mount=type=cache,target=/cache sh -c 'echo binary > /cache/app && cp /cache/app /app'\n"
        + "COPY stamp /stamp\n"
        + "RUN cp /app /app2\n"
    )
    assert lint_codes(flagged) == ["CM011"]
    assert lint_codes(fixed) == []
    for n, (text, works) in enumerate(((flagged, False), (fixed, True))):
        cache = bed.dir / f"cache-{n}"
        stamp.write_text(uuid.uuid4().hex)
        out, _ = bed.build(text, "--cache-to", f"type=local,dest={cache},mode=max")
        assert (out / "app").read_text() == "binary\n"  # one builder, both RUNs: works either way
        bed.bed.prune()  # a fresh builder: no layers, no cache mounts
        stamp.write_text(uuid.uuid4().hex)  # invalidates the reader only
        out, log = bed.build(text, "--cache-from", f"type=local,src={cache}", check=False)
        steps = parse_steps(log)
        assert any("echo binary" in s["vertex"] and s["status"] == "CACHED" for s in steps), log
        if works:
            assert (out / "app2").read_text() == "binary\n"
        else:
            assert "cp: can't stat '/cache/app': No such file or directory" in log


def test_cm004_gocache_mount_one_level_deep_never_fills(bed: Bed) -> None:
    key = "ab" + uuid.uuid4().hex[:8]
    head = _tools(bed) + "ENV GOCACHE=/.cache\nARG BUST\n"
    flagged = head + f"RUN --mount=type=cache,target=/.cache/go-build go build {key} > /result\n"
    assert lint_codes(flagged) == ["CM004"]
    _, second = bed.twice(flagged)
    assert (second / "result").read_text() == "compiled\n"  # go wrote /.cache/ab/…, beside the mount

    fixed = head + f"RUN --mount=type=cache,target=/.cache go build {key} > /result\n"
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert (second / "result").read_text() == "cache hit\n"


def test_cm004_cargo_target_dir_elsewhere_leaves_the_target_mount_unused(bed: Bed) -> None:
    head = _tools(bed) + "WORKDIR /app\nARG BUST\n"
    registry = "--mount=type=cache,target=/root/.cargo/registry"
    flagged = (
        head + f"RUN {registry} --mount=type=cache,target=/app/target "
        "cargo build --release --target-dir /app/out > /result\n"
    )
    assert lint_codes(flagged) == ["CM004"]
    first, second = bed.twice(flagged)
    assert (second / "result").read_text() == "compiled\n"  # nothing kept: the build tree went to /app/out
    assert (first / "app" / "out" / "release" / "app").is_file()  # … into the image instead
    assert not (first / "app" / "target" / "release").exists()

    fixed = (
        head + f"RUN {registry} --mount=type=cache,target=/app/out "
        "cargo build --release --target-dir /app/out > /result && cp /app/out/release/app /usr/local/bin/app\n"
    )
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert (second / "result").read_text() == "fresh\n"
    assert (second / "usr" / "local" / "bin" / "app").read_text() == "binary\n"


# FAKE_CARGO_FETCH: an emulation of `cargo fetch`'s download cache (the cargo book, "Cargo Home":
# $CARGO_HOME, default ~/.cargo, holds registry/cache/<registry>/<crate>.crate; rustup's installer and
# the rust images set CARGO_HOME=/usr/local/cargo). Records in ./crate-source whether the crate was there.
FAKE_CARGO_FETCH = r"""#!/bin/sh
set -e
reg=${CARGO_HOME:-$HOME/.cargo}/registry/cache/index.crates.io-6f17d22bba15001f
crate=$(cat /cratename)
if [ -f "$reg/$crate.crate" ]; then echo cache > crate-source; else
  echo "  Downloaded $crate v1.0.0"; mkdir -p "$reg"; echo crate > "$reg/$crate.crate"; echo download > crate-source
fi
"""


def test_cm004_rustup_cargo_home_moves_the_registry_out_of_root_cargo(bed: Bed) -> None:
    """Issue 18: with rustup's CARGO_HOME=/usr/local/cargo (as rustup's installer is run in images that
    do not start FROM rust), a mount at /root/.cargo/registry misses the registry cargo downloads to.
    Flagged and fixed form as two stages of one file, built twice (each on its own cache)."""
    (bed.ctx / "fakecargofetch").write_text(FAKE_CARGO_FETCH)
    (bed.ctx / "fakecargofetch").chmod(0o755)
    (bed.ctx / "cratename").write_text(pkg())
    tag = uuid.uuid4().hex[:8]
    text = (
        f"FROM {bed.base} AS rustup\n"
        + "ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH\n"
        + "COPY fakecargofetch /usr/local/cargo/bin/cargo\nCOPY cratename /cratename\nWORKDIR /app\n"
        + f"FROM rustup AS flagged\nARG BUST\nRUN --mount=type=cache,id=reg-a-{tag},target=/root/.cargo/registry cargo fetch\n"
        + f"FROM rustup AS fixed\nARG BUST\nRUN --mount=type=cache,id=reg-b-{tag},target=/usr/local/cargo/registry cargo fetch\n"
        + "FROM scratch\nCOPY --from=flagged /app/crate-source /flagged\nCOPY --from=fixed /app/crate-source /fixed\n"
    )
    flagged_line = next(n for n, line in enumerate(text.splitlines(), 1) if "reg-a-" in line)
    findings = lint_text(text).findings
    assert [(f.line, f.code) for f in findings] == [(flagged_line, "CM004")]
    assert "/usr/local/cargo/registry" in findings[0].fix  # the fix is the fixed stage's mount
    first, second = bed.twice(text)
    assert (first / "flagged").read_text() == (first / "fixed").read_text() == "download\n"
    assert (second / "flagged").read_text() == "download\n"  # /root/.cargo/registry kept nothing
    assert (second / "fixed").read_text() == "cache\n"


def test_cm001_copy_out_with_an_unknown_path_part_reaches_the_image(bed: Bed) -> None:
    text = (
        _tools(bed)
        + "WORKDIR /src\nRUN echo x86_64-unknown-linux-musl > /triple\n"
        + "RUN --mount=type=cache,target=/root/.cargo/registry --mount=type=cache,target=target/ \\\n"
        + '    cargo build --release --target "$(cat /triple)" && cp "target/$(cat /triple)/release/app" /app\n'
    )
    assert lint_codes(text) == []
    out, _ = bed.build(text)
    assert (out / "app").read_text() == "binary\n"
    lost = text.replace('cp "target/$(cat /triple)/release/app" /app', "echo built")
    assert lint_codes(lost) == ["CM001"]
    out, _ = bed.build(lost)
    assert not (out / "src" / "target").exists() or not any((out / "src" / "target").iterdir())


@pytest.mark.parametrize(
    "step",
    [
        "pip install {p} || pip install --no-cache-dir {p}",  # a fallback that does not run
        'pip install {p} && if [ -n "$CI" ]; then rm -rf /root/.cache/pip/*; fi',  # a CI-only clean-up
    ],
)
def test_cm003_conditional_cleanups_keep_the_cache_when_they_do_not_run(bed: Bed, step: str) -> None:
    p = pkg()
    text = (
        bed.header() + "ARG BUST\n" + f"RUN --mount=type=cache,target=/root/.cache/pip {step.format(p=p)}\n"
    )
    assert lint_codes(text) == []
    _, second = bed.twice(text)
    assert source(second, "/usr/local/lib/site-packages", p) == "cache"


def test_cm003_rm_of_a_download_kept_in_the_mount_downloads_again(bed: Bed) -> None:
    head = _tools(bed) + "ARG BUST\n"
    get = "test -f /downloads/tool.tgz && echo cached > /how || { curl -o /downloads/tool.tgz https://example.invalid/tool.tgz && echo downloaded > /how; }"
    flagged = (
        head
        + f"RUN --mount=type=cache,target=/downloads {get} && cp /downloads/tool.tgz /tool && rm /downloads/tool.tgz\n"
    )
    assert lint_codes(flagged) == ["CM003"]
    _, second = bed.twice(flagged)
    assert (second / "how").read_text() == "downloaded\n"

    fixed = head + f"RUN --mount=type=cache,target=/downloads {get} && cp /downloads/tool.tgz /tool\n"
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert (second / "how").read_text() == "cached\n"


# FAKE_PNPM: an emulation of pnpm's store use (pnpm >= 7 defaults: --store-dir / npm_config_store_dir,
# $PNPM_HOME/store, $XDG_DATA_HOME/pnpm/store, ~/.local/share/pnpm/store); `install --offline` fails
# like ERR_PNPM_NO_OFFLINE_TARBALL when the store lacks the package.
FAKE_PNPM = r"""#!/bin/sh
set -e
cmd=$1; shift
store=${npm_config_store_dir:-${PNPM_HOME:+$PNPM_HOME/store}}
store=${store:-${XDG_DATA_HOME:-$HOME/.local/share}/pnpm/store}
offline=""
for a in "$@"; do [ "$a" = --offline ] && offline=1; done
pkg=$(cat /pkgname)
if [ -f "$store/$pkg" ]; then how="from store"
elif [ -n "$offline" ]; then echo "ERR_PNPM_NO_OFFLINE_TARBALL $pkg not in $store" >&2; exit 1
else how=downloaded; mkdir -p "$store"; echo tgz > "$store/$pkg"
fi
if [ "$cmd" = install ]; then mkdir -p "node_modules/$pkg"; echo "$how" > "node_modules/$pkg/HOW"; fi
"""


def _pnpm(bed: Bed) -> str:
    (bed.ctx / "fakepnpm").write_text(FAKE_PNPM)
    (bed.ctx / "fakepnpm").chmod(0o755)
    (bed.ctx / "pkgname").write_text(pkg())
    return bed.header() + "COPY fakepnpm /usr/local/bin/pnpm\nCOPY pkgname /pkgname\nWORKDIR /app\n"


def test_cm004_pnpm_7_store_is_not_dot_pnpm_store(bed: Bed) -> None:
    head = _pnpm(bed) + "ARG BUST\n"
    flagged = head + "RUN --mount=type=cache,target=/root/.pnpm-store pnpm install\n"
    assert lint_codes(flagged) == ["CM004"]
    _, second = bed.twice(flagged)
    name = (bed.ctx / "pkgname").read_text()
    assert (second / "app" / "node_modules" / name / "HOW").read_text() == "downloaded\n"

    fixed = head + "RUN --mount=type=cache,target=/root/.local/share/pnpm/store pnpm install\n"
    assert lint_codes(fixed) == []
    _, second = bed.twice(fixed)
    assert (second / "app" / "node_modules" / name / "HOW").read_text() == "from store\n"


def test_cm011_pnpm_fetch_then_offline_install_fails_on_a_fresh_builder(bed: Bed) -> None:
    stamp = bed.ctx / "stamp"
    head = _pnpm(bed) + "ENV PNPM_HOME=/pnpm\n"
    mount = "--mount=type=cache,id=pnpm,target=/pnpm/store"
    flagged = head + f"RUN {mount} pnpm fetch\nCOPY stamp /stamp\nRUN {mount} pnpm install --offline\n"
    fixed = head + f"COPY stamp /stamp\nRUN {mount} pnpm install --prefer-offline\n"
    assert lint_codes(flagged) == ["CM011"]
    assert lint_codes(fixed) == []
    for n, (text, works) in enumerate(((flagged, False), (fixed, True))):
        cache = bed.dir / f"pnpm-cache-{n}"
        stamp.write_text(uuid.uuid4().hex)
        bed.build(text, "--cache-to", f"type=local,dest={cache},mode=max")  # one builder: works
        bed.bed.prune()  # a fresh CI builder
        stamp.write_text(uuid.uuid4().hex)
        out, log = bed.build(text, "--cache-from", f"type=local,src={cache}", check=False)
        if works:
            name = (bed.ctx / "pkgname").read_text()
            assert (out / "app" / "node_modules" / name / "HOW").read_text() == "downloaded\n"
        else:
            assert "pnpm fetch" in log and "ERR_PNPM_NO_OFFLINE_TARBALL" in log
            assert any("pnpm fetch" in s["vertex"] and s["status"] == "CACHED" for s in parse_steps(log))


def test_cm004_with_the_base_images_env_resolved_from_the_registry(bed: Bed) -> None:
    """A base image that sets GOPATH=/work (pushed to the bed's registry): BuildKit expands
    `ENV GOMODCACHE=$GOPATH/pkg/mod` with it. Unresolved, lint claims nothing; with the image's config
    fetched (the `--resolve-base` path) it finds that the /go/pkg/mod mount misses, as the build shows."""
    from cacheinspect.lint.images import fetch_configs, lookup
    from cacheinspect.registry.options import RegistryOptions

    _tools(bed)
    base_ref = bed.bed.ref(bed.bed.unique_repo("lint-gobase"), "1")
    (bed.dir / "Dockerfile.base").write_text(f"FROM {bed.base}\nENV GOPATH=/work\n")
    bed.bed.build(bed.ctx, "-f", str(bed.dir / "Dockerfile.base"), "-t", base_ref, "--push")
    key = uuid.uuid4().hex[:10]
    head = (
        f"FROM {base_ref} AS build\nCOPY fakego /usr/local/bin/go\nENV GOMODCACHE=$GOPATH/pkg/mod\nARG BUST\n"
    )
    flagged = head + f"RUN --mount=type=cache,target=/go/pkg/mod go mod download {key} > /result\n"
    fixed = head + f"RUN --mount=type=cache,target=/work/pkg/mod go mod download {key} > /result\n"
    bases = lookup(fetch_configs([base_ref], RegistryOptions()))

    def resolved(text: str) -> list[str]:
        return [f.code for f in lint_text(text, base_config=bases).findings]

    assert lint_codes(flagged) == []  # the image is unknown: nothing is guessed
    assert resolved(flagged) == ["CM004"]
    _, second = bed.twice(flagged)
    assert (second / "result").read_text() == "downloaded\n"
    assert resolved(fixed) == []
    _, second = bed.twice(fixed)
    assert (second / "result").read_text() == "cache hit\n"


FAKE_APT_GET = r"""#!/bin/sh
# An emulation of apt-get's use of its package lists (Dir::State::lists = /var/lib/apt/lists,
# apt.conf(5)): `update` writes them, `install` resolves packages from them only and fails with
# apt-get's message when they are missing. Nothing is downloaded.
set -e
lists=/var/lib/apt/lists
cmd=$1; shift
case $cmd in
  update) mkdir -p "$lists" && echo "Package: tool" > "$lists/index_Packages";;
  install)
    for p in "$@"; do
      case $p in -*) continue;; esac
      if ! grep -q "Package: $p" "$lists/index_Packages" 2>/dev/null; then
        echo "E: Unable to locate package $p" >&2; exit 100
      fi
      echo "installed $p" > "/installed-$p"
    done;;
esac
"""


def test_cm011_apt_install_on_lists_an_earlier_run_left_in_the_mount(bed: Bed) -> None:
    """mastodon/mastodon's pattern: `apt-get update` in one RUN with /var/lib/apt cache-mounted,
    `apt-get install` alone in a later RUN on the same mount. On a fresh builder with the exported
    cache, the update RUN is a cache hit (not run), a COPY between them changed, so the install runs
    on an empty mount. BuildKit's part (which RUN runs, what the mount holds) is real; apt-get is the
    emulation above."""
    (bed.ctx / "fakeapt").write_text(FAKE_APT_GET)
    (bed.ctx / "fakeapt").chmod(0o755)
    stamp = bed.ctx / "stamp"
    head = bed.header() + "COPY fakeapt /usr/bin/apt-get\n"
    mount = "--mount=type=cache,target=/var/lib/apt,sharing=locked"
    flagged = (
        head
        + f"RUN {mount} apt-get update\n"
        + "COPY stamp /stamp\n"
        + f"RUN {mount} apt-get install -y tool\n"
    )
    fixed = flagged.replace("apt-get install", "apt-get update && apt-get install")
    assert lint_codes(flagged) == ["CM011"]
    assert lint_codes(fixed) == []
    for n, (text, works) in enumerate(((flagged, False), (fixed, True))):
        cache = bed.dir / f"aptcache-{n}"
        stamp.write_text(uuid.uuid4().hex)
        out, _ = bed.build(text, "--cache-to", f"type=local,dest={cache},mode=max")
        assert (out / "installed-tool").read_text() == "installed tool\n"  # one builder: works either way
        bed.bed.prune()  # a fresh builder: no layers, no cache mounts
        stamp.write_text(uuid.uuid4().hex)  # invalidates the install RUN only
        out, log = bed.build(text, "--cache-from", f"type=local,src={cache}", check=False)
        steps = parse_steps(log)
        assert any(s["vertex"].endswith("apt-get update") and s["status"] == "CACHED" for s in steps), log
        if works:
            assert (out / "installed-tool").read_text() == "installed tool\n"
        else:
            assert "E: Unable to locate package tool" in log


# FAKE_NPM: an emulation of npm's cache location (npm docs, config `cache`: default ~/.npm; `npm set`
# is `npm config set`, which writes KEY=VALUE to the user config ~/.npmrc; npm_config_cache overrides).
# `npm ci` keeps tarballs in <cache>/_cacache and records whether the package came from there.
FAKE_NPM = r"""#!/bin/sh
set -e
mkdir -p "$HOME"  # the busybox base has no /root; the node images do
case $1 in
  config) shift; [ "$1" = set ] && shift && echo "$1=$2" >> "$HOME/.npmrc"; exit 0;;
  set) echo "$2=$3" >> "$HOME/.npmrc"; exit 0;;
esac
cache=${npm_config_cache:-$(sed -n 's/^cache=//p' "$HOME/.npmrc" 2>/dev/null | tail -1)}
cache=${cache:-$HOME/.npm}
p=$(cat /pkgname)
if [ -f "$cache/_cacache/$p" ]; then how=cache; else how=download; mkdir -p "$cache/_cacache"; echo tgz > "$cache/_cacache/$p"; fi
mkdir -p "node_modules/$p" && echo "$how" > "node_modules/$p/HOW"
"""


def test_cm004_npm_set_cache_moves_the_cache_to_the_mount(bed: Bed) -> None:
    """`npm set cache DIR` is `npm config set cache DIR` (issue 18: it was not read as one, and the mount at
    DIR was reported as missing npm's cache). Quiet now, and the build shows the mount at DIR is used."""
    (bed.ctx / "fakenpm").write_text(FAKE_NPM)
    (bed.ctx / "fakenpm").chmod(0o755)
    (bed.ctx / "pkgname").write_text(pkg())
    text = (
        bed.header()
        + "COPY fakenpm /usr/local/bin/npm\nCOPY pkgname /pkgname\nWORKDIR /app\n"
        + "RUN npm set cache /app/.npm\nARG BUST\n"
        + "RUN --mount=type=cache,target=/app/.npm npm ci\n"
    )
    assert lint_codes(text) == []
    first, second = bed.twice(text)
    name = (bed.ctx / "pkgname").read_text()
    assert (first / "app" / "node_modules" / name / "HOW").read_text() == "download\n"
    assert (second / "app" / "node_modules" / name / "HOW").read_text() == "cache\n"
    assert not (second / "root" / ".npm").exists()  # npm did not use the default


# --- CM005: the package manager empties the cache mount (issue 18: base image, zypper, apk) ---------
#
# Stand-in distributions: busybox with each package manager's cache behaviour emulated in sh (named
# emulations, not the tools; nothing is downloaded). What the cache mount keeps from one build to the
# next is BuildKit's, and real.

#: /etc/apt/apt.conf.d/docker-clean as the Debian and Ubuntu images ship it: the hook lines written by
#: debuerreotype's scripts/debuerreotype-minimizing-config (after moby's contrib/mkimage/debootstrap).
DOCKER_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };

Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""

FAKE_APT_ARCHIVES = r"""#!/bin/sh
# An emulation of apt-get/apt install's package cache (Dir::Cache::archives = /var/cache/apt/archives,
# apt.conf(5)): a .deb already there is used, else it is "downloaded" into partial/ and moved there.
# As apt does after dpkg, it runs every DPkg::Post-Invoke command of /etc/apt/apt.conf.d through sh
# (Debian's docker-clean puts its rm there). Run as `apt`, it removes what it downloaded unless
# Binary::apt::APT::Keep-Downloaded-Packages is "true" (apt >= 1.2: the apt binary defaults it to
# false, apt-get to true). Records in /installed-PKG whether PKG came from the cache.
set -e
arch=/var/cache/apt/archives
conf=/etc/apt/apt.conf.d
cmd=$1; shift
[ "$cmd" = install ] || exit 0
keep=true
if [ "$(basename "$0")" = apt ]; then
  keep=false
  if cat "$conf"/* 2>/dev/null | grep -q 'Keep-Downloaded-Packages "true"'; then keep=true; fi
fi
mkdir -p "$arch/partial"
fetched=""
for p in "$@"; do
  case $p in -*) continue;; esac
  deb="$arch/${p}_1.0_all.deb"
  if [ -f "$deb" ]; then src=cache; else
    src=download; echo "Get:1 http://deb.debian.org/debian stable/main $p all 1.0"
    echo deb > "$arch/partial/${p}_1.0_all.deb" && mv "$arch/partial/${p}_1.0_all.deb" "$deb"
    fetched="$fetched $deb"
  fi
  echo "$src" > "/installed-$p"; echo "Setting up $p (1.0) ... ($src)"
done
[ "$keep" = true ] || rm -f $fetched
for f in "$conf"/*; do
  [ -f "$f" ] && sed -n 's/^DPkg::Post-Invoke { "\(.*\)"; };$/\1/p' "$f"
done | while read -r hook; do sh -c "$hook"; done
"""

FAKE_ZYPPER = r"""#!/bin/sh
# An emulation of zypper's package cache (zypper(8)): packages go to /var/cache/zypp/packages/REPO and
# are deleted after the install when the repository has keeppackages=0 (the default in the .repo
# file); `modifyrepo --all --keep-packages` sets keeppackages=1; `clean` removes the cached packages.
# Metadata (raw/) is kept either way. Records in /installed-PKG whether PKG came from the cache.
set -e
repo=/etc/zypp/repos.d/repo-oss.repo
pkgs=/var/cache/zypp/packages/repo-oss
cmd=$1; shift
case $cmd in
  modifyrepo|mr)
    for a in "$@"; do case $a in --keep-packages|-k) sed -i 's/^keeppackages=0$/keeppackages=1/' "$repo";; esac; done;;
  clean|cc) rm -rf /var/cache/zypp/packages/*;;
  install|in)
    mkdir -p /var/cache/zypp/raw/repo-oss "$pkgs" && echo metadata > /var/cache/zypp/raw/repo-oss/repomd.xml
    keep=$(sed -n 's/^keeppackages=//p' "$repo")
    for p in "$@"; do
      case $p in -*) continue;; esac
      if [ -f "$pkgs/$p.rpm" ]; then src=cache; else src=download; echo "Retrieving: $p-1.0.noarch"; echo rpm > "$pkgs/$p.rpm"; fi
      echo "$src" > "/installed-$p"
      [ "$keep" = 1 ] || rm -f "$pkgs/$p.rpm"
    done;;
esac
"""

FAKE_APK = r"""#!/bin/sh
# An emulation of apk-tools' cache (Alpine wiki, "Local APK cache"): `apk add` keeps the index in
# /var/cache/apk, and keeps (and reuses) package files only when /etc/apk/cache exists, a directory
# or a link to one. Records in /installed-PKG whether PKG came from the cache.
set -e
cmd=$1; shift
[ "$cmd" = add ] || exit 0
mkdir -p /var/cache/apk && echo index > /var/cache/apk/APKINDEX.00000000.tar.gz
for p in "$@"; do
  case $p in -*) continue;; esac
  if [ -d /etc/apk/cache ] && [ -f "/etc/apk/cache/$p-1.0-r0.apk" ]; then src=cache; else
    src=download; echo "fetch $p-1.0-r0.apk"
    if [ -d /etc/apk/cache ]; then echo apk > "/etc/apk/cache/$p-1.0-r0.apk"; fi
  fi
  echo "$src" > "/installed-$p"
done
"""

#: run by one stand-in Debian stage: a setup script of the kind real Dockerfiles run (the linter cannot
#: read it), which removes docker-clean
SETUP_APT = "#!/bin/sh\nrm -f /etc/apt/apt.conf.d/docker-clean\n"


def _distros(bed: Bed) -> str:
    """Stand-in Debian, openSUSE and Alpine roots in the context; returns their stages."""
    files = {
        "debian-root/etc/apt/apt.conf.d/docker-clean": DOCKER_CLEAN,
        "debian-root/usr/bin/apt-get": FAKE_APT_ARCHIVES,
        "debian-root/usr/local/share/setup-apt.sh": SETUP_APT,
        "suse-root/usr/bin/zypper": FAKE_ZYPPER,
        "suse-root/etc/zypp/repos.d/repo-oss.repo": "[repo-oss]\nname=Main Repository\nenabled=1\nautorefresh=1\nbaseurl=http://download.opensuse.org/distribution/leap/15.6/repo/oss/\nkeeppackages=0\n",
        "alpine-root/sbin/apk": FAKE_APK,
        "alpine-root/etc/apk/repositories": "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\n",
    }
    for name, text in files.items():
        path = bed.ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if "bin/" in name else 0o644)
    (bed.ctx / "debian-root/usr/bin/apt").symlink_to("apt-get")
    return (
        f"FROM {bed.base} AS debian\nCOPY debian-root/ /\n"
        f"FROM {bed.base} AS opensuse\nCOPY suse-root/ /\n"
        f"FROM {bed.base} AS alpine\nCOPY alpine-root/ /\n"
    )


def test_cm005_package_managers_empty_the_mount_unless_told_to_keep(bed: Bed) -> None:
    """One build of many stages, each a form of CM005 on its own cache (own id), built twice (the second
    re-runs every install with the first build's cache mounts): a flagged form downloads again, a quiet
    one installs from the cache. Also issue 18's cases: a base image whose history removed docker-clean
    (pushed to the bed's registry; flagged only while the base is unknown), a setup script the linter
    cannot read (a note, no finding), `zypper clean` after the install (CM003), and one finding for a
    line with two installs."""
    stages = _distros(bed)
    slim_ref = bed.bed.ref(bed.bed.unique_repo("lint-debian-slim"), "1")
    (bed.dir / "Dockerfile.slim").write_text(
        f"FROM {bed.base}\nCOPY debian-root/ /\nRUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
    )
    bed.bed.build(bed.ctx, "-f", str(bed.dir / "Dockerfile.slim"), "-t", slim_ref, "--push")
    tag = uuid.uuid4().hex[:8]
    keep_conf = "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache"
    mounts = {  # each form its own cache (id), at the directory its package manager uses
        "debian": "--mount=type=cache,id={id},target=/var/cache/apt,sharing=locked",
        "opensuse": "--mount=type=cache,id={id},target=/var/cache/zypp",
        "alpine": "--mount=type=cache,id={id},target=/var/cache/apk",
    }
    # (form, FROM, steps before the install, the install RUN's command, lint codes, kept by the mount)
    forms = [
        ("apt_get", "debian", "", "apt-get install -y {p} && apt-get install -y {p}-doc", ["CM005"], False),
        (
            "apt_get_fixed",
            "debian",
            "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n",
            "apt-get install -y {p}",
            [],
            True,
        ),
        (
            "apt_get_script",
            "debian",
            "RUN sh /usr/local/share/setup-apt.sh\n",
            "apt-get install -y {p}",
            [],
            True,
        ),
        ("apt_get_base_removed", slim_ref, "", "apt-get install -y {p}", [], True),
        (
            "apt",
            "debian",
            "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n",
            "apt install -y {p}",
            ["CM005"],
            False,
        ),
        (
            "apt_fixed",
            "debian",
            f"RUN rm -f /etc/apt/apt.conf.d/docker-clean && {keep_conf}\n",
            "apt install -y {p}",
            [],
            True,
        ),
        ("zypper", "opensuse", "", "zypper install -y {p}", ["CM005"], False),
        (
            "zypper_fixed",
            "opensuse",
            "RUN zypper modifyrepo --all --keep-packages\n",
            "zypper install -y {p}",
            [],
            True,
        ),
        (
            "zypper_clean",
            "opensuse",
            "RUN zypper modifyrepo --all --keep-packages\n",
            "zypper install -y {p} && zypper clean",
            ["CM003"],
            False,
        ),
        ("apk", "alpine", "", "apk add {p}", ["CM005"], False),
        ("apk_fixed", "alpine", "", "ln -s /var/cache/apk /etc/apk/cache && apk add {p}", [], True),
    ]
    text = stages
    final = "FROM scratch\n"
    expected: dict[int, list[str]] = {}
    for form, base, setup, step, codes, _kept in forms:
        p = pkg()
        mount = mounts.get(base, mounts["debian"]).format(id=f"cm005-{form}-{tag}")
        text += f"FROM {base} AS {form}\n{setup}ARG BUST\n"
        expected[text.count("\n") + 1] = codes
        text += f"RUN {mount} {step.format(p=p)}\n"
        final += f"COPY --from={form} /installed-{p} /{form}\n"
    text += final

    def verdicts(result: FileResult) -> dict[int, list[str]]:
        got: dict[int, list[str]] = {line: [] for line in expected}
        for f in result.findings:
            got.setdefault(f.line, []).append(f.code)
        return got

    from cacheinspect.lint.images import fetch_configs, lookup
    from cacheinspect.registry.options import RegistryOptions

    resolved = lint_text(text, base_config=lookup(fetch_configs([slim_ref], RegistryOptions())))
    assert verdicts(resolved) == expected
    script_line = next(n for n, (f, *_r) in zip(expected, forms, strict=True) if f == "apt_get_script")
    assert any(s.startswith(f"line {script_line}: CM005 not checked") for s in resolved.skipped), (
        resolved.skipped
    )
    # unresolved, the base that removed docker-clean is just an unknown image: CM005 stays on
    base_removed_line = next(
        n for n, (f, *_r) in zip(expected, forms, strict=True) if f == "apt_get_base_removed"
    )
    assert verdicts(lint_text(text)) == {**expected, base_removed_line: ["CM005"]}

    first, second = bed.twice(text)
    verdict = verdicts(resolved)
    for line, (form, *_rest, kept) in zip(expected, forms, strict=True):
        assert (first / form).read_text() == "download\n", form
        assert (second / form).read_text() == ("cache\n" if kept else "download\n"), form
        # the verdict equals what the build did: a finding exactly where the mount kept nothing
        assert bool(verdict[line]) == (not kept), (form, verdict[line])


# --- CM006: two apt stages at once on one unlocked cache --------------------------------------------

FAKE_APT_LOCK = r"""#!/bin/sh
# An emulation of apt-get install's lock on its package cache: apt takes /var/cache/apt/archives/lock
# without waiting (fcntl F_SETLK, apt-pkg/contrib/fileutl.cc GetLock) and, when another process holds
# it, fails: "E: Could not get lock /var/cache/apt/archives/lock. It is held by process …",
# "E: Unable to lock directory /var/cache/apt/archives/". busybox has no flock, so the lock here is
# the directory lock.d, taken with mkdir (atomic: of two at once exactly one gets it), released on
# exit. Every apt-get that tries the lock leaves tried-PKG in the cache. The holder's "download" lasts
# until two apt-gets have tried this cache's lock (at most 10 s): so a second apt-get that BuildKit
# runs at the same time on the same directory finds the lock held. /record-PKG lists the apt-gets
# that had tried this cache before this one got its lock.
set -e
arch=/var/cache/apt/archives
mkdir -p "$arch"
p=$3
if mkdir "$arch/lock.d" 2>/dev/null; then
  trap 'rmdir "$arch/lock.d"' EXIT
  (cd "$arch" && ls -d tried-* 2>/dev/null || true) > "/record-$p"
  touch "$arch/tried-$p"
  i=0
  while [ "$(ls "$arch" | grep -c '^tried-' || true)" -lt 2 ] && [ "$i" -lt 10 ]; do sleep 1; i=$((i + 1)); done
  echo "Setting up $p (1.0) ..."
else
  touch "$arch/tried-$p"
  echo "E: Could not get lock $arch/lock. It is held by process 1 (apt-get)" >&2
  echo "E: Unable to lock directory $arch/" >&2
  exit 100
fi
"""


def _apt_lock(bed: Bed) -> str:
    (bed.ctx / "fakeaptlock").write_text(FAKE_APT_LOCK)
    (bed.ctx / "fakeaptlock").chmod(0o755)
    # the CM005 fix as real Dockerfiles have it (a no-op on this stand-in, which has no docker-clean)
    return (
        f"FROM {bed.base} AS debian\nCOPY fakeaptlock /usr/bin/apt-get\n"
        "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n"
    )


def test_cm006_two_stages_at_once_collide_on_an_unlocked_apt_cache(bed: Bed) -> None:
    """Warning: two stages that depend on nothing of each other each run apt-get on the same cache
    mount with sharing=shared (the default). BuildKit runs them at once on the same directory: the
    second apt-get finds the first one's lock held and the build fails, as real apt does. The fix the
    finding names (sharing=locked) makes BuildKit run them one after the other on that cache; two
    stages where one builds on the other cannot run at once (CM006 is info there) and do not collide."""
    head = _apt_lock(bed)
    tag = uuid.uuid4().hex[:8]
    shared = f"--mount=type=cache,id=apt-shared-{tag},target=/var/cache/apt"
    x, y = pkg(), pkg()
    flagged = (
        head
        + f"FROM debian AS one\nRUN {shared} apt-get install -y {x}\n"
        + f"FROM debian AS two\nRUN {shared} apt-get install -y {y}\n"
        + f"FROM scratch\nCOPY --from=one /record-{x} /one\nCOPY --from=two /record-{y} /two\n"
    )
    result = lint_text(flagged)
    assert [(f.code, f.severity.name) for f in result.findings] == [("CM006", "warning")] * 2
    _, log = bed.build(flagged, check=False)
    assert "E: Could not get lock /var/cache/apt/archives/lock" in log, log[-3000:]
    assert "exit code: 100" in log

    # other packages than above: BuildKit leaves a cache mount's id and sharing out of a RUN's cache key
    # when they are not the defaults (solver/llbsolver/ops/exec.go, checkShouldClearCacheOpts), so the
    # same RUN with sharing=locked would be a cache hit of the flagged build's RUN that got the lock
    a, b, c, d = pkg(), pkg(), pkg(), pkg()
    locked = f"--mount=type=cache,id=apt-locked-{tag},target=/var/cache/apt,sharing=locked"
    serial = f"--mount=type=cache,id=apt-serial-{tag},target=/var/cache/apt"
    fixed = (
        head
        + f"FROM debian AS one\nRUN {locked} apt-get install -y {a}\n"
        + f"FROM debian AS two\nRUN {locked} apt-get install -y {b}\n"
        + f"FROM debian AS three\nRUN {serial} apt-get install -y {c}\n"
        + f"FROM three AS four\nRUN {serial} apt-get install -y {d}\n"
        + "FROM scratch\n"
        + f"COPY --from=one /record-{a} /one\nCOPY --from=two /record-{b} /two\n"
        + f"COPY --from=four /record-{c} /three\nCOPY --from=four /record-{d} /four\n"
    )
    result = lint_text(fixed)
    serial_lines = [n for n, line in enumerate(fixed.splitlines(), 1) if serial in line]
    assert [(f.line, f.code, f.severity.name) for f in result.findings] == [
        (n, "CM006", "info") for n in serial_lines
    ]
    out, log = bed.build(fixed)
    assert "Could not get lock" not in log
    installs = [s for s in parse_steps(log) if "apt-get install" in s["vertex"]]
    assert len(installs) == 4 and all(s["status"] == "RAN" for s in installs), installs
    # one after the other on one directory: exactly one of each pair saw the other's try before its own
    records = {name: (out / name).read_text().split() for name in ("one", "two", "three", "four")}
    other = {"one": f"tried-{b}", "two": f"tried-{a}"}  # what each of the locked pair may have seen
    assert sorted(len(records[n]) for n in other) == [0, 1], records
    assert all(records[n] in ([], [other[n]]) for n in other), records
    assert records["three"] == [] and records["four"] == [f"tried-{c}"], records
