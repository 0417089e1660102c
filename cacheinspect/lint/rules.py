"""The lint rules, as data: one :class:`Rule` per code, the single source for the README table, the
SARIF ``rules[]``, ``cacheinspect lint --list-rules`` and the messages themselves.

Modelled on BuildKit's ``frontend/dockerfile/linter/ruleset.go`` (each rule a ``LinterRule`` with
``Name``, ``Description``, ``URL`` and a ``Format`` function for its message) and documented the way
ruff documents rules (what it does / why it matters / example / use instead). A check function in
:mod:`cacheinspect.lint.checks` reports a finding by naming its rule and the message's fields; it never
writes prose of its own, so the wording lives here, once.

Codes are stable: a code is never reused for another rule, and a retired rule keeps its number.
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

__all__ = ["RULES", "RULES_BY_CODE", "Rule", "Severity"]


class Severity(IntEnum):
    """Ordered, so ``--fail-on`` is a comparison. ``str()`` gives the lower-case name."""

    info = 1
    warning = 2
    error = 3

    def __str__(self) -> str:
        return self.name


class Rule(msgspec.Struct, frozen=True):
    """One rule. ``message``/``fix`` are ``str.format`` templates filled by the check's fields."""

    code: str
    name: str
    severity: Severity
    summary: str
    message: str
    fix: str
    what: str
    why: str
    example: str
    use_instead: str

    @property
    def anchor(self) -> str:
        """The docs anchor (GitHub's heading slug of ``### CM001 output-in-cache-mount``)."""
        return f"{self.code.lower()}-{self.name}"


