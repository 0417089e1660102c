"""OCI platforms as the command line names them (``os/arch[/variant]``): checked and matched.

Shared by ``cache.load`` (``--platform`` picks one image of an index) and ``cache.audit``
(``--require-platform``), and by the CLI, which refuses a malformed value as a usage error before any
work: kept below both so neither imports the other for it.
"""

from __future__ import annotations

from cacheinspect._lazyre import lazy
from cacheinspect.errors import UsageError

__all__ = ["normalize_platform", "platform_matches", "validate_platform"]

#: containerd's platforms.Parse accepts lower-case letters, digits, '_' and '-' in each part.
_PART = lazy(r"^[a-z0-9_-]+$")
#: Operating systems and architectures containerd knows (platforms/database.go); an unknown one is
#: what a typo looks like (`--platform banana`), which BuildKit also refuses.
KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
    ]
)
KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "ppc64",
        "ppc64le",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)


def normalize_platform(p: str) -> list[str]:
    """containerd's normalisation: arm64's default variant is v8, amd64's is v1."""
    parts = p.lower().split("/")
    if parts[1:] in (["arm64", "v8"], ["amd64", "v1"]):
        parts = parts[:2]
    return parts


def platform_matches(want: str, have: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8`` both ways; another variant given in *want* must match."""
    w, h = normalize_platform(want), normalize_platform(have)
    return w == h[: len(w)]


def validate_platform(value: str, flag: str = "--platform") -> str:
    """*value* when it reads as ``os/arch[/variant]`` with a known OS and architecture, else a usage
    error (exit 2) that says the expected form."""
    parts = value.lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts):
        raise UsageError(f"{flag} {value!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8")
    if parts[0] not in KNOWN_OS:
        raise UsageError(f"{flag} {value!r}: unknown operating system {parts[0]!r} (e.g. linux, windows)")
    if parts[1] not in KNOWN_ARCH:
        raise UsageError(f"{flag} {value!r}: unknown architecture {parts[1]!r} (e.g. amd64, arm64)")
    return value
