"""A file drop area whose size limit holds on the server, chunk by chunk, while the file arrives.

Panel's ``FileDropper`` checks ``max_file_size`` in the browser only, and on the server keeps
every chunk until the last one: a user who raises the limit in the browser pushes a file of
any size into the server's memory before anything refuses it. :class:`LimitedFileDropper`
counts the bytes of each file as its chunks arrive; the first chunk beyond ``limit_bytes`` (or
a file that announces more chunks than the limit allows) drops what was kept, ignores the rest
of that file and sets ``refused`` to a message for the page. The server's websocket also caps
each message (:mod:`workbench.security.hardening`), so one huge chunk is refused before it is read.
"""

from __future__ import annotations

import logging
import math

import panel as pn
import param

log = logging.getLogger("workbench.app")

CHUNK_BYTES = 1_000_000  # what the browser sends per websocket message


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


class LimitedFileDropper(pn.widgets.FileDropper):
    """``FileDropper`` with a server-side size limit enforced while receiving."""

    limit_bytes = param.Integer(default=10 * 1024 * 1024, bounds=(1, None), doc="largest file accepted")
    refused = param.String(default="", doc="why the last file was refused while it arrived ('' if not)")

    _rename = {**pn.widgets.FileDropper._rename, "limit_bytes": None, "refused": None}  # server-side only

    def __init__(self, **params):
        params.setdefault("chunk_size", CHUNK_BYTES)
        params.setdefault("max_file_size", f"{max(params.get('limit_bytes', 10 * 1024 * 1024) // 1000, 1)}KB")
        super().__init__(**params)
        self._received: dict[str, int] = {}
        self._dropping: set[str] = set()

    def _refuse(self, name: str, received: int, why: str) -> None:
        self._file_buffer.pop(name, None)
        self._received.pop(name, None)
        self._dropping.add(name)
        log.warning("upload %r refused after %d bytes: %s", name, received, why)
        self.refused = (f"{name} is larger than the upload limit of {_mb(self.limit_bytes)}: the upload was "
                        f"stopped after {_mb(received)} ({why}); split the file or ask for a larger "
                        "--upload-limit-mb")

    def _process_event(self, event) -> None:
        if event.event_name != "upload_event":
            return super()._process_event(event)
        data = event.data
        name, chunk, total = str(data["name"]), int(data["chunk"]), int(data["total_chunks"])
        size = len(data["data"] or b"")
        if chunk == 1:
            self._dropping.discard(name)
            self._received[name] = 0
            if self.refused:
                self.refused = ""
            allowed = math.ceil((self.limit_bytes + 1) / max(self.chunk_size, 1)) + 1
            if total > allowed:
                return self._refuse(name, size, f"it announced {total:,} chunks of {_mb(self.chunk_size)}")
        if name in self._dropping:
            return None  # the rest of a refused file: dropped as it arrives
        if name not in self._received or chunk > total:
            return self._refuse(name, size, "its chunks arrived out of order")
        received = self._received[name] + size
        if received > self.limit_bytes or sum(self._received.values()) + size > self.limit_bytes:
            return self._refuse(name, received, "counted on the server")
        self._received[name] = received
        if chunk == total:
            self._received.pop(name, None)
        return super()._process_event(event)
