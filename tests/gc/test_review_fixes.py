"""Regressions from the review against upstream source (each test names the file it follows).

Expected values are BuildKit's / Docker's behaviour as their code computes it, not this package's output.
"""

from __future__ import annotations

import random

import pytest

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import parse_filter_item
from cacheinspect.gc.policy import Disk, Policy, PruneRule, parse_daemon_json, parse_prune_command
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import simulate
from cacheinspect.gc.versions import Semantics
from tests.gc.reference import prune_with_target

D26 = Semantics((0, 13, 0), (26, 1, 0))
D28 = Semantics((0, 22, 0), (28, 2, 0))
V13 = Semantics((0, 13, 0))
V22 = Semantics((0, 22, 0))
DISK = Disk(100 * 10**9, 40 * 10**9)


def gc(**kw: object) -> dict[str, object]:
    return {"builder": {"gc": {"enabled": True, **kw}}}


def test_docker_before_28_rule_without_keepstorage_fails_dockerd() -> None:
    # moby v26.1 builder-next/controller.go getGCPolicy: units.RAMInBytes(p.KeepStorage) on "" is
    # "invalid size: ''" and the error stops the builder (and dockerd) from starting; only an explicit
    # "0" falls back to defaultKeepStorage (the `if b == 0` branch).
    with pytest.raises(UsageError, match="keepStorage"):
        parse_daemon_json(gc(defaultKeepStorage="1GB", policy=[{"filter": ["type=regular"]}]), D26)
    (r,) = parse_daemon_json(gc(defaultKeepStorage="1GB", policy=[{"keepStorage": "0"}]), D26).rules
    assert r.reserved_space == 2**30


def test_daemon_json_sizes_are_strings() -> None:
    # moby daemon/config/builder.go: KeepStorage / ReservedSpace / ... are Go strings; encoding/json
    # refuses a number there ("cannot unmarshal number into Go struct field ... of type string").
    with pytest.raises(UsageError, match="string"):
        parse_daemon_json(gc(policy=[{"keepStorage": 1000000000}]), D26)
    with pytest.raises(UsageError, match="string"):
        parse_daemon_json(gc(defaultReservedSpace=10**10), D28, disk=DISK)


def test_daemon_json_mutable_filter_reaches_buildkit() -> None:
    # moby builder-next/builder.go toBuildkitPruneInfo ranges over every cacheFields key, the
    # "not exposed" mutable/immutable (false) included: the GC path (no Validate) passes mutable==true on,
    # and BuildKit's adaptUsageInfo gives mutable the value "": it matches nothing, not everything.
    pol = parse_daemon_json(gc(policy=[{"keepStorage": "0", "filter": ["mutable=true"]}]), D26)
    assert pol.rules[0].filters == ("mutable==true",)
    recs = [CacheRecord("m", type="exec.cachemount", size=10, mutable=True, last_used_ns=1, usage_count=1)]
    assert simulate(recs, pol, now_ns=10**18, semantics=D26).deleted == ()


def test_empty_filter_value_is_rejected_like_containerd() -> None:
    # containerd filters/parser.go selector(): an operator must be followed by a value ("expected value
    # or quoted"); buildx and dockerd turn --filter type= into "type==", so BuildKit refuses the prune.
    with pytest.raises(UsageError):
        parse_filter_item("type==")
    for via in ("buildx", "api"):
        with pytest.raises(UsageError):
            parse_prune_command("docker builder prune -f --filter type=", V22, via=via, now_ns=0)


def test_buildx_bang_filters_since_v0_15() -> None:
    # docker/buildx commands/prune.go: "type!=x" / "id~=x" keys are passed through since 781dcbd
    # ("prune: allow negative and prefix filters"), first in v0.15.0.
    cmd = "docker buildx prune -f --filter type!=regular"
    assert parse_prune_command(cmd, V22, buildx=(0, 15, 0)).rules[0].filters == ("type!=regular",)
    try:  # before: key "type!" becomes "type!==regular", not the negation
        older = parse_prune_command(cmd, V22, buildx=(0, 14, 0)).rules[0].filters
    except UsageError:
        older = ()
    assert older != ("type!=regular",)


