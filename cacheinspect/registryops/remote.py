"""The I/O edge of ``registry probe|ls|prune``: tag listing, manifest walks, pushes and deletes.

Everything goes through :class:`~cacheinspect.registry.client.RegistryClient` (its auth, TLS, retries,
redirect rules, size caps, per-host concurrency); blob uploads reuse :mod:`cacheinspect.registry.push`.
Manifest PUTs and DELETEs use ``request(check=False)`` so the registry's own answer (status, error codes,
messages) is reported as it came, not folded into an exception.

Registry answers are hostile input: tag lists are paginated with a cap on tags and pages, a ``Link``
that points elsewhere or loops is an error, tag names that are not tags are skipped and counted, and
every body goes through the client's size cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cacheinspect import digest as digestmod
from cacheinspect.errors import (
    CacheInspectError,
    IntegrityError,
    MalformedContentError,
    NotFoundError,
    RegistryError,
    SizeLimitError,
)
from cacheinspect.oci import INDEX_TYPES, MT_BUILDKIT_CACHE_CONFIG, Manifest, decode, detect_manifest_type
from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.push import fallback_tag, list_referrers, push_artifact, push_blob
from cacheinspect.registry.reference import Reference
from cacheinspect.registry.source import RegistrySource
from cacheinspect.registryops.inventory import PlanEntry, TagInfo, protecting_tags
from cacheinspect.registryops.shapes import ProbeCache, build_probe_caches
from cacheinspect.sources.base import Fetched, SourceKind

__all__ = [
    "MAX_TAGS",
    "Answer",
    "DeleteResult",
    "ProbeResult",
    "ReadOnlyResult",
    "ShapeResult",
    "TagList",
    "delete_manifest",
    "execute_prune",
    "list_tags",
    "probe_deletes",
    "probe_read_only",
    "probe_registry",
    "read_tags",
]

#: Tags read from one repository before giving up (a hostile registry can paginate forever).
MAX_TAGS = 1_000_000
#: Pages of a tag listing before giving up.
MAX_PAGES = 100_000
PAGE_SIZE = 1000
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_LINK_RE = re.compile(r"<(?P<url>[^>]{1,4096})>\s*;(?P<params>[^,]*)")
_ARTIFACT_TYPE = "application/vnd.cacheinspect.probe.v1+json"
T = TypeVar("T")


# -- answers ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answer:
    """A registry's answer to one request: status and the spec's error list (``code``/``message``/
    ``detail``), kept verbatim (escaped only when rendered)."""

    status: int | None
    errors: tuple[tuple[str, str, str], ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, status: int, body: bytes) -> Answer:
        errors: list[tuple[str, str, str]] = []
        try:
            data = json.loads(body) if body else None
        except (ValueError, RecursionError):
            data = None
        items = data.get("errors") if isinstance(data, dict) else None
        if isinstance(items, list):
            for e in items[:8]:
                if isinstance(e, dict):
                    detail = e.get("detail")
                    d = (
                        ""
                        if detail in (None, "", {}, [])
                        else (detail if isinstance(detail, str) else _dump(detail))
                    )
                    errors.append((str(e.get("code", ""))[:200], str(e.get("message", ""))[:2000], d[:2000]))
        text = "" if errors or not body else body[:500].decode(errors="replace").strip()
        return cls(status, tuple(errors), text)

    @classmethod
    def from_error(cls, e: CacheInspectError) -> Answer:
        m = re.search(r"HTTP (\d{3})", e.message)
        return cls(int(m.group(1)) if m else None, (), e.message)

    def summary(self) -> str:
        parts = [f"HTTP {self.status}" if self.status is not None else "no HTTP answer"]
        for code, msg, detail in self.errors:
            parts.append(
                " ".join(x for x in (f"{code}:" if code else "", msg, f"({detail})" if detail else "") if x)
            )
        if self.text:
            parts.append(self.text)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "errors": [{"code": c, "message": m, "detail": d} for c, m, d in self.errors],
            "text": self.text or None,
        }


def _dump(obj: Any) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(obj)


# -- tags ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class TagList:
    tags: list[str]
    pages: int
    invalid: int


def _next_link(header: str, what: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), or None; garbage is an error."""
    found = False
    for m in _LINK_RE.finditer(header):
        found = True
        params = m.group("params").replace(" ", "").lower()
        if 'rel="next"' in params or "rel=next" in params:
            return m.group("url").strip()
    if not found:
        shown = header[:200].encode("ascii", "backslashreplace").decode()
        raise RegistryError(f"{what}: the registry sent an unusable Link header {shown!r}")
    return None


