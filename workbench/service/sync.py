"""The bridge between the API's files and the workspace database, run by the database's holder.

:func:`sync_workspace` brings feedback from the API's log into the label history
(:func:`workbench.loop.feedback.import_feedback`) and rewrites the serving snapshot when the
serving run, the shadow run, the thresholds or the taxonomy changed. The API runs it whenever the
workspace changed (its change counter) or feedback arrived; ``workbench promote``, ``shadow``,
``monitor`` and ``feedback import`` run it once; :func:`start_sync` runs it every few seconds in
a thread of any process that wants it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.loop.feedback import import_feedback, imported_until
from workbench.service.files import ServiceFiles
from workbench.service.log import read_log
from workbench.service.snapshot import write_snapshot
from workbench.store import DatabaseInUse, Workspace

log = logging.getLogger("workbench.service")
#: feedback is re-read from this long before the newest one stored (ids make it idempotent)
OVERLAP = timedelta(hours=1)


@dataclass
class SyncSummary:
    """What one sync did."""

    feedback_imported: int
    snapshot_changed: bool
    serving_run: str

    def __str__(self) -> str:
        snap = "rewritten" if self.snapshot_changed else "unchanged"
        return (f"serving run {self.serving_run}; {self.feedback_imported} feedback imported into the label "
                f"history; serving snapshot {snap}")


def sync_feedback(ws: Workspace, files: ServiceFiles) -> int:
    """Import the feedback logged since the last import; returns how many were new."""
    last = imported_until(ws)
    feedback = read_log(files, "feedback", since=None if last is None else last - OVERLAP)
    if feedback.empty:
        return 0
    predictions = read_log(files, "predictions", where="prediction_id IN (SELECT unnest(?))",
                           params=[feedback["prediction_id"].astype(str).unique().tolist()])
    return import_feedback(ws, feedback, predictions)


def sync_workspace(ws: Workspace, files: ServiceFiles | None = None) -> SyncSummary:
    """Import feedback and refresh the serving snapshot (the caller holds the database)."""
    files = files or ServiceFiles(ws.path)
    imported = sync_feedback(ws, files)
    snapshot, changed = write_snapshot(ws, files)
    return SyncSummary(imported, changed, snapshot["serving"]["run_id"])


def try_sync(path: str | Path) -> tuple[SyncSummary | None, str]:
    """Sync in short turns on the database; ``(None, why not)`` when it stayed busy too long."""
    try:
        return sync_workspace(Workspace(path)), "synced"
    except DatabaseInUse as exc:
        return None, f"the workspace stayed busy ({exc}); using the files as they are"


def import_log(path: str | Path) -> int | None:
    """Import the API's logged feedback into the workspace in one short visit (a few short turns
    on the database). ``None`` when the workspace stayed busy past ``$WORKBENCH_WAIT`` (try later)."""
    try:
        ws = Workspace(path)
    except DatabaseInUse:
        log.debug("importing the API log: the workspace database is in use; retrying later")
        return None
    try:
        return sync_feedback(ws, ServiceFiles(path))
    finally:
        ws.close()


def start_import(path: str | Path, interval: float = 2.0) -> tuple[threading.Thread, threading.Event]:
    """Run :func:`import_log` every ``interval`` seconds in a daemon thread of the API (which
    otherwise never waits for the database); set the returned event to stop it."""
    stop = threading.Event()

    def run():
        while not stop.wait(interval):
            try:
                import_log(path)
            except WorkbenchError as exc:
                log.debug("importing the API log skipped: %s", exc)
            except Exception:  # the API keeps serving; the next round retries
                log.exception("importing the API log into the workspace failed")

    thread = threading.Thread(target=run, name="workbench-log-import", daemon=True)
    thread.start()
    return thread, stop


_THREADS: dict[str, threading.Thread] = {}
_THREADS_LOCK = threading.Lock()


def start_sync(path: str | Path, interval: float = 5.0) -> threading.Thread:
    """Sync every ``interval`` seconds in a daemon thread of the process holding the database
    (the dashboards server); errors are logged and retried. One thread per workspace and process:
    a second call returns the running one."""
    key = str(Path(path).resolve())
    with _THREADS_LOCK:
        running = _THREADS.get(key)
        if running is not None and running.is_alive():
            return running
    stop = threading.Event()

    def run():
        ws = Workspace(path)
        while True:
            try:
                sync_workspace(ws)
            except WorkbenchError as exc:  # e.g. no run trained yet: nothing to serve
                log.debug("service sync skipped: %s", exc)
            except Exception:  # keep the dashboards serving; the next round retries
                log.exception("syncing the service files failed")
            if stop.wait(interval):
                return

    thread = threading.Thread(target=run, name="workbench-service-sync", daemon=True)
    thread.stop = stop.set  # type: ignore[attr-defined]
    with _THREADS_LOCK:
        _THREADS[key] = thread
    thread.start()
    return thread
