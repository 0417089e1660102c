"""The live daemon: find it the way the docker CLI does, read its version and build-cache records.

Endpoint resolution (docker/cli ``cli/command/cli.go`` / ``context/docker``): ``DOCKER_HOST`` wins
(``unix://`` or ``tcp://``, TLS when ``DOCKER_TLS_VERIFY`` is set, certificates from
``DOCKER_CERT_PATH`` or ``~/.docker``); else ``DOCKER_CONTEXT`` or ``currentContext`` of
``$DOCKER_CONFIG/config.json`` names a context whose endpoint is in
``contexts/meta/<sha256(name)>/meta.json`` (TLS material in ``contexts/tls/<sha256(name)>/docker/``);
else ``unix:///var/run/docker.sock``.

``GET /system/df?type=build-cache`` needs API v1.42 (Docker 23.0: "``GET /system/df`` now accepts
query parameter ``type``", moby ``docs/api/version-history.md``); an older daemon ignores the parameter
and computes every image and volume size, so it is refused with a one-line error instead.

When the socket is local (``unix://``), what the daemon does not say over the API is read where BuildKit
reads it: the peer of the socket (``SO_PEERCRED``) is the daemon process, whose start time
(``/proc/PID/stat``) tells which records it loaded from its metadata DB at start (see
:mod:`cacheinspect.gc.simulate`), whose ``--config-file`` is the daemon.json with its GC policy, and the
free space is ``statfs`` of its BuildKit root (``DockerRootDir/buildkit``) as BuildKit's
``disk.GetDiskStat`` computes it: ``Bsize * Bfree`` (free blocks, root's reserve included), not df's
``Bavail``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cacheinspect.errors import EXIT_REGISTRY, CacheInspectError, UsageError
from cacheinspect.gc.policy import Disk
from cacheinspect.gc.readers import parse_engine_records
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.versions import Semantics, buildkit_of_docker, parse_version

__all__ = ["DaemonError", "DaemonInfo", "Endpoint", "fetch_records", "resolve_endpoint"]

MIN_API_BUILD_CACHE_TYPE = (1, 42)


class DaemonError(CacheInspectError):
    """The Docker daemon is absent, refuses the connection, or cannot answer what we need."""

    exit_code = EXIT_REGISTRY


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the daemon listens and the TLS material to reach it, and which setting chose it."""

    host: str  # as given: unix:///var/run/docker.sock, tcp://1.2.3.4:2376
    origin: str  # "DOCKER_HOST", "context NAME", "default"
    tls_verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    skip_tls_verify: bool = False


def _config_dir(env: dict[str, str]) -> Path:
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME", "~")).expanduser() / ".docker"


def resolve_endpoint(env: dict[str, str] | None = None) -> Endpoint:
    """Where ``docker`` would connect with this environment."""
    env = dict(os.environ) if env is None else env
    cfg = _config_dir(env)
    if env.get("DOCKER_HOST"):
        tls = bool(env.get("DOCKER_TLS_VERIFY"))
        certs = Path(env.get("DOCKER_CERT_PATH") or cfg)
        has = (certs / "ca.pem").exists()
        return Endpoint(
            env["DOCKER_HOST"],
            "DOCKER_HOST",
            tls_verify=tls,
            ca=str(certs / "ca.pem") if (tls or has) and has else None,
            cert=str(certs / "cert.pem") if (certs / "cert.pem").exists() else None,
            key=str(certs / "key.pem") if (certs / "key.pem").exists() else None,
        )
    name = env.get("DOCKER_CONTEXT", "")
    if not name:
        try:
            conf = json.loads((cfg / "config.json").read_text())
            name = conf.get("currentContext", "") if isinstance(conf, dict) else ""
        except (OSError, ValueError):
            name = ""
    if name and name != "default":
        digest = hashlib.sha256(name.encode()).hexdigest()
        meta = cfg / "contexts" / "meta" / digest / "meta.json"
        try:
            doc = json.loads(meta.read_text())
            ep = doc["Endpoints"]["docker"]
            host = ep["Host"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"docker context {name!r} not found or unreadable ({meta})") from None
        tlsdir = cfg / "contexts" / "tls" / digest / "docker"
        return Endpoint(
            host,
            f"context {name}",
            tls_verify=(tlsdir / "ca.pem").exists(),
            ca=str(tlsdir / "ca.pem") if (tlsdir / "ca.pem").exists() else None,
            cert=str(tlsdir / "cert.pem") if (tlsdir / "cert.pem").exists() else None,
            key=str(tlsdir / "key.pem") if (tlsdir / "key.pem").exists() else None,
            skip_tls_verify=bool(ep.get("SkipTLSVerify")),
        )
    return Endpoint("unix:///var/run/docker.sock", "default")


