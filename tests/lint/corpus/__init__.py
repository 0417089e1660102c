"""The classified real-world corpus of issue 18: precision and recall of every warning/error rule.

``files/`` holds public Dockerfiles (``index.tsv``: repository, path and commit of each, at most 5 per
repository); ``labels.tsv`` is the classification read by hand: every real misuse (``true``), every
warning/error the linter gives that is not one (``false``), and a ``-`` line per file read and found
clean. :func:`evaluate` lints every file and scores each rule against the labels; ``python -m
tests.lint.corpus`` prints the table, ``tests/lint/test_corpus.py`` holds it at >= 95%.

A finding the labels do not mention is reported as *unclassified*: the corpus test fails until
someone reads it and labels it, so a rule change shows its effect on real files instead of hiding it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.rules import RULES, Severity

HERE = Path(__file__).parent
FILES = HERE / "files"

__all__ = ["Label", "Result", "RuleScore", "evaluate", "labels", "render"]


@dataclass(frozen=True, slots=True)
class Label:
    file: str
    line: int
    rule: str
    verdict: bool
    reason: str


@dataclass(slots=True)
class RuleScore:
    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        """None when the rule gave no finding on the corpus (nothing to measure)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """None when the corpus holds no misuse of this rule."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass(slots=True)
class Result:
    scores: dict[str, RuleScore]
    files: int
    repositories: int
    with_cache_mount: int
    unclassified: list[str] = field(default_factory=list)  # findings no label mentions
    unread: list[str] = field(default_factory=list)  # files without any label line
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def labels(path: Path = HERE / "labels.tsv") -> tuple[list[Label], set[str]]:
    """The verdict lines, and the names of all files the classification covers."""
    out: list[Label] = []
    read: set[str] = set()
    with path.open(newline="") as fh:
        for row in csv.reader((ln for ln in fh if not ln.startswith("#")), delimiter="\t"):
            if not row:
                continue
            name, line, rule, verdict, reason = row
            read.add(name)
            if rule == "-":
                continue
            out.append(Label(name, int(line), rule, verdict == "true", reason))
    return out, read


def _repos() -> dict[str, str]:
    repos: dict[str, str] = {}
    with (HERE / "index.tsv").open(newline="") as fh:
        for row in csv.reader((ln for ln in fh if not ln.startswith("#")), delimiter="\t"):
            if row:
                repos[row[0]] = row[1]
    return repos


def evaluate(rules: Iterable[str] | None = None) -> Result:
    """Lint every corpus file and score the warning/error rules against the labels."""
    wanted = set(rules) if rules is not None else {r.code for r in RULES if r.severity >= Severity.warning}
    wanted |= {"CM006"}  # info by default, scored when it is raised to a warning
    found: set[tuple[str, int, str]] = set()
    names = sorted(p.name for p in FILES.iterdir() if p.is_file())
    mounts = 0
    for name in names:
        data = (FILES / name).read_bytes()
        # a cache mount outside comments (a comment may name one: LocalAI's golang Dockerfile)
        mounts += any(b"type=cache" in ln for ln in data.splitlines() if not ln.lstrip().startswith(b"#"))
        for f in lint_text(data, filename=name).findings:
            if f.severity >= Severity.warning and f.code in wanted:
                found.add((name, f.line, f.code))
    labelled, read = labels()
    by_key = {(lb.file, lb.line, lb.rule): lb for lb in labelled}
    repos = _repos()
    res = Result(
        scores={c: RuleScore(c) for c in sorted(wanted)},
        files=len(names),
        repositories=len({repos.get(n, n) for n in names}),
        with_cache_mount=mounts,
        unread=[n for n in names if n not in read],
    )
    for key in sorted(found):
        lb = by_key.get(key)
        if lb is None:
            res.unclassified.append(f"{key[0]}:{key[1]} {key[2]}")
        elif lb.verdict:
            res.scores[key[2]].tp += 1
        else:
            res.scores[key[2]].fp += 1
            res.false_alarms.append(f"{key[0]}:{key[1]} {key[2]} ({lb.reason})")
    for lb in labelled:
        if lb.verdict and (lb.file, lb.line, lb.rule) not in found and lb.rule in res.scores:
            res.scores[lb.rule].fn += 1
            res.misses.append(f"{lb.file}:{lb.line} {lb.rule} ({lb.reason})")
    return res


def render(res: Result) -> str:
    lines = [
        f"corpus: {res.files} files from {res.repositories} repositories "
        f"({res.with_cache_mount} with RUN --mount=type=cache, {res.files - res.with_cache_mount} controls)",
        "",
        f"{'rule':<6} {'true+':>5} {'false+':>6} {'missed':>6} {'precision':>9} {'recall':>7}",
    ]

    def fmt(v: float | None, width: int) -> str:
        return f"{v:>{width}.2f}" if v is not None else f"{'n/a':>{width}}"

    for s in res.scores.values():
        lines.append(f"{s.rule:<6} {s.tp:>5} {s.fp:>6} {s.fn:>6} {fmt(s.precision, 9)} {fmt(s.recall, 7)}")
    tp = sum(s.tp for s in res.scores.values())
    fp = sum(s.fp for s in res.scores.values())
    fn = sum(s.fn for s in res.scores.values())
    lines.append(
        f"{'all':<6} {tp:>5} {fp:>6} {fn:>6} {tp / (tp + fp) if tp + fp else 1:>9.2f} {tp / (tp + fn) if tp + fn else 1:>7.2f}"
    )
    for title, items in (
        ("unclassified findings (label them)", res.unclassified),
        ("files without a label line", res.unread),
        ("missed", res.misses),
        ("false alarms", res.false_alarms),
    ):
        if items:
            lines += ["", title + ":"] + [f"  {i}" for i in items]
    return "\n".join(lines) + "\n"
