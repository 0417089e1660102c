"""Image and cache references in docker's grammar (pure: no network, no disk).

A registry reference follows docker's grammar (``github.com/distribution/reference``, ``normalize.go``):

* ``ubuntu`` is ``docker.io/library/ubuntu:latest``. Docker Hub has three names and we carry all of them:
  ``docker.io`` (what users and reports say), ``registry-1.docker.io`` (the host to dial) and
  ``https://index.docker.io/v1/`` (the key ``docker login`` writes into ``config.json``).
* The first path component is a registry when it contains a ``.`` or a ``:`` or is ``localhost``
  (``splitDockerDomain``); otherwise the whole name is a Docker Hub repository.
* The tag defaults to ``latest`` only when no digest is given; ``name:tag@sha256:…`` keeps both and the
  digest pins the content (the tag is informational, as in ``docker pull``).
* Repository names are lowercase path components joined by ``/``; tags are ``[\\w][\\w.-]{0,127}``;
  digests are checked by :func:`cacheinspect.digest.parse`.
"""

from __future__ import annotations

import re

import msgspec

from cacheinspect import digest as digestmod
from cacheinspect._lazyre import lazy
from cacheinspect.errors import ReferenceError_

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_CONFIG_KEY",
    "DOCKER_HUB_HOST",
    "Reference",
    "parse_reference",
]

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
#: Names docker accepts for Docker Hub and rewrites to ``docker.io`` (``normalize.go``: legacyDefaultDomain).
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# distribution/reference regexp.go
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# re.ASCII: \w is [A-Za-z0-9_], not every Unicode letter; callers use fullmatch: "$" also matches before a
# trailing newline.
_DOMAIN_RE = lazy(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]+))?", re.ASCII
)
_PATH_COMPONENT_RE = lazy(r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*", re.ASCII)
_TAG_RE = lazy(r"[\w][\w.-]{0,127}", re.ASCII)
_MAX_PORT = 65535
_NAME_MAX = 255


class Reference(msgspec.Struct, frozen=True):
    """A parsed registry reference; ``tag`` and ``digest`` may both be set (then the digest wins)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def dial_host(self) -> str:
        """The host[:port] to connect to (Docker Hub's API lives on ``registry-1.docker.io``)."""
        return DOCKER_HUB_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def config_key(self) -> str:
        """The key ``docker login`` uses in ``config.json`` (``https://index.docker.io/v1/`` for Hub)."""
        return DOCKER_HUB_CONFIG_KEY if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        ref = self.digest or self.tag
        assert ref is not None, "parse_reference always sets a tag or a digest"
        return ref

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_reference(self, reference: str) -> Reference:
        """The same repository at another tag or digest (a ``:`` means digest: tags cannot hold one)."""
        if ":" in reference:
            digestmod.parse(reference)
            return Reference(self.registry, self.repository, None, reference)
        _check_tag(reference, reference)
        return Reference(self.registry, self.repository, reference, None)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _check_tag(tag: str, original: str) -> None:
    if not _TAG_RE.fullmatch(tag):
        raise ReferenceError_(
            f"invalid tag {tag!r} in {original!r}: "
            "tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -"
        )


def _split_domain(name: str) -> tuple[str, str]:
    """docker's ``splitDockerDomain``: is the first component a registry host?"""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        # An uppercase first component is a registry too (docker >= 20.10): repositories cannot hold one.
        return first, rest
    return DOCKER_HUB, name


def parse_reference(s: str) -> Reference:
    """Parse ``[registry/]repo[:tag][@digest]`` with docker's rules; raise a one-line ReferenceError_."""
    original = s
    s = s.strip()
    if not s:
        raise ReferenceError_("empty reference: expected [registry/]repository[:tag][@digest]")
    if "://" in s:
        scheme = s.split("://", 1)[0]
        raise ReferenceError_(
            f"invalid reference {original!r}: drop the {scheme}:// prefix "
            "(use oci-layout://DIR for a local layout)"
        )
    digest: str | None = None
    if "@" in s:
        s, _, digest = s.partition("@")
        if "@" in digest:
            raise ReferenceError_(f"invalid reference {original!r}: more than one '@'")
        try:
            digestmod.parse(digest)
        except ReferenceError_ as e:
            raise ReferenceError_(f"invalid reference {original!r}: {e.message}") from None
    tag: str | None = None
    last = s.rfind("/")
    colon = s.rfind(":")
    if colon > last:  # a ':' after the last '/' separates the tag (a port's ':' is before a '/')
        s, tag = s[:colon], s[colon + 1 :]
        _check_tag(tag, original)
    if not s:
        raise ReferenceError_(f"invalid reference {original!r}: missing repository name")
    registry, repo = _split_domain(s)
    if registry != DOCKER_HUB:
        m = _DOMAIN_RE.fullmatch(registry)
        if m is None:
            raise ReferenceError_(f"invalid registry host {registry!r} in {original!r}")
        port = m["port"]
        if port is not None and (len(port) > 5 or not 0 < int(port) <= _MAX_PORT):
            raise ReferenceError_(
                f"invalid registry host {registry!r} in {original!r}: port {port[:10]} is not in 1-{_MAX_PORT}"
            )
    if registry.lower() in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    if not repo:
        raise ReferenceError_(f"invalid reference {original!r}: missing repository name after {registry!r}")
    for component in repo.split("/"):
        if _PATH_COMPONENT_RE.fullmatch(component):
            continue
        if component and _PATH_COMPONENT_RE.fullmatch(component.lower()):
            raise ReferenceError_(f"invalid reference {original!r}: repository name must be lowercase")
        raise ReferenceError_(
            f"invalid repository name {repo!r} in {original!r}: component {component!r} must be lowercase "
            "letters and digits separated by '.', '_', '__' or '-'"
        )
    if len(registry) + 1 + len(repo) > _NAME_MAX:
        raise ReferenceError_(f"invalid reference {original!r}: name longer than {_NAME_MAX} characters")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry=registry, repository=repo, tag=tag, digest=digest)
