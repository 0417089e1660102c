"""The walk: one pass over the stages in file order, dispatching each instruction to the rule
families (:mod:`.outputs`, :mod:`.packages`, :mod:`.mounts`, :mod:`.lists`), and :func:`check_build`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Container, Mapping
from functools import partial

import msgspec
from immutables import Map

from cacheinspect._persistent import FrozenMap
from cacheinspect.dockerfile import Build, Dockerfile, Instr, Mount, Stage
from cacheinspect.lint.checks.lists import _ListRules
from cacheinspect.lint.checks.mounts import _MountRules
from cacheinspect.lint.checks.outputs import _OutputRules
from cacheinspect.lint.checks.packages import _PackageRules
from cacheinspect.lint.checks.state import (
    _DOCKER_CLEAN,
    _POSIX_SHELLS,
    _TARGET_VARS,
    _VAR,
    UNKNOWN_WORKDIR,
    Finding,
    _Run,
    _runs_script,
    _StageState,
    _Write,
)
from cacheinspect.lint.images import BaseLookup
from cacheinspect.lint.shell import Command, command_from_argv, glob_base, parse_script, resolve_path
from cacheinspect.lint.tools import (
    ToolUse,
    analyse,
    covers,
    generic_outputs,
)


class _Checker(_OutputRules, _PackageRules, _MountRules, _ListRules):
    """The whole checker: the walk here, the rules in their families."""

    # --- the walk -------------------------------------------------------------------------------

    def run(self, stages: list[Stage]) -> list[Finding]:
        for stage in stages:
            base = self.states.get(stage.base_stage.index) if stage.base_stage is not None else None
            state = base.child() if base is not None else _StageState()
            if base is None:
                cfg = self.base_of(stage)
                if getattr(cfg, "removes_docker_clean", None):
                    state.docker_clean_removed = True
                state.workdir_known = self.env_known(stage)
            self.states[stage.index] = state
            for ins in stage.instrs:
                if ins.keyword == "RUN":
                    self.on_run(ins, stage, state)
                elif ins.keyword in ("COPY", "ADD"):
                    self.on_copy(ins, stage, state)
                elif ins.keyword in ("CMD", "ENTRYPOINT"):
                    self.on_cmd(ins, stage, state)
                elif ins.keyword in ("ENV", "ARG"):
                    self.on_env(ins, stage, state)
                elif ins.keyword == "WORKDIR" and ins.node.args and ins.node.args[0].startswith("/"):
                    state.workdir_known = True
        for p in self.pending:
            if not p.rescued:
                node, at = p.node, p.at
                self.report("CM001", node, at=at, **p.finding_args)
        self.decide_apt_locked()
        self.findings.sort(key=lambda f: (f.line, f.column, f.code))
        # one finding per line per rule: a RUN with three `pip install --no-cache-dir` says it once
        seen: set[tuple[str, int]] = set()
        unique: list[Finding] = []
        for f in self.findings:
            if (f.code, f.line) not in seen:
                seen.add((f.code, f.line))
                unique.append(f)
        self.findings = unique
        return self.findings

    def root_of(self, stage: Stage) -> Stage:
        """The first stage of *stage*'s ``FROM`` chain, remembered per stage: walking the chain on every
        ENV and RUN made a chain of n stages n² (issue 17)."""
        roots = self.roots
        found = roots.get(stage.index)
        if found is not None:
            return found
        path: list[Stage] = []
        root = stage
        while root.base_stage is not None and root.index not in roots:
            path.append(root)
            root = root.base_stage
        root = roots.get(root.index, root)
        for s in path:
            roots[s.index] = root
        roots[root.index] = roots.get(root.index, root)
        return root

    def env_known(self, stage: Stage) -> bool:
        """The base image's ENV/WORKDIR/USER are known for *stage*: its chain starts at a literal
        ``FROM scratch`` (not ``FROM ${TOOLCHAIN}`` with a placeholder default), or at an image the
        base lookup knows."""
        root = self.root_of(stage)
        raw = root.node.args[0] if root.node is not None and root.node.args else root.base
        if raw.strip().lower() == "scratch":
            return True
        return self.bases is not None and self.bases(root.base) is not None

    def base_of(self, stage: Stage) -> object | None:
        root = self.root_of(stage)
        return self.bases(root.base) if self.bases is not None and root.base != "scratch" else None

    # --- ENV / ARG -------------------------------------------------------------------------------

    def on_env(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        """``ENV GOMODCACHE=$GOPATH/pkg/mod`` FROM an image we do not know: GOPATH may come from that
        image, so the value is unknown (not ``/pkg/mod``) and no rule may build on it."""
        known = self.env_known(stage)
        args = ins.node.args
        pairs: list[tuple[str, str]] = []
        if ins.keyword == "ENV":
            pairs = [(args[j], args[j + 1]) for j in range(0, len(args) - 1, 3)]
        else:
            pairs = [(a.partition("=")[0], a.partition("=")[2]) for a in args]
        for raw_key, raw_value in pairs:
            key = raw_key.strip()
            names = _VAR.findall(raw_value)
            if (not known and any(n not in ins.vars or n in state.unknown_vars for n in names)) or any(
                n in state.unknown_vars for n in names
            ):
                state.unknown_vars[key] = True
            else:
                state.unknown_vars.pop(key, None)

    # --- COPY / ADD -----------------------------------------------------------------------------

    def on_copy(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        dest = resolve_path(ins.dest or ".", ins.workdir or "/") if ins.dest else ins.workdir or "/"
        dir_dest = (ins.dest or "").endswith("/") or len(ins.sources) > 1
        src_state = self.states.get(ins.from_stage.index) if ins.from_stage is not None else None
        for src in ins.sources:
            if src.is_url or src.is_git or src.is_heredoc:
                path = dest if not dir_dest else posixpath.join(dest, posixpath.basename(src.path) or "")
            else:
                base = posixpath.basename(src.path.rstrip("/"))
                path = (
                    posixpath.join(dest, base)
                    if dir_dest and base not in ("", ".") and "*" not in base
                    else dest
                )
            state.add_write(_Write(path, ins.line, f"{ins.keyword} at"))
            if (
                src_state is not None
                and ins.from_stage is not None
                and not (src.is_url or src.is_git or src.is_heredoc)
            ):
                spath = resolve_path(src.path, "/")
                if any(ch in spath for ch in "*?["):
                    spath = glob_base(spath)
                self.check_cache_only_read(
                    ins.node,
                    src_state,
                    ins.from_stage,
                    spath,
                    f"COPY --from={ins.from_}",
                    partial(self.locate, ins.node, src.path),
                )
        state.add_text(f"{ins.keyword} {' '.join(s.path for s in ins.sources)} {dest}")
        if dest == _DOCKER_CLEAN or (
            dest.startswith("/etc/apt/apt.conf.d") and any("docker-clean" in s.path for s in ins.sources)
        ):
            state.docker_clean_removed = True
        for src in ins.sources:
            if src.heredoc is not None:
                state.add_text(src.heredoc.content)
            if dest.startswith("/etc/apt/apt.conf.d") or dest.startswith("/etc/dnf"):
                state.add_text("Keep-Downloaded-Packages true keepcache=1 (copied configuration)")

    def on_cmd(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        args = ins.node.args
        words: list[str] = []
        if ins.node.json_form:
            words = [a for a in args if a.startswith("/")]
        elif args:
            cmds = parse_script(args[0], env={}, cwd=ins.workdir or "/")
            words = [
                c.argv[0].text
                for c in cmds[:1]
                if c.argv and c.argv[0].static and c.argv[0].text.startswith("/")
            ]
        for w in words:
            self.check_cache_only_read(
                ins.node, state, stage, resolve_path(w, "/"), ins.keyword, partial(self.locate, ins.node, w)
            )

    # --- RUN ------------------------------------------------------------------------------------

    def commands_of(
        self, ins: Instr, env: Mapping[str, str], unknown: Collection[str] | None = None
    ) -> list[Command] | None:
        shell = ins.shell or ["/bin/sh", "-c"]
        cmd = ins.run_cmd
        if cmd is None:
            return None
        unknown = unknown or ()
        if isinstance(cmd, list):
            return command_from_argv(cmd, env=env, cwd=ins.workdir or "/", unknown=unknown)
        if posixpath.basename(shell[0]) not in _POSIX_SHELLS:
            return None
        first = cmd.lstrip().split("\n", 1)[0]
        if first.startswith("#!") and not any(s in first for s in ("sh", "bash")):
            return None
        return parse_script(cmd, env=env, cwd=ins.workdir or "/", unknown=unknown)

    def on_run(self, ins: Instr, stage: Stage, state: _StageState) -> None:
        user = self.user_of(ins.user, state)
        # What the RUN's process gets: ENV and ARG values in one namespace, the later one winning
        # (convert.go dispatchArg: AddEnv), not ENV over ARG
        env: Mapping[str, str] = ins.vars  # a persistent map: no copy per RUN (issue 17)
        if user.home is not None and "HOME" not in env:
            env = env.set("HOME", user.home) if isinstance(env, FrozenMap) else {**env, "HOME": user.home}
        if not state.workdir_known:
            # the base image's WORKDIR is unseen: relative paths land under a directory we cannot name
            ins = msgspec.structs.replace(
                ins, workdir=posixpath.join(UNKNOWN_WORKDIR, (ins.workdir or "/").lstrip("/"))
            )
        # the map as it is now (immutable): the shell model keeps it without a copy per RUN
        commands = self.commands_of(ins, env, state.unknown_vars.m)
        env_known = self.env_known(stage)
        unknown = [
            m
            for m in ins.mounts
            if self.target_unknown(m, ins, state.unknown_vars, env_known)
            or (
                not state.workdir_known
                and any(not v.strip().startswith("/") for v in _TARGET_VARS.findall(m.raw))
            )
        ]
        for m in unknown:
            self.notes.append(
                f"line {m.line or ins.line}: the mount target of {m.raw or m.target!r} uses a variable this "
                "Dockerfile does not set (the base image may): its path is unknown, so it was not checked"
            )
        all_cache = [m for m in ins.mounts if m.type == "cache"]
        cache_mounts = [m for m in all_cache if m not in unknown]
        self.check_ids(ins, all_cache)
        self.check_apt_locked(ins, cache_mounts, stage)
        self.check_hidden(ins, cache_mounts, state)
        for m in ins.mounts:
            if m.type == "bind" and m.from_:
                try:
                    src_stage = self.build.stage(int(m.from_) if m.from_.isdigit() else m.from_)
                except (KeyError, IndexError):
                    continue
                src_state = self.states.get(src_stage.index)
                if src_state is not None:
                    self.check_cache_only_read(
                        ins.node,
                        src_state,
                        src_stage,
                        resolve_path(m.source or "/", "/"),
                        f"RUN --mount=type=bind,from={m.from_}",
                        self.mount_at(m, ins.node),
                    )
        if commands is None:
            self.check_owner(ins, all_cache, user)
            return
        if isinstance(ins.run_cmd, str):
            state.add_text(ins.run_cmd)
        for c in commands:
            for doc in c.stdin:
                state.add_text(doc)
        poetry_config = state.poetry_config
        home = user.home if user.home is not None else f"~{user.label}"
        home_why = f"USER {user.label}, HOME={home}" if user.name else f"HOME={home}"
        uses: list[ToolUse] = []
        for c in commands:
            cu = user if c.user is None else self.user_of(c.user, state)
            chome = cu.home if cu.home is not None else f"~{cu.label}"
            if c.user is not None and "HOME" in c.env and c.user not in ("", "root"):
                # env views are read-only (persistent maps: a copy without HOME is O(log n))
                c.env = (
                    c.env.delete("HOME")
                    if isinstance(c.env, Map)
                    else {k: v for k, v in c.env.items() if k != "HOME"}
                )
            u = analyse(
                c,
                home=chome if c.user is not None else home,
                home_why=home_why if c.user is None else f"USER {cu.label}, HOME={chome}",
                is_root=cu.is_root,
                poetry_config=poetry_config,
                pnpm_legacy=state.pnpm_major is not None and state.pnpm_major < 7,
            )
            if u is not None:
                uses.append(u)
        run = _Run(
            ins,
            stage,
            commands,
            uses,
            user,
            cache_mounts,
            [m for m in ins.mounts if m not in unknown],
            env_known,
            unknown,
        )
        self.runs.append(run)
        self.check_state_reads(run, state)
        self.check_pending_rescue(run)
        self.check_outputs(run, state)
        self.check_disabled(run)
        self.check_misplaced(run, state)
        self.check_owner(ins, all_cache, user, commands, uses)
        self.check_package_cache(run, state)
        self.check_no_mount(run, state)
        self.check_run_reads(run, state)
        self.learn_users(commands, state)
        for c in commands:
            if c.name == "rm" and any(
                w.text == _DOCKER_CLEAN or (w.glob and w.text.startswith("/etc/apt/apt.conf.d/"))
                for w in c.argv[1:]
            ):
                state.docker_clean_removed = True
            if c.name == "mv" and any(w.text == _DOCKER_CLEAN for w in c.argv[1:]):
                state.docker_clean_removed = True
            if not state.docker_clean_removed and not state.docker_clean_unknown and _runs_script(c):
                state.docker_clean_unknown = f"line {ins.line} runs {_runs_script(c)}"
        self.note_fills(run)
        # what this RUN leaves in the image
        mounted = [m.target for m in ins.mounts]
        for u in uses:
            for o in u.outputs:
                if not any(covers(t, o.path) for t in mounted):
                    state.add_write(_Write(o.path, ins.line, f"{o.how} at"))
            if u.installs and not u.disabled:
                for cd in u.caches:
                    if not cd.path.startswith("~") and not any(
                        covers(t, cd.path) or covers(cd.path, t) for t in mounted
                    ):
                        state.add_write(_Write(cd.path, ins.line, f"{u.tool} at", is_output=False))
        for c in commands:
            for o in generic_outputs(c):
                if not any(covers(t, o.path) for t in mounted):
                    state.add_write(_Write(o.path, ins.line, f"{o.how} at"))

    @staticmethod
    def target_unknown(m: Mount, ins: Instr, unknown_vars: Container[str], env_known: bool) -> bool:
        """The mount's target names a variable this Dockerfile never sets (``target=${PNPM_HOME}``
        FROM an image we do not know), or one built from such: BuildKit expands it with the image's
        ENV, we cannot."""
        if "$" not in m.raw:
            return False
        for value in _TARGET_VARS.findall(m.raw):
            for v in _VAR.findall(value):
                if v in unknown_vars or (not env_known and v not in ins.vars):
                    return True
        return False


def check_build(
    build: Build,
    df: Dockerfile,
    *,
    filename: str,
    text: str,
    stages: list[Stage] | None = None,
    base_config: BaseLookup | None = None,
) -> tuple[list[Finding], list[str]]:
    """All findings for *build* (every stage, or *stages*), sorted by position, and notes on what
    could not be checked."""
    checker = _Checker(build, df, filename, text.splitlines(), base_config)
    findings = checker.run(stages if stages is not None else build.stages)
    return findings, checker.notes
