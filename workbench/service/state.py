"""What one API process holds: the serving snapshot and its predictors, the keys, the rate
limiter, the request log and the recent predictions that feedback may refer to.

The snapshot file is watched: when the dashboards publish thresholds or someone promotes a
run, the new snapshot is loaded in the background (a new model is loaded before it is swapped
in), so requests never wait for a reload.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.catalog.taxonomy import Taxonomy
from workbench.errors import WorkbenchError
from workbench.runs.predictor import Predictor
from workbench.service.batcher import MicroBatcher
from workbench.service.files import ServiceFiles
from workbench.service.keys import KeyRing
from workbench.service.log import LogWriter, read_log
from workbench.service.ratelimit import RateLimiter
from workbench.service.snapshot import read_snapshot

log = logging.getLogger("workbench.service")


@dataclass(frozen=True)
class ApiSettings:
    """Limits and timings of one API process."""

    max_batch: int = 1_000
    max_body_bytes: int = 4 * 1024 * 1024
    flush_seconds: float = 1.0
    reload_seconds: float = 2.0
    recent_predictions: int = 200_000
    docs: bool = True
    #: seconds between imports of the logged feedback into the workspace (0: never; the
    #: dashboards' sync and ``workbench feedback import`` do it too)
    import_seconds: float = 2.0

    def __post_init__(self):
        if self.max_batch < 1:
            raise WorkbenchError(f"max batch {self.max_batch} must be at least 1")
        if self.max_body_bytes < 1024:
            raise WorkbenchError(f"max body size {self.max_body_bytes} bytes is too small; use at least 1024")
        if not self.flush_seconds > 0:
            raise WorkbenchError(f"flush interval {self.flush_seconds} s must be positive")


@dataclass(frozen=True)
class Serving:
    """One consistent view: the snapshot and the predictors built from it."""

    snapshot: dict[str, Any]
    taxonomy: Taxonomy
    predictor: Predictor
    shadow: Predictor | None = None
    leaves: frozenset = field(default_factory=frozenset)


def build_serving(snapshot: dict[str, Any]) -> Serving:
    """Predictors for a snapshot (a model already loaded comes from the one model cache of
    :mod:`workbench.runs.predictor`)."""
    tax = snapshot["taxonomy"]
    taxonomy = Taxonomy.from_node_ids(tax["nodes"], tax["level_names"])
    thr = snapshot["thresholds"]

    def predictor(entry: dict[str, Any]) -> Predictor:
        return Predictor.load(entry["model_dir"], entry["run_id"], taxonomy, thr["global"], thr["overrides"],
                              class_map=entry.get("class_map"))

    main = predictor(snapshot["serving"])
    shadow = predictor(snapshot["shadow"]) if snapshot.get("shadow") else None
    for p in (main, shadow):  # the first call of a model pays one-time costs: not a caller's request
        if p is not None:
            p.predict([{"title": "warm-up"}])
    return Serving(snapshot, taxonomy, main, shadow, frozenset(taxonomy.leaves))


class ServiceState:
    """The state shared by every request of one API process."""

    def __init__(self, files: ServiceFiles, settings: ApiSettings | None = None):
        self.files = files
        self.settings = settings or ApiSettings()
        self.serving = build_serving(read_snapshot(files))
        self.keys = KeyRing(files.keys)
        self.limiter = RateLimiter()
        self.batcher = MicroBatcher(max(2_000, self.settings.max_batch))
        self.writer = LogWriter(files, flush_seconds=self.settings.flush_seconds, shadow=self._score_shadow)
        self.started = time.time()
        self._recent: OrderedDict[str, tuple] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._feedback: dict[tuple[str, str], dict] = {}
        self._feedback_history: dict[tuple[str, str], list[str]] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Open the journal (replaying those of stopped processes), start the log writer and the
        snapshot watcher."""
        from workbench.service.journal import Journal

        self.writer.journal = Journal(self.files.root / "journal")
        self.writer.replay_orphans()
        self.load_feedback()
        self.writer.start()
        if self.settings.import_seconds > 0:
            from workbench.service.sync import start_import

            self._importer = start_import(self.files.workspace, self.settings.import_seconds)
        self._watcher = threading.Thread(target=self._watch, name="workbench-snapshot", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching and write the rest of the log."""
        self._stop.set()
        if getattr(self, "_importer", None) is not None:
            self._importer[1].set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self.writer.stop()
        if self.writer.journal is not None:
            self.writer.journal.close()

    async def acknowledge(self, stream: str, records: list[dict[str, Any]]) -> None:
        """Hand ``records`` to the log and return once they are fsynced in the journal: only then
        may the answer say they were kept."""
        self.writer.add_many(stream, records)
        if self.writer.journal is not None:
            await self.writer.journal.commit(stream, records)

    def _watch(self) -> None:
        from workbench.service.snapshot import refresh_snapshot_read_only
        from workbench.store import Workspace

        seen = None
        while not self._stop.wait(self.settings.reload_seconds):
            try:
                # another process wrote to the workspace (a promotion, thresholds, a new run): rewrite
                # the snapshot from it in a short turn on the database, then load it
                counter = Workspace(self.files.workspace, read_only=True).change_counter()
                if counter != seen:
                    refresh_snapshot_read_only(self.files.workspace)
                    seen = counter
                self.reload()
            except Exception:  # keep serving the snapshot we have
                log.exception("reloading the serving snapshot failed")

    def reload(self) -> bool:
        """Load the snapshot file if it changed; returns whether anything changed."""
        snapshot = read_snapshot(self.files, missing_ok=True)
        if snapshot is None or snapshot.get("content_hash") == self.serving.snapshot.get("content_hash"):
            return False
        self.serving = build_serving(snapshot)
        log.warning("serving run %s (shadow %s), thresholds %s", snapshot["serving"]["run_id"],
                    (snapshot.get("shadow") or {}).get("run_id"), snapshot["thresholds"]["global"])
        return True

    # predictions feedback may name ------------------------------------------------------
    def remember(self, prediction_id: str, run_id: str, category: str, top: list[str], key: str = "") -> None:
        """Keep a prediction for feedback (the oldest are forgotten past the limit; the log keeps all)."""
        with self._recent_lock:
            self._recent[prediction_id] = (run_id, category, top, key)
            while len(self._recent) > self.settings.recent_predictions:
                self._recent.popitem(last=False)

    def recall(self, prediction_id: str) -> tuple[str, str, list[str], str] | None:
        """``(run_id, category, top-k categories, key name)`` of a prediction, from memory or the log."""
        with self._recent_lock:
            hit = self._recent.get(prediction_id)
        if hit is not None:
            return hit
        self.writer.flush()
        rows = read_log(self.files, "predictions", where="prediction_id = ?", params=[prediction_id])
        if rows.empty:
            return None
        row = rows.iloc[-1]
        return (str(row["run_id"]), str(row["category"]), [c for c, _ in json.loads(row["top_k"])],
                str(row["key_name"]))

    # feedback: one current answer per (prediction, key) ------------------------------------
    def load_feedback(self) -> None:
        """The latest feedback of every (prediction, key) in the log (at start)."""
        rows = read_log(self.files, "feedback")
        with self._recent_lock:
            for row in rows.to_dict("records"):
                self._feedback[(str(row["prediction_id"]), str(row["key_name"]))] = {
                    "feedback_id": row["feedback_id"], "prediction_id": row["prediction_id"],
                    "accepted": bool(row["accepted"]), "category": row["category"], "predicted": row["predicted"],
                    "rank": None if pd.isna(row["rank"]) else int(row["rank"]), "by": row["by"],
                    "version": 1 + len(self._feedback_history.get((row["prediction_id"], row["key_name"]), [])),
                    "stored": True}
                self._feedback_history.setdefault((row["prediction_id"], row["key_name"]), []).append(row["feedback_id"])

    def stored_feedback(self, prediction_id: str, key: str) -> dict | None:
        """The current feedback of ``key`` on a prediction, if any."""
        with self._recent_lock:
            return self._feedback.get((prediction_id, key))

    def keep_feedback(self, prediction_id: str, key: str, answer: dict) -> None:
        """Record the new current feedback of ``key`` on a prediction."""
        with self._recent_lock:
            self._feedback[(prediction_id, key)] = answer
            self._feedback_history.setdefault((prediction_id, key), []).append(answer["feedback_id"])

    # the shadow run ---------------------------------------------------------------------
    def _score_shadow(self, frame: pd.DataFrame) -> pd.DataFrame:
        shadow = self.serving.shadow
        if shadow is None or frame.empty:
            return frame
        inputs = pd.DataFrame({"title": frame["title"].fillna(""), "description": frame["description"].fillna(""),
                               "brand": frame["brand"].fillna(""), "price": frame["price"].astype(float),
                               "department": frame["department"] if "department" in frame else None,
                               "extra": frame["attributes"]})
        leaf, confidence = shadow.top1(inputs)
        return frame.assign(shadow_run_id=shadow.run_id, shadow_category=leaf.astype(object),
                            shadow_confidence=np.asarray(confidence, dtype=float))
