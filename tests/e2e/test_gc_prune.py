"""`gc simulate` against real prunes on the test bed (dockerd 26.1 / BuildKit v0.13, buildx 0.13).

Each scenario builds records of several types, sizes and ages (regular layers, source.local contexts,
exec.cachemount mounts, some shared with a tagged image), snapshots them through the Engine API reader,
runs a real prune — through buildx (what `docker builder prune` becomes with the plugin installed),
through the Engine API (`docker builder prune` with a DOCKER_CONFIG that has no plugin, or
`POST /build/prune`), or as dockerd's own GC after a restart with a daemon.json policy — and checks that
the records the daemon deleted are exactly those `gc simulate` predicted from the snapshot, up to the
ties the simulation reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cacheinspect.gc.daemon import fetch_records
from cacheinspect.gc.policy import parse_daemon_json, parse_prune_command
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import SimulationResult, simulate
from cacheinspect.gc.versions import Semantics
from tests.e2e.conftest import ROOT, Testbed

pytestmark = pytest.mark.e2e

SEM = Semantics((0, 13, 0), (26, 1, 0))


def _fresh(tb: Testbed) -> None:
    tb.docker("buildx", "prune", "-af")


def _build(
    tb: Testbed, tmp: Path, *, cache_kb: int, layer_kb: int, ctx_kb: int, tag: str | None = None
) -> str:
    """One build: a cache mount of cache_kb, a context file of ctx_kb, a regular layer of layer_kb."""
    tok = uuid.uuid4().hex[:10]
    d = tmp / f"ctx-{tok}"
    d.mkdir()
    (d / "f.bin").write_bytes(os.urandom(ctx_kb * 1024))
    (d / "Dockerfile").write_text(
        f"FROM {tb.env['TESTBED_BASE_IMAGE']}\n"
        f"RUN --mount=type=cache,target=/c,id={tok} dd if=/dev/urandom of=/c/f bs=1k count={cache_kb} 2>/dev/null\n"
        "COPY f.bin /f.bin\n"
        f"RUN echo {tok} > /tok && dd if=/dev/urandom of=/big bs=1k count={layer_kb} 2>/dev/null\n"
    )
    out = ["-t", tag] if tag else ["--output", "type=cacheonly"]
    tb.build(d, "--provenance=false", *out)
    return tok


def _snapshot(tb: Testbed) -> list[CacheRecord]:
    """The records once they stopped changing: BuildKit releases a build's cache mounts (and updates their
    lastUsedAt and usage count) a fraction of a second after `docker buildx build` returns."""

    def fetch() -> list[CacheRecord]:
        return sorted(fetch_records(tb.env)[1], key=lambda r: r.id)  # the daemon lists in map order

    recs = fetch()
    for _ in range(20):
        time.sleep(0.5)
        again = fetch()
        if again == recs:
            return again
        recs = again
    raise AssertionError("build-cache records kept changing for 10 seconds")


def _assert_prediction(
    before: list[CacheRecord], after: list[CacheRecord], res: SimulationResult
) -> set[str]:
    before_ids = {r.id for r in before}
    actual = before_ids - {r.id for r in after}
    predicted = set(res.deleted)
    tied = {i for t in res.ties for i in t}
    diff = actual ^ predicted
    assert diff <= tied, (
        f"daemon deleted {sorted(actual)}\nsimulation predicted {sorted(predicted)}\n"
        f"differ in {sorted(diff - tied)} (ties {res.ties})\n"
        + "\n".join(
            f"  {r.id} {r.type} {r.size} used={r.last_used_ns} n={r.usage_count} shared={r.shared}"
            for r in before
        )
    )
    return actual


def _prune_and_check(tb: Testbed, command: str, *, via: str = "buildx") -> tuple[set[str], SimulationResult]:
    before = _snapshot(tb)
    now = time.time_ns()
    res = simulate(before, parse_prune_command(command, SEM, via=via, now_ns=now), now_ns=now, semantics=SEM)
    argv = command.split()[1:]
    if via == "api":
        env = dict(tb.env)
        cfg = Path(env["TESTBED_DIR"]) / "docker-config-noplugin"
        cfg.mkdir(exist_ok=True)
        (cfg / "config.json").write_text("{}")
        env["DOCKER_CONFIG"] = str(cfg)
        proc = subprocess.run(
            [tb.env.get("TESTBED_DOCKER", "docker"), *argv], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert "Usage:  docker buildx" not in proc.stdout
    else:
        tb.docker(*argv)
    after = _snapshot(tb)
    return _assert_prediction(before, after, res), res


def _types(recs: list[CacheRecord], ids: set[str]) -> set[str]:
    return {r.type for r in recs if r.id in ids}


def test_gc_prune_type_filter_buildx(testbed: Testbed, tmp_path: Path) -> None:
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=300, layer_kb=100, ctx_kb=20)
    _build(testbed, tmp_path, cache_kb=150, layer_kb=50, ctx_kb=10, tag="gc-e2e-a:1")
    before = _snapshot(testbed)
    deleted, _ = _prune_and_check(testbed, "docker builder prune -f --filter type=exec.cachemount")
    assert deleted and _types(before, deleted) == {"exec.cachemount"}
    assert len(deleted) == 2


def test_gc_prune_until_buildx(testbed: Testbed, tmp_path: Path) -> None:
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=100, layer_kb=100, ctx_kb=10)
    time.sleep(8)
    _build(testbed, tmp_path, cache_kb=100, layer_kb=100, ctx_kb=10)
    deleted, res = _prune_and_check(testbed, "docker builder prune -f --filter until=5s")
    kept_recent = [k for k, why in res.kept if "too recent" in why]
    assert deleted and kept_recent


def test_gc_prune_keep_storage_buildx(testbed: Testbed, tmp_path: Path) -> None:
    """A size target: one record at a time, by lastUsed rank + usage-count rank."""
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=400, layer_kb=300, ctx_kb=50)
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=200, layer_kb=600, ctx_kb=30)
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=500, layer_kb=100, ctx_kb=80)
    before = _snapshot(testbed)
    total = sum(r.size for r in before if not r.shared)
    keep = total // 2
    deleted, res = _prune_and_check(testbed, f"docker builder prune -f --keep-storage {keep}")
    assert deleted and len(deleted) < len([r for r in before if not r.shared])
    assert res.rules[0].keep_bytes == keep


def test_gc_prune_all_buildx(testbed: Testbed, tmp_path: Path) -> None:
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=100, layer_kb=80, ctx_kb=10, tag="gc-e2e-b:1")
    before = _snapshot(testbed)
    assert any(r.shared for r in before)
    deleted, _ = _prune_and_check(testbed, "docker builder prune -f --all")
    assert any(r.shared for r in before if r.id in deleted)
    assert deleted == {r.id for r in before if not r.in_use}


def test_gc_prune_keep_storage_with_filter_buildx(testbed: Testbed, tmp_path: Path) -> None:
    _fresh(testbed)
    for kb in (60, 200, 120):
        _build(testbed, tmp_path, cache_kb=50, layer_kb=50, ctx_kb=kb)
        time.sleep(1)
    before = _snapshot(testbed)
    total = sum(r.size for r in before if not r.shared)
    local = sorted((r.size for r in before if r.type == "source.local"), reverse=True)
    keep = total - local[0] // 2  # deleting the largest context alone is enough, if it goes first
    deleted, _ = _prune_and_check(
        testbed, f"docker builder prune -f --filter type=source.local --keep-storage {keep}"
    )
    assert deleted and _types(before, deleted) == {"source.local"}


def test_gc_prune_keep_storage_engine_api_cli(testbed: Testbed, tmp_path: Path) -> None:
    """`docker builder prune` without the buildx plugin goes to POST /build/prune."""
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=300, layer_kb=200, ctx_kb=40)
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=100, layer_kb=400, ctx_kb=20)
    before = _snapshot(testbed)
    keep = sum(r.size for r in before if not r.shared) * 2 // 3
    deleted, _ = _prune_and_check(testbed, f"docker builder prune -f --keep-storage {keep}", via="api")
    assert deleted


def test_gc_prune_until_all_engine_api_post(testbed: Testbed, tmp_path: Path) -> None:
    """POST /build/prune?all=1&filters={"until":["4s"],"type":["regular"]} straight to the socket."""
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=80, layer_kb=120, ctx_kb=10, tag="gc-e2e-c:1")
    time.sleep(7)
    _build(testbed, tmp_path, cache_kb=80, layer_kb=60, ctx_kb=10)
    before = _snapshot(testbed)
    now = time.time_ns()
    cmd = "docker builder prune -f --all --filter until=4s --filter type=regular"
    res = simulate(before, parse_prune_command(cmd, SEM, via="api", now_ns=now), now_ns=now, semantics=SEM)
    sock = testbed.env["DOCKER_HOST"].removeprefix("unix://")
    with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://docker", timeout=120) as c:
        filters = json.dumps({"until": {"4s": True}, "type": {"regular": True}})
        r = c.post("/v1.45/build/prune", params={"all": "1", "filters": filters})
        assert r.status_code == 200, r.text
        reported = set(r.json().get("CachesDeleted") or [])
    after = _snapshot(testbed)
    deleted = _assert_prediction(before, after, res)
    assert deleted == reported and deleted
    assert _types(before, deleted) == {"regular"}


def test_gc_cli_simulate_json_live_daemon(testbed: Testbed, tmp_path: Path) -> None:
    """The CLI reads the live daemon itself (DOCKER_HOST) and its JSON predicts a buildx prune."""
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=200, layer_kb=100, ctx_kb=30)
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=100, layer_kb=300, ctx_kb=10)
    before = _snapshot(testbed)
    keep = sum(r.size for r in before if not r.shared) // 3
    cmd = f"docker builder prune -f --keep-storage {keep}"
    env = {**os.environ, **testbed.env}
    proc = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "gc", "simulate", "--prune", cmd, "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "cacheinspect.gc-simulate/v1" and doc["buildkit_version"] == "v0.13"
    testbed.docker(*cmd.split()[1:])
    after = {r.id for r in _snapshot(testbed)}
    actual = {r.id for r in before} - after
    tied = {i for t in doc["ties"] for i in t}
    assert actual ^ set(doc["deleted"]) <= tied
    assert actual


def test_gc_daemon_json_policy_on_restart(testbed: Testbed, tmp_path: Path) -> None:
    """dockerd's own GC: restart with builder.gc enabled and a policy; GC runs a second after start-up."""
    _fresh(testbed)
    _build(testbed, tmp_path, cache_kb=300, layer_kb=200, ctx_kb=40)
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=200, layer_kb=300, ctx_kb=20, tag="gc-e2e-d:1")
    time.sleep(1)
    _build(testbed, tmp_path, cache_kb=400, layer_kb=100, ctx_kb=60)
    before = _snapshot(testbed)
    total = sum(r.size for r in before if not r.shared)
    cm = sum(r.size for r in before if r.type == "exec.cachemount")
    gc = {
        "enabled": True,
        "policy": [
            {"keepStorage": str(total - cm // 2), "filter": ["type=exec.cachemount"]},
            {"keepStorage": str(total * 2 // 3)},
        ],
    }
    daemon = {"builder": {"gc": gc}}
    now = time.time_ns()
    policy = parse_daemon_json(daemon, SEM, source="daemon.json")
    res = simulate(before, policy, now_ns=now, semantics=SEM)
    try:
        up = testbed.restart(daemon)
        assert up.returncode == 0, up.stderr[-3000:]
        conf = json.loads((testbed.run_dir / "daemon.json").read_text())
        assert conf["builder"] == daemon["builder"]
        deadline = time.monotonic() + 30
        after = _snapshot(testbed)
        while time.monotonic() < deadline and {r.id for r in after} == {r.id for r in before}:
            time.sleep(1)
            after = _snapshot(testbed)
        time.sleep(2)  # let the GC run finish all rules
        after = _snapshot(testbed)
    finally:
        down = testbed.restart(None)
        assert down.returncode == 0, down.stderr[-3000:]
    deleted = _assert_prediction(before, after, res)
    assert deleted
    assert "exec.cachemount" in _types(before, {d.id for d in res.rules[0].deleted})
