"""A transport that appends each request's body, one JSON line, to a local file.

Safe with any number of workers, in threads and processes: each append holds an exclusive
``flock`` on the file, the file is opened ``O_APPEND`` (a line lands whole at the end,
never interleaved with another) and synced to disk before the send counts as done.

A request with an ``Idempotency-Key`` header is written once: a line whose ``key_field``
already holds that key (a retry after a worker died between writing the line and
recording it) is not written again, and the answer says so. Each process reads the lines
added since it last looked, once, under the lock, so the check does not read the whole
file each time; a file that was rotated or truncated is read again from its start.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from omnirelay.destinations.base import HttpResult, PreparedRequest

IDEMPOTENCY_HEADER = "idempotency-key"
READ_CHUNK = 1 << 20


@dataclass
class _Written:
    """The keys of one file that this process has seen, up to ``offset``."""

    inode: int = -1
    offset: int = 0
    keys: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class FileAppend:
    path: Path
    line: bytes
    key: str | None


def file_url(path: str | Path) -> str:
    return Path(path).absolute().as_uri()


class JsonLinesFileTransport:
    def __init__(self, key_field: str = "idempotency_key", fsync: bool = True) -> None:
        self.key_field = key_field
        self.fsync = fsync
        self._written: dict[Path, _Written] = {}
        self._lock = threading.Lock()

    def build(self, request: PreparedRequest, body: bytes | None) -> FileAppend:
        parts = urlsplit(request.url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError("a file target is a file:/// URL of a local path")
        if not body or b"\n" in body or b"\r" in body:
            raise ValueError("a line is one JSON document without line breaks")
        key = next((v for k, v in request.headers.items() if k.lower() == IDEMPOTENCY_HEADER), None)
        return FileAppend(Path(unquote(parts.path)), body + b"\n", key)

    async def send(self, built: FileAppend) -> HttpResult:
        try:
            return await asyncio.to_thread(self._append, built)
        except OSError as exc:  # a full disk, a missing directory: tried again later
            return HttpResult(None, error=f"file: {type(exc).__name__}: {exc}")
        except Exception as exc:
            return HttpResult(None, error=f"file: {type(exc).__name__}: {exc}")

    def _append(self, built: FileAppend) -> HttpResult:
        built.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(built.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written, size = self._catch_up(fd, built.path)
            if built.key is not None and built.key in written.keys:
                return HttpResult(None, body=f"already written: {built.path.name}")
            # after a line cut off by a crash, this one starts on a line of its own
            line = built.line if written.offset == size else b"\n" + built.line
            os.write(fd, line)
            if self.fsync:
                os.fsync(fd)
            written.offset = size + len(line)
            if built.key is not None:
                written.keys.add(built.key)
            return HttpResult(None, body=f"written: {built.path.name}")
        finally:
            os.close(fd)  # releases the lock

    def _catch_up(self, fd: int, path: Path) -> tuple[_Written, int]:
        """The keys in the file, read from where this process last stopped (the lock
        held), and the file's size."""
        with self._lock:
            written = self._written.setdefault(path, _Written())
        stat = os.fstat(fd)
        if stat.st_ino != written.inode or stat.st_size < written.offset:
            written.inode, written.offset, written.keys = stat.st_ino, 0, set()
        while written.offset < stat.st_size:
            chunk = os.pread(fd, min(READ_CHUNK, stat.st_size - written.offset), written.offset)
            end = chunk.rfind(b"\n")
            if end < 0:  # a last line without its newline (a crash mid-write): not a line
                if len(chunk) < READ_CHUNK:
                    break
                end = len(chunk) - 1
            for line in chunk[: end + 1].splitlines():
                key = self._key_of(line)
                if key is not None:
                    written.keys.add(key)
            written.offset += end + 1
        return written, stat.st_size

    def _key_of(self, line: bytes) -> str | None:
        try:
            document: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        key = document.get(self.key_field) if isinstance(document, dict) else None
        return key if isinstance(key, str) else None