def test_buildctl_before_v0_17_has_no_keep_storage_min() -> None:
    # moby/buildkit v0.13 cmd/buildctl/prune.go: only keep-duration, keep-storage, filter, all, verbose,
    # format; urfave/cli rejects any other flag ("flag provided but not defined").
    with pytest.raises(UsageError, match="free-storage"):
        parse_prune_command("buildctl prune --free-storage 100", V13)
    assert parse_prune_command("buildctl prune --keep-storage-min 100", V22).rules[0].reserved_space == 10**8


def test_du_tree_shows_every_parent_and_true_connectors() -> None:
    # merge has parents step1 and ctx (a merge/diff record): it is listed once in full and referenced
    # under ctx, whose subtree would otherwise look empty; step1 is base's last child, so the rows below
    # it carry blanks, not a "│" leading nowhere.
    from pathlib import Path

    from cacheinspect.gc.readers import read_dump
    from cacheinspect.gc.render import render_du

    data = (Path(__file__).parent / "data" / "merge-df.json").read_text()
    lines = render_du(read_dump(data, source="t"), "table").splitlines()
    ids = [
        ln[: ln.index(" regular") if " regular" in ln else ln.index(" source.local")].rstrip()
        for ln in lines[1:5]
    ]
    assert ids == ["base", "└─ step1", "   └─ merge (parents: step1, ctx)", "ctx"]
    assert lines[5].startswith("└─ merge (listed above)")
    assert sum("merge" in ln for ln in lines) == 2


def test_tie_episode_reported_once_not_once_per_step() -> None:
    # v0.13, every usage count 0: every score is 0/0 = NaN (sortDeleteRecords), so the whole candidate
    # set is one tie while it lasts; freeing a parent adds it to that tie. The first simulator appended
    # the whole set again at each such step (O(n^2) ids for n chains); each id is listed once now.
    recs = []
    for i in range(30):
        recs.append(CacheRecord(f"p{i:02d}", size=10, last_used_ns=i + 1, usage_count=0))
        recs.append(CacheRecord(f"c{i:02d}", size=10, parents=(f"p{i:02d}",), last_used_ns=i + 1))
    pol = Policy((PruneRule(reserved_space=1),), "prune", "t")
    res = simulate(recs, pol, now_ns=10**18, semantics=V13)
    assert len(res.deleted) == 60
    assert len(res.ties) == 1 and sorted(res.ties[0]) == sorted(r.id for r in recs)


def _mode_records(rng: random.Random, n: int, mode: str) -> list[CacheRecord]:
    out: list[CacheRecord] = []
    for i in range(n):
        parents = (out[rng.randrange(len(out))].id,) if out and rng.random() < 0.4 else ()
        lu: int | None
        if mode == "small":
            lu, uc = rng.choice([None, 1, 2, 3]), rng.choice([0, 1, 2])
        elif mode == "distinct":
            lu, uc = rng.randrange(10**6), rng.randrange(10**6)
        elif mode == "nil":
            lu, uc = (None if rng.random() < 0.9 else rng.randrange(5)), rng.randrange(4)
        elif mode == "rising":
            lu, uc = i, i
        else:  # "falling": every candidate on the (lastUsed, usage count) staircase, many equal scores
            lu, uc = i, n - i
        out.append(
            CacheRecord(
                f"r{rng.randrange(10**6):06d}{i}",
                size=rng.randrange(1, 1000),
                parents=parents,
                shared=rng.random() < 0.1,
                last_used_ns=None if lu is None else lu * 10**9,
                usage_count=uc,
            )
        )
    return out


@pytest.mark.parametrize("mode", ["small", "distinct", "nil", "rising", "falling"])
@pytest.mark.parametrize("sem", [V13, V22])
def test_staircase_ranker_matches_literal_port(mode: str, sem: Semantics) -> None:
    # the literal transcription of sortDeleteRecords (tests/gc/reference.py) as the oracle, on shapes
    # that stress the staircase walk: huge ties, all-NaN, one-point and all-points staircases
    rng = random.Random(mode + sem.buildkit_text)
    for _ in range(25):
        recs = _mode_records(rng, rng.randrange(1, 50), mode)
        total = sum(r.size for r in recs if not r.shared)
        keep = rng.randrange(1, total + 2)
        order, ties = prune_with_target(
            recs, keep, one_based=sem.rank_base == 1, candidate=lambda r: not r.shared
        )
        res = simulate(
            recs, Policy((PruneRule(reserved_space=keep),), "prune", "t"), now_ns=10**18, semantics=sem
        )
        assert list(res.deleted) == order
        assert {i for t in res.ties for i in t} == {i for t in ties for i in t}
