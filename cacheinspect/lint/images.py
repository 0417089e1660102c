"""What lint knows about a stage's base image: its config ``Env``, ``WorkingDir`` and ``User``.

BuildKit starts every stage from the base image's config: ``ENV GOMODCACHE=$GOPATH/pkg/mod`` on
``FROM golang`` expands ``$GOPATH`` to ``/go`` because the golang image sets it, and a cache mount at
``$CARGO_HOME/registry`` on ``FROM rust`` is ``/usr/local/cargo/registry``. A pure front end does not
see that config, so without it a rule either guesses (and is wrong) or stays quiet.

Two sources, in this order:

1. the image's real config, fetched with the registry client ``context check`` uses (only when the
   user asks for it: ``cacheinspect lint --resolve-base``; see :func:`fetch_configs`);
2. a small table of the official images whose variables move a tool's cache directory, copied from
   the images' own Dockerfiles (cited per entry). An image not in the table (and not fetched) is
   *unknown*: the rules that depend on its environment say so or stay quiet, they never guess.

Pure except :func:`fetch_configs` (the I/O edge).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from cacheinspect.dockerfile.model import BaseImage

__all__ = ["BaseConfig", "BaseImages", "BaseLookup", "fetch_configs", "from_config", "table_config"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BaseConfig(msgspec.Struct, frozen=True):
    """A base image's config as far as lint needs it. ``source`` says where it came from (a table row
    with its citation, or ``registry <digest>``); ``removes_docker_clean``: the image's history shows a
    step that deleted ``/etc/apt/apt.conf.d/docker-clean`` (None: not known)."""

    env: Mapping[str, str]
    workdir: str
    user: str
    source: str
    removes_docker_clean: bool | None = None
    history: tuple[str, ...] = ()


BaseLookup = Callable[[str], "BaseConfig | None"]


class _Row(msgspec.Struct, frozen=True):
    env: tuple[tuple[str, str], ...]
    workdir: str
    cite: str


# The official images' variables that move a tool's cache or home directory (PATH kept for
# completeness). Every row is what the image's Dockerfile sets with ENV/WORKDIR; variables not listed
# are unset in that image (so, for example, GOCACHE on golang is the default ~/.cache/go-build).
_TABLE: dict[str, _Row] = {
    # docker-library/golang Dockerfile.template: ENV GOPATH /go, PATH $GOPATH/bin:/usr/local/go/bin:$PATH,
    # GOTOOLCHAIN=local (1.21+), WORKDIR $GOPATH
    "golang": _Row(
        (("GOPATH", "/go"), ("GOTOOLCHAIN", "local"), ("PATH", "/go/bin:/usr/local/go/bin:" + _DEFAULT_PATH)),
        "/go",
        "docker-library/golang Dockerfile.template (ENV GOPATH /go; WORKDIR $GOPATH)",
    ),
    # rust-lang/docker-rust Dockerfile-debian.template: ENV RUSTUP_HOME=/usr/local/rustup
    # CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
    "rust": _Row(
        (
            ("RUSTUP_HOME", "/usr/local/rustup"),
            ("CARGO_HOME", "/usr/local/cargo"),
            ("PATH", "/usr/local/cargo/bin:" + _DEFAULT_PATH),
        ),
        "/",
        "rust-lang/docker-rust Dockerfile templates (ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo)",
    ),
    # nodejs/docker-node: ENV NODE_VERSION, YARN_VERSION only (user node, uid 1000, /home/node)
    "node": _Row(
        (("PATH", _DEFAULT_PATH),),
        "/",
        "nodejs/docker-node Dockerfiles (ENV NODE_VERSION, YARN_VERSION only)",
    ),
    # docker-library/python: ENV PATH /usr/local/bin:$PATH, LANG C.UTF-8, GPG_KEY, PYTHON_VERSION
    "python": _Row(
        (("PATH", _DEFAULT_PATH), ("LANG", "C.UTF-8")),
        "/",
        "docker-library/python Dockerfile-linux.template (no PIP_* or XDG_* variables)",
    ),
    # carlossg/docker-maven: ENV MAVEN_HOME /usr/share/maven, MAVEN_CONFIG "$USER_HOME_DIR/.m2" (/root)
    "maven": _Row(
        (("MAVEN_HOME", "/usr/share/maven"), ("MAVEN_CONFIG", "/root/.m2"), ("PATH", _DEFAULT_PATH)),
        "/",
        "carlossg/docker-maven Dockerfiles (ENV MAVEN_HOME /usr/share/maven, MAVEN_CONFIG /root/.m2)",
    ),
    # keeganwitt/docker-gradle: ENV GRADLE_HOME /opt/gradle (GRADLE_USER_HOME unset: ~/.gradle)
    "gradle": _Row(
        (("GRADLE_HOME", "/opt/gradle"), ("PATH", "/opt/gradle/bin:" + _DEFAULT_PATH)),
        "/home/gradle",
        "keeganwitt/docker-gradle Dockerfiles (ENV GRADLE_HOME /opt/gradle; no GRADLE_USER_HOME)",
    ),
    # adoptium/containers: ENV JAVA_HOME /opt/java/openjdk
    "eclipse-temurin": _Row(
        (("JAVA_HOME", "/opt/java/openjdk"), ("PATH", "/opt/java/openjdk/bin:" + _DEFAULT_PATH)),
        "/",
        "adoptium/containers Dockerfiles (ENV JAVA_HOME /opt/java/openjdk)",
    ),
    # the distribution images set nothing but PATH (debuerreotype / the distributions' rootfs builds)
    "debian": _Row((("PATH", _DEFAULT_PATH),), "/", "docker-library/official-images debian (PATH only)"),
    "ubuntu": _Row((("PATH", _DEFAULT_PATH),), "/", "docker-library/official-images ubuntu (PATH only)"),
    "alpine": _Row((("PATH", _DEFAULT_PATH),), "/", "docker-library/official-images alpine (PATH only)"),
    "buildpack-deps": _Row((("PATH", _DEFAULT_PATH),), "/", "docker-library/buildpack-deps (PATH only)"),
    "fedora": _Row((("PATH", _DEFAULT_PATH),), "/", "docker-library/official-images fedora (PATH only)"),
    "opensuse/leap": _Row((("PATH", _DEFAULT_PATH),), "/", "openSUSE leap image (PATH only)"),
}

_REF = re.compile(
    r"^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)/)?(?:library/)?([a-z0-9._/-]+?)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def _repo(ref: str) -> str | None:
    """``golang:1.22-alpine`` / ``docker.io/library/golang@sha256:…`` → ``golang``; None for any other
    registry (a ``ghcr.io/…`` image is not the official one even when the name matches)."""
    first = ref.split("/", 1)[0]
    if (
        "/" in ref
        and ("." in first or ":" in first or first == "localhost")
        and first
        not in (
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
        )
    ):
        return None
    m = _REF.match(ref)
    return m.group(1) if m else None


def table_config(ref: str) -> BaseConfig | None:
    """The table row for an official image reference, or None (not an official image we know)."""
    repo = _repo(ref)
    row = _TABLE.get(repo or "")
    if row is None:
        return None
    return BaseConfig(env=dict(row.env), workdir=row.workdir, user="", source=f"table: {row.cite}")


def from_config(
    config: Mapping[str, Any], history: Iterable[str] = (), source: str = "registry"
) -> BaseConfig:
    """A :class:`BaseConfig` from an OCI image config's ``config`` object (``Env``, ``WorkingDir``,
    ``User``) and its history's ``created_by`` texts."""
    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        if isinstance(item, str) and "=" in item:
            k, _, v = item.partition("=")
            env[k] = v
    wd = config.get("WorkingDir") or "/"
    user = config.get("User") or ""
    hist = tuple(h for h in history if isinstance(h, str))
    removes = any("docker-clean" in h and ("rm " in h or "rm\t" in h) for h in hist)
    return BaseConfig(
        env=env,
        workdir=wd if isinstance(wd, str) else "/",
        user=user if isinstance(user, str) else "",
        source=source,
        removes_docker_clean=True if removes else None,
        history=hist,
    )


