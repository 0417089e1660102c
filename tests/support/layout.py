"""Replay an OCI image layout into a running registry (and delete blobs to make broken caches).

Why this exists: fixtures are OCI layouts written by real BuildKit (``--cache-to type=local``); tests need
the same bytes served by a real registry. Pushing is deliberately simple and strict: monolithic uploads
(``POST /blobs/uploads/`` then ``PUT <Location>&digest=``), manifests ``PUT`` with the descriptor's media
type as Content-Type, children before parents, every byte sent exactly as stored (so digests match).

BuildKit *cache indexes* list layer and cache-config blobs in ``manifests[]``; a descriptor is therefore
pushed as a manifest only when its media type is a manifest or index type, and as a blob otherwise
(distribution 2.8 accepts such an index because its manifest-existence check also looks at layer links).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import httpx

from .registry import RunningRegistry

__all__ = [
    "FIXTURES_DIR",
    "MANIFEST_MEDIA_TYPES",
    "PushFixture",
    "PushedFixture",
    "TinyLayout",
    "delete_blob",
    "delete_manifest",
    "fetch_blob",
    "fetch_manifest",
    "fixture_names",
    "make_tiny_layout",
    "push_blob",
    "push_layout",
    "push_manifest",
    "push_named_fixture",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = frozenset({OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST})
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME = "org.opencontainers.image.ref.name"
BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"
ACCEPT = ", ".join(sorted(MANIFEST_MEDIA_TYPES))


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check(r: httpx.Response, what: str, *ok: int) -> None:
    if r.status_code not in ok:
        raise RuntimeError(f"{what}: HTTP {r.status_code} {r.text[:500]}")


def _blob_path(layout_dir: Path, digest: str) -> Path:
    alg, _, hexpart = digest.partition(":")
    return layout_dir / "blobs" / alg / hexpart


def push_blob(client: httpx.Client, repo: str, data: bytes, digest: str | None = None) -> str:
    """Monolithic upload of ``data`` (skipped when the registry already has it); returns the digest."""
    digest = digest or _sha256(data)
    if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
        return digest
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    _check(r, f"start upload to {repo}", 202)
    location = r.headers["Location"]
    sep = "&" if "?" in location else "?"
    r = client.put(
        f"{location}{sep}digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check(r, f"finish upload of {digest} to {repo}", 201)
    return digest


def push_manifest(client: httpx.Client, repo: str, reference: str, data: bytes, media_type: str) -> str:
    """``PUT /v2/REPO/manifests/REFERENCE`` with ``media_type`` as Content-Type; returns the digest."""
    r = client.put(f"/v2/{repo}/manifests/{reference}", content=data, headers={"Content-Type": media_type})
    _check(r, f"put manifest {reference} ({media_type}) to {repo}", 201)
    return _sha256(data)


def _sniff_media_type(data: bytes) -> str | None:
    """Media type of a manifest-ish blob whose descriptor did not say (None when it is not JSON)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt in MANIFEST_MEDIA_TYPES:
        return mt
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc and "layers" in doc:
        return OCI_MANIFEST
    return None


