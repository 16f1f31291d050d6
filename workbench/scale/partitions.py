"""The shared folder of a cluster job: products exported from the workspace as Parquet
partitions, result partitions written atomically by the workers, and read back once each.

A job folder is ``<shared>/<name>-<id>/`` with ``input/part-00000.parquet``... and
``output/``; ``<shared>`` is ``--shared-dir`` or ``$WORKBENCH_SHARED_DIR``, else
``<workspace>/scale`` (for a real cluster, put the workspace or the shared folder on storage
every worker mounts at the same path).
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import registered

SHARED_ENV = "WORKBENCH_SHARED_DIR"
PRODUCT_COLUMNS = ("product_id", "title", "description", "brand", "price", "image", "extra")


def shared_root(workspace_path: str | os.PathLike, shared: str | os.PathLike | None = None) -> Path:
    """Where job folders go: ``shared``, ``$WORKBENCH_SHARED_DIR`` or ``<workspace>/scale``."""
    root = Path(shared or os.environ.get(SHARED_ENV) or Path(workspace_path) / "scale")
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_job(workspace_path: str | os.PathLike, name: str, shared: str | os.PathLike | None = None) -> Path:
    """A fresh job folder with empty ``input/`` and ``output/``."""
    folder = shared_root(workspace_path, shared) / f"{name}-{uuid.uuid4().hex[:8]}"
    (folder / "input").mkdir(parents=True)
    (folder / "output").mkdir()
    return folder


def part_name(index: int, suffix: str = ".parquet") -> str:
    """``part-00042.parquet``: the file of partition ``index``."""
    return f"part-{index:05d}{suffix}"


def export_query(ws: Workspace, sql: str, params: list, folder: Path, rows_per_part: int,
                 frames: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Write the rows of a read query as Parquet partitions of ``rows_per_part`` rows, streamed
    from DuckDB so memory stays at one partition; ``frames`` are registered as views first."""
    if rows_per_part < 1:
        raise WorkbenchError(f"partitions need at least one row, got {rows_per_part}")
    folder.mkdir(parents=True, exist_ok=True)
    with ws.own_cursor() as cur, ExitStack() as views:
        for name, frame in (frames or {}).items():
            views.enter_context(registered(cur, name, frame))
        reader = cur.sql(sql, params=params).to_arrow_reader(rows_per_part)
        return [_write(table, folder / part_name(i)) for i, table in enumerate(rebatch(reader, rows_per_part))]


def export_products(ws: Workspace, product_ids: Sequence[str], folder: Path, rows_per_part: int,
                    columns: Sequence[str] = PRODUCT_COLUMNS) -> list[Path]:
    """Write the given products (in id order) as Parquet partitions of ``rows_per_part`` rows."""
    ids = pd.DataFrame({"product_id": [str(p) for p in product_ids]})
    cols = ", ".join(f"p.{c}" for c in columns)
    return export_query(ws, f"SELECT {cols} FROM products p SEMI JOIN ids USING (product_id) "
                            "ORDER BY p.product_id", [], folder, rows_per_part, frames={"ids": ids})


def rebatch(batches, rows: int):
    """Arrow tables of exactly ``rows`` rows (the last one shorter) from a stream of record batches."""
    pending, size = [], 0
    for batch in batches:
        if batch.num_rows:
            pending.append(batch)
            size += batch.num_rows
        while size >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, size = rest.to_batches(), rest.num_rows
    if size:
        yield pa.Table.from_batches(pending)


def _write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def atomic_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and a rename, so a reader never sees
    half a partition and a retried task simply replaces the same file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def remove_job(folder: Path) -> None:
    """Delete a finished job's folder."""
    shutil.rmtree(folder, ignore_errors=True)
