"""CM011: state a RUN reads that an earlier RUN left only in a cache mount (apt package lists)."""

from __future__ import annotations

from cacheinspect.lint.checks.state import (
    _APT_LISTS,
    _APT_READS_LISTS,
    _APT_TOOLS,
    _cache_key,
    _CheckerBase,
    _Run,
    _StageState,
)
from cacheinspect.lint.tools import (
    covers,
)


class _ListRules(_CheckerBase):
    """CM011."""

    # --- CM011 ----------------------------------------------------------------------------------

    def note_fills(self, run: _Run) -> None:
        """Remember which cache mounts this RUN fills (a download or build into a mounted cache)."""
        for u in run.uses:
            if u.tool in _APT_TOOLS and u.action == "update":
                for m in run.cache_mounts:
                    if covers(m.target, _APT_LISTS):
                        self.apt_lists[_cache_key(m)] = (run.instr.line, f"{u.tool} update")
            if not u.installs or u.offline or u.disabled:
                continue
            for cd in u.caches:
                for m in run.cache_mounts:
                    if covers(m.target, cd.path) or covers(cd.path, m.target):
                        self.fills[_cache_key(m)] = (run.instr.line, f"{u.tool} {u.action}".strip())

    def check_state_reads(self, run: _Run, state: _StageState) -> None:
        """An offline install (``pnpm install --offline``, ``cargo build --offline``) reads only what is
        in its cache. When an earlier RUN filled that cache inside a cache mount and nothing in this
        RUN fetches, the step works only while this builder's mount still holds it."""
        ins = run.instr
        self.check_apt_lists(run)
        for u in run.uses:
            if not u.offline:
                continue
            if any(
                v.tool == u.tool and v.installs and not v.offline and v.command.index < u.command.index
                for v in run.uses
            ):
                continue  # fetched in this same RUN
            for cd in u.caches:
                if cd.build_dir:
                    continue
                mounted = next(
                    (m for m in run.cache_mounts if covers(m.target, cd.path) or covers(cd.path, m.target)),
                    None,
                )
                if mounted is not None:
                    filled = self.fills.get(_cache_key(mounted))
                    if filled is None:
                        continue
                    where = f"the cache mount {mounted.target}"
                else:
                    # not mounted here: did an earlier RUN fill that directory only inside a cache mount?
                    key = next(
                        (k for k, ev in state.events.items() if covers(k, cd.path) or covers(cd.path, k)),
                        None,
                    )
                    if key is None or cd.path in state.content:
                        continue
                    ev = state.events[key][-1]
                    filled = self.fills.get(_cache_key(ev.mount))
                    if filled is None:
                        continue
                    where = f"the cache mount {key} of line {filled[0]} (this RUN does not even mount it)"
                self.report(
                    "CM011",
                    ins.node,
                    at=self.locate(ins.node, u.command.argv[0].raw or u.tool),
                    reader=f"{u.tool} {u.action} (offline)".replace("  ", " "),
                    what=f"{u.tool}'s {cd.kind} {cd.path}",
                    where=where,
                    writer=filled[1],
                    line=filled[0],
                    fix=(
                        f"fetch and install in one RUN ({filled[1]} && {u.tool} {u.action} …), or drop the "
                        "offline flag (--prefer-offline reads the cache and still downloads what is missing)"
                    ),
                )
                break

    def check_apt_lists(self, run: _Run) -> None:
        """``apt-get install`` without ``apt-get update`` in the same RUN reads only the package lists
        (Dir::State::lists, /var/lib/apt/lists). When those are in a cache mount that an earlier RUN's
        ``apt-get update`` filled, they exist only there: Debian and Ubuntu images ship the directory
        empty, so on a fresh builder the install cannot locate its packages."""
        for u in run.uses:
            if u.tool not in _APT_TOOLS or u.action not in _APT_READS_LISTS:
                continue
            if u.command.name.startswith("xx-"):
                # tonistiigi/xx's xx-apt runs apt-get update itself whenever dpkg does not list the
                # target architecture yet (src/xx-apt: `dpkg --print-foreign-architectures | grep`)
                continue
            if any(
                v.tool in _APT_TOOLS and v.action == "update" and v.command.index < u.command.index
                for v in run.uses
            ):
                return  # the lists are fetched in this same RUN
            mounted = next((m for m in run.cache_mounts if covers(m.target, _APT_LISTS)), None)
            if mounted is None:
                return
            filled = self.apt_lists.get(_cache_key(mounted))
            if filled is None or filled[0] == run.instr.line:
                return
            self.report(
                "CM011",
                run.instr.node,
                at=self.locate(run.instr.node, u.command.argv[0].raw or u.tool),
                reader=f"{u.tool} {u.action}",
                what=f"apt's package lists {_APT_LISTS}",
                where=f"the cache mount {mounted.target}",
                writer=filled[1],
                line=filled[0],
                fix=f"run {u.tool} update in this RUN before {u.tool} {u.action}",
            )
            return
