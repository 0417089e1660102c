"""Tests of the test harness itself: each registry flavour behaves like the real thing it is, the token
issuer's JWTs are accepted (and refused when they should be), the layout pusher round-trips bytes, every
fault-proxy rule demonstrably fires, and nothing is left running afterwards.

Everything here talks plain httpx so a harness bug cannot hide behind a cacheinspect bug.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.faultproxy import FaultProxy, start_fault_proxy
from tests.support.layout import (
    ACCEPT,
    FIXTURES_DIR,
    MANIFEST_MEDIA_TYPES,
    PushFixture,
    TinyLayout,
    delete_blob,
    fetch_blob,
    fetch_manifest,
    fixture_names,
    make_tiny_layout,
    push_layout,
)
from tests.support.registry import (
    REGISTRY_BIN_ENV,
    RegistryStartError,
    RunningRegistry,
    port_is_listening,
    start_registry,
)
from tests.support.tokenissuer import REGISTRY_LEEWAY, parse_scope

BEARER = re.compile(r'(\w+)="([^"]*)"')


def _challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """Scheme and quoted parameters of a WWW-Authenticate header."""
    header = response.headers["WWW-Authenticate"]
    scheme, _, rest = header.partition(" ")
    return scheme, dict(BEARER.findall(rest))


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def tiny(tmp_path: Path, request: pytest.FixtureRequest) -> TinyLayout:
    return make_tiny_layout(tmp_path / "layout", salt=request.node.name)


def _unique(prefix: str) -> str:
    return f"{prefix}/t{time.monotonic_ns()}"


def _get_token(
    reg: RunningRegistry, scopes: list[str], auth: tuple[str, str] | None = None, **params: str
) -> httpx.Response:
    assert reg.token_realm is not None
    query: list[tuple[str, str | int | float | bool | None]] = [("service", str(reg.token_service))]
    query += [("scope", s) for s in scopes]
    query += list(params.items())
    with httpx.Client(verify=reg.verify(), timeout=10) as c:
        return c.get(reg.token_realm, params=query, auth=auth)


# -- every flavour ---------------------------------------------------------------------------------------
def test_every_flavour_answers_v2_and_starts_fast(registry: RunningRegistry) -> None:
    assert registry.alive()
    assert registry.url == f"{registry.scheme}://{registry.host}"
    assert registry.startup_seconds < 3.0, registry.startup_seconds
    with registry.admin_client() as c:
        r = c.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.log_path.is_file()
    assert "GET /v2/" in registry.log_text()


def test_push_layout_round_trips_bytes(registry: RunningRegistry, tiny: TinyLayout) -> None:
    repo = _unique("harness/push")
    root = push_layout(registry, tiny.path, repo, "cache", ref_name="cache")
    assert root == tiny.cache_index
    image_root = push_layout(registry, tiny.path, repo, "image", ref_name="image")
    assert image_root == tiny.image_index

    r = fetch_manifest(registry, repo, "cache")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    assert r.headers["Docker-Content-Digest"] == tiny.cache_index
    assert r.content == tiny.blobs[tiny.cache_index]
    # The nested image manifest was pushed by digest, before its parent.
    r = fetch_manifest(registry, repo, tiny.image_manifest)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    for digest in (tiny.layer, tiny.cache_config, tiny.image_config):
        data = fetch_blob(registry, repo, digest)
        assert data == tiny.blobs[digest]
        assert _sha256(data) == digest


def test_push_layout_needs_ref_name_when_ambiguous(registry_plain: RunningRegistry, tiny: TinyLayout) -> None:
    with pytest.raises(ValueError, match="pass ref_name"):
        push_layout(registry_plain, tiny.path, "harness/ambiguous", "x")
    with pytest.raises(ValueError, match=r"no index\.json entry named"):
        push_layout(registry_plain, tiny.path, "harness/ambiguous", "x", ref_name="nope")


def test_delete_blob_makes_it_unknown(registry: RunningRegistry, tiny: TinyLayout) -> None:
    repo = _unique("harness/delete")
    push_layout(registry, tiny.path, repo, "cache", ref_name="cache")
    delete_blob(registry, repo, tiny.layer)
    with registry.admin_client() as c:
        r = c.get(f"/v2/{repo}/blobs/{tiny.layer}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        # The cache index still resolves: a cache with a missing blob, as wanted.
        assert c.get(f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT}).status_code == 200


def test_oci_index_needs_accept_header(registry_plain: RunningRegistry, tiny: TinyLayout) -> None:
    """Quirk clients must know: distribution 2.8 answers 404 for an OCI index fetched without Accept."""
    repo = _unique("harness/accept")
    push_layout(registry_plain, tiny.path, repo, "cache", ref_name="cache")
    with registry_plain.client() as c:
        r = c.get(f"/v2/{repo}/manifests/cache")
    assert r.status_code == 404
    assert (
        r.json()["errors"][0]["message"] == "OCI index found, but accept header does not support OCI indexes"
    )


# -- plain -------------------------------------------------------------------------------------------------
def test_plain_anonymous_pull(registry_plain: RunningRegistry, tiny: TinyLayout) -> None:
    assert registry_plain.scheme == "http"
    assert registry_plain.ca_file is None
    assert registry_plain.username is None
    repo = _unique("harness/plain")
    push_layout(registry_plain, tiny.path, repo, "cache", ref_name="cache")
    with httpx.Client(base_url=registry_plain.url) as c:
        r = c.get(f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT})
        assert r.status_code == 200
        assert r.content == tiny.blobs[tiny.cache_index]
        assert c.get(f"/v2/{repo}/blobs/{tiny.layer}").content == tiny.blobs[tiny.layer]


# -- basic -------------------------------------------------------------------------------------------------
def test_basic_rejects_missing_and_wrong_credentials(registry_basic: RunningRegistry) -> None:
    reg = registry_basic
    assert reg.scheme == "https"
    assert reg.ca_file is not None
    assert reg.username == "alice"
    assert reg.password
    with reg.client() as c:
        r = c.get("/v2/")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="cacheinspect-test-registry"'
        assert c.get("/v2/", auth=(reg.username, "wrong")).status_code == 401
        assert c.get("/v2/", auth=("mallory", reg.password)).status_code == 401
        assert c.get("/v2/", auth=(reg.username, reg.password)).status_code == 200
        assert c.get("/v2/", auth=("bob", reg.users["bob"])).status_code == 200


def test_basic_tls_verifies_only_with_the_test_ca(registry_basic: RunningRegistry) -> None:
    with httpx.Client() as c, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        c.get(f"{registry_basic.url}/v2/")
    # localhost is in the SAN too.
    with httpx.Client(verify=registry_basic.verify()) as c:
        r = c.get(f"https://localhost:{registry_basic.port}/v2/")
    assert r.status_code == 401


# -- token -------------------------------------------------------------------------------------------------
def test_token_flow_challenge_token_then_authorized(
    registry_token: RunningRegistry, tiny: TinyLayout
) -> None:
    reg = registry_token
    assert reg.issuer is not None
    assert reg.username is not None
    assert reg.password is not None
    repo = _unique("harness/token")
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    before = len(reg.issuer.requests)
    with reg.client() as c:
        r = c.get(f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT})
        assert r.status_code == 401
        scheme, params = _challenge(r)
        assert scheme == "Bearer"
        assert params == {
            "realm": reg.token_realm,
            "service": reg.token_service,
            "scope": f"repository:{repo}:pull",
        }
        t = c.get(
            params["realm"],
            params={"service": params["service"], "scope": params["scope"]},
            auth=(reg.username, reg.password),
        )
        assert t.status_code == 200
        body = t.json()
        assert body["token"] == body["access_token"]
        assert body["expires_in"] == reg.issuer.expires_in
        r = c.get(
            f"/v2/{repo}/manifests/cache",
            headers={"Accept": ACCEPT, "Authorization": f"Bearer {body['token']}"},
        )
        assert r.status_code == 200
        assert r.content == tiny.blobs[tiny.cache_index]
    seen = reg.issuer.requests[before:]
    assert [(s.method, s.user, s.scopes, s.status) for s in seen] == [
        ("GET", "alice", [f"repository:{repo}:pull"], 200)
    ]
    assert seen[0].granted == [{"type": "repository", "name": repo, "actions": ["pull"]}]


def test_token_ping_challenge_has_no_scope(registry_token: RunningRegistry) -> None:
    with registry_token.client() as c:
        r = c.get("/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{registry_token.token_realm}",service="{registry_token.token_service}"'
    )


def test_pull_token_cannot_push(registry_token: RunningRegistry) -> None:
    reg = registry_token
    assert reg.username is not None
    assert reg.password is not None
    repo = _unique("harness/pullonly")
    token = _get_token(reg, [f"repository:{repo}:pull"], (reg.username, reg.password)).json()["token"]
    with reg.client() as c:
        r = c.post(f"/v2/{repo}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    scheme, params = _challenge(r)
    assert scheme == "Bearer"
    # distribution 2.8 builds the action list from a Go map: "pull,push" or "push,pull", either order.
    parsed = parse_scope(params["scope"])
    assert parsed is not None
    assert (parsed[0], parsed[1], sorted(parsed[2])) == ("repository", repo, ["pull", "push"])
    assert params["error"] == "insufficient_scope"


def test_issuer_grants_only_what_the_policy_allows(registry_token: RunningRegistry, tiny: TinyLayout) -> None:
    reg = registry_token
    assert reg.issuer is not None
    for repo in ("allowed/thing", "private/thing", "public/thing"):
        push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    bob = ("bob", reg.users["bob"])

    def can_pull(token: str, repo: str) -> int:
        with reg.client() as c:
            return c.get(
                f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"}
            ).status_code

    r = _get_token(reg, ["repository:allowed/thing:pull,push"], bob)
    assert reg.issuer.requests[-1].granted == [
        {"type": "repository", "name": "allowed/thing", "actions": ["pull"]}
    ]
    assert can_pull(r.json()["token"], "allowed/thing") == 200
    r = _get_token(reg, ["repository:private/thing:pull"], bob)
    assert r.status_code == 200  # like Docker Hub: a token with no access, not a 401
    assert reg.issuer.requests[-1].granted == [{"type": "repository", "name": "private/thing", "actions": []}]
    assert can_pull(r.json()["token"], "private/thing") == 401
    anonymous = _get_token(reg, ["repository:public/thing:pull"]).json()["token"]
    assert reg.issuer.requests[-1].user is None
    assert can_pull(anonymous, "public/thing") == 200
    assert (
        can_pull(_get_token(reg, ["repository:private/thing:pull"]).json()["token"], "private/thing") == 401
    )
    # Several scopes in one request.
    _get_token(reg, ["repository:allowed/thing:pull", "repository:public/thing:pull"], bob)
    assert [g["name"] for g in reg.issuer.requests[-1].granted] == ["allowed/thing", "public/thing"]


def test_issuer_wrong_password_is_401(registry_token: RunningRegistry) -> None:
    reg = registry_token
    assert reg.issuer is not None
    assert reg.username is not None
    r = _get_token(reg, ["repository:x:pull"], (reg.username, "wrong"))
    assert r.status_code == 401
    assert "token" not in r.json()
    assert reg.issuer.requests[-1].status == 401
    assert _get_token(reg, ["repository:x:pull"], ("nobody", "x")).status_code == 401
    assert _get_token(reg, ["repository:x:pull"], ("alice", reg.users["bob"])).status_code == 401


def test_issuer_unknown_service_is_400(registry_token: RunningRegistry) -> None:
    assert registry_token.token_realm is not None
    with httpx.Client(verify=registry_token.verify()) as c:
        r = c.get(registry_token.token_realm, params={"service": "other", "scope": "repository:x:pull"})
    assert r.status_code == 400


def test_expired_token_is_refused_by_the_registry(registry_token: RunningRegistry, tiny: TinyLayout) -> None:
    reg = registry_token
    issuer = reg.issuer
    assert issuer is not None
    repo = _unique("harness/expiry")
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    access = issuer.authorize("alice", [f"repository:{repo}:pull"])

    def status(token: str) -> httpx.Response:
        with reg.client() as c:
            return c.get(
                f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"}
            )

    r = status(issuer.mint(access, subject="alice", expires_in=-1))
    assert r.status_code == 401
    assert _challenge(r)[1]["error"] == "invalid_token"
    assert status(issuer.mint(access, subject="alice", audience="someone-else")).status_code == 401
    assert status("not.a.jwt").status_code == 401
    # distribution 2.8 allows 60 s of leeway after exp: without compensation a 30 s stale token passes.
    with issuer.override(leeway_compensation=0):
        assert status(issuer.mint(access, subject="alice", expires_in=-30)).status_code == 200
        assert (
            status(issuer.mint(access, subject="alice", expires_in=-REGISTRY_LEEWAY - 2)).status_code == 401
        )


def test_short_lived_token_really_expires(registry_token: RunningRegistry, tiny: TinyLayout) -> None:
    reg = registry_token
    assert reg.issuer is not None
    assert reg.username is not None
    assert reg.password is not None
    repo = _unique("harness/shortlived")
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    with reg.issuer.override(expires_in=2):
        body = _get_token(reg, [f"repository:{repo}:pull"], (reg.username, reg.password)).json()
    assert body["expires_in"] == 2
    headers = {"Accept": ACCEPT, "Authorization": f"Bearer {body['token']}"}
    claims = json.loads(base64.urlsafe_b64decode(body["token"].split(".")[1] + "=="))
    refused_from = claims["exp"] + REGISTRY_LEEWAY  # when the registry starts refusing it
    with reg.client() as c:
        assert c.get(f"/v2/{repo}/manifests/cache", headers=headers).status_code == 200
        time.sleep(max(0.0, refused_from - time.time()) + 1.1)
        r = c.get(f"/v2/{repo}/manifests/cache", headers=headers)
    assert r.status_code == 401
    assert _challenge(r)[1]["error"] == "invalid_token"


def test_kid_header_mode_is_accepted(registry_token: RunningRegistry, tiny: TinyLayout) -> None:
    reg = registry_token
    assert reg.issuer is not None
    repo = _unique("harness/kid")
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    with reg.issuer.override(header_mode="kid"):
        token = reg.issuer.mint(reg.issuer.authorize("alice", [f"repository:{repo}:pull"]))
    with reg.client() as c:
        r = c.get(
            f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200


def test_oauth_post_password_and_refresh_token(registry_token: RunningRegistry, tiny: TinyLayout) -> None:
    reg = registry_token
    assert reg.issuer is not None
    assert reg.token_realm is not None
    repo = _unique("harness/oauth")
    push_layout(reg, tiny.path, repo, "cache", ref_name="cache")
    scope = f"repository:{repo}:pull"
    with httpx.Client(verify=reg.verify()) as c:
        form = {
            "grant_type": "password",
            "username": "alice",
            "password": str(reg.password),
            "service": str(reg.token_service),
            "scope": scope,
            "client_id": "cacheinspect",
            "access_type": "offline",
        }
        first = c.post(reg.token_realm, data=form)
        assert first.status_code == 200
        assert set(first.json()) >= {"access_token", "refresh_token", "expires_in", "scope"}
        refreshed = c.post(
            reg.token_realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.json()["refresh_token"],
                "service": str(reg.token_service),
                "scope": scope,
                "client_id": "cacheinspect",
            },
        )
        assert refreshed.status_code == 200
        assert "refresh_token" not in refreshed.json()
        assert c.post(reg.token_realm, data={**form, "password": "wrong"}).status_code == 401
        bad_refresh = {
            "grant_type": "refresh_token",
            "refresh_token": "nope",
            "service": str(reg.token_service),
        }
        assert c.post(reg.token_realm, data=bad_refresh).status_code == 401
        with reg.issuer.override(post_enabled=False):
            assert c.post(reg.token_realm, data=form).status_code == 404
        # GET with offline_token=true also hands out a refresh token.
        got = c.get(
            reg.token_realm,
            params={"service": reg.token_service, "scope": scope, "offline_token": "true"},
            auth=("alice", str(reg.password)),
        )
        assert "refresh_token" in got.json()
    with reg.client() as c:
        headers = {"Accept": ACCEPT, "Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert c.get(f"/v2/{repo}/manifests/cache", headers=headers).status_code == 200
    grants = [r.grant_type for r in reg.issuer.requests[-6:]]
    assert grants == ["password", "refresh_token", "password", "refresh_token", "password", None]


def test_parse_scope() -> None:
    assert parse_scope("repository:a/b:pull,push") == ("repository", "a/b", ["pull", "push"])
    assert parse_scope("repository(plugin):a:pull") == ("repository", "a", ["pull"])
    assert parse_scope("registry:catalog:*") == ("registry", "catalog", ["*"])
    assert parse_scope("nonsense") is None


# -- lifecycle ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["plain", "basic", "token"])
def test_start_and_stop_leave_nothing_behind(flavour: str, tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    with start_registry(flavour, tmp_path) as reg:  # type: ignore[arg-type]
        assert reg.startup_seconds < 3.0
        ports = [reg.port] + ([reg.issuer.port] if reg.issuer else [])
        assert all(port_is_listening("127.0.0.1", p) for p in ports)
        process = reg.process
    assert process.returncode is not None
    assert not any(port_is_listening("127.0.0.1", p) for p in ports)
    assert set(threading.enumerate()) <= threads_before
    assert reg.log_path.read_text()


def test_missing_binary_is_an_error_not_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REGISTRY_BIN_ENV, str(tmp_path / "no-such-docker-registry"))
    with pytest.raises(RegistryStartError, match="not an executable"), start_registry("plain", tmp_path):
        pass


def test_unknown_flavour(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown registry flavour"), start_registry("sftp", tmp_path):  # type: ignore[arg-type]
        pass


# -- fixtures from real BuildKit --------------------------------------------------------------------------------
def test_push_fixture_threestage_max(registry: RunningRegistry, push_fixture: PushFixture) -> None:
    """Replays the real BuildKit ``mode=max`` cache and reads every byte back by digest."""
    layout_dir = FIXTURES_DIR / "threestage-max"
    if not (layout_dir / "index.json").is_file():
        pytest.fail(f"{layout_dir} is missing (fixtures are produced by `make fixtures`)")
    repo, tag, digest = push_fixture("threestage-max", registry)
    r = fetch_manifest(registry, repo, tag)
    assert r.status_code == 200
    assert _sha256(r.content) == digest
    (root,) = [
        e for e in json.loads((layout_dir / "index.json").read_text())["manifests"] if e["digest"] == digest
    ]

    def check(desc: dict[str, object]) -> int:
        dgst = str(desc["digest"])
        alg, _, hexpart = dgst.partition(":")
        local = (layout_dir / "blobs" / alg / hexpart).read_bytes()
        if desc.get("mediaType") in MANIFEST_MEDIA_TYPES:
            got = fetch_manifest(registry, repo, dgst)
            assert got.status_code == 200
            assert got.content == local
            doc = json.loads(local)
            children = doc.get("manifests") or [doc["config"], *doc.get("layers", [])]
            return 1 + sum(check(child) for child in children)
        assert fetch_blob(registry, repo, dgst) == local
        return 1

    assert check(root) > 2


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_replays(registry_plain: RunningRegistry, push_fixture: PushFixture, name: str) -> None:
    """Every layout under fixtures/ pushes; the root comes back byte-identical; damage is applied."""
    repo, tag, digest = push_fixture(name, registry_plain)
    r = fetch_manifest(registry_plain, repo, tag)
    assert r.status_code == 200
    assert _sha256(r.content) == digest
    case_file = FIXTURES_DIR / name / "case.json"
    doomed = json.loads(case_file.read_text()).get("delete_blob") if case_file.is_file() else None
    if isinstance(doomed, str):
        with registry_plain.client() as c:
            assert c.get(f"/v2/{repo}/blobs/{doomed}").status_code == 404
        repo2, _, _ = push_fixture(name, registry_plain, damage=False)
        assert fetch_blob(registry_plain, repo2, doomed)


# -- fault proxy -----------------------------------------------------------------------------------------------
@pytest.fixture
def proxied(
    fault_proxy: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> tuple[str, TinyLayout]:
    """A repo with the tiny cache pushed *through* the proxy (proves pass-through of uploads)."""
    repo = _unique("harness/proxy")
    with httpx.Client(base_url=fault_proxy.url) as c:
        push_layout(registry_plain, tiny.path, repo, "cache", ref_name="cache", client=c)
    return repo, tiny


def test_proxy_passes_uploads_through_with_locations_pointing_at_itself(
    fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]
) -> None:
    repo, tiny = proxied
    puts = fault_proxy.seen(r"/blobs/uploads/", method="PUT")
    assert puts, "uploads went through the proxy"
    assert all(p.rule is None for p in puts)
    with httpx.Client(base_url=fault_proxy.url) as c:
        r = c.post(f"/v2/{repo}/blobs/uploads/")
        assert r.headers["Location"].startswith(fault_proxy.url + "/")
        assert c.delete(r.headers["Location"]).status_code == 204
        assert c.get(f"/v2/{repo}/blobs/{tiny.layer}").content == tiny.blobs[tiny.layer]


def test_proxy_forwards_chunked_uploads(fault_proxy: FaultProxy, registry_plain: RunningRegistry) -> None:
    """A chunked (streamed) PATCH through the proxy reaches the registry intact."""
    repo = _unique("harness/chunked")
    data = b"x" * 100_000 + b"end"

    def stream() -> Iterator[bytes]:
        for i in range(0, len(data), 30_000):
            yield data[i : i + 30_000]

    with httpx.Client(base_url=fault_proxy.url) as c:
        location = c.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        r = c.patch(location, content=stream(), headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 202
        sep = "&" if "?" in r.headers["Location"] else "?"
        done = c.put(f"{r.headers['Location']}{sep}digest={_sha256(data)}")
        assert done.status_code == 201
    patch = fault_proxy.seen(method="PATCH")[0]
    assert patch.headers.get("transfer-encoding") == "chunked"
    with registry_plain.client() as c:
        assert c.get(f"/v2/{repo}/blobs/{_sha256(data)}").content == data


def test_proxy_in_front_of_a_tls_basic_registry(registry_basic: RunningRegistry) -> None:
    with start_fault_proxy(registry_basic) as proxy, httpx.Client(base_url=proxy.url) as c:
        proxy.unavailable("/v2/", times=1)
        assert c.get("/v2/").status_code == 503
        assert c.get("/v2/").status_code == 401
        assert (
            c.get("/v2/", auth=(str(registry_basic.username), str(registry_basic.password))).status_code
            == 200
        )


def test_proxy_corrupt(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, tiny = proxied
    rule = fault_proxy.corrupt(re.escape(tiny.layer), times=1)
    with httpx.Client(base_url=fault_proxy.url) as c:
        bad = c.get(f"/v2/{repo}/blobs/{tiny.layer}")
        good = c.get(f"/v2/{repo}/blobs/{tiny.layer}")
    assert bad.status_code == 200
    assert len(bad.content) == len(tiny.blobs[tiny.layer])
    assert bad.content != tiny.blobs[tiny.layer]
    assert _sha256(bad.content) != tiny.layer
    assert good.content == tiny.blobs[tiny.layer]
    assert rule.hits == 1
    assert rule.exhausted


def test_proxy_truncate(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, tiny = proxied
    rule = fault_proxy.truncate(r"/blobs/sha256:", keep=10)
    with httpx.Client(base_url=fault_proxy.url) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get(f"/v2/{repo}/blobs/{tiny.layer}")
    assert rule.hits == 1


def test_proxy_throttle_429_then_pass(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, tiny = proxied
    rule = fault_proxy.throttle(r"/manifests/", times=2)
    with httpx.Client(base_url=fault_proxy.url) as c:
        statuses = [c.get(f"/v2/{repo}/manifests/cache", headers={"Accept": ACCEPT}) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "1"
    assert statuses[0].json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert statuses[2].content == tiny.blobs[tiny.cache_index]
    assert rule.hits == 2
    assert [s.rule for s in fault_proxy.seen("/manifests/cache", method="GET")] == [
        "respond",
        "respond",
        None,
    ]


def test_proxy_503_n_times_then_pass(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, tiny = proxied
    rule = fault_proxy.unavailable(r"/blobs/", times=3, method="GET")
    with httpx.Client(base_url=fault_proxy.url) as c:
        codes = [c.get(f"/v2/{repo}/blobs/{tiny.layer}").status_code for _ in range(4)]
        assert c.head(f"/v2/{repo}/blobs/{tiny.layer}").status_code == 200  # method filter
    assert codes == [503, 503, 503, 200]
    assert rule.hits == 3


def test_proxy_redirect_to_other_host_records_authorization(
    fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]
) -> None:
    repo, tiny = proxied
    rule = fault_proxy.redirect(r"/blobs/sha256:")
    assert fault_proxy.other_url.startswith("http://127.0.0.2:")
    with httpx.Client(base_url=fault_proxy.url, headers={"Authorization": "Bearer secret"}) as c:
        first = c.get(f"/v2/{repo}/blobs/{tiny.layer}")
        assert first.status_code == 307
        assert first.headers["Location"] == f"{fault_proxy.other_url}/v2/{repo}/blobs/{tiny.layer}"
        # A careless client: forwards Authorization to the other host; the listener records it.
        leaked = httpx.get(first.headers["Location"], headers={"Authorization": "Bearer secret"})
        # httpx itself strips it on a cross-origin redirect.
        followed = c.get(f"/v2/{repo}/blobs/{tiny.layer}", follow_redirects=True)
    assert leaked.content == tiny.blobs[tiny.layer]
    assert followed.content == tiny.blobs[tiny.layer]
    other = fault_proxy.seen(listener="other")
    assert [o.authorization for o in other] == ["Bearer secret", None]
    assert rule.hits == 2


def test_proxy_tls_redirect_is_a_downgrade(
    fault_proxy_tls: FaultProxy, registry_plain: RunningRegistry, tiny: TinyLayout
) -> None:
    proxy = fault_proxy_tls
    assert proxy.url.startswith("https://127.0.0.1:")
    assert proxy.ca_file is not None
    repo = _unique("harness/tlsproxy")
    verify = ssl.create_default_context(cafile=str(proxy.ca_file))
    with httpx.Client(base_url=proxy.url, verify=verify) as c:
        push_layout(registry_plain, tiny.path, repo, "cache", ref_name="cache", client=c)
        # Upload locations come back as https (X-Forwarded-Proto is set for the registry).
        r = c.post(f"/v2/{repo}/blobs/uploads/")
        assert r.headers["Location"].startswith(proxy.url + "/")
        c.delete(r.headers["Location"])
        rule = proxy.redirect(r"/blobs/sha256:", to="downgrade")
        r = c.get(f"/v2/{repo}/blobs/{tiny.layer}")
    assert r.status_code == 307
    assert r.headers["Location"].startswith("http://127.0.0.1:")
    assert rule.hits == 1
    assert not proxy.seen(listener="downgrade")


def test_proxy_hang_never_answers(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, tiny = proxied
    rule = fault_proxy.hang(r"/manifests/")
    started = time.monotonic()
    with httpx.Client(base_url=fault_proxy.url, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.get(f"/v2/{repo}/manifests/cache")
    assert time.monotonic() - started >= 0.5
    assert rule.hits == 1
    body_rule = fault_proxy.hang(r"/blobs/", after_headers=True)
    with (
        httpx.Client(base_url=fault_proxy.url, timeout=0.5) as c,
        c.stream("GET", f"/v2/{repo}/blobs/{tiny.layer}") as r,
    ):
        assert r.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            r.read()
    assert body_rule.hits == 1


def test_proxy_always_401_bearer(fault_proxy: FaultProxy, proxied: tuple[str, TinyLayout]) -> None:
    repo, _ = proxied
    rule = fault_proxy.unauthorized(r"^/v2/")
    with httpx.Client(base_url=fault_proxy.url) as c:
        r = c.get(f"/v2/{repo}/manifests/cache")
        assert r.status_code == 401
        scheme, params = _challenge(r)
        assert scheme == "Bearer"
        assert params == {
            "realm": f"{fault_proxy.url}/_fault/token",
            "service": "fault-proxy",
            "scope": f"repository:{repo}:pull",
        }
        token = c.get(params["realm"], params={"service": "fault-proxy", "scope": params["scope"]}).json()[
            "token"
        ]
        again = c.get(f"/v2/{repo}/manifests/cache", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert rule.hits == 2
    assert len(fault_proxy.seen("/_fault/token")) == 1


def test_proxy_records_requests_and_closes_cleanly(registry_plain: RunningRegistry) -> None:
    threads_before = set(threading.enumerate())
    with start_fault_proxy(registry_plain) as proxy:
        ports = [
            proxy.port,
            int(proxy.other_url.rsplit(":", 1)[1]),
            int(proxy.downgrade_url.rsplit(":", 1)[1]),
        ]
        proxy.hang("/v2/")
        # A client that gives up on a hung request and one idling on keep-alive: close must not wait.
        idle = socket.create_connection(("127.0.0.1", proxy.port))
        with (
            httpx.Client(base_url=proxy.url, timeout=0.2, headers={"X-Test": "1"}) as c,
            pytest.raises(httpx.ReadTimeout),
        ):
            c.get("/v2/")
        seen = proxy.seen("/v2/")
        assert [(s.method, s.path, s.headers["x-test"], s.listener) for s in seen] == [
            ("GET", "/v2/", "1", "proxy")
        ]
        started = time.monotonic()
    idle.close()
    assert time.monotonic() - started < 2
    assert not any(
        port_is_listening(host, p)
        for host, p in zip(["127.0.0.1", "127.0.0.2", "127.0.0.1"], ports, strict=True)
    )
    assert set(threading.enumerate()) <= threads_before
