"""Oracle-free fuzzing of every hostile-input surface of the CLI (issue 17): ``make fuzz`` and a slice in ``make test``.

A *surface* is a module ``tests/fuzz/surfaces/<name>.py`` with::

    NAME = "lint"
    def case(rng: random.Random, workdir: pathlib.Path) -> list[str]:
        '''Write one hostile input set under workdir (fresh, empty per case); return the cacheinspect argv.'''

The runner discovers every such module, deals the cases round-robin over the surfaces, and runs each
case's argv in-process through :func:`cacheinspect.cli.main` in a process forked from a warm worker (so a
case costs the command, not the interpreter start), in a fresh empty working directory, with stdin from
``/dev/null`` and stdout/stderr captured to files. The contract checked is the one of the registry side,
without an oracle:

* **exit 70** never: that is the CLI's "this is a bug" exit (an exception nobody expected); a child that
  dies by a signal or leaks an exception past ``main`` counts here too;
* **hangs** never: a case gets :data:`CPU_SECONDS` of CPU (``RLIMIT_CPU``) and :data:`WALL_FACTOR` times
  that of wall-clock time (a FIFO blocks without using CPU) before it is killed and counted;
* **over 1 GiB** never: the child's peak RSS (``wait4`` rusage) must stay under :data:`RSS_CAP`; an
  address-space limit of :data:`AS_LIMIT` keeps a runaway case from taking the machine down (its
  ``MemoryError`` is counted as over the cap, not as exit 70);
* **raw control characters** never in stdout or stderr: C0 except tab and newline (ESC included), DEL,
  C1, the bidi overrides and isolates U+202A..U+202E, U+2066..U+2069. Output must not be able to drive
  a terminal.

Each case's input is derived from ``(seed, surface, index)`` alone, so ``--surface S --seed N --case K``
reproduces one; the workdir of a failing case is kept (its path is printed) for the first few failures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pkgutil
import random
import re
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

__all__ = [
    "AS_LIMIT",
    "CPU_SECONDS",
    "RSS_CAP",
    "CaseResult",
    "SurfaceStats",
    "control_chars",
    "discover",
    "run_cases",
]

#: CPU seconds one case may use (``RLIMIT_CPU``); the wall-clock limit is WALL_FACTOR times this.
CPU_SECONDS = 10
WALL_FACTOR = 3
#: A case whose peak RSS reaches this is reported (the issue's contract: inputs under 10 MB stay under 1 GiB).
RSS_CAP = 1 << 30
#: The address-space limit set in each child: far above the RSS cap (virtual size counts arenas and
#: mappings never touched), low enough that a runaway case cannot exhaust the machine.
AS_LIMIT = 4 << 30
#: How many bytes of each output stream are scanned for control characters.
SCAN_BYTES = 16 << 20
#: Failing workdirs kept for inspection, per run.
KEEP_FAILED = 10

_EXIT_GENERATOR = 97  # the surface's own case() raised: a bug in the test, reported apart
_EXIT_OOM = 98  # MemoryError reached the runner: counted as over the RSS cap
_EXIT_LEAK = 99  # an exception escaped cacheinspect.cli.main: a bug, counted with exit 70

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def control_chars(data: bytes) -> list[str]:
    """The raw control characters in *data* (decoded as UTF-8, bad bytes replaced), as ``U+XXXX``."""
    text = data.decode("utf-8", "replace")
    return sorted({f"U+{ord(c):04X}" for c in _CONTROL.findall(text)})


Surface = Callable[[random.Random, Path], list[str]]


def discover(only: Iterable[str] | None = None) -> dict[str, Surface]:
    """``{NAME: case}`` of every module in this package (sorted by name), or only of those named."""
    found: dict[str, Surface] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name.startswith("test_"):
            continue
        mod: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(mod, "NAME", None)
        fn = getattr(mod, "case", None)
        if isinstance(name, str) and callable(fn):
            found[name] = fn
    if only:
        wanted = list(only)
        missing = [w for w in wanted if w not in found]
        if missing:
            raise SystemExit(f"unknown surface(s) {missing}; known: {sorted(found)}")
        found = {k: v for k, v in found.items() if k in wanted}
    return found


@dataclasses.dataclass
class CaseResult:
    surface: str
    index: int
    argv: list[str]
    exit_code: int | None  # None: killed (hang) or died by a signal
    signal: int | None
    hang: bool
    rss_bytes: int
    seconds: float
    controls: list[str]
    stderr_tail: str
    workdir: str | None = None  # kept when the case failed

    @property
    def bug(self) -> bool:
        return (self.exit_code in (70, _EXIT_LEAK)) or (self.signal is not None and not self.hang)

    @property
    def over_rss(self) -> bool:
        return self.rss_bytes >= RSS_CAP or self.exit_code == _EXIT_OOM

    @property
    def generator_error(self) -> bool:
        return self.exit_code == _EXIT_GENERATOR

    @property
    def failed(self) -> bool:
        return self.bug or self.hang or self.over_rss or bool(self.controls) or self.generator_error


@dataclasses.dataclass
class SurfaceStats:
    cases: int = 0
    exit70: int = 0
    hangs: int = 0
    over_1g: int = 0
    control: int = 0
    generator_errors: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    exits: dict[int, int] = dataclasses.field(default_factory=dict)
    examples: list[CaseResult] = dataclasses.field(default_factory=list)

    def add(self, r: CaseResult) -> None:
        self.cases += 1
        self.exit70 += r.bug
        self.hangs += r.hang
        self.over_1g += r.over_rss
        self.control += bool(r.controls)
        self.generator_errors += r.generator_error
        self.peak_rss = max(self.peak_rss, r.rss_bytes)
        self.seconds += r.seconds
        if r.exit_code is not None:
            self.exits[r.exit_code] = self.exits.get(r.exit_code, 0) + 1
        if r.failed and len(self.examples) < 5:
            self.examples.append(r)

    def merge(self, o: SurfaceStats) -> None:
        for f in ("cases", "exit70", "hangs", "over_1g", "control", "generator_errors", "seconds"):
            setattr(self, f, getattr(self, f) + getattr(o, f))
        self.peak_rss = max(self.peak_rss, o.peak_rss)
        for k, v in o.exits.items():
            self.exits[k] = self.exits.get(k, 0) + v
        self.examples.extend(o.examples[: max(0, 5 - len(self.examples))])

    @property
    def bad(self) -> int:
        return self.exit70 + self.hangs + self.over_1g + self.control + self.generator_errors


def case_rng(seed: int, surface: str, index: int) -> random.Random:
    """The generator of one case: a function of (seed, surface, index) only."""
    return random.Random(f"{seed}:{surface}:{index}")


def _warm() -> None:
    """Import every cacheinspect module and build the CLI app once in the worker, so each forked case
    pays for its command only (the commands import their library parts lazily)."""
    import cacheinspect
    import cacheinspect.cli as cli

    for info in pkgutil.walk_packages(cacheinspect.__path__, "cacheinspect."):
        if info.name.rsplit(".", 1)[-1] in ("__main__", "_gen_help"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # an optional module that cannot load here is loaded by its command
            continue
    cli.__getattr__("app")


def _child(fn: Surface, surface: str, seed: int, index: int, workdir: Path, out: Path) -> None:
    """In the forked child: generate the case, run it, and ``_exit`` with the code. Never returns."""
    code = _EXIT_LEAK
    try:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 2))
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(workdir)
        try:
            argv = fn(case_rng(seed, surface, index), workdir)
        except BaseException as e:
            (out / "argv").write_text(f"<generator failed: {type(e).__name__}: {e}>")
            os._exit(_EXIT_GENERATOR)
        (out / "argv").write_text("\0".join(argv))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        o = os.open(out / "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        e = os.open(out / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(o, 1)
        os.dup2(e, 2)
        # What a user's UTF-8 terminal gives the process: strict UTF-8 streams on fds 1 and 2.
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        from cacheinspect.cli import main

        try:
            main(argv)
            code = 0
        except SystemExit as se:
            c = se.code
            code = c if isinstance(c, int) else (0 if c is None else 1)
        except MemoryError:
            code = _EXIT_OOM
        except BaseException as ex:
            os.write(
                2, f"\nrunner: exception escaped main: {type(ex).__name__}: {ex}\n".encode(errors="replace")
            )
            code = _EXIT_LEAK
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
    except MemoryError:
        code = _EXIT_OOM
    except BaseException:
        code = _EXIT_LEAK
    os._exit(code & 0xFF)


def _rmtree(path: Path) -> None:
    def fix(func: object, p: str, exc: object) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
        except OSError:
            pass
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass

    if not path.exists():
        return
    for root, dirs, _ in os.walk(path):  # a case may leave directories without x/w permission
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                with contextlib.suppress(OSError):
                    os.chmod(p, 0o700)
    shutil.rmtree(path, onerror=fix)


def _read_head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def run_one(fn: Surface, surface: str, seed: int, index: int, base: Path, *, keep: bool) -> CaseResult:
    """Fork one child for case ``index`` of ``surface``, police it, collect its result."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{surface}-{index}-", dir=base))
    out = Path(tempfile.mkdtemp(prefix=f"out-{surface}-{index}-", dir=base))
    sys.stdout.flush()
    sys.stderr.flush()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(fn, surface, seed, index, workdir, out)
    hang = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    deadline = t0 + CPU_SECONDS * WALL_FACTOR
    if pidfd >= 0:
        ready, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        os.close(pidfd)
        if not ready:
            hang = True
    else:
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            time.sleep(0.005)
        else:
            hang = True
    if hang:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _, status, ru = os.wait4(pid, 0)
    seconds = time.monotonic() - t0
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    if sig in (signal.SIGXCPU, signal.SIGKILL) and not hang:
        hang = sig == signal.SIGXCPU
    argv_raw = _read_head(out / "argv", 1 << 20).decode("utf-8", "replace")
    argv = argv_raw.split("\0") if argv_raw else []
    stdout = _read_head(out / "stdout", SCAN_BYTES)
    stderr = _read_head(out / "stderr", SCAN_BYTES)
    controls = sorted(set(control_chars(stdout)) | set(control_chars(stderr)))
    res = CaseResult(
        surface=surface,
        index=index,
        argv=argv,
        exit_code=code,
        signal=sig,
        hang=hang,
        rss_bytes=ru.ru_maxrss * 1024,
        seconds=seconds,
        controls=controls,
        stderr_tail=stderr[-400:].decode("utf-8", "replace"),
    )
    if res.failed and keep:
        res.workdir = str(workdir)
        with contextlib.suppress(OSError):
            (out / "argv").replace(workdir.with_name(workdir.name + ".argv"))
    else:
        _rmtree(workdir)
    _rmtree(out)
    return res