async def list_tags(
    client: RegistryClient,
    ref: Reference,
    *,
    page_size: int = PAGE_SIZE,
    max_tags: int = MAX_TAGS,
    max_pages: int = MAX_PAGES,
) -> TagList:
    """Every tag of the repository: ``n``/``last`` pagination following ``Link: <…>; rel="next"``
    (distribution-spec "Listing Tags"); without a Link, a full page is followed by ``last=<its last
    tag>`` (registries that page without Link headers); a page with nothing new ends the walk."""
    what = f"tags of {ref.name}"
    base = f"/v2/{ref.repository}/tags/list"
    target: str | None = f"{base}?n={page_size}"
    seen_targets: set[str] = set()
    tags: list[str] = []
    known: set[str] = set()
    invalid = pages = 0
    while target is not None:
        if target in seen_targets:
            raise RegistryError(f"{what}: the registry's pagination loops (it sent {target[:200]!r} twice)")
        seen_targets.add(target)
        pages += 1
        if pages > max_pages:
            raise SizeLimitError(f"{what}: more than {max_pages} pages of tags; giving up")
        _, headers, body = await client.request(ref, "GET", target, want_body=True, what=what)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise MalformedContentError(f"{what}: the tag list is not JSON") from None
        if not isinstance(data, dict):
            raise MalformedContentError(f"{what}: the tag list is not a JSON object")
        page = data.get("tags")
        if page is None:
            page = []
        if not isinstance(page, list):
            raise MalformedContentError(f"{what}: 'tags' is not a list")
        new = 0
        for t in page:
            if not isinstance(t, str) or _TAG_RE.fullmatch(t) is None:
                invalid += 1
                continue
            if t not in known:
                known.add(t)
                tags.append(t)
                new += 1
                if len(tags) > max_tags:
                    raise SizeLimitError(f"{what}: more than {max_tags} tags; giving up")
        link = headers.get("link")
        if link:
            nxt = _next_link(link, what)
            if nxt is not None and not (nxt.startswith("/") or "://" in nxt):
                nxt = urllib.parse.urljoin(base, nxt)
            if nxt is not None and "://" not in nxt and not nxt.startswith(base):
                raise RegistryError(f"{what}: the Link header points outside the tag list ({nxt[:200]!r})")
            if nxt is not None and not new and nxt not in seen_targets:
                # Fresh links over the same tags would run to the page cap; a partial listing is no
                # answer either (prune must see every tag), so this is an error, not an end.
                raise RegistryError(
                    f"{what}: page {pages} of the tag list brings no new tag but links to a next page"
                )
            target = nxt
        elif page and new and len(page) >= page_size:
            last = next((t for t in reversed(page) if isinstance(t, str) and _TAG_RE.fullmatch(t)), None)
            target = f"{base}?n={page_size}&last={urllib.parse.quote(last, safe='')}" if last else None
        else:
            target = None
        if page and not new and target is not None and not link:
            target = None
    return TagList(tags, pages, invalid)


async def _bounded(items: Iterable[T], limit: int, fn: Callable[[T], Awaitable[Any]]) -> None:
    """Run *fn* over *items* with at most *limit* in flight (workers share one iterator)."""
    it = iter(items)

    async def worker() -> None:
        for x in it:
            await fn(x)

    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, limit)):
            tg.create_task(worker())


def _first_error(eg: BaseExceptionGroup[Any]) -> BaseException:
    first: BaseException = eg
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


