"""The fast HEAD path: the same answers and guarantees as the full client, against real registries."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.registry import RegistryClient, RegistryOptions
from cacheinspect.registry.reference import Reference, parse_reference
from tests.support.faultproxy import FaultProxy
from tests.support.layout import TinyLayout, make_tiny_layout, push_layout
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.anyio

MISSING = ["sha256:" + f"{i:064x}" for i in range(1, 40)]


@pytest.fixture
def tiny(tmp_path: Path) -> TinyLayout:
    return make_tiny_layout(tmp_path / "tiny", salt=secrets.token_hex(4))


def push(reg: RunningRegistry, tiny: TinyLayout, host: str | None = None) -> Reference:
    repo = f"fasthead/tiny-{secrets.token_hex(4)}"
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    return parse_reference(f"{host or reg.host}/{repo}:cache")


def _opts(reg: RunningRegistry, **kw: Any) -> RegistryOptions:
    base: dict[str, Any] = {"ca_file": reg.ca_file, "timeout": 10.0}
    if reg.flavour != "plain":
        base.update(username=reg.username, password=reg.password, credentials_for=reg.host)
    base.update(kw)
    return RegistryOptions(**base)


async def test_answers_match_the_registry(
    registry_plain: RunningRegistry, tiny: TinyLayout, isolated_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = push(registry_plain, tiny)
    caplog.set_level(logging.DEBUG, logger="cacheinspect.registry")
    async with RegistryClient(_opts(registry_plain, concurrency=4)) as c:
        await c.fetch_manifest(ref)  # first contact goes through the full auth flow
        got = await c.blobs_exist(ref, [tiny.layer, tiny.cache_config, *MISSING])
    assert got == {tiny.layer: True, tiny.cache_config: True, **dict.fromkeys(MISSING, False)}
    fast = [r.getMessage() for r in caplog.records if "keep-alive" in r.getMessage()]
    assert len(fast) == 2 + len(MISSING)  # every HEAD after the first contact took the fast path


async def test_insecure_tls_takes_the_fast_path_too(
    registry_basic: RunningRegistry, tiny: TinyLayout, isolated_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--insecure against a TLS registry whose CA is not given: the bare connections skip verification
    like the full client does, and give the same answers."""
    ref = push(registry_basic, tiny)
    caplog.set_level(logging.DEBUG, logger="cacheinspect.registry")
    async with RegistryClient(_opts(registry_basic, ca_file=None, insecure=True)) as c:
        await c.fetch_manifest(ref)
        got = await c.blobs_exist(ref, [tiny.layer, *MISSING[:5]])
    assert got == {tiny.layer: True, **dict.fromkeys(MISSING[:5], False)}
    fast = [r.getMessage() for r in caplog.records if "keep-alive" in r.getMessage()]
    assert len(fast) == 6 and all(m.startswith("HEAD https://") for m in fast), fast


async def test_no_401_after_the_first_token(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = push(registry_token, tiny)
    caplog.set_level(logging.DEBUG, logger="cacheinspect.registry")
    async with RegistryClient(_opts(registry_token, concurrency=8)) as c:
        await c.fetch_manifest(ref)
        got = await c.blobs_exist(ref, [tiny.layer, *MISSING])
    assert got[tiny.layer] and not any(got[d] for d in MISSING)
    lines = [r.getMessage() for r in caplog.records]
    first_token = next(i for i, ln in enumerate(lines) if ln.startswith("token "))
    assert not [ln for ln in lines[first_token + 1 :] if " -> 401 " in ln]
    assert all("Bearer" in ln for ln in lines if "keep-alive" in ln)
    assert not [ln for ln in lines if registry_token.password and registry_token.password in ln]


async def test_what_it_cannot_take_goes_through_the_full_path(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """A 503 and a 401 on the fast path are retried / re-authenticated by the full client."""
    ref = push(registry_plain, tiny, host=fault_proxy.host)
    async with RegistryClient(RegistryOptions(timeout=5.0, retries=4, retry_budget=20.0, concurrency=2)) as c:
        await c.fetch_manifest(ref)
        fault_proxy.unavailable(r"/blobs/", times=2)
        assert await c.blobs_exist(ref, [tiny.layer, MISSING[0]]) == {tiny.layer: True, MISSING[0]: False}
        fault_proxy.respond(r"/blobs/", status=500, times=1)
        assert await c.blob_exists(ref, tiny.layer)
    heads = fault_proxy.seen(r"/blobs/", method="HEAD")
    assert len(heads) >= 5  # 2 answered 503 + 1 answered 500, each asked again


async def test_a_slow_request_says_it_is_still_waiting(
    fault_proxy: FaultProxy,
    registry_plain: RunningRegistry,
    tiny: TinyLayout,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cacheinspect.registry.client as client_mod

    monkeypatch.setattr(client_mod, "SLOW_REQUEST", 0.3)
    ref = push(registry_plain, tiny, host=fault_proxy.host)
    fault_proxy.hang(r"/manifests/", times=1)
    caplog.set_level(logging.WARNING, logger="cacheinspect.registry")
    async with RegistryClient(RegistryOptions(timeout=1.0, retries=2, retry_budget=10.0)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still waiting for")]
    assert waits and waits[0].startswith(f"still waiting for {fault_proxy.host} (attempt 1/3, ")


async def test_a_cancelled_head_closes_its_connection(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """A HEAD cancelled mid-flight (a sibling check failed, the run ends) closes its socket at once.

    It used to stay open until the garbage collector found it ("unclosed transport", seen as a flaky
    failure of the test above under load, where the task group cancelled HEADs in flight)."""
    import asyncio
    import gc
    import warnings

    ref = push(registry_plain, tiny, host=fault_proxy.host)
    async with RegistryClient(RegistryOptions(timeout=30.0, concurrency=2)) as c:
        await c.fetch_manifest(ref)  # the host is warm: the next HEAD takes the fast path
        fault_proxy.hang(r"/blobs/", method="HEAD")
        task = asyncio.create_task(c.blob_exists(ref, tiny.layer))
        for _ in range(200):
            if fault_proxy.seen(r"/blobs/", method="HEAD"):
                break
            await asyncio.sleep(0.05)
        assert fault_proxy.seen(r"/blobs/", method="HEAD"), "the HEAD never reached the registry"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)  # the transport's close callbacks run
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
        assert not [w for w in caught if "unclosed" in str(w.message)]
    fault_proxy.clear()
