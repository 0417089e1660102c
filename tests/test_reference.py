"""Reference parsing follows docker's normalize.go; local targets win over registry readings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cacheinspect.errors import ReferenceError_, UsageError
from cacheinspect.registry.reference import Reference, parse_reference
from cacheinspect.sources.targets import FileTarget, LayoutTarget, parse_target

D256 = "sha256:" + "a" * 64
D512 = "sha512:" + "b" * 128


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
        ("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("registry-1.docker.io/org/app:v1", "docker.io", "org/app", "v1", None),
        ("org/app", "docker.io", "org/app", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", None),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("ghcr.io/owner/cache:buildcache", "ghcr.io", "owner/cache", "buildcache", None),
        ("host:443/x", "host:443", "x", "latest", None),
        (f"ubuntu@{D256}", "docker.io", "library/ubuntu", None, D256),
        (f"ghcr.io/o/r:tag@{D256}", "ghcr.io", "o/r", "tag", D256),
        (f"quay.io/o/r@{D512}", "quay.io", "o/r", None, D512),
        ("a.b/c__d/e-f---g.h_i", "a.b", "c__d/e-f---g.h_i", "latest", None),
    ],
)
def test_parse_reference(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    r = parse_reference(text)
    assert (r.registry, r.repository, r.tag, r.digest) == (registry, repository, tag, digest)


def test_highest_port_and_ipv6_hosts_still_parse() -> None:
    assert parse_reference("localhost:65535/foo").registry == "localhost:65535"
    assert parse_reference("[::1]:5000/foo:bar").registry == "[::1]:5000"


def test_docker_hub_has_three_names() -> None:
    r = parse_reference("ubuntu")
    assert r.registry == "docker.io"
    assert r.dial_host == "registry-1.docker.io"
    assert r.config_key == "https://index.docker.io/v1/"
    other = parse_reference("ghcr.io/o/r")
    assert other.dial_host == other.config_key == "ghcr.io"


def test_str_is_canonical_and_round_trips() -> None:
    assert str(parse_reference("ubuntu")) == "docker.io/library/ubuntu:latest"
    pinned = parse_reference(f"ghcr.io/o/r:t@{D256}")
    assert str(pinned) == f"ghcr.io/o/r:t@{D256}"
    assert parse_reference(str(pinned)) == pinned


def test_digest_pins_and_tag_defaults_only_without_digest() -> None:
    assert parse_reference(f"o/r:t@{D256}").reference == D256
    assert parse_reference(f"o/r@{D256}").tag is None
    assert parse_reference("o/r").reference == "latest"


def test_with_reference() -> None:
    r = parse_reference("ghcr.io/o/r:t")
    assert r.with_reference(D256) == Reference("ghcr.io", "o/r", None, D256)
    assert r.with_reference("v2") == Reference("ghcr.io", "o/r", "v2", None)
    with pytest.raises(ReferenceError_):
        r.with_reference("sha256:nothex")
    with pytest.raises(ReferenceError_, match="invalid tag"):
        r.with_reference("v2\n")  # "$" matches before a trailing newline: fullmatch does not


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty reference"),
        ("Ubuntu", "must be lowercase"),
        ("ghcr.io/Owner/repo", "must be lowercase"),
        ("o/r:bad tag", "invalid tag"),
        ("o/r:.hidden", "invalid tag"),
        ("o/r:" + "t" * 129, "invalid tag"),
        ("o/r@sha256:abc", "malformed digest"),
        ("o/r@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("o/r@sha256:" + "A" * 64, "malformed digest"),
        ("o//r", "invalid repository name"),
        ("o/r-", "invalid repository name"),
        ("o/_r", "invalid repository name"),
        ("ghcr.io/", "missing repository name"),
        ("https://ghcr.io/o/r", "drop the https:// prefix"),
        ("-bad.host/r", "invalid registry host"),
        ("o/r@" + D256 + "@" + D256, "more than one '@'"),
        ("a/" + "b" * 260, "longer than 255"),
        # "$" matched before a trailing newline and \w was Unicode: these used to parse.
        ("ghcr.io/team/app\n:cache", "invalid repository name"),
        ("ghcr.io\n/team/app", "invalid registry host"),
        ("ghcr.io/team/app:t\u00e4g", "invalid tag"),
        ("ghcr.io/t\u00e9am/app", "invalid repository name"),
        ("ghcr.io/team/app:\u0663", "invalid tag"),  # ARABIC-INDIC DIGIT THREE is \w without re.ASCII
        ("r\u00e9g.example/team/app", "invalid registry host"),
        # A port out of range used to pass and crash the client with OverflowError.
        ("localhost:99999/foo", "port 99999 is not in 1-65535"),
        ("registry.example:0/foo", "is not in 1-65535"),
        ("localhost:" + "9" * 5000 + "/foo", "is not in 1-65535"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ReferenceError_) as ei:
        parse_reference(text)
    assert fragment in str(ei.value)
    assert "\n" not in str(ei.value)
    assert ei.value.exit_code == 2


# -- local targets -----------------------------------------------------------------------------------
def _layout(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": []}))
    return path


def test_oci_layout_targets(tmp_path: Path) -> None:
    lay = _layout(tmp_path / "cache")
    assert parse_target(f"oci-layout://{lay}") == LayoutTarget(lay)
    assert parse_target(f"oci-layout://{lay}:v1") == LayoutTarget(lay, tag="v1")
    assert parse_target(f"oci-layout://{lay}@{D256}") == LayoutTarget(lay, digest=D256)
    assert str(LayoutTarget(lay, tag="v1")) == f"oci-layout://{lay}:v1"


def test_oci_layout_dir_with_colon_in_name(tmp_path: Path) -> None:
    lay = _layout(tmp_path / "a:b")
    assert parse_target(f"oci-layout://{lay}") == LayoutTarget(lay)
    assert parse_target(f"oci-layout://{lay}:t") == LayoutTarget(lay, tag="t")


def test_oci_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such OCI layout directory"):
        parse_target(f"oci-layout://{tmp_path}/nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="not an OCI layout"):
        parse_target(f"oci-layout://{tmp_path}/plain")
    lay = _layout(tmp_path / "l")
    with pytest.raises(ReferenceError_, match="malformed digest"):
        parse_target(f"oci-layout://{lay}@sha256:xyz")


def test_bare_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay = _layout(tmp_path / "cache")
    cfg = tmp_path / "cache-config.json"
    cfg.write_text("{}")
    assert parse_target(str(lay)) == LayoutTarget(lay)
    assert parse_target(str(cfg)) == FileTarget(cfg)
    # An existing relative path wins over the registry reading of the same string.
    monkeypatch.chdir(tmp_path)
    assert parse_target("cache") == LayoutTarget(Path("cache"))
    (tmp_path / "notalayout").mkdir()
    with pytest.raises(UsageError, match="not an OCI layout"):
        parse_target("notalayout")


@pytest.mark.parametrize("text", ["./missing", "/no/such/dir", "../x", "~/nope-cacheinspect", "cfg.json"])
def test_missing_paths_get_a_clear_error(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="no such path"):
        parse_target(text)


def test_non_paths_are_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_target("ubuntu") == parse_reference("ubuntu")
    assert parse_target("localhost:5000/cache:t") == Reference("localhost:5000", "cache", "t", None)
