"""Big writes in short transactions: chunked appends, and slices replaced all at once.

A long job (train, embed, project, label-issues, a Dask job) must never hold the workspace for
the length of its write: other people's reviews and pages wait behind it. So results are written
in chunks of about :data:`CHUNK_SECONDS` each, and still appear all at once or not at all:

* appended rows (a run's predictions) count once the caller marks the run complete;
* classifications of a large file are stored a chunk of products at a time, each chunk whole
  (its classification rows, model labels and queue changes together);
* a *slice* (the rows of one model in ``projection`` or ``product_embeddings``) is written under a
  new stored key ``<name>@<generation>`` that no reader asks for, then one short transaction points
  the name at it (``meta`` key ``slice:<table>:<name>``), and the old slice is deleted in chunks
  afterwards. Readers ask :func:`stored_key` which rows are current (a workspace written before
  slices had no pointer: the stored key is the name itself).

Re-inserting a million primary keys just deleted in the same transaction took 203 s here (DuckDB
rebuilds the index entries); writing under a new key and flipping a pointer takes one short
transaction whatever the size.
"""

from __future__ import annotations

import secrets
import time

import pandas as pd

from workbench.store.frames import insert_frame

#: aimed length of one write transaction, in seconds
CHUNK_SECONDS = 0.2
#: separator between a slice's name and its generation in the stored key
GENERATION_SEP = "@"


def write_in_chunks(ws, table: str, frame: pd.DataFrame, first_chunk: int = 20_000) -> None:
    """Append ``frame`` (columns in the table's order) to ``table`` in short transactions of about
    :data:`CHUNK_SECONDS` each, so that nobody waits for the whole write."""
    def insert(cur, chunk: pd.DataFrame) -> None:
        insert_frame(cur, table, chunk, by_name=False, name="_chunk")  # table: a caller's constant

    in_chunks(ws, frame, insert, first_chunk)


def in_chunks(ws, frame: pd.DataFrame, write, first_chunk: int = 20_000) -> None:
    """Call ``write(cur, chunk)`` for consecutive row chunks of ``frame``, each in its own
    transaction, sizing the chunks so that one takes about :data:`CHUNK_SECONDS`."""
    start, size = 0, first_chunk
    while start < len(frame):
        chunk = frame.iloc[start:start + size]
        t0 = time.perf_counter()
        with ws.transaction() as cur:
            write(cur, chunk)
        seconds = time.perf_counter() - t0
        start += len(chunk)
        size = int(min(max(size * CHUNK_SECONDS / max(seconds, 1e-3), 1_000), size * 4))


def _pointer(table: str, name: str) -> str:
    return f"slice:{table}:{name}"


def stored_key(ws, table: str, name: str) -> str:
    """The key the current rows of slice ``name`` of ``table`` are stored under."""
    return ws.meta(_pointer(table, name)) or name


def slice_names(ws, table: str, column: str = "model") -> list[str]:
    """The names of the current slices of ``table`` (sorted), never a half-written one."""
    stored = ws.df(f"SELECT DISTINCT {column} AS key FROM {table}")["key"].tolist()
    pointers = ws.df("SELECT key, value FROM meta WHERE starts_with(key, ?)", [f"slice:{table}:"])
    current = dict(zip(pointers["value"], (k.split(":", 2)[2] for k in pointers["key"])))
    names = {current.get(key, key) for key in stored
             if key in current or GENERATION_SEP not in str(key)}
    return sorted(names)


def new_key(name: str) -> str:
    """A fresh stored key for the next generation of slice ``name`` (no reader asks for it yet)."""
    return f"{name}{GENERATION_SEP}{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


def publish(ws, slices: list[tuple[str, str, str]], column: str = "model", on_flip=None) -> None:
    """Point each ``(table, name, new_key)`` at its new rows in one short transaction
    (``on_flip(cur)`` runs inside it), then delete the old rows in chunks."""
    old = [(table, stored_key(ws, table, name)) for table, name, _ in slices]
    with ws.transaction() as cur:
        for table, name, key in slices:
            ws.set_meta(_pointer(table, name), key, cur)
        if on_flip is not None:
            on_flip(cur)
    for table, key in old:
        delete_slice(ws, table, key, column)


def replace_slice(ws, table: str, name: str, frame: pd.DataFrame, column: str = "model",
                  on_flip=None) -> str:
    """Replace the rows of slice ``name`` of ``table`` by ``frame`` (the table's columns, in order;
    ``column`` is overwritten with the stored key) without one long transaction: chunks under a
    new key, one short transaction that points ``name`` at them (``on_flip(cur)`` runs inside it,
    e.g. to record a timing), then the old rows deleted in chunks. Returns the new stored key."""
    key = new_key(name)
    try:
        write_in_chunks(ws, table, frame.assign(**{column: key}))
    except BaseException:
        delete_slice(ws, table, key, column)  # a failed write leaves the store as it was
        raise
    publish(ws, [(table, name, key)], column, on_flip)
    return key


def delete_slice(ws, table: str, key: str, column: str = "model", chunk: int = 100_000) -> None:
    """Delete the rows stored under ``key`` in short transactions."""
    while True:
        with ws.transaction() as cur:
            cur.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                        f"WHERE {column} = ? LIMIT ?)", [key, chunk])
            left = cur.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [key]).fetchone()[0]
        if not left:
            return
