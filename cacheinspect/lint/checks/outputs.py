"""CM001 (a tool output written into a cache mount is lost to the image) and CM002 (a path that
only ever lived in a cache mount is read later): the rules on what a RUN writes and what is read after.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from functools import partial

from cacheinspect.dockerfile import Node, Stage
from cacheinspect.lint.checks.state import (
    _READERS,
    _cache_key,
    _CacheEvent,
    _CheckerBase,
    _is_clean,
    _Pending,
    _RescueIndex,
    _Run,
    _runs_node_modules,
    _StageState,
)
from cacheinspect.lint.shell import Command, resolve_path
from cacheinspect.lint.tools import (
    CacheDir,
    Output,
    copy_destination,
    covers,
    dynamic_prefixes,
    generic_outputs,
    generic_reads,
    is_non_rescue,
)


class _OutputRules(_CheckerBase):
    """CM001 and CM002."""

    # --- CM002 ----------------------------------------------------------------------------------

    def check_cache_only_read(
        self,
        node: Node,
        state: _StageState,
        stage: Stage,
        path: str,
        reader: str,
        at: tuple[int, int] | Callable[[], tuple[int, int]],
    ) -> bool:
        """*at* may be a function: locating a word in the instruction's text is paid only for a finding."""
        for t in state.event_targets_near(path):
            evs = state.events[t]
            direct = covers(t, path)
            if not direct and not covers(path, t):
                continue
            lost = [o for ev in evs for o, rescued in ev.outputs if not rescued]
            if not direct and not lost:
                continue
            probe = [path] if direct else [o.path for o in lost]
            # content the image has at (or inside) the path: then it existed outside the mount too. A write
            # to a strict ancestor (COPY . /app) does not count: it cannot be told from here.
            if any(p in state.content for p in probe):
                continue
            ev = next((e for e in evs if any(not r for _o, r in e.outputs)), evs[0]) if not direct else evs[0]
            where = f"stage {ev.stage.name!r}" if ev.stage.name else f"stage {ev.stage.index}"
            self.report(
                "CM002",
                node,
                at=at if isinstance(at, tuple) else at(),
                reader=reader,
                path=path if direct else lost[0].path,
                target=t,
                where=where,
                line=ev.line,
                state="absent or whatever the image had there before"
                if direct
                else "missing from what is copied",
            )
            return True
        return False

    # --- CM001 ----------------------------------------------------------------------------------

    def _outputs(self, run: _Run) -> list[tuple[Output, Command]]:
        outs: list[tuple[Output, Command]] = [(o, u.command) for u in run.uses for o in u.outputs]
        for c in run.commands:
            outs.extend((o, c) for o in generic_outputs(c))
        outs.sort(key=lambda oc: oc[1].index)
        return outs

    def _rescued(self, run: _Run, out: Output, after: int) -> bool:
        """Does a command after *after* read *out* (and not just copy it into a mount)?

        Answered from a per-RUN index (:class:`_RescueIndex`) when *out* is a clean absolute path: a
        heredoc of n commands each writing into the cache made the scan below n²."""
        if _is_clean(out.path):
            if run.rescue is None:
                run.rescue = _RescueIndex(self, run)
            return run.rescue.rescued(out, after)
        targets = [m.target for m in run.all_mounts]
        for c in run.commands:
            if c.index <= after or not c.argv or is_non_rescue(c):
                continue
            if out.node_modules and _runs_node_modules(c):
                return True
            # a word only partly known ("./target/$T/release/app") still reads inside its known start
            if not self._reads(c, out.path) and not any(covers(out.path, p) for p in dynamic_prefixes(c)):
                continue
            dest = copy_destination(c)
            if dest is not None and any(covers(t, dest) for t in targets):
                continue
            return True
        return False

    def check_outputs(self, run: _Run, state: _StageState) -> None:
        ins = run.instr
        events: dict[int, _CacheEvent] = {}
        for m in run.cache_mounts:
            ev = _CacheEvent(m, ins.line, run.stage)
            events[id(m)] = ev
            state.add_event(ev)
        tool_caches: dict[int, CacheDir] | None = None
        tools: dict[int, str] = {}
        for out, cmd in self._outputs(run):
            covering = [m for m in run.cache_mounts if covers(m.target, out.path)]
            if not covering:
                continue
            m = max(covering, key=lambda x: len(x.target))
            rescued = self._rescued(run, out, cmd.index)
            ev = events[id(m)]
            ev.outputs.append((out, rescued))
            if rescued:
                continue
            if tool_caches is None:  # the first such cache of each command's tool uses, built once
                tool_caches = {}
                for u in run.uses:
                    for cd in u.caches:
                        if not cd.path.startswith("~"):
                            tool_caches.setdefault(id(u.command), cd)
                tools = {}
                for u in reversed(run.uses):
                    tools[id(u.command)] = u.tool
            tool_cache = tool_caches.get(id(cmd))
            tool = tools.get(id(cmd), "")
            if tool == "poetry":
                fix = (
                    "set POETRY_VIRTUALENVS_IN_PROJECT=true (or POETRY_VIRTUALENVS_CREATE=false) so that the "
                    f"virtualenv is not created inside the cache mount {m.target}"
                )
            elif tool == "cargo" and out.how.startswith("cargo build"):
                fix = (
                    f"copy what the image needs out of {out.path} in this same RUN "
                    f"(for example && cp {out.path}/release/<binary> /usr/local/bin/)"
                )
            elif tool_cache is not None and not covers(m.target, tool_cache.path):
                fix = (
                    f"mount {cmd.name}'s own cache instead (--mount=type=cache,target={tool_cache.path}) "
                    f"and keep {out.path} outside any cache mount"
                )
            elif tool_cache is None:
                fix = f"copy the result out of {m.target} in this same RUN (for example cp -r {out.path} <a path in the image>)"
            else:
                fix = f"write {out.path} outside the cache mount {m.target}, or copy it out in this same RUN"
            at = self.locate(ins.node, out.path)
            if at == (ins.node.line, ins.node.column):
                at = self.locate(ins.node, cmd.argv[0].raw or cmd.name)
            self.pending.append(
                pend := _Pending(
                    {"how": out.how, "path": out.path, "target": m.target, "fix": fix},
                    ins.node,
                    at,
                    m,
                    posixpath.relpath(out.path, m.target),
                    ev,
                    cmd.index,
                )
            )
            self.pending_by_id.setdefault(_cache_key(m), []).append(pend)
            self.pending_at.add((id(ins.node), cmd.index))

    def check_pending_rescue(self, run: _Run) -> None:
        """A later RUN that mounts the same cache and reads the output rescues an earlier CM001."""
        for m in run.cache_mounts:
            waiting = self.pending_by_id.get(_cache_key(m))
            if not waiting:
                continue
            reads = [r for c in run.commands if not is_non_rescue(c) for r in generic_reads(c)]
            runs_node = any(_runs_node_modules(c) for c in run.commands if c.argv)
            if not reads and not runs_node:
                continue
            for p in waiting:
                path = posixpath.normpath(posixpath.join(m.target, p.rel))
                node_rescue = runs_node and any(o.node_modules for o, _r in p.event.outputs)
                if node_rescue or any(covers(path, r) or covers(r, path) for r in reads):
                    p.rescued = True
                    for k, (o, _r) in enumerate(p.event.outputs):
                        if o.path == p.finding_args["path"]:
                            p.event.outputs[k] = (o, True)
                    # ...but only through the cache: this RUN reads what the earlier one left in it
                    self.report(
                        "CM011",
                        run.instr.node,
                        at=self.mount_at(m, run.instr.node),
                        reader="this RUN",
                        what=f"{path} ({p.finding_args['how']})",
                        where=f"the cache mount {m.target}",
                        writer=str(p.finding_args["how"]).split(" (")[0],
                        line=p.node.line,
                        fix=(
                            f"copy {path} out of the cache mount in the RUN at line {p.node.line} "
                            f"(… && cp -r {path} <a path in the image>), and read that copy here"
                        ),
                    )
            self.pending_by_id[_cache_key(m)] = [p for p in waiting if not p.rescued]

    # --- CM002 from later RUNs -------------------------------------------------------------------

    def check_run_reads(self, run: _Run, state: _StageState) -> None:
        mounted = [m.target for m in run.all_mounts]
        own_outputs = {o.path for o, _c in self._outputs(run)}
        for c in run.commands:
            if not c.argv or c.argv[0].dynamic:
                continue
            candidates: list[str] = []
            if c.argv[0].text.startswith("/"):
                candidates.append(resolve_path(c.argv[0].text, "/"))
            if c.name in _READERS:
                candidates.extend(
                    generic_reads(c)[0:] if c.name not in ("chmod", "chown") else generic_reads(c)[1:]
                )
            for path in candidates:
                if path in own_outputs or any(covers(t, path) for t in mounted):
                    continue
                if self.check_cache_only_read(
                    run.instr.node,
                    state,
                    run.stage,
                    path,
                    f"{c.name} in RUN",
                    partial(self.locate, run.instr.node, path),
                ):
                    return
