"""Step keys: the rule-set differences and the field explanations (issue 16).

Expected JSON shapes are the Go structs read at moby/buildkit v0.13.2 and v0.25.2 (STEP-KEYS.md §3:
gogo tags without ``omitempty`` on ``MergeInput.input`` in v0.13, ``solver/pb/json.go`` ``byId`` in v0.25);
whole-record digests are proved against real exports in test_stepkeys_fixtures.py and the e2e tests.
"""

from __future__ import annotations

import json

from cacheinspect.dockerfile import parse_dockerfile, resolve
from cacheinspect.dockerfile.llb import MergeOp, Owner, go_json, record_digest
from cacheinspect.dockerfile.stepkeys import BuildOptions, StepKey, explain_difference, step_keys


def keys(src: str, **kw: object) -> list[StepKey]:
    build = resolve(parse_dockerfile(src.encode()), build_args=kw.pop("build_args", None))  # type: ignore[arg-type]
    return step_keys(build, BuildOptions(**kw))  # type: ignore[arg-type]


def test_merge_key_differs_between_rule_sets() -> None:
    """v0.13 writes the zero input index of the merge's first input, v0.25 omits it."""
    m = MergeOp([0, 1])
    assert json.loads(m.cache_map("v0.13"))["Merge"]["inputs"] == [{"input": 0}, {"input": 1}]
    assert json.loads(m.cache_map("v0.25"))["Merge"]["inputs"] == [{}, {"input": 1}]
    assert record_digest(m.cache_map("v0.13")) != record_digest(m.cache_map("v0.25"))


def test_numeric_and_named_owner() -> None:
    o = Owner.parse("1000:0")
    assert o is not None
    assert o.to_go(0, "v0.13") == {"user": {"User": {"byID": 1000}}, "group": {"User": {}}}
    assert o.to_go(0, "v0.25") == {"user": {"User": {"byId": 1000}}, "group": {"User": {}}}
    named = Owner.parse("app")
    assert named is not None
    assert named.to_go(0, "v0.13") == {"user": {"User": {"byName": {"name": "app", "input": 0}}}}
    assert named.to_go(0, "v0.25") == {"user": {"User": {"byName": {"name": "app"}}}}


def test_go_json_escapes_html_and_keeps_utf8() -> None:
    assert (
        go_json({"a": "x && y > z <w> é\u2028"})
        == b'{"a":"x \\u0026\\u0026 y \\u003e z \\u003cw\\u003e \xc3\xa9\\u2028"}'
    )


def test_link_is_a_copy_onto_scratch_plus_a_merge() -> None:
    ks = keys("FROM scratch\nCOPY a /a\nCOPY --link b /b\n")
    assert [op.role for op in ks[1].ops] == ["copy", "merge"]
    copy = json.loads(ks[1].ops[0].json["v0.13"])
    assert copy["indexes"] == [[-1, 0, 0]]  # onto scratch: the source is the op's only input
    # the first COPY --link on scratch needs no merge (llb.Merge drops scratch inputs)
    assert [op.role for op in keys("FROM scratch\nCOPY --link b /b\n")[0].ops] == ["copy"]
    # --chmod turns --link off (dispatchCopy: cfg.link && cfg.chmod == "")
    assert [op.role for op in keys("FROM scratch\nCOPY a /a\nCOPY --link --chmod=600 b /b\n")[1].ops] == [
        "copy"
    ]


def test_env_list_order_and_unused_arg() -> None:
    """Every valued ARG in scope is in a RUN's env, re-setting a key moves it last (llb EnvList)."""
    base = "FROM scratch\nARG A=1\nENV B=2\n"
    (run,) = keys(base + "ARG A=3\nRUN true\n")
    env = json.loads(run.op.json["v0.13"])["Exec"]["meta"]["env"]  # type: ignore[union-attr]
    assert env[-2:] == ["B=2", "A=3"]
    plain = keys(base + "RUN true\n")[0].digest("v0.13")
    unused = keys(base + "ARG UNUSED=x\nRUN true\n")[0].digest("v0.13")
    assert plain != unused


def test_network_and_hosts_are_in_every_run_key() -> None:
    src = "FROM scratch\nRUN true\n"
    d = keys(src)[0].digest("v0.13")
    assert keys(src, network="host")[0].digest("v0.13") != d
    assert keys(src, add_hosts=("db:10.0.0.1",))[0].digest("v0.13") != d
    # the IP is blanked in the key: only the host name counts
    assert keys(src, add_hosts=("db:10.0.0.1",))[0].digest("v0.13") == keys(src, add_hosts=("db:10.9.9.9",))[
        0
    ].digest("v0.13")


def test_explain_difference_names_fields() -> None:
    a = keys("FROM scratch\nARG VERSION=1.1\nRUN echo hi\nCOPY --chmod=644 x /srv/\n")
    b = keys("FROM scratch\nARG VERSION=1.2\nRUN echo hi\nCOPY --chmod=600 x /app/\n", network="host")
    run = explain_difference(b[0].op.json["v0.13"], a[0].op.json["v0.13"])  # type: ignore[union-attr]
    assert run == ["env VERSION=1.2 here, 1.1 on A", "network host here, default on A"]
    cp = explain_difference(b[1].op.json["v0.13"], a[1].op.json["v0.13"])  # type: ignore[union-attr]
    assert cp == ["dest /app/ here, /srv/ on A", "chmod 0600 here, 0644 on A"]
    assert explain_difference(b"not json", b"{}") == []


def test_explain_difference_of_hostile_cachemaps_is_unknown_not_a_crash() -> None:
    """A fingerprint's cachemap is untrusted (fuzz: a 100,000-deep array was exit 70, RecursionError)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    assert explain_difference(deep, deep) == []
    exec_a = b'{"Type": "buildkit.exec.v0", "Exec": [1], "OS": "linux"}'
    exec_b = b'{"Type": "buildkit.exec.v0", "Exec": {"meta": 7}, "OS": "windows"}'
    assert explain_difference(exec_a, exec_b) == ["platform os linux here, windows on A"]
    file_a = b'{"Type": "buildkit.file.v0", "Actions": {"x": 1}}'
    assert explain_difference(file_a, file_a) == []


def test_unknown_is_said_not_guessed() -> None:
    ks = keys("FROM busybox\nRUN true\nADD https://example.com/x /x\n")
    assert ks[0].unknown is not None and "base image" in ks[0].unknown
    assert ks[0].digest("v0.13") is None
    assert ks[1].unknown is not None and "URL" in ks[1].unknown
