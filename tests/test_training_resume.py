"""A killed ``workbench train`` resumes when the same command runs again, from a checkpoint
folder in the workspace (nothing in the temporary folder), and says so; progress is one line
per epoch or boosting round when the output is a log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["cnn-lstm.embedding_dim=16", "cnn-lstm.n_filters=16", "cnn-lstm.lstm_hidden=16",
        "cnn-lstm.n_buckets=4096", "cnn-lstm.max_epochs=4", "cnn-lstm.early_stopping_patience=null",
        "cnn-lstm.num_threads=1"]


def _train_command(ws) -> list[str]:
    args = [sys.executable, "-m", "workbench.cli.main", "train", "--workspace", str(ws.path),
            "--models", "cnn-lstm", "--sample", "900"]
    for p in TINY:
        args += ["--param", p]
    return args


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _epochs_done(ws) -> int:
    done = 0
    for meta in (ws.artifacts / "checkpoints").glob("*/last.json"):
        try:
            done = max(done, int(json.loads(meta.read_text())["epochs_done"]))
        except (OSError, ValueError, KeyError):
            continue
    return done


@pytest.fixture(scope="module")
def ws(sample_workspace):
    ws = sample_workspace("resume_ws", 1500, seed=3)
    ws.close()  # the command in a subprocess opens the database itself
    return ws


def test_a_killed_train_command_resumes_and_leaves_nothing_in_the_temp_folder(ws, tmp_path):
    from workbench import Workspace
    from workbench.runs.records import list_runs

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(_train_command(ws), env=_env(tmp), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    # a log gets one line per epoch as the epoch ends (not when the process exits)
    while _epochs_done(ws) < 1 or not any("cnn-lstm epoch 1/4: train_loss" in line for line in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "no epoch finished in 10 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-epoch 2: no cleanup of any kind runs
    proc.wait()
    reader.join()
    assert proc.returncode == -signal.SIGKILL
    assert not any("epoch 2/4" in line for line in lines)
    assert list(tmp.iterdir()) == []
    [folder] = (ws.artifacts / "checkpoints").iterdir()
    before = json.loads((folder / "last.json").read_text())
    assert before["epochs_done"] == 1 and before["seconds"] > 0

    done = subprocess.run(_train_command(ws), env=_env(tmp), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    ws = Workspace(ws.path)
    assert "cnn-lstm resumed:" in done.stderr and "after epoch 1 of 4" in done.stderr
    assert "cnn-lstm epoch 1/4" not in done.stderr and "cnn-lstm epoch 4/4" in done.stderr
    assert "(resumed: after epoch 1" in done.stdout
    run = list_runs(ws).iloc[-1]
    assert run["metrics"]["resumed"]["after_epoch"] == 1
    assert run["metrics"]["resumed"]["seconds_before"] == pytest.approx(before["seconds"])
    assert run["train_seconds"] > before["seconds"]
    assert "checkpoint_dir" not in run["params"]
    # the record says so where people compare runs, and nothing is left behind
    from workbench.runs.training import compare_runs

    notes = compare_runs(ws).iloc[-1]["notes"]
    assert notes.startswith("trained on a sample of 900 products;") and "resumed after epoch 1, " in notes
    assert list(tmp.iterdir()) == []
    assert list((ws.artifacts / "checkpoints").iterdir()) == []
    history = json.loads((ws.artifacts / "runs" / run["run_id"] / "model" / "training_history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    ws.close()
