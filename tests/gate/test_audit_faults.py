"""Issue 8's audit cases against a real registry behind the fault proxy (tests/support/faultproxy.py).

The matrix of tests/test_registry_faults.py covers the client; these add what the gate makes of it:
a corrupted config is ``integrity-failure``, a 404 ``cache-not-found`` (``--allow-missing`` passes),
a missing layer ``blob-missing``, a registry that keeps failing ``unreachable`` while the other refs are
still checked, and a loopback registry naming a non-loopback plain-HTTP token realm gets no credentials.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cacheinspect.cache.audit import AuditPolicy, audit_refs
from cacheinspect.registry import RegistryOptions
from tests.support.faultproxy import FaultProxy
from tests.support.layout import TinyLayout, make_tiny_layout, push_layout
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FIX = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def tiny(tmp_path: Path, isolated_env: Path) -> TinyLayout:
    return make_tiny_layout(tmp_path / "tiny", salt=secrets.token_hex(4))


def _push(proxy: FaultProxy, reg: RunningRegistry, tiny: TinyLayout) -> str:
    repo = f"gate/tiny-{secrets.token_hex(4)}"
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    return f"{proxy.host}/{repo}:cache"


def opts() -> RegistryOptions:
    return RegistryOptions(timeout=3.0, retries=1, retry_budget=5.0)


def _codes(r: object) -> list[str]:
    return [f.code for f in r.findings]  # type: ignore[attr-defined]


async def test_fault_matrix_for_the_gate(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = _push(fault_proxy, registry_plain, tiny)
    (clean,) = await audit_refs([ref], opts(), AuditPolicy(), now=NOW)
    assert clean.ok, clean.findings

    rule = fault_proxy.corrupt(rf"/blobs/{tiny.cache_config}", times=1)
    (r,) = await audit_refs([ref], opts(), AuditPolicy(), now=NOW)
    assert _codes(r) == ["integrity-failure"] and r.exit_code is None and rule.hits == 1

    fault_proxy.respond(r"/manifests/cache$", status=404, times=2)
    (r,) = await audit_refs([ref], opts(), AuditPolicy(), now=NOW)
    assert _codes(r) == ["cache-not-found"] and not r.ok
    (r,) = await audit_refs([ref], opts(), AuditPolicy(allow_missing=True), now=NOW)
    assert r.ok and r.findings[0].severity == "info"

    fault_proxy.respond(rf"/blobs/{tiny.layer}", status=404, method="HEAD", times=1)
    fault_proxy.respond(rf"/blobs/{tiny.layer}", status=404, method="GET", times=1)
    (r,) = await audit_refs([ref], opts(), AuditPolicy(), now=NOW)
    assert "blob-missing" in _codes(r) and not r.ok


async def test_one_unreachable_ref_among_several(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    good = _push(fault_proxy, registry_plain, tiny)
    bad = _push(fault_proxy, registry_plain, tiny)
    fault_proxy.unavailable(bad.split("/", 1)[1].split(":")[0] + "/manifests/", times=None)
    results = await audit_refs([bad, str(FIX / "variant-gzip"), good], opts(), AuditPolicy(), now=NOW)
    assert [r.ok for r in results] == [False, True, True]
    assert _codes(results[0]) == ["unreachable"] and results[0].exit_code == 5


async def test_loopback_registry_naming_a_remote_plain_http_realm(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = _push(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(
        r"/v2/",
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="http://192.0.2.1/token",service="registry"'},
    )
    o = RegistryOptions(timeout=3.0, retries=1, retry_budget=5.0, username="u", password="secret")
    (r,) = await audit_refs([ref], o, AuditPolicy(), now=NOW)
    assert _codes(r) == ["unreachable"] and r.exit_code == 3, r.findings
    assert "non-HTTPS token service" in r.findings[0].message
