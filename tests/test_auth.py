"""WWW-Authenticate parsing (RFC 7235) and the auth flow's token cache, expiry and one-retry rule.

The flow is exercised end to end against the real token registry in test_registry_client.py; here a
``MockTransport`` stands in only to drive the clock and to count requests exactly.
"""

from __future__ import annotations

import json
import urllib.parse

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cacheinspect.errors import AuthError, RegistryError
from cacheinspect.registry import Challenge, Credential, RegistryAuth, parse_www_authenticate, scopes_for_path

pytestmark = pytest.mark.anyio


# -- parser ------------------------------------------------------------------------------------------
def test_docker_hub_challenge() -> None:
    h = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ubuntu:pull"'
    )
    [c] = parse_www_authenticate(h)
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scopes == ("repository:library/ubuntu:pull",)


def test_scope_with_commas_colons_and_several_scopes() -> None:
    h = 'Bearer realm="https://r/t",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    [c] = parse_www_authenticate(h)
    assert c.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert c.params["error"] == "insufficient_scope"


def test_escapes_spaces_and_case() -> None:
    h = r'BEARER  Realm = "https://r/t?a=\"b\"" , SERVICE=svc ,scope="x\\y"'
    [c] = parse_www_authenticate(h)
    assert c.scheme == "bearer"
    assert c.realm == 'https://r/t?a="b"'
    assert c.service == "svc"
    assert c.params["scope"] == "x\\y"


def test_several_challenges_in_one_header_and_several_headers() -> None:
    h = 'Basic realm="basic, with comma", Bearer realm="https://r/t",service="s", Negotiate abc123=='
    cs = parse_www_authenticate([h, 'Digest realm="d", nonce="n"'])
    assert [c.scheme for c in cs] == ["basic", "bearer", "negotiate", "digest"]
    assert cs[0].realm == "basic, with comma"
    assert cs[1].service == "s"
    assert cs[2].token68 == "abc123=="
    assert cs[3].params == {"realm": "d", "nonce": "n"}


def test_unquoted_url_realm() -> None:
    [c] = parse_www_authenticate("Bearer realm=https://gitlab.example/jwt/auth,service=container_registry")
    assert c.realm == "https://gitlab.example/jwt/auth"
    assert c.service == "container_registry"


def test_bare_scheme_and_garbage() -> None:
    assert [c.scheme for c in parse_www_authenticate("Basic")] == ["basic"]
    assert parse_www_authenticate("") == []
    assert parse_www_authenticate(", ,") == []
    cs = parse_www_authenticate('"junk", Bearer realm="https://r"')
    assert [c.scheme for c in cs] == ["bearer"]
    # An unterminated quote takes the rest of the header as the value.
    [c] = parse_www_authenticate('Bearer realm="https://r/t, service="s"')
    assert c.realm == "https://r/t, service="


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('Bearer Basic realm=",\\ \t:/scope=abc')) | st.characters()))
def test_parser_never_crashes(text: str) -> None:
    for c in parse_www_authenticate(text):
        assert isinstance(c, Challenge)
        assert c.scheme == c.scheme.lower()
        assert all(isinstance(v, str) for v in c.params.values())