class _Pusher:
    def __init__(self, client: httpx.Client, layout_dir: Path, repo: str) -> None:
        self.client = client
        self.layout_dir = layout_dir
        self.repo = repo
        self.done: set[str] = set()

    def read(self, digest: str) -> bytes:
        path = _blob_path(self.layout_dir, digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{digest} is referenced but not in {self.layout_dir}/blobs") from None
        if digest.startswith("sha256:") and _sha256(data) != digest:
            raise ValueError(f"{path} does not hash to {digest}")
        return data

    def descriptor(self, desc: dict[str, Any], reference: str | None = None) -> str:
        digest = str(desc["digest"])
        media_type = desc.get("mediaType")
        data = self.read(digest)
        if media_type is None:
            media_type = _sniff_media_type(data)
        if media_type not in MANIFEST_MEDIA_TYPES:
            if digest not in self.done:
                push_blob(self.client, self.repo, data, digest)
                self.done.add(digest)
            return digest
        if digest in self.done and reference is None:
            return digest
        doc = json.loads(data)
        children: list[dict[str, Any]] = []
        if media_type in INDEX_MEDIA_TYPES:
            children = list(doc.get("manifests") or [])
        else:
            if doc.get("config"):
                children.append(doc["config"])
            children.extend(doc.get("layers") or [])
        for child in children:
            if child.get("urls"):  # foreign layer: lives elsewhere by definition
                continue
            self.descriptor(child)
        push_manifest(self.client, self.repo, reference or digest, data, str(media_type))
        self.done.add(digest)
        return digest


def push_layout(
    reg: RunningRegistry,
    layout_dir: Path,
    repo: str,
    tag: str,
    *,
    ref_name: str | None = None,
    client: httpx.Client | None = None,
) -> str:
    """Push the ``index.json`` entry of ``layout_dir`` (the only one, or the one annotated ``ref_name``)
    and everything under it to ``repo:tag``; returns the root manifest digest.

    ``client`` defaults to ``reg.admin_client()`` (closed afterwards); pass one to push through a proxy.
    """
    layout_dir = Path(layout_dir)
    index = json.loads((layout_dir / "index.json").read_text())
    entries: list[dict[str, Any]] = list(index.get("manifests") or [])
    if ref_name is not None:
        chosen = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) == ref_name]
        if not chosen:
            names = sorted(str((e.get("annotations") or {}).get(REF_NAME)) for e in entries)
            raise ValueError(f"no index.json entry named {ref_name!r} in {layout_dir} (have {names})")
    else:
        chosen = entries
    if len(chosen) != 1:
        names = sorted(str((e.get("annotations") or {}).get(REF_NAME)) for e in entries)
        raise ValueError(f"{layout_dir}/index.json has {len(entries)} entries {names}: pass ref_name=")
    root = chosen[0]
    own = client is None
    c = client or reg.admin_client()
    try:
        pusher = _Pusher(c, layout_dir, repo)
        if (
            root.get("mediaType") not in MANIFEST_MEDIA_TYPES
            and _sniff_media_type(pusher.read(root["digest"])) is None
        ):
            raise ValueError(f"index.json entry {root['digest']} of {layout_dir} is not a manifest or index")
        return pusher.descriptor(root, reference=tag)
    finally:
        if own:
            c.close()


def fetch_manifest(reg: RunningRegistry, repo: str, reference: str) -> httpx.Response:
    """GET a manifest with an Accept header listing OCI and Docker manifest/index types."""
    with reg.admin_client() as c:
        return c.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})


def fetch_blob(reg: RunningRegistry, repo: str, digest: str) -> bytes:
    """The blob's bytes (raises when the registry does not answer 200)."""
    with reg.admin_client() as c:
        r = c.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
        _check(r, f"get blob {digest} from {repo}", 200)
        return r.content


def delete_blob(reg: RunningRegistry, repo: str, digest: str) -> None:
    """Unlink a blob from ``repo`` (202), making caches that reference it broken on purpose."""
    with reg.admin_client() as c:
        _check(c.delete(f"/v2/{repo}/blobs/{digest}"), f"delete blob {digest} from {repo}", 202)


def delete_manifest(reg: RunningRegistry, repo: str, digest: str) -> None:
    """Delete a manifest by digest (202); its tags go with it."""
    with reg.admin_client() as c:
        _check(c.delete(f"/v2/{repo}/manifests/{digest}"), f"delete manifest {digest} from {repo}", 202)


