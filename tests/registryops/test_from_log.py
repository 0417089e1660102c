"""`registry probe --from-log`: failed cache exports as BuildKit logs them, quoted from the issues that
report them (each test names its source), plus logs that are not cache failures and hostile logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cacheinspect.registryops.rules import RULES, diagnose_log
from tests.registryops.helpers import cli

D1 = "sha256:6a7bcd7517f1447682d422fc13f0ef3022bd4839e7a62d5d90361a5309c15c65"
L1 = "sha256:fb35763663536953b1c62525e2d3d34772e1d1a08b6cf8e2a22185e5f532ccf3"
C1 = "sha256:59f681c07b641ee8a546872b52d475be2ae111ded5c060b71e5088f3b231428e"

# moby/buildkit#2479 (demo.goharbor.io, BuildKit v0.11): the index PUT answered 404.
HARBOR = f"""#42 exporting cache
#42 preparing build cache for export
#42 writing layer {L1} done
#42 writing config {C1}
#42 writing config {C1} 0.3s done
#42 writing manifest {D1}
#42 preparing build cache for export 2.0s done
#42 writing manifest {D1} 0.2s done
#42 ERROR: error writing manifest blob: failed commit on ref "{D1}": unexpected status: 404 Not Found
------
 > exporting cache:
------
ERROR: failed to solve: error writing manifest blob: failed commit on ref "{D1}": unexpected status: 404 Not Found
"""

# overhangio/tutor#1118 (ECR, buildx with containerd's newer message naming the request).
ECR_URL = "https://2xxxxxxx4.dkr.ecr.us-east-1.amazonaws.com/v2/myrepo/openedx/manifests/202409032122-cache"
ECR = f"""#20 exporting cache to registry
#20 preparing build cache for export
#20 writing layer {L1} 0.1s done
#20 writing config {C1} 0.1s done
#20 writing cache manifest {D1}
#20 ERROR: error writing manifest blob: failed commit on ref "{D1}": unexpected status from PUT request to {ECR_URL}: 400 Bad Request
------
 > exporting cache to registry:
------
error: failed to solve: rpc error: code = Unknown desc = error writing manifest blob: failed commit on ref "{D1}": unexpected status from PUT request to {ECR_URL}: 400 Bad Request
"""

# moby/buildkit#5965: BuildKit v0.21 refuses oci-mediatypes=false with the image-manifest default.
V021 = """#12 exporting cache to registry
#12 preparing build cache for export
#12 ERROR: invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format
ERROR: failed to solve: invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format
"""

OK = f"""#9 exporting cache to registry
#9 preparing build cache for export
#9 writing layer {L1} done
#9 writing cache image manifest {D1} done
#9 DONE 0.2s
"""

RUN_FAILED = """#7 [2/3] RUN false
#7 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1
ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1
"""


def test_harbor_404_on_the_index_put() -> None:
    d = diagnose_log(HARBOR)
    assert d.failed and d.operation == "manifest PUT" and d.shape == "index"
    assert d.status == 404 and d.reason == "Not Found" and d.commit_ref == D1
    assert [r.id for r in d.rules] == ["harbor-index"]


def test_ecr_names_the_request_and_the_rule() -> None:
    d = diagnose_log(ECR)
    assert (d.method, d.url, d.status) == ("PUT", ECR_URL, 400)
    assert d.host == "2xxxxxxx4.dkr.ecr.us-east-1.amazonaws.com"
    assert d.rules[0].id == "ecr-index"
    assert "https://github.com/moby/buildkit/issues/699" in d.rules[0].links


def test_buildkit_5965() -> None:
    d = diagnose_log(V021)
    assert d.failed and d.operation == "export configuration"
    assert [r.id for r in d.rules] == ["buildkit-5965"]
    assert "image-manifest=false" in d.rules[0].fix


@pytest.mark.parametrize("log", [OK, RUN_FAILED, ""])
def test_logs_without_a_failed_cache_export(log: str) -> None:
    d = diagnose_log(log)
    if log is RUN_FAILED:  # a failure, but no registry rule behind it
        assert d.failed and d.operation is None and d.rules == []
    else:
        assert not d.failed


def test_the_export_steps_error_wins_over_other_steps() -> None:
    d = diagnose_log(RUN_FAILED.replace("ERROR: failed to solve", "WARN: x") + HARBOR)
    assert d.step == "42" and d.rules[0].id == "harbor-index"


def test_every_rule_has_a_fix_and_links_are_urls() -> None:
    for r in RULES.values():
        assert r.fix and all(link.startswith("https://github.com/") for link in r.links)


def test_cli_from_log_table_json_and_exit_codes(tmp_path: Path) -> None:
    f = tmp_path / "ecr.log"
    f.write_text(ECR)
    p = cli(["registry", "probe", "--from-log", str(f)])
    assert p.returncode == 1
    assert (
        "AWS ECR" in p.stdout and "moby/buildkit/issues/699" in p.stdout and "image-manifest=true" in p.stdout
    )
    j = cli(["registry", "probe", "--from-log", str(f), "-f", "json"])
    assert json.loads(j.stdout)["rules"][0]["id"] == "ecr-index"
    f.write_text(OK)
    assert cli(["registry", "probe", "--from-log", str(f)]).returncode == 0


def test_cli_from_log_hostile_inputs(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.log"
    hostile.write_bytes(
        b"#3 exporting cache to registry\n#3 ERROR: error writing manifest blob: unexpected status from PUT request to "
        b"https://evil\x1b]0;t\x07/v2/x: 400 \xff\xfe\x1b[2J\n" + b"A" * 3_000_000 + b"\n\x00\x01"
    )
    p = cli(["registry", "probe", "--from-log", str(hostile)])
    assert p.returncode == 1
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert cli(["registry", "probe", "--from-log", str(tmp_path / "missing")]).returncode == 2
    assert cli(["registry", "probe", "--from-log", "/dev/zero"]).returncode in (2, 6)
    p = cli(["registry", "probe", "--from-log", str(hostile), "reg.example/x"])
    assert p.returncode == 2 and p.stderr.startswith("error:")


def test_json_output_escapes_del(tmp_path: Path) -> None:
    """Found by the registry_log fuzz surface: DEL is ASCII, and the JSON fast path left it raw."""
    f = tmp_path / "del.log"
    f.write_text(ECR.replace("myrepo", "my\x7frepo"))
    p = cli(["registry", "probe", "--from-log", str(f), "-f", "json"])
    assert p.returncode == 1 and "\x7f" not in p.stdout
    assert "my\x7frepo" in json.loads(p.stdout)["request"]["url"]
