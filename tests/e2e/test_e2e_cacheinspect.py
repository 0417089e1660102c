"""cacheinspect against caches a live BuildKit just built (make e2e).

Ground truth is BuildKit's own ``--progress=plain`` log: the steps host B's build ran must be exactly
the divergence cacheinspect reports plus its downstream steps, and nothing it reports as matched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Testbed, copy_case, parse_steps

pytestmark = pytest.mark.e2e


def ci(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or {**os.environ, "DOCKER_CONFIG": os.devnull},
        input=input,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def ran_steps(log: str) -> list[str]:
    """Vertices the log shows as executed (FROM is an image pull, not a cache step)."""
    return [
        s["vertex"].split("] ", 1)[1]
        for s in parse_steps(log)
        if s["status"] == "RAN" and " FROM " not in f" {s['vertex'].split('] ', 1)[1]}"
    ]


def reported(div: dict[str, Any]) -> list[str]:
    return [div["step"], *(x["step"] for x in div["downstream"])]


def same_step(label: str, vertex: str) -> bool:
    """History labels keep $VARS and append build args; the log expands them. COPY texts are equal."""
    if vertex.startswith(("COPY", "ADD")):
        return label == vertex
    return label.split(" ", 1)[0] == vertex.split(" ", 1)[0]


@pytest.mark.parametrize("variant", ["mode", "xattr"])
def test_cross_host_miss_is_explained_exactly(testbed: Testbed, tmp_path: Path, variant: str) -> None:
    repo = testbed.unique_repo(f"xhost-{variant}")
    a_dir = copy_case("crosshost", tmp_path / "a")
    testbed.prune()
    testbed.build(a_dir, "--cache-to", "type=inline", "-t", testbed.ref(repo, "a"), "--push")
    b_dir = copy_case("crosshost", tmp_path / "b")
    if variant == "mode":
        (b_dir / "app.conf").chmod(0o600)
    else:
        subprocess.run(["setfattr", "-n", "user.foo", "-v", "bar", str(b_dir / "app.conf")], check=True)
    testbed.prune()
    log = testbed.build(
        b_dir,
        "--cache-from",
        f"type=registry,ref={testbed.ref(repo, 'a')}",
        "--cache-to",
        "type=inline",
        "-t",
        testbed.ref(repo, "b"),
        "--push",
    )
    ran = ran_steps(log)
    assert ran, log[-3000:]
    p = ci("diff", testbed.ref(repo, "a"), testbed.ref(repo, "b"), "-f", "json")
    assert p.returncode == 0, p.stderr
    (div,) = json.loads(p.stdout)["divergences"]
    assert div["cause"] == "context-changed"
    got = reported(div)
    assert len(got) == len(ran), (got, ran)
    assert all(same_step(g, r) for g, r in zip(got, ran, strict=True)), (got, ran)


def test_build_arg_change_is_a_definition_change(testbed: Testbed, tmp_path: Path) -> None:
    repo = testbed.unique_repo("xhost-arg")
    base = testbed.ref("base/busybox", "1")
    ctx = copy_case("crosshost-busybox", tmp_path / "a")
    testbed.prune()
    testbed.build(
        ctx,
        "--build-arg",
        f"BASE={base}",
        "--cache-to",
        "type=inline",
        "-t",
        testbed.ref(repo, "a"),
        "--push",
    )
    testbed.prune()
    log = testbed.build(
        ctx,
        "--build-arg",
        f"BASE={base}",
        "--build-arg",
        "FLAVOR=fancy",
        "--cache-from",
        f"type=registry,ref={testbed.ref(repo, 'a')}",
        "--cache-to",
        "type=inline",
        "-t",
        testbed.ref(repo, "b"),
        "--push",
    )
    p = ci("diff", testbed.ref(repo, "a"), testbed.ref(repo, "b"), "-f", "json")
    assert p.returncode == 0, p.stderr
    (div,) = json.loads(p.stdout)["divergences"]
    assert div["cause"] == "definition-changed"
    assert "FLAVOR=fancy" in div["step"]
    ran = ran_steps(log)
    got = reported(div)
    assert len(got) == len(ran), (got, ran)
    assert all(same_step(g, r) for g, r in zip(got, ran, strict=True)), (got, ran)


def test_live_min_and_max_exports(testbed: Testbed, tmp_path: Path) -> None:
    # One repository per --cache-to: BuildKit runs exports concurrently and distribution 2.8 can answer
    # a HEAD with 500 while two of them upload into the same repository.
    rmax, rmin = testbed.unique_repo("threestage-max"), testbed.unique_repo("threestage-min")
    ctx = copy_case("threestage", tmp_path)
    testbed.prune()
    testbed.build(
        ctx,
        "--cache-to",
        f"type=registry,ref={testbed.ref(rmax, 'c')},mode=max",
        "--cache-to",
        f"type=registry,ref={testbed.ref(rmin, 'c')},mode=min",
    )
    mx = json.loads(ci("inspect", testbed.ref(rmax, "c"), "-f", "json").stdout)
    mn = json.loads(ci("inspect", testbed.ref(rmin, "c"), "-f", "json").stdout)
    # no shape proves max: a warm mode=min export is the same config (tests/e2e/test_mode_evidence.py)
    assert (mx["summary"]["mode"], mn["summary"]["mode"]) == ("min-or-max", "min")
    # numbers derived from the registry's own JSON
    for rep, repo in ((mx, rmax), (mn, rmin)):
        _, _, index = testbed.get_manifest(repo, "c")
        layers = [
            d for d in index["manifests"] if d["mediaType"] != "application/vnd.buildkit.cacheconfig.v0"
        ]
        assert rep["summary"]["layers"] == len({d["digest"] for d in layers})
    d = json.loads(ci("diff", testbed.ref(rmin, "c"), testbed.ref(rmax, "c"), "-f", "json").stdout)
    want = mx["summary"]["records_with_results"] - mn["summary"]["records_with_results"]
    assert len(d["records"]["results_only_in_b"]) == want > 0
    # audit: the max cache passes as max; after deleting one blob it fails naming it
    assert ci("audit", testbed.ref(rmax, "c"), "--expect-mode", "max", "-q").returncode == 0
    assert ci("audit", testbed.ref(rmin, "c"), "--expect-mode", "max", "-q").returncode == 1
    victim = mx["layers"][0]["digest"]
    testbed.delete_blob(rmax, victim)
    p = ci("audit", testbed.ref(rmax, "c"), "-q", "-f", "json")
    assert p.returncode == 1
    missing = [
        f["subject"] for f in json.loads(p.stdout)["results"][0]["findings"] if f["code"] == "blob-missing"
    ]
    assert missing == [victim]


@pytest.mark.parametrize("flavour", ["plain", "basic", "token"])
def test_live_cache_through_every_auth_flavour(testbed: Testbed, tmp_path: Path, flavour: str) -> None:
    """A cache BuildKit just exported, copied into a registry of each auth flavour, reads the same."""

    from tests.support.layout import push_layout
    from tests.support.registry import start_registry

    repo = testbed.unique_repo("flavours")
    ctx = copy_case("variants", tmp_path)
    testbed.prune()
    testbed.build(ctx, "--cache-to", f"type=registry,ref={testbed.ref(repo, 'c')},mode=max")
    layout = tmp_path / "layout"
    subprocess.run(
        [sys.executable, "testbed/pull_layout.py", testbed.ref(repo, "c"), str(layout)],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
    )
    live = json.loads(ci("inspect", testbed.ref(repo, "c"), "-f", "json").stdout)
    with start_registry(flavour, tmp_path / "reg") as reg:  # type: ignore[arg-type]
        push_layout(reg, layout, "copied/cache", "c")
        cfg = reg.docker_config(tmp_path / "dc")
        extra = ["--ca-file", str(reg.ca_file)] if reg.ca_file else []
        p = ci(
            "inspect",
            f"{reg.host}/copied/cache:c",
            "-f",
            "json",
            *extra,
            env={**os.environ, "DOCKER_CONFIG": str(cfg)},
        )
        assert p.returncode == 0, p.stderr
        copied = json.loads(p.stdout)
    assert copied["summary"] == live["summary"]
    assert sorted(r["identity"] for r in copied["records"]) == sorted(r["identity"] for r in live["records"])
