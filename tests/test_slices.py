"""Big writes in short transactions (workbench/store/slices.py): a slice is replaced all at once
for readers in other processes, a failed write leaves the store as it was, and no chunk holds
the workspace for the length of the whole write."""

import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from workbench.store import Workspace
from workbench.store.slices import replace_slice, slice_names, stored_key, write_in_chunks


def _frame(n: int, value: float, model: str = "m") -> pd.DataFrame:
    return pd.DataFrame({"product_id": [f"p{i:06d}" for i in range(n)], "model": model,
                         "x": np.full(n, value), "y": np.full(n, value)})


READER = """
import sys, time
from workbench.store import Workspace
from workbench.store.slices import stored_key
ws = Workspace(sys.argv[1])
seen = set()
end = time.time() + float(sys.argv[2])
while time.time() < end:
    with ws.hold():
        key = stored_key(ws, "projection", "m")
        row = ws.rows("SELECT count(*), min(x), max(x) FROM projection WHERE model = ?", [key])[0]
    seen.add(row)
print(sorted(seen))
"""


def test_a_reader_sees_the_old_slice_or_the_new_never_a_mix(tmp_path):
    ws = Workspace(tmp_path / "ws")
    n = 60_000
    replace_slice(ws, "projection", "m", _frame(n, 1.0))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(ws.path), "6"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    replace_slice(ws, "projection", "m", _frame(n, 2.0))
    seen = eval(reader.communicate(timeout=60)[0])  # the reader's own printed list of tuples
    assert set(seen) <= {(n, 1.0, 1.0), (n, 2.0, 2.0)}, seen
    assert ws.scalar("SELECT count(*) FROM projection") == n  # the old generation was deleted
    assert slice_names(ws, "projection") == ["m"]


def test_a_failed_write_leaves_the_slice_as_it_was(tmp_path):
    ws = Workspace(tmp_path / "ws")
    replace_slice(ws, "projection", "m", _frame(100, 1.0))
    before = stored_key(ws, "projection", "m")
    bad = _frame(30_000, 2.0).astype({"x": object})
    bad.loc[29_999, "x"] = "not a number"  # the last chunk fails, after the first were written
    with pytest.raises(Exception, match="(?i)conver|cast"):
        replace_slice(ws, "projection", "m", bad)
    assert stored_key(ws, "projection", "m") == before
    assert ws.df("SELECT DISTINCT x FROM projection")["x"].tolist() == [1.0]
    assert slice_names(ws, "projection") == ["m"]


def test_a_workspace_without_pointers_reads_its_rows_under_the_name(tmp_path):
    ws = Workspace(tmp_path / "ws")
    write_in_chunks(ws, "projection", _frame(10, 3.0, model="old-model"))
    assert stored_key(ws, "projection", "old-model") == "old-model"
    assert slice_names(ws, "projection") == ["old-model"]
    replace_slice(ws, "projection", "old-model", _frame(10, 4.0, model="ignored"))
    assert ws.df("SELECT DISTINCT x FROM projection")["x"].tolist() == [4.0]


def test_chunks_stay_short_while_a_big_slice_is_written(tmp_path):
    """Another process's write waits for one chunk, not for the whole replacement."""
    ws = Workspace(tmp_path / "ws")
    n = 400_000
    started = time.perf_counter()

    done = threading.Event()

    def write():
        replace_slice(ws, "projection", "m", _frame(n, 1.0))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    waits = []
    while not done.is_set():
        t0 = time.perf_counter()
        with ws.transaction() as cur:
            cur.execute("INSERT INTO meta VALUES ('probe', '1') ON CONFLICT (key) DO UPDATE SET value = '1'")
        waits.append(time.perf_counter() - t0)
        time.sleep(0.01)
    thread.join()
    whole = time.perf_counter() - started
    assert ws.scalar("SELECT count(*) FROM projection") == n
    assert len(waits) >= 3 and max(waits) < whole / 2, (max(waits), whole, len(waits))
