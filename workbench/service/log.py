"""The API's request log: batched, atomic Parquet segments that never slow an answer.

A request handler only appends a record to an in-memory list (:meth:`LogWriter.add`); a
background thread writes what has gathered every ``flush_seconds`` (or sooner past
``max_rows``) as one segment per stream, named ``date=YYYY-MM-DD/HHMMSS-<pid>-<seq>.parquet``
and renamed into place when complete. Before writing predictions it lets the shadow run score
them, in one batch, off the request path. Once an hour is over, its segments are merged into
one (readers drop the duplicates of the moment between the merged file's rename and the removal
of its parts). :func:`read_log` reads a stream back for the monitoring.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.service.files import STREAMS, ServiceFiles, write_parquet

log = logging.getLogger("workbench.service")

SCHEMAS = {
    "requests": pa.schema([
        ("request_id", pa.string()), ("time", pa.timestamp("us")), ("key_name", pa.string()),
        ("role", pa.string()), ("method", pa.string()), ("path", pa.string()), ("status", pa.int32()),
        ("latency_ms", pa.float64()), ("n_products", pa.int32()), ("bytes_in", pa.int64()),
        ("error", pa.string())]),
    "predictions": pa.schema([
        ("prediction_id", pa.string()), ("request_id", pa.string()), ("time", pa.timestamp("us")),
        ("key_name", pa.string()), ("run_id", pa.string()), ("product_ref", pa.string()),
        ("title_raw", pa.string()), ("title", pa.string()), ("description", pa.string()),
        ("brand", pa.string()), ("price", pa.float64()), ("image_url", pa.string()), ("department", pa.string()),
        ("attributes", pa.string()), ("category", pa.string()), ("confidence", pa.float64()),
        ("decision", pa.string()), ("threshold", pa.float64()), ("top_k", pa.string()),
        ("latency_ms", pa.float64()), ("shadow_run_id", pa.string()), ("shadow_category", pa.string()),
        ("shadow_confidence", pa.float64()), ("decision_rule", pa.string())]),
    "feedback": pa.schema([
        ("feedback_id", pa.string()), ("prediction_id", pa.string()), ("time", pa.timestamp("us")),
        ("key_name", pa.string()), ("by", pa.string()), ("accepted", pa.bool_()), ("category", pa.string()),
        ("predicted", pa.string()), ("run_id", pa.string()), ("rank", pa.int32())]),
}
ID_COLUMN = {"requests": "request_id", "predictions": "prediction_id", "feedback": "feedback_id"}


def utc_now() -> datetime:
    """Now, in UTC without a timezone (how the logs keep time)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


#: a shadow scorer takes the predictions about to be written and fills their shadow columns
ShadowScorer = Callable[[pd.DataFrame], pd.DataFrame]