def _shard(args: tuple[list[str], list[tuple[str, int]], int, str, int, int]) -> dict[str, SurfaceStats]:
    only, jobs, seed, base, keep, progress = args
    surfaces = discover(only or None)
    _warm()
    stats: dict[str, SurfaceStats] = {}
    kept = 0
    for done, (surface, index) in enumerate(jobs, 1):
        r = run_one(surfaces[surface], surface, seed, index, Path(base), keep=kept < keep)
        kept += r.workdir is not None
        stats.setdefault(surface, SurfaceStats()).add(r)
        if r.failed and progress:
            print(
                f"FAIL {surface} case {index}: exit {r.exit_code}, argv {r.argv!r}",
                file=sys.stderr,
                flush=True,
            )
        if progress and done % progress == 0:
            # a long run's figures so far, per worker (a run stopped early still has them)
            t = SurfaceStats()
            for st in stats.values():
                t.merge(st)
            print(
                f"progress worker {os.getpid()}: {t.cases} of {len(jobs)} cases, exit70 {t.exit70}, hangs {t.hangs}, "
                f">1GiB {t.over_1g}, ctrl {t.control}, generr {t.generator_errors}, peak {t.peak_rss >> 20} MiB",
                file=sys.stderr,
                flush=True,
            )
    return stats


