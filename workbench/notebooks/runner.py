"""Execute the project's notebooks with papermill, on a sample (tests) or the full catalog.

    python -m workbench.notebooks.runner            # every notebook on a small sample
    python -m workbench.notebooks.runner --full     # every notebook on the full default catalog

Executed copies (with outputs) go to ``--out`` (default ``notebooks/executed/``, ignored by
git); the committed notebooks stay without outputs. A failing cell fails the run. Afterwards
the numbers the notebooks printed are compared with ``workbench info / runs / evaluate --json``
on the same workspace (:mod:`workbench.notebooks.checks`); the comparison is written to
``<out>/agreement.json`` and any difference fails the run, as does a figure that HoloViews
could not render (it shows the error in place of the figure without failing the cell).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import papermill

from workbench.errors import WorkbenchError
from workbench.paths import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"
SAMPLE_PARAMETERS: dict[str, Any] = {"sample": 1500, "quick": True}
FULL_PARAMETERS: dict[str, Any] = {"sample": None, "quick": False}
#: The workspace every notebook uses unless told otherwise: ``$WORKBENCH_WORKSPACE`` when set,
#: else their ``../workspace/notebooks`` (relative to ``notebooks/``, where they run).
DEFAULT_WORKSPACE = (NOTEBOOKS / os.environ["WORKBENCH_WORKSPACE"]).resolve() if os.environ.get("WORKBENCH_WORKSPACE") \
    else PROJECT_ROOT / "workspace" / "notebooks"


def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], workspace: Path | None = None,
                 timeout: int = 1800) -> Path:
    """Execute one notebook with parameters injected after its ``parameters`` cell.

    Raises :class:`WorkbenchError` naming the notebook and the failing cell when a cell fails.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(parameters)
    if workspace is not None:
        params["workspace"] = str(workspace)
    target = out_dir / path.name
    try:
        papermill.execute_notebook(str(path), str(target), parameters=params, cwd=str(path.parent),
                                   kernel_name="python3", progress_bar=False, execution_timeout=timeout)
    except papermill.PapermillExecutionError as exc:
        raise WorkbenchError(f"notebook {path.name} failed in cell {exc.exec_count}: {exc.ename}: "
                             f"{exc.evalue}; see {target}") from exc
    return target


def main(argv: list[str] | None = None) -> int:
    """Run every notebook (on a sample unless ``--full``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full default catalog instead of a sample")
    parser.add_argument("--out", type=Path, default=NOTEBOOKS / "executed")
    parser.add_argument("--workspace", type=Path, default=None,
                        help="workspace the notebooks share (default: each notebook's own)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip comparing the printed numbers with the command line")
    parser.add_argument("names", nargs="*", help="only these notebooks (file names)")
    args = parser.parse_args(argv)
    params = FULL_PARAMETERS if args.full else SAMPLE_PARAMETERS
    for path in notebook_paths():
        if args.names and path.name not in args.names:
            continue
        print(f"running {path.name} ...", flush=True)
        try:
            run_notebook(path, args.out, params, args.workspace)
        except WorkbenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.no_check:
        return 0
    return check_and_report(args.out, args.workspace or DEFAULT_WORKSPACE)


def check_and_report(out_dir: Path, workspace: Path) -> int:
    """Compare the executed notebooks' printed numbers with the CLI; 0 when all agree."""
    from dataclasses import asdict

    from workbench.notebooks.checks import check_notebooks, figure_errors, format_agreements

    broken = figure_errors(out_dir)
    for line in broken:
        print(f"error: a figure failed to render: {line}", file=sys.stderr)
    try:
        agreements = check_notebooks(out_dir, workspace)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (Path(out_dir) / "agreement.json").write_text(json.dumps(
        [{**asdict(a), "agrees": a.agrees} for a in agreements], indent=1, default=str))
    print(format_agreements(agreements))
    return 0 if all(a.agrees for a in agreements) and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