# -- reading a tag ---------------------------------------------------------------------------------------
class _Memo:
    """By-digest fetches shared between the tags of one run (content-addressed, so reuse is exact),
    up to ``cap`` bytes held."""

    def __init__(self, cap: int = 64 << 20) -> None:
        self.cap = cap
        self.held = 0
        self.manifests: dict[str, Fetched] = {}
        self.blobs: dict[str, bytes] = {}

    def _room(self, n: int) -> bool:
        if self.held + n > self.cap:
            return False
        self.held += n
        return True

    async def manifest(self, client: RegistryClient, ref: Reference, digest: str) -> Fetched:
        got = self.manifests.get(digest)
        if got is None:
            got = await client.fetch_manifest(ref, digest)
            if self._room(len(got.data)):
                self.manifests[digest] = got
        return got

    async def blob(self, client: RegistryClient, ref: Reference, digest: str, max_bytes: int | None) -> bytes:
        got = self.blobs.get(digest)
        if got is None:
            got = await client.fetch_blob(ref, digest, max_bytes=max_bytes)
            if self._room(len(got)):
                self.blobs[digest] = got
        elif max_bytes is not None and len(got) > max_bytes:
            got = await client.fetch_blob(ref, digest, max_bytes=max_bytes)  # let the client refuse it
        return got


class _Prefetched:
    """A registry source whose own manifest was already fetched, with by-digest reads through a memo."""

    kind: SourceKind = "registry"

    def __init__(self, inner: RegistrySource, root: Fetched, memo: _Memo) -> None:
        self.inner = inner
        self.display = inner.display
        self.root = root
        self.memo = memo

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        if reference is None:
            return self.root
        if ":" in reference:
            return await self.memo.manifest(self.inner.client, self.inner.ref, reference)
        return await self.inner.fetch_manifest(reference)

    async def fetch_blob(self, digest: str, *, max_bytes: int | None = None) -> bytes:
        return await self.memo.blob(self.inner.client, self.inner.ref, digest, max_bytes)

    async def blobs_exist(
        self, digests: Iterable[str], *, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, bool]:
        return await self.inner.blobs_exist(digests, progress=progress)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def read_tag(client: RegistryClient, ref: Reference, tag: str, memo: _Memo | None = None) -> TagInfo:
    """What the tag holds (every blob with its size) and, for caches, shape, records and newest time.

    The manifest is fetched once (the cache loader gets it handed over); configs and child manifests,
    fetched by digest and so content-addressed, are shared through *memo* between the tags of one run.
    """
    from cacheinspect.cache.graph import build_graph
    from cacheinspect.cache.load import NoInlineCacheError, NotACacheError, load_cache

    memo = memo if memo is not None else _Memo()
    fetched = await client.fetch_manifest(ref, tag)
    info = TagInfo(tag, fetched.digest, fetched.media_type, "unknown")
    m = decode(fetched.data, Manifest, what=f"manifest {ref.name}:{tag}")
    detected = detect_manifest_type(fetched.data, what=f"manifest {ref.name}:{tag}")
    if detected in INDEX_TYPES:
        children = m.manifests or []
        if any(d.mediaType == MT_BUILDKIT_CACHE_CONFIG for d in children):
            for d in children:
                info.blobs[d.digest] = d.size
                if d.mediaType != MT_BUILDKIT_CACHE_CONFIG:
                    info.layers.add(d.digest)
        else:
            for d in children:
                info.children.add(d.digest)
                try:
                    child = await memo.manifest(client, ref, d.digest)
                except NotFoundError:
                    continue
                cm = decode(child.data, Manifest, what=f"manifest {digestmod.short(d.digest)}")
                if cm.config is not None:
                    info.blobs[cm.config.digest] = cm.config.size
                for lay in cm.layers or []:
                    info.blobs[lay.digest] = lay.size
                    info.layers.add(lay.digest)
    else:
        if m.config is not None:
            info.blobs[m.config.digest] = m.config.size
        for lay in m.layers or []:
            info.blobs[lay.digest] = lay.size
            info.layers.add(lay.digest)
    is_artifact = bool(m.artifactType) or (
        m.config is not None and m.config.mediaType.startswith("application/vnd.oci.empty")
    )
    if is_artifact or tag.startswith("sha256-"):
        info.shape = "artifact"
        return info
    try:
        source = _Prefetched(RegistrySource(ref.with_reference(tag), client=client), fetched, memo)
        loaded = await load_cache(source)
    except (NoInlineCacheError, NotACacheError):
        info.shape = "image"
        return info
    info.shape = loaded.shape
    info.records = len(loaded.config.records or ())
    _, info.newest = build_graph(loaded).times()
    return info


