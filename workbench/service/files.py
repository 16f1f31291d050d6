"""Where the service keeps its files inside a workspace, and how they are written (atomically).

The HTTP API never holds the workspace database: DuckDB lets one process open it read-write,
and ``workbench serve`` (the dashboards) or a pipeline command is that process. So the API
reads what it serves from files the database's holder writes, and appends what it sees to
files of its own, which the dashboards and ``workbench monitor`` read::

    <workspace>/service/
        snapshot.json                  the serving and shadow runs, thresholds, taxonomy
        reference/<run_id>/            a run's training reference for the drift statistics
        log/requests/date=YYYY-MM-DD/  every HTTP request (Parquet segments)
        log/predictions/date=.../      every classified product, with the shadow run's answer
        log/feedback/date=.../         every feedback on a prediction
        monitoring.json                optional: thresholds of the monitoring statistics
        api_keys.json                  SHA-256 hashes of the API keys ($WORKBENCH_API_KEYS)

Every file is written under a temporary name and renamed into place, so a reader sees a whole
file or none; a segment, once renamed, is never changed. Like the workspace database, the files
(sellers' titles, the serving runs) are the owner's only: folders 0700, files 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from workbench.paths import workspace_dir

STREAMS = ("requests", "predictions", "feedback")
ENV_KEYS = "WORKBENCH_API_KEYS"


class ServiceFiles:
    """The service's folder of one workspace (nothing is created until something is written)."""

    def __init__(self, workspace: str | os.PathLike | None = None):
        self.workspace = workspace_dir(workspace)
        self.root = self.workspace / "service"

    def __repr__(self) -> str:
        return f"ServiceFiles({str(self.workspace)!r})"

    @property
    def path(self) -> Path:
        """The workspace folder (what the embedding cache keys its files by)."""
        return self.workspace

    @property
    def snapshot(self) -> Path:
        """The serving snapshot the API loads."""
        return self.root / "snapshot.json"

    @property
    def monitoring_config(self) -> Path:
        """Optional thresholds of the monitoring statistics (JSON object name -> value)."""
        return self.root / "monitoring.json"

    @property
    def keys(self) -> Path:
        """The API keys file: ``$WORKBENCH_API_KEYS``, else ``<workspace>/service/api_keys.json``."""
        env = os.environ.get(ENV_KEYS)
        return Path(env).expanduser() if env else self.root / "api_keys.json"

    def reference(self, run_id: str) -> Path:
        """Folder of a run's drift reference."""
        return self.root / "reference" / str(run_id)

    def log_dir(self, stream: str) -> Path:
        """Folder of one log stream (``requests``, ``predictions`` or ``feedback``)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown log stream {stream!r}; use one of {', '.join(STREAMS)}")
        return self.root / "log" / stream

    def segments(self, stream: str) -> list[Path]:
        """The finished Parquet segments of a stream, oldest first."""
        folder = self.log_dir(stream)
        if not folder.exists():
            return []
        return sorted(folder.glob("date=*/*.parquet"))

    def stamp(self) -> tuple:
        """Changes whenever a segment is added or the snapshot is rewritten (a cache key)."""
        parts = [len(self.segments(s)) for s in STREAMS]
        last = [self.segments(s)[-1].name if n else "" for s, n in zip(STREAMS, parts)]
        snap = self.snapshot.stat().st_mtime_ns if self.snapshot.exists() else 0
        return tuple(parts + last + [snap])


def private_dir(folder: Path) -> Path:
    """Create ``folder`` and its missing parents as 0700 folders (the owner's only)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    return folder


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any, mode: int = 0o600) -> None:
    """Write a JSON document atomically."""
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True, default=str).encode("utf-8"), mode)


def read_json(path: Path) -> Any:
    """A JSON document, or ``None`` when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_parquet(path: Path, table) -> None:
    """Write a ``pyarrow.Table`` as Parquet atomically (mode 0600)."""
    import pyarrow.parquet as pq

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
