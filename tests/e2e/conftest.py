"""Shared helpers for the end-to-end tests on the live BuildKit test bed (testbed/buildkit.sh).

`make e2e` (testbed/e2e.sh) starts the test bed, runs `pytest -m e2e tests/e2e` and stops it again.
Running these tests by hand: `bash testbed/buildkit.sh up`, then `.venv/bin/pytest -m e2e tests/e2e`.

The bed has two engines side by side (one shared registry): `v0.13` (dockerd 26.1, BuildKit v0.13) and
`v0.25` (dockerd 28.5.2, BuildKit v0.25.2, docker-cli 28.5.2 + buildx 0.29.1). The `testbed` fixture is
parametrised over both, session-scoped per engine: every test that uses it runs once per engine, the engine
in its id (`test_x[v0.13]`, `test_x[v0.25]`), and pytest orders the run so all tests of one engine run, then
all of the other, each engine's daemon shared by its tests. `-k v0.25` runs one engine only.
The fixture fails (never skips) when a bed is not up: an e2e run that silently tested nothing would look
green. A test meaningful on one engine only skips on the other with the reason in the skip message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENVFILE = Path(os.environ.get("TESTBED_ENV_FILE", ROOT / "build" / "testbed" / "env"))
ENVFILE_V025 = Path(os.environ.get("TESTBED_ENV_FILE_V025", ROOT / "build" / "testbed" / "env-v025"))
#: engine id (as in test ids) -> the env file `testbed/buildkit.sh up` writes for it
ENGINES: dict[str, Path] = {"v0.13": ENVFILE, "v0.25": ENVFILE_V025}
CASES = ROOT / "testbed" / "cases"

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
CACHECONFIG = "application/vnd.buildkit.cacheconfig.v0"


def _load_case_json_module() -> Any:
    spec = importlib.util.spec_from_file_location("testbed_case_json", ROOT / "testbed" / "case_json.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_case_json = _load_case_json_module()


def parse_steps(log: str) -> list[dict[str, Any]]:
    """Steps of a `--progress=plain` log: [{"vertex", "status": CACHED|LOADED|RAN|…}] (see testbed/case_json.py)."""
    return list(_case_json.parse_steps(log))


def read_env(path: Path) -> dict[str, str]:
    """The environment after sourcing the test bed's env file."""
    out = subprocess.run(
        ["bash", "-c", 'set -a; source "$1" >/dev/null; env -0', "bash", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    env: dict[str, str] = {}
    for item in out.split(b"\0"):
        if b"=" in item:
            key, _, value = item.partition(b"=")
            env[key.decode()] = value.decode()
    return env


@dataclass
class Testbed:
    """The live test bed: run docker/buildx against it and talk to its registry."""

    __test__ = False  # not a test class, despite the name

    env: dict[str, str]
    registry: str  # 127.0.0.1:PORT, plain HTTP
    http: httpx.Client = field(repr=False)
    engine: str = "v0.13"  # "v0.13" | "v0.25": the test-id of the engine

    @property
    def buildkit_version(self) -> str:
        """BuildKit's version as the bed derives it ("v0.13", "v0.25.2"): Debian's dockerd reports v0.0.0."""
        return self.env.get("BUILDKIT_VERSION", "")

    @property
    def buildkit_minor(self) -> int:
        """The BuildKit minor version (13, 25): for engine facts such as "v0.21+ default to image-manifest"."""
        parts = self.buildkit_version.lstrip("v").split(".")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def run_dir(self) -> Path:
        """This engine's run directory (daemon.json, sockets, logs, data root)."""
        return Path(self.env["TESTBED_DIR"]) / ("run-v025" if self.engine == "v0.25" else "run")

    def restart(self, daemon_extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        """Restart this engine's dockerd (only this one) with DAEMON_EXTRA's top-level keys merged into
        daemon.json; None restores the bed's own daemon.json. Returns the `buildkit.sh up` run."""
        env = {**os.environ, "TESTBED_DIR": self.env["TESTBED_DIR"], "TESTBED_ENGINES": self.engine}
        env.pop("TESTBED_DAEMON_EXTRA_JSON", None)
        if daemon_extra is not None:
            env["TESTBED_DAEMON_EXTRA_JSON"] = json.dumps(daemon_extra)
        return subprocess.run(
            ["bash", str(ROOT / "testbed" / "buildkit.sh"), "up"],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        docker = self.env.get("TESTBED_DOCKER", "docker")
        proc = subprocess.run(
            [docker, *args], env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def build(self, context: Path | str, *args: str, check: bool = True) -> str:
        """`docker buildx build --network=host --progress=plain ARGS CONTEXT`; returns the plain log.

        Every test prunes before it builds (each build plays a fresh host). distribution 2.8's filesystem
        driver writes tag links non-atomically, so a HEAD racing a push of the same tag (BuildKit and
        dockerd both push with --push) sometimes gets 500 "invalid checksum digest format". On exactly
        that signature the build is repeated, after a prune so it starts from the same state; any other
        failure fails at once.
        """
        for attempt in range(3):
            proc = self.docker(
                "buildx", "build", "--network=host", "--progress=plain", *args, str(context), check=False
            )
            log = proc.stdout + proc.stderr
            flake = proc.returncode != 0 and "500 Internal Server Error" in log and "unexpected status" in log
            if not flake or attempt == 2:
                break
            self.prune()
        if check and proc.returncode != 0:
            raise AssertionError(f"build failed ({proc.returncode}):\n{log[-6000:]}")
        return log

    def prune(self) -> None:
        """Forget every local build result and image: the next build behaves like a fresh host."""
        self.docker("buildx", "prune", "-af")
        self.docker("image", "prune", "-af")

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.registry}/{repo}:{tag}"

    def unique_repo(self, prefix: str) -> str:
        """A repository name no other test uses (tests share one registry)."""
        return f"e2e/{prefix}-{uuid.uuid4().hex[:8]}"

    def get_manifest(self, repo: str, reference: str) -> tuple[str, bytes, dict[str, Any]]:
        r = self.http.get(
            f"http://{self.registry}/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        r.raise_for_status()
        body = json.loads(r.content)
        media_type = body.get("mediaType") or r.headers.get("content-type", "").split(";")[0]
        return media_type, r.content, body

    def get_blob(self, repo: str, digest: str) -> bytes:
        r = self.http.get(f"http://{self.registry}/v2/{repo}/blobs/{digest}", follow_redirects=True)
        r.raise_for_status()
        return r.content

    def delete_blob(self, repo: str, digest: str) -> None:
        r = self.http.delete(f"http://{self.registry}/v2/{repo}/blobs/{digest}")
        r.raise_for_status()


def copy_case(case: str, dest: Path) -> Path:
    """Work copy of testbed/cases/CASE with normalised modes (files 644, dirs 755), like make-fixtures."""
    target = dest / case
    shutil.copytree(CASES / case, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture(scope="session", params=list(ENGINES), ids=list(ENGINES))
def testbed(request: pytest.FixtureRequest) -> Iterator[Testbed]:
    """The live bed of one engine (parametrised: every e2e test runs on v0.13 and on v0.25)."""
    engine: str = request.param
    envfile = ENGINES[engine]
    if not envfile.is_file():
        pytest.fail(
            f"test bed {engine} is not up: {envfile} missing (run `bash testbed/buildkit.sh up` or `make e2e`)"
        )
    env = read_env(envfile)
    registry = env.get("TESTBED_REGISTRY", "")
    if not registry:
        pytest.fail(f"{envfile} has no TESTBED_REGISTRY")
    if env.get("TESTBED_ENGINE", "v0.13") != engine:
        pytest.fail(f"{envfile} is the env of engine {env.get('TESTBED_ENGINE')!r}, not {engine}")
    with httpx.Client(timeout=30.0) as http:
        bed = Testbed(env=env, registry=registry, http=http, engine=engine)
        info = bed.docker("info", "--format", "{{.ServerVersion}}", check=False)
        if info.returncode != 0:
            pytest.fail(
                f"test bed {engine} dockerd not reachable at {env.get('DOCKER_HOST')}: {info.stderr.strip()}"
            )
        try:
            http.get(f"http://{registry}/v2/").raise_for_status()
        except httpx.HTTPError as exc:
            pytest.fail(f"test bed registry {registry} not reachable: {exc}")
        yield bed
