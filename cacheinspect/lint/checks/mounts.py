"""CM006 to CM010: the rules on the cache mount itself (apt locking, owner, ids, a RUN without one,
a mount hiding what the image holds).
"""

from __future__ import annotations

import contextlib

from cacheinspect.dockerfile import Instr, Mount, Stage
from cacheinspect.lint.checks.state import (
    _ID_PROPS,
    UNKNOWN_WORKDIR,
    _CheckerBase,
    _Run,
    _StageState,
    _User,
)
from cacheinspect.lint.rules import Severity
from cacheinspect.lint.shell import Command
from cacheinspect.lint.tools import (
    ToolUse,
    covers,
)


class _MountRules(_CheckerBase):
    """CM006, CM007, CM008, CM009 and CM010."""

    # --- CM006 ----------------------------------------------------------------------------------

    def check_apt_locked(self, ins: Instr, mounts: list[Mount], stage: Stage) -> None:
        for m in mounts:
            if m.sharing == "locked":
                continue
            for base, kind in (("/var/cache/apt", "package cache"), ("/var/lib/apt", "package lists")):
                if covers(base, m.target):
                    self.apt_unlocked.append((ins.node, m, stage, kind, self.mount_at(m, ins.node)))
                    self.apt_first_run.setdefault((m.id, stage.index), (stage, ins))
                    break

    def decide_apt_locked(self) -> None:
        """CM006 is a warning when two RUNs that BuildKit can run at the same time mount the same apt
        cache unlocked; otherwise only other builds on the same builder can collide with it, and it is
        info.

        BuildKit schedules the LLB graph, not stages: a RUN waits only for what its own state is built
        on, its stage's base and the sources of the COPY --from / mount from= *before* it. A final stage
        that runs apt first and copies from the build stage afterwards runs its apt step while the build
        stage runs its own. The first such RUN of each stage has the fewest dependencies, so it is the
        one compared."""
        groups: dict[str, list[tuple[Stage, Instr]]] = {}
        for (cid, _sidx), run in self.apt_first_run.items():
            groups.setdefault(cid, []).append(run)
        parallel_ids = {i for i, runs in groups.items() if self._independent_pair(runs)}
        for node, m, _stage, kind, at in self.apt_unlocked:
            self.emit(
                "CM006",
                node,
                at,
                Severity.warning if m.id in parallel_ids else None,
                {"target": m.target, "kind": kind, "sharing": m.sharing},
            )

    _MAX_PARALLEL_STAGES = 64

    def _independent_pair(self, runs: list[tuple[Stage, Instr]]) -> bool:
        """Two of *runs* (in different stages) where neither needs the other's stage up to that RUN
        (BuildKit may run them at once). Bounded: beyond 64 stages of one cache the answer is "not
        shown" (info stays info)."""
        if len(runs) < 2 or len(runs) > self._MAX_PARALLEL_STAGES:
            return False
        deps = {st.index: self._deps_upto(st, ins) for st, ins in runs}
        return any(
            b.index not in deps[a.index] and a.index not in deps[b.index]
            for i, (a, _ia) in enumerate(runs)
            for b, _ib in runs[i + 1 :]
        )

    def _deps_upto(self, stage: Stage, ins: Instr) -> set[int]:
        """Every stage the RUN *ins* of *stage* waits for: the stage's base, and the sources of the
        COPY --from and mount from= of *stage* up to and including *ins*, each with all it needs."""
        direct: list[Stage | None] = [stage.base_stage]
        for i in stage.instrs:
            direct.append(i.from_stage)
            for m in i.mounts:
                if m.from_:
                    with contextlib.suppress(KeyError, IndexError):  # an image, not a stage
                        direct.append(self.build.stage(int(m.from_) if m.from_.isdigit() else m.from_))
            if i.node is ins.node:  # the same instruction (the walk may hold another Instr object for it)
                break
        seen: set[int] = set()
        for d in direct:
            if d is not None and d.index != stage.index and d.index not in seen:
                seen.add(d.index)
                seen |= self._deps_of(d)
        return seen

    @staticmethod
    def _deps_of(stage: Stage) -> set[int]:
        """Every stage *stage* needs (FROM, COPY --from, mount from=), transitively; iterative."""
        seen: set[int] = set()
        todo: list[Stage] = [stage]
        while todo:
            st = todo.pop()
            direct: list[Stage | None] = [st.base_stage, *st.deps]
            direct += [i.from_stage for i in st.instrs]
            for d in direct:
                if d is not None and d.index != stage.index and d.index not in seen:
                    seen.add(d.index)
                    todo.append(d)
        return seen

    # --- CM007 ----------------------------------------------------------------------------------

    #: programs that write only where their arguments say (checked by :meth:`_mount_unused`); any other
    #: program the linter does not model may write anywhere (HOME dot-directories, XDG paths …)
    _ARG_WRITERS = frozenset(
        {
            "set", "cd", "echo", "printf", "true", "false", "test", "[", "export", "mkdir", "tee", "cp",
            "mv", "rm", "ln", "chmod", "chown", "cat", "ls", "sed", "grep", "find", "tar", "touch", "nm",
            "exit", "sleep", "which", "command", "pwd", "id", "whoami", "head", "tail", "wc", "sort",
        }
    )  # fmt: skip

    def _mount_unused(self, m: Mount, commands: list[Command], uses: list[ToolUse]) -> bool:
        """Nothing in this RUN writes the mount: every program is one the linter models (a tool whose
        cache and outputs are known, or a command that writes only its arguments), none of their
        directories overlaps the target, and no argument, redirection or environment value names it.
        CM007's effect (EACCES, or the tool turning its cache off) then cannot happen: a root-owned
        mount nobody writes is harmless (``/home/node/.npm-backend`` under USER node: npm writes
        ``~/.npm``)."""
        t = m.target
        modelled = {id(u.command) for u in uses}
        for u in uses:
            for p in [cd.path for cd in u.caches] + [o.path for o in u.outputs]:
                if covers(t, p) or covers(p, t):
                    return False
        for c in commands:
            if id(c) not in modelled and c.name not in self._ARG_WRITERS:
                return False
            words = [w.text for w in c.argv] + [r.target.text for r in c.redirects] + list(c.env.values())
            if any(t in w for w in words):
                return False
        return True

    def check_owner(
        self,
        ins: Instr,
        mounts: list[Mount],
        user: _User,
        commands: list[Command] | None = None,
        uses: list[ToolUse] | None = None,
    ) -> None:
        if user.is_root:
            return
        for m in mounts:
            if m.readonly or m.from_ or m.source:
                continue
            if commands is not None and uses is not None and self._mount_unused(m, commands, uses):
                continue
            if (ins.line, m.target) in self.misplaced:
                continue  # CM004: the tool writes elsewhere, the owner of this mount does not matter
            mode = m.mode if m.mode is not None else 0o755
            uid = m.uid if m.uid is not None else 0
            gid = m.gid if m.gid is not None else 0
            if mode & 0o002:
                continue
            if user.uid is not None and uid == user.uid and mode & 0o200:
                continue
            if user.gid is not None and gid == user.gid and mode & 0o020:
                continue
            if user.uid is None and m.uid is not None:
                continue  # a named user we cannot resolve: trust the explicit uid
            owner = f"as uid {uid}, gid {gid}, mode {mode:04o}" + (
                " (BuildKit's default: root, 0755)" if m.uid is None and m.mode is None else ""
            )
            want = user.uid if user.uid is not None else "<uid of " + user.label + ">"
            self.report(
                "CM007",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=m.target,
                owner=owner,
                user=user.label,
                effect="writing to it fails with permission denied, or the tool silently turns its cache off",
                fix=f"--mount=type=cache,target={m.target},uid={want}"
                + (f",gid={user.gid}" if user.gid is not None else ""),
            )

    # --- CM008 ----------------------------------------------------------------------------------

    def check_ids(self, ins: Instr, mounts: list[Mount]) -> None:
        for m in mounts:
            key = m.id or m.target
            props = (m.from_, m.uid, m.gid, m.mode)
            seen = self.ids.get(key)
            if seen is None:
                self.ids[key] = (props, ins.line)
                continue
            if seen[0] == props:
                continue
            differ = [k for k in range(4) if props[k] != seen[0][k]]

            def show(p: tuple[str, int | None, int | None, int | None], differ: list[int] = differ) -> str:
                parts = []
                for k in differ:
                    v = p[k]
                    if v is None or v == "":
                        parts.append(f"no {_ID_PROPS[k]}")
                    elif k == 3 and isinstance(v, int):
                        parts.append(f"mode={v:04o}")
                    else:
                        parts.append(f"{_ID_PROPS[k]}={v}")
                return ", ".join(parts)

            self.report(
                "CM008",
                ins.node,
                at=self.mount_at(m, ins.node),
                id=key,
                here=show(props),
                there=show(seen[0]),
                line=seen[1],
            )

    # --- CM009 ----------------------------------------------------------------------------------

    def check_no_mount(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        targets = [m.target for m in run.cache_mounts]
        done: set[str] = set()
        for u in run.uses:
            if not u.installs or u.tool in done or run.unknown_mounts:
                continue  # (a mount whose path we cannot know may well be this tool's cache)
            if any(
                covers(t, cd.path) or covers(cd.path, t) or cd.looks_like(t)
                for t in targets
                for cd in u.caches
                if not cd.build_dir
            ):
                continue  # covered, or a mount meant for it that CM004 judges
            if (id(ins.node), u.command.index) in self.pending_at:
                continue  # CM001 already says what to mount instead
            if targets and self.configured(u.tool, state):
                continue  # its cache dir was configured somewhere we cannot read: a mount may be it
            done.add(u.tool if u.tool not in ("apt", "apt-get") else "apt-get")
            done.add(u.tool)
            primary = [
                cd
                for cd in u.caches
                if not cd.kind.startswith("cache (Yarn")
                and cd.kind != "index cache"
                and not cd.build_dir
                and not cd.path.startswith(UNKNOWN_WORKDIR)
            ]
            owner = ""
            if not run.user.is_root:
                owner = (
                    f",uid={run.user.uid}" if run.user.uid is not None else f",uid=<uid of {run.user.label}>"
                )
            mounts = " ".join(f"--mount=type=cache,target={cd.path}{cd.suggest}{owner}" for cd in primary)
            notes = sorted({cd.image_env for cd in primary if cd.image_env})
            fix = f"RUN {mounts} {u.tool} {u.action}".rstrip()
            extra: list[str] = []
            if u.disabled:
                extra.append(f"drop {u.disabled}")
            if u.tool in ("apt-get", "apt"):
                extra.append("rm -f /etc/apt/apt.conf.d/docker-clean in an earlier RUN (see CM005)")
            if u.tool in ("dnf", "yum", "microdnf", "dnf5"):
                extra.append("--setopt=keepcache=1")
            if u.suggest_env:
                extra.append("set " + u.suggest_env)
            for var in notes:
                extra.append(f"if the base image sets {var}, mount the directories under ${var} instead")
            if extra:
                fix += " …; " + "; ".join(extra)
            self.report(
                "CM009",
                ins.node,
                at=self.locate(ins.node, u.command.argv[0].text),
                tool=u.tool,
                action=u.action or "",
                fix=fix,
            )

    # --- CM010 ----------------------------------------------------------------------------------

    def check_hidden(self, ins: Instr, mounts: list[Mount], state: _StageState) -> None:
        for m in mounts:
            if m.from_ or m.source:
                continue
            hidden = state.outputs.get(m.target)
            if hidden is None:
                continue
            suggest = f" (for example {m.target}/repository)" if m.target.endswith("/.m2") else ""
            self.report(
                "CM010",
                ins.node,
                at=self.mount_at(m, ins.node),
                target=m.target,
                path=hidden.path,
                writer=hidden.writer.removesuffix(" at"),
                line=hidden.line,
                suggest=suggest,
            )
