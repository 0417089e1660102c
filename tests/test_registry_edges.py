"""Registry edges of issue 17, against a real registry behind tests/support/faultproxy.py:

* a blob served with ``Content-Encoding: gzip, gzip`` was inflated a whole network chunk at a time
  before the size cap looked at it (2.1 GB peak for a small body); now the cap stops it one piece past;
* a redirect whose ``Location`` carries ``user:pw@`` made httpx send Basic credentials built from it to
  the other host; the userinfo of a redirect target is dropped, as browsers and Go's client do;
* a loopback token service redirecting to a plain-HTTP non-loopback realm was followed, where the realm
  rule refuses that realm when a challenge names it directly.
"""

from __future__ import annotations

import gzip
import secrets
import tracemalloc
import zlib
from pathlib import Path

import pytest

from cacheinspect.errors import AuthError, RegistryError, SizeLimitError
from cacheinspect.registry import RegistryClient
from tests.support.faultproxy import FaultProxy
from tests.support.layout import TinyLayout, make_tiny_layout
from tests.support.registry import RunningRegistry
from tests.test_registry_faults import _token_challenge, fast, through

pytestmark = pytest.mark.anyio


@pytest.fixture
def tiny(tmp_path: Path, isolated_env: Path) -> TinyLayout:
    return make_tiny_layout(tmp_path / "tiny", salt=secrets.token_hex(4))


def _gzip_zeros(n: int) -> bytes:
    """gzip of n zero bytes, produced in pieces (never n bytes in memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    out = [c.compress(block) for _ in range(n >> 20)]
    out.append(c.flush())
    return b"".join(out)


async def test_double_gzip_bomb_stops_at_the_cap_without_inflating_it(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    inner = _gzip_zeros(256 << 20)  # 256 MiB of zeros: ~250 KB
    body = gzip.compress(inner)  # gzip again: a few KB on the wire
    assert len(body) < 64 << 10
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/blobs/", 200, headers={"Content-Encoding": "gzip, gzip"}, body=body)
    cap = 1 << 20
    async with RegistryClient(fast(retries=0)) as c:
        tracemalloc.start()
        try:
            with pytest.raises(SizeLimitError, match="cap"):
                await c.fetch_blob(ref, tiny.cache_config, max_bytes=cap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # httpx's decoder inflated a whole network chunk at once (hundreds of MiB here)
    assert peak < 32 << 20, peak


async def test_double_gzip_within_the_cap_decodes_exactly(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    blob = tiny.blobs[tiny.cache_config]
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(
        r"/blobs/", 200, headers={"Content-Encoding": "gzip, gzip"}, body=gzip.compress(gzip.compress(blob))
    )
    async with RegistryClient(fast(retries=0)) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == blob
    fault_proxy.clear()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = raw_deflate.compress(blob) + raw_deflate.flush()
    fault_proxy.respond(r"/blobs/", 200, headers={"Content-Encoding": "deflate"}, body=body)
    async with RegistryClient(fast(retries=0)) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == blob


async def test_redirect_userinfo_is_dropped_never_sent_as_basic(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    other = fault_proxy.other_url.replace("http://", "http://evil:secret-pw@")
    fault_proxy.redirect(r"/blobs/", to=other)
    async with RegistryClient(fast()) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == tiny.blobs[tiny.cache_config]
    [at_storage] = fault_proxy.seen(r"/blobs/", listener="other")
    assert at_storage.authorization is None


async def test_token_redirect_to_plain_http_elsewhere_is_refused_like_such_a_realm(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    elsewhere = "http://token.example.invalid/tok"
    # named directly, the realm rule refuses it
    fault_proxy.respond(
        r"/manifests/",
        401,
        headers={"WWW-Authenticate": f'Bearer realm="{elsewhere}",service="svc"'},
        times=1,
    )
    async with RegistryClient(fast(retries=0)) as c:
        with pytest.raises(AuthError, match="refusing a non-HTTPS token service"):
            await c.fetch_manifest(ref)
    fault_proxy.clear()
    # reached through a redirect of the loopback token service: refused the same way, nothing sent there
    fault_proxy.respond(r"/manifests/", 401, headers=_token_challenge(fault_proxy), times=1)
    fault_proxy.respond(r"^/tok$", 307, headers={"Location": elsewhere}, body=b"")
    async with RegistryClient(fast(retries=0)) as c:
        with pytest.raises(
            AuthError, match=r"token service redirected to .*refusing a non-HTTPS token service"
        ):
            await c.fetch_manifest(ref)
    assert [r.path for r in fault_proxy.seen(r"^/tok$")] == ["/tok"]


async def test_token_redirect_on_loopback_is_still_followed(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """The rule is the realm rule, no stricter: a loopback plain-HTTP target stays allowed."""
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/manifests/", 401, headers=_token_challenge(fault_proxy), times=1)
    fault_proxy.respond(r"^/tok$", 307, headers={"Location": f"{fault_proxy.url}/tok2"}, body=b"")
    fault_proxy.respond(r"^/tok2$", 200, body=b'{"token":"t"}')
    async with RegistryClient(fast(retries=0)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index


def test_error_classes_are_the_documented_ones() -> None:
    assert AuthError.exit_code == 3 and RegistryError.exit_code == 5 and SizeLimitError.exit_code == 6