def lookup(fetched: Mapping[str, BaseConfig] | None = None) -> BaseLookup:
    """A lookup that prefers a fetched config and falls back to the table."""

    def get(ref: str) -> BaseConfig | None:
        if fetched is not None and ref in fetched:
            return fetched[ref]
        return table_config(ref)

    return get


async def _fetch_one(ref: str, options: Any, platform: str) -> BaseConfig | None:
    from cacheinspect.errors import CacheInspectError
    from cacheinspect.oci import ImageConfig, Manifest, decode
    from cacheinspect.registry.reference import parse_reference
    from cacheinspect.registry.source import RegistrySource

    try:
        r = parse_reference(ref)
        async with RegistrySource(r, options) as src:
            top = await src.fetch_manifest()
            m = decode(top.data, Manifest, what=f"manifest of {ref}")
            if m.manifests is not None and m.config is None:
                want = platform.split("/")
                chosen = next(
                    (
                        d
                        for d in m.manifests
                        if d.platform is not None
                        and d.platform.os == want[0]
                        and d.platform.architecture == (want[1] if len(want) > 1 else "")
                    ),
                    None,
                )
                if chosen is None:
                    return None
                sub = await src.fetch_manifest(chosen.digest)
                m = decode(sub.data, Manifest, what=f"manifest {chosen.digest} of {ref}")
            if m.config is None:
                return None
            cfg = decode(await src.fetch_blob(m.config.digest), ImageConfig, what=f"image config of {ref}")
            hist = [h.created_by for h in cfg.history if h.created_by]
            return from_config(cfg.config or {}, hist, source=f"registry {m.config.digest}")
    except CacheInspectError:
        return None


