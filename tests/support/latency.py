"""A TCP relay on loopback that delays every client-to-server chunk: a registry one round trip away.

Why: on loopback every registry answers in microseconds and the machine's cores are the bottleneck, so
"refs on several hosts are audited in about the time of the slowest" cannot show there. Real
registries are a network round trip away and the client mostly waits. This relay forwards bytes
unchanged (TLS passes through too) and holds each chunk the client sends for ``delay`` seconds, so
every request costs at least one ``delay`` of waiting; answers come back at once. Each relay is its
own host:port, i.e. its own registry host with its own per-host connection limit in the client.

    with LatencyRelay("127.0.0.1", registry.port, delay=0.01) as relay:
        ...audit f"{relay.host}/repo:tag"...

Requests on one connection are never pipelined by the clients measured here, so delaying chunks in
order adds exactly ``delay`` per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

__all__ = ["LatencyRelay"]


class LatencyRelay:
    """Listen on ``127.0.0.1:<ephemeral>`` and relay to ``upstream`` with ``delay`` s per request chunk."""

    def __init__(self, upstream_host: str, upstream_port: int, *, delay: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay
        self.port = 0
        self.connections = 0
        #: (monotonic time, first line) of every chunk a client sent, e.g. ``b"HEAD /v2/... HTTP/1.1"``.
        self.seen: list[tuple[float, bytes]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="latency-relay", daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    if delay:
                        self.seen.append((time.monotonic(), chunk.split(b"\r\n", 1)[0]))
                        await asyncio.sleep(delay)
                    dst.write(chunk)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pump(reader, up_writer, self.delay), pump(up_reader, writer, 0.0))

    def start(self) -> LatencyRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("latency relay did not start")
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> LatencyRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
