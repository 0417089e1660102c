"""`diff` says whether a step's own definition or an input changed, on real builds of both engines
(issue 16, deliverable 3).

Host A builds testbed/cases/crosshost-busybox with the default FLAVOR (``plain``); host B, a fresh builder
importing A's inline cache, builds it with ``--build-arg FLAVOR=fancy`` (the RUN's own definition: its env)
and one edited file (an input: a content root). Ground truth is B's ``--progress=plain`` log (the steps it
ran) and what the test itself changed; the field is named from both hosts' ``context fingerprint``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Testbed, copy_case
from tests.e2e.test_e2e_cacheinspect import ci, ran_steps, reported, same_step

pytestmark = pytest.mark.e2e

RUN_FIELD = "env FLAVOR=fancy in B, plain in A"


def _fingerprint(ctx: Path, out: Path, *args: str) -> None:
    p = ci("context", "fingerprint", str(ctx), "--network", "host", *args, "-o", str(out))
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("edited", ["app.conf", "data/a.txt"])
def test_diff_names_a_changed_arg_as_definition_and_a_changed_file_as_input(
    testbed: Testbed, tmp_path: Path, edited: str
) -> None:
    """``app.conf`` is read by the COPY before the RUN: the divergence is that COPY (an input: its content
    root), and the RUN below it shows its own definition changed too. A file under ``data/`` is read by
    the COPY after the RUN: the divergence is the RUN (its definition), the COPY ran because its parent
    did (an input)."""
    repo = testbed.unique_repo("diffkeys")
    base = testbed.ref("base/busybox", "1")
    ctx_a = copy_case("crosshost-busybox", tmp_path / "a")
    ctx_b = copy_case("crosshost-busybox", tmp_path / "b")
    target = ctx_b / edited
    assert target.is_file(), edited
    target.write_text(target.read_text() + "edited on host B\n")
    testbed.prune()
    testbed.build(
        ctx_a,
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
        ctx_b,
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
    fp_a, fp_b = tmp_path / "a.fp.json", tmp_path / "b.fp.json"
    _fingerprint(ctx_a, fp_a, "--build-arg", f"BASE={base}")
    _fingerprint(ctx_b, fp_b, "--build-arg", f"BASE={base}", "--build-arg", "FLAVOR=fancy")
    p = ci(
        "diff",
        testbed.ref(repo, "a"),
        testbed.ref(repo, "b"),
        "-f",
        "json",
        "--fingerprint-a",
        str(fp_a),
        "--fingerprint-b",
        str(fp_b),
    )
    assert p.returncode == 0, p.stderr
    (div,) = json.loads(p.stdout)["divergences"]
    ran = ran_steps(log)
    got = reported(div)
    assert len(got) == len(ran), (got, ran)
    assert all(same_step(g, r) for g, r in zip(got, ran, strict=True)), (got, ran)
    steps = [(div["step"].split(" ", 1)[0], div["change"], div["fields"])] + [
        (x["step"].split(" ", 1)[0], x["change"], x["fields"]) for x in div["downstream"]
    ]
    if edited == "app.conf":
        assert div["cause"] == "context-changed"
        assert div["step"] == "COPY app.conf /etc/app.conf"
        assert steps == [("COPY", "input", []), ("RUN", "definition", [RUN_FIELD]), ("COPY", "input", [])]
    else:
        assert div["cause"] == "definition-changed"
        assert steps == [("RUN", "definition", [RUN_FIELD]), ("COPY", "input", [])]
        assert div["downstream"][0]["step"] == "COPY data/ /data/"
    # the table names them too
    p = ci(
        "diff",
        testbed.ref(repo, "a"),
        testbed.ref(repo, "b"),
        "--fingerprint-a",
        str(fp_a),
        "--fingerprint-b",
        str(fp_b),
    )
    assert p.returncode == 0, p.stderr
    assert RUN_FIELD in p.stdout
