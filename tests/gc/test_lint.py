"""`gc lint`: every trap fires on a config that has it, and nothing fires on clean ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cacheinspect.cli import main
from cacheinspect.errors import UsageError
from cacheinspect.gc.lint import RULES, lint_policy, lint_prune_command
from cacheinspect.gc.policy import Disk, parse_buildkitd_toml, parse_daemon_json
from cacheinspect.gc.versions import Semantics

D26 = Semantics((0, 13, 0), (26, 1, 0))
D28 = Semantics((0, 22, 0), (28, 2, 0))
DISK = Disk(100 * 10**9, 50 * 10**9)


def codes(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.code for f in findings}


def dj(gc: dict, sem: Semantics) -> set[str]:  # type: ignore[type-arg]
    return codes(lint_policy(parse_daemon_json({"builder": {"gc": gc}}, sem, disk=DISK), sem, disk=DISK))


def test_daemon_json_traps() -> None:
    assert "GC003" in dj({}, D26)  # Docker < 28.2: no GC without "enabled": true
    assert "GC003" in dj({"enabled": False}, D28)
    assert "GC001" in dj({"enabled": True}, D26)  # default rule 1 ANDs three types
    assert "GC001" not in dj({"enabled": True}, Semantics((0, 31, 0), (29, 6, 0)))
    assert "GC004" in dj({"policy": [{"filter": ["type=regular"]}]}, D28)
    with pytest.raises(UsageError, match="keepStorage"):  # Docker < 28: dockerd does not start
        dj({"enabled": True, "policy": [{"filter": ["type=regular"]}]}, D26)
    assert "GC006" in dj({"enabled": True, "policy": [{"keepStorage": "1GB", "keepDuration": "48h"}]}, D26)
    assert "GC005" in dj({"enabled": True, "policy": [{"keepStorage": "1GB", "filter": ["parent=abc"]}]}, D26)
    assert "GC007" in dj({"policy": [{"filter": ["until=48h"]}]}, D28)
    assert "GC010" in dj({}, Semantics((0, 25, 0), (28, 5, 0)))
    assert "GC010" not in dj({}, Semantics((0, 25, 1), (28, 5, 1)))
    assert "GC012" in dj({"enabled": True, "policy": [{"keepStorage": "200GB"}]}, D26)
    assert "GC013" in dj(
        {
            "enabled": True,
            "policy": [{"keepStorage": "1GB", "filter": ["type=exec.cachemount"]}, {"keepStorage": "5GB"}],
        },
        D26,
    )


def test_buildkitd_traps() -> None:
    def bk(text: str, sem: Semantics) -> set[str]:
        return codes(lint_policy(parse_buildkitd_toml(text, sem, disk=DISK), sem, disk=DISK))

    assert "GC002" in bk(
        '[[worker.oci.gcpolicy]]\nkeepBytes = "1GB"\nfilters = ["type==source.local,type==exec.cachemount"]\n',
        D26,
    )
    assert "GC009" in bk('[[worker.oci.gcpolicy]]\nminFreeSpace = "10GB"\n', Semantics((0, 17, 0)))
    assert "GC009" not in bk('[[worker.oci.gcpolicy]]\nminFreeSpace = "10GB"\n', Semantics((0, 21, 0)))
    assert "GC003" in bk("[worker.oci]\ngc = false\n", D26)


def test_prune_command_traps() -> None:
    assert "GC005" in codes(lint_prune_command("docker buildx prune -f --filter inuse=true", D26))
    assert "GC008" in codes(
        lint_prune_command("docker builder prune -f --filter until=2026-01-01T00:00:00Z", D26)
    )
    assert "GC008" in codes(lint_prune_command("docker builder prune -f --filter mutable=true", D26))
    assert "GC011" in codes(lint_prune_command("buildctl prune --keep-storage 1000", Semantics((0, 17, 0))))
    assert "GC000" in codes(lint_prune_command("docker buildx prune --filter type=a --filter type=b", D26))


CLEAN_DAEMON = {
    "builder": {
        "gc": {
            "enabled": True,
            "defaultKeepStorage": "20GB",
            "policy": [
                {"keepStorage": "10GB", "filter": ["unused-for=168h"]},
                {"keepStorage": "20GB"},
                {"keepStorage": "20GB", "all": True},
            ],
        }
    }
}


@pytest.mark.parametrize("sem", [D26, D28, None])
def test_clean_configs_have_no_findings(sem: Semantics | None) -> None:
    parse_sem = sem or D26
    assert lint_policy(parse_daemon_json(CLEAN_DAEMON, parse_sem, disk=DISK), sem, disk=DISK) == []
    toml = '[worker.oci]\n[[worker.oci.gcpolicy]]\nkeepBytes = "10GB"\nkeepDuration = "168h"\n[[worker.oci.gcpolicy]]\nall = true\nkeepBytes = "20GB"\n'
    assert lint_policy(parse_buildkitd_toml(toml, parse_sem, disk=DISK), sem, disk=DISK) == []
    for cmd in (
        "docker buildx prune -f --filter type=exec.cachemount --filter until=24h --keep-storage 10GB",
        "docker builder prune -af --keep-storage 5GB",
        # buildctl v0.13 has no --keep-storage-min (urfave/cli: flag provided but not defined)
        "buildctl prune --keep-duration 48h" + (" --keep-storage-min 1000" if sem is not D26 else ""),
    ):
        assert lint_prune_command(cmd, sem) == [], cmd


def test_every_code_documented() -> None:
    for code, rule in RULES.items():
        assert code.startswith("GC") and rule.applies and rule.fix and rule.summary


def test_cli_lint_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"builder": {"gc": {"policy": [{"filter": ["type=regular"]}]}}}))
    with pytest.raises(SystemExit) as e:
        main(["gc", "lint", "--policy", str(f), "--docker-version", "28.2", "-f", "json"])
    assert e.value.code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "cacheinspect.gc-lint/v1" and {x["code"] for x in doc["findings"]} == {"GC004"}
    f.write_text(json.dumps(CLEAN_DAEMON))
    with pytest.raises(SystemExit) as e:
        main(["gc", "lint", "--policy", str(f), "--docker-version", "26.1"])
    assert e.value.code == 0
    assert capsys.readouterr().out == "no findings\n"


def test_fixed_default_policy_is_clean() -> None:
    # Docker 29.6 / BuildKit v0.31 split the default rule 1 into ORed items: nothing to report
    sem = Semantics((0, 31, 0), (29, 6, 0))
    assert lint_policy(parse_daemon_json({"builder": {"gc": {"enabled": True}}}, sem, disk=DISK), sem) == []
