"""What each package manager / build tool does with the filesystem, read from one simple command.

For a :class:`~cacheinspect.lint.shell.Command` this says which tool it is, whether it installs or
builds (downloads something a cache could keep), where that tool keeps its cache *for this command*
(its flags, its environment, the HOME of the user it runs as), whether its cache is turned off or
wiped, and where its output goes. Every default below is the tool's own documented default on Linux;
the source is named next to it, so a rule's verdict can be checked against the tool, not against us.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping

import msgspec

from cacheinspect.lint.shell import Command, Word, glob_base, resolve_path

__all__ = ["CacheDir", "Output", "ToolUse", "analyse", "covers", "generic_outputs", "generic_reads"]


def covers(parent: str, path: str) -> bool:
    """True when *path* is *parent* or inside it (both absolute and cleaned)."""
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


class CacheDir(msgspec.Struct):
    """One cache a tool uses: ``kind`` (e.g. ``"build cache"``), the directory for this command,
    ``why`` (how the directory was chosen: ``"PIP_CACHE_DIR=/x"``, ``"HOME=/home/app"``), and
    ``looks_like``: does a mount target look meant for this cache (whatever HOME it was written for)?"""

    kind: str
    path: str
    why: str
    looks_like: Callable[[str], bool]
    suggest: str = ""  # the mount options to suggest, beyond target (e.g. ",sharing=locked")
    # the variable that official base images set for this directory (rust: CARGO_HOME, golang: GOPATH,
    # gradle: GRADLE_USER_HOME) when the Dockerfile does not show it: then the directory is not known
    image_env: str = ""
    #: the names the tool creates directly in ``path`` (None: not known). A mount strictly inside
    #: ``path`` under another name catches nothing: go writes GOCACHE/00…ff, not GOCACHE/go-build.
    entries: Callable[[str], bool] | None = None
    #: a build tree (cargo's target dir), not a download cache: no CM009 suggestion for it
    build_dir: bool = False


class Output(msgspec.Struct):
    """Something the command leaves in the filesystem: ``path`` and how it was named (``--target``)."""

    path: str
    how: str
    node_modules: bool = False


class ToolUse(msgspec.Struct):
    """One package-manager or build-tool command in a RUN: what it installs, caches, disables or cleans."""

    tool: str
    command: Command
    action: str = ""  # "install", "ci", "build" …: the subcommand
    installs: bool = False  # downloads/builds what a cache mount could keep
    caches: list[CacheDir] = msgspec.field(default_factory=list)
    disabled: str = ""  # why the cache is off for this command ("--no-cache-dir", "PIP_NO_CACHE_DIR=1")
    disabled_word: str = ""  # the text to point at in the source
    cleans: list[str] = msgspec.field(default_factory=list)  # cache dirs this command wipes
    clean_how: str = ""
    outputs: list[Output] = msgspec.field(default_factory=list)
    suggest_env: str = ""  # extra advice for the fix (an env var to set …)
    #: it reads its cache and nothing else (``pnpm install --offline``, ``cargo build --offline``):
    #: whatever it needs must already be there
    offline: bool = False


def _suffix(*suffixes: str) -> Callable[[str], bool]:
    def check(target: str) -> bool:
        return any(target == s or target.endswith(s) for s in suffixes)

    return check


def _opt(args: list[Word], *names: str) -> str | None:
    """The value of the last ``--name VALUE`` / ``--name=VALUE`` / ``-nVALUE`` among *args*."""
    found: str | None = None
    k = 0
    while k < len(args):
        t = args[k].text
        for name in names:
            if t == name and k + 1 < len(args):
                found = args[k + 1].text if args[k + 1].static else None
                k += 1
                break
            if name.startswith("--") and t.startswith(name + "="):
                found = t.split("=", 1)[1] if args[k].static else None
                break
            if (
                not name.startswith("--")
                and len(name) == 2
                and t.startswith(name)
                and len(t) > 2
                and t[2] != "-"
            ):
                found = t[2:] if args[k].static else None
                break
        k += 1
    return found


def _has(args: list[Word], *flags: str) -> str:
    for w in args:
        for f in flags:
            if w.text == f or w.text.startswith(f + "="):
                return w.text
    return ""


def _positional(args: list[Word], takes_value: frozenset[str] = frozenset()) -> list[Word]:
    out: list[Word] = []
    k = 0
    while k < len(args):
        t = args[k].text
        if t == "--":
            out.extend(args[k + 1 :])
            break
        if t.startswith("-") and len(t) > 1:
            k += 2 if t in takes_value else 1
            continue
        out.append(args[k])
        k += 1
    return out


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off", "n")


class _Ctx:
    """The environment of one command, with HOME as runc sets it (from /etc/passwd when unset)."""

    def __init__(self, cmd: Command, home: str, home_why: str, is_root: bool) -> None:
        self.cmd = cmd
        self.is_root = is_root
        self.env = cmd.env
        if cmd.env.get("HOME"):
            self.home, self.home_why = cmd.env["HOME"], f"HOME={cmd.env['HOME']}"
        else:
            self.home, self.home_why = home, home_why

    def get(self, name: str) -> str | None:
        if name in self.cmd.unknown_env:
            return None
        return self.env.get(name)

    def path(self, p: str) -> str:
        return resolve_path(p, self.cmd.cwd)

    def xdg_cache(self, sub: str) -> tuple[str, str]:
        xdg = self.get("XDG_CACHE_HOME")
        if xdg:
            return posixpath.join(xdg, sub), f"XDG_CACHE_HOME={xdg}"
        return posixpath.join(self.home, ".cache", sub), self.home_why


_PIP_VALUE = frozenset(
    {
        "-t",
        "--target",
        "--prefix",
        "--root",
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--cache-dir",
        "-w",
        "--wheel-dir",
        "-d",
        "--dest",
        "-e",
        "--editable",
        "--python-version",
        "--platform",
        "--implementation",
        "--abi",
        "--src",
        "--log",
        "--progress-bar",
        "--trusted-host",
        "--upgrade-strategy",
        "--only-binary",
        "--no-binary",
        "--config-settings",
        "-C",
    }
)


def _pip(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    sub = next((w.text for w in args if not w.text.startswith("-")), "")
    use = ToolUse("pip", ctx.cmd, action=sub)
    use.installs = sub in ("install", "download", "wheel")
    # pip's cache dir: --cache-dir, else PIP_CACHE_DIR, else platformdirs' user_cache_dir("pip") =
    # $XDG_CACHE_HOME/pip or ~/.cache/pip (pip/_internal/locations, pip/_vendor/platformdirs/unix.py).
    flag = _opt(args, "--cache-dir")
    if flag:
        path, why = ctx.path(flag), f"--cache-dir {flag}"
    elif ctx.get("PIP_CACHE_DIR"):
        path, why = ctx.path(ctx.env["PIP_CACHE_DIR"]), f"PIP_CACHE_DIR={ctx.env['PIP_CACHE_DIR']}"
    else:
        path, why = ctx.xdg_cache("pip")
    use.caches.append(CacheDir("cache", path, why, _suffix("/.cache/pip", "/.cache", "/pip-cache", "/pip")))
    # --no-cache-dir, or PIP_NO_CACHE_DIR set to any valid boolean — pip's _handle_no_cache_dir turns the
    # cache off even for PIP_NO_CACHE_DIR=0/false, for backward compatibility (pip cli/cmdoptions.py).
    word = _has(args, "--no-cache-dir")
    if word:
        use.disabled, use.disabled_word = "--no-cache-dir", "--no-cache-dir"
    elif ctx.get("PIP_NO_CACHE_DIR"):
        use.disabled = f"PIP_NO_CACHE_DIR={ctx.env['PIP_NO_CACHE_DIR']}"
        use.disabled_word = "PIP_NO_CACHE_DIR"
    if sub == "cache" and any(w.text in ("purge", "remove") for w in args):
        use.cleans.append(path)
        use.clean_how = f"pip cache {next(w.text for w in args if w.text in ('purge', 'remove'))}"
    for names, how in (
        (("-t", "--target"), "--target"),
        (("--prefix",), "--prefix"),
        (("--root",), "--root"),
    ):
        value = _opt(args, *names)
        if value and sub == "install":
            use.outputs.append(Output(ctx.path(value), f"pip install {how} {value}"))
    if sub == "wheel":
        value = _opt(args, "-w", "--wheel-dir")
        use.outputs.append(Output(ctx.path(value or "."), f"pip wheel -w {value or '.'}"))
    if sub == "download":
        value = _opt(args, "-d", "--dest")
        use.outputs.append(Output(ctx.path(value or "."), f"pip download -d {value or '.'}"))
    return use


def _uv(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [
        w.text
        for w in _positional(args, frozenset({"--cache-dir", "-p", "--python", "--directory", "--project"}))
    ]
    sub = " ".join(pos[:2]) if pos[:1] in (["pip"], ["tool"]) else (pos[0] if pos else "")
    use = ToolUse("uv", ctx.cmd, action=sub)
    use.installs = sub in ("pip install", "pip sync", "sync", "add", "tool install", "lock", "run")
    # uv's cache: --cache-dir, UV_CACHE_DIR, else $XDG_CACHE_HOME/uv or ~/.cache/uv (docs: concepts/cache)
    flag = _opt(args, "--cache-dir")
    if flag:
        path, why = ctx.path(flag), f"--cache-dir {flag}"
    elif ctx.get("UV_CACHE_DIR"):
        path, why = ctx.path(ctx.env["UV_CACHE_DIR"]), f"UV_CACHE_DIR={ctx.env['UV_CACHE_DIR']}"
    else:
        path, why = ctx.xdg_cache("uv")
    use.caches.append(CacheDir("cache", path, why, _suffix("/.cache/uv", "/.cache", "/uv")))
    # --no-cache-dir is uv's hidden alias of --no-cache, for pip compatibility (astral-sh/uv#1380)
    word = _has(args, "--no-cache", "-n", "--no-cache-dir")
    if word:
        use.disabled, use.disabled_word = word, word
    elif ctx.get("UV_NO_CACHE") and _truthy(ctx.env["UV_NO_CACHE"]):
        use.disabled, use.disabled_word = f"UV_NO_CACHE={ctx.env['UV_NO_CACHE']}", "UV_NO_CACHE"
    if sub == "cache" and pos[1:2] in (["clean"], ["prune"]) and pos[1] == "clean":
        use.cleans.append(path)
        use.clean_how = "uv cache clean"
    if sub in ("pip install", "pip sync"):
        for names, how in ((("-t", "--target"), "--target"), (("--prefix",), "--prefix")):
            value = _opt(args, *names)
            if value:
                use.outputs.append(Output(ctx.path(value), f"uv {sub} {how} {value}"))
    if sub == "sync":
        env_dir = ctx.get("UV_PROJECT_ENVIRONMENT")
        use.outputs.append(
            Output(ctx.path(env_dir or ".venv"), f"uv sync (project environment {env_dir or '.venv'})")
        )
    if sub == "venv":
        target = pos[1] if len(pos) > 1 else ".venv"
        use.outputs.append(Output(ctx.path(target), f"uv venv {target}"))
    use.offline = use.installs and (bool(_has(args, "--offline")) or _truthy(ctx.get("UV_OFFLINE") or ""))
    use.suggest_env = "UV_LINK_MODE=copy (the cache mount is another filesystem: uv cannot hardlink from it)"
    return use


def _poetry(ctx: _Ctx, args: list[Word], poetry_config: str) -> ToolUse | None:
    sub = next((w.text for w in args if not w.text.startswith("-")), "")
    use = ToolUse("poetry", ctx.cmd, action=sub)
    use.installs = sub in ("install", "sync", "add", "update", "lock")
    # POETRY_CACHE_DIR, else platformdirs user_cache_dir("pypoetry") (poetry docs: configuration, cache-dir)
    if ctx.get("POETRY_CACHE_DIR"):
        path, why = ctx.path(ctx.env["POETRY_CACHE_DIR"]), f"POETRY_CACHE_DIR={ctx.env['POETRY_CACHE_DIR']}"
    else:
        path, why = ctx.xdg_cache("pypoetry")
    use.caches.append(CacheDir("cache", path, why, _suffix("/.cache/pypoetry", "/.cache", "/pypoetry")))
    word = _has(args, "--no-cache")
    if word:
        use.disabled, use.disabled_word = word, word
    if sub == "cache" and any(w.text == "clear" for w in args):
        use.cleans.append(path)
        use.clean_how = "poetry cache clear"
    if sub in ("install", "sync", "add", "update"):
        create = ctx.get("POETRY_VIRTUALENVS_CREATE")
        in_project = ctx.get("POETRY_VIRTUALENVS_IN_PROJECT")
        venv_path = ctx.get("POETRY_VIRTUALENVS_PATH")
        configured = "virtualenvs." in poetry_config
        # an activated environment wins over every virtualenvs.* setting: EnvManager.get() takes
        # $VIRTUAL_ENV, else a non-base $CONDA_PREFIX, before it looks at them (poetry
        # src/poetry/utils/env/env_manager.py, `in_venv`)
        active = ctx.get("VIRTUAL_ENV") or (
            ctx.get("CONDA_PREFIX") if ctx.get("CONDA_DEFAULT_ENV") != "base" else None
        )
        if active:
            use.outputs.append(Output(ctx.path(active), f"poetry install (the active virtualenv {active})"))
        elif create is not None and not _truthy(create):
            pass  # installs into the interpreter's site-packages
        elif in_project is not None and _truthy(in_project):
            use.outputs.append(
                Output(ctx.path(".venv"), "poetry install (POETRY_VIRTUALENVS_IN_PROJECT: ./.venv)")
            )
        elif venv_path:
            use.outputs.append(
                Output(ctx.path(venv_path), f"poetry install (POETRY_VIRTUALENVS_PATH={venv_path})")
            )
        elif not configured and create is None and in_project is None:
            # virtualenvs.path defaults to {cache-dir}/virtualenvs (poetry docs: configuration)
            use.outputs.append(
                Output(
                    posixpath.join(path, "virtualenvs"),
                    "poetry install (its virtualenv defaults to {cache-dir}/virtualenvs)",
                )
            )
    use.suggest_env = "POETRY_VIRTUALENVS_IN_PROJECT=true or POETRY_VIRTUALENVS_CREATE=false (the virtualenv must not land in the cache)"
    return use


def _npm_cache(ctx: _Ctx, args: list[Word]) -> tuple[str, str]:
    # npm's cache: --cache, npm_config_cache (npm reads npm_config_* case-insensitively), else ~/.npm
    # (npm docs: config, "cache"; the content lives in ~/.npm/_cacache).
    flag = _opt(args, "--cache")
    if flag:
        return ctx.path(flag), f"--cache {flag}"
    for key in _spellings(ctx.env, "npm_config_cache"):
        value = ctx.env[key]
        if value and key not in ctx.cmd.unknown_env:
            return ctx.path(value), f"{key}={value}"
    return posixpath.join(ctx.home, ".npm"), ctx.home_why


def _spellings(env: Mapping[str, str], name: str) -> list[str]:
    """The variables of *env* named *name* in any case (npm reads ``npm_config_*`` so), the exact
    spelling first, then in sorted order: the environment is a hash map (lint/shell.py), whose order
    varies between runs, and the result must not."""
    exact = [name] if name in env else []
    return exact + sorted(k for k in env if k != name and k.lower() == name)


def _npm(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [w.text for w in _positional(args, frozenset({"--prefix", "--cache", "-w", "--workspace"}))]
    sub = pos[0] if pos else ""
    use = ToolUse("npm", ctx.cmd, action=sub)
    use.installs = sub in ("ci", "install", "i", "add", "update", "install-clean", "isntall", "in")
    path, why = _npm_cache(ctx, args)
    # npm writes _cacache (and _logs, _npx, _update-notifier-last-checked) directly in its cache dir
    # (npm docs: folders, "Cache"; @npmcli/config cache definition)
    use.caches.append(
        CacheDir(
            "cache",
            path,
            why,
            _suffix("/.npm", "/.npm/_cacache", "/npm-cache", "/.npm/cache"),
            entries=lambda n: n.startswith("_"),
        )
    )
    use.offline = use.installs and bool(_has(args, "--offline"))
    if sub == "cache" and pos[1:2] == ["clean"]:
        use.cleans.append(path)
        use.clean_how = "npm cache clean"
    if use.installs:
        if _has(args, "-g", "--global", "--location=global"):
            prefix = ctx.get("npm_config_prefix") or ctx.get("NPM_CONFIG_PREFIX") or "/usr/local"
            use.outputs.append(
                Output(posixpath.join(prefix, "lib/node_modules"), "npm install -g", node_modules=True)
            )
        else:
            prefix = _opt(args, "--prefix") or "."
            use.outputs.append(
                Output(ctx.path(posixpath.join(prefix, "node_modules")), f"npm {sub}", node_modules=True)
            )
    return use


def _yarn(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [w.text for w in _positional(args, frozenset({"--cache-folder", "--modules-folder", "--cwd"}))]
    sub = pos[0] if pos else "install"
    use = ToolUse("yarn", ctx.cmd, action=sub)
    use.installs = sub in ("install", "add", "upgrade") or (sub == "global" and pos[1:2] == ["add"])
    # Yarn 1: --cache-folder, YARN_CACHE_FOLDER, $XDG_CACHE_HOME/yarn; for root /usr/local/share/.cache/yarn
    # (yarn src/constants.js getCacheDir + src/util/user-home-dir.js: root's home is /usr/local/share).
    flag = _opt(args, "--cache-folder")
    if flag:
        path, why = ctx.path(flag), f"--cache-folder {flag}"
    elif ctx.get("YARN_CACHE_FOLDER"):
        path, why = (
            ctx.path(ctx.env["YARN_CACHE_FOLDER"]),
            f"YARN_CACHE_FOLDER={ctx.env['YARN_CACHE_FOLDER']}",
        )
    elif ctx.get("XDG_CACHE_HOME"):
        path, why = ctx.xdg_cache("yarn")
    elif ctx.is_root:
        path, why = "/usr/local/share/.cache/yarn", "Yarn 1 runs as root (its home is then /usr/local/share)"
    else:
        path, why = posixpath.join(ctx.home, ".cache/yarn"), ctx.home_why
    berry = posixpath.join(ctx.home, ".yarn/berry")
    # Yarn 2+ keeps its cache in ~/.yarn/berry/cache (enableGlobalCache) or ./.yarn/cache: a mount on
    # either is right for Yarn 2+, so neither counts as "misplaced".
    use.caches.append(
        CacheDir(
            "cache",
            path,
            why,
            lambda t: (
                (t.endswith("/.cache/yarn") or t.endswith("/.cache") or t.endswith("/yarn-cache"))
                and not covers(t, berry)
            ),
        )
    )
    use.caches.append(CacheDir("cache (Yarn 2+)", berry, ctx.home_why, lambda t: False))
    use.caches.append(
        CacheDir("cache (Yarn 2+, project)", ctx.path(".yarn/cache"), "the project", lambda t: False)
    )
    use.offline = use.installs and bool(_has(args, "--offline"))
    if sub == "cache" and pos[1:2] == ["clean"]:
        use.cleans.append(path)
        use.clean_how = "yarn cache clean"
    if sub in ("install", "add", "upgrade"):
        folder = _opt(args, "--modules-folder")
        use.outputs.append(Output(ctx.path(folder or "node_modules"), f"yarn {sub}", node_modules=True))
    return use


def _pnpm(ctx: _Ctx, args: list[Word], legacy: bool = False) -> ToolUse | None:
    pos = [w.text for w in _positional(args, frozenset({"--store-dir", "--dir", "-C", "--filter", "-F"}))]
    sub = pos[0] if pos else ""
    use = ToolUse("pnpm", ctx.cmd, action=sub)
    use.installs = sub in ("install", "i", "add", "fetch", "update", "up")
    # store-dir: --store-dir, npm_config_store_dir, $PNPM_HOME/store, $XDG_DATA_HOME/pnpm/store,
    # ~/.local/share/pnpm/store (pnpm docs: settings, storeDir).
    flag = _opt(args, "--store-dir")
    store_env = next(
        (v for v in map(ctx.env.__getitem__, _spellings(ctx.env, "npm_config_store_dir")) if v), None
    )
    if flag:
        path, why = ctx.path(flag), f"--store-dir {flag}"
    elif store_env:
        path, why = ctx.path(store_env), f"npm_config_store_dir={store_env}"
    elif ctx.get("PNPM_HOME"):
        path, why = posixpath.join(ctx.env["PNPM_HOME"], "store"), f"PNPM_HOME={ctx.env['PNPM_HOME']}"
    elif ctx.get("XDG_DATA_HOME"):
        path, why = (
            posixpath.join(ctx.env["XDG_DATA_HOME"], "pnpm/store"),
            f"XDG_DATA_HOME={ctx.env['XDG_DATA_HOME']}",
        )
    elif legacy:
        # pnpm < 7 kept its store in ~/.pnpm-store (the Dockerfile installs such a version)
        path, why = posixpath.join(ctx.home, ".pnpm-store"), ctx.home_why + ", pnpm < 7"
    else:
        path, why = posixpath.join(ctx.home, ".local/share/pnpm/store"), ctx.home_why + ", pnpm >= 7"
    use.caches.append(CacheDir("store", path, why, _suffix("/pnpm/store", "/.pnpm-store", "/pnpm")))
    use.offline = use.installs and bool(_has(args, "--offline"))
    if sub in ("install", "i", "add", "update", "up"):
        use.outputs.append(Output(ctx.path("node_modules"), f"pnpm {sub}", node_modules=True))
    return use


def _go(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    sub = args[0].text if args else ""
    use = ToolUse("go", ctx.cmd, action=sub)
    use.installs = sub in ("build", "install", "test", "get", "run", "generate", "vet") or (
        sub == "mod" and len(args) > 1 and args[1].text in ("download", "tidy", "vendor")
    )
    # GOCACHE default: os.UserCacheDir()/go-build ($XDG_CACHE_HOME or ~/.cache); GOMODCACHE default
    # $GOPATH/pkg/mod, GOPATH default ~/go (go help environment / go help gopath).
    if ctx.get("GOCACHE"):
        gocache, why = ctx.env["GOCACHE"], f"GOCACHE={ctx.env['GOCACHE']}"
    else:
        gocache, why = ctx.xdg_cache("go-build")
    gopath_env = ctx.get("GOPATH")
    gopath = (gopath_env or posixpath.join(ctx.home, "go")).split(":")[0]
    gopath_why = f"GOPATH={gopath_env}" if gopath_env else ctx.home_why
    if ctx.get("GOMODCACHE"):
        modcache, mwhy = ctx.env["GOMODCACHE"], f"GOMODCACHE={ctx.env['GOMODCACHE']}"
    else:
        modcache, mwhy = posixpath.join(gopath, "pkg/mod"), gopath_why
    if gocache != "off":
        # the build cache is flat: 00…ff, README, trim.txt, testexpire.txt (cmd/go/internal/cache)
        use.caches.append(
            CacheDir(
                "build cache",
                gocache,
                why,
                _suffix("/go-build", "/.cache"),
                entries=lambda n: bool(re.fullmatch(r"[0-9a-f]{2}|README|trim\.txt|testexpire\.txt", n)),
            )
        )
    else:
        use.disabled, use.disabled_word = "GOCACHE=off", "GOCACHE"
    use.caches.append(
        CacheDir(
            "module cache",
            modcache,
            mwhy,
            _suffix("/pkg/mod", "/gomod", "/go/pkg"),
            image_env="" if gopath_env or ctx.get("GOMODCACHE") else "GOPATH",
        )
    )
    use.offline = use.installs and ctx.get("GOPROXY") == "off"
    if sub == "clean":
        for w in args[1:]:
            if w.text == "-cache":
                use.cleans.append(gocache)
                use.clean_how = "go clean -cache"
            if w.text == "-modcache":
                use.cleans.append(modcache)
                use.clean_how = "go clean -modcache"
    if sub == "build":
        out = _opt(args[1:], "-o")
        if out:
            use.outputs.append(Output(ctx.path(out), f"go build -o {out}"))
    if sub == "install":
        gobin = ctx.get("GOBIN") or posixpath.join(gopath, "bin")
        use.outputs.append(
            Output(gobin, f"go install (into {'GOBIN' if ctx.get('GOBIN') else '$GOPATH/bin'} {gobin})")
        )
    return use


def _cargo(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [
        w.text
        for w in _positional(
            args,
            frozenset(
                {
                    "--target-dir",
                    "--manifest-path",
                    "--root",
                    "-p",
                    "--package",
                    "--bin",
                    "--target",
                    "-j",
                    "--features",
                    "-F",
                    "--profile",
                }
            ),
        )
    ]
    sub = pos[0] if pos else ""
    if sub == "zigbuild":  # cargo-zigbuild: cargo build underneath
        sub = "build"
    elif sub in ("auditable", "chef"):  # wrappers that name the real subcommand next: `cargo auditable
        # install …` installs into --root like `cargo install` (kanidm's tools Dockerfile), `chef cook` cooks
        sub = pos[1] if len(pos) > 1 else ""
    use = ToolUse("cargo", ctx.cmd, action=sub)
    use.installs = sub in (
        "build", "b", "install", "fetch", "test", "t", "run", "r", "check", "c", "vendor", "cook", "clippy", "doc"
    )  # fmt: skip
    use.offline = use.installs and bool(_has(args, "--offline", "--frozen"))
    # CARGO_HOME default ~/.cargo; registry and git caches under it (cargo book: "Cargo Home").
    home_env = ctx.get("CARGO_HOME")
    cargo_home = home_env or posixpath.join(ctx.home, ".cargo")
    why = f"CARGO_HOME={home_env}" if home_env else ctx.home_why
    use.caches.append(
        CacheDir(
            "registry",
            posixpath.join(cargo_home, "registry"),
            why,
            _suffix("/.cargo/registry", "/cargo/registry", "/.cargo"),
            image_env="" if home_env else "CARGO_HOME",
        )
    )
    use.caches.append(
        CacheDir(
            "git",
            posixpath.join(cargo_home, "git"),
            why,
            _suffix("/.cargo/git", "/cargo/git"),
            image_env="" if home_env else "CARGO_HOME",
        )
    )
    if sub in ("build", "b", "test", "t", "run", "r", "check", "c", "clippy", "doc", "cook"):
        target = _opt(args, "--target-dir") or ctx.get("CARGO_TARGET_DIR")
        manifest = _opt(args, "--manifest-path")
        base = posixpath.dirname(manifest) if manifest else "."
        out = ctx.path(target) if target else ctx.path(posixpath.join(base, "target"))
        # the build tree (cargo book: "Build cache"): --target-dir, CARGO_TARGET_DIR, else ./target
        use.caches.append(
            CacheDir(
                "target directory",
                out,
                f"--target-dir {target}"
                if _opt(args, "--target-dir")
                else (f"CARGO_TARGET_DIR={target}" if target else "the package's ./target"),
                _suffix("/target"),
                build_dir=True,
            )
        )
        if sub in ("build", "b"):
            use.outputs.append(
                Output(out, f"cargo build (target dir {target or posixpath.join(base, 'target')})")
            )
    if sub == "install":
        root = _opt(args, "--root") or ctx.get("CARGO_INSTALL_ROOT") or cargo_home
        use.outputs.append(Output(posixpath.join(ctx.path(root), "bin"), f"cargo install (into {root}/bin)"))
    return use


_APT_INSTALL = frozenset(
    {
        "install",
        "update",
        "upgrade",
        "dist-upgrade",
        "full-upgrade",
        "build-dep",
        "reinstall",
        "source",
        "download",
    }
)


def _apt(ctx: _Ctx, args: list[Word], name: str) -> ToolUse | None:
    pos = [w.text for w in _positional(args, frozenset({"-o", "-c", "-t", "--option", "--target-release"}))]
    sub = pos[0] if pos else ""
    use = ToolUse(name, ctx.cmd, action=sub)
    use.installs = sub in _APT_INSTALL
    # Dir::Cache::archives = /var/cache/apt/archives, Dir::State::lists = /var/lib/apt/lists (apt.conf(5))
    use.caches.append(
        CacheDir(
            "package cache",
            "/var/cache/apt",
            "apt's Dir::Cache",
            _suffix("/var/cache/apt"),
            ",sharing=locked",
        )
    )
    use.caches.append(
        CacheDir(
            "package lists", "/var/lib/apt", "apt's Dir::State", _suffix("/var/lib/apt"), ",sharing=locked"
        )
    )
    if sub in ("clean", "autoclean"):
        use.cleans.append("/var/cache/apt")
        use.clean_how = f"{name} {sub}"
    return use


def _apk(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [
        w.text for w in _positional(args, frozenset({"-X", "--repository", "-p", "--root", "--cache-dir"}))
    ]
    sub = pos[0] if pos else ""
    use = ToolUse("apk", ctx.cmd, action=sub)
    use.installs = sub in ("add", "upgrade", "fix") or (sub == "update" and False)
    # apk keeps downloaded packages only when /etc/apk/cache exists (Alpine wiki "Local APK cache";
    # apk-tools src/database.c opens the cache at etc/apk/cache); --cache-dir overrides it.
    flag = _opt(args, "--cache-dir")
    path = ctx.path(flag) if flag else "/etc/apk/cache"
    use.caches.append(
        CacheDir(
            "package cache",
            path,
            f"--cache-dir {flag}" if flag else "apk's cache link",
            _suffix("/etc/apk/cache", "/var/cache/apk"),
        )
    )
    use.caches.append(CacheDir("index cache", "/var/cache/apk", "apk", lambda t: False))
    word = _has(args, "--no-cache")
    if word:
        use.disabled, use.disabled_word = word, word
    if sub == "cache" and pos[1:2] in (["clean"], ["purge"]):
        use.cleans.append(path)
        use.clean_how = f"apk cache {pos[1]}"
    return use


def _dnf(ctx: _Ctx, args: list[Word], name: str) -> ToolUse | None:
    pos = [
        w.text
        for w in _positional(
            args,
            frozenset(
                {"--setopt", "--installroot", "--releasever", "-c", "--repo", "--enablerepo", "--disablerepo"}
            ),
        )
    ]
    sub = pos[0] if pos else ""
    use = ToolUse(name, ctx.cmd, action=sub)
    use.installs = sub in (
        "install",
        "update",
        "upgrade",
        "reinstall",
        "groupinstall",
        "makecache",
        "builddep",
    )
    # cachedir: /var/cache/dnf (dnf), /var/cache/libdnf5 (dnf5), /var/cache/yum (yum) — dnf.conf(5);
    # microdnf: /var/cache/yum (rpm-software-management/microdnf dnf-main.c: CACHEDIR "/var/cache/yum",
    # metadata, solv and lock under it; dnf_context_set_keep_cache FALSE)
    base = {"yum": "/var/cache/yum", "microdnf": "/var/cache/yum", "dnf5": "/var/cache/libdnf5"}.get(
        name, "/var/cache/dnf"
    )
    use.caches.append(
        CacheDir(
            "package cache",
            base,
            f"{name}'s cachedir",
            _suffix("/var/cache/dnf", "/var/cache/yum", "/var/cache/libdnf5"),
            ",sharing=locked",
        )
    )
    if sub == "clean":
        use.cleans.append(base)
        use.clean_how = f"{name} clean"
    return use


def _zypper(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    pos = [
        w.text
        for w in _positional(
            args, frozenset({"--root", "-R", "--reposd-root", "--cache-dir", "-C", "--pkg-cache-dir"})
        )
    ]
    sub = pos[0] if pos else ""
    use = ToolUse("zypper", ctx.cmd, action=sub)
    use.installs = sub in (
        "in",
        "install",
        "up",
        "update",
        "dup",
        "dist-upgrade",
        "patch",
        "si",
        "source-install",
    )
    # packages: /var/cache/zypp/packages (zypper(8): --pkg-cache-dir, default {cache-dir}/packages), kept
    # only for repositories with keeppackages=1 (zypper modifyrepo --keep-packages; zypp.conf(5))
    flag = _opt(args, "--pkg-cache-dir")
    cdir = _opt(args, "--cache-dir", "-C")
    path = (
        ctx.path(flag) if flag else posixpath.join(ctx.path(cdir) if cdir else "/var/cache/zypp", "packages")
    )
    use.caches.append(
        CacheDir(
            "package cache",
            path,
            "zypper's --pkg-cache-dir",
            _suffix("/var/cache/zypp", "/zypp/packages"),
            ",sharing=locked",
        )
    )
    if sub in ("clean", "cc"):
        use.cleans.append(posixpath.dirname(path))
        use.clean_how = f"zypper {sub}"
    return use


def _maven(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    use = ToolUse("maven", ctx.cmd, action=next((w.text for w in args if not w.text.startswith("-")), ""))
    use.installs = bool(use.action)
    # -Dmaven.repo.local, else ~/.m2/repository (Maven settings reference, localRepository)
    local = next((w.text.split("=", 1)[1] for w in args if w.text.startswith("-Dmaven.repo.local=")), None)
    if local:
        path, why = ctx.path(local), f"-Dmaven.repo.local={local}"
    else:
        path, why = posixpath.join(ctx.home, ".m2/repository"), ctx.home_why
    use.caches.append(CacheDir("local repository", path, why, _suffix("/.m2", "/.m2/repository")))
    use.offline = use.installs and bool(_has(args, "-o", "--offline"))
    return use


def _gradle(ctx: _Ctx, args: list[Word]) -> ToolUse | None:
    use = ToolUse("gradle", ctx.cmd, action=next((w.text for w in args if not w.text.startswith("-")), ""))
    use.installs = bool(use.action) and use.action not in ("--version", "help")
    # -g/--gradle-user-home, GRADLE_USER_HOME, else ~/.gradle (Gradle docs: directory layout)
    flag = _opt(args, "-g", "--gradle-user-home")
    if flag:
        gh, why = ctx.path(flag), f"--gradle-user-home {flag}"
    elif ctx.get("GRADLE_USER_HOME"):
        gh, why = ctx.env["GRADLE_USER_HOME"], f"GRADLE_USER_HOME={ctx.env['GRADLE_USER_HOME']}"
    else:
        gh, why = posixpath.join(ctx.home, ".gradle"), ctx.home_why
    use.caches.append(
        CacheDir(
            "caches",
            posixpath.join(gh, "caches"),
            why,
            _suffix("/.gradle", "/.gradle/caches"),
            image_env="" if flag or ctx.get("GRADLE_USER_HOME") else "GRADLE_USER_HOME",
        )
    )
    use.offline = use.installs and bool(_has(args, "--offline"))
    return use


#: Programs that run the compiler (and so ccache, when CC/CXX or a CMake launcher names it). Any other
#: command of the RUN merely inherits the variable: `mkdir` is no ccache use.
_CCACHE_DRIVERS = frozenset(
    {"make", "gmake", "cmake", "ninja", "meson", "gcc", "g++", "cc", "c++", "clang", "clang++",
     "python", "python3", "pip", "pip3", "configure", "bazel", "scons"}
)  # fmt: skip
#: ccache itself, not sccache (Mozilla's, another cache directory): a whole word or a path's last part.
_CCACHE_WORD = re.compile(r"(?:^|[\s/])ccache(?:[\s/]|$)")
_CCACHE_LAUNCHER = re.compile(r"_COMPILER_LAUNCHER=(?:\S*/)?ccache\Z")


def _ccache_dir(ctx: _Ctx) -> CacheDir:
    # CCACHE_DIR, else $XDG_CACHE_HOME/ccache or ~/.cache/ccache (ccache ≥ 4.0; ~/.ccache if it exists) —
    # ccache manual, "cache_dir".
    if ctx.get("CCACHE_DIR"):
        return CacheDir(
            "cache",
            ctx.env["CCACHE_DIR"],
            f"CCACHE_DIR={ctx.env['CCACHE_DIR']}",
            _suffix("/.ccache", "/.cache/ccache", "/ccache"),
        )
    path, why = ctx.xdg_cache("ccache")
    return CacheDir("cache", path, why, _suffix("/.ccache", "/.cache/ccache", "/ccache"))


_PIP_NAMES = frozenset({"pip", "pip3"})


def _python_module(cmd: Command) -> tuple[str, list[Word]] | None:
    """``python3 -m pip …`` → ("pip", args)."""
    args = cmd.argv[1:]
    for k, w in enumerate(args):
        if w.text == "-m" and k + 1 < len(args):
            return args[k + 1].text, args[k + 2 :]
        if w.text.startswith("-m") and len(w.text) > 2:
            return w.text[2:], args[k + 1 :]
        if not w.text.startswith("-"):
            return None
    return None


def analyse(
    cmd: Command,
    *,
    home: str,
    home_why: str,
    is_root: bool = True,
    poetry_config: str = "",
    pnpm_legacy: bool = False,
) -> ToolUse | None:
    """The tool *cmd* runs, or None for a command no rule is about."""
    if not cmd.argv or cmd.argv[0].dynamic:
        return None
    ctx = _Ctx(cmd, home, home_why, is_root)
    name = cmd.name
    args = cmd.argv[1:]
    if name.startswith("python") or name in ("py",):
        mod = _python_module(cmd)
        if mod is None:
            return None
        name, args = mod
        if name == "venv" or name == "virtualenv":
            target = next((w for w in args if not w.text.startswith("-")), None)
            if target is None or target.dynamic:
                return None
            use = ToolUse("venv", cmd, action="create")
            use.outputs.append(Output(ctx.path(target.text), f"python -m {name} {target.text}"))
            return use
    if name in _PIP_NAMES or (name.startswith("pip3.") and name[5:].isdigit()):
        return _pip(ctx, args)
    if name == "uv":
        return _uv(ctx, args)
    if name == "poetry":
        return _poetry(ctx, args, poetry_config)
    if name == "npm":
        return _npm(ctx, args)
    if name == "yarn":
        return _yarn(ctx, args)
    if name == "pnpm":
        return _pnpm(ctx, args, pnpm_legacy)
    if name == "zypper":
        return _zypper(ctx, args)
    if name in ("go", "xx-go"):  # tonistiigi/xx: xx-go is go with the target's GOOS/GOARCH set
        return _go(ctx, args)
    if name == "cargo":
        return _cargo(ctx, args)
    if name in ("apt-get", "apt"):
        return _apt(ctx, args, name)
    if name == "xx-apt-get":  # tonistiigi/xx: apt-get for the target architecture, same caches
        return _apt(ctx, args, "apt-get")
    if name in ("apk", "xx-apk"):
        return _apk(ctx, args)
    if name in ("dnf", "yum", "microdnf", "dnf5"):
        return _dnf(ctx, args, name)
    if name in ("mvn", "mvnw"):
        return _maven(ctx, args)
    if name in ("gradle", "gradlew"):
        return _gradle(ctx, args)
    if name == "ccache" or (
        name in _CCACHE_DRIVERS
        and (
            any(
                _CCACHE_WORD.search(v)
                # four lookups, not a scan of the whole environment per command (issue 17: linear)
                for v in map(
                    cmd.env.get, ("CC", "CXX", "CMAKE_C_COMPILER_LAUNCHER", "CMAKE_CXX_COMPILER_LAUNCHER")
                )
                if v is not None
            )
            or any(_CCACHE_LAUNCHER.search(w.text) for w in args)
        )
    ):
        use = ToolUse("ccache", cmd, action=name, installs=True)
        use.caches.append(_ccache_dir(ctx))
        if name == "ccache" and _has(args, "-C", "--clear"):
            use.cleans.append(use.caches[0].path)
            use.clean_how = "ccache --clear"
            use.installs = False
        return use
    return None


# --- commands that are not tools: where they write, what they read --------------------------------

_NON_RESCUE = frozenset(
    {
        "ls",
        "echo",
        "printf",
        "test",
        "[",
        "du",
        "stat",
        "tree",
        "wc",
        "true",
        "false",
        "mkdir",
        "touch",
        "rm",
        "chmod",
        "chown",
        "chgrp",
        "ln",
        "find",
        "file",
        "df",
        "sync",
        "sleep",
        "set",
        "export",
        "cd",
        "pwd",
        ":",
    }
)


def generic_outputs(cmd: Command) -> list[Output]:
    """Files/directories a non-tool command writes: cp/mv/install/tar -x/unzip/curl/wget/tee/redirects."""
    out: list[Output] = []
    for r in cmd.redirects:
        if (
            r.writes
            and r.target.static
            and not r.target.text.startswith("/dev/")
            and not r.target.text.isdigit()
        ):
            out.append(Output(resolve_path(r.target.text, cmd.cwd), f"redirection {r.op} {r.target.text}"))
    if not cmd.argv or cmd.argv[0].dynamic:
        return out
    name, args = cmd.name, cmd.argv[1:]

    def path(w: Word) -> str:
        return resolve_path(w.text, cmd.cwd)

    if name in ("cp", "mv", "install", "rsync"):
        tdir = _opt(args, "-t", "--target-directory")
        pos = _positional(
            args,
            frozenset({"-t", "--target-directory", "-m", "--mode", "-o", "-g", "--owner", "--group", "-e"}),
        )
        if name == "install" and _has(args, "-d", "--directory"):
            return out
        if tdir:
            out.append(Output(resolve_path(tdir, cmd.cwd), f"{name} -t {tdir}"))
        elif len(pos) >= 2 and pos[-1].static:
            out.append(Output(path(pos[-1]), f"{name} … {pos[-1].text}"))
    elif name == "tar":
        first = args[0].text if args else ""
        extracting = (
            (first and not first.startswith("-") and "x" in first)
            or _has(args, "-x", "--extract", "--get")
            or any(w.text.startswith("-") and not w.text.startswith("--") and "x" in w.text for w in args)
        )
        if extracting:
            d = _opt(args, "-C", "--directory")
            out.append(Output(resolve_path(d or ".", cmd.cwd), f"tar -x -C {d or '.'}"))
    elif name == "unzip":
        d = _opt(args, "-d")
        out.append(Output(resolve_path(d or ".", cmd.cwd), f"unzip -d {d or '.'}"))
    elif name == "curl":
        o = _opt(args, "-o", "--output") or _cluster_value(args, "o")
        if o and o != "-" and not o.startswith("/dev/"):
            out.append(Output(resolve_path(o, cmd.cwd), f"curl -o {o}"))
    elif name == "wget":
        o = _opt(args, "-O", "--output-document") or _cluster_value(args, "O")
        p = _opt(args, "-P", "--directory-prefix")
        if o and o != "-":
            out.append(Output(resolve_path(o, cmd.cwd), f"wget -O {o}"))
        elif p:
            out.append(Output(resolve_path(p, cmd.cwd), f"wget -P {p}"))
    elif name == "tee":
        for w in _positional(args):
            if w.static and not w.text.startswith("/dev/"):
                out.append(Output(path(w), f"tee {w.text}"))
    elif name == "touch":
        for w in _positional(args, frozenset({"-d", "-t", "-r"})):
            if w.static:
                out.append(Output(path(w), f"touch {w.text}"))
    elif name == "git" and args and args[0].text == "clone":
        pos = _positional(
            args[1:], frozenset({"-b", "--branch", "--depth", "-o", "--origin", "-c", "--config"})
        )
        if len(pos) >= 2 and pos[1].static:
            out.append(Output(path(pos[1]), f"git clone … {pos[1].text}"))
    return out


def _cluster_value(args: list[Word], letter: str) -> str | None:
    """The value of a short option given last in a cluster: ``curl -fsSLo FILE`` → FILE."""
    for k, w in enumerate(args[:-1]):
        t = w.text
        if t.startswith("-") and not t.startswith("--") and len(t) > 2 and t.endswith(letter):
            nxt = args[k + 1]
            return nxt.text if nxt.static else None
    return None


def copy_destination(cmd: Command) -> str | None:
    """Where cp/mv/install/rsync/tar -c put what they read (None when not such a command or unknown)."""
    if not cmd.argv:
        return None
    outs = generic_outputs(cmd) if cmd.name in ("cp", "mv", "install", "rsync") else []
    return outs[-1].path if outs else None


def generic_reads(cmd: Command) -> list[str]:
    """Absolute paths among a command's static words (argv[0] included), for "does it read X"."""
    out: list[str] = []
    for k, w in enumerate(cmd.argv):
        if w.dynamic:
            continue
        text = w.text
        if k > 0 and text.startswith("-") and "=" in text:
            text = text.split("=", 1)[1]
        elif k > 0 and text.startswith("-"):
            continue
        if (
            text.startswith("/")
            or text.startswith("./")
            or text.startswith("../")
            or (k > 0 and "/" in text)
            or (k > 0 and text)
        ):
            if w.glob:
                text = glob_base(text)
            out.append(resolve_path(text, cmd.cwd))
    for value in cmd.assigns.values():  # PYTHONPATH=/pip-packages python …: the command uses that path
        for part in value.split(":"):
            if part.startswith("/"):
                out.append(resolve_path(part, "/"))
    return out


def dynamic_prefixes(cmd: Command) -> list[str]:
    """For words only partly known (``"./target/$T/release/app"``): the directory their known start
    names (``./target``), resolved. Such a word still reads inside that directory, whatever ``$T`` is."""
    out: list[str] = []
    for k, w in enumerate(cmd.argv):
        if k == 0 or not w.dynamic:
            continue
        cut = min((i for i in (w.text.find("$"), w.text.find("{xargs}")) if i >= 0), default=-1)
        if cut <= 0:
            continue
        head = w.text[:cut]
        if "/" not in head:
            continue
        d = head.rsplit("/", 1)[0] or "/"
        if d in (".", ""):
            continue
        out.append(resolve_path(d, cmd.cwd))
    return out


def is_non_rescue(cmd: Command) -> bool:
    return cmd.name in _NON_RESCUE


__all__ += ["copy_destination", "dynamic_prefixes", "is_non_rescue"]
