"""What the command modules share: the workspace a command needs (one clear line when it is
missing) and JSON lines on standard output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

from workbench.errors import WorkbenchError


def existing_workspace(args) -> Path:
    """The workspace folder of ``--workspace`` (or its default), which must hold a database: a
    typo in --workspace says so in one line naming the fix."""
    from workbench.paths import workspace_dir

    path = workspace_dir(args.workspace)
    if not (path / "workbench.duckdb").exists():
        raise WorkbenchError(f"no workspace database in {path}; build one with `workbench ingest` and "
                             "`workbench train`, or pass --workspace DIR")
    return path


def print_json_lines(rows: Iterable[Mapping]) -> None:
    """One JSON object a line (dates and other values as text), for ``--json`` listings."""
    for row in rows:
        print(json.dumps(row, default=str))
