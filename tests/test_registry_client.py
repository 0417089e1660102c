"""The registry client against real CNCF distribution registries (plain, Basic over TLS, Bearer tokens).

Nothing here is mocked: ``docker-registry`` processes from tests/support/registry.py, a real token issuer,
real credential files and a fake credential helper (a shell script, as docker-credential-helpers' own
tests do), and oras-py as an independent peer for the bytes we return.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import oras.provider
import pytest

from cacheinspect import digest as digestmod
from cacheinspect.errors import (
    AuthError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    SizeLimitError,
    UsageError,
)
from cacheinspect.oci import (
    ACCEPT_MANIFESTS,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_BUILDKIT_CACHE_CONFIG,
    MT_OCI_INDEX,
)
from cacheinspect.registry import RegistryClient, RegistryOptions, RegistrySource
from cacheinspect.registry.reference import Reference, parse_reference
from tests.support.faultproxy import FAULT_TOKEN_PATH, FaultProxy
from tests.support.layout import FIXTURES_DIR, TinyLayout, delete_blob, make_tiny_layout, push_layout
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.anyio


@pytest.fixture
def tiny(tmp_path: Path) -> TinyLayout:
    return make_tiny_layout(tmp_path / "tiny", salt=secrets.token_hex(4))


def push_tiny(reg: RunningRegistry, tiny: TinyLayout, repo_prefix: str = "client") -> Reference:
    repo = f"{repo_prefix}/tiny-{secrets.token_hex(4)}"
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    return parse_reference(f"{reg.host}/{repo}:cache")


def opts(reg: RunningRegistry, **kw: Any) -> RegistryOptions:
    base: dict[str, Any] = {"ca_file": reg.ca_file, "timeout": 10.0}
    if reg.flavour != "plain" and "username" not in kw:
        base.update(username=reg.username, password=reg.password)
    base.update(kw)
    return RegistryOptions(**base)


@pytest.fixture
async def client_factory() -> AsyncIterator[Any]:
    made: list[RegistryClient] = []

    def make(options: RegistryOptions) -> RegistryClient:
        c = RegistryClient(options)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


# -- every flavour -------------------------------------------------------------------------------------
async def test_fetch_manifest_blob_and_exists(
    registry: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry, tiny)
    async with RegistrySource(ref, opts(registry)) as src:
        assert src.kind == "registry"
        assert src.display == str(ref)
        by_tag = await src.fetch_manifest()
        assert by_tag.digest == tiny.cache_index
        assert by_tag.media_type == MT_OCI_INDEX
        assert by_tag.data == tiny.blobs[tiny.cache_index]
        by_digest = await src.fetch_manifest(tiny.cache_index)
        assert by_digest.data == by_tag.data
        assert await src.fetch_blob(tiny.cache_config) == tiny.blobs[tiny.cache_config]
        missing = "sha256:" + "0" * 64
        progress: list[tuple[int, int]] = []
        found = await src.blobs_exist(
            [tiny.layer, missing, tiny.cache_config, tiny.layer],
            progress=lambda d, t: progress.append((d, t)),
        )
        assert found == {tiny.layer: True, missing: False, tiny.cache_config: True}
        assert progress[-1] == (3, 3)
        with pytest.raises(NotFoundError) as ei:
            await src.fetch_manifest("no-such-tag")
        assert "MANIFEST_UNKNOWN" in str(ei.value)
        with pytest.raises(NotFoundError):
            await src.fetch_blob(missing)


async def test_missing_repository_is_not_found(registry: RunningRegistry, isolated_env: Path) -> None:
    ref = parse_reference(f"{registry.host}/client/never-pushed-{secrets.token_hex(4)}:x")
    async with RegistrySource(ref, opts(registry)) as src:
        with pytest.raises(NotFoundError) as ei:
            await src.fetch_manifest()
    assert ei.value.exit_code == 4


async def test_size_cap_refuses_before_reading(
    registry: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry, tiny)
    size = len(tiny.blobs[tiny.cache_config])
    async with RegistrySource(ref, opts(registry)) as src:
        with pytest.raises(SizeLimitError, match=f"is {size} bytes, over the {size - 1}-byte cap"):
            await src.fetch_blob(tiny.cache_config, max_bytes=size - 1)
        assert await src.fetch_blob(tiny.cache_config, max_bytes=size) == tiny.blobs[tiny.cache_config]
    async with RegistrySource(ref, opts(registry, max_bytes=10)) as src:
        with pytest.raises(SizeLimitError):
            await src.fetch_manifest()
        with pytest.raises(SizeLimitError):  # --max-bytes is the default cap for blobs too
            await src.fetch_blob(tiny.cache_config)


async def test_digest_of_a_deleted_blob(
    registry: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry, tiny)
    delete_blob(registry, ref.repository, tiny.layer)
    async with RegistrySource(ref, opts(registry)) as src:
        assert await src.blobs_exist([tiny.layer, tiny.cache_config]) == {
            tiny.layer: False,
            tiny.cache_config: True,
        }


# -- plain ----------------------------------------------------------------------------------------------
async def test_loopback_plain_http_is_found_without_flags(
    registry_plain: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    """docker's rule: a loopback registry is tried over HTTPS first, then plain HTTP."""
    ref = push_tiny(registry_plain, tiny)
    async with RegistryClient(RegistryOptions()) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    async with RegistryClient(RegistryOptions(plain_http=True)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index


async def test_concurrency_is_bounded_per_host(
    registry_plain: RunningRegistry, tiny: TinyLayout, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = push_tiny(registry_plain, tiny)
    in_flight = peak = 0
    real_send = httpx.AsyncClient.send

    async def counting_send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await real_send(self, request, **kw)
        finally:
            in_flight -= 1

    monkeypatch.setattr(httpx.AsyncClient, "send", counting_send)
    digests = [tiny.layer] + [f"sha256:{i:064x}" for i in range(60)]
    async with RegistryClient(RegistryOptions(plain_http=True, concurrency=3)) as c:
        result = await c.blobs_exist(ref, digests)
    assert sum(result.values()) == 1
    assert peak == 3


# -- Basic over TLS -------------------------------------------------------------------------------------
async def test_basic_tls_needs_the_ca(
    registry_basic: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry_basic, tiny)
    async with RegistryClient(opts(registry_basic, ca_file=None)) as c:
        with pytest.raises(RegistryError, match="not trusted") as ei:
            await c.fetch_manifest(ref)
    assert "--ca-file" in (ei.value.hint or "")
    async with RegistryClient(opts(registry_basic)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    async with RegistryClient(opts(registry_basic, ca_file=None, insecure=True)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index


async def test_basic_tls_ca_from_certs_d(
    registry_basic: RunningRegistry, tiny: TinyLayout, isolated_env: Path, tmp_path: Path
) -> None:
    """docker's /etc/docker/certs.d/HOST:PORT/ca.crt, with the directory overridable for the test."""
    ref = push_tiny(registry_basic, tiny)
    certs = tmp_path / "certs.d"
    (certs / registry_basic.host).mkdir(parents=True)
    assert registry_basic.ca_file is not None
    (certs / registry_basic.host / "ca.crt").write_bytes(registry_basic.ca_file.read_bytes())
    async with RegistryClient(opts(registry_basic, ca_file=None, certs_dir=certs)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index


async def test_basic_wrong_or_no_password(
    registry_basic: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry_basic, tiny)
    async with RegistryClient(opts(registry_basic, username="alice", password="wrong-password-xyz")) as c:
        with pytest.raises(AuthError) as ei:
            await c.fetch_manifest(ref)
    assert ei.value.exit_code == 3
    assert "wrong-password-xyz" not in ei.value.diagnostics()
    async with RegistryClient(opts(registry_basic, username=None, password=None)) as c:
        with pytest.raises(AuthError, match="HTTP 401"):
            await c.fetch_manifest(ref)


async def test_docker_config_auths_against_basic(
    registry_basic: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry_basic, tiny)
    auth = base64.b64encode(f"{registry_basic.username}:{registry_basic.password}".encode()).decode()
    (isolated_env / "config.json").write_text(json.dumps({"auths": {registry_basic.host: {"auth": auth}}}))
    async with RegistryClient(opts(registry_basic, username=None, password=None)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index


# -- Bearer tokens --------------------------------------------------------------------------------------
async def test_bearer_scope_and_token_reuse(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    issuer = registry_token.issuer
    assert issuer is not None
    ref = push_tiny(registry_token, tiny)
    before = len(issuer.token_requests())
    async with RegistrySource(ref, opts(registry_token)) as src:
        await src.fetch_manifest()
        await src.fetch_blob(tiny.cache_config)
        await src.blobs_exist([tiny.layer, tiny.cache_config])
    reqs = issuer.token_requests()[before:]
    assert len(reqs) == 1  # one token for the repository, reused for every request
    assert reqs[0].scopes == [f"repository:{ref.repository}:pull"]
    assert reqs[0].user == "alice"
    assert reqs[0].granted == [{"type": "repository", "name": ref.repository, "actions": ["pull"]}]


async def test_bearer_scope_is_honoured(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    """bob may pull allowed/* only: the issuer grants nothing elsewhere and the registry says no."""
    ref = push_tiny(registry_token, tiny, repo_prefix="private")
    allowed = push_tiny(registry_token, tiny, repo_prefix="allowed")
    bob = opts(registry_token, username="bob", password=registry_token.users["bob"])
    async with RegistryClient(bob) as c:
        with pytest.raises(AuthError):
            await c.fetch_manifest(ref)
        assert (await c.fetch_manifest(allowed)).digest == tiny.cache_index
    async with RegistryClient(opts(registry_token, username=None, password=None)) as c:
        with pytest.raises(AuthError):  # anonymous: public/* only
            await c.fetch_manifest(allowed)
        public = push_tiny(registry_token, tiny, repo_prefix="public")
        assert (await c.fetch_manifest(public)).digest == tiny.cache_index


async def test_bearer_wrong_password(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    issuer = registry_token.issuer
    assert issuer is not None
    ref = push_tiny(registry_token, tiny)
    before = len(issuer.token_requests())
    async with RegistryClient(opts(registry_token, username="alice", password="not-alices-password")) as c:
        with pytest.raises(AuthError) as ei:
            await c.fetch_manifest(ref)
    assert ei.value.exit_code == 3
    assert "not-alices-password" not in ei.value.diagnostics()
    assert [r.status for r in issuer.token_requests()[before:]] == [401]


async def test_expired_token_is_refreshed(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is replaced *before* it expires: the registry never gets to refuse it with a 401."""
    issuer = registry_token.issuer
    assert issuer is not None
    ref = push_tiny(registry_token, tiny)
    statuses: list[int] = []
    real_send = httpx.AsyncClient.send

    async def recording_send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        response = await real_send(self, request, **kw)
        if "/manifests/" in request.url.path:  # a 401 answered inside the auth flow is in .history
            statuses.extend([r.status_code for r in response.history] + [response.status_code])
        return response

    monkeypatch.setattr(httpx.AsyncClient, "send", recording_send)
    with issuer.override(expires_in=2):
        async with RegistryClient(opts(registry_token)) as c:
            before = len(issuer.token_requests())
            await c.fetch_manifest(ref)
            await c.fetch_manifest(ref)
            assert len(issuer.token_requests()) - before == 1
            await asyncio.sleep(
                3.2
            )  # past expiry (the issuer rounds exp up by < 1 s): the registry would refuse the cached token now
            assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
            assert len(issuer.token_requests()) - before == 2
    assert statuses == [401, 200, 200, 200]  # only the very first request met a challenge


async def test_fake_credential_helper_against_token_registry(
    registry_token: RunningRegistry,
    tiny: TinyLayout,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = registry_token.issuer
    assert issuer is not None
    ref = push_tiny(registry_token, tiny)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-cachetest"
    helper.write_text(
        "#!/bin/sh\nread url\n"
        f'echo "$url" > "{tmp_path}/asked"\n'
        f'echo \'{{"ServerURL":"\'$url\'","Username":"alice","Secret":"{registry_token.password}"}}\'\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (isolated_env / "config.json").write_text(json.dumps({"credHelpers": {registry_token.host: "cachetest"}}))
    before = len(issuer.token_requests())
    async with RegistryClient(opts(registry_token, username=None, password=None)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    assert (tmp_path / "asked").read_text().strip() == registry_token.host
    assert [r.user for r in issuer.token_requests()[before:]] == ["alice"]


async def test_identity_token_from_docker_config(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    """An ``identitytoken`` goes to the realm as an OAuth2 refresh_token grant (oauth.md)."""
    issuer = registry_token.issuer
    assert issuer is not None
    ref = push_tiny(registry_token, tiny)
    async with httpx.AsyncClient(verify=registry_token.verify()) as h:
        r = await h.post(
            issuer.realm,
            data={
                "grant_type": "password",
                "username": "alice",
                "password": registry_token.password,
                "service": issuer.service,
                "client_id": "test",
                "access_type": "offline",
            },
        )
    refresh = r.json()["refresh_token"]
    (isolated_env / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    registry_token.host: {
                        "auth": base64.b64encode(b"alice:").decode(),
                        "identitytoken": refresh,
                    }
                }
            }
        )
    )
    before = len(issuer.token_requests())
    async with RegistryClient(opts(registry_token, username=None, password=None)) as c:
        assert (await c.fetch_manifest(ref)).digest == tiny.cache_index
    [req] = issuer.token_requests()[before:]
    assert (req.method, req.grant_type, req.user, req.status) == ("POST", "refresh_token", "alice", 200)


# -- verification -----------------------------------------------------------------------------------------
async def test_sha512_digests_are_verified(registry_plain: RunningRegistry, isolated_env: Path) -> None:
    """distribution 2.8 stores sha256 only; a sha512 fetch of sha256 content must be a mismatch, and our
    sha512 hashing itself is checked against hashlib."""
    import hashlib

    data = b"hello sha512"
    assert digestmod.compute(data, "sha512") == "sha512:" + hashlib.sha512(data).hexdigest()
    with pytest.raises(DigestMismatchError):
        digestmod.verify(data, "sha512:" + "0" * 128)


# -- peer check against oras-py ------------------------------------------------------------------------
def _children(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(child manifests, config-like blobs) a manifest or index points at."""
    doc = json.loads(data)
    manifests, configs = [], []
    for d in doc.get("manifests") or []:
        if d.get("mediaType") in INDEX_TYPES | MANIFEST_TYPES:
            manifests.append(d)
        elif d.get("mediaType") == MT_BUILDKIT_CACHE_CONFIG:
            configs.append(d)
    if doc.get("config"):
        configs.append(doc["config"])
    return manifests, configs


def _fixture_names() -> list[str]:
    return (
        sorted(p.name for p in FIXTURES_DIR.iterdir() if (p / "index.json").is_file())
        if FIXTURES_DIR.is_dir()
        else []
    )


@pytest.fixture
def oras_for() -> Iterator[Any]:
    made: list[Any] = []

    def make(reg: RunningRegistry) -> Any:
        o = oras.provider.Registry(
            hostname=reg.host,
            insecure=reg.scheme == "http",
            tls_verify=str(reg.ca_file) if reg.ca_file else True,
        )
        if reg.username and reg.password:
            o.auth.set_basic_auth(reg.username, reg.password)
        made.append(o)
        return o

    yield make
    for o in made:
        o.session.close()


async def _peer_compare(reg: RunningRegistry, ref: Reference, peer: Any) -> int:
    container = f"{ref.registry}/{ref.repository}:{ref.tag}"
    compared = 0
    async with RegistrySource(ref, opts(reg)) as src:
        ours = await src.fetch_manifest()
        assert json.loads(ours.data) == peer.get_manifest(
            container, allowed_media_type=list(ACCEPT_MANIFESTS)
        )
        todo = [(ours.digest, ours.data)]
        seen: set[str] = set()
        while todo:
            digest, data = todo.pop()
            if digest in seen:
                continue
            seen.add(digest)
            url = f"{peer.prefix}://{reg.host}/v2/{ref.repository}/manifests/{digest}"
            theirs = peer.do_request(url, "GET", headers={"Accept": ", ".join(ACCEPT_MANIFESTS)})
            assert theirs.status_code == 200
            assert data == theirs.content, f"manifest {digest} differs from oras"
            compared += 1
            manifests, configs = _children(data)
            for cfg in configs:
                blob = await src.fetch_blob(cfg["digest"])
                assert blob == peer.get_blob(container, cfg["digest"]).content, (
                    f"config {cfg['digest']} differs"
                )
                compared += 1
            for m in manifests:
                todo.append((m["digest"], (await src.fetch_manifest(m["digest"])).data))
    return compared


@pytest.mark.parametrize("flavour", ["plain", "token"])
async def test_peer_check_tiny_layout(
    flavour: str, request: pytest.FixtureRequest, tiny: TinyLayout, isolated_env: Path, oras_for: Any
) -> None:
    reg: RunningRegistry = request.getfixturevalue(f"registry_{flavour}")
    for entry in ("cache", "image"):
        repo = f"peer/tiny-{secrets.token_hex(4)}"
        push_layout(reg, tiny.path, repo, entry, ref_name=entry)
        assert await _peer_compare(reg, parse_reference(f"{reg.host}/{repo}:{entry}"), oras_for(reg)) >= 2


@pytest.mark.parametrize("name", _fixture_names())
async def test_peer_check_fixtures(
    name: str, registry_plain: RunningRegistry, push_fixture: Any, isolated_env: Path, oras_for: Any
) -> None:
    try:
        repo, tag, _ = push_fixture(name, registry_plain)
    except FileNotFoundError as e:  # a deliberately damaged fixture may lack blobs a push needs
        pytest.skip(f"fixture cannot be pushed: {e}")
    ref = parse_reference(f"{registry_plain.host}/{repo}:{tag}")
    assert await _peer_compare(registry_plain, ref, oras_for(registry_plain)) >= 1


async def test_debug_logs_carry_no_secrets(
    registry_token: RunningRegistry, tiny: TinyLayout, isolated_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = push_tiny(registry_token, tiny)
    assert registry_token.password is not None
    with caplog.at_level("DEBUG"):
        async with RegistrySource(ref, opts(registry_token)) as src:
            await src.fetch_manifest()
            await src.fetch_blob(tiny.cache_config)
            assert registry_token.password not in repr(src.client.options)
    assert "token GET" in caplog.text  # the flow was logged...
    assert registry_token.password not in caplog.text  # ...without the password
    assert "eyJ" not in caplog.text  # ...or any JWT (base64 of '{"')
    b64 = base64.b64encode(f"alice:{registry_token.password}".encode()).decode()
    assert b64 not in caplog.text


# -- regressions ---------------------------------------------------------------------------------------
async def test_explicit_credentials_only_go_to_their_registry(
    registry_basic: RunningRegistry,
    registry_plain: RunningRegistry,
    fault_proxy: FaultProxy,
    tiny: TinyLayout,
    isolated_env: Path,
) -> None:
    """``diff A B -u alice --password-stdin``: B (here a registry whose same-origin token realm wants a
    token) used to receive alice's Basic credentials with its token request."""
    mine = push_tiny(registry_basic, tiny)
    theirs = push_tiny(registry_plain, tiny)
    theirs = parse_reference(f"{fault_proxy.host}/{theirs.repository}:cache")
    fault_proxy.unauthorized(r"/manifests/", times=1)
    options = opts(registry_basic, credentials_for=mine.registry)
    async with RegistryClient(options) as c:
        a = RegistrySource(mine, client=c)
        b = RegistrySource(theirs, client=c)
        assert (await a.fetch_manifest()).digest == tiny.cache_index
        assert (await b.fetch_manifest()).digest == tiny.cache_index
    token_requests = fault_proxy.seen(FAULT_TOKEN_PATH)
    assert len(token_requests) == 1
    assert token_requests[0].authorization is None
    assert "account=" not in token_requests[0].query
    assert all(r.authorization in (None, "Bearer fault-proxy-token") for r in fault_proxy.seen())


async def test_registry_token_that_cannot_be_a_header_is_an_auth_error(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    ref = push_tiny(registry_plain, tiny)
    ref = parse_reference(f"{fault_proxy.host}/{ref.repository}:cache")
    (isolated_env / "config.json").write_text(
        json.dumps({"auths": {fault_proxy.host: {"registrytoken": "s3cr3t-registry-token\n"}}})
    )
    fault_proxy.unauthorized(r"/manifests/", times=1)
    async with RegistryClient(RegistryOptions(retries=0)) as c:
        with pytest.raises(AuthError, match="registrytoken is not a valid bearer token") as ei:
            await c.fetch_manifest(ref)
    assert "s3cr3t" not in ei.value.diagnostics()


async def test_unusable_ca_files_are_usage_errors(tmp_path: Path, isolated_env: Path) -> None:
    """A --ca-file that is not PEM, or a broken certs.d/HOST/*.crt, used to escape as ssl.SSLError."""
    ref = parse_reference("registry.invalid:5000/team/app:cache")
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("this is not a certificate\n")
    async with RegistryClient(RegistryOptions(ca_file=bad, retries=0)) as c:
        with pytest.raises(UsageError, match=f"--ca-file {bad} holds no usable PEM certificate") as ei:
            await c.fetch_manifest(ref)
    assert ei.value.exit_code == 2
    certs = tmp_path / "certs.d"
    (certs / ref.registry).mkdir(parents=True)
    broken = certs / ref.registry / "ca.crt"
    broken.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    async with RegistryClient(RegistryOptions(certs_dir=certs, retries=0)) as c:
        with pytest.raises(UsageError, match=f"CA certificate {broken}"):
            await c.fetch_manifest(ref)


def _stored_blob(reg: RunningRegistry, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob's bytes."""
    hexpart = digest.split(":", 1)[1]
    return reg.workdir / "storage" / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


async def test_verify_blob_streams_without_a_cap_and_catches_corruption(
    registry: RunningRegistry, tiny: TinyLayout, isolated_env: Path
) -> None:
    """--verify-blobs on a registry: the blob is hashed as it streams, so even with --max-bytes 1 (every
    in-memory read refused) it is verified; bytes changed in the registry's storage are a mismatch."""
    ref = push_tiny(registry, tiny)
    async with RegistrySource(ref, opts(registry, max_bytes=1)) as src:
        with pytest.raises(SizeLimitError):  # the in-memory path is capped ...
            await src.fetch_blob(tiny.layer)
        assert await src.verify_blob(tiny.layer, size=len(tiny.blobs[tiny.layer])) is True  # ... this is not
        stored = _stored_blob(registry, tiny.layer)
        data = bytearray(stored.read_bytes())
        assert bytes(data) == tiny.blobs[tiny.layer]
        data[-1] ^= 0xFF  # same size, other bytes: the registry serves them under the old digest
        stored.write_bytes(bytes(data))
        assert await src.verify_blob(tiny.layer) is False
        with pytest.raises(NotFoundError):
            await src.verify_blob("sha256:" + "0" * 64)
