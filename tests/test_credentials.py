"""Credential lookup order, docker config formats, the credential-helper protocol, and redaction."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from cacheinspect.errors import AuthError, UsageError
from cacheinspect.registry import Credential, CredentialStore, RegistryOptions

SECRET = "s3cr3t-Pa55-do-not-print"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    (h / ".docker").mkdir(parents=True)
    return h


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "PATH": f"{home / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", **extra}


def write_config(home: Path, cfg: dict[str, object]) -> Path:
    d = home / ".docker"
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def fake_helper(home: Path, name: str, body: str) -> Path:
    """A docker-credential-NAME script; it records the server URL it was asked about."""
    bindir = home / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / f"docker-credential-{name}"
    script.write_text(
        f'#!/bin/sh\n[ "$1" = get ] || exit 2\nread url\necho "$url" >> "{home}/{name}.asked"\n{body}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def store(home: Path, options: RegistryOptions | None = None, **env: str) -> CredentialStore:
    opts = options or RegistryOptions(docker_config=home / ".docker")
    return CredentialStore(opts, env=env_for(home, **env))


def test_anonymous_when_nothing_is_configured(home: Path) -> None:
    assert store(home).get("ghcr.io") is None


def test_explicit_flags_win(home: Path) -> None:
    write_config(home, {"auths": {"ghcr.io": {"auth": b64("cfg:cfgpass")}}})
    opts = RegistryOptions(username="flag", password=SECRET, docker_config=home / ".docker")
    c = store(home, opts).get("ghcr.io")
    assert c is not None
    assert (c.username, c.password, c.source) == ("flag", SECRET, "--username/--password-stdin")


def test_auths_base64(home: Path) -> None:
    write_config(home, {"auths": {"127.0.0.1:5000": {"auth": b64(f"alice:{SECRET}")}}})
    c = store(home).get("127.0.0.1:5000")
    assert c is not None
    assert (c.username, c.password) == ("alice", SECRET)
    assert "auths['127.0.0.1:5000']" in c.source


def test_auths_key_with_scheme_and_path_matches_host(home: Path) -> None:
    write_config(home, {"auths": {"https://reg.example:5000/v1/": {"auth": b64("u:p")}}})
    c = store(home).get("reg.example:5000")
    assert c is not None
    assert c.username == "u"
    assert store(home).get("reg.example") is None  # the port is part of the host


def test_docker_hub_is_found_under_its_config_key(home: Path) -> None:
    write_config(home, {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpass")}}})
    c = store(home).get("docker.io")
    assert c is not None
    assert c.username == "hubuser"


def test_docker_hub_aliases(home: Path) -> None:
    write_config(home, {"auths": {"registry-1.docker.io": {"auth": b64("hub2:p")}}})
    c = store(home).get("docker.io")
    assert c is not None
    assert c.username == "hub2"


def test_identity_and_registry_tokens(home: Path) -> None:
    write_config(
        home,
        {
            "auths": {
                "a.example": {"auth": b64("u:"), "identitytoken": SECRET},
                "b.example": {"registrytoken": SECRET},
            }
        },
    )
    a = store(home).get("a.example")
    assert a is not None
    assert (a.username, a.identity_token, a.password) == ("u", SECRET, None)
    b = store(home).get("b.example")
    assert b is not None
    assert b.registry_token == SECRET


def test_docker_config_env_then_home_are_the_defaults(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, {"auths": {"x.example": {"auth": b64("homeuser:p")}}})
    c = CredentialStore(RegistryOptions(), env=env_for(home)).get("x.example")
    assert c is not None
    assert c.username == "homeuser"  # ~/.docker/config.json
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"auths": {"x.example": {"auth": b64("envuser:p")}}}))
    c = CredentialStore(RegistryOptions(), env=env_for(home, DOCKER_CONFIG=str(other))).get("x.example")
    assert c is not None
    assert c.username == "envuser"
    monkeypatch.setenv("DOCKER_CONFIG", str(other))  # the process environment is the default env
    c = CredentialStore(RegistryOptions()).get("x.example")
    assert c is not None
    assert c.username == "envuser"


def test_cred_helper_protocol(home: Path) -> None:
    fake_helper(
        home, "fake", f'echo \'{{"ServerURL":"\'$url\'","Username":"helperuser","Secret":"{SECRET}"}}\''
    )
    write_config(
        home, {"credHelpers": {"127.0.0.1:5000": "fake"}, "auths": {"127.0.0.1:5000": {"auth": b64("no:no")}}}
    )
    c = store(home).get("127.0.0.1:5000")
    assert c is not None
    assert (c.username, c.password) == ("helperuser", SECRET)
    assert c.source == "~/.docker/config.json (credHelpers fake)"  # the file and the helper it names
    assert (home / "fake.asked").read_text() == "127.0.0.1:5000\n"


def test_cred_helper_for_docker_hub_gets_the_config_key(home: Path) -> None:
    fake_helper(home, "hub", 'echo \'{"Username":"u","Secret":"p"}\'')
    write_config(home, {"credsStore": "hub"})
    assert store(home).get("docker.io") is not None
    assert (home / "hub.asked").read_text().splitlines()[0] == "https://index.docker.io/v1/"


def test_helper_token_username_means_identity_token(home: Path) -> None:
    fake_helper(home, "tok", f'echo \'{{"Username":"<token>","Secret":"{SECRET}"}}\'')
    write_config(home, {"credsStore": "tok"})
    c = store(home).get("ghcr.io")
    assert c is not None
    assert (c.identity_token, c.password) == (SECRET, None)


def test_helper_not_found_falls_through(home: Path) -> None:
    fake_helper(home, "empty", 'echo "credentials not found in native keychain"; exit 1')
    write_config(home, {"credsStore": "empty", "auths": {"ghcr.io": {"auth": b64("fallback:p")}}})
    c = store(home).get("ghcr.io")
    assert c is not None
    assert c.username == "fallback"
    write_config(home, {"credsStore": "empty"})
    assert store(home).get("ghcr.io") is None


def test_helper_failure_is_an_auth_error_without_secrets(home: Path) -> None:
    fake_helper(home, "broken", f'echo "{SECRET}"; echo "keychain locked" >&2; exit 3')
    write_config(home, {"credsStore": "broken"})
    with pytest.raises(AuthError) as ei:
        store(home).get("ghcr.io")
    assert "keychain locked" in str(ei.value)
    assert "exit 3" in str(ei.value)
    assert SECRET not in str(ei.value)


def test_missing_helper_is_a_warning(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_config(home, {"credsStore": "desktop-not-installed", "auths": {"ghcr.io": {"auth": b64("u:p")}}})
    with caplog.at_level(logging.WARNING, "cacheinspect.registry"):
        c = store(home).get("ghcr.io")
    assert c is not None
    assert c.username == "u"
    assert "docker-credential-desktop-not-installed" in caplog.text


def test_malformed_auth_value_does_not_leak(home: Path) -> None:
    write_config(home, {"auths": {"ghcr.io": {"auth": b64(SECRET)}}})  # no colon
    with pytest.raises(AuthError) as ei:
        store(home).get("ghcr.io")
    assert SECRET not in str(ei.value)


def test_broken_config_json_is_a_usage_error(home: Path) -> None:
    (home / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"config.json is not valid JSON"):
        store(home).get("ghcr.io")


def test_registry_auth_file(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"auths": {"quay.io": {"auth": b64("podman:p")}}}))
    c = store(home, REGISTRY_AUTH_FILE=str(f)).get("quay.io")
    assert c is not None
    assert c.username == "podman"


def test_docker_config_before_podman(home: Path, tmp_path: Path) -> None:
    write_config(home, {"auths": {"quay.io": {"auth": b64("docker:p")}}})
    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"auths": {"quay.io": {"auth": b64("podman:p")}}}))
    c = store(home, REGISTRY_AUTH_FILE=str(f)).get("quay.io")
    assert c is not None
    assert c.username == "docker"


def test_podman_runtime_and_home_files_and_namespaces(home: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "containers").mkdir(parents=True)
    (run / "containers" / "auth.json").write_text(
        json.dumps(
            {"auths": {"quay.io/org": {"auth": b64("orguser:p")}, "quay.io": {"auth": b64("hostuser:p")}}}
        )
    )
    s = store(home, XDG_RUNTIME_DIR=str(run))
    org = s.get("quay.io", "org/app")
    other = s.get("quay.io", "elsewhere/app")
    assert org is not None
    assert other is not None
    assert (org.username, other.username) == ("orguser", "hostuser")
    (home / ".config" / "containers").mkdir(parents=True)
    (home / ".config" / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"r.example": {"auth": b64("h:p")}}})
    )
    c = store(home).get("r.example")
    assert c is not None
    assert c.username == "h"


def test_credential_repr_redacts() -> None:
    for c in (
        Credential(username="u", password=SECRET, source="x"),
        Credential(identity_token=SECRET),
        Credential(registry_token=SECRET),
    ):
        assert SECRET not in repr(c)
        assert SECRET not in str(c)
        assert SECRET not in f"{c!r} {c}"
        assert "<redacted>" in repr(c)


def test_options_repr_redacts_password() -> None:
    o = RegistryOptions(username="u", password=SECRET)
    assert SECRET not in repr(o)
    assert "'u'" in repr(o)


def test_lookup_is_cached(home: Path) -> None:
    fake_helper(home, "count", 'echo \'{"Username":"u","Secret":"p"}\'')
    write_config(home, {"credsStore": "count"})
    s = store(home)
    s.get("ghcr.io")
    s.get("ghcr.io")
    assert (home / "count.asked").read_text().count("ghcr.io") == 1


# -- regressions -------------------------------------------------------------------------------------------
def test_explicit_flags_only_go_to_the_registry_they_are_for(home: Path) -> None:
    """``diff A B -u alice --password-stdin`` sent alice's password to B too."""
    write_config(home, {"auths": {"ghcr.io": {"auth": b64("cfg:cfgpass")}}})
    opts = RegistryOptions(
        username="alice", password=SECRET, credentials_for="a.example:5000", docker_config=home / ".docker"
    )
    s = store(home, opts)
    mine = s.get("a.example:5000", "team/app")
    assert mine is not None
    assert (mine.username, mine.password) == ("alice", SECRET)
    assert s.get("A.EXAMPLE:5000") is not None  # host names are case-insensitive
    assert s.get("b.example:5000") is None  # unrelated and unconfigured: anonymous
    other = s.get("ghcr.io")  # unrelated but configured: its own stored credentials
    assert other is not None
    assert (other.username, other.password) == ("cfg", "cfgpass")


