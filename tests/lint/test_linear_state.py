"""Issue 17: the lint shell model and the Dockerfile resolver keep memory linear in the number of
variables for subshells, ``sh -c`` child shells and chains of stages.

Each case builds the input at n and 2n and measures with :mod:`tracemalloc` the peak memory of the
work, its result alive (every command holds the environment it runs with, every instruction its
variables).
Linear work doubles it; the copies per subshell / child shell / stage that these tests guard against
made it grow by four (n² entries). The measure is an allocation count, not a clock, so it does not
depend on the machine's load.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

from cacheinspect.dockerfile import parse_dockerfile, resolve
from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.shell import parse_script

N = 600
# linear growth is 2x (plus noise from dict/list resizes); quadratic growth was 3.5-4x at these sizes
MAX_GROWTH = 2.6


def _peak(build: Callable[[int], object], n: int) -> int:
    """The peak of bytes allocated while ``build(n)`` runs, its result still alive at the end."""
    gc.collect()
    tracemalloc.start()
    try:
        result = build(n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def _growth(build: Callable[[int], object], n: int = N) -> float:
    build(50)  # warm caches (compiled regexes, interned strings) outside the measure
    return _peak(build, 2 * n) / _peak(build, n)


def _subshells(n: int) -> str:
    # one subshell per line, each after one more exported variable
    return "".join(
        f"export V{i}=v{i}; (cd /m{i} && pip install --target=/cache/x{i} p{i})\n" for i in range(n)
    )


def _child_shells(n: int) -> str:
    return "".join(f"V{i}=v{i}; export W{i}=w{i}; sh -c 'cd /m{i} && pip install p{i}'\n" for i in range(n))


def _stage_chain(n: int) -> str:
    out = ["FROM alpine AS s0\n"]
    for i in range(n):
        if i:
            out.append(f"FROM s{i - 1} AS s{i}\n")
        out.append(f"ENV E{i}=v{i}\nARG A{i}=a{i}\nRUN --mount=type=cache,target=/c{i} pip install p$E{i}\n")
    return "".join(out)


def test_subshells_keep_memory_linear_in_the_variables() -> None:
    cmds = parse_script(_subshells(3), env={"PATH": "/bin"})
    # the model still reads them: the subshell sees the exports before it, its cd stays inside
    assert [c.cwd for c in cmds if c.name == "pip"] == ["/m0", "/m1", "/m2"]
    assert cmds[-1].env["V2"] == "v2" and "V2" not in cmds[1].env
    growth = _growth(lambda n: parse_script(_subshells(n), env={"PATH": "/bin"}))
    assert growth < MAX_GROWTH, f"memory grew {growth:.2f}x for 2x the subshells"


def test_child_shells_keep_memory_linear_in_the_variables() -> None:
    cmds = parse_script(_child_shells(2), env={"PATH": "/bin"})
    pips = [c for c in cmds if c.name == "pip"]
    # the child sees the exported W, not the plain shell variable V
    assert "W1" in pips[1].env and "V1" not in pips[1].env and pips[1].cwd == "/m1"
    growth = _growth(lambda n: parse_script(_child_shells(n), env={"PATH": "/bin"}))
    assert growth < MAX_GROWTH, f"memory grew {growth:.2f}x for 2x the sh -c lines"


def test_a_chain_of_stages_keeps_resolve_memory_linear() -> None:
    build = resolve(parse_dockerfile(_stage_chain(3)))
    last = build.stages[-1].instrs[-1]
    # each stage sees the ENV and ARG values of the stages before it
    assert last.vars["E0"] == "v0" and last.vars["A1"] == "a1" and last.vars["E2"] == "v2"
    growth = _growth(lambda n: resolve(parse_dockerfile(_stage_chain(n))))
    assert growth < MAX_GROWTH, f"memory grew {growth:.2f}x for 2x the stages"


def test_a_chain_of_stages_keeps_lint_memory_linear() -> None:
    assert lint_text(_stage_chain(3)).findings is not None
    growth = _growth(lambda n: lint_text(_stage_chain(n)), 250)
    assert growth < MAX_GROWTH, f"memory grew {growth:.2f}x for 2x the stages"
