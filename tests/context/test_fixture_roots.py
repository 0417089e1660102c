"""Every context root of the bundled fixtures, recomputed byte for byte from testbed/cases.

Expected values are the fixtures' own records, read with plain ``json``: a root record is one without
inputs, and a COPY from the local context links to the root ``sha256(sha256(cs_1 … cs_n) + "@-1")``.
Each fixture's context is rebuilt the way testbed/make-fixtures.sh made it: a copy of
testbed/cases/<case> with files 0644 and directories 0755, then the non-docker commands of its
case.json (``chmod 600 app.conf``, ``setfattr -n user.foo -v bar app.conf``, an appended line).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.context import (
    Checksummer,
    ContextTree,
    Entry,
    Selector,
    client_view,
    compute_roots,
    copy_steps,
    hash_tree,
    root_digest,
    walk_context,
)
from cacheinspect.dockerfile import parse_dockerfile, resolve

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
CASES = ROOT / "testbed" / "cases"
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"

# fixture -> the testbed case its context came from (make-fixtures.sh `context NAME CASE`)
FIXTURES = {
    "crosshost-a": "crosshost",
    "crosshost-b-mode": "crosshost",
    "crosshost-b-xattr": "crosshost",
    "crosshost-a-busybox": "crosshost-busybox",
    "crosshost-b-base": "crosshost-busybox",
    "crosshost-b-buildarg": "crosshost-busybox",
    "threestage-max": "threestage",
    "threestage-min": "threestage",
    "threestage-inline": "threestage",
    "threestage-edit-max": "threestage",
    "threestage-edit-min": "threestage",
}


def _blob(root: Path, digest: str) -> bytes:
    return (root / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def cache_records(name: str) -> list[dict[str, Any]]:
    """The records of a fixture's cache (registry cache config or inline cache), plain json."""
    root = FIX / name
    top = json.loads(_blob(root, json.loads((root / "index.json").read_text())["manifests"][0]["digest"]))
    entries = top.get("manifests")
    if entries and any(d["mediaType"] == MT_CACHE for d in entries):
        cfg = json.loads(_blob(root, next(d for d in entries if d["mediaType"] == MT_CACHE)["digest"]))
        return list(cfg["records"])
    manifests = [top] if entries is None else [json.loads(_blob(root, d["digest"])) for d in entries]
    records: list[dict[str, Any]] = []
    for m in manifests:
        img = json.loads(_blob(root, m["config"]["digest"]))
        if "moby.buildkit.cache.v0" in img:
            records += json.loads(base64.b64decode(img["moby.buildkit.cache.v0"]))
    return records


def fixture_roots(name: str) -> set[str]:
    return {r["digest"] for r in cache_records(name) if not r.get("inputs")}


def _setfattr(args: list[str], cwd: Path) -> None:
    # setfattr -n NAME -v VALUE FILE, done with os.setxattr so the attr package is not needed
    name = args[args.index("-n") + 1]
    value = args[args.index("-v") + 1]
    os.setxattr(cwd / args[-1], name, value.encode())


