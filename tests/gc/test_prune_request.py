"""Engine API prune requests (`curl … /build/prune?…` or the URL) mapped as dockerd's router maps them.

Expected values follow moby ``api/server/router/build/build_routes.go`` ``postPrune`` at v26.1.5 (only
``keep-storage``) and v28.5.2 (API >= 1.48: ``reserved-space`` else ``keep-storage``, ``max-used-space``,
``min-free-space``), ``filters.FromJSON`` and ``builder-next`` ``toBuildkitPruneInfo``.
"""

from __future__ import annotations

import pytest

from cacheinspect.errors import UsageError
from cacheinspect.gc.policy import parse_prune_command
from cacheinspect.gc.versions import Semantics

V13 = Semantics((0, 13, 0), (26, 1, 5))
V25 = Semantics((0, 25, 0), (28, 5, 2))
SOCK = "curl -s --unix-socket /var/run/docker.sock -X POST "


def rule(text: str, sem: Semantics = V25):  # type: ignore[no-untyped-def]
    pol = parse_prune_command(text, sem, now_ns=10**18)
    assert pol.frontend == "engine-api"
    return pol.rules[0], pol.notes


def test_new_size_fields_on_api_148_and_later() -> None:
    r, _ = rule(
        SOCK
        + "'http://localhost/v1.51/build/prune?reserved-space=1000&max-used-space=5000&min-free-space=7&all=1'"
    )
    assert (r.reserved_space, r.max_used_space, r.min_free_space, r.all) == (1000, 5000, 7, True)


def test_keep_storage_is_reserved_space_unless_reserved_space_given() -> None:
    assert rule("/v1.51/build/prune?keep-storage=9")[0].reserved_space == 9
    assert rule("/v1.51/build/prune?keep-storage=9&reserved-space=4")[0].reserved_space == 4


def test_old_api_version_reads_keep_storage_only() -> None:
    r, notes = rule("http://localhost/v1.47/build/prune?reserved-space=4&max-used-space=5&keep-storage=9")
    assert (r.reserved_space, r.max_used_space) == (9, 0)
    assert any("1.48" in n for n in notes)


def test_docker_26_reads_keep_storage_only() -> None:
    r, notes = rule("/build/prune?keep-storage=1000&max-used-space=5", V13)
    assert (r.reserved_space, r.max_used_space, r.origin) == (1000, 0, "POST /v1.45/build/prune")
    assert notes


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("yes", True),
                                                 ("0", False), ("no", False), ("none", False), ("", False)])  # fmt: skip
def test_all_is_bool_value(value: str, expected: bool) -> None:
    assert rule(f"/build/prune?all={value}")[0].all is expected


def test_filters_json_both_forms() -> None:
    new = rule('/build/prune?filters={"type":{"exec.cachemount":true},"until":{"24h":true}}')[0]
    legacy = rule('/build/prune?filters={"type":["exec.cachemount"],"until":["24h"]}')[0]
    assert new.filters == legacy.filters == ("type==exec.cachemount",)
    assert new.keep_duration_ns == legacy.keep_duration_ns == 24 * 3600 * 10**9
    assert rule('/build/prune?filters={"id":{"abc":true}}')[0].filters == ("id~=abc",)


def test_form_body_of_curl_data() -> None:
    r, _ = rule("curl -XPOST --data keep-storage=5 -d all=1 --unix-socket /x.sock http://d/build/prune")
    assert (r.reserved_space, r.all) == (5, True)
    r, _ = rule('curl -X POST --data-urlencode \'filters={"type":{"regular":true}}\' http://d/build/prune')
    assert r.filters == ("type==regular",)


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("curl http://d/build/prune", "takes POST"),
        ("/v1.52/build/prune", "too new"),
        ("/v1.20/build/prune", "too old"),
        ("/build/prune?keep-storage=1e3", "expects an integer"),
        ("/build/prune?keep-storage=" + "9" * 30, "expects an integer"),
        ('/build/prune?filters={"Type":{"a":true}}', "invalid filter"),
        ('/build/prune?filters={"mutable":{"true":true}}', "invalid filter"),
        ("/build/prune?a=1;b=2", "semicolon"),
        ("/build/prune?a=%zz", "escape"),
        ("/build/prune?filters=" + "[" * 100000, "invalid filter"),
        ("/images/prune", "not a build-cache prune"),
    ],
)
def test_refused_like_dockerd(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        parse_prune_command(text, V25)