def _client(ep: Endpoint, timeout: float) -> httpx.Client:
    if ep.host.startswith("unix://"):
        path = ep.host[len("unix://") :]
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=path), base_url="http://docker", timeout=timeout
        )
    if ep.host.startswith("tcp://"):
        hostport = ep.host[len("tcp://") :].rstrip("/")
        tls = ep.tls_verify or ep.cert is not None
        scheme = "https" if tls else "http"
        verify: bool | str = False if ep.skip_tls_verify else (ep.ca or True)
        cert = (ep.cert, ep.key) if ep.cert and ep.key else None
        return httpx.Client(base_url=f"{scheme}://{hostport}", verify=verify, cert=cert, timeout=timeout)
    raise UsageError(
        f"unsupported Docker host {ep.host!r} ({ep.origin}): only unix:// and tcp:// are supported"
    )


@dataclass(frozen=True, slots=True)
class LocalDaemon:
    """What the local daemon process tells beyond the API (each ``None`` when it cannot be read)."""

    pid: int | None = None
    started_ns: int | None = None
    config_file: str | None = None
    disk: Disk | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What ``GET /version`` (and ``/info``) said, the semantics it implies, and the local process."""

    endpoint: Endpoint
    version: str
    api_version: str
    semantics: Semantics
    data_root: str = ""
    local: LocalDaemon = field(default_factory=LocalDaemon)


_DAEMONS = ("dockerd", "buildkitd")


def peer_pid(path: str) -> int | None:
    """The pid of the process listening on the unix socket ``path`` (``SO_PEERCRED``), or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
        raw = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = int(struct.unpack("3i", raw)[0])
    except (OSError, AttributeError, struct.error):
        return None
    finally:
        s.close()
    return pid if pid > 0 else None


def process_start_ns(pid: int, proc: str = "/proc") -> int | None:
    """Wall-clock start of ``pid``: ``/proc/PID/stat`` starttime (ticks after boot) + ``btime``."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read(4096).decode("ascii", "replace")
        with open(f"{proc}/stat", "rb") as f:
            btime = next(
                int(ln.split()[1])
                for ln in f.read(1 << 16).decode("ascii", "replace").splitlines()
                if ln.startswith("btime ")
            )
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22; fields after "(comm)" start at 3
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return btime * 1_000_000_000 + ticks * 1_000_000_000 // hz


def _process_comm(pid: int, proc: str = "/proc") -> str:
    try:
        with open(f"{proc}/{pid}/comm", "rb") as f:
            return f.read(256).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def daemon_config_file(pid: int, proc: str = "/proc") -> str | None:
    """dockerd's ``--config-file`` from its command line (default ``/etc/docker/daemon.json``)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "surrogateescape") for a in f.read(1 << 20).split(b"\0") if a]
    except OSError:
        return None
    for i, a in enumerate(argv):
        if a == "--config-file" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config-file="):
            return a.split("=", 1)[1]
    return "/etc/docker/daemon.json"


def buildkit_disk(data_root: str) -> Disk | None:
    """BuildKit's ``disk.GetDiskStat`` of its root: Total = Bsize*Blocks, Free = Bsize*Bfree."""
    for root in (os.path.join(data_root, "buildkit"), data_root):
        try:
            st = os.statvfs(root)
        except (OSError, ValueError):
            continue
        return Disk(st.f_bsize * st.f_blocks, st.f_bsize * st.f_bfree)
    return None


def local_daemon(ep: Endpoint, data_root: str) -> LocalDaemon:
    """Read the daemon process behind a local socket; fields stay None when that is not possible."""
    if not ep.host.startswith("unix://"):
        return LocalDaemon(notes=("the daemon is remote: its start time, disk and daemon.json are not read",))
    notes: list[str] = []
    disk = buildkit_disk(data_root) if data_root else None
    if disk is None:
        notes.append(f"cannot statfs the daemon's data root {data_root!r}: give --disk-size/--disk-free")
    pid = peer_pid(ep.host[len("unix://") :])
    comm = _process_comm(pid) if pid else ""
    if pid is None or comm not in _DAEMONS:
        notes.append(
            "the socket's peer is not a dockerd/buildkitd process"
            + (f" ({comm or 'unknown'}, pid {pid})" if pid else "")
            + ": its start time and daemon.json are unknown"
        )
        return LocalDaemon(disk=disk, notes=tuple(notes))
    return LocalDaemon(pid, process_start_ns(pid), daemon_config_file(pid), disk, tuple(notes))


