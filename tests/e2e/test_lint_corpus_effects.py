"""End-to-end: the rule changes the classified corpus (issue 18, ``tests/lint/corpus``) led to, each shown
by real BuildKit on both engines next to the lint verdict.

- **CM006 per RUN**: a stage that mounts a cache and only *later* copies from another stage runs that
  RUN at the same time as the other stage's RUN (BuildKit schedules the LLB graph, not stages); two
  unlocked mounts of one cache are then used at once inside one build (a warning), and
  ``sharing=locked``, the fix the rule gives, makes BuildKit run them one after the other.
- **CM007 only for a mount something writes**: a root-owned mount the RUN's user never writes has no
  effect (the tool caches elsewhere and works); the same mount where the tool writes turns its cache off.
- **CM001 and poetry's active virtualenv**: without ``$VIRTUAL_ENV`` poetry puts the project's virtualenv
  under ``{cache-dir}/virtualenvs``, inside a ``/root/.cache/pypoetry`` mount, so the image gets nothing;
  with ``ENV VIRTUAL_ENV=/opt/venv`` it installs into /opt/venv, in the image (no CM001).

Concurrency is shown with a two-phase rendezvous in the shared cache directory, never with a clock: each
RUN announces itself (phase 1), waits for the other's announcement, announces phase 2 and waits for the
other's phase 2. Both reach "together" only when both RUNs are inside the mount at the same time; a RUN
that runs alone gives up after a bound and says "alone" (the bound only ends the wait, nothing asserts
on elapsed time). A stale phase-1 marker of an earlier RUN cannot fake it: phase 2 is never written by a
RUN that ran alone.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.rules import Severity

from .conftest import Testbed
from .test_lint_effects import FAKE_APK, FAKE_GO, FAKE_ZYPPER

pytestmark = pytest.mark.e2e

# one side of the rendezvous: $1 me, $2 the other, $3 where to write the verdict; up to 60 polls per phase.
# $4 is a token unique per build: BuildKit leaves a cache mount's id and sharing out of a RUN's cache key
# (solver/llbsolver/ops/exec.go, CacheMap clears CacheOpt.ID/Sharing unless the id is the default), so
# without it a RUN identical but for its mount id would be a cache hit of an earlier build
RENDEZVOUS = r"""#!/bin/sh
d=/var/cache/apt/rv; mkdir -p "$d"; me=$1; other=$2; out=$3
wait_for() { i=0; while [ ! -e "$d/$1" ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; [ -e "$d/$1" ]; }
touch "$d/$me.1"
if wait_for "$other.1"; then
  touch "$d/$me.2"
  if wait_for "$other.2"; then echo together > "$out"; exit 0; fi
fi
echo alone > "$out"
"""

ADD_APP_USER = (
    "RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && mkdir -p /home/app "
    "&& busybox chown 1000:1000 /home/app\n"
)

# a pip stand-in (the same contract as FAKE_PIP in test_lint_effects.py): cache in
# ${XDG_CACHE_HOME:-$HOME/.cache}/pip, turned off with pip's warning when that is not writable
FAKE_PIP = r"""#!/bin/sh
set -e
cmd=$1; shift
target=/usr/local/lib/site-packages
cache=${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pip}
pkgs=""
while [ $# -gt 0 ]; do
  case $1 in
    --target=*) target=${1#--target=};;
    *) pkgs="$pkgs $1";;
  esac
  shift
done
nocache=""
if ! mkdir -p "$cache" 2>/dev/null || ! [ -w "$cache" ]; then
  echo "WARNING: The directory '$cache' is not owned or is not writable by the current user. The cache has been disabled." >&2
  nocache=1
fi
mkdir -p "$target"
for p in $pkgs; do
  if [ -z "$nocache" ] && [ -f "$cache/$p.whl" ]; then src=cache; else src=download; fi
  if [ -z "$nocache" ] && [ "$src" = download ]; then echo "$p wheel" > "$cache/$p.whl"; fi
  mkdir -p "$target/$p"; echo "$src" > "$target/$p/SOURCE"
done
"""


# A poetry stand-in (named emulation, not poetry): `poetry install` installs every `name = "..."` of
# ./poetry.lock into the environment poetry's EnvManager.get() picks (python-poetry/poetry
# src/poetry/utils/env/env_manager.py; docs/managing-environments.md: "it will first check if it's
# currently running inside a virtual environment. If it is, it will use it directly"): $VIRTUAL_ENV, else a
# non-base $CONDA_PREFIX, else a virtualenv under virtualenvs.path, whose default is {cache-dir}/virtualenvs
# with cache-dir ${POETRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pypoetry} (docs/configuration.md).
# The virtualenv's name is simplified (poetry adds a hash of the project path).
FAKE_POETRY = r"""#!/bin/sh
set -e
[ "$1" = install ] || { echo "poetry stand-in: only 'install'" >&2; exit 2; }
if [ -n "$VIRTUAL_ENV" ]; then env=$VIRTUAL_ENV
elif [ -n "$CONDA_PREFIX" ] && [ "$CONDA_DEFAULT_ENV" != base ]; then env=$CONDA_PREFIX
else
  cache=${POETRY_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/pypoetry}
  env=${POETRY_VIRTUALENVS_PATH:-$cache/virtualenvs}/project-py3
fi
echo "Installing dependencies from lock file into $env"
for p in $(sed -n 's/^name = "\(.*\)"$/\1/p' poetry.lock); do
  mkdir -p "$env/lib/site-packages/$p"; echo installed > "$env/lib/site-packages/$p/INSTALLED"
done
"""


class Bed:
    def __init__(self, testbed: Testbed, tmp_path: Path) -> None:
        self.bed = testbed
        self.dir = tmp_path
        self.ctx = tmp_path / "ctx"
        self.ctx.mkdir()
        for name, body in (("rendezvous", RENDEZVOUS), ("fakepip", FAKE_PIP), ("fakepoetry", FAKE_POETRY)):
            (self.ctx / name).write_text(body)
            (self.ctx / name).chmod(0o755)
        self.base = testbed.env["TESTBED_BASE_IMAGE"]
        self.n = 0

    def twice(self, text: str) -> tuple[Path, Path]:
        """Two builds of *text*; the second re-runs every step after ``ARG BUST`` with the first's mounts."""
        first, _ = self.build(text, "--build-arg", "BUST=1")
        second, _ = self.build(text, "--build-arg", "BUST=2")
        return first, second

    def build(self, text: str, *args: str) -> tuple[Path, str]:
        self.n += 1
        df = self.dir / f"Dockerfile.{self.n}"
        df.write_text(text)
        out = self.dir / f"out.{self.n}"
        log = self.bed.build(self.ctx, "-f", str(df), "--output", f"type=local,dest={out}", *args)
        return out, log


@pytest.fixture
def bed(testbed: Testbed, tmp_path: Path) -> Bed:
    return Bed(testbed, tmp_path)


def cm006(text: str) -> list[str]:
    return [str(f.severity) for f in lint_text(text, filename="Dockerfile").findings if f.code == "CM006"]


# --- CM006: an apt RUN before COPY --from runs at once with the stage it copies from ---------------


def two_stages(base: str, cid: str, sharing: str) -> str:
    mount = f"--mount=type=cache,id={cid},target=/var/cache/apt{sharing}"
    return (
        f"FROM {base} AS build\nCOPY rendezvous /usr/local/bin/\n"
        f"RUN {mount} rendezvous build final /seen-by-build {cid}\n"
        f"FROM {base}\nCOPY rendezvous /usr/local/bin/\n"
        f"RUN {mount} rendezvous final build /seen-by-final {cid}\n"
        "COPY --from=build /seen-by-build /seen-by-build\n"
    )


def test_cm006_a_final_stage_uses_the_apt_cache_while_the_build_stage_does(bed: Bed) -> None:
    cid = f"apt-{uuid.uuid4().hex[:10]}"
    flagged = two_stages(bed.base, cid, "")
    assert cm006(flagged) == [str(Severity.warning)] * 2
    out, _ = bed.build(flagged)
    # both RUNs were inside the same (shared) cache directory at the same time
    assert (out / "seen-by-build").read_text().strip() == "together"
    assert (out / "seen-by-final").read_text().strip() == "together"

    fixed = two_stages(bed.base, f"{cid}-locked", ",sharing=locked")
    assert cm006(fixed) == []
    out, _ = bed.build(fixed)
    # locked: BuildKit hands the cache to one RUN at a time, neither ever meets the other
    assert (out / "seen-by-build").read_text().strip() == "alone"
    assert (out / "seen-by-final").read_text().strip() == "alone"


def test_cm006_stays_info_when_the_copy_from_comes_first(bed: Bed) -> None:
    # COPY --from=build before the RUN: the final stage's RUN waits for the whole build stage
    cid = f"apt-{uuid.uuid4().hex[:10]}"
    text = two_stages(bed.base, cid, "")
    text = text.replace("COPY --from=build /seen-by-build /seen-by-build\n", "").replace(
        f"FROM {bed.base}\nCOPY rendezvous /usr/local/bin/\n",
        f"FROM {bed.base}\nCOPY rendezvous /usr/local/bin/\nCOPY --from=build /seen-by-build /seen-by-build\n",
    )
    assert cm006(text) == [str(Severity.info)] * 2
    out, _ = bed.build(text)
    assert (out / "seen-by-build").read_text().strip() == "alone"
    assert (out / "seen-by-final").read_text().strip() == "alone"


# --- CM007: a root-owned mount matters only where the RUN writes ---------------------------------


def test_cm007_a_root_owned_mount_nobody_writes_has_no_effect(bed: Bed) -> None:
    p = f"pkg{uuid.uuid4().hex[:10]}"
    setup = f"FROM {bed.base} AS build\nCOPY fakepip /usr/local/bin/pip\n" + ADD_APP_USER + "USER app\n"
    # the shape of the /home/node/.npm-backend false alarm: the mount is beside the tool's cache
    quiet = (
        setup
        + f"RUN --mount=type=cache,target=/home/app/.cache-other pip install --target=/home/app/lib {p}\n"
    )
    assert "CM007" not in [f.code for f in lint_text(quiet).findings]
    out, log = bed.build(quiet)
    assert "is not writable" not in log
    assert (out / "home/app/lib" / p / "SOURCE").read_text().strip() == "download"
    assert (out / "home/app/.cache/pip" / f"{p}.whl").is_file()  # the tool cached where it always does

    # the same mount where the tool writes: root-owned 0755, uid 1000 cannot write, the cache is off
    flagged = (
        setup
        + f"RUN --mount=type=cache,target=/home/app/.cache/pip pip install --target=/home/app/lib {p}x\n"
    )
    assert "CM007" in [f.code for f in lint_text(flagged).findings]
    _, log = bed.build(flagged)
    assert "is not owned or is not writable by the current user" in log


# --- CM001: poetry installs into an active $VIRTUAL_ENV, else into {cache-dir}/virtualenvs ------------


def test_cm001_poetry_without_virtual_env_installs_into_the_cache_mount(bed: Bed) -> None:
    pkg = f"pkg{uuid.uuid4().hex[:10]}"
    (bed.ctx / "poetry.lock").write_text(f'[[package]]\nname = "{pkg}"\nversion = "1.0"\n')
    mount = "--mount=type=cache,target=/root/.cache/pypoetry"
    head = f"FROM {bed.base}\nCOPY fakepoetry /usr/local/bin/poetry\nWORKDIR /src\nCOPY poetry.lock ./\n"

    # no VIRTUAL_ENV: the virtualenv defaults to {cache-dir}/virtualenvs, inside the mount; a second RUN
    # with the same mount lists the cache into the image to show where the package went
    flagged = (
        head
        + f"RUN {mount} poetry install --only main\n"
        + f"RUN {mount} find /root/.cache/pypoetry/virtualenvs -name INSTALLED > /in-cache\n"
    )
    assert "CM001" in [f.code for f in lint_text(flagged).findings]
    out, _ = bed.build(flagged)
    assert f"virtualenvs/project-py3/lib/site-packages/{pkg}/INSTALLED" in (out / "in-cache").read_text()
    assert not list(out.rglob(pkg))  # nothing of the package in the image

    # ENV VIRTUAL_ENV=/opt/venv (as `python -m venv /opt/venv` + activation leaves it): poetry installs
    # there, in the image, whatever the cache mount; the linter gives no CM001
    fixed = head + f"ENV VIRTUAL_ENV=/opt/venv\nRUN {mount} poetry install --only main\n"
    assert "CM001" not in [f.code for f in lint_text(fixed).findings]
    out, _ = bed.build(fixed)
    assert (out / "opt/venv/lib/site-packages" / pkg / "INSTALLED").read_text().strip() == "installed"


# --- CM001: `cargo auditable install` installs into --root/bin; its --target-dir is scratch -------------

# A cargo stand-in (named emulation, not cargo): `cargo build` leaves the build in
# ${--target-dir:-${CARGO_TARGET_DIR:-./target}}/release (the cargo book, "Build cache"); `cargo install
# CRATE` builds in that target dir (when given; else a temporary one) and copies the binary to
# <root>/bin, root being --root, $CARGO_INSTALL_ROOT or $CARGO_HOME (the cargo book, "cargo install":
# "--root dir: Directory to install packages into"). `cargo auditable SUB …` is cargo-auditable
# (rust-secure-code/cargo-auditable, README: "cargo auditable build --release", "cargo auditable install"):
# it runs cargo's SUB with the dependency list embedded, so it behaves as SUB.
FAKE_CARGO_INSTALL = r"""#!/bin/sh
set -e
[ "$1" = auditable ] && shift
sub=$1; shift
tdir=${CARGO_TARGET_DIR:-}
root=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
crate=app
while [ $# -gt 0 ]; do
  case $1 in
    --target-dir=*) tdir=${1#--target-dir=};;
    --target-dir) shift; tdir=$1;;
    --root=*) root=${1#--root=};;
    --root) shift; root=$1;;
    --release|--locked) ;;
    *) crate=$1;;
  esac
  shift
done
case $sub in
  build)
    out=${tdir:-./target}/release; mkdir -p "$out"; echo "binary $crate" > "$out/$crate"; echo "built $out/$crate";;
  install)
    scratch=${tdir:-/tmp/cargo-install.$$}; mkdir -p "$scratch/release" "$root/bin"
    echo "binary $crate" > "$scratch/release/$crate"
    cp "$scratch/release/$crate" "$root/bin/$crate"; echo "Installed $root/bin/$crate";;
  *) echo "cargo stand-in: only build and install" >&2; exit 2;;
esac
"""


def findings_by_line(text: str, code: str) -> dict[int, list[str]]:
    return {
        n: [f.code for f in lint_text(text).findings if f.line == n and f.code == code]
        for n in range(1, text.count("\n") + 2)
    }


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_cm001_cargo_auditable_install_puts_the_binary_in_root_not_in_the_target_mount(bed: Bed) -> None:
    """kanidm/kanidm tools/Dockerfile's shape: `cargo auditable install --root /out --target-dir=/target`
    with /target a cache mount (quiet: the binary is in /out/bin, in the image); the same install into a
    mounted --root and `cargo auditable build` into a mounted target dir are CM001 (the image gets
    nothing). One build, one stage per form, each its own cache id; the crate names are the tokens."""
    (bed.ctx / "fakecargo").write_text(FAKE_CARGO_INSTALL)
    (bed.ctx / "fakecargo").chmod(0o755)
    tag = uuid.uuid4().hex[:10]
    c1, c2, c3 = (f"crate{i}{tag}" for i in range(3))
    text = (
        f"FROM {bed.base} AS rust\nCOPY fakecargo /usr/local/bin/cargo\n"
        + "FROM rust AS install\nRUN mkdir -p /out /target\n"
        + f"RUN --mount=type=cache,id=tgt-{tag},target=/target cargo auditable install --root /out --target-dir=/target {c1}\n"
        + "FROM rust AS install_into_mount\nRUN mkdir -p /out\n"
        + f"RUN --mount=type=cache,id=out-{tag},target=/out cargo auditable install --root /out {c2}\n"
        + "FROM rust AS build\nWORKDIR /src\nRUN mkdir -p /src/target\n"
        + f"RUN --mount=type=cache,id=src-{tag},target=/src/target cargo auditable build --release {c3}\n"
        + "FROM scratch\nCOPY --from=install /out /install\nCOPY --from=install_into_mount /out /install_into_mount\n"
        + "COPY --from=build /src/target /build\n"
    )
    got = findings_by_line(text, "CM001")
    flagged = {line_of(text, c2), line_of(text, c3)}
    assert {n for n, codes in got.items() if codes} == flagged
    out, log = bed.build(text)
    assert f"Installed /out/bin/{c1}" in log and f"Installed /out/bin/{c2}" in log  # both installs ran
    assert f"built ./target/release/{c3}" in log
    # quiet form: the binary is in the image; its build tree stayed in the (scratch) target mount
    assert (out / "install/bin" / c1).read_text() == f"binary {c1}\n"
    # flagged forms: the image has nothing of what the RUN made
    assert list((out / "install_into_mount").iterdir()) == []
    assert list((out / "build").iterdir()) == []


# --- CM005: after a script the linter cannot read, zypper/dnf/apk get a note, not a finding -----------

# A dnf stand-in (named emulation, not dnf): `dnf install` downloads into the repository's packages/
# directory under cachedir /var/cache/dnf and deletes the packages after a successful transaction unless
# keepcache is on (dnf.conf(5): "keepcache: boolean, Keeps downloaded packages in the cache when set to
# True … Default is False"), in [main] of /etc/dnf/dnf.conf or by --setopt=keepcache=1. Records in
# /installed-PKG whether PKG came from the cache.
FAKE_DNF = r"""#!/bin/sh
set -e
pkgs=/var/cache/dnf/fedora-0123456789abcdef/packages
cmd=$1; shift
[ "$cmd" = install ] || exit 0
keep=0
if grep -qE '^keepcache *= *(1|[Tt]rue|yes)' /etc/dnf/dnf.conf; then keep=1; fi
for a in "$@"; do case $a in --setopt=keepcache=1|--setopt=keepcache=True) keep=1;; esac; done
mkdir -p "$pkgs"
for p in "$@"; do
  case $p in -*) continue;; esac
  if [ -f "$pkgs/$p-1.0.noarch.rpm" ]; then src=cache; else src=download; echo "Downloading $p-1.0.noarch.rpm"; echo rpm > "$pkgs/$p-1.0.noarch.rpm"; fi
  echo "$src" > "/installed-$p"
  [ "$keep" = 1 ] || rm -f "$pkgs/$p-1.0.noarch.rpm"
done
"""

#: setup scripts of the kind real Dockerfiles run and the linter cannot read; each makes its package
#: manager keep packages. kanidm/kanidm scripts/zypper_fixing.sh runs `zypper mr -k` (zypper(8): -k,
#: --keep-packages); the dnf and apk ones set keepcache / link /etc/apk/cache (Alpine wiki, "Local APK cache")
KEEP_SCRIPTS = {
    "zypper_fixing.sh": "#!/bin/sh\nset -e\nzypper mr -k repo-oss\n",
    "dnf_fixing.sh": "#!/bin/sh\nset -e\necho keepcache=True >> /etc/dnf/dnf.conf\n",
    "apk_fixing.sh": "#!/bin/sh\nset -e\nln -s /var/cache/apk /etc/apk/cache\n",
}


def test_cm005_a_script_that_may_keep_packages_silences_zypper_dnf_and_apk(bed: Bed) -> None:
    """kanidm/kanidm rlm_kanidm/Dockerfile's shape: `RUN /zypper_fixing.sh` (it runs `zypper mr -k`), then
    zypper installs under a /var/cache/zypp mount. The linter cannot read the script: no CM005, a note.
    The real build shows the script kept the packages (the second build installs from the mount), and the
    same install without the script, flagged CM005, downloads again. Likewise for dnf and apk. One file,
    a stage per form, each its own cache id; built twice."""
    files = {
        "suse-root/usr/bin/zypper": FAKE_ZYPPER,
        "suse-root/etc/zypp/repos.d/repo-oss.repo": "[repo-oss]\nname=Main Repository\nenabled=1\nkeeppackages=0\n",
        "fedora-root/usr/bin/dnf": FAKE_DNF,
        "fedora-root/etc/dnf/dnf.conf": "[main]\ngpgcheck=True\ninstallonly_limit=3\n",
        "alpine-root/sbin/apk": FAKE_APK,
        "alpine-root/etc/apk/repositories": "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\n",
        **{f"scripts/{name}": body for name, body in KEEP_SCRIPTS.items()},
    }
    for name, body in files.items():
        path = bed.ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755 if "bin/" in name or name.startswith("scripts/") else 0o644)
    tag = uuid.uuid4().hex[:10]
    # (form, root stage, script or "", cache target, install command)
    forms = [
        ("zypper", "opensuse", "", "/var/cache/zypp", "zypper install -y {p}"),
        ("zypper_script", "opensuse", "zypper_fixing.sh", "/var/cache/zypp", "zypper install -y {p}"),
        ("dnf", "fedora", "", "/var/cache/dnf", "dnf install -y {p}"),
        ("dnf_script", "fedora", "dnf_fixing.sh", "/var/cache/dnf", "dnf install -y {p}"),
        ("apk", "alpine", "", "/var/cache/apk", "apk add {p}"),
        ("apk_script", "alpine", "apk_fixing.sh", "/var/cache/apk", "apk add {p}"),
    ]
    text = (
        f"FROM {bed.base} AS opensuse\nCOPY suse-root/ /\n"
        f"FROM {bed.base} AS fedora\nCOPY fedora-root/ /\n"
        f"FROM {bed.base} AS alpine\nCOPY alpine-root/ /\n"
    )
    final = "FROM scratch\n"
    lines: dict[str, int] = {}
    for form, root, script, target, step in forms:
        p = f"{form.replace('_', '')}{tag}"
        text += f"FROM {root} AS {form}\n"
        if script:
            text += f"ADD scripts/{script} /{script}\nRUN /{script}\n"
        text += "ARG BUST\n"
        lines[form] = text.count("\n") + 1
        text += f"RUN --mount=type=cache,id=cm005-{form}-{tag},target={target} {step.format(p=p)}\n"
        final += f"COPY --from={form} /installed-{p} /{form}\n"
    text += final

    result = lint_text(text)
    verdict = {form: [f.code for f in result.findings if f.line == n] for form, n in lines.items()}
    assert verdict == {form: ([] if script else ["CM005"]) for form, _r, script, *_ in forms}
    for form, _root, script, *_ in forms:
        if script:  # the note names the install it skipped and the script
            assert any(
                s.startswith(f"line {lines[form]}: CM005 not checked") and script in s for s in result.skipped
            ), result.skipped

    first, second = bed.twice(text)
    for form, *_ in forms:
        assert (first / form).read_text() == "download\n", form
        kept = (second / form).read_text() == "cache\n"
        # the verdict equals the build: CM005 exactly where the mount kept no package
        assert kept == (not verdict[form]), (form, verdict[form])