RULES: tuple[Rule, ...] = (
    Rule(
        code="CM001",
        name="output-in-cache-mount",
        severity=Severity.error,
        summary="The step's output is written inside a cache mount, and nothing copies it out: the image gets nothing.",
        message="{how} writes into {path}, inside the cache mount {target}; a cache mount never becomes part of the image, and nothing in this RUN copies the result out",
        fix="{fix}",
        what=(
            "Flags a RUN whose install or build output (`pip install --target`, `npm ci`/`yarn`/`pnpm install` "
            "into a mounted `node_modules`, `go build -o`, cargo's `target/`, `go install`/`cargo install` into a "
            "mounted bin directory, poetry's default virtualenv under its cache dir, `cp`/`mv`/`tar -x`/redirection "
            "into the target) lands inside a `--mount=type=cache` target, when no later command of the same RUN "
            "reads the result to put it somewhere else."
        ),
        why=(
            "BuildKit gives every cache mount the output index `SkipOutput` (`client/llb/exec.go`: a mount with a "
            "`cacheID` never gets an output), so nothing written under the target reaches the layer, the image or "
            "any exported cache (moby/buildkit#3011, docker/build-push-action#1011). While the RUN runs, the "
            "mount also hides whatever the image had at that path, and afterwards the image's own directory comes "
            "back unchanged. The build log shows a successful install; the image has an empty directory (seed "
            "002, the pip `--target` case). The cache mount's content survives only on that one builder, until "
            "it is pruned (cache mounts are the first thing the default GC policy removes)."
        ),
        example=(
            "RUN --mount=type=cache,target=/pip-packages \\\n    pip install --target=/pip-packages uwsgi"
        ),
        use_instead=(
            "# cache the tool's own cache directory, install elsewhere\n"
            "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
            "    pip install --target=/pip-packages uwsgi\n"
            "# or, for build trees that must stay cached (cargo target/), copy the result out in the same RUN\n"
            "RUN --mount=type=cache,target=/src/target \\\n"
            "    cargo build --release && cp target/release/app /usr/local/bin/"
        ),
    ),
    Rule(
        code="CM002",
        name="read-from-cache-mount",
        severity=Severity.error,
        summary="A later instruction reads a path that only ever existed inside a cache mount.",
        message="{reader} reads {path}, which only ever existed inside the cache mount {target} of {where} (line {line}); in the image it is {state}",
        fix="write {path} outside the cache mount (cache the tool's cache dir instead), or copy it out inside the RUN at line {line}",
        what=(
            "Flags `COPY --from=<stage> <path>`, `RUN --mount=type=bind,from=<stage>,source=<path>`, a later RUN "
            "or CMD/ENTRYPOINT of the same stage that reads a path that was only ever written while a cache "
            "mount covered it (and that no COPY, ADD or unmounted RUN wrote in the image)."
        ),
        why=(
            "A cache mount's content is never part of the stage's filesystem (output `SkipOutput`, see CM001). A "
            "later step, or another stage copying from this one, sees the image's own directory at that path: "
            'usually absent or empty. `COPY --from` then fails with "not found" or, worse, silently copies an '
            "empty directory."
        ),
        example=(
            "FROM base AS build\n"
            "RUN --mount=type=cache,target=/app/node_modules npm ci\n"
            "FROM base\n"
            "COPY --from=build /app/node_modules /app/node_modules"
        ),
        use_instead=(
            "FROM base AS build\n"
            "RUN --mount=type=cache,target=/root/.npm npm ci\n"
            "FROM base\n"
            "COPY --from=build /app/node_modules /app/node_modules"
        ),
    ),
    Rule(
        code="CM003",
        name="cache-disabled-under-mount",
        severity=Severity.warning,
        summary="The tool's cache is turned off or wiped in the very RUN that mounts it.",
        message="{how} {effect}, but this RUN mounts {target} as {tool}'s cache: every build downloads again and the mount stays empty",
        fix="{fix}",
        what=(
            "Flags `pip --no-cache-dir`/`PIP_NO_CACHE_DIR`, `uv --no-cache`/`UV_NO_CACHE`, `poetry --no-cache`, "
            "`apk add --no-cache`, `GOCACHE=off`, and clean-ups (`npm cache clean`, `yarn cache clean`, "
            "`pip cache purge`, `go clean -cache`, `apt-get clean`, `dnf clean`, `rm -rf /var/lib/apt/lists/*`, "
            "`rm -rf <target>/*`, `zypper clean`) in a RUN that mounts that tool's cache directory, and an `rm` "
            "of a file this RUN downloaded (`curl -o`, `wget -O/-P`) into a cache mount. Commands that run only "
            "on a condition (an `if`/`case` branch, after `||`, in a `[ … ] &&` chain) are deliberate and not "
            "flagged: a fallback `|| pip install --no-cache-dir` or a CI-only clean-up."
        ),
        why=(
            "`--no-cache-dir` and clean-ups exist to keep caches out of image layers. Under a cache mount they "
            "are not needed (the mount never reaches a layer) and they undo the mount: BuildKit keeps the "
            "directory exactly as the RUN leaves it, so a RUN that empties it, or never fills it, leaves "
            "nothing for the next build. Note that pip disables its cache for *any* valid `PIP_NO_CACHE_DIR` "
            "value, `0` and `false` included (pip `cli/cmdoptions.py`, `_handle_no_cache_dir`)."
        ),
        example=(
            "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
            "    pip install --no-cache-dir -r requirements.txt\n"
            "RUN --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
            "    apt-get update && apt-get install -y gcc && rm -rf /var/lib/apt/lists/*"
        ),
        use_instead=(
            "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
            "    pip install -r requirements.txt\n"
            "RUN --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
            "    apt-get update && apt-get install -y gcc"
        ),
    ),
    Rule(
        code="CM004",
        name="mount-misses-tool-cache",
        severity=Severity.warning,
        summary="The cache mount is not where the tool keeps its cache for this RUN (other HOME/USER, or a *_CACHE_DIR elsewhere).",
        message="the cache mount {target} looks meant for {tool}'s {kind}, but {tool} uses {actual} here ({why}); nothing is cached",
        fix="mount the directory {tool} uses: --mount=type=cache,target={actual}{extra}",
        what=(
            "Flags a cache mount whose target looks like a tool's cache directory (`~/.cache/pip`, `~/.npm`, "
            "`~/.cache/go-build`, `~/go/pkg/mod`, `~/.m2`, …) when the tool, as this RUN runs it, uses another "
            "directory: the RUN's `USER` has another HOME (`/root/.cache/pip` mounted, `USER app` writes "
            "`/home/app/.cache/pip`), or `PIP_CACHE_DIR`, `UV_CACHE_DIR`, `GOCACHE`, `GOMODCACHE`, `GOPATH`, "
            "`npm_config_cache`, `YARN_CACHE_FOLDER`, `CARGO_HOME`, `GRADLE_USER_HOME`, `CCACHE_DIR`, "
            "`XDG_CACHE_HOME`, or a `--cache-dir` flag point elsewhere. Yarn 1 running as root uses "
            "`/usr/local/share/.cache/yarn`, not `/root/.cache/yarn`; pnpm >= 7 keeps its store in "
            "`~/.local/share/pnpm/store` (`$PNPM_HOME/store`), not `~/.pnpm-store`; cargo builds into "
            "`--target-dir`/`CARGO_TARGET_DIR` when given; microdnf uses `/var/cache/yum`. A mount one level "
            "inside a flat cache is flagged too (`GOCACHE=/.cache` with a mount at `/.cache/go-build`: go writes "
            "`/.cache/00…ff`; a mount at `~/.npm/cache`: npm writes `~/.npm/_cacache`). Variables a base "
            "image sets (golang `GOPATH`, rust `CARGO_HOME`) come from the official images' table or, with "
            "`--resolve-base`, the image's own config; a value that depends on a variable nobody can know "
            "makes the rule say nothing (a note says what was skipped)."
        ),
        why=(
            "BuildKit mounts exactly the target path. runc sets `HOME` from the `/etc/passwd` entry of the "
            "RUN's user when the image does not set it, so the same Dockerfile line caches for root and "
            "misses for any other USER. The tool then downloads into an ordinary directory of the container, "
            "which is thrown away with the layer or, worse, stored in it."
        ),
        example=(
            "USER app\nRUN --mount=type=cache,target=/root/.cache/pip pip install --user -r requirements.txt"
        ),
        use_instead=(
            "USER app\n"
            "RUN --mount=type=cache,target=/home/app/.cache/pip,uid=1000 pip install --user -r requirements.txt"
        ),
    ),
    Rule(
        code="CM005",
        name="package-cache-emptied",
        severity=Severity.warning,
        summary="apt (docker-clean hook), dnf/yum/microdnf (keepcache=0), zypper (keeppackages=0) or apk (no /etc/apk/cache) drops the downloaded packages the mount is meant to keep.",
        message="{message}",
        fix="{fix}",
        what=(
            "Flags a RUN that mounts apt's `/var/cache/apt` and installs with apt-get/apt when no earlier step "
            "removed `/etc/apt/apt.conf.d/docker-clean` (and, for `apt`, set `Keep-Downloaded-Packages`); and a "
            "RUN that mounts `/var/cache/dnf` (or yum's/microdnf's `/var/cache/yum`) and installs without "
            "`keepcache=1`; zypper under a `/var/cache/zypp` mount without `--keep-packages`/`keeppackages=1`; "
            "`apk add` under a `/var/cache/apk` mount when nothing created `/etc/apk/cache`. Not flagged when "
            "the base image removed docker-clean (its history, with `--resolve-base`) or when an earlier step "
            "ran a script the linter cannot read (a note says so)."
        ),
        why=(
            "Debian and Ubuntu images ship `/etc/apt/apt.conf.d/docker-clean` (written by the scripts that build "
            "them: debuerreotype's `debuerreotype-minimizing-config`, moby's `contrib/mkimage/debootstrap`): "
            '`DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb …" }` and `APT::Update::Post-Invoke` '
            "empty the package cache after every install and update, so a mount on `/var/cache/apt` stays "
            "empty. The `apt` binary (unlike `apt-get`) also keeps no downloaded packages unless "
            "`Binary::apt::APT::Keep-Downloaded-Packages` is true (apt >= 1.2). BuildKit's own "
            "Dockerfile reference shows the fix (`RUN --mount=type=cache` example for apt). dnf and yum delete "
            "packages after a successful transaction unless `keepcache=1` (dnf.conf(5), `keepcache`, default False); "
            "microdnf sets `keep_cache` FALSE (microdnf `dnf-main.c`). zypper deletes packages of repositories "
            "with `keeppackages=0`, the default (zypper(8), `modifyrepo --keep-packages`). apk stores packages "
            "only when `/etc/apk/cache` exists (Alpine wiki, Local APK cache); `/var/cache/apk` alone keeps "
            "the indexes."
        ),
        example=(
            "FROM debian:bookworm\n"
            "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n"
            "    --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
            "    apt-get update && apt-get install -y gcc"
        ),
        use_instead=(
            "FROM debian:bookworm\n"
            "RUN rm -f /etc/apt/apt.conf.d/docker-clean; \\\n"
            "    echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache\n"
            "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n"
            "    --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n"
            "    apt-get update && apt-get install -y gcc"
        ),
    ),
    Rule(
        code="CM006",
        name="apt-mount-not-locked",
        severity=Severity.info,
        summary="apt's cache directories are mounted with sharing=shared (the default) instead of sharing=locked (a warning when two stages of the file can run apt on it at once).",
        message="the cache mount {target} holds apt's {kind} with sharing={sharing}; concurrent builds on this builder run apt on it at the same time",
        fix="add sharing=locked: --mount=type=cache,target={target},sharing=locked",
        what=(
            "Flags a cache mount of `/var/cache/apt` or `/var/lib/apt` (or a directory inside them) without "
            "`sharing=locked`. It is info, and a warning when two RUNs of the same Dockerfile that BuildKit "
            "can run at the same time mount the same apt cache unlocked: RUNs of two stages where neither "
            "RUN waits for the other's stage (its stage does not build on that stage, and no `COPY --from` "
            "or mount `from=` before it reads it; a final stage that installs with apt first and copies "
            "from the build stage afterwards runs its apt step at once with the build stage's)."
        ),
        why=(
            "`sharing=shared` is the default: every concurrent RUN on the builder (parallel stages, other builds) "
            "gets the same directory at once (`solver/llbsolver/mounts/mount.go`, `CacheSharingOpt_SHARED`). apt "
            "is not safe against that: it takes `/var/cache/apt/archives/lock` and `/var/lib/apt/lists/lock` and "
            'the second process fails with "Could not get lock" or sees half-written lists. `locked` makes '
            "BuildKit serialise the RUNs on that cache; `private` would give each concurrent RUN its own copy. "
            "Within one Dockerfile a collision needs two independent stages (BuildKit runs those in parallel); "
            "a single apt stage collides only with other builds on the same builder, hence info."
        ),
        example="RUN --mount=type=cache,target=/var/lib/apt apt-get update",
        use_instead="RUN --mount=type=cache,target=/var/lib/apt,sharing=locked apt-get update",
    ),
    Rule(
        code="CM007",
        name="mount-owner-mismatch",
        severity=Severity.warning,
        summary="The cache mount is owned by another uid/gid than the RUN's USER and is not writable for it.",
        message="the cache mount {target} is created {owner}, but the RUN runs as USER {user}: {effect}",
        fix="{fix}",
        what=(
            "Flags a writable cache mount in a RUN whose `USER` is not root when the mount has no `uid`/`gid` "
            "(BuildKit creates it as root, mode 0755) or a `uid`/`gid`/`mode` that does not let that user write, "
            "and something in the RUN writes it: a tool whose cache or output is there, a command that names "
            "the path, or a program the linter does not model. A mount nothing writes (`/home/node/.npm-backend` "
            "under `USER node` with `npm ci`: npm writes `~/.npm`) and a mount CM004 already reports as missed "
            "by its tool get no CM007: the owner has no effect there."
        ),
        why=(
            "Without `uid`, `gid` or `mode`, BuildKit mounts a fresh, root-owned directory; with them it first "
            "creates it with that owner and mode (`dockerfile2llb/convert_runmount.go`, `setCacheUIDGID`: "
            '`Mkdir("/cache", mode, WithUIDGID(uid, gid))`, defaults 0, 0, 0755). A non-root USER then gets '
            '`EACCES`, or the tool quietly gives up caching (pip prints "cache directory … is not owned or is not '
            'writable … caching has been disabled").'
        ),
        example="USER 1000\nRUN --mount=type=cache,target=/home/app/.cache/pip pip install --user flask",
        use_instead="USER 1000\nRUN --mount=type=cache,target=/home/app/.cache/pip,uid=1000 pip install --user flask",
    ),
    Rule(
        code="CM008",
        name="cache-id-split",
        severity=Severity.warning,
        summary="The same cache id is mounted with different from/uid/gid/mode: BuildKit keeps two caches, not one.",
        message="cache id {id!r} is mounted here with {here} but at line {line} with {there}; BuildKit keys these apart, so they are two separate caches",
        fix="use the same from/uid/gid/mode for every mount of id {id!r} (or give them different ids on purpose)",
        what=(
            "Flags a cache mount whose `id` (or, without `id`, its target, which is the default id) was used "
            "earlier in the Dockerfile with a different `from`, `uid`, `gid` or `mode`."
        ),
        why=(
            "BuildKit looks a cache mount up by `id` *and* its base: `getRefCacheDir` keys it as "
            '`id + ":" + ref.ID()` (`solver/llbsolver/mounts/mount.go`), where the base is the `from` image or '
            "stage, or the `[internal] settings cache mount permissions` step that `uid`/`gid`/`mode` add "
            "(`convert_runmount.go`). A different base is a different key: the second mount starts empty and "
            "the first one's content is never shared — even `uid=0` against no `uid` at all (the e2e test shows "
            "it on BuildKit v0.13). `sharing` does not split the cache."
        ),
        example=(
            "RUN --mount=type=cache,id=pip,target=/root/.cache/pip pip install -r a.txt\n"
            "USER 1000\n"
            "RUN --mount=type=cache,id=pip,target=/home/app/.cache/pip,uid=1000 pip install --user -r b.txt"
        ),
        use_instead=(
            "RUN --mount=type=cache,id=pip,target=/root/.cache/pip,uid=1000 pip install -r a.txt\n"
            "USER 1000\n"
            "RUN --mount=type=cache,id=pip,target=/home/app/.cache/pip,uid=1000 pip install --user -r b.txt"
        ),
    ),
    Rule(
        code="CM009",
        name="install-without-cache-mount",
        severity=Severity.info,
        summary="A package install or build runs without a cache mount for the tool's cache.",
        message="{tool} {action} runs without a cache mount for its cache: each time this step re-runs, {tool} starts from an empty cache and fetches or rebuilds everything again",
        fix="{fix}",
        what=(
            "Suggests a cache mount, with the right target for the RUN's USER and environment, for pip, uv, "
            "poetry, npm, yarn, pnpm, go, cargo, apt, apk, dnf/yum, maven, gradle and ccache when a RUN installs "
            "or builds with one of them and mounts nothing that covers its cache directory."
        ),
        why=(
            "A RUN re-runs whenever anything before it changes (a new requirements file, a base image update). "
            "Without a cache mount the tool starts cold every time; with one, BuildKit hands it the directory it "
            "left last time on this builder (`exec.cachemount` records). The mount costs nothing in the image "
            "(it is never part of a layer), so `--no-cache-dir`-style flags become unnecessary."
        ),
        example="RUN pip install -r requirements.txt",
        use_instead="RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt",
    ),
    Rule(
        code="CM010",
        name="mount-hides-image-files",
        severity=Severity.warning,
        summary="A cache mount covers files an earlier step put in the image: the RUN does not see them.",
        message="the cache mount {target} hides {path}, which {writer} (line {line}) put in the image; this RUN sees the cache's content instead",
        fix="mount a directory that holds only cache data{suggest}, or put {path} elsewhere",
        what=(
            "Flags a cache mount whose target covers a path that an earlier COPY/ADD or RUN of the same stage "
            "wrote into the image (a `settings.xml` copied into `~/.m2`, files touched into the directory that "
            "is then mounted)."
        ),
        why=(
            "A mount replaces the directory for the duration of the RUN: the image's files at that path are "
            "invisible to it (seed 002: `foo` created before the mount is missing inside it, and back after it). "
            "Configuration copied there is silently ignored."
        ),
        example="COPY settings.xml /root/.m2/settings.xml\nRUN --mount=type=cache,target=/root/.m2 mvn package",
        use_instead="COPY settings.xml /root/.m2/settings.xml\nRUN --mount=type=cache,target=/root/.m2/repository mvn package",
    ),
    Rule(
        code="CM011",
        name="cache-mount-as-state",
        severity=Severity.error,
        summary="A RUN reads what an earlier RUN left in a cache mount, and nothing in the image: it works only while this builder still holds that mount.",
        message="{reader} reads {what}, which only the RUN at line {line} ({writer}) put there, inside {where}; on a fresh builder, after a prune, or when this step re-runs without that one, it is not there",
        fix="{fix}",
        what=(
            "Flags a RUN that reads from a cache mount what an earlier RUN wrote into it and nothing copied "
            "into the image: `cp`/`mv`/`tar` of a build result left in a mounted `target/` or `node_modules` by "
            "an earlier RUN (the second RUN mounts the same cache id), a Node run (`yarn build`) on a "
            "`node_modules` an earlier RUN installed into a mount, and offline installs that read only their "
            "cache (`pnpm install --offline`, `npm ci --offline`, `yarn --offline`, `cargo build "
            "--offline/--frozen`, `mvn -o`, `gradle --offline`, `uv --offline`, `GOPROXY=off`) after an earlier "
            "RUN filled that cache inside a mount (`pnpm fetch`, `cargo fetch`, `mvn dependency:go-offline`), and "
            "`apt-get install` without `apt-get update` on package lists (`/var/lib/apt/lists`) that only an "
            "earlier RUN's `apt-get update` wrote into a mount (`xx-apt-get` updates by itself: not flagged)."
        ),
        why=(
            "A cache mount is not part of any layer and not exported with `--cache-to` (output `SkipOutput`, "
            "see CM001). Each RUN is cached on its own: when the earlier RUN is a cache hit (imported from a "
            "registry on a fresh CI builder, or unchanged while a `COPY` between the two changed) it does not "
            "run, and the later RUN finds the mount empty, or holding an older build's content. BuildKit's GC "
            "removes cache mounts first. `pnpm fetch` then `pnpm install --offline` in two RUNs with a store "
            "mount works on a developer's machine and fails with ERR_PNPM_NO_OFFLINE_TARBALL in CI."
        ),
        example=(
            "ENV PNPM_HOME=/pnpm\n"
            "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm fetch\n"
            "COPY . .\n"
            "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --offline"
        ),
        use_instead=(
            "ENV PNPM_HOME=/pnpm\n"
            "COPY . .\n"
            "RUN --mount=type=cache,id=pnpm,target=/pnpm/store pnpm install --frozen-lockfile --prefer-offline"
        ),
    ),
)

RULES_BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}
