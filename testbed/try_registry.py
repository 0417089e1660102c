"""`make try-registry`: a local registry holding the bundled fixtures, to try the registry commands on.

    python -m testbed.try_registry up      start docker-registry on 127.0.0.1:$TRY_REGISTRY_PORT (5055),
                                          push the fixtures, print the commands to run against it
    python -m testbed.try_registry down    stop it and remove its storage

The registry is CNCF distribution's ``docker-registry`` (Debian package ``docker-registry``; ``make deps``
installs it), plain HTTP on loopback only, its state under ``build/try-registry``. It runs in a session
of its own (it outlives this script) until ``down``; the pid file names it, and ``down`` stops only that
pid, after checking it is still that registry. The pushes reuse the test suite's registry helpers
(``tests/support``), so what a user tries is what the tests use.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("TRY_REGISTRY_DIR", ROOT / "build" / "try-registry"))
PORT = int(os.environ.get("TRY_REGISTRY_PORT", "5055"))

#: fixture -> (repository, tag) in the local registry
PUSHES: list[tuple[str, str, str]] = [
    ("threestage-max", "demo/app", "buildcache"),
    ("threestage-min", "demo/app", "cache-min"),
    ("threestage-inline", "demo/app", "latest"),
    ("damaged-max", "demo/app", "damaged"),
    ("crosshost-a", "demo/crosshost", "cache-a"),
    ("crosshost-b-mode", "demo/crosshost", "cache-b"),
]


def commands(host: str) -> list[tuple[str, str]]:
    """What to try, with what each shows (the README prints the same list)."""
    return [
        (
            f"cacheinspect inspect {host}/demo/app:buildcache --image {host}/demo/app:latest",
            "a mode=max cache, labelled",
        ),
        (
            f"cacheinspect diff {host}/demo/app:cache-min {host}/demo/app:buildcache",
            "mode=min against mode=max",
        ),
        (
            f"cacheinspect audit {host}/demo/app:buildcache {host}/demo/app:damaged",
            "the gate: one cache lost a blob",
        ),
        (f"cacheinspect graph {host}/demo/app:buildcache -f mermaid", "the record graph"),
        (
            f"cacheinspect context check {host}/demo/crosshost:cache-b testbed/cases/crosshost",
            "a checkout vs host B's cache",
        ),
        (f"cacheinspect -v inspect {host}/demo/crosshost:cache-a --no-records", "every registry request"),
    ]


def _pid_is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"docker-registry") for part in cmdline) and str(STATE).encode() in b" ".join(
        cmdline
    )


def up() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support.layout import push_named_fixture
    from tests.support.registry import (
        RegistryStartError,
        RunningRegistry,
        _config,
        _wait_ready,
        find_registry_binary,
        port_is_listening,
    )

    pidfile = STATE / "registry.pid"
    host = f"127.0.0.1:{PORT}"
    if pidfile.exists() and _pid_is_ours(int(pidfile.read_text())):
        print(f"try-registry: already running on {host} (make try-registry-down stops it)")
        _print_commands(host)
        return 0
    if port_is_listening("127.0.0.1", PORT):
        print(
            f"try-registry: port {PORT} is taken; pick another: make try-registry TRY_REGISTRY_PORT=5056",
            file=sys.stderr,
        )
        return 2
    try:
        binary = find_registry_binary()
    except RegistryStartError as e:
        print(f"try-registry: {e} (make deps installs it)", file=sys.stderr)
        return 2
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    config = STATE / "config.yml"
    config.write_text(json.dumps(_config("plain", STATE, PORT, None, None, None), indent=2))
    log_path = STATE / "registry.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=STATE,
            start_new_session=True,  # outlives this script, and a Ctrl-C in the shell
        )
    pidfile.write_text(str(process.pid))
    reg = RunningRegistry(
        flavour="plain",
        host=host,
        scheme="http",
        workdir=STATE,
        log_path=log_path,
        config_path=config,
        process=process,
    )
    try:
        _wait_ready(reg, time.monotonic() + 15)
        for fixture, repo, tag in PUSHES:
            push_named_fixture(reg, fixture, repo=repo, tag=tag)
    except Exception as e:
        down()
        print(f"try-registry: {e}", file=sys.stderr)
        return 1
    print(f"try-registry: docker-registry on {host} (pid {process.pid}) holds the fixtures:")
    for fixture, repo, tag in PUSHES:
        print(f"  {host}/{repo}:{tag}  <- fixtures/{fixture}")
    _print_commands(host)
    return 0


def _print_commands(host: str) -> None:
    print("\nTry (with the venv active: . .venv/bin/activate):\n")
    for cmd, what in commands(host):
        print(f"  {cmd}\n      # {what}")
    print("\nStop it with: make try-registry-down")


def down() -> int:
    pidfile = STATE / "registry.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text() or "0")
        if pid and _pid_is_ours(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not _pid_is_ours(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(STATE, ignore_errors=True)
    print("try-registry: stopped")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["up"]:
        return up()
    if argv[:1] == ["down"]:
        return down()
    print("usage: python -m testbed.try_registry up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