@settings(max_examples=200, deadline=None)
@given(
    realm=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    scope=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_quoted_values_round_trip(realm: str, scope: str) -> None:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    [c] = parse_www_authenticate(f"Bearer realm={q(realm)},service=svc,scope={q(scope)}")
    assert (c.realm, c.service, c.params["scope"]) == (realm, "svc", scope)


def test_scopes_for_path() -> None:
    assert scopes_for_path("/v2/a/b/manifests/latest") == ("repository:a/b:pull",)
    assert scopes_for_path("/v2/org/blobs/blobs/sha256:x") == ("repository:org/blobs:pull",)
    assert scopes_for_path("/v2/") == ()


# -- flow --------------------------------------------------------------------------------------------
class FakeRegistry:
    """A registry that wants Bearer tokens from https://auth.test/token and counts everything."""

    def __init__(self, *, realm: str = "https://auth.test/token", post_status: int = 200) -> None:
        self.realm = realm
        self.post_status = post_status
        self.valid: set[str] = set()
        self.token_calls: list[httpx.Request] = []
        self.registry_calls: list[httpx.Request] = []
        self.n = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test" or request.url.path == "/token":
            self.token_calls.append(request)
            if request.method == "POST" and self.post_status != 200:
                return httpx.Response(self.post_status)
            self.n += 1
            tok = f"tok{self.n}"
            self.valid.add(tok)
            return httpx.Response(200, json={"token": tok, "expires_in": 100})
        self.registry_calls.append(request)
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.valid:
            return httpx.Response(200, content=b"ok")
        m = request.url.path.split("/")
        scope = f"repository:{m[2]}:pull"
        return httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer realm="{self.realm}",service="svc",scope="{scope}"'}
        )


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(
    fake: FakeRegistry, cred: Credential | None = None, clock: Clock | None = None, **kw: bool
) -> tuple[httpx.AsyncClient, RegistryAuth]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))

    async def creds(repo: str) -> Credential | None:
        return cred

    async def send(request: httpx.Request) -> httpx.Response:
        r = await client.send(request, auth=None)
        await r.aread()
        return r

    auth = RegistryAuth(registry="reg.test", credentials=creds, send=send, clock=clock or Clock(), **kw)
    return client, auth


async def test_token_is_cached_and_sent_up_front() -> None:
    fake = FakeRegistry()
    client, auth = make(fake, Credential(username="u", password="p"))
    async with client:
        for _ in range(3):
            r = await client.get("https://reg.test/v2/repo/manifests/latest", auth=auth)
            assert r.status_code == 200
    assert len(fake.token_calls) == 1
    assert len(fake.registry_calls) == 4  # one 401, then three with the cached token
    q = urllib.parse.parse_qs(fake.token_calls[0].url.query.decode())
    assert q == {"service": ["svc"], "scope": ["repository:repo:pull"], "account": ["u"]}
    assert fake.token_calls[0].headers["authorization"].startswith("Basic ")


async def test_token_refreshed_before_expiry() -> None:
    fake = FakeRegistry()
    clock = Clock()
    client, auth = make(fake, clock=clock)
    async with client:
        await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
        clock.t += 70  # 100 s lifetime, refreshed in the last fifth
        await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
        assert len(fake.token_calls) == 1
        clock.t += 15
        r = await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert r.status_code == 200
    assert len(fake.token_calls) == 2
    # 401 + retry, then two more: the refresh happened before sending, not after a 401.
    assert len(fake.registry_calls) == 4


async def test_revoked_token_is_replaced_once() -> None:
    fake = FakeRegistry()
    client, auth = make(fake)
    async with client:
        await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
        fake.valid.clear()  # the registry forgets every token: cached one is stale
        r = await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert r.status_code == 200
    assert len(fake.token_calls) == 2


async def test_endless_401_stops_after_one_retry() -> None:
    fake = FakeRegistry()
    fake.valid = set()

    def never(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            fake.token_calls.append(request)
            return httpx.Response(200, json={"token": f"t{len(fake.token_calls)}"})
        fake.registry_calls.append(request)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.test/token"'})

    fake.handler = never  # type: ignore[method-assign]
    client, auth = make(fake)
    async with client:
        r = await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert r.status_code == 401
    assert len(fake.registry_calls) == 2
    assert len(fake.token_calls) == 1


async def test_identity_token_posts_oauth_form_then_falls_back_to_get() -> None:
    fake = FakeRegistry()
    client, auth = make(fake, Credential(identity_token="refresh-me"))
    async with client:
        assert (await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)).status_code == 200
    [post] = fake.token_calls
    assert post.method == "POST"
    form = urllib.parse.parse_qs(post.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-me"],
        "client_id": ["cacheinspect"],
        "scope": ["repository:repo:pull"],
        "service": ["svc"],
    }
    fake404 = FakeRegistry(post_status=404)
    client, auth = make(fake404, Credential(identity_token="refresh-me"))
    async with client:
        assert (await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)).status_code == 200
    assert [r.method for r in fake404.token_calls] == ["POST", "GET"]


