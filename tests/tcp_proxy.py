"""A TCP proxy a test puts between the service and a database server, to cut it off.

The shared database servers of the machine are never stopped: an outage is simulated by
the proxy alone. It listens on 127.0.0.1 (a free port) and forwards every connection to
``upstream``. A test can

- ``drop_connections()``: abort every connection open now (both sides see a reset, as when
  a server restarts or a network path breaks);
- ``refuse()``: answer new connections by closing them at once (the client sees the server
  hang up during its handshake), or with ``stop_listening=True`` stop listening so connects
  are refused outright (ECONNREFUSED);
- ``resume()``: forward new connections again (listening again on the same port).

``outage()`` is the usual combination as a context manager: drop and refuse on entry,
resume on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1"):
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self.port = 0
        self.refusing = False
        self.connections_accepted = 0
        self.connections_refused = 0
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        # The socket is bound once and kept: listening again after stop_listening reuses
        # the same port, so the database URL the service holds stays valid.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.setblocking(False)
        self._socket = listener
        self.port = listener.getsockname()[1]
        await self._listen()
        return self

    async def _listen(self) -> None:
        assert self._socket is not None
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, sock=self._socket)

    async def _stop_listening(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            # The server closed the bound socket: bind a new one on the same port.
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.setblocking(False)
            self._socket = listener

    async def close(self) -> None:
        await self._stop_listening()
        self.drop_connections()
        if self._pipes:
            await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def drop_connections(self) -> int:
        """Abort every open connection (client and upstream side); returns how many."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        return len(writers) // 2

    async def refuse(self, *, stop_listening: bool = False) -> None:
        """From now on new connections fail until ``resume()``."""
        self.refusing = True
        if stop_listening:
            await self._stop_listening()

    async def resume(self) -> None:
        self.refusing = False
        await self._listen()

    @contextlib.asynccontextmanager
    async def outage(self, *, stop_listening: bool = False) -> AsyncIterator[TcpProxy]:
        """The database is gone inside the block: open connections dropped, new ones fail."""
        await self.refuse(stop_listening=stop_listening)
        self.drop_connections()
        try:
            yield self
        finally:
            await self.resume()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.connections_refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.transport.abort()
            return
        if self.refusing:  # the outage began while we were connecting upstream
            up_writer.transport.abort()
            writer.transport.abort()
            return
        self.connections_accepted += 1
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for side in (writer, up_writer):
                self._writers.discard(side)
                side.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side finished: end the other (a half-open database link is no use).
            writer.transport.abort()
