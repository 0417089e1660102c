"""Response bodies for :class:`~cacheinspect.registry.client.RegistryClient`: streamed with a cap, hashed
as they arrive, decoded (gzip/deflate) piece by piece, and a body cut short told apart from a bad one.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from cacheinspect.errors import (
    IntegrityError,
    SizeLimitError,
)
from cacheinspect.registry.answers import _describe


class _CutShort(IntegrityError):
    """A streamed body broke off: retried like a network error (the sink starts over); when the retries
    run out it surfaces as the :class:`IntegrityError` it is."""


class _Sink:
    """Hash a streamed body (``verify_blob``); ``reset`` starts over for a retried attempt."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.size = 0
        self._h = hashlib.new(algorithm)

    def reset(self) -> None:
        self.size = 0
        self._h = hashlib.new(self.algorithm)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._h.update(chunk)

    def digest(self) -> str:
        return f"{self.algorithm}:{self._h.hexdigest()}"


#: Decoded output is produced in pieces of at most this many bytes, so the cap stops a compression bomb
#: after one piece past it (httpx's decoders inflate a whole network chunk at once: one 1 MiB chunk of a
#: ``gzip, gzip`` body is a gigabyte).
_DECODE_PIECE = 1 << 16
_INFLATE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Inflater:
    """One gzip/deflate layer of a Content-Encoding, inflating in bounded pieces."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.wbits = _INFLATE[coding]
        self.d = zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self.d.decompress(data, _DECODE_PIECE)
            except zlib.error as e:
                if self.coding == "deflate" and not self.started and self.wbits > 0:
                    # "deflate" is raw DEFLATE on some servers (httpx and browsers accept both)
                    self.wbits = -zlib.MAX_WBITS
                    self.d = zlib.decompressobj(self.wbits)
                    continue
                raise httpx.DecodingError(str(e)) from None
            self.started = True
            data = self.d.unconsumed_tail
            if out:
                yield out
            if self.d.eof:
                rest = self.d.unused_data
                if self.wbits > 16 and rest[:2] == b"\x1f\x8b":  # a further gzip member
                    self.d = zlib.decompressobj(self.wbits)
                    data = rest
                    continue
                return  # anything after the stream is ignored, as httpx does
            if not data and len(out) < _DECODE_PIECE:
                return

    def flush(self) -> Iterator[bytes]:
        if not self.started:
            return
        while True:
            out = self.d.decompress(b"", _DECODE_PIECE) if not self.d.eof else b""
            if not out:
                return
            yield out


def _through(stages: list[_Inflater], data: bytes) -> Iterator[bytes]:
    """*data* through every layer in turn, never holding more than one piece per layer."""
    if not stages:
        yield data
        return
    for piece in stages[0].feed(data):
        yield from _through(stages[1:], piece)


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body decoded as its Content-Encoding says, gzip/deflate layers inflated piece by piece so
    that a byte cap on the output stops a bomb before it is in memory; other codings (br, zstd) go
    through httpx's decoders."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    try:
        response.content  # noqa: B018 - read already (an auth flow reads its 401): decoded in memory
        already = True
    except httpx.ResponseNotRead:
        already = False
    if already or (codings and not all(c in _INFLATE for c in codings)):
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    stages = [_Inflater(c) for c in reversed(codings)]  # the last coding applied is undone first
    async for raw in response.aiter_raw():
        for piece in _through(stages, raw):
            yield piece
    for i, st in enumerate(stages):
        for piece in st.flush():
            for out in _through(stages[i + 1 :], piece):
                yield out


async def _stream_into(response: httpx.Response, sink: _Sink, what: str) -> None:
    """Feed the body into *sink*, decoded like :func:`_read_capped` (a Content-Encoding a CDN added is
    not part of the blob); a body cut short raises :class:`_CutShort`, never hashed as if complete."""
    declared = response.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else None
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    sink.reset()
    try:
        async for chunk in _decoded(response):
            sink.update(chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError) as e:
        raise _CutShort(f"{what} was cut short after {sink.size} bytes: {_describe(e, 0)}") from None
    if not encoded and expected is not None and sink.size < expected:
        raise _CutShort(f"{what} was cut short: got {sink.size} of {expected} bytes")


async def _read_capped(response: httpx.Response, cap: int, what: str, *, truncate: bool = False) -> bytes:
    """Read at most *cap* bytes; over it is a :class:`SizeLimitError` (or cut short when ``truncate``)."""
    declared = response.headers.get("content-length")
    expected: int | None = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > cap and not truncate:
        raise SizeLimitError(
            f"{what} is {expected} bytes, over the {cap}-byte cap",
            hint="raise --max-bytes if this content is legitimately that large",
        )
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    chunks: list[bytes] = []
    got = 0
    try:
        # Decoded bytes: the cap counts what we hold in memory, so a gzip bomb stops at the cap too
        # (decoded in bounded pieces: one piece past the cap at most, see _decoded).
        async for chunk in _decoded(response):
            got += len(chunk)
            if got > cap:
                if truncate:
                    chunks.append(chunk[: cap - (got - len(chunk))])
                    break
                raise SizeLimitError(f"{what} is over the {cap}-byte cap (stopped reading at {got} bytes)")
            chunks.append(chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError) as e:
        if truncate:
            return b"".join(chunks)
        raise IntegrityError(f"{what} was cut short after {got} bytes: {_describe(e, 0)}") from None
    if not truncate and not encoded and expected is not None and got < expected:
        raise IntegrityError(f"{what} was cut short: got {got} of {expected} bytes")
    return b"".join(chunks)
