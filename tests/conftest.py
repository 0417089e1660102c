"""Shared fixtures: real registries per flavour (session-scoped, started lazily), fixture pushing, a
fault proxy.

A missing ``docker-registry`` makes the fixtures *error* (not skip): ``make test`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faultproxy import FaultProxy, start_fault_proxy
from tests.support.layout import PushedFixture, PushFixture, push_named_fixture
from tests.support.registry import FLAVOURS, Flavour, RunningRegistry, start_registry


def _session_registry(flavour: Flavour, factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(flavour, factory.mktemp(f"registry-{flavour}")) as reg:
        yield reg


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """HTTP, anonymous, deletes enabled."""
    yield from _session_registry("plain", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """HTTPS (test CA in ``ca_file``) + htpasswd Basic auth (``username``/``password``)."""
    yield from _session_registry("basic", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """HTTPS + Bearer tokens from ``issuer`` (``token_realm``); alice full, bob pull ``allowed/*``."""
    yield from _session_registry("token", tmp_path_factory)


@pytest.fixture(params=FLAVOURS)
def registry(request: pytest.FixtureRequest) -> RunningRegistry:
    """Each flavour in turn (the session registry of that flavour)."""
    reg: RunningRegistry = request.getfixturevalue(f"registry_{request.param}")
    return reg


@pytest.fixture
def push_fixture() -> PushFixture:
    """``push_fixture("threestage-max", reg, tag="latest", repo=None, ref_name=None, damage=True)``
    ``-> (repo, tag, digest)``.

    Replays ``fixtures/<name>`` into a fresh repository (random suffix) of ``reg``; a ``delete_blob``
    named in the fixture's ``case.json`` is deleted afterwards (``damage=False`` keeps it).
    """

    def push(
        name: str,
        reg: RunningRegistry,
        *,
        repo: str | None = None,
        tag: str = "latest",
        ref_name: str | None = None,
        damage: bool = True,
    ) -> PushedFixture:
        return push_named_fixture(reg, name, repo=repo, tag=tag, ref_name=ref_name, damage=damage)

    return push


@pytest.fixture
def fault_proxy(registry_plain: RunningRegistry) -> Iterator[FaultProxy]:
    """A plain-HTTP fault proxy in front of the session's plain registry (no rules until you add some)."""
    with start_fault_proxy(registry_plain) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy_tls(registry_plain: RunningRegistry, tmp_path: Path) -> Iterator[FaultProxy]:
    """Like ``fault_proxy`` but serving HTTPS (trust ``proxy.ca_file``): redirects to http are downgrades."""
    with start_fault_proxy(registry_plain, tls=True, workdir=tmp_path) as proxy:
        yield proxy


# Shared by the registry client tests: asyncio for anyio, and no ambient credentials.
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ambient docker/podman credentials: an empty DOCKER_CONFIG and no podman auth files."""
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return cfg
