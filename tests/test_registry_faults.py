"""What real registries and CDNs do to clients, injected by tests/support/faultproxy.py in front of a real
registry: corrupt and short bodies, 429/503 with Retry-After, redirects to other hosts and to plain HTTP,
servers that never answer, and endless 401s."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.errors import (
    AuthError,
    DigestMismatchError,
    IntegrityError,
    RateLimitedError,
    RegistryError,
    SizeLimitError,
)
from cacheinspect.registry import RegistryClient, RegistryOptions
from cacheinspect.registry.reference import Reference, parse_reference
from tests.support.faultproxy import FAULT_TOKEN_PATH, FaultProxy
from tests.support.layout import TinyLayout, make_tiny_layout, push_layout
from tests.support.registry import RunningRegistry, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def tiny(tmp_path: Path, isolated_env: Path) -> TinyLayout:
    return make_tiny_layout(tmp_path / "tiny", salt=secrets.token_hex(4))


def through(proxy: FaultProxy, reg: RunningRegistry, tiny: TinyLayout) -> Reference:
    """Push straight to the registry, and return a reference that reads it through the proxy."""
    repo = f"faults/tiny-{secrets.token_hex(4)}"
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    return parse_reference(f"{proxy.host}/{repo}:cache")


def fast(**kw: Any) -> RegistryOptions:
    base: dict[str, Any] = {"timeout": 5.0, "retries": 4, "retry_budget": 20.0}
    base.update(kw)
    return RegistryOptions(**base)


async def test_corrupted_blob_and_manifest(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    blob_rule = fault_proxy.corrupt(r"/blobs/sha256:")
    manifest_rule = fault_proxy.corrupt(r"/manifests/sha256:")
    async with RegistryClient(fast()) as c:
        with pytest.raises(DigestMismatchError, match="failed verification") as ei:
            await c.fetch_blob(ref, tiny.cache_config)
        assert ei.value.exit_code == 6
        with pytest.raises(DigestMismatchError):
            await c.fetch_manifest(ref, tiny.cache_index)
        # A tag fetch has nothing to verify against: we hash what arrived instead of trusting a header.
        fault_proxy.corrupt(r"/manifests/cache$")
        got = await c.fetch_manifest(ref)
    assert got.digest != tiny.cache_index
    assert blob_rule.hits == 1
    assert manifest_rule.hits == 1


async def test_truncated_body_is_an_integrity_error(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.truncate(r"/blobs/sha256:", keep=10)
    async with RegistryClient(fast()) as c:
        with pytest.raises(IntegrityError, match="cut short") as ei:
            await c.fetch_blob(ref, tiny.cache_config)
    assert not isinstance(ei.value, DigestMismatchError)
    assert rule.hits == 1


async def test_429_with_retry_after_then_success(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.throttle(r"/manifests/", times=2, retry_after="1")
    started = time.monotonic()
    async with RegistryClient(fast()) as c:
        got = await c.fetch_manifest(ref)
    assert got.digest == tiny.cache_index
    assert rule.hits == 2
    assert time.monotonic() - started >= 1.9  # both Retry-After: 1 waits were honoured


async def test_429_past_the_retries_quotes_rate_limit_headers(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.throttle(r"/manifests/", times=None, retry_after="0")
    async with RegistryClient(fast(retries=2)) as c:
        with pytest.raises(RateLimitedError) as ei:
            await c.fetch_manifest(ref)
    assert rule.hits == 3
    assert "ratelimit-limit: 100;w=21600" in str(ei.value)
    assert "ratelimit-remaining: 0;w=21600" in str(ei.value)
    assert ei.value.exit_code == 5


async def test_retry_after_beyond_the_budget_gives_up_at_once(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.throttle(r"/manifests/", times=None, retry_after="3600")
    async with RegistryClient(fast(retry_budget=10.0)) as c:
        with pytest.raises(RateLimitedError, match="asked to wait 3600s"):
            await c.fetch_manifest(ref)
    assert rule.hits == 1


async def test_503_flaps_then_success(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.unavailable(r"/blobs/", times=3)
    async with RegistryClient(fast()) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == tiny.blobs[tiny.cache_config]
    assert rule.hits == 3


async def test_503_forever_carries_the_registry_message(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.unavailable(r"/blobs/", times=None)
    async with RegistryClient(fast(retries=1)) as c:
        with pytest.raises(RegistryError, match="HTTP 503: UNAVAILABLE: service unavailable"):
            await c.fetch_blob(ref, tiny.cache_config)
    assert rule.hits == 2


async def test_redirect_to_another_host_drops_authorization(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """The registry wants a token, then sends the blob GET to "object storage" on another host."""
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.unauthorized(r"/blobs/", times=1)
    fault_proxy.redirect(r"/blobs/", to="other")
    async with RegistryClient(fast()) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == tiny.blobs[tiny.cache_config]
    at_registry = fault_proxy.seen(r"/blobs/", listener="proxy")
    at_storage = fault_proxy.seen(r"/blobs/", listener="other")
    assert [r.authorization for r in at_registry] == [None, "Bearer fault-proxy-token"]
    assert len(at_storage) == 1
    assert at_storage[0].authorization is None


async def test_https_to_http_redirect_refused(
    fault_proxy_tls: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy_tls, registry_plain, tiny)
    fault_proxy_tls.redirect(r"/blobs/", to="downgrade")
    async with RegistryClient(fast(ca_file=fault_proxy_tls.ca_file)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index  # TLS itself works
        with pytest.raises(RegistryError, match=r"refusing redirect from https://.* to http://"):
            await c.fetch_blob(ref, tiny.cache_config)
    assert fault_proxy_tls.seen(listener="downgrade") == []


@pytest.mark.parametrize("after_headers", [False, True])
async def test_hang_times_out_in_bounded_time(
    after_headers: bool, fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    rule = fault_proxy.hang(r"/blobs/", after_headers=after_headers)
    started = time.monotonic()
    async with RegistryClient(fast(timeout=1.0, retries=1, retry_budget=5.0)) as c:
        with pytest.raises(RegistryError, match=r"no answer within 1s .*after 2 attempts"):
            await c.fetch_blob(ref, tiny.cache_config)
    assert time.monotonic() - started < 15  # generous: two 1 s timeouts and one short back-off
    assert rule.hits == 2


async def test_endless_401_stops_after_one_retry(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.unauthorized(r"/manifests/", times=None)
    async with RegistryClient(fast()) as c:
        with pytest.raises(AuthError):
            await c.fetch_manifest(ref)
    assert len(fault_proxy.seen(r"/manifests/")) == 2
    assert len(fault_proxy.seen(FAULT_TOKEN_PATH)) == 1


async def test_head_refused_falls_back_to_ranged_get(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/blobs/", 405, method="HEAD")
    missing = "sha256:" + "1" * 64
    async with RegistryClient(fast()) as c:
        got = await c.blobs_exist(ref, [tiny.layer, missing])
    assert got == {tiny.layer: True, missing: False}
    gets = fault_proxy.seen(r"/blobs/", method="GET")
    assert len(gets) == 2
    assert {r.headers.get("range") for r in gets} == {"bytes=0-0"}


async def test_connection_refused_is_retried_then_reported(tiny: TinyLayout) -> None:
    ref = parse_reference(f"127.0.0.1:{free_port()}/nothing/here:latest")
    async with RegistryClient(fast(plain_http=True, retries=2, timeout=2.0)) as c:
        with pytest.raises(RegistryError, match="after 3 attempts") as ei:
            await c.fetch_manifest(ref)
    assert ei.value.exit_code == 5


# -- what neither the registry nor the proxy can produce: a MockTransport stands in -------------------------
def _mock_client(handler: Any, **kw: Any) -> RegistryClient:
    import httpx

    return RegistryClient(fast(plain_http=True, **kw), transport=httpx.MockTransport(handler))


async def test_body_without_content_length_is_capped_while_streaming(tiny: TinyLayout) -> None:
    """A chunked body has no Content-Length to refuse up front: the count while streaming stops it."""
    import httpx

    sent: list[int] = []

    async def chunks() -> Any:
        for _ in range(64):
            sent.append(1)
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    ref = parse_reference("127.0.0.1:1/mock/repo:t")
    async with _mock_client(handler, max_bytes=4096) as c:
        with pytest.raises(SizeLimitError, match="over the 4096-byte cap"):
            await c.fetch_manifest(ref)
    assert len(sent) < 64  # it stopped reading instead of buffering everything first


async def test_retry_after_http_date_is_honoured(tiny: TinyLayout) -> None:
    import email.utils

    import httpx

    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return httpx.Response(503, headers={"Retry-After": when})
        return httpx.Response(200, content=tiny.blobs[tiny.cache_config])

    ref = parse_reference("127.0.0.1:1/mock/repo:t")
    async with _mock_client(handler) as c:
        assert await c.fetch_blob(ref, tiny.cache_config) == tiny.blobs[tiny.cache_config]
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.9  # an HTTP-date one to two seconds ahead (whole-second resolution)


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            400,
            b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}',
            "NotFoundError",
            "NAME_UNKNOWN: repository name not known",
        ),
        (
            403,
            b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
            "AuthError",
            "DENIED: requested access",
        ),
        (500, b"<html>upstream exploded</html>", "RegistryError", "HTTP 500: <html>upstream exploded</html>"),
        (418, b"", "RegistryError", "answered HTTP 418"),
    ],
)
async def test_status_and_error_code_mapping(status: int, body: bytes, error: str, text: str) -> None:
    import httpx

    import cacheinspect.errors as errors

    ref = parse_reference("127.0.0.1:1/mock/repo:t")
    async with _mock_client(lambda r: httpx.Response(status, content=body), retries=0) as c:
        with pytest.raises(getattr(errors, error)) as ei:
            await c.fetch_manifest(ref)
    assert text in str(ei.value)
    assert type(ei.value).__name__ == error


def test_is_loopback() -> None:
    from cacheinspect.registry import is_loopback

    for host in ("localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:443", "[::1]:5000", "::1"):
        assert is_loopback(host), host
    for host in ("ghcr.io", "10.0.0.1:5000", "localhost.example.com", "128.0.0.1"):
        assert not is_loopback(host), host


# -- regressions: the auth flow and the connection pool ------------------------------------------------------
async def test_same_origin_realm_with_one_connection_slot(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """``--concurrency 1``: the unread 401 held the pool's only connection while the token request (same
    origin, same pool) waited for it: PoolTimeout on every attempt."""
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.unauthorized(r"/manifests/", times=1)
    async with RegistryClient(fast(concurrency=1, timeout=3.0, retries=0)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
        assert await c.fetch_blob(ref, tiny.cache_config) == tiny.blobs[tiny.cache_config]
    assert len(fault_proxy.seen(FAULT_TOKEN_PATH)) == 1


async def test_blobs_exist_first_contact_with_a_same_origin_realm(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """Two workers both get a 401 on first contact and both wait for the one token fetch."""
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.unauthorized(r"/blobs/", times=2)
    missing = "sha256:" + "2" * 64
    async with RegistryClient(fast(concurrency=2, timeout=3.0, retries=0)) as c:
        assert await c.blobs_exist(ref, [tiny.layer, missing]) == {tiny.layer: True, missing: False}
    assert len(fault_proxy.seen(FAULT_TOKEN_PATH)) == 1


# -- regressions: malformed answers are RegistryErrors, never raw exceptions ----------------------------------
_DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "fragment"),
    [
        (404, {}, _DEEP, "NotFoundError", "not found"),  # RecursionError in _registry_message
        (500, {}, b'{"errors":' + _DEEP, "RegistryError", "HTTP 500"),
        (200, {"Content-Encoding": "gzip"}, b"notgzip", "RegistryError", "does not decode"),
        (307, {"Location": "ftp://127.0.0.1/x"}, b"", "RegistryError", "unusable location"),
        (307, {"Location": "http://[bad/x"}, b"", "RegistryError", "unusable location"),
        (307, {"Location": "http://127.0.0.1:99999/x"}, b"", "RegistryError", "unusable location"),
        (401, {"WWW-Authenticate": 'Bearer realm="https://[zz/t"'}, b"", "RegistryError", "invalid realm"),
        (
            401,
            {"WWW-Authenticate": 'Bearer realm="https://127.0.0.1:99999/t"'},
            b"",
            "RegistryError",
            "invalid realm",
        ),
    ],
)
async def test_malformed_answers_are_registry_errors(
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: str,
    fragment: str,
    fault_proxy: FaultProxy,
    registry_plain: RunningRegistry,
    tiny: TinyLayout,
) -> None:
    import cacheinspect.errors as errors

    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/manifests/", status, headers=headers, body=body)
    async with RegistryClient(fast(retries=0)) as c:
        with pytest.raises(errors.CacheInspectError) as ei:
            await c.fetch_manifest(ref)
    assert type(ei.value).__name__ == error
    assert fragment in str(ei.value)


def _token_challenge(proxy: FaultProxy, realm_path: str = "/tok") -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="{proxy.url}{realm_path}",service="svc"'}


@pytest.mark.parametrize(
    "answer",
    [
        b'{"token":"good-token","expires_in":1e400}',  # inf
        b'{"token":"good-token","expires_in":Infinity}',
        b'{"token":"good-token","expires_in":NaN}',
        b'{"token":"good-token","expires_in":' + b"9" * 400 + b"}",  # OverflowError converting to float
    ],
)
async def test_absurd_token_lifetimes_are_clamped(
    answer: bytes, fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/manifests/", 401, headers=_token_challenge(fault_proxy), times=1)
    fault_proxy.respond(r"^/tok$", 200, body=answer)
    async with RegistryClient(fast(retries=0)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
        [token] = c._hosts[ref.registry].auth._tokens.values()  # type: ignore[union-attr]
    assert 0 < token.lifetime <= 24 * 3600
    assert "good-token" not in repr(token)  # _Token redacts itself


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (b'{"token":"s3cr3t\\nline"}', "not a valid bearer token"),  # LocalProtocolError building the header
        (b'{"token":"s3cr3t\\u2603"}', "not a valid bearer token"),  # UnicodeEncodeError
        (b'{"token":"s3cr3t two"}', "not a valid bearer token"),
        (_DEEP, "not JSON"),  # RecursionError
    ],
)
async def test_unusable_token_answers_are_registry_errors_without_the_token(
    answer: bytes, fragment: str, fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(r"/manifests/", 401, headers=_token_challenge(fault_proxy), times=1)
    fault_proxy.respond(r"^/tok$", 200, body=answer)
    async with RegistryClient(fast(retries=0)) as c:
        with pytest.raises(RegistryError, match=fragment) as ei:
            await c.fetch_manifest(ref)
    assert "s3cr3t" not in ei.value.diagnostics()


async def test_realm_query_is_kept(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """httpx's ``Request(url, params=...)`` replaced the realm's own query (``?tenant=abc``)."""
    import urllib.parse

    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.respond(
        r"/manifests/", 401, headers=_token_challenge(fault_proxy, "/tok?tenant=abc"), times=1
    )
    fault_proxy.respond(r"^/tok$", 200, body=b'{"token":"t"}')
    async with RegistryClient(fast(retries=0)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    [req] = fault_proxy.seen(r"^/tok$")
    assert urllib.parse.parse_qs(req.query) == {
        "tenant": ["abc"],
        "service": ["svc"],
        "scope": [f"repository:{ref.repository}:pull"],
    }


async def test_refresh_token_post_is_never_redirected_to_another_host(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout, tmp_path: Path
) -> None:
    """The OAuth2 POST carries the refresh token in its body: a 307 elsewhere used to replay it there."""
    import json

    ref = through(fault_proxy, registry_plain, tiny)
    (tmp_path / "docker-config" / "config.json").write_text(
        json.dumps({"auths": {fault_proxy.host: {"identitytoken": "REFRESH-TOKEN-SECRET"}}})
    )
    fault_proxy.respond(r"/manifests/", 401, headers=_token_challenge(fault_proxy), times=1)
    fault_proxy.respond(
        r"^/tok$", 307, method="POST", headers={"Location": f"{fault_proxy.other_url}/steal"}, body=b""
    )
    async with RegistryClient(fast(retries=0)) as c:
        with pytest.raises(AuthError, match="redirected a credential-bearing request to another host") as ei:
            await c.fetch_manifest(ref)
    assert "REFRESH-TOKEN-SECRET" not in ei.value.diagnostics()
    assert fault_proxy.seen(listener="other") == []
    assert [r.method for r in fault_proxy.seen(r"^/tok$")] == ["POST"]


async def test_retry_budget_bounds_a_trickling_body(tiny: TinyLayout) -> None:
    """A body arriving a byte at a time never trips the read timeout; the budget must still stop it.
    (MockTransport: neither the registry nor the proxy can trickle.)"""
    import asyncio

    import httpx

    async def trickle() -> Any:
        for _ in range(40):
            await asyncio.sleep(0.1)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "40"}, content=trickle())

    ref = parse_reference("127.0.0.1:1/mock/repo:t")
    started = time.monotonic()
    async with _mock_client(handler, timeout=2.0, retries=4, retry_budget=1.0) as c:
        with pytest.raises(RegistryError, match=r"within the 1s retry budget"):
            await c.fetch_manifest(ref)
    assert time.monotonic() - started < 2.5


async def test_absurd_retry_after_is_reported_as_a_number(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    ref = through(fault_proxy, registry_plain, tiny)
    fault_proxy.throttle(r"/manifests/", times=None, retry_after="9" * 400)
    async with RegistryClient(fast()) as c:
        with pytest.raises(RateLimitedError, match=r"asked to wait 31536000s") as ei:
            await c.fetch_manifest(ref)
    assert "inf" not in str(ei.value)


async def test_verify_blob_cut_short_is_retried_then_an_integrity_error_never_a_verdict(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    """A layer whose transfer breaks off is fetched again from the start (the hash starts over); when it
    keeps breaking off it is an IntegrityError: never hashed as if complete (neither True nor False)."""
    ref = through(fault_proxy, registry_plain, tiny)
    path = rf"/blobs/{tiny.layer}$"
    once = fault_proxy.truncate(path, times=1)
    async with RegistryClient(fast()) as c:
        assert await c.verify_blob(ref, tiny.layer) is True
    assert once.hits == 1
    assert len(fault_proxy.seen(path, method="GET")) == 2  # the cut attempt, then a whole one
    fault_proxy.clear()
    always = fault_proxy.truncate(path)
    async with RegistryClient(fast(retries=1)) as c:
        with pytest.raises(IntegrityError, match=r"cut short.*\(after 2 attempts\)"):
            await c.verify_blob(ref, tiny.layer)
    assert always.hits == 2
