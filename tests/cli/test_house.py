"""The house stays as the README's layout section draws it: no import circle, no import from a lower
layer to a higher one.

Imports are read with ``ast`` from the package's source, every one of them: module level, inside
functions (a late import that breaks a circle at run time is still a circle in the design) and under
``TYPE_CHECKING``. The layer order below is the one the README's "Where things live" section shows;
change both together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "cacheinspect"

#: Bottom to top. A module belongs to the first layer with a matching prefix (a longer prefix wins);
#: a module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "cacheinspect._version",
            "cacheinspect.errors",
            "cacheinspect.digest",
            "cacheinspect.safeio",
            "cacheinspect._persistent",
            "cacheinspect._aio",
            "cacheinspect._log",
            "cacheinspect._re2",
            "cacheinspect._lazyre",
            "cacheinspect.gojson",
            "cacheinspect.oci",
            "cacheinspect.reference",
            "cacheinspect.platforms",
            "cacheinspect.render.escape",
            "cacheinspect.render.common",
        ),
    ),
    ("sources", ("cacheinspect.sources",)),
    ("registry", ("cacheinspect.registry",)),
    ("dockerfile, gc", ("cacheinspect.dockerfile", "cacheinspect.gc")),
    ("cache", ("cacheinspect.cache",)),
    ("render", ("cacheinspect.render",)),
    ("lint, context, registryops", ("cacheinspect.lint", "cacheinspect.context", "cacheinspect.registryops")),
    ("api, cli", ("cacheinspect.cli", "cacheinspect.__main__", "cacheinspect")),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules *name* imports (``from pkg import submodule`` names the submodule)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "cacheinspect")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "cacheinspect":
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            out.update(subs or {target})
    out.discard(name)
    return {m for m in out if m in known}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def _layer(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), i)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and to the README"
    return best[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = counter
                counter += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(graph[w]))))
            elif w in on:
                low[v] = min(low[v], index[w])
    return out


def test_the_import_reader_sees_late_and_relative_imports() -> None:
    """The checker itself: it must see the kinds of import the rules are about."""
    g = _graph()
    assert "cacheinspect.errors" in g["cacheinspect.cli"]  # inside a function body
    assert "cacheinspect.digest" in g["cacheinspect.cache.graph"]  # `from cacheinspect import digest as ...`
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
        for m, targets in sorted(_graph().items())
        for t in sorted(targets)
        if _layer(t) > _layer(m)
    ]
    assert upward == []


def test_the_readme_draws_the_same_layers() -> None:
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    order = " → ".join(name for name, _ in LAYERS)
    assert order in readme, f"the README's layout section must state the layer order: {order}"


def test_every_module_over_800_lines_has_a_reason_in_the_readme() -> None:
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Where things live") :]
    big = sorted(
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if p.name != "_help.py" and len(p.read_text(encoding="utf-8").splitlines()) > 800
    )
    assert big, "the check itself: there are large modules today"
    assert [m for m in big if f"`{m}`" not in layout] == []
