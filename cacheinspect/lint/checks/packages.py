"""CM003 (a cache mount the tool never uses), CM004 (a cache mount at the wrong directory) and CM005
(a package manager's own cache settings fighting the mount): the rules on tools and their cache directories.
"""

from __future__ import annotations

import posixpath
import re

from cacheinspect.lint.checks.state import (
    _APT_DIRS,
    _APT_SUBDIRS,
    _DOCKER_CLEAN,
    _MATCH_ALL,
    UNKNOWN_WORKDIR,
    _CheckerBase,
    _Run,
    _StageState,
)
from cacheinspect.lint.shell import glob_base, resolve_path
from cacheinspect.lint.tools import (
    CacheDir,
    ToolUse,
    covers,
    generic_outputs,
)


class _PackageRules(_CheckerBase):
    """CM003, CM004 and CM005."""

    # --- CM003 ----------------------------------------------------------------------------------

    def check_disabled(self, run: _Run) -> None:
        ins = run.instr
        for u in run.uses:
            if u.command.conditional:
                continue  # a fallback (`|| pip install --no-cache-dir`) or a CI-only clean-up: deliberate
            if u.disabled:
                for m in run.cache_mounts:
                    if any(
                        covers(m.target, cd.path) or covers(cd.path, m.target) or cd.looks_like(m.target)
                        for cd in u.caches
                    ):
                        self.report(
                            "CM003",
                            ins.node,
                            at=self.locate(ins.node, u.disabled_word),
                            how=u.disabled,
                            effect=f"turns {u.tool}'s cache off",
                            target=m.target,
                            tool=u.tool,
                            fix=f"drop {u.disabled}: under a cache mount the cache never reaches the image anyway",
                        )
                        break
            for path in u.cleans:
                cm = next(
                    (m for m in run.cache_mounts if covers(m.target, path) or covers(path, m.target)), None
                )
                if cm is not None:
                    self.report(
                        "CM003",
                        ins.node,
                        at=self.locate(ins.node, u.clean_how.split(" ")[-1]),
                        how=u.clean_how,
                        effect=f"empties {path}",
                        target=cm.target,
                        tool=u.tool,
                        fix=f"drop {u.clean_how}: the cache mount never reaches the image, so there is nothing to clean",
                    )
        # what this RUN downloads into a cache mount (curl -o, wget -O/-P): a cache of downloads
        downloads = [
            (o, m)
            for c in run.commands
            if c.name in ("curl", "wget")
            for o in generic_outputs(c)
            for m in run.cache_mounts
            if covers(m.target, o.path) and o.path != m.target
        ]
        for c in run.commands:
            if c.name != "rm" or c.conditional:
                continue
            for w in c.argv[1:]:
                if w.dynamic or w.text.startswith("-"):
                    continue
                probe = resolve_path(glob_base(w.text) if w.glob else w.text, c.cwd)
                gone = next(
                    ((o, m) for o, m in downloads if covers(probe, o.path) and probe != m.target), None
                )
                if gone is not None and not w.glob:
                    o, m = gone
                    self.report(
                        "CM003",
                        ins.node,
                        at=self.locate(ins.node, f"rm {w.raw or w.text}"),
                        how=f"rm {w.text}",
                        effect=f"deletes {o.path}, which this RUN downloaded into the cache mount",
                        target=m.target,
                        tool=o.how.split(" ")[0],
                        fix=f"drop rm {w.text}, and download only when {o.path} is missing (test -f {o.path} || …)",
                    )
                    continue
                # A glob empties its directory only when it matches every name (rm -rf DIR/*);
                # rm ./.git/*.lock or rm /root/.cache/*.tmp removes a few files and keeps the cache.
                # apt's own patterns (archives/*.deb, *.bin) are the exception: those files are the cache.
                match_all = not w.glob or w.text.rstrip("/").rsplit("/", 1)[-1] in _MATCH_ALL
                for m in run.cache_mounts:
                    t = m.target
                    hit = (match_all and (probe == t or covers(probe, t))) or (
                        probe in _APT_SUBDIRS and covers(t, probe)
                    )
                    if hit:
                        tool = "apt" if any(covers(a, t) or covers(t, a) for a in _APT_DIRS) else "the tool"
                        self.report(
                            "CM003",
                            ins.node,
                            at=self.locate(ins.node, w.raw or w.text),
                            how=f"rm {w.text}",
                            effect=f"empties {probe}",
                            target=t,
                            tool=tool,
                            fix=f"drop rm {w.text}: the cache mount never reaches the image, so there is nothing to clean",
                        )
                        break

    # --- CM004 ----------------------------------------------------------------------------------

    def check_misplaced(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        used = [cd for u in run.uses for cd in u.caches]
        for m in run.cache_mounts:
            t = m.target
            # a mount strictly inside a cache directory whose entries the tool names, under another
            # name (GOCACHE=/.cache, mount /.cache/go-build: go writes /.cache/00…ff): it catches nothing
            inner_miss = [
                cd
                for cd in used
                if cd.entries is not None
                and t != cd.path
                and covers(cd.path, t)
                and not cd.entries(posixpath.relpath(t, cd.path).split("/", 1)[0])
            ]
            if any((covers(t, cd.path) or covers(cd.path, t)) and cd not in inner_miss for cd in used):
                continue
            if any(
                self._reads(c, t)
                for c in run.commands
                if c.argv
                and c.name
                not in ("pip", "pip3", "npm", "yarn", "pnpm", "go", "cargo", "uv", "poetry", "mvn", "gradle")
            ):
                continue
            cand: tuple[ToolUse, CacheDir] | None = None
            for u in run.uses:
                if not u.installs or u.disabled or self.configured(u.tool, state):
                    continue
                for cd in u.caches:
                    if cd.image_env and not run.env_known:
                        # the base image may set the variable that moves this directory: say so
                        if cd.looks_like(t) and not covers(t, cd.path) and not covers(cd.path, t):
                            note = (
                                f"line {ins.line}: CM004 not checked for the mount {t}: {u.tool}'s {cd.kind} "
                                f"depends on ${cd.image_env}, which the base image may set "
                                "(--resolve-base reads it from the image)"
                            )
                            if note not in self.notes:
                                self.notes.append(note)
                        continue
                    if cd.path.startswith(UNKNOWN_WORKDIR):
                        continue  # relative to a WORKDIR we cannot see
                    if (cd.looks_like(t) or cd in inner_miss) and not cd.path.startswith("~"):
                        cand = (u, cd)
                        break
                if cand:
                    break
            if cand is None:
                continue
            u, cd = cand
            extra = ""
            who = run.user if u.command.user is None else self.user_of(u.command.user, state)
            if not who.is_root and who.uid is not None:
                extra = f",uid={who.uid}" + (f",gid={who.gid}" if who.gid is not None else "")
            self.misplaced.add((ins.line, t))
            self.report(
                "CM004",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=t,
                tool=u.tool,
                kind=cd.kind,
                actual=cd.path,
                why=cd.why
                + (
                    "; BuildKit does not expand ~ in a --mount target: it is a directory named ~ under WORKDIR"
                    if "/~" in t
                    else ""
                ),
                extra=extra + cd.suggest,
            )

    # --- CM005 ----------------------------------------------------------------------------------

    def _script_may_configure(self, run: _Run, state: _StageState, tool: str) -> bool:
        """An earlier step ran a script the linter cannot read (``state.docker_clean_unknown``): it may
        as well have made *tool* keep its packages (kanidm's ``zypper_fixing.sh`` runs ``zypper mr -k``,
        i.e. ``--keep-packages``), so CM005 says nothing and a note names what it skipped."""
        if not state.docker_clean_unknown:
            return False
        note = (
            f"line {run.instr.line}: CM005 not checked: {state.docker_clean_unknown}, a script that may make "
            f"{tool} keep its downloaded packages"
        )
        if note not in self.notes:
            self.notes.append(note)
        return True

    def check_package_cache(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        for u in run.uses:
            if u.tool in ("apt-get", "apt") and u.action in (
                "install",
                "upgrade",
                "dist-upgrade",
                "full-upgrade",
                "build-dep",
                "reinstall",
            ):
                m = next(
                    (
                        m
                        for m in run.cache_mounts
                        if covers(m.target, "/var/cache/apt/archives")
                        or m.target == "/var/cache/apt/archives"
                    ),
                    None,
                )
                if m is None:
                    continue
                removed = state.docker_clean_removed or any(
                    c.name == "rm"
                    and any(w.text == _DOCKER_CLEAN for w in c.argv)
                    and c.index < u.command.index
                    for c in run.commands
                )
                keep = state.keep_downloaded or any(
                    "Keep-Downloaded-Packages" in w.text for w in u.command.argv
                )
                at = self.locate(ins.node, u.tool + " " + u.action)
                if not removed and state.docker_clean_unknown:
                    self.notes.append(
                        f"line {ins.line}: CM005 not checked: {state.docker_clean_unknown}, a script that may "
                        f"remove {_DOCKER_CLEAN}"
                    )
                    continue
                if not removed:
                    self.report(
                        "CM005",
                        ins.node,
                        at=at,
                        message=f"{u.tool} {u.action} runs with {m.target} mounted as a cache, but the Debian/Ubuntu image's {_DOCKER_CLEAN} deletes every downloaded .deb after the install: the cache mount stays empty",
                        fix="in an earlier RUN: rm -f /etc/apt/apt.conf.d/docker-clean; echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache",
                    )
                elif u.tool == "apt" and not keep:
                    self.report(
                        "CM005",
                        ins.node,
                        at=at,
                        message=f"apt {u.action} keeps no downloaded packages (the apt binary defaults Binary::apt::APT::Keep-Downloaded-Packages to false): the cache mount {m.target} stays empty",
                        fix="echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache in an earlier RUN, or use apt-get",
                    )
            if u.tool == "zypper" and u.installs:
                m = next(
                    (m for m in run.cache_mounts if any(covers(m.target, cd.path) for cd in u.caches)), None
                )
                if (
                    m is not None
                    and not state.keep_packages
                    and not self._script_may_configure(run, state, "zypper")
                ):
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"zypper {u.action} deletes the downloaded packages after installing them (repositories default to keeppackages=0): the cache mount {m.target} keeps only metadata",
                        fix="zypper modifyrepo --all --keep-packages in an earlier RUN (or keeppackages=1 in the .repo files)",
                    )
            if u.tool == "apk" and u.installs and not u.disabled:
                m = next((m for m in run.cache_mounts if covers(m.target, "/var/cache/apk")), None)
                if (
                    m is not None
                    and not state.apk_cache_linked
                    and not self._script_may_configure(run, state, "apk")
                ):
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"apk {u.action} keeps downloaded packages only when /etc/apk/cache exists (a directory or a link to the cache), which this image does not have: the cache mount {m.target} keeps only the index",
                        fix=f"ln -s {m.target} /etc/apk/cache in this RUN, before apk {u.action} (or mount the cache at /etc/apk/cache)",
                    )
            if u.tool in ("dnf", "yum", "microdnf", "dnf5") and u.installs and u.action != "makecache":
                m = next(
                    (
                        m
                        for m in run.cache_mounts
                        if any(covers(m.target, cd.path) or covers(cd.path, m.target) for cd in u.caches)
                    ),
                    None,
                )
                if m is None:
                    continue
                keep = state.keepcache or any(
                    re.search(r"keepcache=(1|true|True|yes)", w.text) for w in u.command.argv
                )
                if not keep and not self._script_may_configure(run, state, u.tool):
                    self.report(
                        "CM005",
                        ins.node,
                        at=self.locate(ins.node, u.command.argv[0].text),
                        message=f"{u.tool} {u.action} deletes the downloaded packages after a successful transaction (keepcache defaults to 0): the cache mount {m.target} keeps only metadata",
                        fix=f"{u.tool} {u.action} --setopt=keepcache=1 … (or keepcache=1 in /etc/dnf/dnf.conf)",
                    )
