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

from cacheinspect.lint.engine import lint_text

from .conftest import Testbed

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
    assert lint_codes(flagged) == ["CM008"]
    out, _ = bed.build(flagged)
    assert (out / "seen").read_text() == "missing\n"

    fixed = flagged.replace("target=/c sh", f"target=/c,{other} sh")
    assert lint_codes(fixed) == []
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