# --- CM003: uv's --no-cache-dir is --no-cache -------------------------------------------------------

# A uv stand-in (named emulation, not uv): `uv pip install PKG…` keeps wheels in its cache directory
# (--cache-dir, $UV_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/uv; uv docs, "Caching") and reuses
# them; `--no-cache`/`-n`/$UV_NO_CACHE make it "avoid reading from or writing to the cache, instead using a
# temporary directory for the duration of the operation" (uv's CLI reference), and so does pip's spelling
# `--no-cache-dir`, a hidden alias of --no-cache (astral-sh/uv#1380). Installs into a site-packages
# directory and records in <site>/PKG/SOURCE whether PKG came from the cache.
FAKE_UV = r"""#!/bin/sh
set -e
[ "$1 $2" = "pip install" ] || { echo "uv stand-in: only 'pip install'" >&2; exit 2; }
shift 2
cache=${UV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uv}
nocache=${UV_NO_CACHE:+1}
site=/usr/local/lib/python3/site-packages
pkgs=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-cache|-n|--no-cache-dir) nocache=1;;
    --cache-dir) shift; cache=$1;;
    --system) ;;
    *) pkgs="$pkgs $1";;
  esac
  shift
done
if [ -n "$nocache" ]; then cache=/tmp/uv-cache.$$; fi
mkdir -p "$cache/wheels-v5/pypi"
for p in $pkgs; do
  w="$cache/wheels-v5/pypi/$p-1.0-py3-none-any.whl"
  if [ -f "$w" ]; then src=cache; else src=download; echo " + $p==1.0 (downloaded)"; echo wheel > "$w"; fi
  mkdir -p "$site/$p"; echo "$src" > "$site/$p/SOURCE"
done
if [ -n "$nocache" ]; then rm -rf "$cache"; fi
"""


