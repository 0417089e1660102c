"""Errors that say what happened (issue 19, item 3).

- a typo in a local path is "no such path" (exit 2) with the nearest existing name, not a Docker Hub
  request; an explicit registry reference stays one;
- wrong credentials read differently from none, and name where they came from;
- the scheme probe is covered by "still waiting" and spent from the retry budget;
- a name that does not resolve is not retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cacheinspect.cli import main
from cacheinspect.errors import RegistryError
from cacheinspect.reference import Reference, parse_reference
from cacheinspect.registry import RegistryClient, RegistryOptions
from cacheinspect.sources.targets import parse_target
from tests.support.layout import PushFixture
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "testbed" / "cases"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


# ---------------------------------------------------------------------------------- local paths
@pytest.mark.parametrize(
    ("argv", "near"),
    [
        (["inspect", "fixtures/threestage-mx"], "fixtures/threestage-max"),
        (["inspect", "./fixtures/threestage-mx"], "fixtures/threestage-max"),
        (
            ["inspect", "fixtures/threestage-max", "--image", "fixtures/threestage-inlin"],
            "fixtures/threestage-inline",
        ),
        (["graph", "fixtures/crosshost-b-mod"], "fixtures/crosshost-b-mode"),
        (["diff", "fixtures/threestage-min", "fixtures/threestage-mx"], "fixtures/threestage-max"),
        (["audit", "fixtures/threestage-mx"], "fixtures/threestage-max"),
        (["context", "check", "fixtures/crosshost-x", "testbed/cases/crosshost"], "fixtures/crosshost-a"),
        (["context", "check", "fixtures/crosshost-a", "testbed/cases/crosshos"], "testbed/cases/crosshost"),
        (["inspect", "oci-layout://fixtures/threestage-mx"], "fixtures/threestage-max"),
    ],
)
def test_a_typo_in_a_local_path_is_no_such_path_with_the_nearest_name(
    argv: list[str], near: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and ("no such" in lines[0]), err
    assert lines[1].startswith(f"hint: did you mean {near}?"), err
    assert "registry-1.docker.io" not in err


def test_absolute_paths_name_the_nearest_parent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "cache-main").mkdir()
    code, _, err = run(capsys, "inspect", str(tmp_path / "cache-mian" / "index.json"))
    assert code == 2
    assert f"hint: did you mean {tmp_path / 'cache-main'}?" in err


def test_explicit_registry_references_stay_references(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first component names a registry host: a reference even next to a fixtures/ directory."""
    monkeypatch.chdir(ROOT)
    assert parse_target("docker.io/fixtures/threestage-mx") == parse_reference(
        "docker.io/fixtures/threestage-mx"
    )
    assert isinstance(parse_target("localhost:5000/fixtures/x"), Reference)
    assert isinstance(parse_target("ubuntu"), Reference)  # no directory 'ubuntu' here: Docker Hub


# ----------------------------------------------------------------------------------- credentials
@pytest.mark.parametrize("flavour", ["basic", "token"])
def test_wrong_credentials_name_their_source(
    flavour: str, request: pytest.FixtureRequest, push_fixture: PushFixture, tmp_path: Path
) -> None:
    reg: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    repo, tag, _ = push_fixture("variant-gzip", reg)
    cfg = reg.docker_config(tmp_path / "cfg", password="not-the-password")
    p = reg.run_cli(["inspect", f"{reg.host}/{repo}:{tag}"], cfg)
    assert p.returncode == 3, p.stderr
    first, hint = p.stderr.splitlines()[:2]
    assert "refused the credentials from" in first and f"config.json auths['{reg.host}']" in first, first
    assert hint.startswith("hint: log in again (docker login"), hint
    assert "not-the-password" not in p.stderr


@pytest.mark.parametrize("flavour", ["basic", "token"])
def test_no_credentials_reads_as_anonymous(
    flavour: str, request: pytest.FixtureRequest, push_fixture: PushFixture, tmp_path: Path
) -> None:
    reg: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    repo, tag, _ = push_fixture("variant-gzip", reg)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    p = reg.run_cli(["inspect", f"{reg.host}/{repo}:{tag}"], empty)
    assert p.returncode == 3, p.stderr
    first, hint = p.stderr.splitlines()[:2]
    assert "anonymous access" in first and "credentials from" not in first, first
    assert hint.startswith(f"hint: log in with docker login {reg.host}"), hint


def test_wrong_username_password_stdin_says_check_them(
    registry_token: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    repo, tag, _ = push_fixture("variant-gzip", registry_token)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    p = registry_token.run_cli(
        ["inspect", f"{registry_token.host}/{repo}:{tag}", "-u", "someone", "--password-stdin"],
        empty,
        stdin="wrong\n",
    )
    assert p.returncode == 3, p.stderr
    assert "the credentials from --username/--password-stdin" in p.stderr
    assert "hint: check the --username and the password given on stdin" in p.stderr


def test_creds_store_is_named(
    registry_basic: RunningRegistry, push_fixture: PushFixture, tmp_path: Path
) -> None:
    """A credential helper configured as credsStore (Docker Desktop's 'desktop') that hands out a wrong
    password: the message names ~/.docker/config.json and the store, like the issue asks."""
    repo, tag, _ = push_fixture("variant-gzip", registry_basic)
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text('{"credsStore": "fhtest"}')
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fhtest"
    helper.write_text('#!/bin/sh\ncat >/dev/null\necho \'{"Username": "alice", "Secret": "wrong"}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE")}
    env.update(HOME=str(home), PATH=f"{bindir}:{env.get('PATH', '')}")
    extra = ["--ca-file", str(registry_basic.ca_file)] if registry_basic.ca_file else []
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", f"{registry_basic.host}/{repo}:{tag}", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 3, p.stderr
    assert "refused the credentials from ~/.docker/config.json (credsStore fhtest)" in p.stderr, p.stderr


# ------------------------------------------------------------------------------------- network
@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback TCP server that accepts every connection and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_the_scheme_probe_says_still_waiting_and_is_spent_from_the_budget(
    silent_server: int, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cacheinspect.registry.client as client_mod

    monkeypatch.setattr(client_mod, "SLOW_REQUEST", 0.05)
    spent: list[float] = []
    original = client_mod.RegistryClient._with_retries

    async def spy(self: RegistryClient, *args: object, **kw: object) -> object:
        spent.append(float(kw.get("spent", 0.0)))  # type: ignore[arg-type]
        return await original(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(client_mod.RegistryClient, "_with_retries", spy)
    caplog.set_level(logging.WARNING, logger="cacheinspect.registry")
    ref = parse_reference(f"127.0.0.1:{silent_server}/x:y")

    async def go() -> None:
        async with RegistryClient(RegistryOptions(timeout=0.5, retries=1, retry_budget=1.5)) as c:
            await c.fetch_manifest(ref)

    with pytest.raises(RegistryError):
        asyncio.run(go())
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still waiting for")]
    assert waits and waits[0].startswith(f"still waiting for 127.0.0.1:{silent_server} (TLS probe, "), waits
    # the probe's time is handed on, so the request's deadline is what is left of the budget
    assert spent and spent[0] > 0


def test_a_name_that_does_not_resolve_is_not_retried(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-v", "inspect", "no-such-host.invalid/app:cache")
    assert code == 5
    assert "cannot resolve no-such-host.invalid" in err and "(not retried)" in err, err
    assert "retrying" not in err
