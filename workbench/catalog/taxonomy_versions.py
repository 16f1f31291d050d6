"""The taxonomy's versions: the log of recorded changes and the path maps they imply.

Every change of the taxonomy (:mod:`workbench.loop.taxonomy_changes`) is one row of
``taxonomy_changes`` under a new ``version``; version 0 is the taxonomy as ingested. A change's
``path_map`` sends an old node id to its new one and applies to a node's whole subtree (``"A >
B"`` -> ``"A > C"`` also sends ``"A > B > D"`` to ``"A > C > D"``); its ``review_nodes`` are the
old nodes whose products a map cannot place (a split leaf, a retired leaf whose parent keeps
other children): what a model predicts there goes to review.

This module only reads the log; the runs stage (the one predictor) composes the changes made
after a run was trained, so an old run answers with the current paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping, Sequence

import pandas as pd

from workbench.catalog.taxonomy import SEP

TABLE = "taxonomy_changes"


def map_path(path: str | None, mapping: Mapping[str, str]) -> str | None:
    """``path`` under a node map: the longest mapped ancestor-or-self is replaced, the rest kept."""
    if path is None or not mapping:
        return path
    node = path
    while True:
        if node in mapping:
            return mapping[node] + path[len(node):]
        cut = node.rfind(SEP)
        if cut < 0:
            return path
        node = node[:cut]


def under_any(path: str | None, nodes: Iterable[str]) -> str | None:
    """The first of ``nodes`` that is ``path`` or one of its ancestors (``None``: none is)."""
    if path is None:
        return None
    for node in nodes:
        if path == node or path.startswith(node + SEP):
            return node
    return None


@dataclass
class ClassMap:
    """How a run's classes (its leaf ids) read in the current taxonomy: ``current[i]`` is class
    ``i``'s current node; ``review`` the current nodes whose predictions go to review (their
    products were split or retired after the run was trained); ``versions`` the changes applied."""

    classes: list[str]
    current: list[str]
    review: set[str] = field(default_factory=set)
    versions: list[int] = field(default_factory=list)

    @property
    def mapping(self) -> dict[str, str]:
        """``{class: its current node}``."""
        return dict(zip(self.classes, self.current))

    @property
    def changed(self) -> bool:
        """Whether any class reads differently now."""
        return bool(self.versions)

    def to_json(self) -> dict:
        """A JSON-able form (the serving snapshot carries it to the API)."""
        return {"classes": list(self.classes), "current": list(self.current), "review": sorted(self.review),
                "versions": list(self.versions)}

    @classmethod
    def from_json(cls, data: Mapping | None) -> "ClassMap | None":
        """The inverse of :meth:`to_json` (``None`` passes through)."""
        if not data:
            return None
        return cls(list(data["classes"]), list(data["current"]), set(data.get("review", ())),
                   list(data.get("versions", ())))


def change_log(ws, *, include_undone: bool = True) -> pd.DataFrame:
    """Every recorded change, oldest first (``version, op, arguments, path_map, review_nodes,
    flags, counts, actor, changed_at, undone_by, undoes``); empty when none was made."""
    if not ws.has_table(TABLE):
        return pd.DataFrame(columns=["version", "op", "arguments", "path_map", "review_nodes", "flags",
                                     "counts", "actor", "changed_at", "undone_by", "undoes"])
    sql = ("SELECT version, op, arguments, path_map, review_nodes, flags, counts, actor, changed_at, "
           "undone_by, undoes FROM taxonomy_changes")
    if not include_undone:
        sql += " WHERE undone_by IS NULL AND undoes IS NULL"
    return ws.df(sql + " ORDER BY version")


def current_version(ws) -> int:
    """The taxonomy's version: the number of the last change (0: as ingested)."""
    if not ws.has_table(TABLE):
        return 0
    return int(ws.scalar("SELECT coalesce(max(version), 0) FROM taxonomy_changes") or 0)


def taxonomy_stamp(ws) -> tuple:
    """A token that changes with every change of the taxonomy, an undo included (the number of
    log rows, the last version, its time): a key for figures read through the change map."""
    if not ws.has_table(TABLE):
        return (0, 0, None)
    return tuple(ws.rows("SELECT count(*), coalesce(max(version), 0), CAST(max(changed_at) AS VARCHAR) "
                         "FROM taxonomy_changes")[0])


def _loads(value, default):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return default
    return json.loads(value) if isinstance(value, str) else value


def effective_changes(log: pd.DataFrame, after: datetime | None = None) -> list[tuple[int, dict, list]]:
    """``(version, path_map, review_nodes)`` of the changes still in force (not undone, not an
    undo), made after ``after`` when given, oldest first."""
    out = []
    for row in log.itertuples(index=False):
        if row.undoes is not None and not pd.isna(row.undoes):
            continue
        if row.undone_by is not None and not pd.isna(row.undone_by):
            continue
        if after is not None and pd.Timestamp(row.changed_at) <= pd.Timestamp(after):
            continue
        out.append((int(row.version), _loads(row.path_map, {}), _loads(row.review_nodes, [])))
    return out


def compose(classes: Sequence[str], changes: Sequence[tuple[int, Mapping[str, str], Sequence[str]]]) -> ClassMap:
    """Carry ``classes`` through ``changes`` in order (see :func:`effective_changes`)."""
    current = [str(c) for c in classes]
    review: set[int] = set()
    applied: list[int] = []
    for version, mapping, review_nodes in changes:
        moved = False
        for i, path in enumerate(current):
            if under_any(path, review_nodes) is not None:
                review.add(i)
            new = map_path(path, mapping)
            if new != path:
                current[i] = new
                moved = True
        if moved or any(under_any(p, review_nodes) for p in current):
            applied.append(version)
    return ClassMap([str(c) for c in classes], current, {current[i] for i in review}, applied)


def class_map_for_run(ws, run_id: str, classes: Sequence[str]) -> ClassMap | None:
    """How a run's classes read now: the changes made after the run was started, composed
    (``None`` when no change was made since)."""
    log = change_log(ws)
    if log.empty:
        return None
    started = ws.scalar("SELECT started_at FROM runs WHERE run_id = ?", [str(run_id)])
    changes = effective_changes(log, after=started)
    if not changes:
        return None
    mapped = compose(classes, changes)
    return mapped if mapped.changed else None


def run_taxonomy_versions(ws) -> dict[str, int]:
    """``{run_id: the taxonomy version it was trained on}`` (changes in force made before it)."""
    runs = ws.df("SELECT run_id, started_at FROM runs")
    log = change_log(ws)
    if log.empty or runs.empty:
        return {str(r): 0 for r in runs["run_id"]}
    out = {}
    for run_id, started in zip(runs["run_id"], runs["started_at"]):
        before = log[pd.to_datetime(log["changed_at"]) <= pd.Timestamp(started)]
        out[str(run_id)] = int(before["version"].max()) if len(before) else 0
    return out


def older_taxonomy_runs(ws) -> dict[str, str]:
    """``{run_id: a note}`` for every run trained before a change still in force (the
    comparison page marks them: they predict through the change map)."""
    log = change_log(ws)
    if log.empty:
        return {}
    now = current_version(ws)
    versions = run_taxonomy_versions(ws)
    runs = ws.df("SELECT run_id, started_at FROM runs")
    out = {}
    for run_id, started in zip(runs["run_id"], runs["started_at"]):
        if effective_changes(log, after=started):
            out[str(run_id)] = (f"trained on taxonomy version {versions.get(str(run_id), 0)} (now {now}): "
                                "answers through the change map")
    return out
