"""`make try-registry`: a real docker-registry with the fixtures, and the commands it prints (the same ones
the README shows) give registry answers; `make try-registry-down` leaves nothing running."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.registry import free_port

ROOT = Path(__file__).resolve().parents[2]
README_HOST = "127.0.0.1:5055"


def test_try_registry_up_commands_down(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRY_REGISTRY_PORT": str(port), "TRY_REGISTRY_DIR": str(tmp_path / "state")}
    script = [sys.executable, str(ROOT / "testbed" / "try_registry.py")]
    up = subprocess.run([*script, "up"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        pid = int((tmp_path / "state" / "registry.pid").read_text())
        printed = re.findall(r"^  (cacheinspect .*)$", up.stdout, re.M)
        assert len(printed) >= 5
        readme = (ROOT / "README.md").read_text()
        for cmd in printed:
            # the README lists the same commands for the default port
            assert cmd.replace(f"127.0.0.1:{port}", README_HOST) in readme, cmd
            argv = shlex.split(cmd)[1:]
            p = subprocess.run(
                [sys.executable, "-m", "cacheinspect", *argv],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
                env={k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"},
            )
            want = 1 if argv[0] == "audit" else 0  # one of the two audited caches lost a blob
            assert p.returncode == want, (cmd, p.stderr)
            assert p.stdout, cmd
            if argv[0] == "audit":
                assert "blob-missing" in p.stdout
    finally:
        down = subprocess.run([*script, "down"], capture_output=True, text=True, env=env, timeout=60)
    assert down.returncode == 0, down.stderr
    assert (
        not Path(f"/proc/{pid}").exists()
        or b"docker-registry" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    assert not (tmp_path / "state").exists()