async def test_plain_http_realm_refused() -> None:
    fake = FakeRegistry(realm="http://auth.test/token")
    client, auth = make(fake, Credential(username="u", password="p"))
    async with client:
        with pytest.raises(AuthError, match="non-HTTPS token service"):
            await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert fake.token_calls == []


async def test_plain_http_realm_allowed_for_plain_loopback_registry() -> None:
    # issue 8 item 5: the realm's own host must be loopback too (routed by its /token path here)
    fake = FakeRegistry(realm="http://127.0.0.1:5000/token")
    client, auth = make(fake, allow_plain_http_realm=True)
    async with client:
        assert (await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)).status_code == 200


async def test_registry_token_used_directly() -> None:
    fake = FakeRegistry()
    fake.valid.add("ready-made")
    client, auth = make(fake, Credential(registry_token="ready-made"))
    async with client:
        assert (await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)).status_code == 200
    assert fake.token_calls == []


async def test_token_service_denial_is_auth_error() -> None:
    def deny(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(401, json={"errors": []})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.test/token"'})

    fake = FakeRegistry()
    fake.handler = deny  # type: ignore[method-assign]
    client, auth = make(fake, Credential(username="u", password="wrong-secret"))
    async with client:
        with pytest.raises(AuthError) as ei:
            await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert "wrong-secret" not in str(ei.value)
    assert ei.value.exit_code == 3


async def test_access_token_key_and_default_lifetime() -> None:
    """token.md: ``access_token`` is an accepted alias and ``expires_in`` defaults to 60 s."""
    fake = FakeRegistry()
    inner = fake.handler

    def oauth_style(request: httpx.Request) -> httpx.Response:
        r = inner(request)
        if request.url.host == "auth.test":
            return httpx.Response(200, json={"access_token": json.loads(r.content)["token"]})
        return r

    fake.handler = oauth_style  # type: ignore[method-assign]
    clock = Clock()
    client, auth = make(fake, clock=clock)
    async with client:
        await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
        clock.t += 45
        await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
        assert len(fake.token_calls) == 1
        clock.t += 5  # 50 s into a 60 s token: inside the last fifth
        r = await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert r.status_code == 200
    assert len(fake.token_calls) == 2


# -- regressions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["ready\nmade", "r\u00e9ady", "ready made"])
async def test_registry_token_that_cannot_be_a_header_is_refused_unquoted(token: str) -> None:
    """A library caller's Credential is checked too: no LocalProtocolError / UnicodeEncodeError echoing it."""
    fake = FakeRegistry()
    client, auth = make(fake, Credential(registry_token=token, source="my-source"))
    async with client:
        with pytest.raises(AuthError, match="my-source: registrytoken is not a valid bearer token") as ei:
            await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert "ready" not in str(ei.value)


@pytest.mark.parametrize("realm", ["https://[zz/t", "https://auth.test:99999/t", "https://auth.test/t\nx"])
async def test_unparseable_realm_is_a_registry_error(realm: str) -> None:
    fake = FakeRegistry(realm=realm)
    client, auth = make(fake)
    async with client:
        with pytest.raises(RegistryError, match="invalid realm"):
            await client.get("https://reg.test/v2/repo/manifests/a", auth=auth)
    assert fake.token_calls == []


def test_token_repr_redacts() -> None:
    from cacheinspect.registry.auth import _Token

    token = _Token("Bearer s3cr3t-token", 100.0, 60.0)
    assert "s3cr3t" not in repr(token) and "s3cr3t" not in str(token)
    assert "redacted" in repr(token)
