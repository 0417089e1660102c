"""Registries for the registry-operations tests, beyond the session flavours of tests/conftest.py:

* ``registry_nodelete``: CNCF distribution 2.8, plain HTTP, ``storage.delete.enabled: false``;
* ``crane_registry``: go-containerregistry's ``crane registry serve`` 0.20.7 with ``--disk`` (blobs on
  disk, manifests in memory; no referrers API). The binary is ``$TESTBED_CRANE``, else
  ``build/crane-deb/usr/bin/crane`` unpacked from the pinned ``../shared/testbed-debs`` .deb (beside the checkout)
  (``dpkg-deb -x``). Missing both is an error, not a skip.
* ``rule_proxy``: a fault proxy in front of the plain registry, for the emulated registry rules
  (``emulations.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.faultproxy import FaultProxy, start_fault_proxy
from tests.support.registry import RunningRegistry, free_port, start_registry

ROOT = Path(__file__).resolve().parents[2]
CRANE_DEB_GLOB = "crane_0.20.7*_amd64.deb"
DEB_DIRS = (ROOT.parent / "shared" / "testbed-debs", ROOT / "testbed" / "debs")  # shared/ beside the checkout


def find_crane() -> str:
    env = os.environ.get("TESTBED_CRANE")
    if env:
        return env
    local = ROOT / "build" / "crane-deb" / "usr" / "bin" / "crane"
    if not local.exists():
        debs = [d for base in DEB_DIRS if base.is_dir() for d in sorted(base.glob(CRANE_DEB_GLOB))]
        if not debs or shutil.which("dpkg-deb") is None:
            raise RuntimeError("crane 0.20.7 not found: set $TESTBED_CRANE or provide the pinned .deb")
        (ROOT / "build" / "crane-deb").mkdir(parents=True, exist_ok=True)  # a fresh clone has no build/
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(ROOT / "build" / "crane-deb")], check=True)
    return str(local)


@dataclass
class CraneRegistry:
    host: str
    disk: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@pytest.fixture(scope="session")
def crane_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CraneRegistry]:
    crane = find_crane()
    work = tmp_path_factory.mktemp("crane")
    disk = work / "disk"
    disk.mkdir()
    port = free_port()
    log = open(work / "crane.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [crane, "registry", "serve", "--address", f"127.0.0.1:{port}", "--disk", str(disk)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    reg = CraneRegistry(f"127.0.0.1:{port}", disk, proc)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{reg.url}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"crane registry serve did not come up: {(work / 'crane.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)
        yield reg
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def registry_nodelete(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry("plain", tmp_path_factory.mktemp("registry-nodelete"), delete_enabled=False) as reg:
        yield reg


@pytest.fixture
def rule_proxy(registry_plain: RunningRegistry) -> Iterator[FaultProxy]:
    with start_fault_proxy(registry_plain) as proxy:
        yield proxy
