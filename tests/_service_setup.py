"""Shared setup of the service tests: a workspace of real fashion Apparel products, real products
of other departments, an API server process on a free port and a small HTTP client."""

from __future__ import annotations

import http.client
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from tests._dashboard_setup import free_port, start_server, stop, workbench_cli
from workbench import Workspace
from workbench.catalog.datasets import locate
from workbench.catalog.reader import read_catalog

__all__ = ["Api", "apparel_products", "build_apparel_workspace", "copy_workspace", "department_rows",
           "start_api", "stop"]


def copy_workspace(ws: Workspace, dest: Path) -> Path:
    """A copy of the whole workspace folder (database and artifacts, without service files)."""
    ws.rows("CHECKPOINT")
    shutil.copytree(ws.path, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("service", "*.wal"))
    return dest


def styles() -> pd.DataFrame:
    """The real fashion catalog (rows with a display name)."""
    raw = read_catalog(locate("fashion/styles.csv")).frame
    return raw[raw["productDisplayName"].notna()].reset_index(drop=True)


def department_rows(department: str, n: int, seed: int, exclude: set[str] = frozenset()) -> pd.DataFrame:
    """``n`` real products of one masterCategory, seeded, not among ``exclude`` ids."""
    raw = styles()
    rows = raw[(raw["masterCategory"] == department) & ~raw["id"].astype(str).isin(exclude)]
    return rows.sample(n=n, random_state=seed).reset_index(drop=True)


def build_apparel_workspace(root: Path, n: int = 1500, seed: int = 0) -> list[str]:
    """Ingest ``n`` real Apparel products with the fashion recipe and train two tfidf runs on the
    grouped split: a weak one (150 training products) and one on the whole training part.
    Returns ``[weak, full]``."""
    from workbench.catalog.ingest import IngestOptions, ingest_file
    from workbench.catalog.mapping import recipe
    from workbench.runs.training import train_models

    root.mkdir(parents=True, exist_ok=True)
    csv = root.parent / f"{root.name}-apparel.csv"
    department_rows("Apparel", n, seed).to_csv(csv, index=False)
    rec = recipe("fashion")
    ws = Workspace(root)
    ingest_file(ws, csv, rec.mapping, options=IngestOptions(level_names=rec.level_names, department="gender"))
    runs = (train_models(ws, ["tfidf"], "grouped", sample=150, seed=0)
            + train_models(ws, ["tfidf"], "grouped", seed=0))
    ws.rows("CHECKPOINT")
    return runs


def apparel_products(ws: Workspace, part: str = "test") -> pd.DataFrame:
    """The workspace's products of one split part: raw title, brand, true leaf."""
    return ws.df("SELECT p.product_id, p.title_raw AS title, p.brand, p.leaf FROM products p JOIN splits s "
                 "USING (product_id) WHERE s.kind = 'grouped' AND s.part = ? ORDER BY p.product_id", [part])


class Api:
    """A tiny HTTP client of the API on 127.0.0.1 (one connection per call, like separate callers)."""

    def __init__(self, port: int):
        self.port = port
        self.calls = 0

    def request(self, method: str, path: str, body=None, key: str | None = None, raw: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, dict]:
        """``(status, JSON answer (or {"text": ...}), headers)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        head = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            head["Authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        try:
            conn.request(method, path, body=data, headers=head)
            resp = conn.getresponse()
            text = resp.read()
            self.calls += 1
            try:
                answer = json.loads(text)
            except ValueError:
                answer = {"text": text.decode("utf-8", "replace")}
            return resp.status, answer, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def post(self, path: str, body=None, key: str | None = None, **kw):
        return self.request("POST", path, body, key, **kw)

    def get(self, path: str, key: str | None = None, **kw):
        return self.request("GET", path, None, key, **kw)


def start_api(root: Path, log: Path, *args: str, key: str, timeout: float = 240):
    """``workbench api`` on a free port; waits until ``/v1/health`` answers. Returns ``(process, Api)``."""
    port = free_port()
    proc = start_server([*workbench_cli(), "api", "--workspace", str(root), "--port", str(port), *args], log)
    api = Api(port)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"workbench api exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            status, _, _ = api.get("/v1/health", key)
            if status == 200:
                return proc, api
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise TimeoutError(f"the API did not answer within {timeout} s: {log.read_text()[-2000:]}")
        time.sleep(0.3)
