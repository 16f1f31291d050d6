"""The serving snapshot: everything the HTTP API needs from the workspace database, as a file.

``snapshot.json`` names the serving run (promoted, or the default run) and the shadow run with
their model folders and metrics, the published thresholds, the taxonomy, the promotion bar and
the live accuracy of the review sample. It is written by the API itself (at start-up and whenever
another process changed the workspace, within seconds), by ``workbench promote`` / ``shadow`` /
``monitor``, and read by the API, which reloads it when it changes. Writing it also builds the drift reference of the runs it names.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.catalog.relabel import load_taxonomy
from workbench.catalog.taxonomy_versions import class_map_for_run
from workbench.errors import WorkbenchError
from workbench.loop.thresholds import published_run, published_thresholds, threshold_run_warning
from workbench.runs.records import get_run, run_dir
from workbench.runs.registry import min_accuracy, serving_run, shadow_run
from workbench.service.files import ServiceFiles, read_json, write_json
from workbench.service.reference import build_reference, load_reference
from workbench.store import DatabaseInUse, Workspace

VERSION = 1


def _class_map(ws: Workspace, run_id: str) -> dict | None:
    """How the run's classes read in the current taxonomy (``None``: no change since it was trained)."""
    classes = run_dir(ws, run_id) / "classes.json"
    if not classes.exists():
        return None
    mapped = class_map_for_run(ws, run_id, [str(c) for c in json.loads(classes.read_text())])
    return None if mapped is None else mapped.to_json()


def _run_entry(ws: Workspace, run_id: str) -> dict[str, Any]:
    run = get_run(ws, run_id)
    metrics = run["metrics"] or {}
    valid = metrics.get("valid") or {}
    return {"run_id": run_id, "model": run["model"], "split": run["split"],
            "model_dir": str(run_dir(ws, run_id) / "model"), "class_map": _class_map(ws, run_id),
            "metrics": {"test_accuracy": metrics.get("accuracy"), "test_macro_f1": metrics.get("macro_f1"),
                        "valid_accuracy": valid.get("accuracy"), "valid_macro_f1": valid.get("macro_f1"),
                        "level_accuracy": metrics.get("level_accuracy")}}


def _live_accuracy(ws: Workspace) -> dict[str, Any] | None:
    if not all(ws.has_table(t) for t in ("review_queue", "reviews", "classifications")):
        return None
    from workbench.loop.live_accuracy import live_accuracy_overall

    overall = live_accuracy_overall(ws)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in overall.items()}


def build_snapshot(ws: Workspace) -> dict[str, Any]:
    """The snapshot of ``ws`` as a dict (nothing written)."""
    serving = serving_run(ws)
    shadow = shadow_run(ws)
    glob, overrides = published_thresholds(ws)
    taxonomy = load_taxonomy(ws)
    content = {
        "version": VERSION,
        "serving": {**_run_entry(ws, serving.run_id), "source": serving.source, "forced": serving.forced,
                    "since": None if serving.since is None else str(serving.since), "by": serving.actor},
        "shadow": None if shadow is None or shadow == serving.run_id else _run_entry(ws, shadow),
        # thresholds tuned on another run than the serving one still apply, with the warning shown
        "thresholds": {"global": glob, "overrides": overrides, "run_id": published_run(ws),
                       "warning": threshold_run_warning(ws, serving.run_id)},
        "taxonomy": {"level_names": list(taxonomy.level_names),
                     "nodes": [str(n) for n in taxonomy.nodes]},
        "promotion_min_accuracy": min_accuracy(ws),
        "live_accuracy": _live_accuracy(ws),
    }
    content["content_hash"] = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return content


def write_snapshot(ws: Workspace, files: ServiceFiles | None = None) -> tuple[dict[str, Any], bool]:
    """Write the snapshot (and the references of its runs) when it changed; returns
    ``(snapshot, changed)``."""
    files = files or ServiceFiles(ws.path)
    snapshot = build_snapshot(ws)
    for entry in (snapshot["serving"], snapshot["shadow"]):
        if entry is not None and load_reference(files.reference(entry["run_id"])) is None:
            build_reference(ws, entry["run_id"], files.reference(entry["run_id"]))
    old = read_snapshot(files, missing_ok=True)
    if old is not None and old.get("content_hash") == snapshot["content_hash"]:
        return old, False
    write_json(files.snapshot, {**snapshot, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return snapshot, True


def read_snapshot(files: ServiceFiles, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The snapshot file's content (``None`` when missing and ``missing_ok``)."""
    try:
        snapshot = read_json(files.snapshot)
    except ValueError:
        snapshot = None
    if snapshot is None or snapshot.get("version") != VERSION:
        if missing_ok:
            return None
        raise WorkbenchError(
            f"no serving snapshot in {files.root}; it is written by `workbench serve`, `workbench promote` "
            f"or `workbench api` itself once a run is trained")
    return snapshot


def refresh_snapshot_read_only(path: str | Path) -> tuple[dict[str, Any] | None, str]:
    """Rewrite the snapshot from the workspace database (a short turn on the file: the database
    is read, only the snapshot file is written). Returns ``(snapshot or None, note)``."""
    files = ServiceFiles(path)
    try:
        ws = Workspace(path)
        snapshot, changed = write_snapshot(ws, files)
    except DatabaseInUse as exc:
        return read_snapshot(files, missing_ok=True), f"the workspace stayed busy ({exc}); using the last snapshot"
    return snapshot, "snapshot rewritten from the database" if changed else "snapshot up to date"