def fetch_configs(refs: Iterable[str], options: Any, platform: str = "linux/amd64") -> dict[str, BaseConfig]:
    """Fetch the configs of *refs* with the registry client (the I/O edge). A reference that does not
    resolve (no network, auth, not found) is left out: lint then falls back to the table."""
    import asyncio

    async def run() -> dict[str, BaseConfig]:
        todo = sorted(set(refs))
        got = await asyncio.gather(*(_fetch_one(r, options, platform) for r in todo))
        return {r: c for r, c in zip(todo, got, strict=True) if c is not None}

    return asyncio.run(run())


class BaseImages(Mapping[str, "BaseImage"]):
    """A :class:`BaseLookup` seen as the ``images`` mapping :func:`cacheinspect.dockerfile.resolve` takes.

    The front end seeds a stage from ``images[ref]`` when ``ref in images`` (BuildKit's
    ``toDispatchState``); lint knows images only through a lookup (table or fetched configs), asked per
    name as FROM spells it after ARG expansion, so the mapping is lazy and cannot be listed.
    """

    def __init__(self, lookup: BaseLookup) -> None:
        self._lookup = lookup
        self._seen: dict[str, BaseImage | None] = {}

    def __getitem__(self, ref: str) -> BaseImage:
        if ref not in self._seen:
            from cacheinspect.dockerfile.model import BaseImage

            cfg = self._lookup(ref)
            self._seen[ref] = (
                None
                if cfg is None
                else BaseImage(
                    env=tuple(f"{k}={v}" for k, v in cfg.env.items()),
                    workdir=cfg.workdir or "/",
                    user=cfg.user,
                )
            )
        got = self._seen[ref]
        if got is None:
            raise KeyError(ref)
        return got

    def __iter__(self) -> Iterator[str]:
        return (k for k, v in self._seen.items() if v is not None)

    def __len__(self) -> int:
        return sum(v is not None for v in self._seen.values())
