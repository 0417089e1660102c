"""``parse_mount`` against the rules of BuildKit's ``instructions/commands_runmount.go`` and the
defaults of ``dockerfile2llb/convert_runmount.go`` (cache id, WORKDIR join, read-only defaults)."""

from __future__ import annotations

import pytest

from cacheinspect.dockerfile import DockerfileError, parse_mount
from cacheinspect.errors import UsageError


def test_bind_defaults() -> None:
    m = parse_mount("target=/src")
    assert (m.type, m.target, m.readonly, m.source, m.from_) == ("bind", "/src", True, "", "")


def test_cache_defaults_and_relative_target() -> None:
    m = parse_mount("type=cache,target=./go/pkg/", workdir="/app")
    assert m.target == "/app/go/pkg"
    assert m.id == "go/pkg"  # path.Clean of the target as written, not joined with WORKDIR
    assert (m.sharing, m.readonly) == ("shared", False)


@pytest.mark.parametrize("ro", ["ro", "readonly", "ro=true", "readonly=1", "rw=false", "readwrite=F"])
def test_readonly_spellings(ro: str) -> None:
    assert parse_mount(f"type=cache,target=/c,{ro}").readonly is True


@pytest.mark.parametrize("rw", ["rw", "readwrite", "rw=true", "ro=0", "readonly=FALSE"])
def test_readwrite_spellings(rw: str) -> None:
    assert parse_mount(f"type=bind,target=/c,{rw}").readonly is False


def test_keys_and_enum_values_are_case_insensitive() -> None:
    m = parse_mount("Type=Cache,DST=/c,Sharing=LOCKED,ID=x,UID=1,GID=2,MODE=750")
    assert (m.type, m.target, m.sharing, m.id, m.uid, m.gid, m.mode) == (
        "cache",
        "/c",
        "locked",
        "x",
        1,
        2,
        0o750,
    )


def test_csv_quoting() -> None:
    m = parse_mount('type=bind,"target=/a,b","source=x\\""y"')
    assert (m.target, m.source) == ("/a,b", 'x"y')  # CSV "" gives ", the lexer then needs it escaped
    with pytest.raises(DockerfileError, match="matching double-quote"):
        parse_mount('type=bind,target=/a,"source=x""y"')


def test_values_are_expanded_with_env() -> None:
    m = parse_mount("type=cache,target=$HOME/.cache,id=${ID:-default}", env={"HOME": "/root"})
    assert (m.target, m.id) == ("/root/.cache", "default")


def test_secret_and_ssh_defaults() -> None:
    s = parse_mount("type=secret,id=npmrc")
    assert (s.id, s.target, s.readonly, s.required) == ("npmrc", "/run/secrets/npmrc", True, False)
    e = parse_mount("type=secret,id=tok,env=TOKEN,required")
    assert (e.target, e.env, e.required) == ("", "TOKEN", True)
    t = parse_mount("type=secret,target=/etc/key")
    assert t.id == "key"
    ssh = parse_mount("type=ssh,required=true", ssh_index=2)
    assert (ssh.id, ssh.target, ssh.required) == ("default", "/run/buildkit/ssh_agent.2", True)


def test_tmpfs_size() -> None:
    assert parse_mount("type=tmpfs,target=/t,size=1.5g").size == int(1.5 * 1024**3)
    assert parse_mount("type=tmpfs,target=/t,size=100").size == 100


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "failed to parse csv mounts: EOF"),
        (
            'target="/a"',
            'failed to parse csv mounts: parse error on line 1, column 8: bare " in non-quoted-field',
        ),
        (
            '"target=/a"x',
            'failed to parse csv mounts: parse error on line 1, column 11: extraneous or missing " in quoted-field',
        ),
        ("type=volume,target=/a", 'unsupported mount type "volume"'),
        ("type=cach,target=/a", 'unsupported mount type "cach" (did you mean cache?)'),
        ("type=cache,target=/a,sharing=exclusive", 'unsupported sharing value "exclusive"'),
        ("type=cache,target=/a,mode=8", "invalid value 8 for mode"),
        ("type=cache,target=/a,uid=-1", "invalid value -1 for uid"),
        ("type=tmpfs,target=/a,uid=1", 'uid not allowed for "tmpfs" type mounts'),
        ("type=tmpfs,target=/a,size=lots", "invalid value for size: lots"),
        ("type=bind,target=/a,size=1", "unexpected key 'size' for mount type 'bind'"),
        ("type=bind,target=/a,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=secret,from=x,id=a", "secret mount should not have a from"),
        ("type=secret,src=a,id=b", "both source and id can't be set"),
        ("type=ssh,source=/x", "ssh does not support source"),
        ("type=cache,target=/a,nope", "invalid field 'nope' must be a key=value pair"),
        ("type=cache,target=/", 'invalid mount target "/"'),
        ("type=cache,target=${X:?need X}", 'failed to process "${X:?need X}": X: need X'),
    ],
)
def test_errors(value: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse_mount(value, line=7, column=5, filename="ci.Dockerfile")
    assert info.value.reason == message
    assert str(info.value) == f"ci.Dockerfile:7: {message}"
    assert (info.value.line, info.value.column) == (7, 5)
    assert isinstance(info.value, UsageError)
