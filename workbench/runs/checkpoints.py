"""Where a training run keeps its checkpoints, so that a killed ``workbench train`` resumes.

Each run configuration (model kind, its parameters, split, sample, seed, department, label
sources and the fingerprints of the data and the split) gets its own folder,
``<workspace>/artifacts/checkpoints/<kind>-<split>-<key>/``: re-running the same command finds
the folder and the families that checkpoint (``transformer``, ``cnn-lstm``, and those members of
an ``ensemble`` or sub-models of a department model) continue after their last finished epoch;
a different configuration never meets it. Nothing goes to the system's temporary folder, so a
killed run leaves nothing there. The folder is removed once the run is recorded (the model is
saved with the run); the folders of runs that were killed stay until they are resumed, and
``workbench info`` lists them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from workbench.store import Workspace

FOLDER = "checkpoints"
#: Parameters that say where or how fast a run happens, not what it learns.
RUNTIME = frozenset({"checkpoint_dir", "resume", "device", "num_threads", "callbacks", "progress",
                     "n_jobs", "workspace"})


def checkpoint_root(ws: Workspace) -> Path:
    """The folder holding every run configuration's checkpoint folder."""
    return ws.artifacts / FOLDER


def checkpoint_folder(ws: Workspace, kind: str, *, split: str, params: dict[str, Any] | None,
                      sample: int | None, seed: int, department: str | None,
                      label_sources: Sequence[str], data_fingerprint: str,
                      split_fingerprint: str) -> Path:
    """The checkpoint folder of one run configuration (not created here)."""
    config = {"kind": kind, "split": split, "sample": sample, "seed": seed, "department": department,
              "label_sources": list(label_sources), "data": data_fingerprint, "split_fp": split_fingerprint,
              "params": {k: v for k, v in sorted((params or {}).items()) if k not in RUNTIME}}
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return checkpoint_root(ws) / f"{kind}-{split}-{key}"


def remove_checkpoints(folder: Path) -> None:
    """Delete a finished run's checkpoint folder (its model is saved with the run)."""
    shutil.rmtree(folder, ignore_errors=True)


def interrupted_runs(ws: Workspace) -> list[dict[str, Any]]:
    """The checkpoint folders left by killed runs: ``folder``, ``epochs_done`` (of the member
    that was training), ``megabytes``."""
    root = checkpoint_root(ws)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        epochs = 0
        for meta in folder.rglob("last.json"):
            try:
                epochs = max(epochs, int(json.loads(meta.read_text()).get("epochs_done", 0)))
            except (OSError, ValueError):
                continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        out.append({"folder": str(folder), "epochs_done": epochs, "megabytes": size / 2**20})
    return out