class LogWriter:
    """Gathers records per stream and writes them in batches from a background thread."""

    def __init__(self, files: ServiceFiles, *, flush_seconds: float = 1.0, max_rows: int = 20_000,
                 shadow: ShadowScorer | None = None, compact: bool = True):
        self.files = files
        self.flush_seconds = float(flush_seconds)
        self.max_rows = int(max_rows)
        self.shadow = shadow
        self.compact_hours = compact
        self._pending: dict[str, list[dict[str, Any]]] = {s: [] for s in STREAMS}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self.journal = None  # a workbench.service.journal.Journal: what was acknowledged, fsynced
        self.written = {s: 0 for s in STREAMS}
        self.errors = 0

    def start(self) -> "LogWriter":
        """Start the background writer."""
        self._thread = threading.Thread(target=self._run, name="workbench-log", daemon=True)
        self._thread.start()
        return self

    def add(self, stream: str, record: dict[str, Any]) -> None:
        """Queue one record (cheap: a list append under a lock)."""
        with self._lock:
            rows = self._pending[stream]
            rows.append(record)
            full = len(rows) >= self.max_rows
        if full:
            self._wake.set()

    def pending(self) -> int:
        """Records not written yet."""
        with self._lock:
            return sum(len(v) for v in self._pending.values())

    def _run(self) -> None:
        last_compact = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
                now = datetime.now().timestamp()
                if self.compact_hours and now - last_compact > 300:
                    self.compact()
                    last_compact = now
            except Exception:  # the log must never take the API down; retried next round
                self.errors += 1
                log.exception("writing the request log failed")

    def flush(self) -> int:
        """Write everything gathered so far, now; returns the number of records written."""
        with self._write_lock:
            with self._lock:
                batches = {s: rows for s, rows in self._pending.items() if rows}
                self._pending = {s: ([] if s in batches else rows) for s, rows in self._pending.items()}
                # atomic with the swap: every record journaled in the old file is in ``batches``
                old_journal = self.journal.rotate() if self.journal is not None else None
            done = 0
            for stream, rows in batches.items():
                frame = pd.DataFrame(rows)
                if stream == "predictions" and self.shadow is not None:
                    try:
                        frame = self.shadow(frame)
                    except Exception:  # a failing challenger must not lose the log
                        self.errors += 1
                        log.exception("the shadow run failed to score a batch")
                self._write(stream, frame)
                self.written[stream] += len(frame)
                done += len(frame)
            if old_journal is not None:  # its records are in Parquet, fsynced: the journal is done
                old_journal.unlink(missing_ok=True)
            return done

    def add_many(self, stream: str, records: list[dict[str, Any]]) -> None:
        """Queue several records at once."""
        with self._lock:
            self._pending[stream].extend(records)

    def replay_orphans(self) -> int:
        """Hand the records of dead processes' journals to the log, write them, remove those
        journals; returns the number of records replayed."""
        if self.journal is None:
            return 0
        orphans = self.journal.orphans()
        n = 0
        for path in orphans:
            for stream, record in self.journal.read(path):
                if stream in self._pending:
                    self.add(stream, record)
                    n += 1
        if orphans:
            self.flush()
            for path in orphans:
                path.unlink(missing_ok=True)
            log.warning("replayed %d journaled records of %d stopped API processes", n, len(orphans))
        return n

    def _segment_path(self, stream: str, first: datetime) -> Path:
        self._seq += 1
        return (self.files.log_dir(stream) / f"date={first:%Y-%m-%d}" /
                f"{first:%H%M%S}-{os.getpid()}-{self._seq:06d}.parquet")

    def _write(self, stream: str, frame: pd.DataFrame) -> None:
        schema = SCHEMAS[stream]
        if "top_k" in frame:  # serialised here, off the answer's path: [[category, probability], ...]
            frame["top_k"] = [v if v is None or isinstance(v, str) else json.dumps(v) for v in frame["top_k"]]
        for name in schema.names:
            if name not in frame:
                frame[name] = None
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        first = pd.Timestamp(frame["time"].min()).to_pydatetime()
        path = self._segment_path(stream, first)
        write_parquet(path, table)
        if self.journal is not None:  # the journal lines are removed after this: keep the data durable
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def compact(self) -> int:
        """Merge this process's segments of every finished hour into one file per hour."""
        merged = 0
        current = utc_now().strftime("%Y-%m-%d %H")
        pid = str(os.getpid())
        for stream in STREAMS:
            groups: dict[tuple[Path, str], list[Path]] = {}
            for seg in self.files.segments(stream):
                parts = seg.stem.split("-")
                if len(parts) < 3 or parts[1] != pid:
                    continue
                hour = f"{seg.parent.name[5:]} {seg.stem[:2]}"
                if hour < current:
                    groups.setdefault((seg.parent, seg.stem[:2]), []).append(seg)
            for (folder, hour), segs in groups.items():
                if len(segs) < 2:
                    continue
                table = pa.concat_tables([pq.read_table(s) for s in segs], promote_options="default")
                self._seq += 1
                write_parquet(folder / f"{hour}0000-{pid}-{self._seq:06d}.parquet", table)
                for s in segs:
                    s.unlink(missing_ok=True)
                merged += len(segs)
        return merged

    def stop(self) -> None:
        """Write what is left and stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


def _day(seg: Path) -> str:
    return seg.parent.name[5:]


def read_log(files: ServiceFiles, stream: str, *, since: datetime | None = None,
             until: datetime | None = None, where: str = "", params: list | None = None) -> pd.DataFrame:
    """The records of a stream with ``since <= time < until`` (UTC), oldest first, one row per id.

    ``where`` adds a condition with ``?`` parameters in ``params`` (e.g. ``"prediction_id = ?"``).
    """
    import duckdb

    for _ in range(2):
        try:
            return _read_segments(files, stream, since, until, where, params)
        except duckdb.IOException:  # a segment merged away between listing and reading: list again
            continue
    return _read_segments(files, stream, since, until, where, params)


def _read_segments(files: ServiceFiles, stream: str, since, until, where: str, params) -> pd.DataFrame:
    import duckdb

    segments = files.segments(stream)
    if since is not None:  # a segment is filed under its first record's day and may run past midnight
        segments = [s for s in segments if _day(s) >= f"{since - timedelta(days=1):%Y-%m-%d}"]
    if until is not None:
        segments = [s for s in segments if _day(s) <= f"{until:%Y-%m-%d}"]
    if not segments:
        return SCHEMAS[stream].empty_table().to_pandas()
    conditions, values = ["true"], [[str(s) for s in segments]]
    if since is not None:
        conditions.append("time >= ?")
        values.append(since)
    if until is not None:
        conditions.append("time < ?")
        values.append(until)
    if where:
        conditions.append(f"({where})")
        values.extend(params or [])
    key = ID_COLUMN[stream]
    sql = (f"SELECT DISTINCT ON ({key}) * FROM read_parquet(?, union_by_name = true) "
           f"WHERE {' AND '.join(conditions)} ORDER BY {key}")
    con = duckdb.connect()
    try:
        frame = con.execute(f"SELECT * FROM ({sql}) ORDER BY time, {key}", values).df()
    finally:
        con.close()
    return frame