def plan(names: list[str], cases: int, start: int = 0) -> list[tuple[str, int]]:
    """Case k goes to surface ``names[k % len(names)]`` with index ``k // len(names)`` (round-robin)."""
    n = len(names)
    return [(names[k % n], k // n) for k in range(start, start + cases)]


def run_cases(
    cases: int,
    *,
    workers: int = 2,
    surfaces: list[str] | None = None,
    seed: int = 0,
    only_case: int | None = None,
    base: Path | None = None,
    keep_failed: int = KEEP_FAILED,
    progress: int = 0,
) -> dict[str, SurfaceStats]:
    """Run ``cases`` cases round-robin over the surfaces on ``workers`` forked workers; stats per surface.

    ``progress`` > 0: each worker prints its figures so far every that many cases, and every failure
    as it happens, on stderr."""
    names = sorted(discover(surfaces))
    if only_case is not None:
        jobs = [(name, only_case) for name in names]
    else:
        jobs = plan(names, cases)
    own_base = base is None
    root = Path(tempfile.mkdtemp(prefix="cacheinspect-fuzz-")) if base is None else base
    only = list(surfaces) if surfaces else []
    if workers <= 1 or len(jobs) <= 1:
        parts = [_shard((only, jobs, seed, str(root), keep_failed, progress))]
    else:
        import multiprocessing

        shards = [jobs[i::workers] for i in range(workers)]
        jobs_args = [(only, s, seed, str(root), keep_failed // workers + 1, progress) for s in shards]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_shard, jobs_args, chunksize=1)
    total: dict[str, SurfaceStats] = {}
    for part in parts:
        for name, st in part.items():
            total.setdefault(name, SurfaceStats()).merge(st)
    if own_base and not any(r.workdir for st in total.values() for r in st.examples):
        _rmtree(root)
    return total
