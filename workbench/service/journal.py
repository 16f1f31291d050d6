"""Acknowledged means durable: the API's append-only journal of predictions and feedback.

Before ``/v1/classify`` hands out prediction ids or ``/v1/feedback`` answers ``stored: true``, the
records are appended to ``<workspace>/service/journal/<pid>-<seq>.jsonl`` and fsynced. Concurrent
requests share one fsync (group commit): one thread writes whatever gathered while the previous
fsync ran, then wakes every request it covered. The Parquet log
(:class:`workbench.service.log.LogWriter`) still writes in batches; each of its flushes starts a
new journal file and removes the previous one once its records are in Parquet. A process that
starts finds the journals of dead processes (``kill -9``, a power cut) and hands their records
to the log again; readers keep one row per id, so a record written twice counts once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from workbench.store.lock import process_alive

log = logging.getLogger("workbench.service")


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _fail(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


class Journal:
    """Append-only, fsynced, group-committed JSON lines of ``{"s": stream, "r": record}``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pid = os.getpid()
        self._seq = 0
        self._cv = threading.Condition()
        self._io = threading.Lock()
        self._buffer: list[bytes] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._stopping = False
        self._dirty = False
        self.fsyncs = 0
        self._path, self._fh = self._open()
        self._thread = threading.Thread(target=self._run, name="workbench-journal", daemon=True)
        self._thread.start()

    def _open(self):
        self._seq += 1
        path = self.folder / f"{self.pid}-{self._seq:06d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:  # the new file's name is durable too
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path, os.fdopen(fd, "ab", buffering=0)

    @staticmethod
    def encode(stream: str, records: list[dict[str, Any]]) -> bytes:
        """The journal lines of ``records`` (orjson: datetimes as ISO text)."""
        return b"".join(orjson.dumps({"s": stream, "r": r}, option=orjson.OPT_SERIALIZE_NUMPY, default=str) + b"\n"
                        for r in records)

    async def commit(self, stream: str, records: list[dict[str, Any]]) -> None:
        """Return once ``records`` are written and fsynced (sharing the fsync with concurrent calls)."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        data = self.encode(stream, records)
        with self._cv:
            if self._stopping:
                raise RuntimeError("the journal is closed")
            self._buffer.append(data)
            self._waiters.append((loop, fut))
            self._cv.notify()
        await fut

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._buffer and not self._stopping:
                    self._cv.wait()
                if not self._buffer and self._stopping:
                    return
                data, waiters = b"".join(self._buffer), self._waiters
                self._buffer, self._waiters = [], []
            try:
                with self._io:
                    self._fh.write(data)
                    os.fsync(self._fh.fileno())
                    self._dirty = True
                self.fsyncs += 1
            except BaseException as exc:  # the requests fail with a 500: nothing was acknowledged
                log.exception("writing the journal failed")
                for loop, fut in waiters:
                    loop.call_soon_threadsafe(_fail, fut, exc)
                continue
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_resolve, fut)

    def rotate(self) -> Path | None:
        """Start a new file; the previous one (``None`` if it held nothing) may be removed once
        every record handed to the log before this call is in Parquet."""
        with self._io:
            if not self._dirty:
                return None
            old, fh = self._path, self._fh
            self._path, self._fh = self._open()
            self._dirty = False
        fh.close()
        return old

    def orphans(self) -> list[Path]:
        """Journal files of processes that are gone."""
        out = []
        for path in sorted(self.folder.glob("*.jsonl")):
            pid = path.stem.split("-", 1)[0]
            if pid.isdigit() and int(pid) != self.pid and not process_alive(int(pid)):
                out.append(path)
        return out

    @staticmethod
    def read(path: Path) -> list[tuple[str, dict[str, Any]]]:
        """``[(stream, record)]`` of a journal file (a line cut by a crash is skipped: it was
        never acknowledged)."""
        out = []
        for line in path.read_bytes().splitlines():
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            record = item["r"]
            if isinstance(record.get("time"), str):
                record["time"] = datetime.fromisoformat(record["time"])
            out.append((item["s"], record))
        return out

    def close(self) -> None:
        """Write what is buffered and stop the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout=30)
        with self._io:
            self._fh.close()
            if not self._dirty:  # nothing in it that the log does not hold
                self._path.unlink(missing_ok=True)