def _get(c: httpx.Client, ep: Endpoint, path: str) -> Any:
    try:
        resp = c.get(path)
    except httpx.ConnectError as e:
        cause = str(e.__cause__ or e)
        low = cause.lower()
        if "no such file" in low or "not found" in low:
            what = "no socket there"
        elif "refused" in low:
            what = "connection refused"
        else:
            what = cause.splitlines()[0] if cause else type(e).__name__
        raise DaemonError(
            f"cannot connect to the Docker daemon at {ep.host} ({ep.origin}): {what}",
            hint="is dockerd running? set DOCKER_HOST or read a dump file instead (cacheinspect du FILE)",
        ) from None
    except httpx.HTTPError as e:
        raise DaemonError(f"Docker daemon at {ep.host}: {type(e).__name__}: {e}") from None
    if resp.status_code != 200:
        msg = resp.text.strip()
        with contextlib.suppress(ValueError, AttributeError):
            msg = json.loads(msg).get("message", msg)
        raise DaemonError(f"Docker daemon at {ep.host}: GET {path}: HTTP {resp.status_code}: {msg[:200]}")
    try:
        return resp.json()
    except ValueError:
        raise DaemonError(f"Docker daemon at {ep.host}: GET {path}: not JSON") from None


def _probe_unix(ep: Endpoint) -> None:
    """Connect once with a plain socket: precise errors, and no socket left open by a failed connect
    (httpcore's unix-socket connect does not close the socket it created when ``connect`` fails)."""
    path = ep.host[len("unix://") :]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
    except FileNotFoundError:
        what = "no socket there"
    except ConnectionRefusedError:
        what = "connection refused"
    except PermissionError:
        what = "permission denied"
    except OSError as e:
        what = e.strerror or str(e)
    else:
        return
    finally:
        s.close()
    raise DaemonError(
        f"cannot connect to the Docker daemon at {ep.host} ({ep.origin}): {what}",
        hint="is dockerd running? set DOCKER_HOST or read a dump file instead (cacheinspect du FILE)",
    )


def fetch_records(
    env: dict[str, str] | None = None, *, timeout: float = 120.0, local: bool = False
) -> tuple[DaemonInfo, list[CacheRecord]]:
    """``GET /version`` then ``GET /v<api>/system/df?type=build-cache``; ``local``: also ``GET /info``
    and read the daemon process (:func:`local_daemon`)."""
    ep = resolve_endpoint(env)
    if ep.host.startswith("unix://"):
        _probe_unix(ep)
    with _client(ep, timeout) as c:
        ver = _get(c, ep, "/version")
        if not isinstance(ver, dict):
            raise DaemonError(f"Docker daemon at {ep.host}: unexpected /version answer")
        api = str(ver.get("ApiVersion", "0"))
        version = str(ver.get("Version", "0"))
        try:
            api_t = tuple(int(x) for x in api.split(".")[:2])
        except ValueError:
            api_t = (0, 0)
        if api_t < MIN_API_BUILD_CACHE_TYPE:
            raise DaemonError(
                f"Docker daemon at {ep.host} speaks API {api} (Docker {version}): "
                "GET /system/df?type=build-cache needs API 1.42 (Docker 23.0) or newer",
                hint="on that host run `docker system df -v --format json > df.json` and pass df.json",
            )
        doc = _get(c, ep, f"/v{api}/system/df?type=build-cache")
        info = _get(c, ep, f"/v{api}/info") if local else {}
    dv = parse_version(version, what="daemon version")
    sem = Semantics(buildkit_of_docker(dv), dv)
    root = info.get("DockerRootDir", "") if isinstance(info, dict) else ""
    root = root if isinstance(root, str) else ""
    loc = local_daemon(ep, root) if local else LocalDaemon()
    recs = parse_engine_records(doc, source=f"{ep.host} /system/df")
    return DaemonInfo(ep, version, api, sem, root, loc), recs