def test_cm003_uv_no_cache_dir_leaves_its_cache_mount_unused(bed: Bed) -> None:
    """Aphoh/rbeval's shape: `uv pip install --system --no-cache-dir` under a /root/.cache/uv mount is
    CM003 (a second build downloads again); without the flag the mount serves the wheel. One file, a
    stage per form, each its own cache id; built twice; the package names are the tokens."""
    (bed.ctx / "fakeuv").write_text(FAKE_UV)
    (bed.ctx / "fakeuv").chmod(0o755)
    tag = uuid.uuid4().hex[:10]
    forms = {"no_cache_dir": "--no-cache-dir ", "cached": ""}
    text = f"FROM {bed.base} AS py\nCOPY fakeuv /usr/local/bin/uv\n"
    final = "FROM scratch\n"
    lines: dict[str, int] = {}
    for form, flag in forms.items():
        p = f"{form.replace('_', '')}{tag}"
        text += f"FROM py AS {form}\nARG BUST\n"
        lines[form] = text.count("\n") + 1
        text += f"RUN --mount=type=cache,id=uv-{form}-{tag},target=/root/.cache/uv uv pip install --system {flag}{p}\n"
        final += f"COPY --from={form} /usr/local/lib/python3/site-packages/{p}/SOURCE /{form}\n"
    text += final

    findings = lint_text(text).findings
    verdict = {form: [f.code for f in findings if f.line == n] for form, n in lines.items()}
    assert verdict == {"no_cache_dir": ["CM003"], "cached": []}
    first, second = bed.twice(text)
    for form in forms:
        assert (first / form).read_text() == "download\n", form
        kept = (second / form).read_text() == "cache\n"
        assert kept == (not verdict[form]), (form, verdict[form])


