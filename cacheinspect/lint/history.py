"""Which image-history steps ran with a cache mount (for ``inspect --image IMG --dockerfile FILE``).

An image's history cannot say it: BuildKit writes ``RUN |1 X=1 /bin/sh -c pip install … # buildkit``
for ``RUN --mount=type=cache,… pip install …`` (``dockerfile2llb/convert.go``: ``"RUN " +
runCommandString(args, …)`` joins the build args and the command, never the mounts; v0.13 and master
alike). So a user who sees a suspiciously small layer cannot learn from the image that the step's
output went into a cache mount, which never reaches a layer or an exported cache (cache mounts get
output index ``SkipOutput``, moby/buildkit#3011). With the Dockerfile at hand the mounts are known:
this module matches the history labels of the image's steps (as :mod:`cacheinspect.cache.load`
cleans them) to the RUN instructions of the target's stage chain and names the mounts of each.

Pure: labels and a resolved :class:`~cacheinspect.dockerfile.Build` in, matches out.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cacheinspect.dockerfile.model import Build, Instr, Mount, Stage

__all__ = ["MountedStep", "cache_mounted_steps", "history_label"]


class MountedStep(msgspec.Struct, frozen=True):
    """A step of the image (by position in *labels*) that ran with one or more cache mounts."""

    position: int
    label: str
    line: int
    mounts: tuple[Mount, ...]


def history_label(ins: Instr) -> str | None:
    """The label ``inspect`` shows for a RUN's history entry (build args left out), or None when the
    history text cannot be predicted (heredocs: BuildKit writes the document into ``created_by``)."""
    if ins.keyword != "RUN" or ins.run_cmd is None or ins.heredocs:
        return None
    argv = ins.run_cmd if isinstance(ins.run_cmd, list) else [*ins.shell, ins.run_cmd]
    text = " ".join(argv)
    # cache.load strips the default shell the same way (``RUN /bin/sh -c make`` is shown ``RUN make``)
    return "RUN " + text.removeprefix("/bin/sh -c ")


def _same_step(shown: str, label: str) -> bool:
    """``RUN make [FLAVOR=x]`` is ``RUN make``: cache.load appends the build args in brackets."""
    return shown == label or (shown.endswith("]") and shown.rsplit(" [", 1)[0] == label)


def _chain(stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, base first: the image's history runs in this order."""
    out: list[Stage] = []
    seen: set[int] = set()
    st: Stage | None = stage
    while st is not None and st.index not in seen:
        seen.add(st.index)
        out.append(st)
        st = st.base_stage
    return out[::-1]


def cache_mounted_steps(labels: Sequence[str | None], build: Build) -> list[MountedStep]:
    """Match image steps to the target's RUN instructions with cache mounts, in order.

    *labels* are the image's step labels in history order (``RUN make [FLAVOR=x]``: the bracketed
    build args are ignored). RUNs are matched in order, each label at most once, so two identical
    commands are told apart by position; a RUN whose label is not found (another Dockerfile, a
    heredoc) is simply not reported: no guess.
    """
    wanted: list[tuple[str, Instr]] = []
    for st in _chain(build.target):
        for ins in st.instrs:
            label = history_label(ins)
            if label is not None:
                wanted.append((label, ins))
    out: list[MountedStep] = []
    pos = 0
    for label, ins in wanted:
        for j in range(pos, len(labels)):
            shown = labels[j]
            if shown is not None and _same_step(shown, label):
                pos = j + 1
                caches = tuple(m for m in ins.mounts if m.type == "cache")
                if caches:
                    out.append(MountedStep(j, shown, ins.line, caches))
                break
    return out
