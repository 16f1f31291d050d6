"""Shared setup of the dashboard tests: copies of an evaluated workspace, a stored 2-D projection,
real held-out fashion products, and a server process on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

from workbench import Workspace
from workbench.catalog.datasets import locate
from workbench.catalog.reader import read_catalog

ROOT = Path(__file__).resolve().parent.parent


def copy_workspace(ws: Workspace, dest: Path, artifacts: bool = False) -> Path:
    """A copy of the workspace database (run artifacts stay where the runs recorded them; with
    ``artifacts`` the runs' folders are copied too, so that the copy's saved models are found
    where a workspace keeps them)."""
    ws.rows("CHECKPOINT")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ws.db_path, dest / "workbench.duckdb")
    if artifacts and (ws.path / "artifacts" / "runs").is_dir():
        shutil.copytree(ws.path / "artifacts" / "runs", dest / "artifacts" / "runs", dirs_exist_ok=True)
    return dest


def add_projection(ws: Workspace) -> pd.DataFrame:
    """Store a 2-D projection of every product: TruncatedSVD of its title's TF-IDF (UMAP of
    sentence embeddings is the pipeline's job; the map only reads x, y)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from workbench.embeddings.encoder import model_id

    products = ws.df("SELECT product_id, title FROM products ORDER BY product_id")
    xy = TruncatedSVD(2, random_state=0).fit_transform(
        TfidfVectorizer().fit_transform(products["title"].fillna("")))
    frame = pd.DataFrame({"product_id": products["product_id"], "model": model_id("default"),
                          "x": xy[:, 0], "y": xy[:, 1]})
    from workbench.store.slices import replace_slice

    replace_slice(ws, "projection", model_id("default"), frame)
    return frame


def held_out_products(ws: Workspace, n: int, seed: int = 1) -> pd.DataFrame:
    """Real fashion rows (all columns of styles.csv) that are not in the workspace."""
    raw = read_catalog(locate("fashion/styles.csv")).frame
    raw = raw[raw["productDisplayName"].notna()]
    known = set(ws.df("SELECT product_id FROM products")["product_id"].astype(str))
    raw = raw[~raw["id"].astype(str).isin(known)]
    return raw.sample(n=n, random_state=seed).reset_index(drop=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    """Wait until ``url`` answers 200 (fails early if the server process died).

    Each request may take long: a page of the app is built inside the request, and on a loaded
    machine that takes tens of seconds. A short per-request timeout would pile up new sessions
    faster than the server builds them and never get an answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=max(5.0, deadline - time.monotonic())) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_server(args: list[str], log: Path) -> subprocess.Popen:
    """Start a server command (a list) with its output in ``log``."""
    handle = open(log, "w")
    return subprocess.Popen(args, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, text=True)


def workbench_cli() -> list[str]:
    """The command that runs the ``workbench`` CLI with this interpreter."""
    return [sys.executable, "-m", "workbench.cli.main"]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process started by a test."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