# --- CM004: xx-go is go ----------------------------------------------------------------------------

# An xx-go stand-in (named emulation, not tonistiigi/xx): xx's src/xx-go exports GOOS/GOARCH (and GOARM,
# GOAMD64 …) for $TARGETPLATFORM from `xx-info env` and then runs go with the same arguments, so go's
# caches (GOCACHE, GOMODCACHE) are go's. The go under it is test_lint_effects.FAKE_GO (its build cache in
# $GOCACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/go-build; "cache hit" or "compiled").
FAKE_XX_GO = r"""#!/bin/sh
set -e
export GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64}
exec go "$@"
"""


def test_cm004_xx_go_with_gocache_beside_the_mount_never_fills_it(bed: Bed) -> None:
    """tonistiigi/fsutil's shape: USER 1000:1000, a cache mount at /tmp/.cache and `GOCACHE=/tmp/gocache
    xx-go …`: go writes /tmp/gocache, the mount is never used (CM004; a second build compiles again), and
    since nothing writes the root-owned mount, its owner does not matter (no CM007, the RUN works). With
    GOCACHE at the mount and the mount still root-owned go cannot write it (CM007: the RUN fails); with
    uid=1000 the mount serves the second build (quiet). One file, a stage per form, built twice; the
    build keys are the tokens."""
    for name, body in (("fakego", FAKE_GO), ("fakexxgo", FAKE_XX_GO)):
        (bed.ctx / name).write_text(body)
        (bed.ctx / name).chmod(0o755)
    tag = uuid.uuid4().hex[:10]
    # form -> (mount options after the target, GOCACHE)
    forms = {
        "missed": ("", "/tmp/gocache"),
        "root_owned": ("", "/tmp/.cache"),
        "fixed": (",uid=1000", "/tmp/.cache"),
    }
    text = f"FROM {bed.base} AS gobase\nCOPY fakego /usr/local/bin/go\nCOPY fakexxgo /usr/local/bin/xx-go\n"
    final = "FROM scratch\n"
    lines: dict[str, int] = {}
    for form, (opts, gocache) in forms.items():
        key = f"ab{form.replace('_', '')}{tag}"
        text += f"FROM gobase AS {form}\nUSER 1000:1000\nARG BUST\n"
        lines[form] = text.count("\n") + 1
        text += (
            f"RUN --mount=target=/tmp/.cache,type=cache,id=go-{form}-{tag}{opts} "
            f"CGO_ENABLED=0 GOCACHE={gocache} xx-go build {key} > /tmp/result 2>&1 || echo failed >> /tmp/result\n"
        )
        final += f"COPY --from={form} /tmp/result /{form}\n"
    text += final

    findings = lint_text(text).findings
    verdict = {form: [f.code for f in findings if f.line == n] for form, n in lines.items()}
    assert verdict == {"missed": ["CM004"], "root_owned": ["CM007"], "fixed": []}
    first, second = bed.twice(text)
    assert (first / "missed").read_text() == "compiled\n"  # go ran as uid 1000 and wrote /tmp/gocache
    assert (second / "missed").read_text() == "compiled\n"  # … beside the mount, which kept nothing
    for out in (first, second):  # go, as uid 1000, could not create its cache dirs in the root-owned mount
        result = (out / "root_owned").read_text()
        assert "Permission denied" in result and result.endswith("failed\n"), result
    assert (first / "fixed").read_text() == "compiled\n"
    assert (second / "fixed").read_text() == "cache hit\n"