# -- a tiny layout in the BuildKit cache shape, for tests that cannot wait for real fixtures ------------
@dataclass(frozen=True)
class TinyLayout:
    """What :func:`make_tiny_layout` wrote: the layout dir and the digests in it."""

    path: Path
    layer: str
    cache_config: str
    cache_index: str
    image_config: str
    image_manifest: str
    image_index: str
    blobs: dict[str, bytes]


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def make_tiny_layout(path: Path, *, salt: str = "") -> TinyLayout:
    """Write an OCI layout with two ``index.json`` entries.

    * ``cache``: an OCI index whose ``manifests[]`` holds a gzip layer and an
      ``application/vnd.buildkit.cacheconfig.v0`` blob, i.e. what ``--cache-to type=registry`` pushes;
    * ``image``: an OCI index nesting an OCI image manifest (config + the same layer).

    ``salt`` changes the layer content so different tests can push non-overlapping blobs.
    """
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict[str, Any]:
        digest = _sha256(data)
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    uncompressed_files = {"hello.txt": f"hello from cacheinspect{salt}\n".encode()}
    layer = _tar_gz(uncompressed_files)
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(layer)}
    cache_config = json.dumps(
        {
            "layers": [{"blob": layer_desc["digest"], "parent": -1}],
            "records": [
                {"digest": "sha256:" + hashlib.sha256(b"record" + salt.encode()).hexdigest()},
                {
                    "digest": "sha256:" + hashlib.sha256(b"record2" + salt.encode()).hexdigest(),
                    "inputs": [[{"selector": "", "link": 0}]],
                    "results": [{"layer": 0, "createdAt": "2026-11-22T00:00:00Z"}],
                },
            ],
        },
        separators=(",", ":"),
    ).encode()
    cache_config_desc = {"mediaType": BUILDKIT_CACHE_CONFIG, **put(cache_config)}
    cache_layer_desc = {
        **layer_desc,
        "annotations": {
            "buildkit/createdat": "2026-11-22T00:00:00Z",
            "containerd.io/uncompressed": layer_desc["digest"],
        },
    }
    cache_index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [cache_layer_desc, cache_config_desc]}
    ).encode()
    cache_index_desc = {"mediaType": OCI_INDEX, **put(cache_index)}

    image_config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
            "config": {},
        }
    ).encode()
    image_config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", **put(image_config)}
    image_manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": image_config_desc, "layers": [layer_desc]}
    ).encode()
    image_manifest_desc = {
        "mediaType": OCI_MANIFEST,
        **put(image_manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    image_index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image_manifest_desc]}
    ).encode()
    image_index_desc = {"mediaType": OCI_INDEX, **put(image_index)}

    path.mkdir(parents=True, exist_ok=True)
    for digest, data in blobs.items():
        target = _blob_path(path, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {**cache_index_desc, "annotations": {REF_NAME: "cache"}},
                    {**image_index_desc, "annotations": {REF_NAME: "image"}},
                ],
            }
        )
    )
    return TinyLayout(
        path=path,
        layer=layer_desc["digest"],
        cache_config=cache_config_desc["digest"],
        cache_index=cache_index_desc["digest"],
        image_config=image_config_desc["digest"],
        image_manifest=image_manifest_desc["digest"],
        image_index=image_index_desc["digest"],
        blobs=blobs,
    )


# -- named fixtures under fixtures/ at the repo root ------------------------------------------------------
FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures"


class PushedFixture(NamedTuple):
    """Where :func:`push_named_fixture` put a fixture: unpack as ``repo, tag, digest``."""

    repo: str
    tag: str
    digest: str


def push_named_fixture(
    reg: RunningRegistry,
    name: str,
    *,
    repo: str | None = None,
    tag: str = "latest",
    ref_name: str | None = None,
    fixtures_dir: Path | None = None,
    damage: bool = True,
) -> PushedFixture:
    """Push ``fixtures/<name>`` (an OCI layout) to ``repo:tag``.

    ``repo`` defaults to ``fixtures/<name>-<random>`` so tests sharing a session registry never see each
    other's pushes or deletions. When the fixture's ``case.json`` names a ``delete_blob`` (e.g.
    ``damaged-max``), that blob is deleted from the repository after the push unless ``damage=False``:
    the layout stays intact on disk, the registry copy is the broken cache.
    """
    layout_dir = (fixtures_dir or FIXTURES_DIR) / name
    if not (layout_dir / "index.json").is_file():
        raise FileNotFoundError(f"fixture {name!r} not found: {layout_dir}/index.json does not exist")
    repo = repo or f"fixtures/{name.lower()}-{secrets.token_hex(4)}"
    digest = push_layout(reg, layout_dir, repo, tag, ref_name=ref_name)
    case_file = layout_dir / "case.json"
    if damage and case_file.is_file():
        doomed = json.loads(case_file.read_text()).get("delete_blob")
        for blob in [doomed] if isinstance(doomed, str) else list(doomed or []):
            delete_blob(reg, repo, str(blob))
    return PushedFixture(repo, tag, digest)


def fixture_names(fixtures_dir: Path | None = None) -> list[str]:
    """Names of the OCI-layout fixtures present under ``fixtures/`` (sorted)."""
    base = fixtures_dir or FIXTURES_DIR
    return sorted(p.name for p in base.iterdir() if (p / "index.json").is_file()) if base.is_dir() else []


class PushFixture(Protocol):
    """Type of the ``push_fixture`` pytest fixture (see ``tests/conftest.py``)."""

    def __call__(
        self,
        name: str,
        reg: RunningRegistry,
        *,
        repo: str | None = ...,
        tag: str = ...,
        ref_name: str | None = ...,
        damage: bool = ...,
    ) -> PushedFixture: ...