def make_context(fixture: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    case = json.loads((FIX / fixture / "case.json").read_text())
    ctx = tmp / fixture
    shutil.copytree(CASES / FIXTURES[fixture], ctx)
    for p in [ctx, *ctx.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for cmd in case["commands"]:
        if cmd.startswith("docker "):
            continue
        argv = shlex.split(cmd)
        if argv[0] == "setfattr":
            _setfattr(argv, ctx)
        else:
            subprocess.run(["bash", "-c", cmd], cwd=ctx, check=True)
    return ctx, case


def build_args(case: dict[str, Any]) -> dict[str, str]:
    """The --build-arg values of the case's docker buildx build command."""
    out = {}
    for cmd in case["commands"]:
        argv = shlex.split(cmd)
        for i, a in enumerate(argv[:-1]):
            if a == "--build-arg":
                k, _, v = argv[i + 1].partition("=")
                # $REG was the loopback registry at generation; any registry name parses the same
                out[k] = v.replace("$REG", "127.0.0.1:5000")
    return out


def computed_roots(ctx: Path, dockerfile: str, args: dict[str, str] | None = None) -> dict[int, str]:
    build = resolve(parse_dockerfile(dockerfile), build_args=args or {})
    steps, paths = copy_steps(build)
    view = hash_tree(client_view(walk_context(ctx), paths, []))
    out = {}
    for r in compute_roots(view, steps):
        assert r.root is not None, r.error
        out[r.step.line] = r.root
    return out


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_every_context_root_of_the_fixture_is_reproduced(fixture: str, tmp_path: Path) -> None:
    ctx, case = make_context(fixture, tmp_path)
    ours = computed_roots(ctx, case["dockerfile"], build_args(case))
    theirs = fixture_roots(fixture)
    assert ours, "no COPY from the context found"
    missing = {line: root for line, root in ours.items() if root not in theirs}
    assert not missing, f"computed roots not in {fixture}'s cache: {missing}"
    others = theirs - set(ours.values())
    if case["dockerfile"].count("FROM scratch") == case["dockerfile"].count("FROM "):
        # no base image: the only other roots are COPY --from ones (threestage, checked below)
        assert len(others) == (2 if fixture.startswith("threestage") else 0), others
    else:
        assert len(others) == 2, others  # the base image's two roots (manifest key and ChainID key)


def test_variants_change_exactly_the_step_that_reads_the_changed_file(tmp_path: Path) -> None:
    a_ctx, a_case = make_context("crosshost-a", tmp_path / "a")
    a = computed_roots(a_ctx, a_case["dockerfile"])
    for variant in ("crosshost-b-mode", "crosshost-b-xattr"):
        b_ctx, b_case = make_context(variant, tmp_path / variant)
        b = computed_roots(b_ctx, b_case["dockerfile"])
        changed = {line for line in a if a[line] != b[line]}
        assert changed == {4}, (variant, changed)  # COPY app.conf /etc/app.conf
        assert b[4] not in fixture_roots("crosshost-a")
    e_ctx, e_case = make_context("threestage-edit-max", tmp_path / "edit")
    base_ctx, base_case = make_context("threestage-max", tmp_path / "base")
    e, base = computed_roots(e_ctx, e_case["dockerfile"]), computed_roots(base_ctx, base_case["dockerfile"])
    assert {line for line in e if e[line] != base[line]} == {11}  # COPY assets/js /src/js


def test_copy_from_roots_of_threestage_from_the_stage_snapshots(tmp_path: Path) -> None:
    """The two non-context roots of threestage are COPY --from roots: the same checksum over the
    deps/assets stage results (a snapshot tree: real uid/gid 0, directories COPY created 0755)."""
    ctx, _ = make_context("threestage-max", tmp_path)
    view = hash_tree(walk_context(ctx))
    deps = ContextTree(local=False)
    deps.add("/app", Entry.dir())
    for name in ("/package.json", "/package-lock.json"):
        e = view.get(name)
        assert e is not None
        deps.add("/app" + name, e)
    for p, e in view.walk("/modules"):
        deps.add("/app/node_modules" + p[len("/modules") :], e)
    assets = ContextTree(local=False)
    assets.add("/src/dist", Entry.dir())
    bj = view.get("/assets/build.json")
    assert bj is not None
    assets.add("/src/dist/build.json", bj)
    got = {
        root_digest([Checksummer(deps).checksum(Selector("/app"))]),  # COPY --from=deps /app /app
        root_digest([Checksummer(assets).checksum(Selector("/src/dist"))]),  # COPY --from=assets /src/dist
    }
    theirs = fixture_roots("threestage-max")
    assert got <= theirs
    context = set(
        computed_roots(
            ctx, json.loads((FIX / "threestage-max" / "case.json").read_text())["dockerfile"]
        ).values()
    )
    assert theirs == context | got