def test_explicit_flags_for_docker_hub_match_its_aliases(home: Path) -> None:
    opts = RegistryOptions(username="u", password=SECRET, credentials_for="docker.io")
    s = store(home, opts)
    assert s.get("docker.io") is not None
    assert s.get("index.docker.io") is not None
    assert s.get("ghcr.io") is None


@pytest.mark.parametrize("token", ["s3cr3t-registry-token\n", "s3cr3t-t\u00f8ken", "two words"])
def test_stored_registry_token_must_be_a_bearer_token(home: Path, token: str) -> None:
    """A newline or non-ASCII in registrytoken crashed building the header, echoing the token."""
    write_config(home, {"auths": {"ghcr.io": {"registrytoken": token}}})
    with pytest.raises(
        AuthError, match=r"auths\['ghcr.io'\]: registrytoken is not a valid bearer token"
    ) as ei:
        store(home).get("ghcr.io")
    assert "s3cr3t" not in str(ei.value) and "words" not in str(ei.value)
    assert ei.value.exit_code == 3


def test_stored_identity_token_must_be_printable_ascii(home: Path) -> None:
    write_config(home, {"auths": {"ghcr.io": {"auth": b64("u:"), "identitytoken": "s3cr3t\nrefresh"}}})
    with pytest.raises(AuthError, match="identitytoken is not a valid token") as ei:
        store(home).get("ghcr.io")
    assert "s3cr3t" not in str(ei.value)
    fake_helper(home, "tok", 'printf \'{"Username":"<token>","Secret":"s3cr3t\\\\u2603"}\'')
    write_config(home, {"credsStore": "tok"})
    with pytest.raises(AuthError, match="docker-credential-tok: identitytoken is not a valid token") as ei:
        store(home).get("ghcr.io")
    assert "s3cr3t" not in str(ei.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"auths": {"ghcr.io": {"auth": "\xff\xfe"}}}', "is not UTF-8 text"),
        (b"[" * 100_000, "is not valid JSON"),
        (b'{"n": ' + b"9" * 5000 + b"}", "is not valid JSON"),
    ],
)
def test_unreadable_config_json_is_a_usage_error(home: Path, content: bytes, fragment: str) -> None:
    """A non-UTF-8 or absurdly nested config used to escape as UnicodeDecodeError / RecursionError."""
    path = home / ".docker" / "config.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as ei:
        store(home).get("ghcr.io")
    assert str(path) in str(ei.value) and fragment in str(ei.value)
    assert ei.value.exit_code == 2


@pytest.mark.parametrize("key", ["docker.io", "index.docker.io", "https://index.docker.io/v1/"])
def test_cred_helpers_for_docker_hub_are_asked_for_the_config_key(home: Path, key: str) -> None:
    """docker/buildkit ask the helper about ``https://index.docker.io/v1/`` (what Docker Desktop stores),
    whichever Hub alias names the helper in credHelpers."""
    fake_helper(
        home,
        "hubhelper",
        '[ "$url" = "https://index.docker.io/v1/" ] || { echo "credentials not found"; exit 1; }\n'
        'echo \'{"Username":"hubuser","Secret":"hubsecret"}\'',
    )
    write_config(home, {"credHelpers": {key: "hubhelper"}})
    c = store(home).get("docker.io", "library/ubuntu")
    assert c is not None
    assert (c.username, c.password) == ("hubuser", "hubsecret")
    assert (home / "hubhelper.asked").read_text() == "https://index.docker.io/v1/\n"
