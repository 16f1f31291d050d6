"""Check that executed notebooks print the same numbers as the command line for the same runs.

Each notebook prints its figures once as a JSON object with a ``"check"`` key:

* ``{"check": "info", ...}`` (01): compared with ``workbench info --json``;
* ``{"check": "runs", "runs": [{run_id, accuracy, macro_f1, acc <level>, train_s}, ...]}``
  (03, 05): compared with ``workbench runs --json`` (on the printed ``"workspace"`` when there
  is one: notebook 05 works in a workspace of its own);
* ``{"check": "evaluate", run_id, target, accuracy, macro_f1, ece, threshold, coverage}`` (04,
  computed in the notebook from the run's predictions): compared with
  ``workbench evaluate --run RUN --target T --json``.

``check_notebooks(folder, workspace)`` returns one :class:`Agreement` per compared number.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat

from workbench.errors import WorkbenchError

#: Relative tolerance of a float comparison (JSON round trips keep ~15 digits).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Agreement:
    """One number a notebook printed, beside the command line's number for it."""

    notebook: str
    what: str
    notebook_value: Any
    cli_value: Any

    @property
    def agrees(self) -> bool:
        a, b = self.notebook_value, self.cli_value
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=1e-12)
        return a == b


def printed_json(executed: Path) -> Iterator[dict]:
    """Every JSON object an executed notebook printed (stream or plain-text outputs)."""
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            for chunk in _json_chunks(text):
                yield chunk


def figure_errors(folder: Path) -> list[str]:
    """Figures that failed to render in the executed notebooks of ``folder``.

    HoloViews catches an exception raised while rendering a figure and displays it in place of
    the figure, so the cell itself does not fail; this finds those boxes
    (``hv-jupyter-exc``) and returns ``"<notebook> cell <n>: <error>"`` for each.
    """
    import html
    import re

    found = []
    for executed in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(executed, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                page = out.get("data", {}).get("text/html", "")
                if "hv-jupyter-exc" in page:
                    summary = re.search(r"<summary>(.*?)</summary>", page, re.S)
                    text = html.unescape(re.sub(r"<[^>]+>", "", summary.group(1))) if summary else "?"
                    found.append(f"{executed.name} cell {cell.get('execution_count')}: {text.strip()[:160]}")
    return found


def _json_chunks(text: str) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            yield value
        start = text.find("{", end)


def cli_json(args: list[str]) -> Any:
    """Run a ``workbench`` command in this process and parse what it printed as JSON."""
    from workbench.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    if code != 0:
        raise WorkbenchError(f"`workbench {' '.join(args)}` exited with {code}")
    return json.loads(out.getvalue())


def _runs_by_id(workspace: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in cli_json(["runs", "--json", "--workspace", str(workspace)])}


def _check_runs(name: str, printed: dict, runs: dict[str, dict]) -> list[Agreement]:
    out = []
    for row in printed["runs"]:
        run = runs.get(row["run_id"])
        if run is None:
            out.append(Agreement(name, f"{row['run_id']} exists", True, False))
            continue
        metrics = run["metrics"]
        cli = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
               "train_s": run["train_seconds"], "model": run["model"], "split": run["split"],
               **{f"acc {level}": v for level, v in metrics["level_accuracy"].items()}}
        for key, value in row.items():
            if key in cli:
                out.append(Agreement(name, f"{row['run_id']} {key}", value, cli[key]))
    return out


def _check_evaluate(name: str, printed: dict, workspace: Path) -> list[Agreement]:
    target = printed["target"]
    cli = cli_json(["evaluate", "--run", printed["run_id"], "--target", str(target), "--json",
                    "--workspace", str(workspace)])
    key = next((k for k in cli["threshold_at"] if math.isclose(float(k), target)), None)
    expected = {"accuracy": cli["accuracy"], "macro_f1": cli["macro_f1"], "ece": cli["ece"],
                "threshold": cli["threshold_at"].get(key), "coverage": cli["coverage_at"].get(key)}
    return [Agreement(name, f"{printed['run_id']} {k}", printed[k], v)
            for k, v in expected.items() if k in printed]


def _check_info(name: str, printed: dict, workspace: Path) -> list[Agreement]:
    info = cli_json(["info", "--json", "--workspace", str(workspace)])
    return [Agreement(name, key, value, info.get(key)) for key, value in printed.items() if key != "check"]


def check_notebooks(folder: Path, workspace: Path) -> list[Agreement]:
    """Compare every checked number printed by the executed notebooks in ``folder`` with the
    command line on ``workspace``; raises when no notebook printed any."""
    from workbench.store import Workspace

    workspace = Path(workspace)
    agreements: list[Agreement] = []
    runs: dict[Path, dict] = {}
    try:
        for executed in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
            for printed in printed_json(executed):
                kind = printed.get("check")
                if kind == "runs":
                    # a notebook with a workspace of its own (05) prints where it is
                    where = Path(printed.get("workspace") or workspace)
                    if where not in runs:
                        runs[where] = _runs_by_id(where)
                        Workspace(where).close()
                    agreements += _check_runs(executed.name, printed, runs[where])
                elif kind == "evaluate":
                    agreements += _check_evaluate(executed.name, printed, workspace)
                elif kind == "info":
                    agreements += _check_info(executed.name, printed, workspace)
    finally:
        Workspace(workspace).close()  # release the file for the next notebook's kernel
    if not agreements:
        raise WorkbenchError(f"no executed notebook in {folder} printed figures to check; run them first")
    return agreements


def format_agreements(agreements: list[Agreement]) -> str:
    """A short report: how many numbers agree per notebook, and every one that does not."""
    lines = []
    for name in dict.fromkeys(a.notebook for a in agreements):
        mine = [a for a in agreements if a.notebook == name]
        lines.append(f"{name}: {sum(a.agrees for a in mine)}/{len(mine)} numbers agree with the CLI")
        lines += [f"  DIFFERS {a.what}: notebook {a.notebook_value!r}, CLI {a.cli_value!r}"
                  for a in mine if not a.agrees]
    return "\n".join(lines)