async def read_tags(
    client: RegistryClient,
    ref: Reference,
    tags: list[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[TagInfo]:
    """:func:`read_tag` for every tag, ``concurrency`` at a time; a tag that cannot be read is kept with
    its error (shape "unknown") so its bytes are not silently counted as unique to others."""
    out: dict[str, TagInfo] = {}
    memo = _Memo()

    async def one(tag: str) -> None:
        try:
            out[tag] = await read_tag(client, ref, tag, memo)
        except NotFoundError as e:
            # Deleted while we listed: gone. A tag that is still there but names a missing config or
            # child is not gone: it is listed as unreadable (and so still holds its manifest).
            if await _tag_digest_quiet(client, ref, tag) is not None:
                out[tag] = TagInfo(tag, "", "", "unknown", error=e.message)
        except (IntegrityError, RegistryError) as e:
            out[tag] = TagInfo(tag, "", "", "unknown", error=e.message)
        if progress is not None:
            progress(len(out), len(tags))

    try:
        await _bounded(tags, client.options.concurrency, one)
    except BaseExceptionGroup as eg:
        raise _first_error(eg) from None
    return [out[t] for t in tags if t in out]


# -- deletes ---------------------------------------------------------------------------------------------
async def delete_manifest(client: RegistryClient, ref: Reference, reference: str) -> Answer:
    status, _, body = await client.request(
        ref,
        "DELETE",
        f"/v2/{ref.repository}/manifests/{reference}",
        want_body=True,
        what=f"delete of {reference}",
        check=False,
    )
    return Answer.parse(status, body)


async def probe_deletes(client: RegistryClient, ref: Reference) -> tuple[bool, Answer]:
    """Are manifest deletes allowed? DELETE of a digest that cannot exist: 404 (allowed, nothing there)
    versus 405 ``UNSUPPORTED`` (distribution with ``storage.delete.enabled: false``) or 401/403."""
    absent = "sha256:" + secrets.token_hex(32)
    ans = await delete_manifest(client, ref, absent)
    codes = {c for c, _, _ in ans.errors}
    allowed = ans.status in (200, 202, 404) and "UNSUPPORTED" not in codes
    return allowed, ans


def _no_deletes(ref: Reference, ans: Answer) -> str:
    """How to say that deletes are refused: by the registry, or for these credentials."""
    if ans.status in (401, 403):
        return f"{ref.registry} does not let these credentials delete manifests in {ref.repository} ({ans.summary()})"
    return f"{ref.registry} refuses manifest deletes in {ref.repository} ({ans.summary()})"


async def _tag_digest(client: RegistryClient, ref: Reference, tag: str) -> str | None:
    try:
        return (await client.fetch_manifest(ref, tag)).digest
    except NotFoundError:
        return None


async def _remove(client: RegistryClient, ref: Reference, tag: str, digest: str) -> tuple[bool, Answer]:
    """Delete *digest*; when *tag* still resolves to it afterwards (registries that keep tags apart from
    digests, e.g. go-containerregistry's), delete the tag too. True when the tag is gone."""
    ans = await delete_manifest(client, ref, digest)
    if ans.status not in (200, 202, 404):
        return False, ans
    if await _tag_digest(client, ref, tag) == digest:
        ans = await delete_manifest(client, ref, tag)
        if ans.status not in (200, 202, 404) or await _tag_digest(client, ref, tag) == digest:
            return False, ans
    return True, ans


@dataclass(slots=True)
class DeleteResult:
    tag: str
    digest: str
    deleted: bool
    answer: Answer | None
    skipped: str | None = None


async def _protected_now(
    client: RegistryClient, ref: Reference, deletes: list[PlanEntry], seen: Mapping[str, str]
) -> dict[str, str]:
    """Manifest digests that tags not planned for deletion point at (or name as children) *now*.

    The plan was made from a listing that may be minutes old: a tag put on a planned digest since
    (``crane tag``, ``imagetools create``, a CI retag), or an index made over it, would go with the
    DELETE. So the tags are listed again and each not-deleted tag resolved; a tag that is new or moved
    is read in full for its child manifests. (*seen*: tag -> digest as the plan read them.)
    """
    planned = {e.tag for e in deletes}
    listing = await list_tags(client, ref)
    kept = [t for t in listing.tags if t not in planned]
    now: dict[str, TagInfo] = {}
    memo = _Memo()

    async def one(tag: str) -> None:
        digest = await _tag_digest(client, ref, tag)
        if digest is None:
            return
        if seen.get(tag) == digest:
            now[tag] = TagInfo(tag, digest, "", "unchanged")  # children as planned (content-addressed)
            return
        try:
            now[tag] = await read_tag(client, ref, tag, memo)
        except (NotFoundError, IntegrityError, RegistryError) as e:  # children unknown: stop
            raise RegistryError(
                f"tag {tag} appeared or moved since the plan and cannot be read ({e.message}); "
                "nothing was deleted"
            ) from None

    try:
        await _bounded(kept, client.options.concurrency, one)
    except BaseExceptionGroup as eg:
        raise _first_error(eg) from None
    return protecting_tags(now.values())


async def execute_prune(
    client: RegistryClient,
    ref: Reference,
    deletes: list[PlanEntry],
    seen: Mapping[str, str] | None = None,
) -> list[DeleteResult]:
    """Delete the planned manifests by digest, each only if its tag still points where the plan saw it
    and no tag outside the plan points at that digest or names it as a child now.

    *seen* (tag -> digest of every tag the plan read) lets unchanged tags skip a re-read; without it
    every tag outside the plan is read again. Registries have no conditional DELETE, so a tag put on a
    digest in the moment between this check and the DELETE can still go with it: that window is one
    request long instead of the whole run.
    """
    out: list[DeleteResult] = []
    allowed, ans = await probe_deletes(client, ref)
    if not allowed:
        raise RegistryError(
            f"{_no_deletes(ref, ans)}; nothing was deleted",
            hint="enable deletes on the registry (distribution: storage.delete.enabled) or delete with its own tools",
        )
    protected = await _protected_now(client, ref, deletes, seen or {})
    gone: dict[str, Answer] = {}  # digests this run deleted, with the registry's answer
    for e in deletes:
        if e.digest in protected:
            out.append(DeleteResult(e.tag, e.digest, False, None, f"since the plan: {protected[e.digest]}"))
            continue
        now = await _tag_digest(client, ref, e.tag)
        if now is None and e.digest in gone:  # went with an earlier tag on the same manifest
            out.append(DeleteResult(e.tag, e.digest, True, gone[e.digest]))
            continue
        if now != e.digest:
            out.append(DeleteResult(e.tag, e.digest, False, None, "the tag moved since it was planned"))
            continue
        ok, ans = await _remove(client, ref, e.tag, e.digest)
        if ok:
            gone[e.digest] = ans
        out.append(DeleteResult(e.tag, e.digest, ok, ans))
    return out


# -- probe -----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ShapeResult:
    shape: str
    tag: str
    attrs: str
    accepted: bool = False
    #: Where it failed: "blob upload", "manifest PUT", "read back".
    failed_at: str | None = None
    answer: Answer | None = None
    readback: list[str] = field(default_factory=list)
    removed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "tag": self.tag,
            "cache_to": self.attrs or None,
            "accepted": self.accepted,
            "failed_at": self.failed_at,
            "answer": self.answer.to_json() if self.answer else None,
            "read_back": self.readback,
            "removed": self.removed,
        }


@dataclass(slots=True)
class ProbeResult:
    ref: str
    shapes: list[ShapeResult]
    deletes_allowed: bool
    delete_answer: Answer
    referrers: str  # "api", "tag-fallback", "none", "refused"
    referrer_answer: Answer | None
    left_behind: list[str]


async def _put_manifest(client: RegistryClient, ref: Reference, cache: ProbeCache) -> Answer:
    status, headers, body = await client.request(
        ref,
        "PUT",
        f"/v2/{ref.repository}/manifests/{cache.tag}",
        headers={"Content-Type": cache.media_type},
        content=cache.manifest,
        want_body=True,
        what=f"manifest {cache.tag}",
        check=False,
    )
    ans = Answer.parse(status, body)
    claimed = headers.get("docker-content-digest")
    if status in (200, 201) and claimed and claimed != cache.digest:
        return Answer(status, (), f"the registry stored the manifest as {claimed}, not {cache.digest}")
    return ans


async def _read_back(client: RegistryClient, ref: Reference, cache: ProbeCache) -> list[str]:
    """Problems reading the shape back the way BuildKit's importer does: manifest, config, every blob."""
    problems: list[str] = []
    try:
        got = await client.fetch_manifest(ref, cache.tag)
        if got.digest != cache.digest:
            problems.append(f"the tag reads back as {got.digest}, not the manifest pushed ({cache.digest})")
    except CacheInspectError as e:
        return [f"manifest: {e.message}"]
    for blob in cache.blobs:
        try:
            if blob.digest == cache.config_digest:
                await client.fetch_blob(ref, blob.digest)
            elif not await client.blob_exists(ref, blob.digest):
                problems.append(f"blob {digestmod.short(blob.digest)}: HEAD answered 404")
        except CacheInspectError as e:
            problems.append(f"blob {digestmod.short(blob.digest)}: {e.message}")
    return problems


async def probe_registry(
    client: RegistryClient,
    ref: Reference,
    *,
    leave_scratch: bool = False,
    nonce: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ProbeResult:
    """Push every probe shape and a referrer under scratch tags, read them back, delete them again.

    Deletes are checked first (a DELETE of a digest that cannot exist); where they are refused the
    probe writes nothing unless *leave_scratch*. Every manifest digest is recorded before its PUT is
    sent, and the ``finally`` deletes every one of them whatever happened in between, so a probe that
    fails half-way (or is interrupted) leaves no scratch tag where deletes work.
    """
    nonce = nonce or secrets.token_hex(6)
    caches = build_probe_caches(nonce)
    allowed, delete_answer = await probe_deletes(client, ref)
    if not allowed and not leave_scratch:
        raise RegistryError(
            f"{_no_deletes(ref, delete_answer)}: the "
            f"probe would leave up to {len(caches) + 2} scratch manifests behind; nothing was written",
            hint="pass --leave-scratch to probe anyway, or --read-only REF to check an existing cache",
        )
    results: list[ShapeResult] = []
    written: list[tuple[str, str]] = []  # (tag, digest) in push order
    referrers, referrer_answer = "none", None
    try:
        for cache in caches:
            r = ShapeResult(cache.shape, cache.tag, cache.attrs)
            results.append(r)
            if log:
                log(f"probing {cache.shape}")
            try:
                for blob in cache.blobs:
                    await push_blob(client, ref, blob.data, blob.media_type)
            except CacheInspectError as e:
                r.failed_at, r.answer = "blob upload", Answer.from_error(e)
                continue
            written.append((cache.tag, cache.digest))
            try:
                r.answer = await _put_manifest(client, ref, cache)
            except CacheInspectError as e:  # no usable answer at all (timeouts, connection drops)
                r.failed_at, r.answer = "manifest PUT", Answer.from_error(e)
                continue
            if r.answer.status not in (200, 201):
                r.failed_at = "manifest PUT"
                continue
            r.readback = await _read_back(client, ref, cache)
            r.accepted = not r.readback
            if r.readback:
                r.failed_at = "read back"
        subject = next((c for c in caches if c.shape == "image-manifest"), None)
        first = next((r for r in results if r.shape == "image-manifest"), None)
        if subject is not None and first is not None and first.accepted:
            referrers, referrer_answer = await _probe_referrer(client, ref, subject, written)
    finally:
        left: list[str] = []
        if allowed:
            for tag, dig in reversed(written):
                if tag.startswith("@"):  # the untagged referrer artifact: by digest only
                    with contextlib.suppress(CacheInspectError):
                        await delete_manifest(client, ref, dig)
                    continue
                try:
                    gone, _ = await _remove(client, ref, tag, dig)
                except CacheInspectError:
                    gone = False
                if not gone and await _tag_digest_quiet(client, ref, tag) is not None:
                    left.append(tag)
                for r in results:
                    if r.tag == tag:
                        r.removed = gone
        else:
            # Only what the registry really kept: a refused PUT left nothing to report.
            for tag, _ in written:
                if not tag.startswith("@") and await _tag_digest_quiet(client, ref, tag) is not None:
                    left.append(tag)
    return ProbeResult(ref.name, results, allowed, delete_answer, referrers, referrer_answer, left)


async def _tag_digest_quiet(client: RegistryClient, ref: Reference, tag: str) -> str | None:
    try:
        return await _tag_digest(client, ref, tag)
    except CacheInspectError:
        return tag  # unknown: say it may be left


async def _probe_referrer(
    client: RegistryClient, ref: Reference, subject: ProbeCache, written: list[tuple[str, str]]
) -> tuple[str, Answer | None]:
    """Push an OCI 1.1 artifact whose subject is the image-manifest probe; which way can it be found?"""
    desc = {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.manifest)}
    ftag = fallback_tag(subject.digest)
    try:
        pushed = await push_artifact(
            client,
            ref,
            artifact_type=_ARTIFACT_TYPE,
            payload=b'{"probe":true}',
            payload_media_type="application/json",
            subject=desc,
        )
    except CacheInspectError as e:
        fb = await _tag_digest_quiet(client, ref, ftag)
        if fb is not None and fb != ftag:
            written.append((ftag, fb))
        return "refused", Answer.from_error(e)
    written.append((f"@{pushed.digest}", pushed.digest))
    if pushed.fallback_tag is not None:
        fb = await _tag_digest_quiet(client, ref, pushed.fallback_tag)
        if fb is not None and fb != pushed.fallback_tag:
            written.append((pushed.fallback_tag, fb))
    # Ask the API directly: 200 with an index listing the artifact means the registry has it.
    status, _headers, body = await client.request(
        ref,
        "GET",
        f"/v2/{ref.repository}/referrers/{subject.digest}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        want_body=True,
        what="referrers API",
        check=False,
    )
    if status == 200:
        try:
            listed = json.loads(body).get("manifests") or []
        except (ValueError, AttributeError, RecursionError):
            listed = []
        if any(isinstance(d, dict) and d.get("digest") == pushed.digest for d in listed):
            return "api", Answer(status)
    found = await list_referrers(client, ref, subject.digest, _ARTIFACT_TYPE)
    if any(d.get("digest") == pushed.digest for d in found):
        return "tag-fallback", Answer.parse(status, body)
    return "none", Answer.parse(status, body)


# -- read-only -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ReadOnlyResult:
    ref: str
    digest: str
    shape: str
    records: int | None
    blobs: int
    problems: list[str]
    referrers: str  # "api" | "no-api" | "unknown"
    referrer_answer: Answer | None


async def probe_read_only(client: RegistryClient, ref: Reference) -> ReadOnlyResult:
    """Check an existing cache without writing: manifest, shape, config, HEAD of every blob, and whether
    the registry answers the referrers API."""
    info = await read_tag(client, ref, ref.reference)
    problems: list[str] = []
    if not info.is_cache:
        problems.append(f"{ref} is not a BuildKit cache (it is an {info.shape})")
    layers = sorted(info.layers)
    exists = await client.blobs_exist(ref, layers) if layers else {}
    problems += [f"blob {digestmod.short(d)}: HEAD answered 404" for d, ok in exists.items() if not ok]
    status, _, body = await client.request(
        ref,
        "GET",
        f"/v2/{ref.repository}/referrers/{info.digest}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        want_body=True,
        what="referrers API",
        check=False,
    )
    referrers = "api" if status == 200 else ("no-api" if status in (400, 404, 405) else "unknown")
    return ReadOnlyResult(
        str(ref),
        info.digest,
        info.shape,
        info.records,
        len(info.blobs),
        problems,
        referrers,
        Answer.parse(status, body),
    )
