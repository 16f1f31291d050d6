"""``workbench ingest`` and ``workbench info``."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.catalog.catalog_taxonomy import MERGE_MODES
from workbench.catalog.info import format_info, workspace_info
from workbench.catalog.ingest import IngestOptions, ingest_dataset, ingest_file
from workbench.catalog.mapping import RECIPES, ColumnMapping
from workbench.catalog.sniff import FORMATS
from workbench.catalog.validation import DUPLICATE_POLICIES
from workbench.store import Workspace


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise WorkbenchError(f"--fractions {text!r} must be three numbers such as 0.7,0.15,0.15") from None
    if len(values) != 3:
        raise WorkbenchError(f"--fractions {text!r} must be three numbers such as 0.7,0.15,0.15")
    return values  # type: ignore[return-value]


def register(sub, common) -> None:
    """Add ``ingest`` and ``info``."""
    p = sub.add_parser("ingest", parents=[common], help="ingest a catalog into the workspace",
                       description="Ingest a built-in catalog (--dataset) or any CSV/Parquet/JSONL file.")
    p.add_argument("path", nargs="?", help="catalog file (CSV, JSON lines or array, Parquet, Excel; "
                   "gzip/zip compressed too); see `workbench inspect FILE` for a suggested --map")
    p.add_argument("--dataset", choices=sorted(RECIPES), help="a built-in catalog")
    p.add_argument("--map", dest="mapping", help="field=column pairs: id, title, description, brand, price, "
                   "category (a path column) or levels=A|B|C, image, department")
    p.add_argument("--sep", default=">", help="separator of category paths (default '>')")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), help="file format (default: from its bytes)")
    p.add_argument("--delimiter", help="CSV field delimiter (default: detected)")
    p.add_argument("--encoding", help="text encoding, e.g. cp1252 or utf-16 (default: detected)")
    p.add_argument("--on-duplicate", choices=list(DUPLICATE_POLICIES), default=None,
                   help="a repeated id in the file: reject the later rows (default), or keep the first "
                        "or last row and merge the others")
    p.add_argument("--rename-levels", action="store_true",
                   help="accept level names that differ from the workspace's, renaming its levels")
    p.add_argument("--max-depth", type=int, help="cut category paths at this depth")
    p.add_argument("--min-count", type=int, help="merge leaves with fewer products")
    p.add_argument("--merge", choices=list(MERGE_MODES),
                   help="where leaves under --min-count go: family (default: into their parent, never out "
                        "of their top-level category), parent (small pools and rare top-level categories "
                        "into a top-level 'Other'), other (always an 'Other <parent>' leaf)")
    p.add_argument("--strip-name-node", action="store_true", help="drop a trailing node naming the product")
    p.add_argument("--levels", help="level names, comma separated (e.g. 'Product Category,Product Family,Product Type')")
    p.add_argument("--department", help="department column, or 'top' for the first category level")
    p.add_argument("--images-dir", metavar="DIR",
                   help="folder the image column's relative names start at (e.g. a catalog's images/ folder; "
                        "default: the catalog file's folder)")
    p.add_argument("--no-categories", action="store_true",
                   help="the file has no category column (a catalog without labels, for `workbench cold-start`)")
    p.add_argument("--sample", type=int, help="ingest a seeded random sample of this many rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fractions", type=_fractions, help="train,valid,test shares (default 0.7,0.15,0.15)")
    p.set_defaults(func=run_ingest)

    q = sub.add_parser("info", parents=[common], help="summary of the workspace")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=run_info)


def run_ingest(args) -> int:
    """Handler of ``workbench ingest``."""
    ws = Workspace(args.workspace)
    levels = [v.strip() for v in args.levels.split(",")] if args.levels else None
    images = None
    if args.images_dir:
        images = Path(args.images_dir).expanduser().resolve()
        if not images.is_dir():
            raise WorkbenchError(f"--images-dir {args.images_dir}: no such folder; give the folder that holds "
                                 "the catalog's photos")
    overrides = dict(max_depth=args.max_depth, min_count=args.min_count, merge=args.merge,
                     level_names=levels, department=args.department, fractions=args.fractions,
                     strip_name_node=args.strip_name_node or None, on_duplicate=args.on_duplicate,
                     rename_levels=args.rename_levels or None, image_base=str(images) if images else None)
    if args.dataset:
        if args.path:
            raise WorkbenchError("give either --dataset NAME or a file PATH, not both")
        summary = ingest_dataset(ws, args.dataset, sample=args.sample, seed=args.seed, **overrides)
    else:
        if not args.path or not args.mapping:
            raise WorkbenchError("give --dataset NAME, or a file PATH with --map title=COLUMN,category=COLUMN")
        options = IngestOptions(seed=args.seed, labelled=not args.no_categories)
        for key, value in overrides.items():
            if value is not None:
                setattr(options, key, value)
        summary = ingest_file(ws, args.path, ColumnMapping.parse(args.mapping, args.sep), options=options,
                              sample=args.sample, fmt=args.fmt, delimiter=args.delimiter, encoding=args.encoding)
    print(summary)
    return 0


def run_info(args) -> int:
    """Handler of ``workbench info`` (with the checkpoints of interrupted training runs)."""
    from workbench.runs.checkpoints import interrupted_runs

    ws = Workspace(args.workspace)
    info = {**workspace_info(ws), "interrupted_runs": interrupted_runs(ws)}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lines = [format_info(info)]
    for run in info["interrupted_runs"]:
        lines.append(f"checkpoint  {run['folder']}: interrupted after epoch {run['epochs_done']} "
                     f"({run['megabytes']:.0f} MB); re-run the same `workbench train` to resume")
    print("\n".join(lines))
    return 0
